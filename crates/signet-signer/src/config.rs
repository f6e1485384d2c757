//! notary-signer's JSON configuration file, read the way `cmd/notary-signer/config.go` reads
//! it:
//!
//! ```json
//! {
//!   "server": {
//!     "grpc_addr": "0.0.0.0:7899",
//!     "tls_cert_file": "./notary-signer.crt",
//!     "tls_key_file": "./notary-signer.key",
//!     "client_ca_file": "./notary-server-ca.crt"
//!   },
//!   "logging": { "level": "info" },
//!   "storage": {
//!     "backend": "postgres",
//!     "db_url": "postgres://signer@db:5432/notarysigner?sslmode=verify-full",
//!     "default_alias": "timestamp_1"
//!   }
//! }
//! ```
//!
//! File paths are relative to the configuration file's directory, as in notary. Other
//! sections notary-signer knows (`logging`, `reporting`) are accepted and ignored here.
//!
//! Signet's own section, `pkcs11`, puts new keys on a PKCS#11 token (an HSM, SoftHSM2)
//! instead of sealing them in the database:
//!
//! ```json
//! "pkcs11": {
//!   "module": "/usr/lib/softhsm/libsofthsm2.so",
//!   "token_label": "signet",
//!   "pin_file": "./token.pin"
//! }
//! ```
//!
//! The user PIN comes from `pin_file` or else the environment variable
//! `SIGNET_SIGNER_PKCS11_PIN`. With a token, `storage` still holds the key records (ID,
//! GUN, role, public key), `storage.default_alias` becomes optional (keys sealed before
//! keep opening with their alias's passphrase), and the `memory` backend keeps the records
//! in memory (the keys stay on the token).
//!
//! Differences from notary-signer, on purpose:
//! * `client_ca_file` is required: signet does not run a signer any client can use.
//! * Backends: `sqlite3` (also `sqlite`), `postgres`, `memory`; not `mysql` or `rethinkdb`.
//!   For `sqlite3`, `db_url` is a file path (as in notary) or a `sqlite://` URL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration problem; nothing was started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the expected JSON.
    #[error("configuration {path} is not valid: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A required setting is missing or unusable.
    #[error("configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    pkcs11: Option<RawPkcs11>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPkcs11 {
    #[serde(default)]
    module: String,
    #[serde(default)]
    token_label: String,
    #[serde(default)]
    pin_file: String,
}

/// A PKCS#11 token for new keys (Signet's `pkcs11` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// A file holding the user PIN; else `SIGNET_SIGNER_PKCS11_PIN`.
    pub pin_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
struct RawLogging {
    #[serde(default)]
    level: String,
}

#[derive(Debug, Default, Deserialize)]
struct RawServer {
    #[serde(default)]
    grpc_addr: String,
    #[serde(default)]
    tls_cert_file: String,
    #[serde(default)]
    tls_key_file: String,
    #[serde(default)]
    client_ca_file: String,
}

#[derive(Debug, Default, Deserialize)]
struct RawStorage {
    #[serde(default)]
    backend: String,
    #[serde(default)]
    db_url: String,
    #[serde(default)]
    default_alias: String,
}

/// Where the signer keeps its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A database (`sqlite://…` or `postgres://…` URL) and the alias new keys are sealed
    /// under.
    Database {
        /// The database URL, as [`signet_store::Store::connect`] takes it.
        url: String,
        /// The passphrase alias for new keys sealed here (empty when a token holds new
        /// keys and no alias was given).
        default_alias: String,
    },
    /// In memory, gone when the process ends (notary's `memory` backend; tests only).
    Memory,
}

/// A checked signer configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerConfig {
    /// The gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// The server's certificate chain (PEM).
    pub tls_cert_file: PathBuf,
    /// The server's private key (PEM).
    pub tls_key_file: PathBuf,
    /// The CA (PEM) client certificates must chain to.
    pub client_ca_file: PathBuf,
    /// Key storage.
    pub storage: Storage,
    /// `logging.level` (`debug`, `info`, …), if set.
    pub log_level: Option<String>,
    /// The PKCS#11 token new keys are generated on, if any.
    pub pkcs11: Option<Pkcs11Config>,
}

