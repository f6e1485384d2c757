//! Public keys as Notary writes them, key IDs, and X.509 certificate facts.
//!
//! A key is `{"keytype":T,"keyval":{"private":null,"public":"<base64>"}}`. Its ID is the
//! hex SHA-256 of that object's canonical JSON. X.509 keys (`ecdsa-x509`, `rsa-x509`) carry
//! a PEM certificate chain; their *canonical* ID is the ID of the same public key written
//! as a plain `ecdsa`/`rsa` key, which is what key files and delegation listings use.
//!
//! Parsing is lenient in the way Go Notary is: a key of an unknown type, or with material
//! that does not parse, is still a key (its ID is well defined) but it never verifies.

use core::fmt;
use std::collections::BTreeSet;

use der::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;
use x509_cert::ext::pkix::BasicConstraints;

use crate::encoding::{
    PemBlock, b64_decode, b64_encode, hex_encode, pem_decode_all, pem_encode, sha256,
};
use crate::time::UnixTime;

/// A key ID: lowercase hex SHA-256 of the key's canonical JSON.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a key ID string as found in metadata (not checked: IDs are compared, never
    /// trusted).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `keytype` of a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// Raw 32-byte Ed25519 key.
    Ed25519,
    /// DER SubjectPublicKeyInfo of an EC key.
    Ecdsa,
    /// PEM certificate chain whose leaf holds an EC key.
    EcdsaX509,
    /// DER SubjectPublicKeyInfo of an RSA key.
    Rsa,
    /// PEM certificate chain whose leaf holds an RSA key.
    RsaX509,
    /// Any other type: parsed, kept, never verifies.
    Other(String),
}

impl KeyType {
    /// The `keytype` string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Ecdsa => "ecdsa",
            Self::EcdsaX509 => "ecdsa-x509",
            Self::Rsa => "rsa",
            Self::RsaX509 => "rsa-x509",
            Self::Other(s) => s,
        }
    }

    /// Parses a `keytype` string; unknown types are kept as [`KeyType::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "ed25519" => Self::Ed25519,
            "ecdsa" => Self::Ecdsa,
            "ecdsa-x509" => Self::EcdsaX509,
            "rsa" => Self::Rsa,
            "rsa-x509" => Self::RsaX509,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether the public part is a certificate chain.
    pub fn is_x509(&self) -> bool {
        matches!(self, Self::EcdsaX509 | Self::RsaX509)
    }
}

/// Verification material extracted from a key, ready for the crypto provider.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyMaterial {
    /// Ed25519 public key.
    Ed25519([u8; 32]),
    /// Uncompressed NIST P-256 point.
    EcdsaP256(Vec<u8>),
    /// Uncompressed NIST P-384 point.
    EcdsaP384(Vec<u8>),
    /// PKCS#1 `RSAPublicKey` DER and the modulus size in bits.
    Rsa {
        /// PKCS#1 DER.
        pkcs1: Vec<u8>,
        /// Modulus length in bits.
        bits: usize,
    },
    /// The key cannot verify anything; the reason says why.
    Unusable(String),
}

/// What a certificate in an X.509 key says, as far as Notary's checks care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFacts {
    /// The certificate DER.
    pub der: Vec<u8>,
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
    /// BasicConstraints `cA`.
    pub is_ca: bool,
    /// Signed with a SHA-1 based algorithm.
    pub sha1_signature: bool,
    /// The subject public key info, DER.
    pub spki_der: Vec<u8>,
}

/// A public key from metadata.
#[derive(Clone)]
pub struct PublicKey {
    keytype: KeyType,
    public: Vec<u8>,
    private: Option<Vec<u8>>,
    id: KeyId,
    canonical_id: KeyId,
    material: KeyMaterial,
    certs: Vec<CertFacts>,
    /// The JSON object this key was read from, written back verbatim so that fields this
    /// implementation does not know (or an absent `private`) survive re-encoding.
    json: Option<Box<serde_json::Value>>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("keytype", &self.keytype.as_str())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Builds a key from its type and decoded `keyval.public` bytes.
    pub fn new(keytype: KeyType, public: Vec<u8>) -> Self {
        Self::with_private(keytype, public, None)
    }

