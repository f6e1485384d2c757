//! Server configuration: a JSON file in notary-server's layout (so existing configs mostly
//! carry over), environment overrides `SIGNET_SERVER_<SECTION>_<KEY>`, then command-line
//! flags (applied by the binary).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::keys::KeyAlgorithm;

/// Everything the server needs to start.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `server` section.
    pub server: ServerSection,
    /// `storage` section.
    pub storage: StorageSection,
    /// `trust_service` section.
    pub trust_service: TrustSection,
    /// `auth` section; absent = no authentication.
    pub auth: Option<AuthSection>,
    /// `caching` section.
    pub caching: CachingSection,
    /// `repositories` section.
    pub repositories: RepositoriesSection,
    /// `logging` section (accepted for notary compatibility; the binary reads `level`).
    pub logging: LoggingSection,
}

/// `server`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Listen address, e.g. `127.0.0.1:4443`; port 0 picks a free port.
    pub http_addr: String,
    /// PEM certificate chain; with `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Serve plain HTTP (behind a TLS-terminating proxy). Off by default.
    pub plain_http: bool,
    /// Where generated state lives (the local CA when no certificate is given).
    pub state_dir: PathBuf,
    /// Largest accepted request body, bytes.
    pub max_upload_bytes: usize,
    /// Seconds a client may take to send a request head (and finish the TLS handshake).
    pub header_timeout_secs: u64,
    /// Seconds without a byte moving before a connection is closed (idle keep-alive,
    /// stalled transfers).
    pub idle_timeout_secs: u64,
    /// Seconds an upload's whole body may take to arrive.
    pub body_timeout_secs: u64,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Large uploads (over 1 MiB, or of undeclared length) read and validated at once;
    /// more wait, within their body timeout.
    pub max_concurrent_uploads: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:4443".to_owned(),
            tls_cert_file: None,
            tls_key_file: None,
            plain_http: false,
            state_dir: PathBuf::from("signet-data"),
            max_upload_bytes: 64 << 20,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_secs: 120,
            max_connections: 4096,
            max_concurrent_uploads: 1,
        }
    }
}

/// `storage`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Accepted for notary compatibility; the URL scheme decides.
    pub backend: Option<String>,
    /// `sqlite:///abs.db`, `sqlite://rel.db`, `postgres://user@host:port/db`.
    pub db_url: String,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            backend: None,
            db_url: "sqlite://signet-data/signet.db".to_owned(),
        }
    }
}

/// `trust_service`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustSection {
    /// `local` (keys in the server database). `remote` is reserved for the signer service.
    #[serde(rename = "type")]
    pub kind: String,
    /// Algorithm of keys the server creates.
    pub key_algorithm: KeyAlgorithm,
    /// File holding the key-encryption passphrase (else `SIGNET_KEY_PASSPHRASE`).
    pub key_passphrase_file: Option<PathBuf>,
    /// Days after which a key handed out by `GET …/{role}.key` that never signed is
    /// deleted, if its repository has no metadata (it never published); 0 = never.
    pub pending_key_days: u32,
}

impl Default for TrustSection {
    fn default() -> Self {
        Self {
            kind: "local".to_owned(),
            key_algorithm: KeyAlgorithm::Ecdsa,
            key_passphrase_file: None,
            pending_key_days: crate::keys::DEFAULT_PENDING_KEY_DAYS,
        }
    }
}

/// `auth`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Only `token` enables authentication, as in Notary.
    #[serde(rename = "type")]
    pub kind: String,
    /// Token options.
    pub options: TokenOptions,
}

/// Registry token authentication options.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenOptions {
    /// Token endpoint URL sent in challenges.
    pub realm: String,
    /// Expected `aud`.
    pub service: String,
    /// Expected `iss`.
    pub issuer: String,
    /// PEM bundle of root certificates. A token's `x5c` leaf must chain to one of them
    /// (or be one), and a `kid` may name one of their keys by libtrust key ID; see
    /// [`crate::auth`].
    pub rootcertbundle: PathBuf,
}

/// `caching`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CachingSection {
    /// `max_age`.
    pub max_age: MaxAge,
}

