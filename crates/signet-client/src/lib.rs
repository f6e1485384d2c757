//! The Signet client library: verifies Notary v1 repositories the way spec §6.6 describes,
//! with the decisions in [`signet_core::trusted`] and the IO here.
//!
//! ```no_run
//! # async fn run() -> Result<(), signet_client::ClientError> {
//! use std::sync::Arc;
//! use signet_client::{Client, MemoryCache, Pinning, Transport, TransportConfig};
//!
//! let transport = Transport::new(&TransportConfig::new(
//!     "https://notary.example.com:4443",
//!     Some("/etc/signet/ca.pem".into()),
//! ))?;
//! let client = Client::new(transport, Pinning::Tofu, Arc::new(MemoryCache::new()));
//! let target = client.lookup("example.com/app", "v1").await?;
//! println!("{} sha256:{}", target.name, target.sha256_hex().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! One update: with a cached root that is still current, only `timestamp.json` is asked for
//! first and the cached root is trusted as it is, as notary does. With no cached root, or
//! when that attempt fails in a way a newer root could explain, `root.json` is fetched (the
//! cached root, if any, is the rotation anchor), the rotation walked version by version
//! (`<v>.root.json`), and the update runs from the timestamp again. After the timestamp, the
//! snapshot and every targets role by checksum (`<role>.<sha256>.json`), reusing cached
//! files whose hashes match. Every read stops at the role's size limit. Only a complete
//! chain that verified is written to the cache, so a rejected update keeps the last good
//! state. Delegations whose signatures are below threshold or expired are skipped (their
//! targets are invisible), as Notary does; any other failure rejects the update.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apply;
pub mod bundle;
mod cache;
pub mod changelist;
pub mod commands;
pub mod config;
pub mod docker;
mod error;
pub mod keys;
pub mod publish;
pub mod registry;
mod tabwriter;
mod transport;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use signet_core::encoding::hex_encode;
use signet_core::trusted::{KnownVersions, TrustedRoot, TrustedTargets, TrustedTimestamp};
use signet_core::{
    KeyId, MemoVerifier, RingVerifier, RoleName, Signed, Targets, UnixTime, Verifier, VerifyError,
};

pub use cache::{Cache, MemoryCache, TrustDirCache};
pub use error::ClientError;
pub use signet_core::trusted::{Limits, Pinning};
pub use transport::{
    Access, Challenge, Credentials, IDENTITY_TOKEN_USER, Transport, TransportConfig,
    parse_challenge,
};

use transport::Fetched;

/// Where "now" comes from (the services' shared clock). Verification never reads the
/// wall clock itself.
pub use signet_service::Clock;

/// A verifying client for one Notary v1 server.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    pinning: Pinning,
    cache: Arc<dyn Cache>,
    limits: Limits,
    clock: Clock,
}

/// One signed target, as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTarget {
    /// The target name (a tag, for container images).
    pub name: String,
    /// The role that signs it (`targets` or a delegation).
    pub role: RoleName,
    /// Hashes by algorithm (`sha256`, `sha512`).
    pub hashes: BTreeMap<String, Vec<u8>>,
    /// Length in bytes.
    pub length: u64,
    /// Custom data, if any.
    pub custom: Option<serde_json::Value>,
}

impl VerifiedTarget {
    /// The sha256 hash in lowercase hex.
    pub fn sha256_hex(&self) -> Option<String> {
        self.hashes.get("sha256").map(|h| hex_encode(h))
    }
}

/// A repository verified from its root down to every reachable delegation.
#[derive(Clone, Debug)]
pub struct VerifiedRepository {
    /// The GUN.
    pub gun: String,
    /// When the root was trusted on first use in this update, the root key IDs accepted.
    pub first_use_key_ids: Option<Vec<KeyId>>,
    /// Delegations skipped because their signatures were below threshold or expired.
    pub skipped: Vec<(RoleName, VerifyError)>,
    /// The skipped delegations' documents (their bytes match the snapshot; only their
    /// signatures or expiry failed): what `witness` re-signs to bring them back.
    pub invalid: BTreeMap<RoleName, Signed<Targets>>,
    /// The verified chain (all documents, with their exact bytes).
    pub chain: TrustedTargets,
}