    fn with_private(keytype: KeyType, public: Vec<u8>, private: Option<Vec<u8>>) -> Self {
        let id = compute_id(keytype.as_str(), &public, private.as_deref());
        let (material, certs, spki) = parse_material(&keytype, &public);
        let canonical_id = match (&keytype, spki) {
            (KeyType::EcdsaX509, Some(spki)) => compute_id("ecdsa", &spki, None),
            (KeyType::RsaX509, Some(spki)) => compute_id("rsa", &spki, None),
            _ => id.clone(),
        };
        Self {
            keytype,
            public,
            private,
            id,
            canonical_id,
            material,
            certs,
            json: None,
        }
    }

    /// Wraps DER certificates as an X.509 key whose `public` is Go's PEM encoding of the
    /// chain (leaf first). The key type follows the leaf's algorithm.
    pub fn from_cert_chain(ders: &[Vec<u8>]) -> Self {
        let pem: String = ders
            .iter()
            .map(|der| {
                pem_encode(&PemBlock {
                    label: "CERTIFICATE".to_owned(),
                    headers: vec![],
                    contents: der.clone(),
                })
            })
            .collect();
        let keytype = match ders.first().map(|d| parse_cert(d)) {
            Some(Ok(facts)) if spki_is_rsa(&facts.spki_der) => KeyType::RsaX509,
            _ => KeyType::EcdsaX509,
        };
        Self::new(keytype, pem.into_bytes())
    }

    /// A public key from a PEM file, as notary's `delegation add` reads it: a
    /// `CERTIFICATE` (valid at `now`; an X.509 key) or a `PUBLIC KEY` (ECDSA or RSA
    /// SubjectPublicKeyInfo; a plain key). The first PEM block is used.
    pub fn from_pem(pem: &[u8], now: UnixTime) -> Result<Self, String> {
        let blocks = pem_decode_all(pem).ok_or("malformed PEM")?;
        let block = blocks.first().ok_or("no PEM block found")?;
        let key = match block.label.as_str() {
            "CERTIFICATE" => {
                parse_cert(&block.contents)?.validate(Some(now))?;
                Self::from_cert_chain(std::slice::from_ref(&block.contents))
            }
            "PUBLIC KEY" => {
                let spki = SubjectPublicKeyInfoRef::try_from(block.contents.as_slice())
                    .map_err(|_| "public key is not a DER SubjectPublicKeyInfo")?;
                let keytype = if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
                    KeyType::Ecdsa
                } else if spki.algorithm.oid == OID_RSA {
                    KeyType::Rsa
                } else {
                    return Err(format!(
                        "unsupported public key algorithm {}",
                        spki.algorithm.oid
                    ));
                };
                Self::new(keytype, block.contents.clone())
            }
            other => return Err(format!("unsupported PEM block {other:?}")),
        };
        if let KeyMaterial::Unusable(why) = key.material() {
            return Err(why.clone());
        }
        Ok(key)
    }

    /// The key's type.
    pub fn keytype(&self) -> &KeyType {
        &self.keytype
    }

    /// The decoded `keyval.public` bytes.
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// The TUF key ID.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The canonical key ID (for X.509 keys, the ID of the bare public key).
    pub fn canonical_id(&self) -> &KeyId {
        &self.canonical_id
    }

    /// Verification material.
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// For X.509 keys, the parsed chain (leaf first); empty otherwise or if unparsable.
    pub fn certificates(&self) -> &[CertFacts] {
        &self.certs
    }

    /// The key as JSON (`{"keytype":…,"keyval":{"private":null,"public":…}}`).
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::json!({
            "keytype": self.keytype.as_str(),
            "keyval": {
                "private": self.private.as_deref().map(b64_encode),
                "public": b64_encode(&self.public),
            }
        })
    }
}

