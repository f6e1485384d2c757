//! Signature verification behind a small provider trait.
//!
//! [`RingVerifier`] is the real implementation. [`AcceptAllSignatures`] exists so fuzzers
//! can reach the code behind signature checks; it must never be used to make a decision.

use core::fmt;

use ring::signature::{self, UnparsedPublicKey};

use crate::key::{KeyMaterial, PublicKey};

/// Checks one signature by one key.
pub trait Verifier: Send + Sync {
    /// Verifies `sig` over `message` with `key`, using the signature `method` (lower case:
    /// `ecdsa`, `eddsa`, `rsapss`, `rsapkcs1v15`, `pycrypto-pkcs#1 pss`).
    fn verify(
        &self,
        key: &PublicKey,
        method: &str,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), SignatureError>;
}

/// Why a signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The method does not fit the key type.
    MethodMismatch {
        /// The signature's method.
        method: String,
        /// The key's type.
        keytype: String,
    },
    /// The key cannot verify (unknown type, malformed material).
    UnusableKey(String),
    /// The signature has the wrong length for the key.
    BadLength,
    /// The cryptographic check failed.
    Invalid,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodMismatch { method, keytype } => {
                write!(
                    f,
                    "signature method {method} cannot be used with a {keytype} key"
                )
            }
            Self::UnusableKey(why) => write!(f, "key cannot verify: {why}"),
            Self::BadLength => f.write_str("signature has the wrong length"),
            Self::Invalid => f.write_str("signature is invalid"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// A [`Verifier`] that remembers the signatures `inner` accepted, for one update: the
/// same root signature is checked when the root is loaded and again before each use, and
/// the second check can be answered from memory. A signature is remembered by the SHA-256
/// of everything that decided it (key ID, method, message and signature bytes); refusals
/// are not remembered, so they are always checked again. Messages over
/// [`MemoVerifier::MAX_MESSAGE`] bytes go straight to `inner`: only a root is checked twice,
/// and hashing a large `targets.json` would cost more than a check saves.
pub struct MemoVerifier<'a> {
    inner: &'a dyn Verifier,
    accepted: std::sync::Mutex<Vec<[u8; 32]>>,
}

impl<'a> MemoVerifier<'a> {
    /// The largest message remembered (a root with many certificates is far smaller).
    pub const MAX_MESSAGE: usize = 64 * 1024;

    /// Remembers what `inner` accepts.
    pub fn new(inner: &'a dyn Verifier) -> Self {
        Self {
            inner,
            accepted: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn accepted(&self) -> std::sync::MutexGuard<'_, Vec<[u8; 32]>> {
        // Every value the list holds is complete: a panic elsewhere leaves it usable.
        self.accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoVerifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoVerifier")
            .field("remembered", &self.accepted().len())
            .finish_non_exhaustive()
    }
}

impl Verifier for MemoVerifier<'_> {
    fn verify(
        &self,
        key: &PublicKey,
        method: &str,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), SignatureError> {
        if message.len() > Self::MAX_MESSAGE {
            return self.inner.verify(key, method, message, sig);
        }
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            key.id().as_str().as_bytes(),
            method.as_bytes(),
            message,
            sig,
        ] {
            // Length-prefixed, so no two different inputs run together the same way.
            h.update(&(part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let mut seen = [0u8; 32];
        seen.copy_from_slice(h.finish().as_ref());
        if self.accepted().contains(&seen) {
            return Ok(());
        }
        self.inner.verify(key, method, message, sig)?;
        self.accepted().push(seen);
        Ok(())
    }
}

/// Verification with *ring*: ECDSA P-256/P-384 with SHA-256 over raw `r‖s`, Ed25519, and
/// RSA (2048–8192 bits) PSS or PKCS#1 v1.5 with SHA-256.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingVerifier;

impl Verifier for RingVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        method: &str,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), SignatureError> {
        let mismatch = || SignatureError::MethodMismatch {
            method: method.to_owned(),
            keytype: key.keytype().as_str().to_owned(),
        };
        let check =
            |alg: &'static dyn signature::VerificationAlgorithm, public: &[u8], sig: &[u8]| {
                UnparsedPublicKey::new(alg, public)
                    .verify(message, sig)
                    .map_err(|_| SignatureError::Invalid)
            };
        match (key.material(), method) {
            (KeyMaterial::Unusable(why), _) => Err(SignatureError::UnusableKey(why.clone())),
            (KeyMaterial::Ed25519(k), "eddsa") => check(&signature::ED25519, k, sig),
            (KeyMaterial::EcdsaP256(point), "ecdsa") => {
                if sig.len() != 64 {
                    return Err(SignatureError::BadLength);
                }
                check(&signature::ECDSA_P256_SHA256_FIXED, point, sig)
            }
            (KeyMaterial::EcdsaP384(point), "ecdsa") => {
                if sig.len() != 96 {
                    return Err(SignatureError::BadLength);
                }
                // ring has P-384 with SHA-256 only in ASN.1 form.
                check(&signature::ECDSA_P384_SHA256_ASN1, point, &raw_to_der(sig))
            }
            (KeyMaterial::Rsa { pkcs1, .. }, "rsapss" | "pycrypto-pkcs#1 pss") => {
                check(&signature::RSA_PSS_2048_8192_SHA256, pkcs1, sig)
            }
            (KeyMaterial::Rsa { pkcs1, .. }, "rsapkcs1v15") => {
                check(&signature::RSA_PKCS1_2048_8192_SHA256, pkcs1, sig)
            }
            _ => Err(mismatch()),
        }
    }
}

