//! The records the store reads and writes, and their decoding from database rows.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{ColumnIndex, Decode, Row, Type};

/// A point in time as microseconds since the Unix epoch, UTC.
///
/// Both backends store times as `BIGINT` microseconds, written by this crate from its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMicros(pub i64);

impl UnixMicros {
    /// Converts a [`SystemTime`], saturating at the ends of the `i64` range: times before 1970
    /// are negative. (The store takes "now" from its clock, never from the system.)
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => Self(
                i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |micros| -micros),
            ),
        }
    }

    /// Converts to a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

/// One stored version of one role's metadata (a row of `tuf_files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRecord {
    /// The repository (Globally Unique Name), e.g. `docker.io/library/alpine`.
    pub gun: String,
    /// The role name: `root`, `targets`, `snapshot`, `timestamp` or a delegation such as
    /// `targets/releases`.
    pub role: String,
    /// The TUF version of this metadata.
    pub version: u64,
    /// Lower-case hex SHA-256 of `data`.
    pub sha256: String,
    /// The exact bytes that were stored.
    pub data: Vec<u8>,
    /// When the row was written.
    pub created_at: UnixMicros,
    /// When the row was last changed; rows are never changed, so this equals `created_at`.
    pub updated_at: UnixMicros,
}

/// One role's metadata to store with [`Store::update`](crate::Store::update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The role name.
    pub role: String,
    /// The TUF version; must be higher than every stored version of this role.
    pub version: u64,
    /// The exact bytes to store and later serve.
    pub data: Vec<u8>,
}

/// What a changefeed entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeCategory {
    /// A new timestamp was stored, i.e. the repository changed.
    Update,
    /// All metadata of the repository was deleted.
    Deletion,
}

impl ChangeCategory {
    /// The name Notary uses on the wire and in the database: `update` or `deletion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Deletion => "deletion",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "update" => Some(Self::Update),
            "deletion" => Some(Self::Deletion),
            _ => None,
        }
    }
}

impl fmt::Display for ChangeCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One changefeed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Increasing id; the changefeed API pages by it (Notary sends it as a string).
    pub id: i64,
    /// When the change was written.
    pub created_at: UnixMicros,
    /// The repository that changed.
    pub gun: String,
    /// The timestamp version for updates, 0 for deletions.
    pub version: u64,
    /// The timestamp's SHA-256 (hex) for updates, empty for deletions.
    pub sha256: String,
    /// Update or deletion.
    pub category: ChangeCategory,
}

/// A signing key held by the server, with its private part encrypted by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerKey {
    /// The TUF key id (unique).
    pub key_id: String,
    /// The repository the key was generated for.
    pub gun: String,
    /// The role the key was generated for (`timestamp` or `snapshot`).
    pub role: String,
    /// The key algorithm, e.g. `ecdsa` or `ed25519`.
    pub algorithm: String,
    /// The public key bytes.
    pub public: Vec<u8>,
    /// The private key, encrypted by the caller; this crate never sees plaintext.
    pub private: Vec<u8>,
    /// When the key was stored.
    pub created_at: UnixMicros,
    /// When the key was first marked used, if ever.
    pub last_used: Option<UnixMicros>,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKey")
            .field("key_id", &self.key_id)
            .field("gun", &self.gun)
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .field("public", &self.public)
            .field("private", &format_args!("<encrypted>"))
            .field("created_at", &self.created_at)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// A server key to store with [`Store::insert_key`](crate::Store::insert_key).
#[derive(Clone, PartialEq, Eq)]
pub struct NewServerKey {
    /// The TUF key id; must be unique in the database.
    pub key_id: String,
    /// The repository the key is for.
    pub gun: String,
    /// The role the key is for.
    pub role: String,
    /// The key algorithm.
    pub algorithm: String,
    /// The public key bytes.
    pub public: Vec<u8>,
    /// The private key, already encrypted by the caller.
    pub private: Vec<u8>,
}

impl fmt::Debug for NewServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewServerKey")
            .field("key_id", &self.key_id)
            .field("gun", &self.gun)
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .field("public", &self.public)
            .field("private", &format_args!("<encrypted>"))
            .finish()
    }
}

/// A key held by the signer (a row of `signer_keys`), its private part sealed by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct SignerKey {
    /// The TUF key id (unique).
    pub key_id: String,
    /// The repository the key was created for.
    pub gun: String,
    /// The role the key was created for.
    pub role: String,
    /// The key type: `ecdsa`, `ed25519` or `rsa`.
    pub algorithm: String,
    /// The passphrase alias the private part is sealed under.
    pub passphrase_alias: String,
    /// The public key bytes (TUF `keyval.public`).
    pub public: Vec<u8>,
    /// The private key, sealed by the caller; this crate never sees plaintext.
    pub private: Vec<u8>,
    /// When the key was stored.
    pub created_at: UnixMicros,
    /// When the key first signed, if ever.
    pub last_used: Option<UnixMicros>,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("key_id", &self.key_id)
            .field("gun", &self.gun)
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .field("passphrase_alias", &self.passphrase_alias)
            .field("public", &self.public)
            .field("private", &format_args!("<encrypted>"))
            .field("created_at", &self.created_at)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// A signer key to store with [`Store::insert_signer_key`](crate::Store::insert_signer_key).
