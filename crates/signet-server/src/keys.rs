//! The keys the server signs with: timestamp keys, and snapshot keys when a publisher
//! leaves the snapshot to the server.
//!
//! [`KeyService`] is the one interface signing goes through. It has two backends:
//! [`LocalKeys`], keys generated here and kept in the database, each private key sealed
//! with AES-256-GCM under a key-encryption key derived (PBKDF2-HMAC-SHA256) from an
//! operator passphrase (the `signet_store::seal` module, shared with the signer); and
//! [`RemoteKeys`], keys held by a signer speaking notary-signer's gRPC API
//! (`trust_service.type = "remote"`, see [`remote`]).
//!
//! Plaintext private keys exist only in memory, are never logged, and the PKCS#8 bytes
//! are zeroized after the key pair is built.
//!
//! # Bounded state
//!
//! `GET …/{role}.key` is cheap for a client and creates a key for any new repository, so
//! what it leaves behind is bounded: handing out a pending key reads only its public half
//! (nothing is decrypted or cached), the cache of decrypted keys keeps the
//! [`DEFAULT_KEY_CACHE_CAPACITY`] most recently used ones, and pending keys of
//! repositories that never publish are deleted once older than the configured lifetime
//! (checked when a new key is created, at most once per [`EXPIRY_INTERVAL_SECS`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use signet_core::metadata::Base64Bytes;
use signet_core::{KeyId, KeyType, PublicKey, Signature};
use signet_store::seal::{Kek, KekSettings, SealError, SigningPair};
use signet_store::{NewServerKey, ServerKey, Store, StoreError, UnixMicros};
use zeroize::Zeroizing;

pub mod remote;
pub use remote::RemoteKeys;

/// Key algorithm for keys the server creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// ECDSA P-256 (Notary's default with notary-signer).
    Ecdsa,
    /// Ed25519 (Notary's "local" trust service).
    Ed25519,
    /// RSA, from a remote signer only (`signet signer` with a PKCS#11 token makes RSA keys;
    /// notary-signer does not). Signatures RSASSA-PSS (`rsapss`).
    Rsa,
}

impl KeyAlgorithm {
    /// `ecdsa`, `ed25519` or `rsa`, as notary names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The passphrase does not open this database's keys.
    #[error("the key-encryption passphrase does not match the one this database was set up with")]
    WrongPassphrase,
    /// No passphrase was configured.
    #[error(
        "no key-encryption passphrase: set SIGNET_KEY_PASSPHRASE (or trust_service.key_passphrase_file)"
    )]
    NoPassphrase,
    /// A stored key could not be decrypted or parsed.
    #[error("stored key {key_id} is unreadable: {reason}")]
    CorruptKey {
        /// The key.
        key_id: String,
        /// What failed.
        reason: &'static str,
    },
    /// Key generation or signing failed in the crypto library.
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The remote signer failed or could not be reached.
    #[error("signer at {authority}")]
    Signer {
        /// `host:port` of the signer.
        authority: String,
        /// The call's error.
        source: signet_signer_proto::client::RpcError,
    },
    /// The remote signer answered with something that cannot be used.
    #[error("the signer {reason} (key {key_id})")]
    SignerMisbehaved {
        /// The key.
        key_id: String,
        /// What it did.
        reason: &'static str,
    },
    /// The remote signer's settings are unusable (files, address, TLS material).
    #[error("remote signer settings")]
    SignerSettings(#[from] signet_signer_proto::client::ConnectError),
}

impl KeyError {
    /// Whether a remote signer failed (unreachable, an error status, a bad answer), as
    /// opposed to the server's own storage or keys.
    pub fn is_signer_failure(&self) -> bool {
        matches!(self, Self::Signer { .. } | Self::SignerMisbehaved { .. })
    }
}

/// The signing interface of the trust server.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeyService {
    /// Keys held in this server's database, encrypted at rest.
    Local(Arc<LocalKeys>),
    /// Keys held by a remote signer.
    Remote(Arc<RemoteKeys>),
}

impl KeyService {
    /// A key never used to sign for (gun, role), or a new one: repeated calls before the
    /// key is used return the same key.
    pub async fn unused_or_create(&self, gun: &str, role: &str) -> Result<PublicKey, KeyError> {
        match self {
            Self::Local(k) => k.unused_or_create(gun, role).await,
            Self::Remote(k) => k.unused_or_create(gun, role).await,
        }
    }

