//! [`RemoteKeys`]: timestamp and snapshot keys held by a signer that speaks notary-signer's
//! gRPC API (`signet signer`, or notary-signer itself), `trust_service.type = "remote"`.
//!
//! The signer holds the private keys; the server keeps one row per key it had the signer
//! create, in the same `server_keys` table as local keys: key ID, GUN, role, public key,
//! an algorithm prefixed `remote:` and no private part. The rows give the server what the
//! signer's API does not: which repository a key was made for (`GetKeyInfo` names only the
//! role), so a key signs only for the GUN and role it was created for, as local keys do;
//! and which keys were handed out and never used, so repeated `GET …/{role}.key` return
//! the same key without a call to the signer.
//!
//! Every signature the signer returns is verified against the stored public key before it
//! is used. Calls are bounded (see `signet_signer_proto::client`): with the signer down,
//! a write fails within the timeouts and reads are answered from stored metadata.

use std::sync::Arc;

use signet_core::metadata::Base64Bytes;
use signet_core::{KeyId, KeyType, PublicKey, RingVerifier, Signature, Verifier as _};
use signet_signer_proto::client::RemoteSigner;
use signet_store::{NewServerKey, ServerKey, Store};

use super::{KeyAlgorithm, KeyError};

/// Prefix of the `algorithm` column of keys held by the remote signer.
pub(crate) const REMOTE_PREFIX: &str = "remote:";

/// Keys on a remote signer.
pub struct RemoteKeys {
    store: Store,
    signer: Arc<RemoteSigner>,
    algorithm: KeyAlgorithm,
    /// `remote:<algorithm>`, the stored algorithm of keys created here.
    stored_algorithm: String,
}

impl RemoteKeys {
    /// Keys created by `signer` with `algorithm`, recorded in `store`.
    pub fn new(store: Store, signer: Arc<RemoteSigner>, algorithm: KeyAlgorithm) -> Self {
        Self {
            store,
            signer,
            algorithm,
            stored_algorithm: format!("{REMOTE_PREFIX}{}", algorithm.as_str()),
        }
    }

    /// The signer client (for health checks).
    pub fn signer(&self) -> &Arc<RemoteSigner> {
        &self.signer
    }

    pub(super) async fn unused_or_create(
        &self,
        gun: &str,
        role: &str,
    ) -> Result<PublicKey, KeyError> {
        if let Some(row) = self
            .store
            .unused_key(gun, role, &self.stored_algorithm)
            .await?
        {
            return remote_public(&row);
        }
        self.create(gun, role).await?;
        // Racing creators agree on the lowest unused key.
        match self
            .store
            .unused_key(gun, role, &self.stored_algorithm)
            .await?
        {
            Some(row) => remote_public(&row),
            None => Err(KeyError::Crypto("created key vanished")),
        }
    }

    pub(super) async fn create(&self, gun: &str, role: &str) -> Result<PublicKey, KeyError> {
        let key = self
            .signer
            .create_key(self.algorithm.as_str(), gun, role)
            .await
            .map_err(|source| KeyError::Signer {
                authority: self.signer.authority().to_owned(),
                source,
            })?;
        let expected = match self.algorithm {
            KeyAlgorithm::Ecdsa => KeyType::Ecdsa,
            KeyAlgorithm::Ed25519 => KeyType::Ed25519,
            KeyAlgorithm::Rsa => KeyType::Rsa,
        };
        if *key.keytype() != expected {
            return Err(KeyError::SignerMisbehaved {
                key_id: key.id().as_str().to_owned(),
                reason: "created a key of another algorithm",
            });
        }
        let key_id = key.id().as_str().to_owned();
        // notary-signer and signet signer hand a key never used out again.
        if self.recorded(&key_id, gun, role).await? {
            return Ok(key);
        }
        let inserted = self
            .store
            .insert_key(&NewServerKey {
                key_id: key_id.clone(),
                gun: gun.to_owned(),
                role: role.to_owned(),
                algorithm: self.stored_algorithm.clone(),
                public: key.public_bytes().to_vec(),
                private: Vec::new(),
            })
            .await;
        match inserted {
            Ok(()) => Ok(key),
            // Another request recorded the same key first.
            Err(e) => match self.recorded(&key_id, gun, role).await {
                Ok(true) => Ok(key),
                _ => Err(e.into()),
            },
        }
    }

