//! Signing keys on a PKCS#11 token (an HSM, SoftHSM2) for every role the client signs:
//! [`TokenKeySource`] puts the keys the publishing code generates on the token and finds
//! keys there before it looks in the trust directory's key files.
//!
//! The token is named by the environment ([`TokenSettings::from_env`]):
//! `SIGNET_PKCS11_MODULE` (the module's path), `SIGNET_PKCS11_TOKEN` (the token's label)
//! and `SIGNET_PKCS11_PIN` (the user PIN). A key on the token is labelled with its TUF key
//! ID; its `CKA_ID` says what it is for, `signet-client\0<role>\0<gun>` (no GUN for root
//! and delegation keys, as notary stores them), which is how `init` finds an existing root
//! key there. Keys the publishing code makes are ECDSA P-256, signatures raw `r‖s`, as
//! notary makes them; `signet key generate ed25519|rsa --pkcs11` makes an Ed25519 key
//! (signatures notary's `eddsa`) or an RSA 2048 key (RSASSA-PSS, notary's `rsapss`) for any
//! role but root, whose certificate is ECDSA. A targets or snapshot key made that way for a
//! GUN (`--role targets -g GUN`) is the one `init` of that GUN uses. They never leave
//! the token, so notary (which does not speak PKCS#11 beyond its YubiKey support) cannot
//! use them, but it verifies what they sign.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use signet_core::{KeyId, PublicKey, RoleName};
use signet_pkcs11::{Token, TokenAlgorithm, TokenError, TokenKey, TokenSpec};
use zeroize::Zeroizing;

use super::ListedKey;
use crate::publish::{KeyError as SourceError, KeySource, RoleSigner};

/// Environment variable naming the PKCS#11 module.
pub const MODULE_ENV: &str = "SIGNET_PKCS11_MODULE";
/// Environment variable naming the token (its label).
pub const TOKEN_ENV: &str = "SIGNET_PKCS11_TOKEN";
/// Environment variable holding the user PIN.
pub const PIN_ENV: &str = "SIGNET_PKCS11_PIN";

/// Which token, and the PIN.
pub struct TokenSettings {
    /// The module.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSettings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

/// The token settings are incomplete.
#[derive(Debug, thiserror::Error)]
#[error("PKCS#11: set {missing} (with {MODULE_ENV}, {TOKEN_ENV} and {PIN_ENV})")]
pub struct MissingSetting {
    /// The variable that is not set.
    pub missing: &'static str,
}

impl TokenSettings {
    /// The settings from `lookup` (pass `std::env::var`): `None` when no module is named
    /// (no token in use).
    ///
    /// # Errors
    ///
    /// [`MissingSetting`] when a module is named but the token or the PIN is not.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, MissingSetting> {
        let get = |name| lookup(name).filter(|v| !v.is_empty());
        let Some(module) = get(MODULE_ENV) else {
            return Ok(None);
        };
        let token_label = get(TOKEN_ENV).ok_or(MissingSetting { missing: TOKEN_ENV })?;
        let pin = get(PIN_ENV).ok_or(MissingSetting { missing: PIN_ENV })?;
        Ok(Some(Self {
            module: PathBuf::from(module),
            token_label,
            pin: Zeroizing::new(pin),
        }))
    }

    /// Opens the token.
    ///
    /// # Errors
    ///
    /// [`TokenError`]: module, token label or PIN.
    pub fn open(&self) -> Result<Arc<Token>, TokenError> {
        Token::open(&TokenSpec {
            module: self.module.clone(),
            token_label: self.token_label.clone(),
            pin: self.pin.clone(),
        })
        .map(Arc::new)
    }
}

/// What a client key on the token is for (`CKA_ID`): root and delegation keys serve
/// every GUN, so they carry none.
fn usage(gun: &str, role: &RoleName) -> Vec<u8> {
    let gun = match role.as_str() {
        "targets" | "snapshot" | "timestamp" => gun,
        _ => "",
    };
    format!("signet-client\0{}\0{gun}", role.as_str()).into_bytes()
}

/// The location `signet key list` prints for keys on `token` (notary prints `yubikey` for
/// its hardware store): an RFC 7512 PKCS#11 URI naming the token.
pub fn location(token: &Token) -> String {
    format!("pkcs11:token={}", token.label())
}

/// The key types `signet key generate --pkcs11` makes: `ecdsa` (P-256), `ed25519`
/// (notary's `eddsa` signatures) and `rsa` (2048 bits, RSASSA-PSS signatures), as notary
/// spells them (any case).
pub fn algorithm(name: &str) -> Option<TokenAlgorithm> {
    match name.to_ascii_lowercase().as_str() {
        "ecdsa" => Some(TokenAlgorithm::EcdsaP256),
        "ed25519" => Some(TokenAlgorithm::Ed25519),
        "rsa" => Some(TokenAlgorithm::Rsa),
        _ => None,
    }
}

/// Generates a key of `algorithm` for `role` of `gun` on `token` (`signet key generate
/// --pkcs11`); returns its public key. Root keys must be ECDSA (their certificate is
/// ECDSA, as notary makes it).
///
/// # Errors
///
/// [`TokenError`]; [`TokenError::Unusable`] for an RSA root key.
pub fn generate(
    token: &Token,
    algorithm: TokenAlgorithm,
    gun: &str,
    role: &RoleName,
) -> Result<PublicKey, TokenError> {
    if algorithm != TokenAlgorithm::EcdsaP256 && role.as_str() == "root" {
        return Err(TokenError::Unusable {
            label: String::new(),
            reason: "root keys on a token are ECDSA P-256 (their certificate is ECDSA)",
        });
    }
    Ok(token.generate(algorithm, &usage(gun, role))?.public)
}