impl VerifiedRepository {
    /// The root's version.
    pub fn root_version(&self) -> u64 {
        self.chain.root().version()
    }

    /// The root role's key IDs, as root.json lists them.
    pub fn root_key_ids(&self) -> Vec<KeyId> {
        self.chain
            .root()
            .signed
            .roles
            .get("root")
            .map(|r| r.keyids.clone())
            .unwrap_or_default()
    }

    /// Every visible target, sorted by name; for a name several roles list, the entry of the
    /// first in Notary's breadth-first order. Built on each call (nothing is copied until
    /// asked for: `list` renders from the chain directly).
    pub fn targets(&self) -> Vec<VerifiedTarget> {
        self.chain
            .all_targets()
            .into_iter()
            .map(|(name, role, meta)| target(name, role, meta))
            .collect()
    }

    /// The target `name`, looked up breadth first from `targets`.
    pub fn get(&self, name: &str) -> Option<VerifiedTarget> {
        self.chain
            .all_targets()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(name, role, meta)| target(name, role, meta))
    }

    /// The target `name` as signed by the first of `roles` (in order) that lists it, e.g.
    /// `[targets/releases, targets]` for Docker's rule.
    pub fn find_in(&self, name: &str, roles: &[RoleName]) -> Option<VerifiedTarget> {
        self.chain
            .find(name, roles)
            .map(|(role, meta)| target(name, role, meta))
    }
}

fn target(name: &str, role: &RoleName, meta: &signet_core::metadata::FileMeta) -> VerifiedTarget {
    VerifiedTarget {
        name: name.to_owned(),
        role: role.clone(),
        hashes: meta
            .hashes
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        length: u64::try_from(meta.length).unwrap_or(0),
        custom: meta.custom.clone(),
    }
}

impl Client {
    /// A client with default [`Limits`] and the system clock.
    pub fn new(transport: Transport, pinning: Pinning, cache: Arc<dyn Cache>) -> Self {
        Self {
            transport,
            pinning,
            cache,
            limits: Limits::default(),
            clock: Clock::system(),
        }
    }

    /// Sets the size limits per role.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets where "now" comes from.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Updates and verifies `gun` under the client's pinning.
    pub async fn verify_gun(&self, gun: &str) -> Result<VerifiedRepository, ClientError> {
        self.verify_gun_with(gun, &self.pinning).await
    }

