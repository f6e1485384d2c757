//! Sealing private keys at rest: AES-256-GCM under a key-encryption key (KEK) derived with
//! PBKDF2-HMAC-SHA256 from an operator passphrase and a per-database salt.
//!
//! Every sealed value is bound to a *context* (the additional authenticated data): callers
//! put the key ID, repository (GUN) and role in it, so a ciphertext copied into another row
//! fails to open. The salt and a check value live in `signet_settings` under names the
//! caller chooses ([`Kek::open`]); a wrong passphrase is refused when the KEK is opened,
//! not at the first signature.
//!
//! Format of a sealed value: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The
//! trust server and the signer both use this module; the bytes are the same as the trust
//! server wrote before it moved here.

use std::fmt;
use std::num::NonZeroU32;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::{Store, StoreError};

/// PBKDF2 iterations for deriving a KEK.
pub const PBKDF2_ITERATIONS: u32 = 210_000;
/// The leading byte of every sealed value.
const SEALED_VERSION: u8 = 1;
/// The plaintext of the check value.
const CHECK_PLAINTEXT: &[u8] = b"signet key-encryption check v1";

/// Why a KEK could not be opened or a value sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The passphrase is empty.
    #[error("the key-encryption passphrase is empty")]
    NoPassphrase,
    /// The passphrase does not open this database's check value.
    #[error("the key-encryption passphrase does not match the one this database was set up with")]
    WrongPassphrase,
    /// The crypto library failed (random source or cipher setup).
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
    /// Reading or writing the salt or check value failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An online signing key (timestamp, snapshot) opened from its unsealed PKCS#8 bytes, as
/// the server and the signer hold theirs: ECDSA P-256 with raw `r‖s` signatures (as notary
/// writes them) or Ed25519.
pub enum SigningPair {
    /// ECDSA P-256 / SHA-256.
    Ecdsa(EcdsaKeyPair),
    /// Ed25519.
    Ed25519(Ed25519KeyPair),
}

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl SigningPair {
    /// Opens PKCS#8 bytes: P-256 when `ecdsa`, else Ed25519.
    ///
    /// # Errors
    ///
    /// [`SealError::Crypto`] if the bytes are not such a key.
    pub fn from_pkcs8(ecdsa: bool, pkcs8: &[u8], rng: &SystemRandom) -> Result<Self, SealError> {
        if ecdsa {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
                .map(Self::Ecdsa)
                .map_err(|_| SealError::Crypto("parse ecdsa key"))
        } else {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map(Self::Ed25519)
                .map_err(|_| SealError::Crypto("parse ed25519 key"))
        }
    }

    /// The public key as TUF lists it: SubjectPublicKeyInfo DER for ECDSA (key type
    /// `ecdsa`), the raw 32 bytes for Ed25519.
    pub fn public_key(&self) -> Vec<u8> {
        match self {
            Self::Ecdsa(p) => {
                let mut spki = P256_SPKI_PREFIX.to_vec();
                spki.extend_from_slice(p.public_key().as_ref());
                spki
            }
            Self::Ed25519(p) => p.public_key().as_ref().to_vec(),
        }
    }

    /// The TUF signature method: `ecdsa` or `eddsa`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Ecdsa(_) => "ecdsa",
            Self::Ed25519(_) => "eddsa",
        }
    }

    /// Signs `payload`.
    ///
    /// # Errors
    ///
    /// [`SealError::Crypto`] if the random source fails (ECDSA).
    pub fn sign(&self, rng: &SystemRandom, payload: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            Self::Ecdsa(p) => p
                .sign(rng, payload)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SealError::Crypto("ecdsa sign")),
            Self::Ed25519(p) => Ok(p.sign(payload).as_ref().to_vec()),
        }
    }
}

/// Names of the two settings a KEK keeps in `signet_settings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KekSettings<'a> {
    /// The setting holding the 16-byte PBKDF2 salt.
    pub salt: &'a str,
    /// The setting holding the sealed check value (sealed with this name as context).
    pub check: &'a str,
}

/// A key-encryption key. The derived key bytes are zeroized as soon as the cipher key is
/// built; the key is never printed.
pub struct Kek {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<secret>)")
    }
}

