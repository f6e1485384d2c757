//! The signer's keys: generated here, sealed at rest under a passphrase alias, and used only
//! for the repository (GUN) and role they were created for.
//!
//! * Each private key (PKCS#8) is sealed with AES-256-GCM under the key-encryption key of
//!   its passphrase alias ([`signet_store::seal`]); the sealed bytes are bound to the key
//!   ID, GUN, role, algorithm and alias, so a row edited in the database to claim another
//!   repository or role no longer opens.
//! * Each alias has its own salt and check value (settings `signer.kek.<alias>.salt` and
//!   `.check`), so a wrong passphrase is refused when the alias is first opened.
//! * A Sign request names only a key ID (notary-signer's API carries no GUN or role), so
//!   the role is enforced on the content: the signer signs only TUF metadata whose
//!   `_type` is the key's role (`Timestamp` for a `timestamp` key, and so on). The GUN is
//!   enforced at rest by the sealing. notary-signer enforces neither.
//! * Plaintext PKCS#8 lives only in [`Zeroizing`] buffers; nothing here logs key bytes.
//! * With a PKCS#11 token ([`KeyStore::open_with_token`]), new keys are generated on the
//!   token and never leave it; their rows carry the alias [`TOKEN_ALIAS`] and the token's
//!   label instead of a sealed key. The token key's `CKA_ID` names the GUN and role it was
//!   made for, so a row edited to claim another repository or role no longer loads. Keys
//!   sealed before a token was configured keep working (their aliases' passphrases are
//!   still read).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use signet_core::{KeyType, PublicKey};
use signet_pkcs11::{Token, TokenAlgorithm, TokenError, TokenKey};
use signet_store::seal::{Kek, KekSettings, SealError, SigningPair};
use signet_store::{NewSignerKey, SignerKey, Store, StoreError};
use zeroize::Zeroizing;

/// A key type the signer creates, named as on the wire (notary's `data.ECDSAKey`,
/// `data.ED25519Key`, `data.RSAKey`). RSA keys are made only on a PKCS#11 token (ring does
/// not generate RSA keys; notary-signer makes none at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-256; signatures are raw `r‖s` over SHA-256 (method `ecdsa`).
    Ecdsa,
    /// Ed25519 over the whole message (method `eddsa`).
    Ed25519,
    /// RSA 2048 on the token; RSASSA-PSS with SHA-256 and a 32-byte salt (method `rsapss`,
    /// as notary names it).
    Rsa,
}

