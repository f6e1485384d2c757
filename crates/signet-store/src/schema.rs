//! The database schema: an ordered, forward-only list of [`Migration`]s.
//!
//! [`Store::connect`](crate::Store::connect) brings a database up to the last entry of
//! [`MIGRATIONS`]. Each step runs in its own transaction, under `BEGIN IMMEDIATE` on SQLite
//! and a transaction-scoped advisory lock on PostgreSQL, so several server processes
//! starting at once apply every step exactly once; each re-reads the version after taking
//! the lock. A failing step rolls back entirely (both backends have transactional DDL),
//! leaving the database at the previous version.
//!
//! # What is recorded
//!
//! * `signet_schema_version` (one row, `id = 1`) holds the current version. It predates the
//!   runner and stays the source of truth, because it is what older Signet releases check:
//!   a release that knows only version 1 refuses a database at version 2 instead of writing
//!   to a schema it does not know.
//! * `signet_migrations` holds one row per applied step: `version`, `name`, and
//!   `applied_at` (Unix microseconds). Databases created before the runner (at version 1)
//!   get rows for the versions they already have, with `applied_at` NULL, the first time
//!   the runner opens them; nothing else about them changes.
//!
//! A database whose version is above the last known migration is refused with
//! [`StoreError::SchemaTooNew`](crate::StoreError::SchemaTooNew), and nothing is written.
//!
//! # Adding a migration
//!
//! Append a [`Migration`] with the next version and its SQL for both backends, and bump
//! [`SCHEMA_VERSION`]. Never edit a released step: databases in the field have run it.

/// One schema step: the SQL that takes a database from `version - 1` to `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The version the database is at after this step; steps are numbered 1, 2, 3, …
    pub version: i64,
    /// A short description, recorded in `signet_migrations`.
    pub name: &'static str,
    /// The statements for SQLite, run in order in one transaction.
    pub sqlite: &'static [&'static str],
    /// The statements for PostgreSQL, run in order in one transaction.
    pub postgres: &'static [&'static str],
}

/// Every schema step this crate knows, in order. [`Store::connect`](crate::Store::connect)
/// applies them; [`Store::connect_with_migrations`](crate::Store::connect_with_migrations)
/// takes another list (tests use it to exercise the runner).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial schema: tuf_files, changefeed, server_keys, signet_settings",
        sqlite: SQLITE_V1,
        postgres: POSTGRES_V1,
    },
    Migration {
        version: 2,
        name: "signer_keys: the signer's sealed keys",
        sqlite: SQLITE_V2,
        postgres: POSTGRES_V2,
    },
    Migration {
        version: 3,
        name: "signet_replicas and changefeed notifications: reads proven fresh without a query",
        sqlite: SQLITE_V3,
        postgres: POSTGRES_V3,
    },
];

/// The schema version this crate creates and understands: the last of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 3;

const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].version == SCHEMA_VERSION);

/// Why a migration list cannot be run, if it cannot: versions must be 1, 2, 3, … in order.
pub(crate) fn check_list(migrations: &[Migration]) -> Result<(), String> {
    if migrations.is_empty() {
        return Err("the list is empty".to_owned());
    }
    for (i, m) in migrations.iter().enumerate() {
        let expected = i64::try_from(i).map_or(i64::MAX, |i| i.saturating_add(1));
        if m.version != expected {
            return Err(format!(
                "entry {i} ({:?}) has version {}, expected {expected}",
                m.name, m.version
            ));
        }
    }
    Ok(())
}

pub(crate) const CREATE_VERSION_TABLE_SQLITE: &str =
    "CREATE TABLE IF NOT EXISTS signet_schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT";

pub(crate) const CREATE_VERSION_TABLE_POSTGRES: &str =
    "CREATE TABLE IF NOT EXISTS signet_schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
)";

pub(crate) const CREATE_HISTORY_TABLE_SQLITE: &str =
    "CREATE TABLE IF NOT EXISTS signet_migrations (
    version INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    applied_at INTEGER
) STRICT";

pub(crate) const CREATE_HISTORY_TABLE_POSTGRES: &str =
    "CREATE TABLE IF NOT EXISTS signet_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT
)";

pub(crate) const SELECT_VERSION: &str = "SELECT version FROM signet_schema_version WHERE id = 1";

pub(crate) const UPSERT_VERSION: &str =
    "INSERT INTO signet_schema_version (id, version) VALUES (1, $1)
ON CONFLICT (id) DO UPDATE SET version = excluded.version";

pub(crate) const COUNT_HISTORY: &str = "SELECT COUNT(*) FROM signet_migrations";

