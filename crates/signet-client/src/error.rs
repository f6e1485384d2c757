//! The client's errors: one closed enum, every variant with its context.

use std::path::PathBuf;

use signet_core::{RoleName, VerifyError};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The transport configuration is unusable (CA file, client certificate, URL).
    #[error("transport configuration: {reason}")]
    Config {
        /// The file involved, if any.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// The request did not complete (connection, TLS, timeout, reading the body).
    #[error("{gun}: GET {url}: {source}")]
    Network {
        /// The repository.
        gun: String,
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server has no trust data for the GUN (`root.json` is 404).
    #[error("{gun}: repository does not exist on the server ({url} is 404)")]
    RepositoryNotFound {
        /// The repository.
        gun: String,
        /// The URL.
        url: String,
    },
    /// The server answered a metadata request with a status other than 200.
    #[error("{gun}: GET {url} for {role}: HTTP {status}")]
    Status {
        /// The repository.
        gun: String,
        /// The role requested.
        role: RoleName,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The server sent more bytes than the role's limit (or the length the referring
    /// metadata lists): an endless-data attack or a broken server.
    #[error("{gun}: {role} from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The repository.
        gun: String,
        /// The role.
        role: RoleName,
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// Metadata failed verification; nothing of this update was trusted or cached.
    #[error("{gun}: {role} rejected{}: {source}", url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default())]
    Rejected {
        /// The repository.
        gun: String,
        /// The role that failed.
        role: RoleName,
        /// Where it came from (`None`: the cache).
        url: Option<String>,
        /// What was wrong.
        #[source]
        source: Box<VerifyError>,
    },
    /// The cache could not be read or written.
    #[error("{gun}: cache {role}: {reason}")]
    Cache {
        /// The repository.
        gun: String,
        /// The role.
        role: String,
        /// What failed.
        reason: String,
    },
    /// The target is not signed in the verified repository.
    #[error("{gun}: no trust data for {name}")]
    TargetNotFound {
        /// The repository.
        gun: String,
        /// The target name.
        name: String,
    },
    /// The changelist (staged changes) could not be read or written.
    #[error("changelist {}: {reason}", path.display())]
    Changelist {
        /// The changelist directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A publish (or init) could not be completed; nothing was uploaded unless the reason
    /// says the server refused it.
    #[error("{gun}: publish: {reason}")]
    Publish {
        /// The repository.
        gun: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered a write (update, key rotation, deletion) with an error; nothing
    /// changed on the server. `message` is the server's reason in notary's wording.
    #[error("{gun}: the server refused the request (HTTP {status}): {message}")]
    Refused {
        /// The repository.
        gun: String,
        /// The HTTP status.
        status: u16,
        /// Why, as notary's client words it.
        message: String,
    },
    /// A k-of-n bundle file is unreadable or does not fit the repository.
    #[error("bundle: {reason}")]
    Bundle {
        /// What is wrong with it.
        reason: String,
    },
    /// The GUN cannot be used in a URL or cache path.
    #[error("invalid GUN {gun:?}: {reason}")]
    InvalidGun {
        /// The GUN.
        gun: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    pub(crate) fn rejected(gun: &str, url: Option<&str>, source: VerifyError) -> Self {
        Self::Rejected {
            gun: gun.to_owned(),
            role: source.role(),
            url: url.map(str::to_owned),
            source: Box::new(source),
        }
    }

    /// Whether an update that trusted the cached root as it is should start again from the
    /// server's `root.json`: for anything a newer root could explain (a rejected document,
    /// a status other than 200, an oversized answer), not for a server out of reach or a
    /// local failure.
    pub(crate) fn calls_for_root(&self) -> bool {
        matches!(
            self,
            Self::Rejected { .. } | Self::Status { .. } | Self::TooLarge { .. }
        )
    }

    /// The verification failure, if this is one.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            Self::Rejected { source, .. } => Some(source),
            _ => None,
        }
    }
}