/// The ID of `{"keytype":T,"keyval":{"private":P,"public":B64}}` in canonical form.
fn compute_id(keytype: &str, public: &[u8], private: Option<&[u8]>) -> KeyId {
    let value = serde_json::json!({
        "keytype": keytype,
        "keyval": {"private": private.map(b64_encode), "public": b64_encode(public)},
    });
    // Strings and null only: canonical encoding cannot fail.
    let bytes = crate::canonical::to_canonical(&value).unwrap_or_default();
    KeyId(hex_encode(&sha256(&bytes)))
}

#[derive(Serialize, Deserialize)]
struct WireKey {
    keytype: String,
    keyval: WireKeyVal,
}

#[derive(Serialize, Deserialize)]
struct WireKeyVal {
    #[serde(default)]
    private: Option<String>,
    public: String,
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(json) = &self.json {
            return json.serialize(s);
        }
        WireKey {
            keytype: self.keytype.as_str().to_owned(),
            keyval: WireKeyVal {
                private: self.private.as_deref().map(b64_encode),
                public: b64_encode(&self.public),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        let wire = WireKey::deserialize(&json).map_err(serde::de::Error::custom)?;
        let public = b64_decode(&wire.keyval.public)
            .ok_or_else(|| serde::de::Error::custom("keyval.public is not base64"))?;
        let private = match wire.keyval.private {
            None => None,
            Some(p) => Some(
                b64_decode(&p)
                    .ok_or_else(|| serde::de::Error::custom("keyval.private is not base64"))?,
            ),
        };
        let mut key = Self::with_private(KeyType::parse(&wire.keytype), public, private);
        key.json = Some(Box::new(json));
        Ok(key)
    }
}

const OID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_RSA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_SIGNATURE_OIDS: [&str; 3] = [
    "1.2.840.113549.1.1.5", // sha1WithRSAEncryption
    "1.2.840.10045.4.1",    // ecdsa-with-SHA1
    "1.2.840.10040.4.3",    // dsa-with-sha1
];

fn spki_is_rsa(spki_der: &[u8]) -> bool {
    SubjectPublicKeyInfoRef::try_from(spki_der).is_ok_and(|s| s.algorithm.oid == OID_RSA)
}

fn parse_material(
    keytype: &KeyType,
    public: &[u8],
) -> (KeyMaterial, Vec<CertFacts>, Option<Vec<u8>>) {
    let unusable = |why: &str| KeyMaterial::Unusable(why.to_owned());
    match keytype {
        KeyType::Ed25519 => match <[u8; 32]>::try_from(public) {
            Ok(k) => (KeyMaterial::Ed25519(k), vec![], None),
            Err(_) => (unusable("ed25519 key is not 32 bytes"), vec![], None),
        },
        KeyType::Ecdsa | KeyType::Rsa => {
            let m = spki_material(public);
            let m = match (keytype, m) {
                (KeyType::Ecdsa, m @ (KeyMaterial::EcdsaP256(_) | KeyMaterial::EcdsaP384(_))) => m,
                (KeyType::Rsa, m @ KeyMaterial::Rsa { .. }) => m,
                (_, KeyMaterial::Unusable(why)) => KeyMaterial::Unusable(why),
                _ => unusable("key type does not match the key algorithm"),
            };
            (m, vec![], Some(public.to_vec()))
        }
        KeyType::EcdsaX509 | KeyType::RsaX509 => {
            let certs = match parse_cert_chain(public) {
                Ok(c) => c,
                Err(why) => return (KeyMaterial::Unusable(why), vec![], None),
            };
            let spki = certs[0].spki_der.clone();
            let m = match (keytype, spki_material(&spki)) {
                (
                    KeyType::EcdsaX509,
                    m @ (KeyMaterial::EcdsaP256(_) | KeyMaterial::EcdsaP384(_)),
                ) => m,
                (KeyType::RsaX509, m @ KeyMaterial::Rsa { .. }) => m,
                (_, KeyMaterial::Unusable(why)) => KeyMaterial::Unusable(why),
                _ => unusable("key type does not match the certificate's key"),
            };
            (m, certs, Some(spki))
        }
        KeyType::Other(t) => (
            KeyMaterial::Unusable(format!("unsupported key type {t:?}")),
            vec![],
            None,
        ),
    }
}

fn spki_material(spki_der: &[u8]) -> KeyMaterial {
    let Ok(spki) = SubjectPublicKeyInfoRef::try_from(spki_der) else {
        return KeyMaterial::Unusable("public key is not a DER SubjectPublicKeyInfo".to_owned());
    };
    let key = spki.subject_public_key.raw_bytes().to_vec();
    if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == OID_P256 => KeyMaterial::EcdsaP256(key),
            Some(c) if c == OID_P384 => KeyMaterial::EcdsaP384(key),
            _ => KeyMaterial::Unusable("unsupported elliptic curve".to_owned()),
        }
    } else if spki.algorithm.oid == OID_RSA {
        match rsa_modulus_bits(&key) {
            Some(bits) => KeyMaterial::Rsa { pkcs1: key, bits },
            None => KeyMaterial::Unusable("malformed RSA public key".to_owned()),
        }
    } else {
        KeyMaterial::Unusable(format!("unsupported key algorithm {}", spki.algorithm.oid))
    }
}