pub(crate) const INSERT_HISTORY: &str =
    "INSERT INTO signet_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

/// Schema version 1 for SQLite. `STRICT` tables make SQLite reject wrongly typed values as
/// PostgreSQL does; `AUTOINCREMENT` keeps ids from ever being reused.
pub(crate) const SQLITE_V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tuf_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (gun, role, version)
) STRICT",
    "CREATE INDEX IF NOT EXISTS tuf_files_gun_sha256 ON tuf_files (gun, sha256)",
    "CREATE TABLE IF NOT EXISTS changefeed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    gun TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0),
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
) STRICT",
    "CREATE INDEX IF NOT EXISTS changefeed_gun_id ON changefeed (gun, id)",
    "CREATE TABLE IF NOT EXISTS server_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL UNIQUE,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public_key BLOB NOT NULL,
    private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER
) STRICT",
    "CREATE INDEX IF NOT EXISTS server_keys_gun_role ON server_keys (gun, role, algorithm)",
    "CREATE TABLE IF NOT EXISTS signet_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT",
];

/// Schema version 1 for PostgreSQL; the same tables and indexes as [`SQLITE_V1`].
pub(crate) const POSTGRES_V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tuf_files (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 0),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (gun, role, version)
)",
    "CREATE INDEX IF NOT EXISTS tuf_files_gun_sha256 ON tuf_files (gun, sha256)",
    "CREATE TABLE IF NOT EXISTS changefeed (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    created_at BIGINT NOT NULL,
    gun TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 0),
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
)",
    "CREATE INDEX IF NOT EXISTS changefeed_gun_id ON changefeed (gun, id)",
    "CREATE TABLE IF NOT EXISTS server_keys (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT
)",
    "CREATE INDEX IF NOT EXISTS server_keys_gun_role ON server_keys (gun, role, algorithm)",
    "CREATE TABLE IF NOT EXISTS signet_settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
)",
];

/// Schema version 2 for SQLite: the keys `signet signer` holds for its clients (notary-server
/// and compatible servers). Like notary-signer's `private_keys`, a row records the key's
/// repository, role and the passphrase alias its private part is sealed under.
pub(crate) const SQLITE_V2: &[&str] = &[
    "CREATE TABLE signer_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL UNIQUE,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    passphrase_alias TEXT NOT NULL,
    public_key BLOB NOT NULL,
    private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER
) STRICT",
    "CREATE INDEX signer_keys_gun_role ON signer_keys (gun, role, algorithm)",
];

/// Schema version 2 for PostgreSQL; the same table and index as [`SQLITE_V2`].
pub(crate) const POSTGRES_V2: &[&str] = &[
    "CREATE TABLE signer_keys (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    passphrase_alias TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT
)",
    "CREATE INDEX signer_keys_gun_role ON signer_keys (gun, role, algorithm)",
];

/// Schema version 3 for SQLite: nothing. Replicas exist only on PostgreSQL (one server
/// process per SQLite file); the step keeps both backends at the same version number.
pub(crate) const SQLITE_V3: &[&str] = &[];

/// Schema version 3 for PostgreSQL: what lets server replicas serve reads from their caches
/// without a query per read (see the `replicas` module).
///
/// * Every changefeed row announces itself on the channel `signet_changefeed` (payload
///   `c <id> <gun>`, or `c <id>` for a GUN too long for a payload), from a trigger, so even a
///   writer that knows nothing of it (an older Signet during a rolling upgrade) notifies.
///   PostgreSQL delivers a notification only after its transaction commits, and in commit
///   order.
/// * `signet_replicas` has one row per server process that serves from its cache: the last
///   changefeed id it has applied and, in Unix microseconds of the database's clock, until
///   when it may do so. A writer waits until every replica whose lease is still running has
///   applied its change.
pub(crate) const POSTGRES_V3: &[&str] = &[
    "CREATE TABLE signet_replicas (
    replica_id TEXT PRIMARY KEY,
    seen_change BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
)",
    "CREATE FUNCTION signet_changefeed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(NEW.gun) <= 7000 THEN
        PERFORM pg_notify('signet_changefeed', 'c ' || NEW.id || ' ' || NEW.gun);
    ELSE
        PERFORM pg_notify('signet_changefeed', 'c ' || NEW.id);
    END IF;
    RETURN NULL;
END
$$",
    "CREATE TRIGGER signet_changefeed_notify AFTER INSERT ON changefeed
    FOR EACH ROW EXECUTE FUNCTION signet_changefeed_notify()",
];