    /// Looks `name` up in the freshly verified `gun` (breadth first from `targets`).
    pub async fn lookup(&self, gun: &str, name: &str) -> Result<VerifiedTarget, ClientError> {
        let repo = self.verify_gun(gun).await?;
        repo.get(name).ok_or_else(|| ClientError::TargetNotFound {
            gun: gun.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Updates and verifies `gun` under `pinning`.
    pub async fn verify_gun_with(
        &self,
        gun: &str,
        pinning: &Pinning,
    ) -> Result<VerifiedRepository, ClientError> {
        cache::check_gun(gun)?;
        let now = self.clock.now();
        // The root's own signatures are checked as it is loaded and again as it is used.
        let memo = MemoVerifier::new(&RingVerifier);
        let v = &memo;

        // The rotation anchor and the rollback floor come from the cache, each file read
        // once: what matches the new chain is used from here and not written back.
        let cached = self.cached_files(gun)?;
        let anchor = match cached.get(&RoleName::root()) {
            Some(bytes) => Some(
                TrustedRoot::from_cache(gun, bytes, pinning.clone(), self.limits, now, v)
                    .map_err(|e| ClientError::rejected(gun, None, e))?,
            ),
            None => None,
        };
        let known = cached_versions(&cached);
        let ts_role = RoleName::timestamp();
        let ts_url = self.transport.url(gun, "timestamp.json");

        // Warm: a cached root is used as it is, without asking for root.json, as notary
        // does (spec §6.6, step 1). `update_timestamp` accepts it only while it is current
        // (unexpired, signed under the pinning). A rotation on the server cannot pass
        // unnoticed: the new timestamp is signed by a key the cached root does not list, or
        // the snapshot lists another root (mix-and-match). Either rejects this attempt and
        // the update starts again from the server's root.json, like any failure the server's
        // newest root might explain; a failure to reach the server ends it.
        if let Some(anchor) = &anchor {
            let warm = async {
                let ts_bytes = self
                    .fetch(gun, &ts_role, &ts_url, self.limits.timestamp)
                    .await?;
                let ts = anchor
                    .clone()
                    .with_known_versions(known.clone())
                    .update_timestamp(&ts_bytes, now, v)
                    .map_err(|e| ClientError::rejected(gun, Some(&ts_url), e))?;
                self.complete(gun, ts, &cached, None, now, v).await
            };
            match warm.await {
                Err(e) if e.calls_for_root() => {
                    tracing::debug!(%gun, error = %e, "updating again from the server's root.json");
                }
                done => return done,
            }
        }

        // root.json and timestamp.json are fetched at once, on two connections: the
        // timestamp is still verified only against the updated root, in TUF's order, so
        // fetching it early changes nothing but the round trip it saves.
        let root_url = self.transport.url(gun, "root.json");
        let root_role = RoleName::root();
        let (root_fetched, ts_fetched) = tokio::join!(
            self.fetch(gun, &root_role, &root_url, self.limits.root),
            self.fetch(gun, &ts_role, &ts_url, self.limits.timestamp),
        );
        let root_bytes = match root_fetched {
            Err(ClientError::Status { status: 404, .. }) => {
                return Err(ClientError::RepositoryNotFound {
                    gun: gun.to_owned(),
                    url: root_url,
                });
            }
            other => other?,
        };
        let trusted = match anchor {
            None => TrustedRoot::first_use(gun, &root_bytes, pinning.clone(), self.limits, now, v)
                .map_err(|e| ClientError::rejected(gun, Some(&root_url), e))?,
            Some(anchor) => match anchor.update_root(&root_bytes, now, v) {
                Err(VerifyError::RootVersionGap { trusted, offered }) => {
                    let mut t = anchor;
                    for version in trusted + 1..offered {
                        let url = self.transport.url(gun, &format!("{version}.root.json"));
                        let bytes = self
                            .fetch(gun, &RoleName::root(), &url, self.limits.root)
                            .await?;
                        let step = Signed::<signet_core::Root>::from_bytes(&bytes)
                            .map(|r| r.version())
                            .unwrap_or(0);
                        if step != version {
                            return Err(ClientError::rejected(
                                gun,
                                Some(&url),
                                VerifyError::RootConflict {
                                    expected: version,
                                    found: step,
                                },
                            ));
                        }
                        t = t
                            .update_root(&bytes, now, v)
                            .map_err(|e| ClientError::rejected(gun, Some(&url), e))?;
                    }
                    t.update_root(&root_bytes, now, v)
                        .map_err(|e| ClientError::rejected(gun, Some(&root_url), e))?
                }
                other => other.map_err(|e| ClientError::rejected(gun, Some(&root_url), e))?,
            },
        };
        let first_use_key_ids = trusted.first_use_key_ids().map(<[KeyId]>::to_vec);
        let trusted = trusted.with_known_versions(known);

        let ts_bytes = ts_fetched?;
        let ts = trusted
            .update_timestamp(&ts_bytes, now, v)
            .map_err(|e| ClientError::rejected(gun, Some(&ts_url), e))?;
        self.complete(gun, ts, &cached, first_use_key_ids, now, v)
            .await
    }

    /// The rest of an update, from a verified timestamp: the snapshot, `targets` and the
    /// delegations, each reused from `cached` when its hashes match or fetched; the files
    /// that changed are written to the cache once the whole chain verified.
    async fn complete(
        &self,
        gun: &str,
        ts: TrustedTimestamp,
        cached: &BTreeMap<RoleName, Vec<u8>>,
        first_use_key_ids: Option<Vec<KeyId>>,
        now: UnixTime,
        v: &dyn Verifier,
    ) -> Result<VerifiedRepository, ClientError> {
        let snapshot = RoleName::snapshot();
        let (snap, _, snap_url) = self
            .verified_listed(gun, &snapshot, ts.snapshot_meta(), cached, |bytes, _| {
                ts.update_snapshot(bytes, now, v)
            })
            .await?;
        let snap = snap.map_err(|e| ClientError::rejected(gun, snap_url.as_deref(), e))?;

        let targets = RoleName::targets();
        let meta = snap.meta(&targets).ok_or_else(|| {
            ClientError::rejected(
                gun,
                None,
                VerifyError::Structure {
                    role: targets.clone(),
                    reason: "not listed in snapshot".to_owned(),
                },
            )
        })?;
        let (chain, _, targets_url) = self
            .verified_listed(gun, &targets, meta, cached, |bytes, fetched| {
                // The rollback floor of targets: the cached file's version, read only when
                // that file is being replaced (reused as it is, it cannot be older than
                // itself).
                match cached
                    .get(&targets)
                    .filter(|_| fetched)
                    .and_then(|old| version_of(old))
                {
                    Some(version) => snap
                        .clone()
                        .with_known_version(targets.clone(), version)
                        .update_targets(bytes, now, v),
                    None => snap.update_targets(bytes, now, v),
                }
            })
            .await?;
        let mut chain = chain.map_err(|e| ClientError::rejected(gun, targets_url.as_deref(), e))?;

        let mut skipped = Vec::new();
        let mut invalid = BTreeMap::new();
        let mut skip = BTreeSet::new();
        while let Some(role) = chain.pending_delegations(&skip).into_iter().next() {
            let Some(meta) = chain.meta(&role) else { break };
            let meta = meta.clone();
            let (added, bytes, url) = self
                .verified_listed(gun, &role, &meta, cached, |bytes, _| {
                    chain.add_delegation(&role, bytes, now, v)
                })
                .await?;
            match added {
                Ok(()) => {}
                Err(e @ (VerifyError::Expired { .. } | VerifyError::ThresholdNotMet { .. })) => {
                    tracing::warn!(%gun, %role, error = %e, "skipping invalid delegation");
                    skip.insert(role.clone());
                    // Listed in the snapshot with these exact bytes (checked before the
                    // signatures), so the content is the repository's own.
                    if let Ok(doc) = Signed::<Targets>::from_bytes(&bytes) {
                        invalid.insert(role.clone(), doc);
                    }
                    skipped.push((role, e));
                }
                Err(e) => return Err(ClientError::rejected(gun, url.as_deref(), e)),
            }
        }

        let mut files: Vec<(RoleName, &[u8])> = vec![
            (RoleName::root(), chain.root().bytes()),
            (
                RoleName::timestamp(),
                chain
                    .trusted_snapshot()
                    .trusted_timestamp()
                    .timestamp()
                    .bytes(),
            ),
            (snapshot, chain.trusted_snapshot().snapshot().bytes()),
        ];
        files.extend(chain.roles().map(|(r, d)| (r.clone(), d.bytes())));
        // Files that already hold these bytes are left alone (a warm update writes nothing).
        files.retain(|(role, bytes)| cached.get(role).is_none_or(|old| old.as_slice() != *bytes));
        if !files.is_empty() {
            self.cache.store(gun, &files)?;
        }

        Ok(VerifiedRepository {
            gun: gun.to_owned(),
            first_use_key_ids,
            skipped,
            invalid,
            chain,
        })
    }

    /// The cached files of `gun`: root, timestamp, snapshot, targets and the delegations
    /// the cached snapshot lists (the ones present).
    fn cached_files(&self, gun: &str) -> Result<BTreeMap<RoleName, Vec<u8>>, ClientError> {
        let mut files = BTreeMap::new();
        for role in [
            RoleName::root(),
            RoleName::timestamp(),
            RoleName::snapshot(),
            RoleName::targets(),
        ] {
            if let Some(bytes) = self.cache.load(gun, &role)? {
                files.insert(role, bytes);
            }
        }
        let delegations: Vec<RoleName> = files
            .get(&RoleName::snapshot())
            .and_then(|snap| Signed::<signet_core::Snapshot>::from_bytes(snap).ok())
            .map(|snap| {
                snap.signed
                    .meta
                    .keys()
                    .filter_map(|r| RoleName::parse(r).ok())
                    .filter(RoleName::is_delegation)
                    .collect()
            })
            .unwrap_or_default();
        for role in delegations {
            if let Some(bytes) = self.cache.load(gun, &role)? {
                files.insert(role, bytes);
            }
        }
        Ok(files)
    }

    /// Verifies the file of `role` that `meta` lists, with `verify` (given the bytes and
    /// whether they were just downloaded): the cached copy when it has the listed length
    /// and `verify` finds its hashes right, else the file fetched by checksum with exactly
    /// the listed length allowed. The cached copy is hashed once, by `verify` itself: a
    /// copy whose hashes are not the listed ones (the role changed) is the one outcome that
    /// falls through to the download; any other verdict on it is final, since the listed
    /// hashes pin the bytes a download would bring. Returns the verdict, the bytes, and the
    /// URL when fetched.
    async fn verified_listed<'c, T>(
        &self,
        gun: &str,
        role: &RoleName,
        meta: &signet_core::metadata::FileMeta,
        cached: &'c BTreeMap<RoleName, Vec<u8>>,
        mut verify: impl FnMut(&[u8], bool) -> Result<T, VerifyError>,
    ) -> Result<(Result<T, VerifyError>, Cow<'c, [u8]>, Option<String>), ClientError> {
        let expected = self
            .limits
            .expected(role, meta)
            .map_err(|e| ClientError::rejected(gun, None, e))?;
        let listed_length = |bytes: &[u8]| usize::try_from(meta.length).ok() == Some(bytes.len());
        let copy = match cached.get(role) {
            Some(bytes) => Some(Cow::Borrowed(bytes.as_slice())),
            // A delegation the cached snapshot did not list may still be cached.
            None => self.cache.load(gun, role)?.map(Cow::Owned),
        };
        if let Some(bytes) = copy.filter(|b| listed_length(b)) {
            match verify(&bytes, false) {
                Err(VerifyError::HashMismatch { role: r, .. }) if r == *role => {}
                verdict => return Ok((verdict, bytes, None)),
            }
        }
        let file = match meta.sha256() {
            Some(h) => format!("{role}.{}.json", hex_encode(h)),
            None => format!("{role}.json"),
        };
        let url = self.transport.url(gun, &file);
        let bytes = self.fetch(gun, role, &url, expected).await?;
        let verdict = verify(&bytes, true);
        Ok((verdict, Cow::Owned(bytes), Some(url)))
    }

    async fn fetch(
        &self,
        gun: &str,
        role: &RoleName,
        url: &str,
        limit: u64,
    ) -> Result<Vec<u8>, ClientError> {
        match self.transport.get_limited(gun, url, limit).await {
            Ok(Fetched::Body(b)) => Ok(b),
            Ok(Fetched::Status(status)) => Err(ClientError::Status {
                gun: gun.to_owned(),
                role: role.clone(),
                url: url.to_owned(),
                status,
            }),
            Ok(Fetched::TooLarge) => Err(ClientError::TooLarge {
                gun: gun.to_owned(),
                role: role.clone(),
                url: url.to_owned(),
                limit,
            }),
            Err(source) => Err(ClientError::Network {
                gun: gun.to_owned(),
                url: url.to_owned(),
                source,
            }),
        }
    }
}

/// The versions of the cached roles but root and targets (whose floor is set once it is
/// known whether the cached file is reused): the rollback floor. Cached files are local,
/// trusted storage; files that do not parse set no floor.
fn cached_versions(cached: &BTreeMap<RoleName, Vec<u8>>) -> KnownVersions {
    let mut known = KnownVersions::default();
    for (role, bytes) in cached {
        if *role != RoleName::root()
            && *role != RoleName::targets()
            && let Some(version) = version_of(bytes)
        {
            known.insert(role.clone(), version);
        }
    }
    known
}

/// `signed.version` of a metadata file, without verifying anything (and without building
/// the document: every other member is skipped).
fn version_of(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Doc {
        signed: Versioned,
    }
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u64,
    }
    // A duplicate `signed` or `version` fails the typed parse; the generic value then
    // keeps the last, as it always did.
    if let Ok(doc) = serde_json::from_slice::<Doc>(bytes) {
        return Some(doc.signed.version);
    }
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    doc.get("signed")?.get("version")?.as_u64()
}