/// Modulus size of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, … }`.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    fn header(b: &[u8], tag: u8) -> Option<(usize, &[u8])> {
        if *b.first()? != tag {
            return None;
        }
        let first = *b.get(1)?;
        if first < 0x80 {
            return Some((usize::from(first), b.get(2..)?));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |a, x| a << 8 | usize::from(*x));
        Some((len, b.get(2 + n..)?))
    }
    let (_, seq) = header(pkcs1, 0x30)?;
    let (len, rest) = header(seq, 0x02)?;
    let modulus = rest.get(..len)?;
    let significant: &[u8] = {
        let skip = modulus.iter().take_while(|b| **b == 0).count();
        &modulus[skip..]
    };
    let first = *significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// Parses a PEM bundle of certificates, leaf first. Every block must be a certificate.
pub fn parse_cert_chain(pem: &[u8]) -> Result<Vec<CertFacts>, String> {
    let blocks = pem_decode_all(pem).ok_or("malformed PEM")?;
    if blocks.is_empty() {
        return Err("no certificate in PEM".to_owned());
    }
    blocks
        .iter()
        .map(|b| {
            if b.label != "CERTIFICATE" {
                return Err(format!("unexpected PEM block {:?}", b.label));
            }
            parse_cert(&b.contents)
        })
        .collect()
}

/// Extracts the facts Notary checks from one DER certificate.
pub fn parse_cert(der_bytes: &[u8]) -> Result<CertFacts, String> {
    let cert = Certificate::from_der(der_bytes).map_err(|e| format!("invalid certificate: {e}"))?;
    let tbs = cert.tbs_certificate();
    let common_name = tbs
        .subject()
        .common_name()
        .ok()
        .flatten()
        .map(|cn| cn.value().into_owned());
    let time = |t: &x509_cert::time::Time| {
        let d = t.to_unix_duration();
        UnixTime::from_unix(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), 0)
    };
    let is_ca = match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) => bc.ca,
        Ok(None) => false,
        Err(e) => return Err(format!("invalid basic constraints: {e}")),
    };
    let spki_der = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("invalid public key info: {e}"))?;
    let sig_oid = cert.signature_algorithm().oid.to_string();
    Ok(CertFacts {
        der: der_bytes.to_vec(),
        common_name,
        not_before: time(&tbs.validity().not_before),
        not_after: time(&tbs.validity().not_after),
        is_ca,
        sha1_signature: SHA1_SIGNATURE_OIDS.contains(&sig_oid.as_str()),
        spki_der,
    })
}