impl KeyAlgorithm {
    /// Parses a wire name; `None` for anything notary-signer does not create.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ecdsa" => Some(Self::Ecdsa),
            "ed25519" => Some(Self::Ed25519),
            "rsa" => Some(Self::Rsa),
            _ => None,
        }
    }

    /// The key type string (`ecdsa`, `ed25519`, `rsa`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
        }
    }

    /// The TUF signature method this key type signs with (`ecdsa`, `eddsa`, `rsapss`).
    pub fn signature_method(self) -> &'static str {
        self.on_token().method()
    }

    /// The same key type on a PKCS#11 token.
    fn on_token(self) -> TokenAlgorithm {
        match self {
            Self::Ecdsa => TokenAlgorithm::EcdsaP256,
            Self::Ed25519 => TokenAlgorithm::Ed25519,
            Self::Rsa => TokenAlgorithm::Rsa,
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The requested algorithm is not one the signer creates.
    #[error("algorithm {0} not supported for create key")]
    UnsupportedAlgorithm(String),
    /// A GUN or role was empty.
    #[error("a key needs a non-empty {0}")]
    MissingField(&'static str),
    /// No key with this ID.
    #[error("signing key not found: {0}")]
    NotFound(String),
    /// No passphrase is configured for an alias.
    #[error("no passphrase for alias {alias:?}: set NOTARY_SIGNER_{env} or SIGNET_SIGNER_{env}")]
    NoPassphrase {
        /// The alias.
        alias: String,
        /// The alias as it appears in the variable name.
        env: String,
    },
    /// The passphrase of an alias does not open this database's keys.
    #[error(
        "the passphrase for alias {alias:?} does not match the one this database was set up with"
    )]
    WrongPassphrase {
        /// The alias.
        alias: String,
    },
    /// A stored key could not be opened or does not match its row.
    #[error("stored key {key_id} is unreadable: {reason}")]
    CorruptKey {
        /// The key.
        key_id: String,
        /// What failed.
        reason: &'static str,
    },
    /// The content is not TUF metadata of the key's role.
    #[error("key {key_id} is for role {role:?}; it does not sign {found}")]
    WrongRole {
        /// The key.
        key_id: String,
        /// The role the key was created for.
        role: String,
        /// What the content is.
        found: String,
    },
    /// Key generation or signing failed in the crypto library.
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PKCS#11 token failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The `passphrase_alias` of keys held on the PKCS#11 token (their private column holds
/// the token's label).
pub const TOKEN_ALIAS: &str = "pkcs11";

/// Passphrases by alias. Debug output never shows them.
#[derive(Clone, Default)]
pub struct Passphrases(HashMap<String, Arc<Zeroizing<String>>>);

impl fmt::Debug for Passphrases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Passphrases {
    /// No passphrases.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the passphrase of `alias`.
    pub fn insert(&mut self, alias: impl Into<String>, passphrase: impl Into<String>) {
        self.0
            .insert(alias.into(), Arc::new(Zeroizing::new(passphrase.into())));
    }

    /// Reads the passphrase of `alias` from the environment the way notary-signer does:
    /// `NOTARY_SIGNER_<ALIAS>` with the alias upper-cased and `.` as `_`; signet also accepts
    /// `SIGNET_SIGNER_<ALIAS>`, which wins when both are set. Empty values count as unset.
    pub fn from_env<'a>(aliases: impl IntoIterator<Item = &'a str>) -> Self {
        Self::from_lookup(aliases, |name| std::env::var(name).ok())
    }

    /// [`Passphrases::from_env`] with another variable lookup (tests).
    pub fn from_lookup<'a>(
        aliases: impl IntoIterator<Item = &'a str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut out = Self::new();
        for alias in aliases {
            let env = env_name(alias);
            let found = [
                format!("SIGNET_SIGNER_{env}"),
                format!("NOTARY_SIGNER_{env}"),
            ]
            .iter()
            .find_map(|name| lookup(name).filter(|v| !v.is_empty()));
            if let Some(p) = found {
                out.insert(alias, p);
            }
        }
        out
    }

    fn get(&self, alias: &str) -> Option<Arc<Zeroizing<String>>> {
        self.0.get(alias).cloned()
    }
}

/// The alias as it appears in an environment variable name (viper's key replacer).
pub fn env_name(alias: &str) -> String {
    alias.to_uppercase().replace('.', "_")
}

/// The signer's key store.
pub struct KeyStore {
    store: Store,
    /// Where new keys go: a token, or sealed under `default_alias`.
    token: Option<Arc<Token>>,
    default_alias: String,
    passphrases: Passphrases,
    keks: tokio::sync::Mutex<HashMap<String, Arc<Kek>>>,
    cache: RwLock<HashMap<String, Arc<LoadedKey>>>,
    rng: SystemRandom,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("token", &self.token)
            .field("default_alias", &self.default_alias)
            .field("passphrases", &self.passphrases)
            .finish_non_exhaustive()
    }
}

/// A key opened for signing.
pub struct LoadedKey {
    key_id: String,
    role: String,
    algorithm: KeyAlgorithm,
    public: PublicKey,
    material: Material,
    used: AtomicBool,
}

/// Where a loaded key's private half is.
enum Material {
    /// Decrypted from its sealed row, in memory.
    Sealed(SigningPair),
    /// On the token.
    Token(Arc<Token>, TokenKey),
}

impl fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedKey")
            .field("key_id", &self.key_id)
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A key's public description, as the RPCs return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The TUF key ID.
    pub key_id: String,
    /// The key type.
    pub algorithm: KeyAlgorithm,
    /// TUF `keyval.public` bytes.
    pub public: Vec<u8>,
    /// The role the key was created for.
    pub role: String,
}

