//! Registry token authentication: docker/distribution's token scheme, as notary-server
//! uses it (Notary vendors distribution v2.7's `registry/auth/token`; the rules below
//! are that package's `Token.Verify` and `VerifySigningKey`, and Go's
//! `x509.Certificate.Verify`).
//!
//! # The token
//! A request carries `Authorization: Bearer <JWT>`, a JWS in compact serialization. Its
//! claims must name the configured issuer (`iss`) and service (`aud`: a string, or a
//! list that contains it); `exp` must not have passed and `nbf` (0 when absent) must
//! have been reached, each with 60 s of leeway, by the server's clock (passed in; this
//! module never reads the system time); and `access` must grant every action the route
//! needs (`*` grants all). Anything else gets Notary's 401 challenge: without a bearer
//! token, no `error`; a token that fails any check, `error="invalid_token"`; a valid
//! token without the grant, `error="insufficient_scope"`.
//!
//! # The signing key
//! In the registry's order of preference:
//! 1. `x5c` (non-empty): the first certificate is the leaf, the rest are untrusted
//!    intermediates, the configured bundle is the root pool, and the token must verify
//!    with the leaf's key. As Go's `Verify` with `KeyUsages: [ExtKeyUsageAny]` and the
//!    current time:
//!    - a leaf byte-identical to a bundle certificate is trusted as it is; only its
//!      validity window is checked;
//!    - otherwise there must be a chain leaf → intermediates → bundle certificate in
//!      which every signature verifies, every certificate *including the bundle one* is
//!      within its validity window, every intermediate is a CA (basicConstraints `cA`),
//!      and path-length (the bundle certificate's included) and name constraints hold;
//!    - keyUsage bits are ignored on every certificate, extended key usages are not
//!      checked at all (`ExtKeyUsageAny`), and a bundle certificate need not be a CA.
//! 2. `jwk`: refused; the registry's inline-JWK path is not implemented.
//! 3. `kid`: the libtrust key ID of the key of a bundle certificate, whose key then
//!    verifies the token. As in the registry, that certificate's validity is not consulted.
//!    (Registries since distribution v3 name bundle keys by RFC 7638 JWK thumbprint
//!    instead; Notary's v2.7 uses libtrust IDs, and so does this.)
//!
//! A token naming none of these is refused.
//!
//! # Algorithms
//! ES256 (P-256 keys only), ES384 (P-384 keys only), RS256/RS384/RS512 and
//! PS256/PS384/PS512 (RSA, 2048–8192 bits) and EdDSA (Ed25519). These are the public-key
//! algorithms of the current registry (distribution v3, go-jose); Notary's vendored v2.7
//! (libtrust) knows ES*/RS* only. ES512 is refused (ring has no P-521). `none` and the
//! HMAC algorithms are always refused, so a public key can never serve as an HMAC secret.
//! JWS parsing, the per-key algorithm allow-list and `iss`/`aud` checks are jsonwebtoken's;
//! its signature primitives are ring's (see `RING_JOSE` below for why).
//!
//! # Where this is stricter than Go (fails closed)
//! Chains are verified by rustls-webpki, which additionally refuses: a CA certificate as
//! the leaf (unless it is itself in the bundle); leaves and intermediates other than v3;
//! critical extensions outside basicConstraints, keyUsage, extKeyUsage, subjectAltName,
//! nameConstraints and cRLDistributionPoints; more than six intermediates; and
//! certificates signed with P-521 or RSA keys under 2048 bits. One point is laxer: Go
//! would never chain to a bundle certificate carrying a critical extension it does not
//! understand, while here bundle certificates are roots whatever their extensions
//! (the operator chose them).

use std::path::Path;
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind as JwtErrorKind, new_error};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use ring::signature as ring_sig;
use rustls::pki_types::{
    CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime as PkiTime,
};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_core::UnixTime;
use signet_core::encoding::{pem_decode_all, sha256};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, VerifiedPath};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::config::{ConfigError, TokenOptions};
use crate::error::ApiError;