impl CertFacts {
    /// Notary's `ValidateCertificate`: a sane validity window, no SHA-1 signature, RSA keys
    /// of at least 2048 bits, and, when `now` is given, not expired (one day of leeway on
    /// `NotBefore`).
    pub fn validate(&self, now: Option<UnixTime>) -> Result<(), String> {
        let cn = self.common_name.as_deref().unwrap_or("");
        if self.not_before > self.not_after {
            return Err("certificate validity window is invalid".to_owned());
        }
        if self.sha1_signature {
            return Err(format!(
                "certificate with CN {cn} uses invalid SHA1 signature algorithm"
            ));
        }
        if let KeyMaterial::Rsa { bits, .. } = spki_material(&self.spki_der)
            && bits < 2048
        {
            return Err(format!(
                "RSA bit length is too short: {bits} bits for CN {cn}"
            ));
        }
        if let Some(now) = now
            && (now.add_days(1) < self.not_before || now > self.not_after)
        {
            return Err(format!("certificate for {cn} is expired"));
        }
        Ok(())
    }
}

/// A set of keys with a threshold: what one role trusts.
#[derive(Clone, Debug)]
pub struct KeyRing<'a> {
    /// Keys by the ID under which metadata lists them.
    pub keys: Vec<(&'a KeyId, &'a PublicKey)>,
    /// Distinct valid signatures required.
    pub threshold: i64,
}

impl KeyRing<'_> {
    /// The distinct canonical IDs of the keys in the ring.
    pub fn canonical_ids(&self) -> BTreeSet<&KeyId> {
        self.keys.iter().map(|(_, k)| k.canonical_id()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_of_known_ed25519_key() {
        // Canonical form puts "private" before "public".
        let k = PublicKey::new(KeyType::Ed25519, vec![7; 32]);
        let expected = hex_encode(&sha256(
            format!(
                r#"{{"keytype":"ed25519","keyval":{{"private":null,"public":"{}"}}}}"#,
                b64_encode(&[7; 32])
            )
            .as_bytes(),
        ));
        assert_eq!(k.id().as_str(), expected);
        assert_eq!(k.canonical_id(), k.id());
        assert!(matches!(k.material(), KeyMaterial::Ed25519(_)));
    }

    #[test]
    fn unknown_and_broken_keys_parse_but_are_unusable() {
        let k: PublicKey =
            serde_json::from_str(r#"{"keytype":"dsa","keyval":{"private":null,"public":"AAAA"}}"#)
                .unwrap();
        assert!(matches!(k.material(), KeyMaterial::Unusable(_)));
        let k = PublicKey::new(KeyType::EcdsaX509, b"not pem".to_vec());
        assert!(matches!(k.material(), KeyMaterial::Unusable(_)));
        assert!(
            serde_json::from_str::<PublicKey>(r#"{"keytype":"ed25519","keyval":{"public":"!!"}}"#)
                .is_err()
        );
    }

    #[test]
    // Checks that serde writes back the key JSON it read (not signed output).
    #[allow(clippy::disallowed_methods)]
    fn reencoding_keeps_unknown_and_absent_fields() {
        // Found by fuzzing (fuzz/metadata_root): unknown fields in a key object and an
        // absent `private` were lost or added when a parsed root was re-encoded.
        let text = r#"{"keytype":"ed25519","keyval":{"public":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","x":1},"y":[true]}"#;
        let k: PublicKey = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&k).unwrap(), text);
        // The ID is still that of the standard form, as in Notary.
        assert_eq!(k.id(), PublicKey::new(KeyType::Ed25519, vec![1; 32]).id());
    }

    #[test]
    fn rsa_bits() {
        // SEQUENCE { INTEGER 0x00 0x80 00.., INTEGER 3 } with a 2048-bit modulus
        let mut m = vec![0x00, 0x80];
        m.extend(vec![0u8; 255]);
        let mut body = vec![0x02, 0x82, 0x01, 0x01];
        body.extend(&m);
        body.extend([0x02, 0x01, 0x03]);
        let mut der = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        der.extend(body);
        assert_eq!(rsa_modulus_bits(&der), Some(2048));
    }
}
