//! The trust service: what each API call does, independent of HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use signet_core::encoding::hex_encode;
use signet_core::metadata::{Role, Unsigned};
use signet_core::update::{SnapshotPlan, snapshot_for, timestamp_for, timestamp_is_stale};
use signet_core::{
    PublicKey, RepoState, RingVerifier, RoleName, Root, Signed, Snapshot, Timestamp, UnixTime,
    UpdateError, Upload, validate_update,
};
use signet_store::{Backend, Change, NewRecord, Store, StoreError, UnixMicros};

use crate::error::ApiError;
use crate::freshness::FreshnessGate;
use crate::keys::{KeyError, KeyService};
use crate::replica::{Cache, Replica};
use signet_service::Clock;
use signet_service::errors::chain;
use signet_service::metrics::Collector;

/// One stored file as served: exact bytes and when it was written.
#[derive(Clone, Debug)]
pub struct Served {
    /// The exact stored bytes.
    pub bytes: Bytes,
    /// Last-Modified time.
    pub modified: UnixMicros,
}

/// The current timestamp and snapshot of one GUN, with what the snapshot lists.
#[derive(Debug)]
struct CurrentView {
    timestamp: Served,
    snapshot: Served,
    /// role → sha256 hex, from the snapshot's meta.
    roles: HashMap<String, String>,
    /// Files the snapshot names, once read: immutable for the life of the view.
    files: RwLock<HashMap<String, Served>>,
    /// The view must be rebuilt (and maybe re-signed) from this instant on.
    valid_until: UnixTime,
}

/// Most GUNs whose current view is cached; the cache is dropped whole beyond this.
const MAX_CACHED_GUNS: usize = 10_000;
/// Largest file kept in a view's cache.
const MAX_CACHED_FILE: usize = 1 << 20;
/// Attempts to re-sign an expired timestamp when other writers race us.
const RESIGN_ATTEMPTS: usize = 3;

/// The server's behaviour.
///
/// Current views (timestamp, snapshot and what it lists) are cached per GUN. With SQLite
/// this process sees every write (one process per database). With PostgreSQL other
/// replicas write too (every write, re-signing and deletion adds a changefeed entry): a
/// read uses the cache when change notifications prove it current ([`Replica`], no query),
/// and otherwise first passes a [`FreshnessGate`], whose checks apply the changefeed
/// entries committed since the last check. A write is acknowledged once the other replicas
/// have applied it. Every invalidation bumps `generation`; a view read from the database is
/// cached only if no invalidation happened meanwhile.
// `FreshnessGate` and `Replica` are private: the links serve `cargo doc
// --document-private-items` readers.
#[allow(rustdoc::private_intra_doc_links)]
pub struct TrustService {
    store: Store,
    keys: KeyService,
    clock: Clock,
    views: RwLock<HashMap<String, Arc<CurrentView>>>,
    generation: AtomicU64,
    /// PostgreSQL only.
    gate: Option<FreshnessGate>,
    /// PostgreSQL only.
    replica: Option<Replica>,
    /// The last changefeed id applied to the cache.
    seen_change: AtomicI64,
}

impl TrustService {
    /// Closes the store (checkpointing SQLite's write-ahead log); for shutdown.
    pub async fn close(&self) {
        if let Some(replica) = &self.replica {
            replica.close(&self.store).await;
        }
        self.store.close().await;
    }

    /// A service over `store`, signing with `keys`.
    pub fn new(store: Store, keys: KeyService, clock: Clock) -> Self {
        let shared = store.backend() != Backend::Sqlite;
        Self {
            store,
            keys,
            clock,
            views: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            gate: shared.then(FreshnessGate::new),
            replica: shared.then(Replica::new),
            seen_change: AtomicI64::new(0),
        }
    }

    /// How reads were kept fresh across replicas (PostgreSQL only), for `/metrics`.
    pub fn replica_metrics(&self) -> Option<Arc<dyn Collector>> {
        self.replica
            .as_ref()
            .map(|r| -> Arc<dyn Collector> { r.stats() })
    }