/// A signature made by [`KeyStore::sign`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The key that signed.
    pub key_id: String,
    /// Its key type.
    pub algorithm: KeyAlgorithm,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl KeyStore {
    /// Opens the key store on `store`. New keys are sealed under `default_alias`, whose
    /// passphrase must be in `passphrases` and is checked here (wrong passphrase: error).
    ///
    /// # Errors
    ///
    /// [`KeyError::NoPassphrase`], [`KeyError::WrongPassphrase`], [`KeyError::Store`].
    pub async fn open(
        store: Store,
        default_alias: &str,
        passphrases: Passphrases,
    ) -> Result<Self, KeyError> {
        let keys = Self {
            store,
            token: None,
            default_alias: default_alias.to_owned(),
            passphrases,
            keks: tokio::sync::Mutex::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
            rng: SystemRandom::new(),
        };
        keys.kek(default_alias).await?;
        Ok(keys)
    }

    /// Opens the key store on `store` with new keys generated on `token`. Keys sealed
    /// earlier open with their aliases' passphrases from `passphrases`, checked when first
    /// used.
    ///
    /// # Errors
    ///
    /// None today; the signature leaves room for checks at open.
    pub async fn open_with_token(
        store: Store,
        token: Arc<Token>,
        passphrases: Passphrases,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            store,
            token: Some(token),
            default_alias: TOKEN_ALIAS.to_owned(),
            passphrases,
            keks: tokio::sync::Mutex::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
            rng: SystemRandom::new(),
        })
    }

    /// The PKCS#11 token new keys are generated on, if any.
    pub fn token(&self) -> Option<&Arc<Token>> {
        self.token.as_ref()
    }

    /// The underlying store (health checks).
    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn kek(&self, alias: &str) -> Result<Arc<Kek>, KeyError> {
        let mut keks = self.keks.lock().await;
        if let Some(k) = keks.get(alias) {
            return Ok(k.clone());
        }
        let no_passphrase = || KeyError::NoPassphrase {
            alias: alias.to_owned(),
            env: env_name(alias),
        };
        let passphrase = self.passphrases.get(alias).ok_or_else(no_passphrase)?;
        let salt = format!("signer.kek.{alias}.salt");
        let check = format!("signer.kek.{alias}.check");
        let kek = Kek::open(
            &self.store,
            passphrase.as_bytes(),
            KekSettings {
                salt: &salt,
                check: &check,
            },
        )
        .await
        .map_err(|e| match e {
            SealError::NoPassphrase => no_passphrase(),
            SealError::WrongPassphrase => KeyError::WrongPassphrase {
                alias: alias.to_owned(),
            },
            SealError::Store(e) => KeyError::Store(e),
            SealError::Crypto(what) => KeyError::Crypto(what),
            _ => KeyError::Crypto("key-encryption key"),
        })?;
        let kek = Arc::new(kek);
        keks.insert(alias.to_owned(), kek.clone());
        Ok(kek)
    }

    /// notary-signer's CreateKey: a never-used key of `algorithm` for (gun, role) if one
    /// exists (lowest key ID), else a new one. `rsa` only with a token (without one it is
    /// refused as notary-signer refuses it).
    ///
    /// # Errors
    ///
    /// [`KeyError::UnsupportedAlgorithm`], [`KeyError::MissingField`], and storage or
    /// crypto failures.
    pub async fn create(
        &self,
        algorithm: &str,
        gun: &str,
        role: &str,
    ) -> Result<KeyInfo, KeyError> {
        let algorithm = KeyAlgorithm::parse(algorithm)
            .filter(|a| *a != KeyAlgorithm::Rsa || self.token.is_some())
            .ok_or_else(|| KeyError::UnsupportedAlgorithm(algorithm.to_owned()))?;
        if gun.is_empty() {
            return Err(KeyError::MissingField("gun"));
        }
        if role.is_empty() {
            return Err(KeyError::MissingField("role"));
        }
        if let Some(row) = self
            .store
            .unused_signer_key(gun, role, algorithm.as_str())
            .await?
        {
            return Ok(self.load(&row).await?.info());
        }
        if let Some(token) = &self.token {
            self.create_on_token(token, algorithm, gun, role).await?;
        } else {
            self.create_sealed(algorithm, gun, role).await?;
        }
        // Racing creators (other processes too) agree on the lowest unused key.
        match self
            .store
            .unused_signer_key(gun, role, algorithm.as_str())
            .await?
        {
            Some(row) => Ok(self.load(&row).await?.info()),
            None => Err(KeyError::Crypto("created key vanished")),
        }
    }

    /// Generates a key on the token and records it.
    async fn create_on_token(
        &self,
        token: &Arc<Token>,
        algorithm: KeyAlgorithm,
        gun: &str,
        role: &str,
    ) -> Result<(), KeyError> {
        let usage = token_usage(gun, role);
        let on_token = algorithm.on_token();
        let t = token.clone();
        let key = tokio::task::spawn_blocking(move || t.generate(on_token, &usage))
            .await
            .map_err(|_| KeyError::Crypto("token task"))??;
        self.store
            .insert_signer_key(&NewSignerKey {
                key_id: key.key_id().to_owned(),
                gun: gun.to_owned(),
                role: role.to_owned(),
                algorithm: algorithm.as_str().to_owned(),
                passphrase_alias: TOKEN_ALIAS.to_owned(),
                public: key.public.public_bytes().to_vec(),
                private: token.label().as_bytes().to_vec(),
            })
            .await?;
        Ok(())
    }

    /// Generates a key here and records it sealed under the default alias.
    async fn create_sealed(
        &self,
        algorithm: KeyAlgorithm,
        gun: &str,
        role: &str,
    ) -> Result<(), KeyError> {
        let kek = self.kek(&self.default_alias).await?;
        let pkcs8 = Zeroizing::new(match algorithm {
            KeyAlgorithm::Ecdsa => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)
                    .map_err(|_| KeyError::Crypto("generate ecdsa"))?
                    .as_ref()
                    .to_vec()
            }
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&self.rng)
                .map_err(|_| KeyError::Crypto("generate ed25519"))?
                .as_ref()
                .to_vec(),
            KeyAlgorithm::Rsa => return Err(KeyError::UnsupportedAlgorithm("rsa".to_owned())),
        });
        let (public, _) = self.pair_from_pkcs8(algorithm, &pkcs8)?;
        let key_id = public.id().as_str().to_owned();
        let context = seal_context(&key_id, gun, role, algorithm.as_str(), &self.default_alias);
        let sealed = kek
            .seal(context.as_bytes(), &pkcs8)
            .map_err(|_| KeyError::Crypto("seal"))?;
        self.store
            .insert_signer_key(&NewSignerKey {
                key_id,
                gun: gun.to_owned(),
                role: role.to_owned(),
                algorithm: algorithm.as_str().to_owned(),
                passphrase_alias: self.default_alias.clone(),
                public: public.public_bytes().to_vec(),
                private: sealed,
            })
            .await?;
        Ok(())
    }

    /// notary-signer's GetKeyInfo: the key's public part and role. The key is opened (and
    /// must open) first, as notary-signer does.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotFound`], or a key that does not open.
    pub async fn info(&self, key_id: &str) -> Result<KeyInfo, KeyError> {
        Ok(self.get(key_id).await?.info())
    }

    /// notary-signer's DeleteKey; returns whether the key existed (deleting an unknown key
    /// succeeds, as in notary-signer).
    ///
    /// # Errors
    ///
    /// [`KeyError::Store`].
    pub async fn delete(&self, key_id: &str) -> Result<bool, KeyError> {
        if let Some(token) = &self.token
            && let Some(row) = self.store.signer_key(key_id).await?
            && row.passphrase_alias == TOKEN_ALIAS
            && row.private == token.label().as_bytes()
        {
            let t = token.clone();
            let id = key_id.to_owned();
            tokio::task::spawn_blocking(move || t.delete(&id))
                .await
                .map_err(|_| KeyError::Crypto("token task"))??;
        }
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key_id);
        let existed = self.store.delete_signer_key(key_id).await?;
        // A Sign racing the delete may have cached it again.
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key_id);
        Ok(existed)
    }

    /// notary-signer's Sign: signs `content` (the whole message; ECDSA hashes it with
    /// SHA-256) with `key_id`, if `content` is TUF metadata of the key's role. Marks the key
    /// used the first time it signs.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotFound`], [`KeyError::WrongRole`], a key that does not open, or a
    /// storage or crypto failure.
    pub async fn sign(&self, key_id: &str, content: &[u8]) -> Result<Signed, KeyError> {
        let key = self.get(key_id).await?;
        check_role(&key, content)?;
        let signature = match &key.material {
            Material::Sealed(pair) => pair
                .sign(&self.rng, content)
                .map_err(|_| KeyError::Crypto("sign"))?,
            Material::Token(token, token_key) => {
                let (token, token_key) = (token.clone(), token_key.clone());
                let content = content.to_vec();
                tokio::task::spawn_blocking(move || token.sign(&token_key, &content))
                    .await
                    .map_err(|_| KeyError::Crypto("token task"))??
            }
        };
        if !key.used.swap(true, Ordering::Relaxed)
            && let Err(e) = self.store.mark_signer_key_used(key_id).await
        {
            key.used.store(false, Ordering::Relaxed);
            return Err(e.into());
        }
        Ok(Signed {
            key_id: key.key_id.clone(),
            algorithm: key.algorithm,
            signature,
        })
    }

    async fn get(&self, key_id: &str) -> Result<Arc<LoadedKey>, KeyError> {
        if let Some(k) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
        {
            return Ok(k.clone());
        }
        match self.store.signer_key(key_id).await? {
            Some(row) => self.load(&row).await,
            None => Err(KeyError::NotFound(key_id.to_owned())),
        }
    }

    async fn load(&self, row: &SignerKey) -> Result<Arc<LoadedKey>, KeyError> {
        if let Some(k) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&row.key_id)
        {
            return Ok(k.clone());
        }
        let corrupt = |reason| KeyError::CorruptKey {
            key_id: row.key_id.clone(),
            reason,
        };
        let algorithm =
            KeyAlgorithm::parse(&row.algorithm).ok_or_else(|| corrupt("unknown algorithm"))?;
        if row.passphrase_alias == TOKEN_ALIAS {
            let token = self
                .token
                .as_ref()
                .ok_or_else(|| corrupt("it is on a PKCS#11 token and no token is configured"))?;
            if row.private != token.label().as_bytes() {
                return Err(corrupt("it is on another PKCS#11 token"));
            }
            let t = token.clone();
            let id = row.key_id.clone();
            let key = tokio::task::spawn_blocking(move || t.find(&id))
                .await
                .map_err(|_| KeyError::Crypto("token task"))??
                .ok_or_else(|| corrupt("the token does not hold it"))?;
            if key.usage != token_usage(&row.gun, &row.role) {
                return Err(corrupt(
                    "the token key was made for another repository or role",
                ));
            }
            if key.algorithm != algorithm.on_token()
                || key.public.public_bytes() != row.public.as_slice()
            {
                return Err(corrupt("key ID does not match the key"));
            }
            return Ok(self.remember(
                row,
                algorithm,
                key.public.clone(),
                Material::Token(token.clone(), key),
            ));
        }
        let kek = self.kek(&row.passphrase_alias).await?;
        let context = seal_context(
            &row.key_id,
            &row.gun,
            &row.role,
            &row.algorithm,
            &row.passphrase_alias,
        );
        let pkcs8 = kek
            .open_sealed(context.as_bytes(), &row.private)
            .ok_or_else(|| corrupt("cannot decrypt"))?;
        let (public, pair) = self.pair_from_pkcs8(algorithm, &pkcs8)?;
        if public.id().as_str() != row.key_id || public.public_bytes() != row.public.as_slice() {
            return Err(corrupt("key ID does not match the key"));
        }
        Ok(self.remember(row, algorithm, public, Material::Sealed(pair)))
    }

    /// Caches a key just opened.
    fn remember(
        &self,
        row: &SignerKey,
        algorithm: KeyAlgorithm,
        public: PublicKey,
        material: Material,
    ) -> Arc<LoadedKey> {
        let loaded = Arc::new(LoadedKey {
            key_id: row.key_id.clone(),
            role: row.role.clone(),
            algorithm,
            public,
            material,
            used: AtomicBool::new(row.last_used.is_some()),
        });
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(row.key_id.clone(), loaded.clone());
        loaded
    }

    fn pair_from_pkcs8(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<(PublicKey, SigningPair), KeyError> {
        if algorithm == KeyAlgorithm::Rsa {
            return Err(KeyError::Crypto("sealed RSA keys are not supported"));
        }
        let ecdsa = matches!(algorithm, KeyAlgorithm::Ecdsa);
        let pair = SigningPair::from_pkcs8(ecdsa, pkcs8, &self.rng).map_err(|e| match e {
            SealError::Crypto(what) => KeyError::Crypto(what),
            _ => KeyError::Crypto("parse key"),
        })?;
        let key_type = if ecdsa {
            KeyType::Ecdsa
        } else {
            KeyType::Ed25519
        };
        Ok((PublicKey::new(key_type, pair.public_key()), pair))
    }
}

