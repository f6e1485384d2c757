//! The error type of this crate and the mapping from `sqlx` errors.

use std::fmt;

/// Which database engine a [`Store`](crate::Store) talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// An SQLite file (or an in-memory database in tests).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The lower-case name used in URLs, logs and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the store.
///
/// The `Display` text never includes the underlying `sqlx` error; it is reachable through
/// [`std::error::Error::source`], so log with the whole chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The update was rejected because `role` already has a stored version `>= version`, because
    /// the same role appeared twice in one update, or because a concurrent writer stored the same
    /// `(gun, role, version)` first. Nothing of the update was written. Notary answers 400 `VERSION`.
    #[error("version {version} of role {role} is not newer than the stored metadata")]
    VersionConflict {
        /// The role whose version was rejected.
        role: String,
        /// The version that was offered.
        version: u64,
    },
    /// A version above `i64::MAX` was offered; both backends store versions as signed 64-bit
    /// integers. Nothing of the update was written. This is a client error.
    #[error("version {version} of role {role} is out of range")]
    VersionOutOfRange {
        /// The role whose version was rejected.
        role: String,
        /// The version that was offered.
        version: u64,
    },
    /// The database URL given to [`Store::connect`](crate::Store::connect) cannot be used.
    /// Any password in `url` is replaced by `***`.
    #[error("invalid database url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, with any password redacted.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The database could not be reached: connection refused or lost, pool exhausted, the SQLite
    /// file could not be created or stayed locked past the busy timeout. Usually transient.
    #[error("{backend} database is unavailable")]
    Unavailable {
        /// The backend that failed.
        backend: Backend,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// Any other database error, tagged with the store operation that failed.
    #[error("database error in {op}")]
    Database {
        /// The store operation, e.g. `"update"` or `"changefeed"`.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// The database was initialised or upgraded by a newer Signet whose schema this version
    /// does not know. Nothing was written; run the newer Signet (or restore a backup).
    #[error(
        "database schema version {found} is newer than the supported version {supported}: \
         it was written by a newer Signet; nothing was changed"
    )]
    SchemaTooNew {
        /// The version recorded in `signet_schema_version`.
        found: i64,
        /// The newest version this crate understands.
        supported: i64,
    },
    /// The database holds another program's tables: notary-server's `tuf_files` without
    /// Signet's schema version. Nothing was written.
    #[error(
        "this is a notary-server database (it has notary's tuf_files table and no Signet \
         schema): Signet does not run on it and changed nothing; point Signet at an empty \
         database (importing notary-server data is planned as `signet migrate`)"
    )]
    NotarySchema,
    /// The operation does not exist on this backend.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked, and what to do instead.
        what: &'static str,
    },
    /// A schema migration step failed. The step was rolled back entirely: the database is
    /// still at `version - 1`.
    #[error("schema migration to version {version} ({name}) failed")]
    Migration {
        /// The version the step would have reached.
        version: i64,
        /// The step's name.
        name: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration list given to
    /// [`Store::connect_with_migrations`](crate::Store::connect_with_migrations) is not
    /// numbered 1, 2, 3, … in order. Nothing was written.
    #[error("invalid migration list: {reason}")]
    InvalidMigrations {
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// Classifies a `sqlx` error: connectivity problems become [`StoreError::Unavailable`], the
    /// rest [`StoreError::Database`].
    pub(crate) fn from_sqlx(backend: Backend, op: &'static str, source: sqlx::Error) -> Self {
        if is_unavailable(backend, &source) {
            Self::Unavailable { backend, source }
        } else {
            Self::Database { op, source }
        }
    }

    /// Classifies the error of a migration step: connectivity problems become
    /// [`StoreError::Unavailable`], the rest [`StoreError::Migration`].
    pub(crate) fn from_migration(
        backend: Backend,
        migration: &crate::Migration,
        source: sqlx::Error,
    ) -> Self {
        if is_unavailable(backend, &source) {
            Self::Unavailable { backend, source }
        } else {
            Self::Migration {
                version: migration.version,
                name: migration.name,
                source,
            }
        }
    }
}

/// Whether `err` means "cannot talk to the database right now" rather than "the database said no".
fn is_unavailable(backend: Backend, err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            match backend {
                // SQLite reports the (extended) numeric result code; the primary code is the low
                // byte. 5 = SQLITE_BUSY, 6 = SQLITE_LOCKED (the busy timeout ran out).
                Backend::Sqlite => code
                    .parse::<i64>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
                // SQLSTATE class 08 = connection exception; 57P01..57P03 = shutdown / cannot
                // connect now; 53300 = too many connections.
                Backend::Postgres => {
                    code.starts_with("08")
                        || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
                }
            }
        }
        _ => false,
    }
}

/// Errors inside a write transaction: either a `sqlx` error still to be classified, or a
/// finished [`StoreError`] such as a version conflict.
#[derive(Debug)]
pub(crate) enum TxError {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TxError {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(err)
    }
}

impl TxError {
    pub(crate) fn into_store(self, backend: Backend, op: &'static str) -> StoreError {
        match self {
            Self::Sql(err) => StoreError::from_sqlx(backend, op, err),
            Self::Store(err) => err,
        }
    }
}