    /// Keeps the cache current with writes by other server processes on a shared database:
    /// listens for their changes, renews this replica's lease, and runs freshness checks for
    /// reads the notifications cannot vouch for. Returns at once for SQLite; otherwise runs
    /// until the process ends.
    pub async fn follow_changes(&self) {
        let (Some(gate), Some(replica)) = (&self.gate, &self.replica) else {
            return;
        };
        // Start from the newest change: nothing is cached yet.
        match self.store.changefeed(None, -1, -1).await {
            Ok(newest) => {
                if let Some(c) = newest.last() {
                    self.seen_change.store(c.id, Ordering::SeqCst);
                }
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "cannot read the changefeed; caching waits for the database")
            }
        }
        tokio::join!(
            gate.run(|| self.apply_changes()),
            replica.run(&self.store, self)
        );
    }

    /// Invalidates the views of GUNs changed since the last check. `false` if the changes
    /// could not be read (the cache is then dropped and reads go to the database).
    async fn apply_changes(&self) -> bool {
        const PAGE: i64 = 1000;
        if let Some(r) = &self.replica {
            r.counters().checks.fetch_add(1, Ordering::Relaxed);
        }
        let seen = self.seen_change.load(Ordering::SeqCst);
        match self.store.changefeed(None, seen, PAGE).await {
            Ok(changes) => {
                if changes.len() >= PAGE as usize {
                    self.invalidate_all();
                } else {
                    for c in &changes {
                        self.invalidate(&c.gun);
                    }
                }
                if let Some(last) = changes.last() {
                    self.seen_change.fetch_max(last.id, Ordering::SeqCst);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "cannot read the changefeed; serving from the database");
                self.invalidate_all();
                false
            }
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn invalidate(&self, gun: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut v) = self.views.write() {
            v.remove(gun);
        }
    }

    fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut v) = self.views.write() {
            v.clear();
        }
    }

    /// Current metadata of `role`: the timestamp (re-signed if expired), the snapshot it
    /// names, or the version of another role the current snapshot names.
    pub async fn current(&self, gun: &str, role: &str) -> Result<Option<Served>, ApiError> {
        let Some(view) = self.current_view(gun).await? else {
            return Ok(None);
        };
        match role {
            "timestamp" => Ok(Some(view.timestamp.clone())),
            "snapshot" => Ok(Some(view.snapshot.clone())),
            _ => {
                let Some(sum) = view.roles.get(role) else {
                    return Ok(None);
                };
                if let Some(f) = view.files.read().ok().and_then(|m| m.get(role).cloned()) {
                    return Ok(Some(f));
                }
                let served = self.by_checksum(gun, role, sum).await?;
                if let Some(f) = &served
                    && f.bytes.len() <= MAX_CACHED_FILE
                    && let Ok(mut m) = view.files.write()
                {
                    m.insert(role.to_owned(), f.clone());
                }
                Ok(served)
            }
        }
    }

    /// A role by sha256 of its bytes.
    pub async fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<Served>, ApiError> {
        Ok(self
            .store
            .by_checksum(gun, role, sha256_hex)
            .await
            .map_err(internal)?
            .map(|r| Served {
                bytes: Bytes::from(r.data),
                modified: r.created_at,
            }))
    }

    /// A role by version.
    pub async fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: u64,
    ) -> Result<Option<Served>, ApiError> {
        Ok(self
            .store
            .by_version(gun, role, version)
            .await
            .map_err(internal)?
            .map(|r| Served {
                bytes: Bytes::from(r.data),
                modified: r.created_at,
            }))
    }

    async fn current_view(&self, gun: &str) -> Result<Option<Arc<CurrentView>>, ApiError> {
        let now = self.clock.now();
        let cache_on = match (&self.replica, &self.gate) {
            (Some(replica), Some(gate)) => {
                let stats = replica.counters();
                if replica.proven() {
                    stats.notified_reads.fetch_add(1, Ordering::Relaxed);
                    true
                } else if gate.wait().await {
                    stats.checked_reads.fetch_add(1, Ordering::Relaxed);
                    true
                } else {
                    stats.uncached_reads.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
            _ => true,
        };
        if cache_on
            && let Some(v) = self.views.read().ok().and_then(|m| m.get(gun).cloned())
            && now < v.valid_until
        {
            return Ok(Some(v));
        }
        for _ in 0..RESIGN_ATTEMPTS {
            let generation = self.generation.load(Ordering::SeqCst);
            match self.load_view(gun, now).await {
                Err(ApiError::Version) => continue, // another writer re-signed first; reload
                Ok(Some(view)) => {
                    let view = Arc::new(view);
                    if cache_on
                        && let Ok(mut m) = self.views.write()
                        && self.generation.load(Ordering::SeqCst) == generation
                    {
                        if m.len() >= MAX_CACHED_GUNS {
                            m.clear();
                        }
                        m.insert(gun.to_owned(), view.clone());
                    }
                    return Ok(Some(view));
                }
                other => return other.map(|v| v.map(Arc::new)),
            }
        }
        Err(ApiError::Internal(format!(
            "could not refresh the timestamp of {gun}: writers kept racing"
        )))
    }

    /// Reads the current timestamp and snapshot; signs a new snapshot if it expired (and
    /// the server holds its key) and a new timestamp if it expired or is stale.
    async fn load_view(&self, gun: &str, now: UnixTime) -> Result<Option<CurrentView>, ApiError> {
        let Some(ts_row) = self
            .store
            .latest(gun, "timestamp")
            .await
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let ts = Signed::<Timestamp>::from_bytes(&ts_row.data).map_err(corrupt)?;
        let snap_row = match ts.signed.meta.get("snapshot").and_then(|m| m.sha256()) {
            Some(sum) => self
                .store
                .by_checksum(gun, "snapshot", &hex_encode(sum))
                .await
                .map_err(internal)?,
            None => None,
        };
        let snap_row = match snap_row {
            Some(r) => r,
            None => self
                .store
                .latest(gun, "snapshot")
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    ApiError::Internal(format!("{gun} has a timestamp but no snapshot"))
                })?,
        };
        let mut snapshot = Signed::<Snapshot>::from_bytes(&snap_row.data).map_err(corrupt)?;
        let mut snapshot_served = Served {
            bytes: Bytes::from(snap_row.data),
            modified: snap_row.updated_at,
        };
        let mut timestamp = ts;
        let mut timestamp_served = Served {
            bytes: Bytes::from(ts_row.data),
            modified: ts_row.updated_at,
        };

        let mut writes = Vec::new();
        let snapshot_expired = snapshot.expires().is_expired(now);
        if snapshot_expired || timestamp_is_stale(&timestamp.signed, &snapshot_served.bytes, now) {
            // What is stored, served as it is if the signer cannot sign a replacement.
            let stored = CurrentView {
                timestamp: timestamp_served.clone(),
                snapshot: snapshot_served.clone(),
                roles: roles_of(&snapshot),
                files: RwLock::new(HashMap::new()),
                valid_until: now,
            };
            let root = self.current_root(gun).await?;
            if snapshot_expired {
                let draft =
                    snapshot_for(&root.signed, Some(&snapshot.signed), [], now).map_err(corrupt)?;
                snapshot = match self.sign_draft(gun, draft).await {
                    Ok(s) => s.ok_or_else(|| {
                        ApiError::Internal(format!(
                            "snapshot of {gun} expired and the server does not hold its key"
                        ))
                    })?,
                    Err(e) if e.is_signer_failure() => {
                        return Ok(Some(unrefreshed(gun, stored, &e)));
                    }
                    Err(e) => return Err(key_err(e)),
                };
                writes.push(record(
                    RoleName::snapshot(),
                    snapshot.version(),
                    snapshot.bytes(),
                ));
            }
            let draft = timestamp_for(&root.signed, Some(&timestamp.signed), snapshot.bytes(), now)
                .map_err(corrupt)?;
            timestamp = match self.sign_draft(gun, draft).await {
                Ok(t) => t.ok_or_else(|| {
                    ApiError::Internal(format!("the server holds no timestamp key of {gun}"))
                })?,
                Err(e) if e.is_signer_failure() => return Ok(Some(unrefreshed(gun, stored, &e))),
                Err(e) => return Err(key_err(e)),
            };
            writes.push(record(
                RoleName::timestamp(),
                timestamp.version(),
                timestamp.bytes(),
            ));
            self.store.update(gun, &writes).await.map_err(store_err)?;
            self.await_replicas().await;
            let modified = UnixMicros(self.clock.now_micros());
            snapshot_served = Served {
                bytes: Bytes::copy_from_slice(snapshot.bytes()),
                modified: if snapshot_expired {
                    modified
                } else {
                    snapshot_served.modified
                },
            };
            timestamp_served = Served {
                bytes: Bytes::copy_from_slice(timestamp.bytes()),
                modified,
            };
        }
        let roles = roles_of(&snapshot);
        let valid_until = timestamp
            .expires()
            .instant()
            .min(snapshot.expires().instant());
        Ok(Some(CurrentView {
            timestamp: timestamp_served,
            snapshot: snapshot_served,
            roles,
            files: RwLock::new(HashMap::new()),
            valid_until,
        }))
    }

    async fn current_root(&self, gun: &str) -> Result<Signed<Root>, ApiError> {
        let row = self
            .store
            .latest(gun, "root")
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::Internal(format!("{gun} has no root")))?;
        Signed::<Root>::from_bytes(&row.data).map_err(corrupt)
    }

    /// Validates and applies an update atomically: uploaded roles, plus the snapshot (if
    /// the server signs it) and a new timestamp, in one transaction.
    pub async fn update(&self, gun: &str, uploads: Vec<Upload>) -> Result<(), ApiError> {
        let now = self.clock.now();
        let rows = self.store.latest_all(gun).await.map_err(internal)?;
        // Parsing, canonicalising and verifying up to a whole upload is CPU work: off the
        // async workers, so other requests (health checks above all) keep being answered.
        let owned_gun = gun.to_owned();
        let (state, update) = tokio::task::spawn_blocking(move || {
            let state =
                RepoState::from_files(rows.iter().map(|r| (r.role.as_str(), r.data.as_slice())))
                    .map_err(corrupt)?;
            let update = validate_update(&owned_gun, &state, uploads, now, &RingVerifier)?;
            Ok::<_, ApiError>((state, update))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("validation task failed: {e}")))??;
        let mut records: Vec<NewRecord> = update
            .files
            .into_iter()
            .map(|(role, version, data)| NewRecord {
                role: role.as_str().to_owned(),
                version,
                data,
            })
            .collect();
        let snapshot_bytes = match update.snapshot {
            SnapshotPlan::Uploaded(s) => s.bytes().to_vec(),
            SnapshotPlan::Sign(draft) => {
                let signed = self.sign_draft(gun, draft).await.map_err(sign_err)?.ok_or_else(|| UpdateError::BadHierarchy {
                    missing: "snapshot".to_owned(),
                    msg: "no snapshot was included in update and server does not hold current snapshot key for repository"
                        .to_owned(),
                })?;
                records.push(record(
                    RoleName::snapshot(),
                    signed.version(),
                    signed.bytes(),
                ));
                signed.bytes().to_vec()
            }
        };
        let draft = timestamp_for(
            &update.root.signed,
            state.timestamp.as_ref().map(|t| &t.signed),
            &snapshot_bytes,
            now,
        )
        .map_err(corrupt)?;
        // Notary's message, double space included.
        let ts = self
            .sign_draft(gun, draft)
            .await
            .map_err(sign_err)?
            .ok_or_else(|| {
                UpdateError::BadRoot("no  timestamp keys exist on the server".to_owned())
            })?;
        records.push(record(RoleName::timestamp(), ts.version(), ts.bytes()));
        let result = self.store.update(gun, &records).await.map_err(store_err);
        self.invalidate(gun);
        result?;
        self.await_replicas().await;
        Ok(())
    }

    /// After a committed write: returns once every other replica has applied it (see
    /// [`Replica::await_replicas`]). At once on SQLite.
    // `Replica` is private: the link serves `cargo doc --document-private-items` readers.
    #[allow(rustdoc::private_intra_doc_links)]
    async fn await_replicas(&self) {
        if let Some(replica) = &self.replica {
            replica
                .await_replicas(&self.store, std::time::Instant::now())
                .await;
        }
    }

    /// Signs `draft` with every key root lists for its role that the server holds for
    /// `gun`; `None` if it holds none of them.
    async fn sign_draft<T: Role>(
        &self,
        gun: &str,
        draft: Unsigned<T>,
    ) -> Result<Option<Signed<T>>, KeyError> {
        let sigs = self
            .keys
            .sign_with_held(gun, draft.role.as_str(), &draft.keyids, draft.payload())
            .await?;
        Ok((!sigs.is_empty()).then(|| draft.assemble(&sigs)))
    }

    /// Deletes every version of every role of `gun`. Server keys are kept.
    pub async fn delete(&self, gun: &str) -> Result<(), ApiError> {
        let result = self.store.delete(gun).await.map(|_| ()).map_err(internal);
        self.invalidate(gun);
        result?;
        self.await_replicas().await;
        Ok(())
    }

    /// The server's key for `role`: the first key current root lists that the server
    /// holds, else an unused key (created if needed).
    pub async fn key(&self, gun: &str, role: &str) -> Result<PublicKey, ApiError> {
        if let Some(row) = self.store.latest(gun, "root").await.map_err(internal)? {
            let root = Signed::<Root>::from_bytes(&row.data).map_err(corrupt)?;
            if let Some(keys) = root.signed.roles.get(role) {
                for id in &keys.keyids {
                    if let Some(k) = self.keys.held(gun, role, id).await.map_err(key_err)? {
                        return Ok(k);
                    }
                }
            }
        }
        self.keys.unused_or_create(gun, role).await.map_err(key_err)
    }

    /// A new key for `role`, effective once a root listing it is uploaded.
    pub async fn rotate_key(&self, gun: &str, role: &str) -> Result<PublicKey, ApiError> {
        self.keys.create(gun, role).await.map_err(key_err)
    }

    /// Changefeed records.
    pub async fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, ApiError> {
        self.store
            .changefeed(gun, change_id, records)
            .await
            .map_err(internal)
    }
}