/// Clock skew tolerated on `exp` and `nbf`, seconds (the registry's `Leeway`).
const LEEWAY_SECS: i64 = 60;

/// What a route requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing (health, metrics).
    None,
    /// `registry:catalog:*`.
    Catalog,
    /// `repository:<gun>:<actions>`.
    Repository {
        /// The GUN.
        gun: String,
        /// Actions, all required.
        actions: &'static [&'static str],
    },
}

/// A key that may sign tokens, and the algorithms it may sign with.
#[derive(Clone)]
struct TokenKey {
    decoding: DecodingKey,
    algorithms: &'static [Algorithm],
}

const ES256_ONLY: &[Algorithm] = &[Algorithm::ES256];
const ES384_ONLY: &[Algorithm] = &[Algorithm::ES384];
const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const EDDSA_ONLY: &[Algorithm] = &[Algorithm::EdDSA];

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

impl TokenKey {
    /// The token key of a DER SubjectPublicKeyInfo; `None` for a key no token algorithm uses.
    fn from_spki(spki_der: &[u8]) -> Option<Self> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
        let key = spki.subject_public_key.as_bytes()?;
        let oid = spki.algorithm.oid;
        let (decoding, algorithms) = if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())?;
            let algorithms = match curve {
                c if c == OID_P256 => ES256_ONLY,
                c if c == OID_P384 => ES384_ONLY,
                _ => return None,
            };
            // The uncompressed point, which is what `RING_JOSE` hands to ring.
            (DecodingKey::from_ec_der(key), algorithms)
        } else if oid == OID_RSA {
            // PKCS#1 RSAPublicKey DER.
            (DecodingKey::from_rsa_der(key), RSA_ALGORITHMS)
        } else if oid == OID_ED25519 {
            (DecodingKey::from_ed_der(key), EDDSA_ONLY)
        } else {
            return None;
        };
        Some(Self {
            decoding,
            algorithms,
        })
    }
}

/// A certificate of the configured bundle.
struct BundleCert {
    der: Vec<u8>,
    /// The certificate as a chain root.
    anchor: TrustAnchor<'static>,
    /// Validity window, Unix seconds, inclusive.
    not_before: i64,
    not_after: i64,
    /// basicConstraints pathLenConstraint, which Go enforces on roots too.
    path_len: Option<u8>,
    /// libtrust key ID of its key.
    kid: String,
    /// Its key, if tokens can be signed with it.
    key: Option<TokenKey>,
}

impl BundleCert {
    fn parse(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("invalid certificate: {e}"))?;
        let tbs = cert.tbs_certificate();
        let secs = |t: &x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let path_len = match tbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) => bc.path_len_constraint,
            Ok(None) => None,
            Err(e) => return Err(format!("invalid basic constraints: {e}")),
        };
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("invalid public key info: {e}"))?;
        let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der))
            .map_err(|e| format!("certificate cannot be a trust anchor: {e}"))?
            .to_owned();
        Ok(Self {
            der: der.to_vec(),
            anchor,
            not_before: secs(&tbs.validity().not_before),
            not_after: secs(&tbs.validity().not_after),
            path_len,
            kid: libtrust_key_id(&spki_der),
            key: TokenKey::from_spki(&spki_der),
        })
    }

    fn valid_at(&self, now: UnixTime) -> bool {
        (self.not_before..=self.not_after).contains(&now.secs())
    }
}

/// A configured token authenticator.
pub struct TokenAuth {
    realm: String,
    service: String,
    issuer: String,
    bundle: Vec<BundleCert>,
}

