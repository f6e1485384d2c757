//! Generates the tonic glue for notary-signer's two services from a hand-written
//! description of `proto/signer.proto` (no `protoc` needed). The message types are
//! written by hand with prost's derive in `src/messages.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn unary(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::messages::{input}"))
        .output_type(format!("crate::messages::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    let key_management = Service::builder()
        .name("KeyManagement")
        .package("proto")
        .method(unary(
            "create_key",
            "CreateKey",
            "CreateKeyRequest",
            "PublicKey",
        ))
        .method(unary("delete_key", "DeleteKey", "KeyId", "Void"))
        .method(unary(
            "get_key_info",
            "GetKeyInfo",
            "KeyId",
            "GetKeyInfoResponse",
        ))
        .build();
    let signer = Service::builder()
        .name("Signer")
        .package("proto")
        .method(unary("sign", "Sign", "SignatureRequest", "Signature"))
        .build();
    Builder::new()
        .build_transport(false)
        .compile(&[key_management, signer]);
}