impl Cache for TrustService {
    fn invalidate(&self, gun: Option<&str>) {
        match gun {
            Some(gun) => TrustService::invalidate(self, gun),
            None => self.invalidate_all(),
        }
    }

    fn applied(&self, id: i64) -> i64 {
        self.seen_change.fetch_max(id, Ordering::SeqCst).max(id)
    }
}

fn record(role: RoleName, version: u64, bytes: &[u8]) -> NewRecord {
    NewRecord {
        role: role.as_str().to_owned(),
        version,
        data: bytes.to_vec(),
    }
}

// 5xx details go to the log only (never to the client), with the whole cause.
fn internal(e: StoreError) -> ApiError {
    ApiError::Internal(chain(&e))
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::VersionConflict { .. } => ApiError::Version,
        other => ApiError::Updating(chain(&other)),
    }
}

fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("stored metadata is unreadable: {e}"))
}

fn key_err(e: KeyError) -> ApiError {
    ApiError::Internal(chain(&e))
}

/// A signature an update needs could not be made. A remote signer's failure is answered
/// as notary-server answers it (its signing error becomes an `ErrValidation` of the
/// update); the transport's detail goes to the log only.
fn sign_err(e: KeyError) -> ApiError {
    let msg = match &e {
        KeyError::Signer { source, .. } => {
            let desc = if source.is_unreachable() {
                "the signing service is unavailable"
            } else {
                source.message()
            };
            format!("rpc error: code = {:?} desc = {desc}", source.code())
        }
        KeyError::SignerMisbehaved { .. } => {
            "the signing service returned an unusable answer".to_owned()
        }
        _ => return key_err(e),
    };
    tracing::error!(error = %chain(&e), "cannot sign the update");
    ApiError::InvalidUpdate(UpdateError::Validation(msg))
}

/// The stored view, served while the signer cannot sign its replacement; not cached (it is
/// valid until now), so the next read tries again.
fn unrefreshed(gun: &str, stored: CurrentView, e: &KeyError) -> CurrentView {
    tracing::warn!(
        gun,
        error = %chain(e),
        "cannot re-sign the timestamp or snapshot: serving the stored ones"
    );
    stored
}

/// role → sha256 hex of what `snapshot` lists.
fn roles_of(snapshot: &Signed<Snapshot>) -> HashMap<String, String> {
    snapshot
        .signed
        .meta
        .iter()
        .filter_map(|(role, m)| Some((role.clone(), hex_encode(m.sha256()?))))
        .collect()
}