#[derive(Deserialize)]
struct Claims {
    /// Must be a string, as the registry decodes it into one; jsonwebtoken compares it.
    #[serde(rename = "iss")]
    _iss: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    access: Vec<Grant>,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

/// Why a token was refused; logged at debug level, never sent to the client.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("x5c entry {index} is not base64")]
    X5cEncoding { index: usize },
    #[error("x5c chain does not verify: {0}")]
    Chain(webpki::Error),
    #[error("x5c leaf is a bundle certificate outside its validity window")]
    BundleLeafNotValid,
    #[error("the signing certificate's key cannot sign tokens")]
    UnsupportedKey,
    #[error("jwk header without x5c is not supported")]
    Jwk,
    #[error("kid {0:?} is not a bundle key")]
    UnknownKid(String),
    #[error("no x5c or kid header")]
    NoKey,
    #[error("signature or claims: {0}")]
    Jwt(jsonwebtoken::errors::Error),
    #[error("expired at {exp} (+{LEEWAY_SECS} s leeway), now {now}")]
    Expired { exp: i64, now: i64 },
    #[error("not valid before {nbf} (-{LEEWAY_SECS} s leeway), now {now}")]
    NotYetValid { nbf: i64, now: i64 },
}

impl TokenAuth {
    /// Loads the certificate bundle.
    pub fn load(opts: &TokenOptions) -> Result<Self, ConfigError> {
        let text = std::fs::read(&opts.rootcertbundle).map_err(|source| ConfigError::Read {
            path: opts.rootcertbundle.clone(),
            source,
        })?;
        Self::from_bundle(opts, &text, &opts.rootcertbundle)
    }