/// The client keys on `token` as `key list` shows them: role and GUN from each key's
/// `CKA_ID`; keys made for something else (a signer's) are left out.
///
/// # Errors
///
/// [`TokenError`].
pub fn list(token: &Token) -> Result<Vec<ListedKey>, TokenError> {
    let mut out = Vec::new();
    for key in token.keys()? {
        let Some(rest) = key.usage.strip_prefix(b"signet-client\0".as_slice()) else {
            continue;
        };
        let mut parts = rest.splitn(2, |b| *b == 0);
        let (Some(role), Some(gun)) = (parts.next(), parts.next()) else {
            continue;
        };
        out.push(ListedKey {
            id: key.key_id().to_owned(),
            role: String::from_utf8_lossy(role).into_owned(),
            gun: String::from_utf8_lossy(gun).into_owned(),
            location: location(token),
        });
    }
    Ok(out)
}

/// A [`KeySource`] that generates keys on a token and finds them there first, then in
/// another source (the trust directory's key files).
pub struct TokenKeySource {
    token: Arc<Token>,
    files: Arc<dyn KeySource>,
}

impl fmt::Debug for TokenKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeySource")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl TokenKeySource {
    /// Keys on `token`, then in `files`.
    pub fn new(token: Arc<Token>, files: Arc<dyn KeySource>) -> Self {
        Self { token, files }
    }

    fn signer(&self, key: TokenKey) -> Result<Arc<dyn RoleSigner>, SourceError> {
        Ok(Arc::new(TokenSigner {
            token: self.token.clone(),
            key,
        }))
    }

    /// The token's key made for `role` of `gun` (by its `CKA_ID`); the same choice every
    /// time when there are several.
    fn made_for(
        &self,
        gun: &str,
        role: &RoleName,
    ) -> Result<Option<Arc<dyn RoleSigner>>, SourceError> {
        let wanted = usage(gun, role);
        let mut keys = self.token.keys().map_err(token_err)?;
        keys.retain(|k| k.usage == wanted);
        keys.sort_by(|a, b| a.key_id().cmp(b.key_id()));
        keys.into_iter().next().map(|k| self.signer(k)).transpose()
    }

    fn on_token(&self, id: &KeyId) -> Result<Option<Arc<dyn RoleSigner>>, SourceError> {
        self.token
            .find(id.as_str())
            .map_err(token_err)?
            .map(|k| self.signer(k))
            .transpose()
    }
}

fn token_err(e: TokenError) -> SourceError {
    SourceError {
        reason: e.to_string(),
    }
}

impl KeySource for TokenKeySource {
    fn find(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Option<Arc<dyn RoleSigner>>, SourceError> {
        if allowed.is_empty() {
            if let Some(k) = self.made_for(gun, role)? {
                return Ok(Some(k));
            }
            return self.files.find(gun, role, allowed);
        }
        for id in allowed {
            if let Some(s) = self.on_token(id)? {
                return Ok(Some(s));
            }
            if let Some(s) = self.files.find(gun, role, std::slice::from_ref(id))? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    fn find_all(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Vec<Arc<dyn RoleSigner>>, SourceError> {
        let mut out = Vec::new();
        for id in allowed {
            if let Some(s) = self.on_token(id)? {
                out.push(s);
            } else if let Some(s) = self.files.find(gun, role, std::slice::from_ref(id))? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn prepared(
        &self,
        gun: &str,
        role: &RoleName,
    ) -> Result<Option<Arc<dyn RoleSigner>>, SourceError> {
        self.made_for(gun, role)
    }

    fn generate(&self, gun: &str, role: &RoleName) -> Result<Arc<dyn RoleSigner>, SourceError> {
        let key = self
            .token
            .generate(TokenAlgorithm::EcdsaP256, &usage(gun, role))
            .map_err(token_err)?;
        self.signer(key)
    }
}

/// A token key as a [`RoleSigner`].
struct TokenSigner {
    token: Arc<Token>,
    key: TokenKey,
}

impl RoleSigner for TokenSigner {
    fn public(&self) -> &PublicKey {
        &self.key.public
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SourceError> {
        self.token.sign(&self.key, payload).map_err(token_err)
    }

    fn method(&self) -> &'static str {
        self.key.algorithm.method()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(TokenSettings::from_env(env(&[])).unwrap().is_none());
        let s = TokenSettings::from_env(env(&[
            (MODULE_ENV, "/m.so"),
            (TOKEN_ENV, "t"),
            (PIN_ENV, "1234"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.module.to_str(), s.token_label.as_str()),
            (Some("/m.so"), "t")
        );
        let err =
            TokenSettings::from_env(env(&[(MODULE_ENV, "/m.so"), (TOKEN_ENV, "t")])).unwrap_err();
        assert_eq!(err.missing, PIN_ENV);
    }

    #[test]
    fn usage_names_the_gun_only_for_repository_keys() {
        assert_eq!(
            usage("example.com/app", &RoleName::targets()),
            b"signet-client\0targets\0example.com/app"
        );
        assert_eq!(
            usage("example.com/app", &RoleName::root()),
            b"signet-client\0root\0"
        );
    }
}