    /// Whether `key_id` is recorded as this signer's key for (gun, role); an error if it is
    /// recorded for anything else.
    async fn recorded(&self, key_id: &str, gun: &str, role: &str) -> Result<bool, KeyError> {
        match self.store.key(key_id).await? {
            None => Ok(false),
            Some(row)
                if row.gun == gun && row.role == role && row.algorithm == self.stored_algorithm =>
            {
                Ok(true)
            }
            Some(_) => Err(KeyError::SignerMisbehaved {
                key_id: key_id.to_owned(),
                reason: "handed out a key recorded for another repository, role or algorithm",
            }),
        }
    }

    async fn held_row(
        &self,
        gun: &str,
        role: &str,
        key_id: &KeyId,
    ) -> Result<Option<(ServerKey, PublicKey)>, KeyError> {
        let Some(row) = self.store.key(key_id.as_str()).await? else {
            return Ok(None);
        };
        // A key only ever signs for the repository and role it was made for; keys sealed
        // in the database (local) are not the signer's.
        if !row.algorithm.starts_with(REMOTE_PREFIX) || row.gun != gun || row.role != role {
            return Ok(None);
        }
        let public = remote_public(&row)?;
        Ok(Some((row, public)))
    }

    pub(super) async fn held(
        &self,
        gun: &str,
        role: &str,
        key_id: &KeyId,
    ) -> Result<Option<PublicKey>, KeyError> {
        Ok(self.held_row(gun, role, key_id).await?.map(|(_, k)| k))
    }

    pub(super) async fn sign_with_held(
        &self,
        gun: &str,
        role: &str,
        keyids: &[KeyId],
        payload: &[u8],
    ) -> Result<Vec<Signature>, KeyError> {
        let mut sigs = Vec::new();
        for id in keyids {
            let Some((row, public)) = self.held_row(gun, role, id).await? else {
                continue;
            };
            let signed = self
                .signer
                .sign(id.as_str(), payload)
                .await
                .map_err(|source| KeyError::Signer {
                    authority: self.signer.authority().to_owned(),
                    source,
                })?;
            let method = match public.keytype() {
                KeyType::Ed25519 => "eddsa",
                KeyType::Rsa => "rsapss",
                _ => "ecdsa",
            };
            if RingVerifier
                .verify(&public, method, payload, &signed.signature)
                .is_err()
            {
                return Err(KeyError::SignerMisbehaved {
                    key_id: id.as_str().to_owned(),
                    reason: "returned a signature that does not verify",
                });
            }
            if row.last_used.is_none() {
                self.store.mark_key_used(id.as_str()).await?;
            }
            sigs.push(Signature {
                keyid: id.clone(),
                method: method.to_owned(),
                sig: Base64Bytes(signed.signature),
            });
        }
        Ok(sigs)
    }
}

/// The public key of a remote key's row; the row's key ID must be its ID.
fn remote_public(row: &ServerKey) -> Result<PublicKey, KeyError> {
    let corrupt = |reason| KeyError::CorruptKey {
        key_id: row.key_id.clone(),
        reason,
    };
    let keytype = match row.algorithm.strip_prefix(REMOTE_PREFIX) {
        Some("ecdsa") => KeyType::Ecdsa,
        Some("ed25519") => KeyType::Ed25519,
        Some("rsa") => KeyType::Rsa,
        _ => return Err(corrupt("unknown algorithm")),
    };
    let public = PublicKey::new(keytype, row.public.clone());
    if public.id().as_str() != row.key_id {
        return Err(corrupt("key ID does not match the key"));
    }
    Ok(public)
}