    fn from_bundle(opts: &TokenOptions, pem: &[u8], path: &Path) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid(format!("{}: {why}", path.display()));
        let blocks = pem_decode_all(pem).ok_or_else(|| invalid("malformed PEM".to_owned()))?;
        let bundle = blocks
            .iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| BundleCert::parse(&b.contents).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        if bundle.is_empty() {
            return Err(invalid(
                "no certificate in root certificate bundle".to_owned(),
            ));
        }
        if !install_jose_provider() {
            return Err(ConfigError::Invalid(
                "no JWT crypto provider could be installed".to_owned(),
            ));
        }
        Ok(Self {
            realm: opts.realm.clone(),
            service: opts.service.clone(),
            issuer: opts.issuer.clone(),
            bundle,
        })
    }

    /// Admits the request or answers Notary's 401. `now` is the server clock's time.
    pub fn check(
        &self,
        headers: &HeaderMap,
        access: &Access,
        now: UnixTime,
    ) -> Result<(), ApiError> {
        if *access == Access::None {
            return Ok(());
        }
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            return Err(self.challenge(access, None));
        };
        let claims = self.verify(token.trim(), now).map_err(|why| {
            tracing::debug!(reason = %why, "bearer token refused");
            self.challenge(access, Some("invalid_token"))
        })?;
        if !grants(&claims, access) {
            return Err(self.challenge(access, Some("insufficient_scope")));
        }
        Ok(())
    }

    fn verify(&self, token: &str, now: UnixTime) -> Result<Claims, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(Refusal::Malformed)?;
        let key = match (header.x5c.as_deref(), &header.jwk, &header.kid) {
            (Some(chain), _, _) if !chain.is_empty() => self.x5c_key(chain, now)?,
            (_, Some(_), _) => return Err(Refusal::Jwk),
            (_, None, Some(kid)) => self
                .bundle
                .iter()
                .find(|c| c.kid == *kid)
                .and_then(|c| c.key.clone())
                .ok_or_else(|| Refusal::UnknownKid(kid.clone()))?,
            (_, None, None) => return Err(Refusal::NoKey),
        };
        let mut validation = Validation::new(key.algorithms[0]);
        validation.algorithms = key.algorithms.to_vec();
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.service]);
        // jsonwebtoken reads the system clock for these; the server's clock decides instead
        // (`check_times`), on `exp`/`nbf` that `Claims` has already required to be integers.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(Refusal::Jwt)?
            .claims;
        check_times(&claims, now)?;
        Ok(claims)
    }

    /// The leaf key of a verified `x5c` chain (standard base64 DER, leaf first).
    fn x5c_key(&self, chain: &[String], now: UnixTime) -> Result<TokenKey, Refusal> {
        let ders = chain
            .iter()
            .enumerate()
            .map(|(index, c)| {
                STANDARD
                    .decode(c)
                    .map(CertificateDer::from)
                    .map_err(|_| Refusal::X5cEncoding { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (leaf_der, intermediates) = ders.split_first().ok_or(Refusal::NoKey)?;
        // Go: a leaf that is in the root pool is a chain by itself.
        if let Some(cert) = self.bundle.iter().find(|c| c.der == leaf_der.as_ref()) {
            if !cert.valid_at(now) {
                return Err(Refusal::BundleLeafNotValid);
            }
            return cert.key.clone().ok_or(Refusal::UnsupportedKey);
        }
        // X.509 path validation is rustls-webpki's (maintained, already used by rustls here).
        // It cannot express three of Go's rules directly, so they are added around it:
        // - roots: webpki does not check a trust anchor's validity window or path length;
        //   only bundle certificates valid now are offered as anchors, and `verify_path`
        //   enforces their pathLenConstraint;
        // - `ExtKeyUsageAny`: webpki checks EKUs against a policy; `AnyEku` accepts all.
        // webpki ignores keyUsage bits as Go does. (x509-cert with hand-written path
        // building was the alternative; webpki's path building and name constraints win.)
        let valid: Vec<&BundleCert> = self.bundle.iter().filter(|c| c.valid_at(now)).collect();
        let anchors: Vec<TrustAnchor<'_>> = valid.iter().map(|c| c.anchor.clone()).collect();
        let root_path_len = |path: &VerifiedPath<'_>| {
            let anchor = path.anchor();
            let depth = path.intermediate_certificates().count();
            let allowed = valid.iter().any(|c| {
                c.anchor.subject.as_ref() == anchor.subject.as_ref()
                    && c.anchor.subject_public_key_info.as_ref()
                        == anchor.subject_public_key_info.as_ref()
                    && c.path_len.is_none_or(|n| depth <= usize::from(n))
            });
            if allowed {
                Ok(())
            } else {
                Err(webpki::Error::PathLenConstraintViolated)
            }
        };
        let time =
            PkiTime::since_unix_epoch(Duration::from_secs(u64::try_from(now.secs()).unwrap_or(0)));
        let leaf = EndEntityCert::try_from(leaf_der).map_err(Refusal::Chain)?;
        leaf.verify_for_usage(
            CHAIN_SIGNATURE_ALGORITHMS,
            &anchors,
            intermediates,
            time,
            AnyEku,
            None,
            Some(&root_path_len),
        )
        .map_err(Refusal::Chain)?;
        TokenKey::from_spki(leaf.subject_public_key_info().as_ref()).ok_or(Refusal::UnsupportedKey)
    }

    fn challenge(&self, access: &Access, error: Option<&str>) -> ApiError {
        let (scope, detail) = match access {
            Access::Repository { gun, actions } => (
                format!("repository:{gun}:{}", actions.join(",")),
                Value::Array(
                    actions
                        .iter()
                        .map(|a| json!({"Type": "repository", "Name": gun, "Action": a}))
                        .collect(),
                ),
            ),
            _ => (
                "registry:catalog:*".to_owned(),
                json!([{"Type": "registry", "Name": "catalog", "Action": "*"}]),
            ),
        };
        let mut challenge = format!(
            "Bearer realm={},service={},scope={}",
            quoted(&self.realm),
            quoted(&self.service),
            quoted(&scope)
        );
        if let Some(e) = error {
            challenge.push_str(&format!(",error={}", quoted(e)));
        }
        ApiError::Unauthorized { challenge, detail }
    }
}

/// An auth-param value as an HTTP quoted-string (as Go's `%q` writes it): `"` and `\`
/// backslash-escaped, control characters as `\xNN`, so a GUN taken from the request path
/// cannot end the string and add parameters of its own (a second `realm=`).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                for b in c.to_string().bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The registry's time rule: refused when now is after `exp` + leeway or before
/// `nbf` − leeway (a missing `nbf` is 0).
fn check_times(claims: &Claims, now: UnixTime) -> Result<(), Refusal> {
    let t = now.secs();
    let latest = claims.exp.saturating_add(LEEWAY_SECS);
    if t > latest || (t == latest && now.subsec_nanos() > 0) {
        return Err(Refusal::Expired {
            exp: claims.exp,
            now: t,
        });
    }
    let nbf = claims.nbf.unwrap_or(0);
    if t < nbf.saturating_sub(LEEWAY_SECS) {
        return Err(Refusal::NotYetValid { nbf, now: t });
    }
    Ok(())
}

fn grants(claims: &Claims, access: &Access) -> bool {
    let (kind, name, needed): (&str, &str, &[&str]) = match access {
        Access::None => return true,
        Access::Catalog => ("registry", "catalog", &["*"]),
        Access::Repository { gun, actions } => ("repository", gun, actions),
    };
    needed.iter().all(|want| {
        claims.access.iter().any(|g| {
            g.kind == kind && g.name == name && g.actions.iter().any(|a| a == want || a == "*")
        })
    })
}

/// Signature algorithms accepted inside `x5c` chains: ring's, as rustls uses them
/// (no SHA-1, as Go refuses it too).
static CHAIN_SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Go's `ExtKeyUsageAny`: extended key usages are not checked (a malformed extension
/// still fails, as it fails Go's parser).
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// jsonwebtoken's crypto backend
// ---------------------------------------------------------------------------------------
//
// jsonwebtoken (since 10) leaves the signature primitives to a `CryptoProvider` and ships
// two: `aws_lc_rs` (a second C crypto library to build, next to the ring that rustls and
// sqlx already use here) and `rust_crypto` (pulls the `rsa` crate, RUSTSEC-2023-0071,
// with no fixed release). jsonwebtoken 9 still used ring but is affected by
// GHSA-h395-gr6q-cpjc. So this installs a provider backed by ring: a table from the JWS
// algorithm to ring's verification algorithm. JWS parsing, the algorithm allow-list,
// signature-input assembly and `iss`/`aud` validation stay jsonwebtoken's.

/// Verification only; HMAC is deliberately absent.
static RING_JOSE: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| Err(unsupported("signing")),
    verifier_factory: ring_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported("JWK")),
        rsa_pub_components_from_public_key: |_| Err(unsupported("JWK")),
        ec_pub_components_from_private_key: |_, _| Err(unsupported("JWK")),
        ed_pub_components_from_private_key: |_, _| Err(unsupported("JWK")),
        compute_digest: |_, _| Err(unsupported("JWK")),
    },
};