/// Accepts every signature whose method fits the key. **No security**: for fuzzing only.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAllSignatures;

impl Verifier for AcceptAllSignatures {
    fn verify(
        &self,
        _key: &PublicKey,
        _method: &str,
        _message: &[u8],
        _sig: &[u8],
    ) -> Result<(), SignatureError> {
        Ok(())
    }
}

/// Raw `r‖s` to DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn raw_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let int = |x: &[u8]| {
        let skip = x
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(x.len().saturating_sub(1));
        let x = &x[skip..];
        let mut out = vec![0x02];
        let pad = x.first().is_some_and(|b| b & 0x80 != 0);
        out.push((x.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(x);
        out
    };
    let body: Vec<u8> = [int(r), int(s)].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    use super::*;
    use crate::key::KeyType;

    /// Counts the calls that reach it; accepts only messages that start with `msg`.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Verifier for Counting {
        fn verify(&self, _: &PublicKey, _: &str, m: &[u8], _: &[u8]) -> Result<(), SignatureError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if m.starts_with(b"msg") {
                Ok(())
            } else {
                Err(SignatureError::Invalid)
            }
        }
    }

    #[test]
    fn a_memo_verifier_answers_an_accepted_signature_again_from_memory_only() {
        let inner = Counting::default();
        let calls = || inner.0.load(std::sync::atomic::Ordering::SeqCst);
        let memo = MemoVerifier::new(&inner);
        let a = PublicKey::new(KeyType::Ed25519, vec![1; 32]);
        let b = PublicKey::new(KeyType::Ed25519, vec![2; 32]);

        assert_eq!(memo.verify(&a, "eddsa", b"msg", b"sig"), Ok(()));
        assert_eq!(memo.verify(&a, "eddsa", b"msg", b"sig"), Ok(()));
        assert_eq!(
            calls(),
            1,
            "the same check twice reaches the inner verifier once"
        );
        // Any part that differs is a new check.
        for (key, method, sig) in [
            (&b, "eddsa", &b"sig"[..]),
            (&a, "ecdsa", b"sig"),
            (&a, "eddsa", b"sih"),
        ] {
            assert_eq!(memo.verify(key, method, b"msg", sig), Ok(()));
        }
        assert_eq!(calls(), 4);
        // A refusal is never remembered.
        for _ in 0..2 {
            assert_eq!(
                memo.verify(&a, "eddsa", b"other", b"sig"),
                Err(SignatureError::Invalid)
            );
        }
        assert_eq!(calls(), 6);
        // A message over the bound is checked every time, even once accepted.
        let mut large = b"msg".to_vec();
        large.resize(MemoVerifier::MAX_MESSAGE + 1, b'x');
        for _ in 0..2 {
            assert_eq!(memo.verify(&a, "eddsa", &large, b"sig"), Ok(()));
        }
        assert_eq!(calls(), 8);
    }

    #[test]
    fn ed25519_and_ecdsa_round_trip() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = PublicKey::new(KeyType::Ed25519, kp.public_key().as_ref().to_vec());
        let sig = kp.sign(b"msg");
        assert_eq!(
            RingVerifier.verify(&key, "eddsa", b"msg", sig.as_ref()),
            Ok(())
        );
        assert_eq!(
            RingVerifier.verify(&key, "eddsa", b"msh", sig.as_ref()),
            Err(SignatureError::Invalid)
        );
        assert!(matches!(
            RingVerifier.verify(&key, "ecdsa", b"msg", sig.as_ref()),
            Err(SignatureError::MethodMismatch { .. })
        ));

        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        // SPKI DER for a P-256 point: fixed prefix + 65-byte point.
        let mut spki = hex_prefix_p256();
        spki.extend_from_slice(kp.public_key().as_ref());
        let key = PublicKey::new(KeyType::Ecdsa, spki);
        let sig = kp.sign(&rng, b"msg").unwrap();
        assert_eq!(
            RingVerifier.verify(&key, "ecdsa", b"msg", sig.as_ref()),
            Ok(())
        );
        assert_eq!(
            RingVerifier.verify(&key, "ecdsa", b"msg", &sig.as_ref()[1..]),
            Err(SignatureError::BadLength)
        );
    }

    fn hex_prefix_p256() -> Vec<u8> {
        vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ]
    }

    #[test]
    fn der_conversion_pads_high_bit() {
        let mut raw = vec![0u8; 96];
        raw[0] = 0x80;
        raw[95] = 1;
        let der = raw_to_der(&raw);
        assert_eq!(&der[..5], &[0x30, 0x36, 0x02, 0x31, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
    }
}
