//! One private key in memory, in notary's representation, and the [`Signer`] seam.

use core::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use signet_core::{KeyId, KeyType, PublicKey};
use zeroize::Zeroizing;

use super::KeyError;
use super::der::{
    OID_EC_PUBLIC_KEY, OID_ED25519, OID_NOTARY_ED25519, OID_P256, OID_RSA, notary_pkcs8,
    parse_octet_string, parse_private_key_info, spki,
};

/// The algorithm of a private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256; signatures are raw `r‖s` (notary's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
    /// RSA, signing RSASSA-PSS with SHA-256 (salt length 32), as notary does.
    Rsa,
}

impl KeyAlgorithm {
    /// The TUF signature `method` notary writes for this algorithm.
    pub fn method(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa",
            Self::Ed25519 => "eddsa",
            Self::Rsa => "rsapss",
        }
    }

    /// The `keytype` of the bare public key.
    pub fn keytype(self) -> KeyType {
        match self {
            Self::EcdsaP256 => KeyType::Ecdsa,
            Self::Ed25519 => KeyType::Ed25519,
            Self::Rsa => KeyType::Rsa,
        }
    }

    /// Parses notary's algorithm names (`ecdsa`, `ed25519`, `rsa`), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "ecdsa" => Some(Self::EcdsaP256),
            "ed25519" => Some(Self::Ed25519),
            "rsa" => Some(Self::Rsa),
            _ => None,
        }
    }
}

/// Signs payloads for one key. Local files implement it through [`PrivateKey`]; a PKCS#11
/// token or a remote signer can implement it too, and the publishing code only sees this.
pub trait Signer: Send + Sync {
    /// The key's public half (bare `ecdsa`/`ed25519`/`rsa`; for root keys the metadata lists
    /// a certificate made for it, see [`PrivateKey::root_certificate`]).
    fn public_key(&self) -> &PublicKey;

    /// The canonical key ID (the file name in `private/`).
    fn key_id(&self) -> &KeyId {
        self.public_key().canonical_id()
    }

    /// The signature `method` (`ecdsa`, `eddsa`, `rsapss`).
    fn method(&self) -> &'static str;