fn unsupported(what: &str) -> jsonwebtoken::errors::Error {
    new_error(JwtErrorKind::Provider(format!(
        "{what} is not supported by signet's token verifier"
    )))
}

/// Installs [`RING_JOSE`] as jsonwebtoken's process-wide provider unless one is already
/// installed (any full provider verifies the same way; the algorithm allow-list is
/// ours either way). True when a provider is in place.
fn install_jose_provider() -> bool {
    let _ = RING_JOSE.install_default();
    CryptoProvider::try_get_default().is_some()
}

fn ring_verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    use AlgorithmFamily::{Ec, Ed, Rsa};
    let ring: &'static dyn ring_sig::VerificationAlgorithm = match (alg, key.family()) {
        (Algorithm::ES256, Ec) => &ring_sig::ECDSA_P256_SHA256_FIXED,
        (Algorithm::ES384, Ec) => &ring_sig::ECDSA_P384_SHA384_FIXED,
        (Algorithm::RS256, Rsa) => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        (Algorithm::RS384, Rsa) => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        (Algorithm::RS512, Rsa) => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        (Algorithm::PS256, Rsa) => &ring_sig::RSA_PSS_2048_8192_SHA256,
        (Algorithm::PS384, Rsa) => &ring_sig::RSA_PSS_2048_8192_SHA384,
        (Algorithm::PS512, Rsa) => &ring_sig::RSA_PSS_2048_8192_SHA512,
        (Algorithm::EdDSA, Ed) => &ring_sig::ED25519,
        _ => return Err(new_error(JwtErrorKind::InvalidAlgorithm)),
    };
    Ok(Box::new(RingVerifier {
        alg: *alg,
        ring,
        public: key.try_get_as_bytes()?.to_vec(),
    }))
}

