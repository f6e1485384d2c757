//! The Notary v1 / TUF core of Signet: bytes in, decisions out.
//!
//! This crate parses and writes Notary's metadata dialect (capitalised `_type`, base64
//! hashes and keys, X.509 root keys, Go's canonical JSON), verifies signatures and
//! thresholds, validates updates the way a Notary server must, and builds the snapshot
//! and timestamp a server signs.
//!
//! It performs no IO and never reads the clock: callers pass the reference time, and
//! signing is "payload out, signature in" through [`metadata::Unsigned`]. The trust
//! server, the client and the admission webhook all drive it.
//!
//! Non-goals: fetching, storage, key storage, and anything asynchronous.
//!
//! ```
//! use signet_core::canonical::canonicalize;
//! assert_eq!(canonicalize(br#"{"b":1, "a":"<"}"#).unwrap(), br#"{"a":"<","b":1}"#);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod key;
pub mod metadata;
#[doc = include_str!("manual.md")]
pub mod manual {}
pub mod shape;
pub mod time;
pub mod trusted;
pub mod update;
pub mod verify;

pub use crypto::{AcceptAllSignatures, MemoVerifier, RingVerifier, Verifier};
pub use error::{MetadataError, UpdateError, VerifyError};
pub use key::{KeyId, KeyType, PublicKey};
pub use metadata::{RoleName, Root, Signature, Signed, Snapshot, Targets, Timestamp, Unsigned};
pub use time::UnixTime;
pub use trusted::{
    KnownVersions, Limits, Pinning, TrustedRoot, TrustedSnapshot, TrustedTargets, TrustedTimestamp,
};
pub use update::{RepoState, SnapshotPlan, Upload, ValidatedUpdate, validate_update};
