//! Errors of the private-key store. No variant ever carries key material or a passphrase.

use std::path::PathBuf;

/// Why a private-key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text holds no PEM block, or the block is malformed.
    #[error("no valid private key found{}", in_file(file))]
    NoPem {
        /// The file, when the bytes came from one.
        file: Option<PathBuf>,
    },
    /// The PEM type is not a private key this reader knows.
    #[error("unsupported key type {label:?}{}", in_file(file))]
    UnsupportedPemType {
        /// The PEM type label.
        label: String,
        /// The file, if any.
        file: Option<PathBuf>,
    },
    /// The key decrypted (or was not encrypted) but its structure is not a usable key.
    #[error("malformed private key: {reason}")]
    Malformed {
        /// What is wrong (never key bytes).
        reason: String,
    },
    /// A well-formed key of a kind Signet cannot sign with.
    #[error("unsupported private key: {reason}")]
    Unsupported {
        /// Which kind.
        reason: String,
    },
    /// The key is encrypted with a scheme notary does not write (only PBES2 with PBKDF2 and
    /// AES-CBC, and RFC 1423 AES-CBC, are read).
    #[error("unsupported key encryption: {reason}")]
    UnsupportedEncryption {
        /// Which scheme.
        reason: String,
    },
    /// The passphrase does not decrypt the key (after the retries notary allows).
    #[error("password invalid, operation has failed: wrong passphrase for key {key}")]
    WrongPassphrase {
        /// The key ID or file the passphrase was for.
        key: String,
    },
    /// No passphrase source: no environment variable set and standard input is not a
    /// terminal.
    #[error(
        "no passphrase for the {role} key {key}: set {env} or run on a terminal \
         (standard input is not a terminal, so Signet cannot prompt)"
    )]
    NoPassphrase {
        /// The key ID (or file) that needs one.
        key: String,
        /// The role alias.
        role: String,
        /// The environment variable(s) that would supply it.
        env: String,
    },
    /// Too many wrong, short or mismatched passphrase entries.
    #[error("maximum number of passphrase attempts exceeded")]
    AttemptsExceeded,
    /// Reading the passphrase from the terminal failed.
    #[error("reading the passphrase from the terminal: {0}")]
    Prompt(#[source] std::io::Error),
    /// No key with this ID in the store.
    #[error("signing key not found: {key_id}")]
    NotFound {
        /// The key ID.
        key_id: String,
    },
    /// A key ID that is not 64 lower-case hex characters.
    #[error("invalid key ID provided: {key_id}")]
    InvalidKeyId {
        /// What was given.
        key_id: String,
    },
    /// An import or export request that cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// Generating a key or randomness failed.
    #[error("key generation failed: {0}")]
    Generate(String),
    /// Signing failed.
    #[error("signing with key {key_id} failed")]
    Sign {
        /// The key ID.
        key_id: String,
    },
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn in_file(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

impl KeyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }
}