struct RingVerifier {
    alg: Algorithm,
    ring: &'static dyn ring_sig::VerificationAlgorithm,
    /// Uncompressed EC point, PKCS#1 RSAPublicKey DER, or raw Ed25519 key.
    public: Vec<u8>,
}

impl jsonwebtoken::signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(
        &self,
        msg: &[u8],
        signature: &Vec<u8>,
    ) -> Result<(), jsonwebtoken::signature::Error> {
        ring_sig::UnparsedPublicKey::new(self.ring, &self.public)
            .verify(msg, signature)
            .map_err(|_| jsonwebtoken::signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// libtrust's key ID of a DER SubjectPublicKeyInfo: the first 240 bits of its SHA-256,
/// base32, in colon-separated groups of four. Token services name bundle keys with it
/// in `kid`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = sha256(spki_der);
    let bits = &digest[..30];
    let mut out = String::with_capacity(59);
    let mut buffer = 0u32;
    let mut count = 0;
    let mut chars = 0;
    for &b in bits {
        buffer = buffer << 8 | u32::from(b);
        count += 8;
        while count >= 5 {
            count -= 5;
            if chars > 0 && chars % 4 == 0 {
                out.push(':');
            }
            out.push(char::from(ALPHABET[((buffer >> count) & 31) as usize]));
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtrust_id_shape() {
        let id = libtrust_key_id(b"anything");
        assert_eq!(id.len(), 59);
        assert_eq!(id.split(':').count(), 12);
        assert!(id.split(':').all(|g| g.len() == 4));
    }

    #[test]
    fn libtrust_id_matches_base32_of_truncated_sha256() {
        // Python: base64.b32encode(sha256(b"anything").digest()[:30]), grouped by four.
        assert_eq!(
            libtrust_key_id(b"anything"),
            "5YEH:IFYL:P5XT:FOGC:VSKX:HRBI:2NNV:OUTQ:UZVX:K7BM:AGC5:FPIJ"
        );
    }

    #[test]
    fn provider_refuses_hmac_and_mismatched_families() {
        let secret = DecodingKey::from_secret(b"a public key, say").expect("key");
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(ring_verifier(&alg, &secret).is_err(), "{alg:?}");
        }
        let ec = DecodingKey::from_ec_der(&[4; 65]);
        for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA] {
            assert!(ring_verifier(&alg, &ec).is_err(), "{alg:?}");
        }
        assert!(ring_verifier(&Algorithm::ES256, &ec).is_ok());
        assert!(
            (RING_JOSE.signer_factory)(
                &Algorithm::ES256,
                &jsonwebtoken::EncodingKey::from_secret(b"x").expect("key")
            )
            .is_err()
        );
    }

    #[test]
    fn times_use_leeway_and_never_overflow() {
        let claims = |exp, nbf| Claims {
            _iss: String::new(),
            exp,
            nbf,
            access: vec![],
        };
        let now = UnixTime::from_unix(1_000_000, 0);
        assert!(check_times(&claims(1_000_000 - 60, None), now).is_ok());
        assert!(check_times(&claims(1_000_000 - 61, None), now).is_err());
        assert!(
            check_times(
                &claims(1_000_000 - 60, None),
                UnixTime::from_unix(1_000_000, 1)
            )
            .is_err()
        );
        assert!(check_times(&claims(i64::MAX, Some(i64::MIN)), now).is_ok());
        assert!(check_times(&claims(i64::MAX, Some(1_000_060)), now).is_ok());
        assert!(check_times(&claims(i64::MAX, Some(1_000_061)), now).is_err());
        assert!(check_times(&claims(i64::MIN, None), now).is_err());
    }
}
