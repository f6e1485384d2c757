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
    /// The store's entries, listed once (reading every key file's headers) and listed
    /// again after this source adds a key.
    entries: Mutex<Option<Arc<[KeyEntry]>>>,
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
            entries: Mutex::new(None),
        }
    }

    fn entries(&self) -> Result<Arc<[KeyEntry]>, KeyError> {
        let mut cached = lock(&self.entries);
        if let Some(entries) = cached.as_ref() {
            return Ok(Arc::clone(entries));
        }
        let entries: Arc<[KeyEntry]> = self.store.list()?.into();
        *cached = Some(Arc::clone(&entries));
        Ok(entries)
    }

    fn with_passphrases<T>(
        &self,
        f: impl FnOnce(&mut dyn PassphraseSource) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        // A panic elsewhere while holding the lock leaves only cached passphrases behind;
        // the source itself stays usable.
        f(lock(&self.passphrases).as_mut())
    }

    fn load(&self, entry: &KeyEntry) -> Result<Arc<dyn RoleSigner>, KeyError> {
        if let Some((_, signer)) = lock(&self.loaded).iter().find(|(id, _)| *id == entry.id) {
            return Ok(Arc::clone(signer));
        }
        let key = self.with_passphrases(|p| self.store.load_entry(entry, p))?;
        let signer: Arc<dyn RoleSigner> = Arc::new(EcdsaRoleSigner::new(key)?);
        lock(&self.loaded).push((entry.id.clone(), Arc::clone(&signer)));
        Ok(signer)
    }
}

/// A lock whose data stays usable after a panic elsewhere (every value behind these locks
/// is complete at all times).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let entries = self.entries()?;
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
        let entries = self.entries()?;
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
        let added = self.with_passphrases(|p| self.store.add(&key, role.as_str(), gun, p));
        *lock(&self.entries) = None;
        added?;
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

    #[test]
    fn the_listing_is_kept_and_made_again_after_a_key_is_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gun = "example.com/app";
        let keys = source(dir.path());
        let first = keys.generate(gun, &RoleName::targets()).expect("generate");
        let first_id = first.public().canonical_id().clone();
        // Listed now (one key), and kept.
        assert!(
            keys.find(gun, &RoleName::targets(), std::slice::from_ref(&first_id))
                .expect("find")
                .is_some()
        );
        let second = keys.generate(gun, &RoleName::targets()).expect("generate");
        let second_id = second.public().canonical_id().clone();
        let found = keys
            .find(gun, &RoleName::targets(), std::slice::from_ref(&second_id))
            .expect("find")
            .expect("the key added after the first listing is found");
        assert_eq!(found.public().canonical_id(), &second_id);
    }

    /// The uncompressed point at the end of a P-256 SubjectPublicKeyInfo.
    fn spki_point(key: &PublicKey) -> &[u8] {
        let der = key.public_bytes();
        &der[der.len() - 65..]
    }
}
