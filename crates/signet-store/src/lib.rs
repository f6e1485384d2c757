//! Storage for the Signet trust server: TUF metadata versions, the changefeed, server-held signing
//! keys (encrypted by the caller) and a few settings, on SQLite or PostgreSQL.
//!
//! This is the Rust counterpart of Notary's `server/storage` SQL backend (`sqldb.go`): one row per
//! stored version of every role of every repository (GUN), stored exactly as uploaded and served
//! back byte for byte, plus Notary 0.7's changefeed.
//!
//! # Non-goals
//!
//! * No TUF validation: the caller checks signatures, hierarchy and versions' meaning; this crate
//!   only enforces that versions of a role strictly increase.
//! * No cryptography on keys: private keys arrive encrypted and leave encrypted.
//! * No MySQL or RethinkDB, no soft deletes, no `query!` macros (all SQL is checked by the tests
//!   against both backends instead).
//!
//! # Concurrency
//!
//! [`Store::update`] and [`Store::delete`] are atomic. On SQLite all writes go through one
//! connection and run under `BEGIN IMMEDIATE`, so writers queue instead of failing with
//! `SQLITE_BUSY`. On PostgreSQL a writer takes a transaction-scoped advisory lock on the GUN before
//! checking versions, so two servers sharing a database see each other's commits; the unique index
//! on `(gun, role, version)` is the backstop, and its violation is reported as
//! [`StoreError::VersionConflict`] as well. Changefeed rows take a second, global advisory lock just
//! before they are written, so their ids become visible in increasing order and a reader paging
//! by id never skips a change. On PostgreSQL each changefeed row is also announced to listeners
//! after commit (schema v3's trigger); see [`Store::listen_changes`] and the leases of
//! server replicas ([`Store::renew_replica`], [`Store::replicas_behind`]).
//!
//! # Example
//!
//! ```
//! use signet_store::{NewRecord, Store, StoreError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! let store = Store::connect("sqlite::memory:").await?;
//! let timestamp = NewRecord { role: "timestamp".into(), version: 1, data: b"{}".to_vec() };
//! store.update("example.com/app", &[timestamp.clone()]).await?;
//!
//! let latest = store.latest("example.com/app", "timestamp").await?.expect("just stored");
//! assert_eq!(latest.data, b"{}");
//!
//! // Storing the same version again is rejected and changes nothing.
//! let err = store.update("example.com/app", &[timestamp]).await.unwrap_err();
//! assert!(matches!(err, StoreError::VersionConflict { version: 1, .. }));
//!
//! // Every stored timestamp is one changefeed entry.
//! let changes = store.changefeed(None, 0, 100).await?;
//! assert_eq!(changes.len(), 1);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod model;
mod schema;
pub mod seal;
mod url;

use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ring::digest;
use signet_service::Clock;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Database, Transaction};

use crate::error::TxError;
pub use crate::error::{Backend, StoreError};
pub use crate::model::{
    Change, ChangeCategory, MetaRecord, NewRecord, NewServerKey, NewSignerKey, ServerKey,
    SignerKey, UnixMicros,
};
use crate::model::{
    change_from_row, key_from_row, meta_from_row, setting_from_row, signer_key_from_row,
};
pub use crate::replicas::{
    CHANGE_CHANNEL, ChangeEvent, ChangeListener, LISTENER_APPLICATION, ReplicaLag,
};
pub use crate::schema::{MIGRATIONS, Migration, SCHEMA_VERSION};
use crate::url::DbUrl;
pub use crate::url::{describe as describe_url, sqlite_path};

/// How long an SQLite connection waits for another process's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections per SQLite file (WAL readers never block the writer).
const SQLITE_READERS: u32 = 8;
/// Connections per PostgreSQL pool.
const POSTGRES_CONNECTIONS: u32 = 16;
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The role whose stored versions produce changefeed entries.
const TIMESTAMP_ROLE: &str = "timestamp";

const META_COLUMNS_LATEST: &str = "SELECT gun, role, version, sha256, data, created_at, updated_at
FROM tuf_files WHERE gun = $1 AND role = $2 ORDER BY version DESC LIMIT 1";
const META_BY_VERSION: &str = "SELECT gun, role, version, sha256, data, created_at, updated_at
FROM tuf_files WHERE gun = $1 AND role = $2 AND version = $3";
// Notary's gorm `First` orders by primary key, i.e. the oldest matching row wins.
const META_BY_CHECKSUM: &str = "SELECT gun, role, version, sha256, data, created_at, updated_at
FROM tuf_files WHERE gun = $1 AND role = $2 AND sha256 = $3 ORDER BY id ASC LIMIT 1";
const META_LATEST_ALL: &str =
    "SELECT t.gun, t.role, t.version, t.sha256, t.data, t.created_at, t.updated_at
FROM tuf_files t
WHERE t.gun = $1
  AND t.version = (SELECT MAX(m.version) FROM tuf_files m WHERE m.gun = t.gun AND m.role = t.role)";
const META_NEWEST_AT_LEAST: &str =
    "SELECT version FROM tuf_files WHERE gun = $1 AND role = $2 AND version >= $3
ORDER BY version DESC LIMIT 1";
const META_INSERT: &str =
    "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)";
const META_DELETE: &str = "DELETE FROM tuf_files WHERE gun = $1";