impl LoadedKey {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            key_id: self.key_id.clone(),
            algorithm: self.algorithm,
            public: self.public.public_bytes().to_vec(),
            role: self.role.clone(),
        }
    }
}

/// The `_type` TUF metadata of `role` carries (delegated roles are `Targets`).
fn metadata_type(role: &str) -> Option<&'static str> {
    match role {
        "root" => Some("Root"),
        "snapshot" => Some("Snapshot"),
        "timestamp" => Some("Timestamp"),
        "targets" => Some("Targets"),
        r if r.starts_with("targets/") => Some("Targets"),
        _ => None,
    }
}

/// Refuses content that is not the `signed` part of TUF metadata of the key's role.
fn check_role(key: &LoadedKey, content: &[u8]) -> Result<(), KeyError> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "_type")]
        kind: String,
    }
    let wrong = |found: String| KeyError::WrongRole {
        key_id: key.key_id.clone(),
        role: key.role.clone(),
        found,
    };
    let expected = metadata_type(&key.role).ok_or_else(|| wrong("anything".to_owned()))?;
    match serde_json::from_slice::<Typed>(content) {
        Ok(t) if t.kind == expected => Ok(()),
        Ok(t) => Err(wrong(format!("{:?} metadata", t.kind))),
        Err(_) => Err(wrong("content that is not TUF metadata".to_owned())),
    }
}