#[derive(Clone, PartialEq, Eq)]
pub struct NewSignerKey {
    /// The TUF key id; must be unique in the database.
    pub key_id: String,
    /// The repository the key is for.
    pub gun: String,
    /// The role the key is for.
    pub role: String,
    /// The key type.
    pub algorithm: String,
    /// The passphrase alias the private part is sealed under.
    pub passphrase_alias: String,
    /// The public key bytes.
    pub public: Vec<u8>,
    /// The private key, already sealed by the caller.
    pub private: Vec<u8>,
}

impl fmt::Debug for NewSignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSignerKey")
            .field("key_id", &self.key_id)
            .field("gun", &self.gun)
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .field("passphrase_alias", &self.passphrase_alias)
            .field("public", &self.public)
            .field("private", &format_args!("<encrypted>"))
            .finish()
    }
}

/// Decodes the columns of `signer_keys`.
pub(crate) fn signer_key_from_row<'r, R>(row: &'r R) -> Result<SignerKey, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let last_used: Option<i64> = row.try_get("last_used")?;
    Ok(SignerKey {
        key_id: row.try_get("key_id")?,
        gun: row.try_get("gun")?,
        role: row.try_get("role")?,
        algorithm: row.try_get("algorithm")?,
        passphrase_alias: row.try_get("passphrase_alias")?,
        public: row.try_get("public_key")?,
        private: row.try_get("private_key")?,
        created_at: UnixMicros(row.try_get("created_at")?),
        last_used: last_used.map(UnixMicros),
    })
}

/// Reads a `BIGINT` column that holds a non-negative version.
fn version_column<'r, R>(row: &'r R, column: &'static str) -> Result<u64, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let raw: i64 = row.try_get(column)?;
    u64::try_from(raw).map_err(|_| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("negative version {raw}").into(),
    })
}

/// Decodes `gun, role, version, sha256, data, created_at, updated_at`.
pub(crate) fn meta_from_row<'r, R>(row: &'r R) -> Result<MetaRecord, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(MetaRecord {
        gun: row.try_get("gun")?,
        role: row.try_get("role")?,
        version: version_column(row, "version")?,
        sha256: row.try_get("sha256")?,
        data: row.try_get("data")?,
        created_at: UnixMicros(row.try_get("created_at")?),
        updated_at: UnixMicros(row.try_get("updated_at")?),
    })
}

/// Decodes `id, created_at, gun, version, sha256, category`.
pub(crate) fn change_from_row<'r, R>(row: &'r R) -> Result<Change, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let category: String = row.try_get("category")?;
    Ok(Change {
        id: row.try_get("id")?,
        created_at: UnixMicros(row.try_get("created_at")?),
        gun: row.try_get("gun")?,
        version: version_column(row, "version")?,
        sha256: row.try_get("sha256")?,
        category: ChangeCategory::parse(&category).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "category".to_owned(),
            source: format!("unknown change category {category:?}").into(),
        })?,
    })
}

/// Decodes `key_id, gun, role, algorithm, public_key, private_key, created_at, last_used`.
pub(crate) fn key_from_row<'r, R>(row: &'r R) -> Result<ServerKey, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let last_used: Option<i64> = row.try_get("last_used")?;
    Ok(ServerKey {
        key_id: row.try_get("key_id")?,
        gun: row.try_get("gun")?,
        role: row.try_get("role")?,
        algorithm: row.try_get("algorithm")?,
        public: row.try_get("public_key")?,
        private: row.try_get("private_key")?,
        created_at: UnixMicros(row.try_get("created_at")?),
        last_used: last_used.map(UnixMicros),
    })
}

/// Decodes `value` of the settings table.
pub(crate) fn setting_from_row<'r, R>(row: &'r R) -> Result<Vec<u8>, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get("value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_micros_round_trips_system_time() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -86_400_000_000] {
            let time = UnixMicros(micros).to_system_time();
            assert_eq!(UnixMicros::from_system_time(time), UnixMicros(micros));
        }
    }

    #[test]
    fn debug_hides_private_key() {
        let key = ServerKey {
            key_id: "abc".to_owned(),
            gun: "g".to_owned(),
            role: "timestamp".to_owned(),
            algorithm: "ecdsa".to_owned(),
            public: vec![1, 2],
            private: b"SECRETBYTES".to_vec(),
            created_at: UnixMicros(5),
            last_used: None,
        };
        let text = format!("{key:?}");
        assert!(text.contains("<encrypted>"), "{text}");
        assert!(!text.contains("83, 69, 67"), "{text}"); // "SEC" as a byte list
        let new = NewServerKey {
            key_id: key.key_id,
            gun: key.gun,
            role: key.role,
            algorithm: key.algorithm,
            public: key.public,
            private: key.private,
        };
        let text = format!("{new:?}");
        assert!(text.contains("<encrypted>"), "{text}");
        assert!(!text.contains("83, 69, 67"), "{text}");
    }

    #[test]
    fn change_category_names() {
        assert_eq!(ChangeCategory::Update.to_string(), "update");
        assert_eq!(ChangeCategory::Deletion.to_string(), "deletion");
        assert_eq!(
            ChangeCategory::parse("update"),
            Some(ChangeCategory::Update)
        );
        assert_eq!(
            ChangeCategory::parse("deletion"),
            Some(ChangeCategory::Deletion)
        );
        assert_eq!(ChangeCategory::parse("Update"), None);
    }
}
