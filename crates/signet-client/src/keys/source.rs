//! [`StoreKeySource`]: the [`KeySource`] the publishing code signs through, backed by the
//! private-key store of a trust directory and a passphrase source.

use std::sync::{Arc, Mutex};

use signet_core::{KeyId, PublicKey, RoleName};

use super::passphrase::PassphraseSource;
use super::{KeyAlgorithm, KeyEntry, KeyError, KeyStore, PrivateKey, Signer};
use crate::publish::{KeyError as SourceError, KeySource, RoleSigner};

impl From<KeyError> for SourceError {
    fn from(e: KeyError) -> Self {
        Self {
            reason: e.to_string(),
        }
    }
}

/// A [`KeySource`] over a [`KeyStore`]: keys are found by canonical key ID (the key file's
/// name) or, when any key of a role will do, by the file's `role` (and `gun`) headers;
/// passphrases come from the source given (notary's environment variables or a prompt).
pub struct StoreKeySource {
    store: KeyStore,
    passphrases: Mutex<Box<dyn PassphraseSource + Send>>,
    /// Keys decrypted so far, by ID: a publish looks for the same key more than once (to
    /// check that a role can be signed, then to sign), and each decryption runs the key's
    /// KDF and may ask for a passphrase.
    loaded: Mutex<Vec<(String, Arc<dyn RoleSigner>)>>,
}

impl core::fmt::Debug for StoreKeySource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreKeySource")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl StoreKeySource {
    /// Keys from `store`, passphrases from `passphrases`.
    pub fn new(store: KeyStore, passphrases: impl PassphraseSource + Send + 'static) -> Self {
        Self {
            store,
            passphrases: Mutex::new(Box::new(passphrases)),
            loaded: Mutex::new(Vec::new()),
        }
    }

    fn with_passphrases<T>(
        &self,
        f: impl FnOnce(&mut dyn PassphraseSource) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        // A panic elsewhere while holding the lock leaves only cached passphrases behind;
        // the source itself stays usable.
        let mut guard = self
            .passphrases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(guard.as_mut())
    }

    fn load(&self, entry: &KeyEntry) -> Result<Arc<dyn RoleSigner>, KeyError> {
        let loaded = || {
            self.loaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, signer)) = loaded().iter().find(|(id, _)| *id == entry.id) {
            return Ok(Arc::clone(signer));
        }
        let (key, _) = self.with_passphrases(|p| self.store.load(&entry.id, p))?;
        let signer: Arc<dyn RoleSigner> = Arc::new(EcdsaRoleSigner::new(key)?);
        loaded().push((entry.id.clone(), Arc::clone(&signer)));
        Ok(signer)
    }
}

/// Whether a store entry without a requested ID serves `role` of `gun`: the role header
/// must match; targets, snapshot and timestamp keys must also carry the GUN (root and
/// delegation keys are stored without one, as notary stores them).
fn serves(entry: &KeyEntry, gun: &str, role: &RoleName) -> bool {
    if entry.role != role.as_str() {
        return false;
    }
    match role.as_str() {
        "targets" | "snapshot" | "timestamp" => entry.gun == gun,
        _ => true,
    }
}