    /// A new key for (gun, role).
    pub async fn create(&self, gun: &str, role: &str) -> Result<PublicKey, KeyError> {
        match self {
            Self::Local(k) => k.create(gun, role).await,
            Self::Remote(k) => k.create(gun, role).await,
        }
    }

    /// The public key if this service holds `key_id` for (gun, role).
    pub async fn held(
        &self,
        gun: &str,
        role: &str,
        key_id: &KeyId,
    ) -> Result<Option<PublicKey>, KeyError> {
        match self {
            Self::Local(k) => k.held(gun, role, key_id).await,
            Self::Remote(k) => k.held(gun, role, key_id).await,
        }
    }

    /// Signs `payload` with every key among `keyids` held for (gun, role). Returns no
    /// signatures if none is held.
    pub async fn sign_with_held(
        &self,
        gun: &str,
        role: &str,
        keyids: &[KeyId],
        payload: &[u8],
    ) -> Result<Vec<Signature>, KeyError> {
        match self {
            Self::Local(k) => k.sign_with_held(gun, role, keyids, payload).await,
            Self::Remote(k) => k.sign_with_held(gun, role, keyids, payload).await,
        }
    }
}

/// Most decrypted keys [`LocalKeys`] keeps in memory unless told otherwise.
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 4096;
/// Pending keys (handed out, never used) of repositories without metadata are deleted
/// after this many days unless configured otherwise.
pub const DEFAULT_PENDING_KEY_DAYS: u32 = 30;
/// Least time between two sweeps for expired pending keys.
pub const EXPIRY_INTERVAL_SECS: i64 = 3600;

/// Keys kept in the server's database, sealed under a key-encryption key.
pub struct LocalKeys {
    store: Store,
    kek: Kek,
    algorithm: KeyAlgorithm,
    rng: SystemRandom,
    cache: KeyCache,
    /// Pending keys older than this (seconds) are deleted; 0 = never.
    pending_lifetime_secs: i64,
    /// When pending keys were last swept (store clock, seconds); `i64::MIN` = never.
    last_sweep: AtomicI64,
}

/// Decrypted keys by key ID, at most `capacity`, least recently used evicted first.
struct KeyCache {
    map: RwLock<HashMap<String, CachedKey>>,
    capacity: usize,
    ticks: AtomicU64,
}

struct CachedKey {
    key: Arc<LoadedKey>,
    last_use: AtomicU64,
}

impl KeyCache {
    fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
            ticks: AtomicU64::new(0),
        }
    }

    fn get(&self, key_id: &str) -> Option<Arc<LoadedKey>> {
        let map = self.map.read().ok()?;
        let entry = map.get(key_id)?;
        entry.last_use.store(
            self.ticks.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        Some(entry.key.clone())
    }

    fn insert(&self, key_id: &str, key: Arc<LoadedKey>) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if !map.contains_key(key_id) && map.len() >= self.capacity {
            // O(capacity), and only when a key not cached is loaded into a full cache.
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.last_use.load(Ordering::Relaxed))
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                map.remove(&id);
            }
        }
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        map.insert(
            key_id.to_owned(),
            CachedKey {
                key,
                last_use: AtomicU64::new(tick),
            },
        );
    }

    fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

struct LoadedKey {
    gun: String,
    role: String,
    public: PublicKey,
    pair: SigningPair,
    used: std::sync::atomic::AtomicBool,
}

/// Where the server's KEK salt and check value live (the names predate the shared module).
const KEK_SETTINGS: KekSettings<'static> = KekSettings {
    salt: "kek.salt",
    check: "kek.check",
};