    /// Signs `payload` (the canonical bytes of `signed`). ECDSA signatures are raw `r‖s`.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError>;
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A decrypted private key. Its bytes live in zeroizing buffers and never appear in `Debug`
/// output or logs.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    public: PublicKey,
    /// notary's `Private()` bytes: SEC1 `ECPrivateKey` DER (with curve and public key),
    /// PKCS#1 `RSAPrivateKey` DER, or Ed25519's 96 bytes `public‖seed‖public`.
    secret: Zeroizing<Vec<u8>>,
    pair: Pair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("id", self.public.id())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a key as notary does: ECDSA P-256 (the default) or Ed25519. RSA keys can
    /// only be imported, as in notary.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                        .map_err(|_| KeyError::Generate("ECDSA P-256".to_owned()))?;
                let doc = Zeroizing::new(doc.as_ref().to_vec());
                Self::from_pkcs8_der(&doc)
            }
            KeyAlgorithm::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill(seed.as_mut())
                    .map_err(|_| KeyError::Generate("Ed25519".to_owned()))?;
                let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
                    .map_err(|_| KeyError::Generate("Ed25519".to_owned()))?;
                let public = pair.public_key().as_ref().to_vec();
                let mut blob = Zeroizing::new(Vec::with_capacity(96));
                blob.extend_from_slice(&public);
                blob.extend_from_slice(seed.as_ref());
                blob.extend_from_slice(&public);
                Self::from_ed25519_blob(&blob)
            }
            KeyAlgorithm::Rsa => Err(KeyError::Unsupported {
                reason: "RSA keys can only be imported, not generated (as in notary)".to_owned(),
            }),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The bare public key (`ecdsa`, `ed25519` or `rsa`).
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key ID notary names the key file by (the bare public key's ID).
    pub fn id(&self) -> &KeyId {
        self.public.id()
    }

    /// The unencrypted PKCS#8 `PrivateKeyInfo` exactly as notary's `convertTUFKeyToPKCS8`
    /// writes it (its non-standard shapes: RSA without NULL, ECDSA version 1, Ed25519 as
    /// notary's OID and 96 raw bytes).
    pub(crate) fn notary_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                notary_pkcs8(1, &[OID_EC_PUBLIC_KEY, OID_P256], &self.secret)
            }
            KeyAlgorithm::Rsa => notary_pkcs8(0, &[OID_RSA], &self.secret),
            KeyAlgorithm::Ed25519 => notary_pkcs8(0, &[OID_NOTARY_ED25519], &self.secret),
        }
    }

    /// Reads an unencrypted PKCS#8 `PrivateKeyInfo`: notary's shapes and the standard ones
    /// (RFC 5208 with NULL, RFC 5915 inside, RFC 8410 Ed25519).
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = parse_private_key_info(der)
            .ok_or_else(|| KeyError::malformed("not a PKCS#8 PrivateKeyInfo"))?;
        match info.algorithm {
            OID_EC_PUBLIC_KEY => {
                if info.curve.is_some_and(|c| c != OID_P256) {
                    return Err(KeyError::Unsupported {
                        reason: "ECDSA curves other than P-256".to_owned(),
                    });
                }
                Self::from_sec1_der(info.key)
            }
            OID_RSA => Self::from_pkcs1_der(info.key),
            OID_NOTARY_ED25519 => Self::from_ed25519_blob(info.key),
            OID_ED25519 => {
                let seed = parse_octet_string(info.key)
                    .ok_or_else(|| KeyError::malformed("Ed25519 key is not an OCTET STRING"))?;
                let pair = Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|e| KeyError::malformed(format!("Ed25519 key: {e}")))?;
                let public = pair.public_key().as_ref();
                let mut blob = Zeroizing::new(Vec::with_capacity(96));
                blob.extend_from_slice(public);
                blob.extend_from_slice(seed);
                blob.extend_from_slice(public);
                Self::from_ed25519_blob(&blob)
            }
            _ => Err(KeyError::Unsupported {
                reason: "unknown private key algorithm".to_owned(),
            }),
        }
    }

    /// Reads a SEC1 `ECPrivateKey` (P-256, with its public key, as Go and OpenSSL write it).
    pub(crate) fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        use ::der::Decode as _;
        let ec = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| KeyError::malformed(format!("EC private key: {e}")))?;
        if let Some(params) = &ec.parameters {
            let named = params.named_curve();
            if named.is_none_or(|oid| oid.as_bytes() != OID_P256) {
                return Err(KeyError::Unsupported {
                    reason: "ECDSA curves other than P-256".to_owned(),
                });
            }
        }
        let point = ec.public_key.ok_or_else(|| KeyError::Unsupported {
            reason: "EC private key without its public key".to_owned(),
        })?;
        // Go pads the scalar to the curve size; OpenSSL may not.
        let mut scalar = Zeroizing::new([0u8; 32]);
        let d = ec.private_key;
        if d.len() > 32 {
            return Err(KeyError::malformed(
                "EC private scalar longer than 32 bytes",
            ));
        }
        scalar[32 - d.len()..].copy_from_slice(d);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            scalar.as_ref(),
            point,
            &SystemRandom::new(),
        )
        .map_err(|e| KeyError::malformed(format!("EC private key: {e}")))?;
        let secret = Zeroizing::new(
            ::der::Encode::to_der(&sec1::EcPrivateKey {
                private_key: scalar.as_ref(),
                parameters: Some(sec1::EcParameters::NamedCurve(
                    ::der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
                )),
                public_key: Some(point),
            })
            .map_err(|e| KeyError::malformed(format!("EC private key: {e}")))?,
        );
        let public = PublicKey::new(
            KeyType::Ecdsa,
            spki(OID_EC_PUBLIC_KEY, Some(OID_P256), point),
        );
        Ok(Self {
            algorithm: KeyAlgorithm::EcdsaP256,
            public,
            secret,
            pair: Pair::Ecdsa(pair),
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey`.
    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_der(der)
            .map_err(|e| KeyError::malformed(format!("RSA private key: {e}")))?;
        // *ring* does not check every CRT component when loading; a corrupted one only
        // shows when signing (ring verifies its own signatures). Find out now, not mid-publish.
        let mut probe = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &signature::RSA_PSS_SHA256,
            &SystemRandom::new(),
            b"signet key check",
            &mut probe,
        )
        .map_err(|_| KeyError::malformed("RSA private key is inconsistent (cannot sign)"))?;
        let public = PublicKey::new(
            KeyType::Rsa,
            spki(OID_RSA, None, pair.public_key().as_ref()),
        );
        Ok(Self {
            algorithm: KeyAlgorithm::Rsa,
            public,
            secret: Zeroizing::new(der.to_vec()),
            pair: Pair::Rsa(pair),
        })
    }

    /// Reads notary's Ed25519 form: 96 bytes `public‖seed‖public`.
    pub(crate) fn from_ed25519_blob(blob: &[u8]) -> Result<Self, KeyError> {
        if blob.len() != 96 {
            return Err(KeyError::malformed("malformed ed25519 private key"));
        }
        let (public, private) = blob.split_at(32);
        let (seed, public2) = private.split_at(32);
        if public != public2 {
            return Err(KeyError::malformed("malformed ed25519 private key"));
        }
        let pair = Ed25519KeyPair::from_seed_and_public_key(seed, public)
            .map_err(|e| KeyError::malformed(format!("Ed25519 key: {e}")))?;
        Ok(Self {
            algorithm: KeyAlgorithm::Ed25519,
            public: PublicKey::new(KeyType::Ed25519, public.to_vec()),
            secret: Zeroizing::new(blob.to_vec()),
            pair: Pair::Ed25519(pair),
        })
    }

    /// A standard RFC 5208/5915 PKCS#8 document for *ring*-based tools (rcgen), in memory.
    fn standard_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                use ::der::Decode as _;
                let ec = sec1::EcPrivateKey::from_der(&self.secret)
                    .map_err(|e| KeyError::malformed(e.to_string()))?;
                let inner = Zeroizing::new(
                    ::der::Encode::to_der(&sec1::EcPrivateKey {
                        parameters: None,
                        ..ec
                    })
                    .map_err(|e| KeyError::malformed(e.to_string()))?,
                );
                Ok(notary_pkcs8(0, &[OID_EC_PUBLIC_KEY, OID_P256], &inner))
            }
            _ => Err(KeyError::Unsupported {
                reason: "root certificates for keys other than ECDSA P-256".to_owned(),
            }),
        }
    }

    /// The self-signed certificate notary makes for a root key (`CN=<gun>`, valid from
    /// `not_before` for `years`, key usage digitalSignature|keyEncipherment, EKU codeSigning,
    /// not a CA, random 128-bit serial), as the `ecdsa-x509` public key root metadata lists.
    /// Its [`PublicKey::id`] is the root key ID; its canonical ID is this key's ID.
    pub fn root_certificate(
        &self,
        gun: &str,
        not_before: std::time::SystemTime,
        years: u32,
    ) -> Result<PublicKey, KeyError> {
        let pkcs8 = self.standard_pkcs8_der()?;
        let der = rustls_pki_types_der(&pkcs8);
        let key_pair =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| KeyError::Generate(format!("root certificate key: {e}")))?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, gun);
        params.not_before = not_before.into();
        params.not_after = (not_before
            + std::time::Duration::from_secs(u64::from(years) * 365 * 24 * 3600))
        .into();
        let mut serial = [0u8; 16];
        SystemRandom::new()
            .fill(&mut serial)
            .map_err(|_| KeyError::Generate("certificate serial".to_owned()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = false;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| KeyError::Generate(format!("root certificate: {e}")))?;
        Ok(PublicKey::from_cert_chain(&[cert.der().to_vec()]))
    }
}

fn rustls_pki_types_der(pkcs8: &[u8]) -> rustls::pki_types::PrivatePkcs8KeyDer<'static> {
    rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.to_vec())
}

impl Signer for PrivateKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn method(&self) -> &'static str {
        self.algorithm.method()
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError> {
        let fail = || KeyError::Sign {
            key_id: self.id().to_string(),
        };
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&rng, payload)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| fail()),
            Pair::Ed25519(pair) => Ok(pair.sign(payload).as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PSS_SHA256, &rng, payload, &mut sig)
                    .map_err(|_| fail())?;
                Ok(sig)
            }
        }
    }
}

#[cfg(test)]
impl PrivateKey {
    pub(crate) fn secret_for_tests(&self) -> &[u8] {
        &self.secret
    }
}