impl KeySource for StoreKeySource {
    fn find(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Option<Arc<dyn RoleSigner>>, SourceError> {
        let entries = self.store.list()?;
        let entry = if allowed.is_empty() {
            entries.iter().find(|e| serves(e, gun, role))
        } else {
            // In `allowed`'s order, so the caller's preference wins.
            allowed.iter().find_map(|id| {
                let id = id.to_string();
                entries.iter().find(|e| e.id == id)
            })
        };
        Ok(entry.map(|e| self.load(e)).transpose()?)
    }

    fn find_all(
        &self,
        _gun: &str,
        _role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Vec<Arc<dyn RoleSigner>>, SourceError> {
        let entries = self.store.list()?;
        let mut out = Vec::new();
        for id in allowed {
            let id = id.to_string();
            if let Some(e) = entries.iter().find(|e| e.id == id) {
                out.push(self.load(e)?);
            }
        }
        Ok(out)
    }

    fn generate(&self, gun: &str, role: &RoleName) -> Result<Arc<dyn RoleSigner>, SourceError> {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
        self.with_passphrases(|p| self.store.add(&key, role.as_str(), gun, p))?;
        Ok(Arc::new(EcdsaRoleSigner::new(key)?))
    }
}

/// A [`PrivateKey`] as a [`RoleSigner`]: ECDSA P-256 only, as the publishing code requires.
struct EcdsaRoleSigner(PrivateKey);

impl EcdsaRoleSigner {
    fn new(key: PrivateKey) -> Result<Self, KeyError> {
        if key.algorithm() != KeyAlgorithm::EcdsaP256 {
            return Err(KeyError::Unsupported {
                reason: format!(
                    "key {} is {} (method {:?}); signing metadata needs an ECDSA P-256 key",
                    key.id(),
                    match key.algorithm() {
                        KeyAlgorithm::Ed25519 => "Ed25519",
                        KeyAlgorithm::Rsa => "RSA",
                        _ => "not ECDSA P-256",
                    },
                    key.algorithm().method()
                ),
            });
        }
        Ok(Self(key))
    }
}

impl RoleSigner for EcdsaRoleSigner {
    fn public(&self) -> &PublicKey {
        self.0.public()
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SourceError> {
        Ok(Signer::sign(&self.0, payload)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PassphraseEnv, Retriever};

    fn source(dir: &std::path::Path) -> StoreKeySource {
        StoreKeySource::new(
            KeyStore::new(dir),
            Retriever::with_values(
                PassphraseEnv::notary(),
                [
                    ("NOTARY_ROOT_PASSPHRASE", "rootpassphrase"),
                    ("NOTARY_TARGETS_PASSPHRASE", "targetspassphrase"),
                ],
            ),
        )
    }

    #[test]
    fn generated_keys_are_found_by_id_and_by_role() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = source(dir.path());
        let gun = "example.com/app";
        let targets = keys.generate(gun, &RoleName::targets()).expect("generate");
        let root = keys.generate(gun, &RoleName::root()).expect("generate");
        let id = targets.public().canonical_id().clone();

        // A fresh source (nothing cached) decrypts from the store.
        let again = source(dir.path());
        let by_id = again
            .find(gun, &RoleName::targets(), std::slice::from_ref(&id))
            .expect("find")
            .expect("present");
        assert_eq!(by_id.public().canonical_id(), &id);
        let by_role = again
            .find(gun, &RoleName::targets(), &[])
            .expect("find")
            .expect("present");
        assert_eq!(by_role.public().canonical_id(), &id);
        assert!(
            Arc::ptr_eq(&by_id, &by_role),
            "a key is decrypted once, then remembered"
        );
        let any_root = again
            .find("other/gun", &RoleName::root(), &[])
            .expect("find")
            .expect("root keys serve every GUN");
        assert_eq!(
            any_root.public().canonical_id(),
            root.public().canonical_id()
        );
        assert!(
            again
                .find("other/gun", &RoleName::targets(), &[])
                .expect("find")
                .is_none(),
            "a targets key belongs to its GUN"
        );

        // Signatures are raw r‖s and verify against the public key.
        let sig = by_id.sign(b"payload").expect("sign");
        assert_eq!(sig.len(), 64);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            spki_point(by_id.public()),
        );
        public.verify(b"payload", &sig).expect("verifies");
    }

    #[test]
    fn non_ecdsa_keys_are_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).expect("generate");
        let err = EcdsaRoleSigner::new(key).err().expect("refused");
        assert!(matches!(err, KeyError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("ECDSA P-256"), "{err}");
    }

    #[test]
    fn missing_passphrase_fails_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = StoreKeySource::new(
            KeyStore::new(dir.path()),
            Retriever::with_values(PassphraseEnv::notary(), []),
        );
        let err = keys
            .generate("g", &RoleName::snapshot())
            .err()
            .expect("no passphrase");
        assert!(err.reason.contains("NOTARY_SNAPSHOT_PASSPHRASE"), "{err}");
        assert!(KeyStore::new(dir.path()).list().expect("list").is_empty());
    }

    /// The uncompressed point at the end of a P-256 SubjectPublicKeyInfo.
    fn spki_point(key: &PublicKey) -> &[u8] {
        let der = key.public_bytes();
        &der[der.len() - 65..]
    }
}