const CHANGE_INSERT: &str = "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES ($1, $2, $3, $4, $5)";
const CHANGES_AFTER: &str = "SELECT id, created_at, gun, version, sha256, category
FROM changefeed WHERE id > $1 ORDER BY id ASC LIMIT $2";
const CHANGES_AFTER_FOR_GUN: &str = "SELECT id, created_at, gun, version, sha256, category
FROM changefeed WHERE id > $1 AND gun = $3 ORDER BY id ASC LIMIT $2";
const CHANGES_NEWEST_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM changefeed";
const CHANGES_BEFORE: &str = "SELECT id, created_at, gun, version, sha256, category
FROM changefeed WHERE id < $1 ORDER BY id DESC LIMIT $2";
const CHANGES_BEFORE_FOR_GUN: &str = "SELECT id, created_at, gun, version, sha256, category
FROM changefeed WHERE id < $1 AND gun = $3 ORDER BY id DESC LIMIT $2";

const KEY_COLUMNS_BY_ID: &str =
    "SELECT key_id, gun, role, algorithm, public_key, private_key, created_at, last_used
FROM server_keys WHERE key_id = $1";
const KEYS_UNUSED: &str =
    "SELECT key_id, gun, role, algorithm, public_key, private_key, created_at, last_used
FROM server_keys WHERE gun = $1 AND role = $2 AND algorithm = $3 AND last_used IS NULL";
const KEYS_FOR: &str =
    "SELECT key_id, gun, role, algorithm, public_key, private_key, created_at, last_used
FROM server_keys WHERE gun = $1 AND role = $2 ORDER BY id ASC";
const KEY_INSERT: &str = "INSERT INTO server_keys
(key_id, gun, role, algorithm, public_key, private_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
// Only keys of GUNs with no stored metadata: a repository that published keeps every key.
const KEYS_EXPIRE_UNUSED: &str = "DELETE FROM server_keys
WHERE last_used IS NULL AND created_at < $1
  AND NOT EXISTS (SELECT 1 FROM tuf_files t WHERE t.gun = server_keys.gun)";
const KEY_MARK_USED: &str =
    "UPDATE server_keys SET last_used = $1 WHERE key_id = $2 AND last_used IS NULL";

const SIGNER_KEY_COLUMNS: &str = "SELECT key_id, gun, role, algorithm, passphrase_alias, \
public_key, private_key, created_at, last_used FROM signer_keys";
const SIGNER_KEY_BY_ID: &str = "SELECT key_id, gun, role, algorithm, passphrase_alias, \
public_key, private_key, created_at, last_used FROM signer_keys WHERE key_id = $1";
const SIGNER_KEYS_UNUSED: &str = "SELECT key_id, gun, role, algorithm, passphrase_alias, \
public_key, private_key, created_at, last_used FROM signer_keys \
WHERE gun = $1 AND role = $2 AND algorithm = $3 AND last_used IS NULL";
const SIGNER_KEY_INSERT: &str = "INSERT INTO signer_keys \
(key_id, gun, role, algorithm, passphrase_alias, public_key, private_key, created_at) \
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const SIGNER_KEY_MARK_USED: &str =
    "UPDATE signer_keys SET last_used = $1 WHERE key_id = $2 AND last_used IS NULL";
const SIGNER_KEY_DELETE: &str = "DELETE FROM signer_keys WHERE key_id = $1";

const SETTING_SELECT: &str = "SELECT value FROM signet_settings WHERE name = $1";
const SETTING_INSERT: &str =
    "INSERT INTO signet_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
const SETTING_UPSERT: &str = "INSERT INTO signet_settings (name, value) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET value = excluded.value";
/// The setting [`Store::health`] rewrites to find out whether writes work again.
const WRITE_PROBE_SETTING: &str = "health.write_probe";

/// A connection pool to the Signet database. Cheap to clone; clones share the pool.
///
/// Times written to rows (`created_at`, `last_used`) come from the store's [`Clock`]: the
/// system clock unless [`Store::with_clock`] gives another.
///
/// # Write failures
///
/// A write that fails for a database reason (a full disk, a lost connection, a broken
/// transaction state) closes the connection it ran on instead of returning it to the pool, so
/// the next write starts on a fresh connection: with SQLite's single writer, a failed `COMMIT`
/// would otherwise leave that one connection inside a transaction and fail every later write.
/// The failure is logged with its whole cause, and [`Store::health`] fails until a write
/// succeeds again (it tries one itself). Rejections of the data (version conflicts) are not
/// failures of the store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Inner,
    clock: Clock,
    /// Set by a write that failed for a database reason, cleared by the next that succeeds.
    write_failed: Arc<AtomicBool>,
}

#[derive(Clone, Debug)]
enum Inner {
    /// `write` has exactly one connection, so writers in this process queue in the pool rather
    /// than on SQLite's lock. For `sqlite::memory:` both are the same single-connection pool,
    /// and `memory` is set: that connection is the database and is never closed on failure.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        memory: bool,
    },
    Postgres(PgPool),
}

/// Runs `$body` (an `async` block body returning `Result<_, sqlx::Error>`) with `$pool` bound to
/// the backend's read pool, and classifies the error for operation `$op`.
macro_rules! with_reader {
    ($store:expr, $op:literal, |$pool:ident| $body:block) => {{
        let store: &Store = $store;
        let result: Result<_, sqlx::Error> = match &store.inner {
            Inner::Sqlite { read: $pool, .. } => async $body.await,
            Inner::Postgres($pool) => async $body.await,
        };
        result.map_err(|err| StoreError::from_sqlx(store.backend(), $op, err))
    }};
}