/// The `CKA_ID` of a token key made for (gun, role): it binds the key on the token to the
/// repository and role its row claims.
fn token_usage(gun: &str, role: &str) -> Vec<u8> {
    format!("signet-signer\0{gun}\0{role}").into_bytes()
}

/// Binds a sealed key to its row: a ciphertext moved to another key ID, GUN, role,
/// algorithm or alias fails to open. NUL separators keep fields from sliding into each
/// other.
fn seal_context(key_id: &str, gun: &str, role: &str, algorithm: &str, alias: &str) -> String {
    format!("signet-signer-key\0{key_id}\0{gun}\0{role}\0{algorithm}\0{alias}")
}

#[cfg(test)]
mod tests {
    use signet_core::{RingVerifier, Verifier as _};

    use super::*;

    const GUN: &str = "example.com/org/app";
    const ALIAS: &str = "alias_1";
    const PASS: &str = "signer passphrase";

    fn passphrases() -> Passphrases {
        let mut p = Passphrases::new();
        p.insert(ALIAS, PASS);
        p
    }

    async fn open(store: &Store) -> KeyStore {
        KeyStore::open(store.clone(), ALIAS, passphrases())
            .await
            .unwrap()
    }

    fn timestamp_bytes() -> Vec<u8> {
        br#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":2}"#.to_vec()
    }

