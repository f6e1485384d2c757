//! The messages of notary's `proto/signer.proto` (`package proto`), written out by hand
//! with prost's derive: field numbers and names as in the file.

#![allow(
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rust_2018_idioms,
    clippy::all,
    clippy::pedantic
)]

/// `CreateKeyRequest { string algorithm = 1; string gun = 2; string role = 3; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct CreateKeyRequest {
    /// The key type: `ecdsa` or `ed25519`.
    #[prost(string, tag = "1")]
    pub algorithm: ::prost::alloc::string::String,
    /// The repository the key is for.
    #[prost(string, tag = "2")]
    pub gun: ::prost::alloc::string::String,
    /// The role the key is for.
    #[prost(string, tag = "3")]
    pub role: ::prost::alloc::string::String,
}

/// `KeyInfo { KeyID keyID = 1; Algorithm algorithm = 2; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct KeyInfo {
    /// The key.
    #[prost(message, optional, tag = "1")]
    pub key_id: ::core::option::Option<KeyId>,
    /// Its key type.
    #[prost(message, optional, tag = "2")]
    pub algorithm: ::core::option::Option<Algorithm>,
}

/// `KeyID { string ID = 1; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct KeyId {
    /// The TUF key ID (hex SHA-256).
    #[prost(string, tag = "1")]
    pub id: ::prost::alloc::string::String,
}

/// `Algorithm { string algorithm = 1; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct Algorithm {
    /// A key type (`ecdsa`, `ed25519`) or a signature method (`ecdsa`, `eddsa`).
    #[prost(string, tag = "1")]
    pub algorithm: ::prost::alloc::string::String,
}

/// `GetKeyInfoResponse { KeyInfo keyInfo = 1; bytes publicKey = 2; string role = 3; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct GetKeyInfoResponse {
    /// The key and its type.
    #[prost(message, optional, tag = "1")]
    pub key_info: ::core::option::Option<KeyInfo>,
    /// TUF `keyval.public` bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: ::prost::alloc::vec::Vec<u8>,
    /// The role the key was created for.
    #[prost(string, tag = "3")]
    pub role: ::prost::alloc::string::String,
}

/// `PublicKey { KeyInfo keyInfo = 1; bytes publicKey = 2; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct PublicKey {
    /// The key and its type.
    #[prost(message, optional, tag = "1")]
    pub key_info: ::core::option::Option<KeyInfo>,
    /// TUF `keyval.public` bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: ::prost::alloc::vec::Vec<u8>,
}

/// `Signature { KeyInfo keyInfo = 1; Algorithm algorithm = 2; bytes content = 3; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct Signature {
    /// The key that signed and its type.
    #[prost(message, optional, tag = "1")]
    pub key_info: ::core::option::Option<KeyInfo>,
    /// The signature method: `ecdsa` or `eddsa`.
    #[prost(message, optional, tag = "2")]
    pub algorithm: ::core::option::Option<Algorithm>,
    /// The signature bytes (raw `r‖s` for ECDSA).
    #[prost(bytes = "vec", tag = "3")]
    pub content: ::prost::alloc::vec::Vec<u8>,
}

/// `SignatureRequest { KeyID keyID = 1; bytes content = 2; }`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct SignatureRequest {
    /// The key to sign with.
    #[prost(message, optional, tag = "1")]
    pub key_id: ::core::option::Option<KeyId>,
    /// The whole message to sign (the signer hashes it).
    #[prost(bytes = "vec", tag = "2")]
    pub content: ::prost::alloc::vec::Vec<u8>,
}

/// `Void {}`
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct Void {}
