//! The gRPC services over the [`KeyStore`], with notary-signer's status codes
//! (`signer/api/rpc_api.go`):
//!
//! | RPC | condition | code, message |
//! | --- | --- | --- |
//! | CreateKey | algorithm not `ecdsa`/`ed25519` | `Unknown`, "algorithm X not supported for create key" |
//! | CreateKey | storage, sealing or generation failure | `Internal`, "Key creation failed" |
//! | DeleteKey | unknown key | OK (nothing to delete) |
//! | DeleteKey | storage failure | `Internal`, "Key deletion for KeyID X failed" |
//! | GetKeyInfo | unknown key | `NotFound`, "key X not found" |
//! | Sign | unknown key | `NotFound`, "signing key not found: X" |
//! | Sign | any other failure | `Internal` |
//!
//! Where signet differs, on purpose: CreateKey with an empty GUN or role is
//! `InvalidArgument` (notary-signer stores such a key); a request without a key ID is
//! `InvalidArgument` (notary-signer dereferences nil and crashes); Sign of content that is
//! not TUF metadata of the key's role is `PermissionDenied` (notary-signer signs anything);
//! GetKeyInfo of a key that exists but cannot be opened (wrong passphrase, tampered row,
//! database down) is `Internal` (notary-signer says `NotFound`, which notary-server cannot
//! tell from a missing key).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::keys::{KeyError, KeyInfo, KeyStore};
use crate::proto;

/// Both services, sharing one key store.
#[derive(Clone, Debug)]
pub struct SignerService {
    keys: Arc<KeyStore>,
}

impl SignerService {
    /// Services over `keys`.
    pub fn new(keys: Arc<KeyStore>) -> Self {
        Self { keys }
    }
}

fn key_info(info: &KeyInfo) -> proto::KeyInfo {
    proto::KeyInfo {
        key_id: Some(proto::KeyId {
            id: info.key_id.clone(),
        }),
        algorithm: Some(proto::Algorithm {
            algorithm: info.algorithm.as_str().to_owned(),
        }),
    }
}

fn internal(context: &str, err: &KeyError) -> Status {
    tracing::error!(error = %err, "{context}");
    Status::internal(context.to_owned())
}

#[tonic::async_trait]
impl proto::key_management::key_management_server::KeyManagement for SignerService {
    async fn create_key(
        &self,
        request: Request<proto::CreateKeyRequest>,
    ) -> Result<Response<proto::PublicKey>, Status> {
        let req = request.into_inner();
        match self.keys.create(&req.algorithm, &req.gun, &req.role).await {
            Ok(info) => {
                tracing::info!(key_id = %info.key_id, gun = %req.gun, role = %req.role, "CreateKey");
                Ok(Response::new(proto::PublicKey {
                    key_info: Some(key_info(&info)),
                    public_key: info.public,
                }))
            }
            Err(e @ KeyError::UnsupportedAlgorithm(_)) => {
                tracing::error!("CreateKey: unsupported algorithm: {}", req.algorithm);
                Err(Status::unknown(e.to_string()))
            }
            Err(e @ KeyError::MissingField(_)) => Err(Status::invalid_argument(e.to_string())),
            Err(e) => Err(internal("Key creation failed", &e)),
        }
    }

    async fn delete_key(
        &self,
        request: Request<proto::KeyId>,
    ) -> Result<Response<proto::Void>, Status> {
        let id = request.into_inner().id;
        match self.keys.delete(&id).await {
            Ok(existed) => {
                tracing::info!(key_id = %id, existed, "DeleteKey");
                Ok(Response::new(proto::Void {}))
            }
            Err(e) => Err(internal(&format!("Key deletion for KeyID {id} failed"), &e)),
        }
    }

    async fn get_key_info(
        &self,
        request: Request<proto::KeyId>,
    ) -> Result<Response<proto::GetKeyInfoResponse>, Status> {
        let id = request.into_inner().id;
        match self.keys.info(&id).await {
            Ok(info) => Ok(Response::new(proto::GetKeyInfoResponse {
                key_info: Some(key_info(&info)),
                public_key: info.public.clone(),
                role: info.role,
            })),
            Err(KeyError::NotFound(_)) => {
                tracing::error!("GetKeyInfo: key {id} not found");
                Err(Status::not_found(format!("key {id} not found")))
            }
            Err(e) => Err(internal(&format!("Getting key {id} failed"), &e)),
        }
    }
}

#[tonic::async_trait]
impl proto::signer::signer_server::Signer for SignerService {
    async fn sign(
        &self,
        request: Request<proto::SignatureRequest>,
    ) -> Result<Response<proto::Signature>, Status> {
        let req = request.into_inner();
        let Some(key_id) = req.key_id else {
            return Err(Status::invalid_argument(
                "no key ID in the signature request",
            ));
        };
        let id = key_id.id;
        match self.keys.sign(&id, &req.content).await {
            Ok(signed) => {
                tracing::info!(key_id = %id, "Sign");
                Ok(Response::new(proto::Signature {
                    key_info: Some(proto::KeyInfo {
                        key_id: Some(proto::KeyId {
                            id: signed.key_id.clone(),
                        }),
                        algorithm: Some(proto::Algorithm {
                            algorithm: signed.algorithm.as_str().to_owned(),
                        }),
                    }),
                    algorithm: Some(proto::Algorithm {
                        algorithm: signed.algorithm.signature_method().to_owned(),
                    }),
                    content: signed.signature,
                }))
            }
            Err(e @ KeyError::NotFound(_)) => {
                tracing::error!("Sign: key {id} not found");
                Err(Status::not_found(e.to_string()))
            }
            Err(e @ KeyError::WrongRole { .. }) => {
                tracing::warn!(error = %e, "Sign refused");
                Err(Status::permission_denied(e.to_string()))
            }
            Err(e) => Err(internal(&format!("Signing failed for KeyID {id}"), &e)),
        }
    }
}