    #[tokio::test]
    async fn create_reuses_an_unused_key_until_it_signs() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let keys = open(&store).await;
        for algorithm in ["ecdsa", "ed25519"] {
            let first = keys.create(algorithm, GUN, "timestamp").await.unwrap();
            let again = keys.create(algorithm, GUN, "timestamp").await.unwrap();
            assert_eq!(first, again, "{algorithm}: unused key handed out again");
            let signed = keys.sign(&first.key_id, &timestamp_bytes()).await.unwrap();
            let public = PublicKey::new(KeyType::parse(algorithm), first.public.clone());
            RingVerifier
                .verify(
                    &public,
                    first.algorithm.signature_method(),
                    &timestamp_bytes(),
                    &signed.signature,
                )
                .unwrap();
            let third = keys.create(algorithm, GUN, "timestamp").await.unwrap();
            assert_ne!(
                third.key_id, first.key_id,
                "{algorithm}: used key handed out"
            );
        }
    }

    #[tokio::test]
    async fn key_signs_only_metadata_of_its_role() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let keys = open(&store).await;
        let ts = keys.create("ecdsa", GUN, "timestamp").await.unwrap();
        for content in [
            br#"{"_type":"Snapshot","version":1}"#.as_slice(),
            br#"{"_type":"Root","version":1}"#,
            b"not json",
            b"",
        ] {
            assert!(matches!(
                keys.sign(&ts.key_id, content).await,
                Err(KeyError::WrongRole { .. })
            ));
        }
        // Refusals did not mark the key used.
        let row = store.signer_key(&ts.key_id).await.unwrap().unwrap();
        assert!(row.last_used.is_none());
        keys.sign(&ts.key_id, &timestamp_bytes()).await.unwrap();
    }

    #[tokio::test]
    async fn sealed_key_moved_to_another_gun_or_role_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url).await.unwrap();
        let keys = open(&store).await;
        let created = keys.create("ecdsa", GUN, "timestamp").await.unwrap();
        let row = store.signer_key(&created.key_id).await.unwrap().unwrap();
        // Re-insert the same ciphertext under other (gun, role): it must not open.
        for (id, gun, role) in [
            ("a".repeat(64), "example.com/org/other", "timestamp"),
            ("b".repeat(64), GUN, "snapshot"),
        ] {
            store
                .insert_signer_key(&NewSignerKey {
                    key_id: id.clone(),
                    gun: gun.to_owned(),
                    role: role.to_owned(),
                    algorithm: row.algorithm.clone(),
                    passphrase_alias: row.passphrase_alias.clone(),
                    public: row.public.clone(),
                    private: row.private.clone(),
                })
                .await
                .unwrap();
            let fresh = open(&store).await;
            assert!(matches!(
                fresh.info(&id).await,
                Err(KeyError::CorruptKey { .. })
            ));
        }
        let fresh = open(&store).await;
        assert_eq!(fresh.info(&created.key_id).await.unwrap(), created);
    }

    #[tokio::test]
    async fn wrong_or_missing_passphrase_is_refused() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        open(&store).await;
        let mut wrong = Passphrases::new();
        wrong.insert(ALIAS, "not it");
        assert!(matches!(
            KeyStore::open(store.clone(), ALIAS, wrong).await,
            Err(KeyError::WrongPassphrase { .. })
        ));
        match KeyStore::open(store.clone(), "other.alias", passphrases()).await {
            Err(e @ KeyError::NoPassphrase { .. }) => {
                assert!(e.to_string().contains("NOTARY_SIGNER_OTHER_ALIAS"), "{e}");
            }
            other => panic!("expected NoPassphrase, got {other:?}"),
        }
    }

    #[test]
    fn passphrases_from_environment_names() {
        let env: HashMap<&str, &str> = [
            ("NOTARY_SIGNER_ALIAS_1", "from-notary"),
            ("NOTARY_SIGNER_TIMESTAMP_1", "notary"),
            ("SIGNET_SIGNER_TIMESTAMP_1", "signet"),
            ("NOTARY_SIGNER_EMPTY", ""),
        ]
        .into_iter()
        .collect();
        let p = Passphrases::from_lookup(["alias_1", "timestamp.1", "empty", "absent"], |n| {
            env.get(n).map(|v| (*v).to_owned())
        });
        assert_eq!(p.get("alias_1").unwrap().as_str(), "from-notary");
        assert_eq!(p.get("timestamp.1").unwrap().as_str(), "signet");
        assert!(p.get("empty").is_none());
        assert!(p.get("absent").is_none());
        assert!(!format!("{p:?}").contains("notary\""));
    }
}