/// Runs `$body` (an `async` block body returning `Result<_, TxError>`) in a write transaction with
/// `$tx: &mut Transaction`; commits on `Ok`, rolls back on `Err`. A failure of the database
/// (not a rejection of the data) closes the connection instead of returning it to the pool,
/// logs the cause and marks the store as failing writes; a success clears that mark.
macro_rules! in_write_tx {
    ($store:expr, $op:literal, |$tx:ident| $body:block) => {{
        let store: &Store = $store;
        let backend = store.backend();
        let result = match &store.inner {
            Inner::Sqlite { write, memory, .. } => {
                let memory = *memory;
                match write.acquire().await {
                    Err(err) => Err(StoreError::from_sqlx(backend, $op, err)),
                    Ok(mut conn) => {
                        let result = match conn.begin_with("BEGIN IMMEDIATE").await {
                            Err(err) => Err(StoreError::from_sqlx(backend, $op, err)),
                            Ok(mut tx) => {
                                let result: Result<_, TxError> = {
                                    let $tx = &mut tx;
                                    async move $body.await
                                };
                                finish(tx, result, backend, $op).await
                            }
                        };
                        if !memory {
                            recycle_on_failure(conn, &result, backend, $op).await;
                        }
                        result
                    }
                }
            }
            Inner::Postgres(pool) => match pool.acquire().await {
                Err(err) => Err(StoreError::from_sqlx(backend, $op, err)),
                Ok(mut conn) => {
                    let result = match conn.begin().await {
                        Err(err) => Err(StoreError::from_sqlx(backend, $op, err)),
                        Ok(mut tx) => {
                            let result: Result<_, TxError> = {
                                let $tx = &mut tx;
                                async move $body.await
                            };
                            finish(tx, result, backend, $op).await
                        }
                    };
                    recycle_on_failure(conn, &result, backend, $op).await;
                    result
                }
            },
        };
        store.note_write(&result, $op);
        result
    }};
}

// After the macros above, which it does not use but may.
mod replicas;