impl Kek {
    /// Derives a KEK from `passphrase` and `salt` (PBKDF2-HMAC-SHA256,
    /// [`PBKDF2_ITERATIONS`] iterations). Slow on purpose: derive once and keep it.
    ///
    /// # Errors
    ///
    /// [`SealError::NoPassphrase`] for an empty passphrase.
    pub fn derive(passphrase: &[u8], salt: &[u8]) -> Result<Self, SealError> {
        if passphrase.is_empty() {
            return Err(SealError::NoPassphrase);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).ok_or(SealError::Crypto("pbkdf2"))?;
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            passphrase,
            bytes.as_mut(),
        );
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes.as_ref())
                .map_err(|_| SealError::Crypto("aead key"))?,
        );
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// Opens the KEK of a database: takes the salt from setting `names.salt` (creating a
    /// random one on first use), derives the KEK, and checks it against the sealed check
    /// value in `names.check` (created on first use). Several processes racing on a new
    /// database agree on the first committed salt and check.
    ///
    /// # Errors
    ///
    /// [`SealError::NoPassphrase`], [`SealError::WrongPassphrase`] if the check value does
    /// not open, [`SealError::Store`] if the settings cannot be read or written.
    pub async fn open(
        store: &Store,
        passphrase: &[u8],
        names: KekSettings<'_>,
    ) -> Result<Self, SealError> {
        if passphrase.is_empty() {
            return Err(SealError::NoPassphrase);
        }
        let rng = SystemRandom::new();
        let mut salt = [0u8; 16];
        rng.fill(&mut salt)
            .map_err(|_| SealError::Crypto("random"))?;
        let salt = store.init_setting(names.salt, &salt).await?;
        let passphrase = Zeroizing::new(passphrase.to_vec());
        // PBKDF2 takes a while: keep it off the async workers.
        let kek = tokio::task::spawn_blocking(move || Self::derive(&passphrase, &salt))
            .await
            .map_err(|_| SealError::Crypto("key derivation task"))??;
        let check = kek.seal(names.check.as_bytes(), CHECK_PLAINTEXT)?;
        let stored = store.init_setting(names.check, &check).await?;
        match kek.open_sealed(names.check.as_bytes(), &stored) {
            Some(p) if p.as_slice() == CHECK_PLAINTEXT => Ok(kek),
            _ => Err(SealError::WrongPassphrase),
        }
    }

    /// Seals `plaintext`, bound to `context`.
    ///
    /// # Errors
    ///
    /// [`SealError::Crypto`] if the random source or the cipher fails.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SealError::Crypto("random"))?;
        let mut buf = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut *buf,
            )
            .map_err(|_| SealError::Crypto("seal"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens a value sealed with [`Kek::seal`] under the same `context`; `None` if it was
    /// sealed under another key or context, or altered in any way. The plaintext is zeroized
    /// when dropped.
    pub fn open_sealed(&self, context: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(context), buf.as_mut_slice())
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: KekSettings<'static> = KekSettings {
        salt: "test.salt",
        check: "test.check",
    };

    #[test]
    fn sealed_value_opens_only_in_its_context_and_unaltered() {
        let kek = Kek::derive(b"passphrase", b"0123456789abcdef").unwrap();
        let sealed = kek.seal(b"ctx", b"secret").unwrap();
        assert_eq!(
            kek.open_sealed(b"ctx", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(kek.open_sealed(b"ctx2", &sealed).is_none());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(kek.open_sealed(b"ctx", &bad).is_none(), "flip at {i}");
        }
        assert!(
            kek.open_sealed(b"ctx", &sealed[..sealed.len() - 1])
                .is_none()
        );
        assert!(kek.open_sealed(b"ctx", &[]).is_none());
        let other = Kek::derive(b"other", b"0123456789abcdef").unwrap();
        assert!(other.open_sealed(b"ctx", &sealed).is_none());
        assert!(matches!(
            Kek::derive(b"", b"salt"),
            Err(SealError::NoPassphrase)
        ));
        assert_eq!(format!("{kek:?}"), "Kek(<secret>)");
    }

    #[tokio::test]
    async fn open_checks_the_passphrase_against_the_database() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let kek = Kek::open(&store, b"right", NAMES).await.unwrap();
        let sealed = kek.seal(b"c", b"v").unwrap();
        assert!(matches!(
            Kek::open(&store, b"wrong", NAMES).await,
            Err(SealError::WrongPassphrase)
        ));
        assert!(matches!(
            Kek::open(&store, b"", NAMES).await,
            Err(SealError::NoPassphrase)
        ));
        // Other setting names are an independent KEK.
        let other = KekSettings {
            salt: "other.salt",
            check: "other.check",
        };
        Kek::open(&store, b"wrong", other).await.unwrap();
        let again = Kek::open(&store, b"right", NAMES).await.unwrap();
        assert_eq!(again.open_sealed(b"c", &sealed).unwrap().as_slice(), b"v");
    }
}