/// Cache-Control max-age values, seconds (0..=31536000; 0 disables caching).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAge {
    /// For current metadata (`role.json`).
    pub current_metadata: u32,
    /// For metadata addressed by checksum or version.
    pub consistent_metadata: u32,
}

impl Default for MaxAge {
    fn default() -> Self {
        Self {
            current_metadata: 300,
            consistent_metadata: 2_592_000,
        }
    }
}

/// `repositories`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoriesSection {
    /// GUN prefixes served; each ends in `/`. Empty = all.
    pub gun_prefixes: Vec<String>,
}

/// `logging`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    /// Level name.
    pub level: Option<String>,
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a JSON config file. Relative paths inside resolve against its directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg: Self = serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = cfg.server.tls_cert_file.as_mut() {
            fix(p);
        }
        if let Some(p) = cfg.server.tls_key_file.as_mut() {
            fix(p);
        }
        if let Some(p) = cfg.trust_service.key_passphrase_file.as_mut() {
            fix(p);
        }
        if let Some(a) = cfg.auth.as_mut() {
            fix(&mut a.options.rootcertbundle);
        }
        Ok(cfg)
    }

    /// Applies `SIGNET_SERVER_<SECTION>_<KEY>` overrides from `env` (pass
    /// `std::env::vars()`).
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (k, v) in env {
            let Some(key) = k.strip_prefix("SIGNET_SERVER_") else {
                continue;
            };
            let bad = |what: &str| ConfigError::Invalid(format!("{k}={v:?}: {what}"));
            match key {
                "SERVER_HTTP_ADDR" => self.server.http_addr = v,
                "SERVER_TLS_CERT_FILE" => self.server.tls_cert_file = Some(v.into()),
                "SERVER_TLS_KEY_FILE" => self.server.tls_key_file = Some(v.into()),
                "SERVER_PLAIN_HTTP" => {
                    self.server.plain_http =
                        parse_bool(&v).ok_or_else(|| bad("expected true or false"))?
                }
                "SERVER_STATE_DIR" => self.server.state_dir = v.into(),
                "SERVER_MAX_UPLOAD_BYTES" => {
                    self.server.max_upload_bytes =
                        v.parse().map_err(|_| bad("expected a byte count"))?;
                }
                "SERVER_HEADER_TIMEOUT_SECS" => {
                    self.server.header_timeout_secs =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "SERVER_IDLE_TIMEOUT_SECS" => {
                    self.server.idle_timeout_secs =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "SERVER_BODY_TIMEOUT_SECS" => {
                    self.server.body_timeout_secs =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "SERVER_MAX_CONNECTIONS" => {
                    self.server.max_connections =
                        v.parse().map_err(|_| bad("expected a connection count"))?;
                }
                "SERVER_MAX_CONCURRENT_UPLOADS" => {
                    self.server.max_concurrent_uploads =
                        v.parse().map_err(|_| bad("expected an upload count"))?;
                }
                "STORAGE_DB_URL" => self.storage.db_url = v,
                "STORAGE_BACKEND" => self.storage.backend = Some(v),
                "TRUST_SERVICE_KEY_ALGORITHM" => {
                    self.trust_service.key_algorithm = match v.as_str() {
                        "ecdsa" => KeyAlgorithm::Ecdsa,
                        "ed25519" => KeyAlgorithm::Ed25519,
                        _ => return Err(bad("expected ecdsa or ed25519")),
                    };
                }
                "TRUST_SERVICE_KEY_PASSPHRASE_FILE" => {
                    self.trust_service.key_passphrase_file = Some(v.into())
                }
                "TRUST_SERVICE_PENDING_KEY_DAYS" => {
                    self.trust_service.pending_key_days =
                        v.parse().map_err(|_| bad("expected days"))?;
                }
                "CACHING_MAX_AGE_CURRENT_METADATA" => {
                    self.caching.max_age.current_metadata =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "CACHING_MAX_AGE_CONSISTENT_METADATA" => {
                    self.caching.max_age.consistent_metadata =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "REPOSITORIES_GUN_PREFIXES" => {
                    self.repositories.gun_prefixes = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "LOGGING_LEVEL" => self.logging.level = Some(v),
                _ => return Err(bad("unknown setting")),
            }
        }
        Ok(())
    }

    /// Checks values Notary also rejects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for p in &self.repositories.gun_prefixes {
            if !p.ends_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "GUN prefix {p:?} must end in '/'"
                )));
            }
        }
        for (name, v) in [
            ("current_metadata", self.caching.max_age.current_metadata),
            (
                "consistent_metadata",
                self.caching.max_age.consistent_metadata,
            ),
        ] {
            if v > 31_536_000 {
                return Err(ConfigError::Invalid(format!(
                    "caching.max_age.{name} must be at most 31536000"
                )));
            }
        }
        if self.trust_service.kind != "local" {
            return Err(ConfigError::Invalid(format!(
                "trust_service.type {:?} is not supported yet (only \"local\")",
                self.trust_service.kind
            )));
        }
        if self.server.tls_cert_file.is_some() != self.server.tls_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert_file and tls_key_file go together".to_owned(),
            ));
        }
        if let Some(a) = &self.auth
            && a.kind != "token"
        {
            return Err(ConfigError::Invalid(format!(
                "auth.type {:?}: only \"token\" is supported",
                a.kind
            )));
        }
        for (name, secs) in [
            ("header_timeout_secs", self.server.header_timeout_secs),
            ("idle_timeout_secs", self.server.idle_timeout_secs),
            ("body_timeout_secs", self.server.body_timeout_secs),
        ] {
            if !(1..=86_400).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be between 1 and 86400 seconds, not {secs}"
                )));
            }
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_connections must be at least 1".to_owned(),
            ));
        }
        if self.server.max_concurrent_uploads == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_uploads must be at least 1".to_owned(),
            ));
        }
        if self.server.max_upload_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_upload_bytes must be at least 1024".to_owned(),
            ));
        }
        Ok(())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "TRUE" | "True" => Some(true),
        "0" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_validation() {
        let mut c = Config::default();
        c.apply_env([
            (
                "SIGNET_SERVER_STORAGE_DB_URL".to_owned(),
                "postgres://x@h:1/d".to_owned(),
            ),
            (
                "SIGNET_SERVER_REPOSITORIES_GUN_PREFIXES".to_owned(),
                "docker.io/, reg/".to_owned(),
            ),
            ("UNRELATED".to_owned(), "1".to_owned()),
            (
                "SIGNET_SERVER_SERVER_MAX_CONCURRENT_UPLOADS".to_owned(),
                "3".to_owned(),
            ),
            (
                "SIGNET_SERVER_TRUST_SERVICE_PENDING_KEY_DAYS".to_owned(),
                "7".to_owned(),
            ),
        ])
        .unwrap();
        assert_eq!(c.server.max_concurrent_uploads, 3);
        assert_eq!(c.trust_service.pending_key_days, 7);
        assert_eq!(c.storage.db_url, "postgres://x@h:1/d");
        assert_eq!(c.repositories.gun_prefixes, ["docker.io/", "reg/"]);
        c.validate().unwrap();
        assert!(
            c.apply_env([("SIGNET_SERVER_NOPE".to_owned(), "1".to_owned())])
                .is_err()
        );
        c.server.max_concurrent_uploads = 0;
        assert!(c.validate().is_err());
        c.server.max_concurrent_uploads = 1;
        c.repositories.gun_prefixes = vec!["nope".to_owned()];
        assert!(c.validate().is_err());
    }

    #[test]
    fn notary_style_file_parses() {
        let cfg: Config = serde_json::from_str(
            r#"{"server":{"http_addr":":4443"},"storage":{"backend":"postgres","db_url":"postgres://s@h:5432/n"},
                "caching":{"max_age":{"current_metadata":0}},"repositories":{"gun_prefixes":["docker.io/"]},
                "logging":{"level":"debug"}}"#,
        )
        .unwrap();
        assert_eq!(cfg.caching.max_age.current_metadata, 0);
        assert_eq!(cfg.caching.max_age.consistent_metadata, 2_592_000);
    }
}
