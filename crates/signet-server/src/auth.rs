//! Registry token authentication (docker/distribution's token scheme, as Notary uses it).
//!
//! A request carries `Authorization: Bearer <JWT>`. The token must be signed by a key of
//! a certificate in the configured bundle (named by an `x5c` leaf equal to a bundle
//! certificate, or by `kid` equal to that key's libtrust fingerprint), name the configured
//! issuer and service, be within its validity window, and grant every action the route
//! needs. Anything else, malformed or unknown, is refused with Notary's 401 challenge.

use std::path::Path;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_core::UnixTime;
use signet_core::encoding::{pem_decode_all, sha256};
use signet_core::key::{KeyMaterial, PublicKey, parse_cert};

use crate::config::{ConfigError, TokenOptions};
use crate::error::ApiError;

/// Clock skew tolerated on `exp` and `nbf`, seconds.
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

struct TrustedKey {
    cert_der: Vec<u8>,
    kid: String,
    key: PublicKey,
}

/// A configured token authenticator.
pub struct TokenAuth {
    realm: String,
    service: String,
    issuer: String,
    keys: Vec<TrustedKey>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5c: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    access: Vec<Grant>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Grant {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
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
        let mut keys = Vec::new();
        for b in blocks.iter().filter(|b| b.label == "CERTIFICATE") {
            let facts = parse_cert(&b.contents).map_err(invalid)?;
            let key = PublicKey::from_cert_chain(std::slice::from_ref(&b.contents));
            keys.push(TrustedKey {
                cert_der: b.contents.clone(),
                kid: libtrust_key_id(&facts.spki_der),
                key,
            });
        }
        if keys.is_empty() {
            return Err(invalid(
                "no certificate in root certificate bundle".to_owned(),
            ));
        }
        Ok(Self {
            realm: opts.realm.clone(),
            service: opts.service.clone(),
            issuer: opts.issuer.clone(),
            keys,
        })
    }

    /// Admits the request or answers Notary's 401.
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
        let claims = self
            .verify(token.trim(), now)
            .map_err(|_| self.challenge(access, Some("invalid_token")))?;
        if !grants(&claims, access) {
            return Err(self.challenge(access, Some("insufficient_scope")));
        }
        Ok(())
    }

    fn verify(&self, token: &str, now: UnixTime) -> Result<Claims, ()> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(());
        };
        let header: Header =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| ())?).map_err(|_| ())?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| ())?;
        let key = match (&header.x5c, &header.kid) {
            (Some(chain), _) => {
                let leaf = STANDARD.decode(chain.first().ok_or(())?).map_err(|_| ())?;
                self.keys.iter().find(|k| k.cert_der == leaf)
            }
            (None, Some(kid)) => self.keys.iter().find(|k| k.kid == *kid),
            (None, None) => None,
        }
        .ok_or(())?;
        let signed = &token[..h.len() + 1 + c.len()];
        let alg: &'static dyn signature::VerificationAlgorithm =
            match (header.alg.as_str(), key.key.material()) {
                ("ES256", KeyMaterial::EcdsaP256(_)) => &signature::ECDSA_P256_SHA256_FIXED,
                ("ES384", KeyMaterial::EcdsaP384(_)) => &signature::ECDSA_P384_SHA384_FIXED,
                ("RS256", KeyMaterial::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
                ("RS384", KeyMaterial::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA384,
                ("RS512", KeyMaterial::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA512,
                _ => return Err(()),
            };
        let public = match key.key.material() {
            KeyMaterial::EcdsaP256(p) | KeyMaterial::EcdsaP384(p) => p.as_slice(),
            KeyMaterial::Rsa { pkcs1, .. } => pkcs1.as_slice(),
            _ => return Err(()),
        };
        UnparsedPublicKey::new(alg, public)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| ())?;
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|_| ())?).map_err(|_| ())?;
        let aud_ok = match &claims.aud {
            Audience::One(a) => *a == self.service,
            Audience::Many(v) => v.contains(&self.service),
        };
        let t = now.secs();
        let fresh =
            claims.exp + LEEWAY_SECS > t && claims.nbf.is_none_or(|nbf| nbf - LEEWAY_SECS <= t);
        if claims.iss != self.issuer || !aud_ok || !fresh {
            return Err(());
        }
        Ok(claims)
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
            "Bearer realm=\"{}\",service=\"{}\",scope=\"{scope}\"",
            self.realm, self.service
        );
        if let Some(e) = error {
            challenge.push_str(&format!(",error=\"{e}\""));
        }
        ApiError::Unauthorized { challenge, detail }
    }
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

/// libtrust's key ID: the first 240 bits of SHA-256 over the DER public key, base32,
/// in colon-separated groups of four.
fn libtrust_key_id(spki_der: &[u8]) -> String {
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
}