impl LocalKeys {
    /// Opens the key store: derives the key-encryption key from `passphrase` and the
    /// database's salt (created on first use), and checks it against the database's check
    /// value, so a wrong passphrase fails here and not at the first signature.
    pub async fn open(
        store: Store,
        passphrase: &[u8],
        algorithm: KeyAlgorithm,
    ) -> Result<Self, KeyError> {
        let kek = Kek::open(&store, passphrase, KEK_SETTINGS)
            .await
            .map_err(|e| match e {
                SealError::NoPassphrase => KeyError::NoPassphrase,
                SealError::WrongPassphrase => KeyError::WrongPassphrase,
                SealError::Store(e) => KeyError::Store(e),
                SealError::Crypto(what) => KeyError::Crypto(what),
                _ => KeyError::Crypto("key-encryption key"),
            })?;
        Ok(Self {
            store,
            kek,
            algorithm,
            rng: SystemRandom::new(),
            cache: KeyCache::new(DEFAULT_KEY_CACHE_CAPACITY),
            pending_lifetime_secs: i64::from(DEFAULT_PENDING_KEY_DAYS) * 86_400,
            last_sweep: AtomicI64::new(i64::MIN),
        })
    }

    /// Keeps at most `capacity` decrypted keys in memory (at least 1).
    #[must_use]
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = KeyCache::new(capacity);
        self
    }

    /// Deletes pending keys (handed out by `GET …/{role}.key`, never used to sign) of
    /// repositories without metadata once they are `days` old; 0 keeps them forever.
    /// A client that fetched a key and publishes a root listing it within that time gets
    /// the key it was given.
    #[must_use]
    pub fn with_pending_key_days(mut self, days: u32) -> Self {
        self.pending_lifetime_secs = i64::from(days) * 86_400;
        self
    }

    /// How many decrypted keys are in memory.
    pub fn cached_keys(&self) -> usize {
        self.cache.len()
    }

    /// Deletes expired pending keys now (see [`LocalKeys::with_pending_key_days`]);
    /// returns how many. Also runs by itself when keys are created.
    pub async fn expire_pending_keys(&self) -> Result<u64, KeyError> {
        if self.pending_lifetime_secs == 0 {
            return Ok(0);
        }
        let now = self.store.clock().now();
        self.last_sweep.store(now.secs(), Ordering::SeqCst);
        let cutoff = now
            .secs()
            .saturating_sub(self.pending_lifetime_secs)
            .saturating_mul(1_000_000);
        let expired = self.store.expire_unused_keys(UnixMicros(cutoff)).await?;
        if expired > 0 {
            tracing::info!(
                expired,
                "deleted pending keys of repositories that never published"
            );
        }
        Ok(expired)
    }

    /// Sweeps expired pending keys if the last sweep is at least an interval ago. A failed
    /// sweep is logged; it does not fail the caller.
    async fn sweep_if_due(&self) {
        if self.pending_lifetime_secs == 0 {
            return;
        }
        let now = self.store.clock().now().secs();
        let last = self.last_sweep.load(Ordering::SeqCst);
        if last != i64::MIN && now.saturating_sub(last) < EXPIRY_INTERVAL_SECS {
            return;
        }
        // One sweeper per interval even when creations race.
        if self
            .last_sweep
            .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        if let Err(e) = self.expire_pending_keys().await {
            tracing::warn!(error = %signet_service::errors::chain(&e), "cannot delete expired pending keys");
        }
    }

    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.kek
            .seal(context.as_bytes(), plaintext)
            .map_err(|_| KeyError::Crypto("seal"))
    }

    fn open_sealed(&self, context: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.kek.open_sealed(context.as_bytes(), sealed)
    }

    async fn unused_or_create(&self, gun: &str, role: &str) -> Result<PublicKey, KeyError> {
        if let Some(k) = self
            .store
            .unused_key(gun, role, self.algorithm.as_str())
            .await?
        {
            return pending_public(&k);
        }
        self.sweep_if_due().await;
        self.create(gun, role).await?;
        // Racing creators agree on the lowest unused key.
        match self
            .store
            .unused_key(gun, role, self.algorithm.as_str())
            .await?
        {
            Some(k) => pending_public(&k),
            None => Err(KeyError::Crypto("created key vanished")),
        }
    }

    async fn create(&self, gun: &str, role: &str) -> Result<PublicKey, KeyError> {
        let pkcs8 = Zeroizing::new(match self.algorithm {
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
            // Refused by the configuration for the local trust service.
            KeyAlgorithm::Rsa => return Err(KeyError::Crypto("local RSA keys are not supported")),
        });
        let (public, _) = self.pair_from_pkcs8(self.algorithm, &pkcs8)?;
        let key_id = public.id().as_str().to_owned();
        let sealed = self.seal(&seal_context(&key_id, gun, role), &pkcs8)?;
        self.store
            .insert_key(&NewServerKey {
                key_id,
                gun: gun.to_owned(),
                role: role.to_owned(),
                algorithm: self.algorithm.as_str().to_owned(),
                public: public.public_bytes().to_vec(),
                private: sealed,
            })
            .await?;
        Ok(public)
    }

    fn pair_from_pkcs8(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<(PublicKey, SigningPair), KeyError> {
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

    fn load(&self, row: &ServerKey) -> Result<Arc<LoadedKey>, KeyError> {
        if let Some(k) = self.cache.get(&row.key_id) {
            return Ok(k);
        }
        let corrupt = |reason| KeyError::CorruptKey {
            key_id: row.key_id.clone(),
            reason,
        };
        let algorithm = match row.algorithm.as_str() {
            "ecdsa" => KeyAlgorithm::Ecdsa,
            "ed25519" => KeyAlgorithm::Ed25519,
            _ => return Err(corrupt("unknown algorithm")),
        };
        let pkcs8 = self
            .open_sealed(
                &seal_context(&row.key_id, &row.gun, &row.role),
                &row.private,
            )
            .ok_or_else(|| corrupt("cannot decrypt"))?;
        let (public, pair) = self.pair_from_pkcs8(algorithm, &pkcs8)?;
        if public.id().as_str() != row.key_id {
            return Err(corrupt("key ID does not match the key"));
        }
        let loaded = Arc::new(LoadedKey {
            gun: row.gun.clone(),
            role: row.role.clone(),
            public,
            pair,
            used: std::sync::atomic::AtomicBool::new(row.last_used.is_some()),
        });
        self.cache.insert(&row.key_id, loaded.clone());
        Ok(loaded)
    }

    async fn held_key(
        &self,
        gun: &str,
        role: &str,
        key_id: &KeyId,
    ) -> Result<Option<Arc<LoadedKey>>, KeyError> {
        let key = match self.cache.get(key_id.as_str()) {
            Some(k) => k,
            None => match self.store.key(key_id.as_str()).await? {
                // A key a remote signer holds (the server ran with one before) is not ours.
                Some(row) if row.algorithm.starts_with(remote::REMOTE_PREFIX) => {
                    return Ok(None);
                }
                Some(row) => self.load(&row)?,
                None => return Ok(None),
            },
        };
        // A key only ever signs for the repository and role it was made for.
        Ok((key.gun == gun && key.role == role).then_some(key))
    }

    async fn held(
        &self,
        gun: &str,
        role: &str,
        key_id: &KeyId,
    ) -> Result<Option<PublicKey>, KeyError> {
        Ok(self
            .held_key(gun, role, key_id)
            .await?
            .map(|k| k.public.clone()))
    }

    async fn sign_with_held(
        &self,
        gun: &str,
        role: &str,
        keyids: &[KeyId],
        payload: &[u8],
    ) -> Result<Vec<Signature>, KeyError> {
        let mut sigs = Vec::new();
        for id in keyids {
            let Some(key) = self.held_key(gun, role, id).await? else {
                continue;
            };
            let method = key.pair.method();
            let sig = key
                .pair
                .sign(&self.rng, payload)
                .map_err(|_| KeyError::Crypto("sign"))?;
            if !key.used.swap(true, Ordering::Relaxed) {
                self.store.mark_key_used(id.as_str()).await?;
            }
            sigs.push(Signature {
                keyid: id.clone(),
                method: method.to_owned(),
                sig: Base64Bytes(sig),
            });
        }
        Ok(sigs)
    }
}

/// The public half of a pending key, from its row: handing a key out decrypts nothing and
/// caches nothing. The row's key ID must be the ID of its public key.
fn pending_public(row: &ServerKey) -> Result<PublicKey, KeyError> {
    let corrupt = |reason| KeyError::CorruptKey {
        key_id: row.key_id.clone(),
        reason,
    };
    let keytype = match row.algorithm.as_str() {
        "ecdsa" => KeyType::Ecdsa,
        "ed25519" => KeyType::Ed25519,
        _ => return Err(corrupt("unknown algorithm")),
    };
    let public = PublicKey::new(keytype, row.public.clone());
    if public.id().as_str() != row.key_id {
        return Err(corrupt("key ID does not match the key"));
    }
    Ok(public)
}

/// Binds a sealed key to its ID, repository and role: a ciphertext moved to another row
/// fails to open.
fn seal_context(key_id: &str, gun: &str, role: &str) -> String {
    format!("signet-server-key\0{key_id}\0{gun}\0{role}")
}

#[cfg(test)]
mod tests {
    use signet_core::{RingVerifier, Verifier as _};
    use sqlx::{Connection as _, SqliteConnection};

    use super::*;

    const PASSPHRASE: &[u8] = b"correct horse battery staple";
    const GUN: &str = "example.com/org/app";
    const OTHER_GUN: &str = "example.com/org/other";

    /// A store in a fresh SQLite file, so tests can also reach the rows with raw SQL (as
    /// someone with write access to the database could).
    async fn file_store() -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = Store::connect(&url).await.unwrap();
        (dir, url, store)
    }

    async fn open(store: &Store, algorithm: KeyAlgorithm) -> LocalKeys {
        LocalKeys::open(store.clone(), PASSPHRASE, algorithm)
            .await
            .unwrap()
    }

    async fn raw(url: &str, sql: &str, blob: Option<&[u8]>, key_id: &str) {
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        let query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        let query = match blob {
            Some(b) => query.bind(b.to_vec()),
            None => query,
        };
        let done = query.bind(key_id).execute(&mut conn).await.unwrap();
        assert_eq!(done.rows_affected(), 1, "{sql}");
        conn.close().await.unwrap();
    }

    fn assert_unreadable(result: Result<Option<PublicKey>, KeyError>, key_id: &str) {
        match result {
            Err(KeyError::CorruptKey {
                key_id: reported,
                reason,
            }) => {
                assert_eq!(reported, key_id);
                assert_eq!(reason, "cannot decrypt");
            }
            Err(other) => panic!("expected CorruptKey, got {other}"),
            Ok(k) => panic!("a moved or tampered key opened: {k:?}"),
        }
    }

    #[tokio::test]
    async fn sealed_key_is_bound_to_its_key_id_gun_and_role() {
        let (_dir, _url, store) = file_store().await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        let public = keys.create(GUN, "timestamp").await.unwrap();
        let id = public.id().as_str().to_owned();
        let row = store.key(&id).await.unwrap().unwrap();

        let pkcs8 = keys
            .open_sealed(&seal_context(&id, GUN, "timestamp"), &row.private)
            .expect("opens in its own context");
        let (reopened, _) = keys.pair_from_pkcs8(KeyAlgorithm::Ecdsa, &pkcs8).unwrap();
        assert_eq!(reopened.id(), public.id());

        let other_id = "0".repeat(64);
        for (key_id, gun, role) in [
            (other_id.as_str(), GUN, "timestamp"),
            (id.as_str(), OTHER_GUN, "timestamp"),
            (id.as_str(), GUN, "snapshot"),
            // The separators keep fields from sliding into each other.
            (id.as_str(), "example.com/org/app\0timestamp", ""),
        ] {
            assert!(
                keys.open_sealed(&seal_context(key_id, gun, role), &row.private)
                    .is_none(),
                "sealed key opened as ({key_id}, {gun}, {role})"
            );
        }
    }

    #[tokio::test]
    async fn sealed_key_moved_to_another_gun_or_role_fails_to_open() {
        let (_dir, url, store) = file_store().await;
        let id = open(&store, KeyAlgorithm::Ecdsa)
            .await
            .create(GUN, "timestamp")
            .await
            .unwrap()
            .id()
            .clone();

        // Someone with write access to the database re-assigns the row.
        raw(
            &url,
            "UPDATE server_keys SET gun = 'example.com/org/other' WHERE key_id = $1",
            None,
            id.as_str(),
        )
        .await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        assert_unreadable(keys.held(OTHER_GUN, "timestamp", &id).await, id.as_str());
        assert!(matches!(
            keys.sign_with_held(
                OTHER_GUN,
                "timestamp",
                std::slice::from_ref(&id),
                b"payload"
            )
            .await,
            Err(KeyError::CorruptKey { .. })
        ));

        raw(&url, "UPDATE server_keys SET gun = 'example.com/org/app', role = 'snapshot' WHERE key_id = $1", None, id.as_str()).await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        assert_unreadable(keys.held(GUN, "snapshot", &id).await, id.as_str());

        // Moved back, it opens again: the failures were the binding, not damage.
        raw(
            &url,
            "UPDATE server_keys SET role = 'timestamp' WHERE key_id = $1",
            None,
            id.as_str(),
        )
        .await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        assert!(keys.held(GUN, "timestamp", &id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn key_of_another_gun_or_role_is_refused_for_signing() {
        let (_dir, _url, store) = file_store().await;
        for algorithm in [KeyAlgorithm::Ecdsa, KeyAlgorithm::Ed25519] {
            let keys = open(&store, algorithm).await;
            let gun = format!("{GUN}/{}", algorithm.as_str());
            let public = keys.create(&gun, "timestamp").await.unwrap();
            let ids = [public.id().clone()];
            let payload = b"canonical bytes";

            for (other_gun, role) in [(OTHER_GUN, "timestamp"), (gun.as_str(), "snapshot")] {
                assert!(
                    keys.sign_with_held(other_gun, role, &ids, payload)
                        .await
                        .unwrap()
                        .is_empty(),
                    "{algorithm:?} key of {gun}/timestamp signed for {other_gun}/{role}"
                );
                assert!(keys.held(other_gun, role, &ids[0]).await.unwrap().is_none());
            }
            // Refusals did not mark the key used.
            let row = store.key(ids[0].as_str()).await.unwrap().unwrap();
            assert!(row.last_used.is_none());

            let sigs = keys
                .sign_with_held(&gun, "timestamp", &ids, payload)
                .await
                .unwrap();
            assert_eq!(sigs.len(), 1);
            RingVerifier
                .verify(&public, &sigs[0].method, payload, &sigs[0].sig.0)
                .unwrap();
        }
    }

    /// `GET …/timestamp.key` for 10,000 new repositories: each gets its key, and none of
    /// them stays decrypted in memory; keys that sign are cached up to the capacity, least
    /// recently used evicted first.
    #[tokio::test]
    async fn key_cache_stays_bounded() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let keys = open(&store, KeyAlgorithm::Ed25519).await;
        for i in 0..10_000 {
            let gun = format!("example.com/many/{i}");
            let first = keys.unused_or_create(&gun, "timestamp").await.unwrap();
            if i % 1000 == 0 {
                // Still notary's behaviour: the same key until it is used.
                let again = keys.unused_or_create(&gun, "timestamp").await.unwrap();
                assert_eq!(again.id(), first.id());
            }
        }
        assert_eq!(keys.cached_keys(), 0, "pending keys are not kept in memory");

        let keys = keys.with_cache_capacity(100);
        let mut ids = Vec::new();
        for i in 0..300 {
            let gun = format!("example.com/signing/{i}");
            let id = keys.create(&gun, "timestamp").await.unwrap().id().clone();
            let sigs = keys
                .sign_with_held(&gun, "timestamp", std::slice::from_ref(&id), b"payload")
                .await
                .unwrap();
            assert_eq!(sigs.len(), 1);
            ids.push((gun, id));
            assert!(keys.cached_keys() <= 100, "{}", keys.cached_keys());
        }
        assert_eq!(keys.cached_keys(), 100);
        // An evicted key still signs (it is read again), and the cache stays bounded.
        let (gun, id) = &ids[0];
        let sigs = keys
            .sign_with_held(gun, "timestamp", std::slice::from_ref(id), b"payload")
            .await
            .unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(keys.cached_keys(), 100);
    }

    /// Pending keys of repositories that never publish expire after the configured days
    /// (swept when a key is created); until then repeated requests get the same key, and a
    /// repository with metadata keeps its keys.
    #[tokio::test]
    async fn pending_keys_of_unpublished_repositories_expire() {
        const DAY: i64 = 86_400;
        let manual =
            signet_service::ManualClock::new(signet_core::UnixTime::from_unix(1_900_000_000, 0));
        let store = Store::connect("sqlite::memory:")
            .await
            .unwrap()
            .with_clock(manual.clock());
        let keys = open(&store, KeyAlgorithm::Ecdsa)
            .await
            .with_pending_key_days(30);
        let published = "example.com/org/published";

        let pending = keys.unused_or_create(GUN, "timestamp").await.unwrap();
        let kept = keys.unused_or_create(published, "timestamp").await.unwrap();
        store
            .update(
                published,
                &[signet_store::NewRecord {
                    role: "root".to_owned(),
                    version: 1,
                    data: b"{}".to_vec(),
                }],
            )
            .await
            .unwrap();

        manual.advance_secs(29 * DAY);
        keys.unused_or_create("example.com/org/b", "timestamp")
            .await
            .unwrap();
        assert_eq!(
            keys.unused_or_create(GUN, "timestamp").await.unwrap().id(),
            pending.id(),
            "a pending key younger than its lifetime is handed out again"
        );

        manual.advance_secs(2 * DAY);
        // Creating a key for another repository sweeps.
        keys.unused_or_create("example.com/org/c", "timestamp")
            .await
            .unwrap();
        assert!(store.key(pending.id().as_str()).await.unwrap().is_none());
        assert!(store.key(kept.id().as_str()).await.unwrap().is_some());
        let fresh = keys.unused_or_create(GUN, "timestamp").await.unwrap();
        assert_ne!(fresh.id(), pending.id());

        // Sweeps are at most hourly; an explicit one finds the rest.
        manual.advance_secs(31 * DAY);
        assert_eq!(keys.expire_pending_keys().await.unwrap(), 3);
        assert!(store.key(kept.id().as_str()).await.unwrap().is_some());
        // 0 days: kept forever.
        let forever = open(&store, KeyAlgorithm::Ecdsa)
            .await
            .with_pending_key_days(0);
        forever.unused_or_create(GUN, "snapshot").await.unwrap();
        manual.advance_secs(3650 * DAY);
        assert_eq!(forever.expire_pending_keys().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn wrong_passphrase_is_refused() {
        let (_dir, _url, store) = file_store().await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        let id = keys.create(GUN, "timestamp").await.unwrap().id().clone();

        match LocalKeys::open(store.clone(), b"wrong passphrase", KeyAlgorithm::Ecdsa).await {
            Err(KeyError::WrongPassphrase) => {}
            Err(other) => panic!("expected WrongPassphrase, got {other}"),
            Ok(_) => panic!("a wrong passphrase opened the key store"),
        }
        assert!(matches!(
            LocalKeys::open(store.clone(), b"", KeyAlgorithm::Ecdsa).await,
            Err(KeyError::NoPassphrase)
        ));
        // The refusal changed nothing: the right passphrase still opens the keys.
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        assert!(keys.held(GUN, "timestamp", &id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn tampered_ciphertext_is_refused() {
        let (_dir, url, store) = file_store().await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        let id = keys.create(GUN, "timestamp").await.unwrap().id().clone();
        let sealed = store.key(id.as_str()).await.unwrap().unwrap().private;
        let context = seal_context(id.as_str(), GUN, "timestamp");

        // Every single-bit flip (version byte, nonce, ciphertext, tag) and truncation fails.
        for i in 0..sealed.len() {
            for bit in [0x01_u8, 0x80] {
                let mut bad = sealed.clone();
                bad[i] ^= bit;
                assert!(keys.open_sealed(&context, &bad).is_none(), "flip at {i}");
            }
        }
        for len in [0, 1, 1 + ring::aead::NONCE_LEN, sealed.len() - 1] {
            assert!(
                keys.open_sealed(&context, &sealed[..len]).is_none(),
                "length {len}"
            );
        }

        // Through the store: a tampered row is reported as unreadable, never used.
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last / 2] ^= 0x10;
        raw(
            &url,
            "UPDATE server_keys SET private_key = $1 WHERE key_id = $2",
            Some(&bad),
            id.as_str(),
        )
        .await;
        let keys = open(&store, KeyAlgorithm::Ecdsa).await;
        assert_unreadable(keys.held(GUN, "timestamp", &id).await, id.as_str());
        assert!(matches!(
            keys.sign_with_held(GUN, "timestamp", std::slice::from_ref(&id), b"payload")
                .await,
            Err(KeyError::CorruptKey { .. })
        ));
    }
}