impl SignerConfig {
    /// Reads a notary-signer configuration file. `env` looks up environment variables (for
    /// the `NOTARY_SIGNER_DEFAULT_ALIAS` fallback notary keeps for old deployments).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file or the setting.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = serde_json::from_slice(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_raw(raw, base, env)
    }

    /// Parses configuration JSON; relative paths are taken from `base`.
    ///
    /// # Errors
    ///
    /// As [`SignerConfig::load`].
    pub fn from_json(
        json: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<json>"),
            reason: e.to_string(),
        })?;
        Self::from_raw(raw, base, env)
    }

    fn from_raw(
        raw: RawConfig,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |s: String| ConfigError::Invalid(s);
        if raw.server.grpc_addr.is_empty() {
            return Err(invalid(
                "grpc listen address required for server (server.grpc_addr)".to_owned(),
            ));
        }
        let grpc_addr: SocketAddr = raw.server.grpc_addr.parse().map_err(|e| {
            invalid(format!(
                "server.grpc_addr {:?} is not host:port with an IP address: {e}",
                raw.server.grpc_addr
            ))
        })?;
        let file = |name: &str, value: &str| -> Result<PathBuf, ConfigError> {
            if value.is_empty() {
                return Err(invalid(format!("server.{name} is required")));
            }
            Ok(base.join(value))
        };
        let tls_cert_file = file("tls_cert_file", &raw.server.tls_cert_file)?;
        let tls_key_file = file("tls_key_file", &raw.server.tls_key_file)?;
        let client_ca_file = file("client_ca_file", &raw.server.client_ca_file).map_err(|_| {
            invalid(
                "server.client_ca_file is required: signet signer only serves clients with a \
                 certificate from that CA (mutual TLS)"
                    .to_owned(),
            )
        })?;
        let pkcs11 = match &raw.pkcs11 {
            None => None,
            Some(p) => {
                if p.module.is_empty() || p.token_label.is_empty() {
                    return Err(invalid(
                        "pkcs11.module and pkcs11.token_label are required".to_owned(),
                    ));
                }
                Some(Pkcs11Config {
                    module: base.join(&p.module),
                    token_label: p.token_label.clone(),
                    pin_file: (!p.pin_file.is_empty()).then(|| base.join(&p.pin_file)),
                })
            }
        };
        let default_alias = || -> Result<String, ConfigError> {
            let alias = if raw.storage.default_alias.is_empty() {
                env("NOTARY_SIGNER_DEFAULT_ALIAS").unwrap_or_default()
            } else {
                raw.storage.default_alias.clone()
            };
            if alias.is_empty() && pkcs11.is_none() {
                return Err(invalid(
                    "must provide a default alias for the key DB (storage.default_alias)"
                        .to_owned(),
                ));
            }
            Ok(alias)
        };
        let storage = match raw.storage.backend.as_str() {
            "memory" => Storage::Memory,
            "sqlite3" | "sqlite" => {
                let url = &raw.storage.db_url;
                if url.is_empty() {
                    return Err(invalid("storage.db_url is required".to_owned()));
                }
                let url = if url.starts_with("sqlite:") {
                    url.clone()
                } else {
                    format!("sqlite://{}", base.join(url).display())
                };
                Storage::Database {
                    url,
                    default_alias: default_alias()?,
                }
            }
            "postgres" => {
                if raw.storage.db_url.is_empty() {
                    return Err(invalid("storage.db_url is required".to_owned()));
                }
                Storage::Database {
                    url: raw.storage.db_url.clone(),
                    default_alias: default_alias()?,
                }
            }
            other => {
                return Err(invalid(format!(
                    "{other:?} is not an allowed backend, must be one of: sqlite3, postgres, memory"
                )));
            }
        };
        Ok(Self {
            grpc_addr,
            tls_cert_file,
            tls_key_file,
            client_ca_file,
            storage,
            log_level: Some(raw.logging.level).filter(|l| !l.is_empty()),
            pkcs11,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const SERVER: &str = r#""server": {"grpc_addr": "127.0.0.1:7899", "tls_cert_file": "s.crt",
        "tls_key_file": "/abs/s.key", "client_ca_file": "ca.crt"}"#;

    #[test]
    fn notary_signer_layout_is_read() {
        let json = format!(
            r#"{{{SERVER}, "logging": {{"level": "debug"}},
            "storage": {{"backend": "sqlite3", "db_url": "keys.db", "default_alias": "ts_1"}}}}"#
        );
        let c = SignerConfig::from_json(&json, Path::new("/etc/signer"), no_env).unwrap();
        assert_eq!(c.grpc_addr, "127.0.0.1:7899".parse().unwrap());
        assert_eq!(c.tls_cert_file, PathBuf::from("/etc/signer/s.crt"));
        assert_eq!(c.tls_key_file, PathBuf::from("/abs/s.key"));
        assert_eq!(c.client_ca_file, PathBuf::from("/etc/signer/ca.crt"));
        assert_eq!(
            c.storage,
            Storage::Database {
                url: "sqlite:///etc/signer/keys.db".to_owned(),
                default_alias: "ts_1".to_owned()
            }
        );
    }

    #[test]
    fn default_alias_falls_back_to_the_environment() {
        let json = format!(
            r#"{{{SERVER}, "storage": {{"backend": "postgres", "db_url": "postgres://db/s"}}}}"#
        );
        let err = SignerConfig::from_json(&json, Path::new("/"), no_env).unwrap_err();
        assert!(err.to_string().contains("default alias"), "{err}");
        let c = SignerConfig::from_json(&json, Path::new("/"), |n| {
            (n == "NOTARY_SIGNER_DEFAULT_ALIAS").then(|| "env_alias".to_owned())
        })
        .unwrap();
        assert_eq!(
            c.storage,
            Storage::Database {
                url: "postgres://db/s".to_owned(),
                default_alias: "env_alias".to_owned()
            }
        );
    }

    #[test]
    fn a_pkcs11_token_makes_the_default_alias_optional() {
        let json = format!(
            r#"{{{SERVER}, "storage": {{"backend": "sqlite3", "db_url": "keys.db"}},
            "pkcs11": {{"module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "signet",
            "pin_file": "pin"}}}}"#
        );
        let c = SignerConfig::from_json(&json, Path::new("/etc/signer"), no_env).unwrap();
        assert_eq!(
            c.pkcs11,
            Some(Pkcs11Config {
                module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
                token_label: "signet".to_owned(),
                pin_file: Some(PathBuf::from("/etc/signer/pin")),
            })
        );
        assert_eq!(
            c.storage,
            Storage::Database {
                url: "sqlite:///etc/signer/keys.db".to_owned(),
                default_alias: String::new()
            }
        );
        for (pkcs11, expect) in [
            (r#"{"token_label": "t"}"#, "pkcs11.module"),
            (r#"{"module": "m"}"#, "token_label"),
            (r#"{"module": "m", "token_label": "t", "slot": 1}"#, "slot"),
        ] {
            let json =
                format!(r#"{{{SERVER}, "storage": {{"backend": "memory"}}, "pkcs11": {pkcs11}}}"#);
            let err = SignerConfig::from_json(&json, Path::new("/"), no_env).unwrap_err();
            assert!(err.to_string().contains(expect), "{pkcs11}: {err}");
        }
    }

    #[test]
    fn bad_configurations_are_refused_with_the_setting_named() {
        for (json, expect) in [
            (r#"{"storage": {"backend": "memory"}}"#.to_owned(), "grpc_addr"),
            (
                r#"{"server": {"grpc_addr": "127.0.0.1:1", "tls_cert_file": "c", "tls_key_file": "k"}, "storage": {"backend": "memory"}}"#.to_owned(),
                "client_ca_file",
            ),
            (
                r#"{"server": {"grpc_addr": "127.0.0.1:1", "tls_key_file": "k", "client_ca_file": "ca"}}"#.to_owned(),
                "tls_cert_file",
            ),
            (format!(r#"{{{SERVER}, "storage": {{"backend": "mysql", "db_url": "x"}}}}"#), "mysql"),
            (format!(r#"{{{SERVER}, "storage": {{}}}}"#), "allowed backend"),
            (format!(r#"{{{SERVER}, "storage": {{"backend": "sqlite3", "default_alias": "a"}}}}"#), "db_url"),
            (r#"{"server": {"grpc_addr": "nohost"}}"#.to_owned(), "grpc_addr"),
            ("not json".to_owned(), "not valid"),
        ] {
            let err = SignerConfig::from_json(&json, Path::new("/"), no_env).unwrap_err();
            assert!(err.to_string().contains(expect), "{json}: {err}");
        }
    }
}