impl Store {
    /// Connects to the database at `url` and brings its schema up to [`SCHEMA_VERSION`]
    /// by running the missing steps of [`MIGRATIONS`] (see the `schema` module docs in the
    /// source: one transaction per step, serialised across processes).
    ///
    /// URL forms:
    /// * `sqlite:///abs/path.db`, `sqlite://relative.db` or `sqlite:relative.db` (relative to the
    ///   current directory at the time of the call). A missing file is created with mode 0600.
    ///   The connection uses WAL, a 5 s busy timeout and foreign keys.
    /// * `sqlite::memory:` — a private in-memory database on a single connection, for tests.
    /// * `postgres://user[:password]@host[:port]/db[?params]` and `postgresql://…`, with
    ///   `sqlx`'s parameters (e.g. `sslmode`).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`] for an unusable URL, [`StoreError::Unavailable`] if the
    /// database cannot be opened or reached, [`StoreError::SchemaTooNew`] if a newer Signet wrote
    /// the schema, [`StoreError::Migration`] if a schema step fails (it is rolled back).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_migrations(url, MIGRATIONS).await
    }

    /// [`Store::connect`] with another list of schema steps instead of [`MIGRATIONS`]: the
    /// database is brought up to the last of `migrations`, and refused if it is newer. For
    /// tests of the migration runner and for tools; a server uses [`Store::connect`].
    ///
    /// # Errors
    ///
    /// As [`Store::connect`], and [`StoreError::InvalidMigrations`] (before connecting) if
    /// `migrations` is not numbered 1, 2, 3, … in order.
    pub async fn connect_with_migrations(
        url: &str,
        migrations: &[Migration],
    ) -> Result<Self, StoreError> {
        schema::check_list(migrations)
            .map_err(|reason| StoreError::InvalidMigrations { reason })?;
        let store = match DbUrl::parse(url)? {
            DbUrl::SqliteMemory => {
                let options = SqliteConnectOptions::from_str("sqlite::memory:")
                    .map_err(|err| unavailable(Backend::Sqlite, err))?
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                // The database lives exactly as long as its only connection, so keep it forever.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|err| unavailable(Backend::Sqlite, err))?;
                Self {
                    inner: Inner::Sqlite {
                        read: pool.clone(),
                        write: pool,
                        memory: true,
                    },
                    clock: Clock::system(),
                    write_failed: Arc::default(),
                }
            }
            DbUrl::SqliteFile(path) => {
                create_private_file(&path)
                    .map_err(|err| unavailable(Backend::Sqlite, sqlx::Error::Io(err)))?;
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                // The writer connects first so it is the one switching the file to WAL.
                let write = open_sqlite_pool(&options, 1)
                    .await
                    .map_err(|err| unavailable(Backend::Sqlite, err))?;
                let read = open_sqlite_pool(&options, SQLITE_READERS)
                    .await
                    .map_err(|err| unavailable(Backend::Sqlite, err))?;
                Self {
                    inner: Inner::Sqlite {
                        read,
                        write,
                        memory: false,
                    },
                    clock: Clock::system(),
                    write_failed: Arc::default(),
                }
            }
            DbUrl::Postgres(options) => {
                let options = (*options).application_name("signet");
                // One direct connection first: the pool would report an unreachable or
                // refusing server only as "pool timed out", without the reason.
                let probe =
                    tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
                        .await
                        .map_err(|_| unavailable(Backend::Postgres, sqlx::Error::PoolTimedOut))?
                        .map_err(|err| unavailable(Backend::Postgres, err))?;
                let _ = probe.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|err| unavailable(Backend::Postgres, err))?;
                Self {
                    inner: Inner::Postgres(pool),
                    clock: Clock::system(),
                    write_failed: Arc::default(),
                }
            }
        };
        store.migrate(migrations).await?;
        Ok(store)
    }

    /// The same store, writing times from `clock` (tests move it).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Writes a consistent copy of a SQLite database to `dest` while it is in use
    /// (`VACUUM INTO`): a complete, compact database file that a server can open as it is.
    /// `dest` must not exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on PostgreSQL (use `pg_dump`); [`StoreError::Database`]
    /// if the copy cannot be written (nothing is left at `dest` then).
    pub async fn backup_to(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        let Inner::Sqlite { write, .. } = &self.inner else {
            return Err(StoreError::Unsupported {
                what: "backup of a PostgreSQL database: use pg_dump",
            });
        };
        let target = dest.to_string_lossy().into_owned();
        let result = sqlx::query("VACUUM INTO $1")
            .bind(&target)
            .execute(write)
            .await;
        if let Err(source) = result {
            return Err(StoreError::from_sqlx(Backend::Sqlite, "backup", source));
        }
        Ok(())
    }

    /// The schema version recorded in the database.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        with_reader!(self, "schema_version", |pool| {
            sqlx::query_scalar(schema::SELECT_VERSION)
                .fetch_one(pool)
                .await
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (`SELECT 1`) and, if the last write failed for a
    /// database reason, that writes work again: it then commits a small write of its own (the
    /// setting `health.write_probe`), whose success clears the failure.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] (or [`StoreError::Database`]) if the database does not
    /// answer, or the last write failed and the probe write fails too.
    pub async fn health(&self) -> Result<(), StoreError> {
        with_reader!(self, "health", |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })?;
        if self.write_failed.load(Ordering::SeqCst) {
            let stamp = self.clock.now_micros().to_be_bytes();
            in_write_tx!(self, "health write probe", |tx| {
                sqlx::query(SETTING_UPSERT)
                    .bind(WRITE_PROBE_SETTING)
                    .bind(stamp.as_slice())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Whether the last write failed for a database reason (and none has succeeded since).
    pub fn writes_failing(&self) -> bool {
        self.write_failed.load(Ordering::SeqCst)
    }

    /// Records the outcome of a write transaction for [`Store::health`].
    fn note_write<T>(&self, result: &Result<T, StoreError>, op: &'static str) {
        match result {
            Ok(_) => {
                if self.write_failed.swap(false, Ordering::SeqCst) {
                    tracing::info!(backend = %self.backend(), op, "writes succeed again");
                }
            }
            Err(err) if is_store_failure(err) => {
                self.write_failed.store(true, Ordering::SeqCst);
            }
            Err(_) => {}
        }
    }

    /// Closes all pooled connections; later calls fail with [`StoreError::Unavailable`].
    /// On SQLite the write-ahead log is checkpointed into the database file first (without
    /// waiting on other connections), and SQLite folds in and removes the log when the last
    /// connection closes, so the file alone is a complete copy once the server has stopped.
    /// Dropping every clone of the store closes too, without waiting.
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite { read, write, .. } => {
                read.close().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(write)
                    .await
                {
                    tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed");
                }
                write.close().await;
            }
            Inner::Postgres(pool) => pool.close().await,
        }
    }

    /// The highest stored version of `role` in `gun` (Notary `GetCurrent`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn latest(&self, gun: &str, role: &str) -> Result<Option<MetaRecord>, StoreError> {
        with_reader!(self, "latest", |pool| {
            let row = sqlx::query(META_COLUMNS_LATEST)
                .bind(gun)
                .bind(role)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(meta_from_row).transpose()
        })
    }

    /// The stored `version` of `role` in `gun` (Notary `GetVersion`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: u64,
    ) -> Result<Option<MetaRecord>, StoreError> {
        // Versions above i64::MAX can never have been stored.
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        with_reader!(self, "by_version", |pool| {
            let row = sqlx::query(META_BY_VERSION)
                .bind(gun)
                .bind(role)
                .bind(version)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(meta_from_row).transpose()
        })
    }

    /// The stored version of `role` in `gun` whose SHA-256 is `sha256_hex` (Notary `GetChecksum`).
    /// The comparison is exact; stored checksums are lower-case hex. If several versions have the
    /// same bytes, the first stored one is returned.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<MetaRecord>, StoreError> {
        with_reader!(self, "by_checksum", |pool| {
            let row = sqlx::query(META_BY_CHECKSUM)
                .bind(gun)
                .bind(role)
                .bind(sha256_hex)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(meta_from_row).transpose()
        })
    }

    /// The latest version of every role stored for `gun`, in one query, sorted by role name
    /// (byte order). Empty if the GUN has no metadata.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn latest_all(&self, gun: &str) -> Result<Vec<MetaRecord>, StoreError> {
        let mut records = with_reader!(self, "latest_all", |pool| {
            let rows = sqlx::query(META_LATEST_ALL)
                .bind(gun)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(meta_from_row)
                .collect::<Result<Vec<_>, _>>()
        })?;
        records.sort_by(|a, b| a.role.cmp(&b.role));
        Ok(records)
    }

    /// Stores new versions of one or more roles of `gun` atomically (Notary `UpdateMany`).
    ///
    /// The SHA-256 of each record's exact bytes is computed here. Each stored `timestamp` also
    /// gets a changefeed entry (category `update`) in the same transaction. An empty `records`
    /// writes nothing.
    ///
    /// # Errors
    ///
    /// Nothing is written on any error.
    /// * [`StoreError::VersionConflict`] if some record's role already has a stored version
    ///   `>=` the record's version, if a role appears twice in `records`, or if a concurrent
    ///   writer (this or another process) stored the same `(gun, role, version)` first.
    /// * [`StoreError::VersionOutOfRange`] for a version above `i64::MAX`.
    /// * [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn update(&self, gun: &str, records: &[NewRecord]) -> Result<(), StoreError> {
        let mut roles = HashSet::with_capacity(records.len());
        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            let Ok(version) = i64::try_from(record.version) else {
                return Err(StoreError::VersionOutOfRange {
                    role: record.role.clone(),
                    version: record.version,
                });
            };
            if !roles.insert(record.role.as_str()) {
                tracing::debug!(gun, role = %record.role, "role appears twice in one update");
                return Err(conflict(record));
            }
            rows.push((record, version, sha256_hex(&record.data)));
        }
        if rows.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_micros();
        in_write_tx!(self, "update", |tx| {
            tx.lock_gun(gun).await?;
            for (record, version, sha256) in &rows {
                let newer: Option<i64> = sqlx::query_scalar(META_NEWEST_AT_LEAST)
                    .bind(gun)
                    .bind(record.role.as_str())
                    .bind(*version)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some(stored) = newer {
                    tracing::debug!(gun, role = %record.role, offered = *version, stored, "version conflict");
                    return Err(TxError::Store(conflict(record)));
                }
                let inserted = sqlx::query(META_INSERT)
                    .bind(gun)
                    .bind(record.role.as_str())
                    .bind(*version)
                    .bind(sha256.as_str())
                    .bind(record.data.as_slice())
                    .bind(now)
                    .execute(&mut **tx)
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                        tracing::info!(gun, role = %record.role, version = *version, "concurrent writer stored this version first");
                        return Err(TxError::Store(conflict(record)));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            // Plain loops, no iterator adapters held across `.await`: closures in the future's
            // state would make it fail the higher-ranked `Send` check of `tokio::spawn`.
            if rows
                .iter()
                .any(|(record, ..)| record.role == TIMESTAMP_ROLE)
            {
                tx.lock_changefeed().await?;
            }
            for (record, version, sha256) in &rows {
                if record.role != TIMESTAMP_ROLE {
                    continue;
                }
                sqlx::query(CHANGE_INSERT)
                    .bind(now)
                    .bind(gun)
                    .bind(*version)
                    .bind(sha256.as_str())
                    .bind(ChangeCategory::Update.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        })
    }

    /// Hard-deletes every metadata row of exactly `gun` (not GUNs it is a prefix of) and, if any
    /// row was removed, writes a changefeed entry `{category: deletion, version: 0, sha256: ""}`.
    /// Server keys are kept. Returns the number of metadata rows removed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`]; nothing is deleted then.
    pub async fn delete(&self, gun: &str) -> Result<u64, StoreError> {
        let now = self.clock.now_micros();
        in_write_tx!(self, "delete", |tx| {
            tx.lock_gun(gun).await?;
            let removed = sqlx::query(META_DELETE)
                .bind(gun)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if removed > 0 {
                tx.lock_changefeed().await?;
                sqlx::query(CHANGE_INSERT)
                    .bind(now)
                    .bind(gun)
                    .bind(0_i64)
                    .bind("")
                    .bind(ChangeCategory::Deletion.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(removed)
        })
    }

    /// Reads the changefeed with Notary 0.7's semantics (`sqldb.go` `GetChanges`).
    ///
    /// * `records > 0`: up to `records` changes with id `> change_id`, starting at the oldest.
    ///   `change_id` 0 therefore means "from the beginning".
    /// * `records < 0`, or `change_id < 0` (Notary's `-1`, "from the end"): up to `|records|`
    ///   changes going backwards — with id `< change_id` if `change_id > 0`, otherwise the
    ///   newest ones.
    /// * `records == 0`: nothing (the server maps 0 to 100 before calling).
    ///
    /// The result is always ordered by ascending id. `gun: Some(..)` keeps only that GUN's changes
    /// (the limit applies after the filter).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, StoreError> {
        if records == 0 {
            return Ok(Vec::new());
        }
        let reversed = change_id < 0 || records < 0;
        let limit = i64::try_from(records.unsigned_abs()).unwrap_or(i64::MAX);
        let (sql, bound) = match (reversed, gun.is_some()) {
            (false, false) => (CHANGES_AFTER, change_id),
            (false, true) => (CHANGES_AFTER_FOR_GUN, change_id),
            // Ids are positive, so `id < i64::MAX` is "no lower bound on the start".
            (true, false) => (CHANGES_BEFORE, reversed_start(change_id)),
            (true, true) => (CHANGES_BEFORE_FOR_GUN, reversed_start(change_id)),
        };
        let mut changes = with_reader!(self, "changefeed", |pool| {
            let mut query = sqlx::query(sql).bind(bound).bind(limit);
            if let Some(gun) = gun {
                query = query.bind(gun);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(change_from_row)
                .collect::<Result<Vec<_>, _>>()
        })?;
        if reversed {
            changes.reverse();
        }
        Ok(changes)
    }

    /// The id of the newest changefeed entry, 0 if there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn newest_change_id(&self) -> Result<i64, StoreError> {
        with_reader!(self, "newest_change_id", |pool| {
            sqlx::query_scalar(CHANGES_NEWEST_ID).fetch_one(pool).await
        })
    }

    /// Stores a server-held key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the key id is already stored (a unique violation);
    /// [`StoreError::Unavailable`].
    pub async fn insert_key(&self, key: &NewServerKey) -> Result<(), StoreError> {
        let now = self.clock.now_micros();
        in_write_tx!(self, "insert_key", |tx| {
            sqlx::query(KEY_INSERT)
                .bind(key.key_id.as_str())
                .bind(key.gun.as_str())
                .bind(key.role.as_str())
                .bind(key.algorithm.as_str())
                .bind(key.public.as_slice())
                .bind(key.private.as_slice())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    }

    /// The never-used key for `(gun, role, algorithm)` with the lowest key id (byte order), if any.
    /// Notary hands out such a key again instead of generating another one, until
    /// [`mark_key_used`](Self::mark_key_used) is called for it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn unused_key(
        &self,
        gun: &str,
        role: &str,
        algorithm: &str,
    ) -> Result<Option<ServerKey>, StoreError> {
        let keys = with_reader!(self, "unused_key", |pool| {
            let rows = sqlx::query(KEYS_UNUSED)
                .bind(gun)
                .bind(role)
                .bind(algorithm)
                .fetch_all(pool)
                .await?;
            rows.iter().map(key_from_row).collect::<Result<Vec<_>, _>>()
        })?;
        // Ordered here rather than in SQL so PostgreSQL's collation cannot change the answer.
        Ok(keys.into_iter().min_by(|a, b| a.key_id.cmp(&b.key_id)))
    }

    /// The key with id `key_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn key(&self, key_id: &str) -> Result<Option<ServerKey>, StoreError> {
        with_reader!(self, "key", |pool| {
            let row = sqlx::query(KEY_COLUMNS_BY_ID)
                .bind(key_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(key_from_row).transpose()
        })
    }

    /// All keys stored for `(gun, role)`, any algorithm, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn keys_for(&self, gun: &str, role: &str) -> Result<Vec<ServerKey>, StoreError> {
        with_reader!(self, "keys_for", |pool| {
            let rows = sqlx::query(KEYS_FOR)
                .bind(gun)
                .bind(role)
                .fetch_all(pool)
                .await?;
            rows.iter().map(key_from_row).collect::<Result<Vec<_>, _>>()
        })
    }

    /// Deletes the never-used keys created before `created_before` of repositories that have
    /// no stored metadata (they never published, or were deleted): what `GET …/{role}.key`
    /// leaves behind for a repository that is never initialised. Keys that have signed, and
    /// every key of a repository with metadata, are kept. Returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`]; nothing is deleted then.
    pub async fn expire_unused_keys(&self, created_before: UnixMicros) -> Result<u64, StoreError> {
        in_write_tx!(self, "expire_unused_keys", |tx| {
            let done = sqlx::query(KEYS_EXPIRE_UNUSED)
                .bind(created_before.0)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// The clock the store writes times from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Records that `key_id` has been used, if it was not already; an unknown key id is ignored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn mark_key_used(&self, key_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now_micros();
        in_write_tx!(self, "mark_key_used", |tx| {
            sqlx::query(KEY_MARK_USED)
                .bind(now)
                .bind(key_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    }

    /// Stores a key of the signer.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the key id is already stored (a unique violation);
    /// [`StoreError::Unavailable`].
    pub async fn insert_signer_key(&self, key: &NewSignerKey) -> Result<(), StoreError> {
        let now = self.clock.now_micros();
        in_write_tx!(self, "insert_signer_key", |tx| {
            sqlx::query(SIGNER_KEY_INSERT)
                .bind(key.key_id.as_str())
                .bind(key.gun.as_str())
                .bind(key.role.as_str())
                .bind(key.algorithm.as_str())
                .bind(key.passphrase_alias.as_str())
                .bind(key.public.as_slice())
                .bind(key.private.as_slice())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    }

    /// The signer key with id `key_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn signer_key(&self, key_id: &str) -> Result<Option<SignerKey>, StoreError> {
        with_reader!(self, "signer_key", |pool| {
            let row = sqlx::query(SIGNER_KEY_BY_ID)
                .bind(key_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(signer_key_from_row).transpose()
        })
    }

    /// Every signer key, in no particular order (for tools and tests).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn signer_keys(&self) -> Result<Vec<SignerKey>, StoreError> {
        with_reader!(self, "signer_keys", |pool| {
            let rows = sqlx::query(SIGNER_KEY_COLUMNS).fetch_all(pool).await?;
            rows.iter()
                .map(signer_key_from_row)
                .collect::<Result<Vec<_>, _>>()
        })
    }

    /// The never-used signer key for `(gun, role, algorithm)` with the lowest key id (byte
    /// order), if any: notary-signer hands such a key out again instead of generating another.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn unused_signer_key(
        &self,
        gun: &str,
        role: &str,
        algorithm: &str,
    ) -> Result<Option<SignerKey>, StoreError> {
        let keys = with_reader!(self, "unused_signer_key", |pool| {
            let rows = sqlx::query(SIGNER_KEYS_UNUSED)
                .bind(gun)
                .bind(role)
                .bind(algorithm)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(signer_key_from_row)
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(keys.into_iter().min_by(|a, b| a.key_id.cmp(&b.key_id)))
    }

    /// Records that signer key `key_id` has signed, if it was not already recorded; an
    /// unknown key id is ignored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn mark_signer_key_used(&self, key_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now_micros();
        in_write_tx!(self, "mark_signer_key_used", |tx| {
            sqlx::query(SIGNER_KEY_MARK_USED)
                .bind(now)
                .bind(key_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    }

    /// Deletes signer key `key_id`; returns whether a row was deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn delete_signer_key(&self, key_id: &str) -> Result<bool, StoreError> {
        in_write_tx!(self, "delete_signer_key", |tx| {
            let done = sqlx::query(SIGNER_KEY_DELETE)
                .bind(key_id)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The value of setting `name`, if set.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        with_reader!(self, "setting", |pool| {
            let row = sqlx::query(SETTING_SELECT)
                .bind(name)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(setting_from_row).transpose()
        })
    }

    /// Sets `name` to `value` unless it is already set, and returns the stored value. When several
    /// processes race, all of them get the same (first committed) value back.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Database`].
    pub async fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        in_write_tx!(self, "init_setting", |tx| {
            sqlx::query(SETTING_INSERT)
                .bind(name)
                .bind(value)
                .execute(&mut **tx)
                .await?;
            let row = sqlx::query(SETTING_SELECT)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?;
            Ok(setting_from_row(&row)?)
        })
    }

    /// Applies the steps of `migrations` the database lacks, one transaction each; see the
    /// `schema` module. `migrations` has passed [`schema::check_list`].
    async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let latest = migrations.last().map_or(0, |m| m.version);
        let backend = self.backend();
        loop {
            let applied = in_write_tx!(self, "migrate", |tx| {
                // Taken first: everything below sees the effects of any other process's steps.
                tx.lock_schema().await?;
                for ddl in tx.bookkeeping_ddl() {
                    sqlx::query(*ddl).execute(&mut **tx).await?;
                }
                let found: Option<i64> = sqlx::query_scalar(schema::SELECT_VERSION)
                    .fetch_optional(&mut **tx)
                    .await?;
                let current = found.unwrap_or(0);
                if found.is_none() {
                    let notary: bool = sqlx::query_scalar(tx.table_exists_sql())
                        .bind("tuf_files")
                        .fetch_one(&mut **tx)
                        .await?;
                    if notary {
                        // Rolled back: the bookkeeping tables are not left behind.
                        return Err(TxError::Store(StoreError::NotarySchema));
                    }
                }
                if current > latest {
                    // Rolled back: not even the bookkeeping tables are created.
                    return Err(TxError::Store(StoreError::SchemaTooNew {
                        found: current,
                        supported: latest,
                    }));
                }
                let recorded: i64 = sqlx::query_scalar(schema::COUNT_HISTORY)
                    .fetch_one(&mut **tx)
                    .await?;
                if recorded == 0 {
                    // A database from before the runner: record the steps it already has.
                    for m in migrations.iter().filter(|m| m.version <= current) {
                        sqlx::query(schema::INSERT_HISTORY)
                            .bind(m.version)
                            .bind(m.name)
                            .bind(None::<i64>)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                let Some(step) = migrations.iter().find(|m| m.version == current + 1) else {
                    return Ok(None);
                };
                for sql in tx.migration_sql(step) {
                    sqlx::query(*sql).execute(&mut **tx).await.map_err(|err| {
                        TxError::Store(StoreError::from_migration(backend, step, err))
                    })?;
                }
                sqlx::query(schema::INSERT_HISTORY)
                    .bind(step.version)
                    .bind(step.name)
                    .bind(Some(self.clock.now_micros()))
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(schema::UPSERT_VERSION)
                    .bind(step.version)
                    .execute(&mut **tx)
                    .await?;
                Ok(Some(step))
            })?;
            match applied {
                Some(step) => {
                    tracing::info!(%backend, version = step.version, name = step.name, "applied schema migration");
                }
                None => return Ok(()),
            }
        }
    }
}

/// What differs between the backends inside a write transaction.
trait Dialect {
    /// Serialises writers of one GUN. SQLite needs nothing: `BEGIN IMMEDIATE` already holds the
    /// database-wide write lock.
    fn lock_gun(&mut self, gun: &str) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Serialises changefeed writers up to commit, so ids commit in increasing order.
    fn lock_changefeed(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Serialises schema creation by concurrently starting processes.
    fn lock_schema(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// DDL of the runner's own tables, `signet_schema_version` and `signet_migrations`.
    fn bookkeeping_ddl(&self) -> &'static [&'static str];
    /// The backend's statements of `step`.
    fn migration_sql(&self, step: &Migration) -> &'static [&'static str];
    /// A query with one parameter, a table name, answering whether it exists.
    fn table_exists_sql(&self) -> &'static str;
}

impl Dialect for SqliteConnection {
    async fn lock_gun(&mut self, _gun: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn lock_changefeed(&mut self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn lock_schema(&mut self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn bookkeeping_ddl(&self) -> &'static [&'static str] {
        &[
            schema::CREATE_VERSION_TABLE_SQLITE,
            schema::CREATE_HISTORY_TABLE_SQLITE,
        ]
    }

    fn migration_sql(&self, step: &Migration) -> &'static [&'static str] {
        step.sqlite
    }

    fn table_exists_sql(&self) -> &'static str {
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)"
    }
}

impl Dialect for PgConnection {
    async fn lock_gun(&mut self, gun: &str) -> Result<(), sqlx::Error> {
        advisory_lock(self, lock_key("gun", gun)).await
    }

    async fn lock_changefeed(&mut self) -> Result<(), sqlx::Error> {
        advisory_lock(self, lock_key("changefeed", "")).await
    }

    async fn lock_schema(&mut self) -> Result<(), sqlx::Error> {
        advisory_lock(self, lock_key("schema", "")).await
    }

    fn bookkeeping_ddl(&self) -> &'static [&'static str] {
        &[
            schema::CREATE_VERSION_TABLE_POSTGRES,
            schema::CREATE_HISTORY_TABLE_POSTGRES,
        ]
    }

    fn migration_sql(&self, step: &Migration) -> &'static [&'static str] {
        step.postgres
    }

    fn table_exists_sql(&self) -> &'static str {
        "SELECT to_regclass($1) IS NOT NULL"
    }
}

/// Takes a PostgreSQL advisory lock held until the end of the current transaction.
async fn advisory_lock(conn: &mut PgConnection, key: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// A 64-bit advisory lock key for `name` in `namespace`, from SHA-256 so that keys of different
/// namespaces and names do not collide in practice.
fn lock_key(namespace: &str, name: &str) -> i64 {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(b"signet-store\0");
    context.update(namespace.as_bytes());
    context.update(b"\0");
    context.update(name.as_bytes());
    let digest = context.finish();
    // SHA-256 output is 32 bytes, so the first 8 always exist.
    digest
        .as_ref()
        .first_chunk::<8>()
        .map_or(0, |bytes| i64::from_be_bytes(*bytes))
}

/// Commits on `Ok`, rolls back on `Err`.
async fn finish<DB: Database, T>(
    tx: Transaction<'_, DB>,
    result: Result<T, TxError>,
    backend: Backend,
    op: &'static str,
) -> Result<T, StoreError> {
    match result {
        Ok(value) => {
            tx.commit()
                .await
                .map_err(|err| StoreError::from_sqlx(backend, op, err))?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(%backend, op, error = %signet_service::errors::chain(&rollback), "rollback failed");
            }
            Err(err.into_store(backend, op))
        }
    }
}

/// Whether `err` is a failure of the database (which may have left the connection in any
/// state) rather than a rejection of what was written.
fn is_store_failure(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::Unavailable { .. } | StoreError::Database { .. } | StoreError::Migration { .. }
    )
}

/// After a write that failed for a database reason: logs the cause with its whole source
/// chain and closes `conn` rather than returning it to the pool, so the pool opens a fresh
/// connection for the next write. (SQLite's single writer connection would otherwise keep
/// whatever state a failed `COMMIT` left it in — still inside a transaction — and every later
/// write would fail.)
async fn recycle_on_failure<DB: Database, T>(
    conn: sqlx::pool::PoolConnection<DB>,
    result: &Result<T, StoreError>,
    backend: Backend,
    op: &'static str,
) {
    let Err(err) = result else { return };
    if !is_store_failure(err) {
        return;
    }
    tracing::error!(%backend, op, error = %signet_service::errors::chain(err), "write failed; replacing the connection");
    if let Err(close) = conn.close().await {
        tracing::debug!(%backend, op, error = %signet_service::errors::chain(&close), "closing the failed connection");
    }
}

fn conflict(record: &NewRecord) -> StoreError {
    StoreError::VersionConflict {
        role: record.role.clone(),
        version: record.version,
    }
}

/// A pool of up to `max` connections to an SQLite file, with its first connection open.
///
/// Opening sets the journal mode. While several processes open one new file at once, the one
/// switching it to WAL holds a lock that makes SQLite answer the others `SQLITE_BUSY` at once,
/// without waiting out the busy timeout (waiting could deadlock). Such an open is retried, with
/// growing pauses, for as long as the busy timeout would have waited; any other error is final.
async fn open_sqlite_pool(
    options: &SqliteConnectOptions,
    max: u32,
) -> Result<SqlitePool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        let opened = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match opened {
            Err(err) if is_sqlite_busy(&err) && tokio::time::Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` (primary result code 5, any extended code).
fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

fn unavailable(backend: Backend, source: sqlx::Error) -> StoreError {
    StoreError::Unavailable { backend, source }
}

/// The exclusive upper bound on ids when reading backwards.
fn reversed_start(change_id: i64) -> i64 {
    if change_id > 0 { change_id } else { i64::MAX }
}

/// Lower-case hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = digest::digest(&digest::SHA256, data);
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Creates `path` with mode 0600 (on Unix) if it does not exist; SQLite accepts an empty file as
/// an empty database, and keeps the mode for its `-wal` and `-shm` files.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn require_send<T: Send>(_: T) {}

    /// Compile-time check: every operation's future can be spawned on a multi-threaded runtime.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(store: &Store, key: &NewServerKey) {
        require_send(Store::connect(""));
        require_send(Store::connect_with_migrations("", MIGRATIONS));
        require_send(store.schema_version());
        require_send(store.health());
        require_send(store.close());
        require_send(store.latest("", ""));
        require_send(store.by_version("", "", 1));
        require_send(store.by_checksum("", "", ""));
        require_send(store.latest_all(""));
        require_send(store.update("", &[]));
        require_send(store.delete(""));
        require_send(store.changefeed(None, 0, 1));
        require_send(store.newest_change_id());
        require_send(store.listen_changes());
        require_send(store.renew_replica("", 0, 0, ""));
        require_send(store.release_replica(""));
        require_send(store.replicas_behind("", None));
        require_send(store.insert_key(key));
        require_send(store.unused_key("", "", ""));
        require_send(store.key(""));
        require_send(store.keys_for("", ""));
        require_send(store.mark_key_used(""));
        require_send(store.expire_unused_keys(UnixMicros(0)));
        require_send(store.setting(""));
        require_send(store.init_setting("", b""));
    }

    #[test]
    fn sha256_hex_matches_known_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn lock_keys_differ_by_namespace_and_name() {
        assert_ne!(lock_key("gun", "a"), lock_key("gun", "b"));
        assert_ne!(lock_key("gun", ""), lock_key("changefeed", ""));
        assert_ne!(lock_key("gun", "a/b"), lock_key("gun", "a/bc"));
        assert_eq!(lock_key("gun", "a"), lock_key("gun", "a"));
    }

    #[test]
    fn reversed_start_only_bounds_positive_ids() {
        assert_eq!(reversed_start(5), 5);
        assert_eq!(reversed_start(0), i64::MAX);
        assert_eq!(reversed_start(-1), i64::MAX);
    }
}
