//! Errors, grouped by what went wrong. Context travels as fields; `Display` is written by
//! hand, lower case, and for update rejections reuses Go Notary's messages where clients
//! show them to users.

use core::fmt;

use crate::key::KeyId;
use crate::metadata::RoleName;
use crate::time::UnixTime;

/// A metadata document that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not JSON, not the expected shape, wrong `_type`, or a field out of range.
    Malformed {
        /// The `_type` that was expected.
        expected: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Not a valid role name.
    InvalidRole(String),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { expected, reason } => {
                write!(f, "malformed {expected} metadata: {reason}")
            }
            Self::InvalidRole(r) => write!(f, "invalid role name {r:?}"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// A role that fails its trust checks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Fewer distinct keys signed than the threshold requires.
    ThresholdNotMet {
        /// The role.
        role: RoleName,
        /// Required.
        threshold: i64,
        /// Distinct valid signatures found.
        valid: usize,
    },
    /// The metadata expired.
    Expired {
        /// The role.
        role: RoleName,
        /// When it expired.
        expires: UnixTime,
    },
    /// A key listed under an ID that is not its own.
    KeyIdMismatch {
        /// The role.
        role: RoleName,
        /// The ID it is listed under.
        listed: KeyId,
        /// Its actual ID.
        actual: KeyId,
    },
    /// A structural rule is broken (missing role, unknown key, bad threshold, …).
    Structure {
        /// The role.
        role: RoleName,
        /// What is wrong.
        reason: String,
    },
    /// A file does not match what snapshot or timestamp says of it.
    HashMismatch {
        /// The file's role.
        role: RoleName,
        /// What differs.
        reason: String,
    },
    /// A version went backwards.
    Rollback {
        /// The role.
        role: RoleName,
        /// The version trusted so far.
        trusted: u64,
        /// The version offered.
        offered: u64,
    },
    /// A file is larger than the caller's limit for its role (endless-data attack).
    TooLarge {
        /// The role.
        role: RoleName,
        /// The limit in bytes.
        limit: u64,
        /// The size offered (or announced).
        size: u64,
    },
    /// A root does not satisfy the caller's trust pinning: no root key matches the pinned
    /// keys or CA, pinned keys do not sign it to threshold, or first use is not allowed.
    Pinning {
        /// What failed.
        reason: String,
    },
    /// A new root is not signed by the threshold of the trusted root's keys (Notary's
    /// `ErrRootRotationFail`).
    RotationNotAuthorized {
        /// The trusted root's version.
        trusted_version: u64,
        /// The offered root's version.
        offered_version: u64,
        /// The trusted root's threshold.
        threshold: i64,
        /// Distinct valid signatures by the trusted root's keys.
        valid: usize,
    },
    /// A root more than one version ahead of the trusted one: the caller must walk the
    /// versions in between (`<v>.root.json`) first.
    RootVersionGap {
        /// The trusted root's version.
        trusted: u64,
        /// The offered root's version.
        offered: u64,
    },
    /// A root with the trusted root's version but different signed content, or a
    /// versioned root file (`<v>.root.json`) whose version is not `v`.
    RootConflict {
        /// The version expected.
        expected: u64,
        /// The version found.
        found: u64,
    },
}

impl VerifyError {
    /// The role the rejection is about.
    pub fn role(&self) -> RoleName {
        match self {
            Self::ThresholdNotMet { role, .. }
            | Self::Expired { role, .. }
            | Self::KeyIdMismatch { role, .. }
            | Self::Structure { role, .. }
            | Self::HashMismatch { role, .. }
            | Self::Rollback { role, .. }
            | Self::TooLarge { role, .. } => role.clone(),
            Self::Pinning { .. }
            | Self::RotationNotAuthorized { .. }
            | Self::RootVersionGap { .. }
            | Self::RootConflict { .. } => RoleName::root(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ThresholdNotMet { role, .. } => {
                write!(f, "valid signatures did not meet threshold for {role}")
            }
            Self::Expired { role, expires } => write!(f, "{role} expired at {expires}"),
            Self::KeyIdMismatch {
                role,
                listed,
                actual,
            } => {
                write!(f, "key listed as {listed} for {role} has ID {actual}")
            }
            Self::Structure { role, reason } => write!(f, "{role} is invalid: {reason}"),
            Self::HashMismatch { role, reason } => write!(f, "{role}: {reason}"),
            Self::Rollback {
                role,
                trusted,
                offered,
            } => {
                write!(
                    f,
                    "{role} version {offered} is lower than trusted version {trusted}"
                )
            }
            Self::TooLarge { role, limit, size } => {
                write!(f, "{role} is {size} bytes, over the limit of {limit}")
            }
            Self::Pinning { reason } => {
                write!(f, "could not validate the path to a trusted root: {reason}")
            }
            Self::RotationNotAuthorized {
                trusted_version,
                offered_version,
                threshold,
                valid,
            } => write!(
                f,
                "could not rotate trust to a new trusted root: root version {offered_version} \
                 carries {valid} valid signatures by the keys of trusted root version \
                 {trusted_version}, which requires {threshold}"
            ),
            Self::RootVersionGap { trusted, offered } => write!(
                f,
                "root version {offered} is more than one version ahead of trusted version {trusted}"
            ),
            Self::RootConflict { expected, found } => write!(
                f,
                "root version {found} conflicts with the expected root version {expected}"
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Why a server rejects an update. The variants are Go Notary's typed validation errors,
/// which its clients decode from the `INVALID_UPDATE` detail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateError {
    /// `ErrBadRoot`.
    BadRoot(String),
    /// `ErrBadTargets`.
    BadTargets(String),
    /// `ErrBadSnapshot`.
    BadSnapshot(String),
    /// `ErrBadHierarchy`: a role the update needs is missing.
    BadHierarchy {
        /// The missing role.
        missing: String,
        /// Explanation.
        msg: String,
    },
    /// `ErrValidation`.
    Validation(String),
}

impl UpdateError {
    /// Go's error type name, as sent in the `Name` field.
    pub fn notary_name(&self) -> &'static str {
        match self {
            Self::BadRoot(_) => "ErrBadRoot",
            Self::BadTargets(_) => "ErrBadTargets",
            Self::BadSnapshot(_) => "ErrBadSnapshot",
            Self::BadHierarchy { .. } => "ErrBadHierarchy",
            Self::Validation(_) => "ErrValidation",
        }
    }

    /// The message, as sent in `Error.Msg`.
    pub fn message(&self) -> &str {
        match self {
            Self::BadRoot(m) | Self::BadTargets(m) | Self::BadSnapshot(m) | Self::Validation(m) => {
                m
            }
            Self::BadHierarchy { msg, .. } => msg,
        }
    }
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRoot(m) => write!(f, "bad root: {m}"),
            Self::BadTargets(m) => write!(f, "bad targets: {m}"),
            Self::BadSnapshot(m) => write!(f, "bad snapshot: {m}"),
            Self::BadHierarchy { missing, msg } => write!(f, "missing {missing}: {msg}"),
            Self::Validation(m) => write!(f, "invalid update: {m}"),
        }
    }
}

impl std::error::Error for UpdateError {}
