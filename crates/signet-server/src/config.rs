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
    /// notary-server keys in the file that Signet ignores, one sentence each, for the
    /// binary to log once logging is set up.
    #[serde(skip)]
    pub warnings: Vec<String>,
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
    /// `local` (keys sealed in the server database) or `remote` (a signer speaking
    /// notary-signer's gRPC API: `signet signer` or notary-signer).
    #[serde(rename = "type")]
    pub kind: String,
    /// Algorithm of keys the server creates (or asks the signer to create).
    pub key_algorithm: KeyAlgorithm,
    /// File holding the key-encryption passphrase (else `SIGNET_KEY_PASSPHRASE`); `local`
    /// only.
    pub key_passphrase_file: Option<PathBuf>,
    /// Days after which a key handed out by `GET …/{role}.key` that never signed is
    /// deleted, if its repository has no metadata (it never published); 0 = never.
    /// `local` only.
    pub pending_key_days: u32,
    /// `remote`: the signer's host name or IP address (its certificate must name it).
    pub hostname: Option<String>,
    /// `remote`: the signer's port (notary writes it as a string).
    pub port: Option<Port>,
    /// `remote`: PEM CA the signer's certificate must chain to.
    pub tls_ca_file: Option<PathBuf>,
    /// `remote`: PEM client certificate shown to the signer (with `tls_client_key`).
    pub tls_client_cert: Option<PathBuf>,
    /// `remote`: its PEM private key.
    pub tls_client_key: Option<PathBuf>,
    /// `remote`: seconds to connect to the signer (TCP and TLS).
    pub connect_timeout_secs: u64,
    /// `remote`: seconds one call to the signer may take once connected.
    pub rpc_timeout_secs: u64,
}

/// A TCP port written as a number or, as notary-server's files do, as a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u16),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(t) => {
                t.trim().parse().map(Self).map_err(|_| {
                    serde::de::Error::custom(format!("port {t:?} is not a port number"))
                })
            }
        }
    }
}

impl Default for TrustSection {
    fn default() -> Self {
        Self {
            kind: "local".to_owned(),
            key_algorithm: KeyAlgorithm::Ecdsa,
            key_passphrase_file: None,
            pending_key_days: crate::keys::DEFAULT_PENDING_KEY_DAYS,
            hostname: None,
            port: None,
            tls_ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
            connect_timeout_secs: 3,
            rpc_timeout_secs: 5,
        }
    }
}

impl TrustSection {
    /// Whether the keys are on a remote signer (`type` = `remote`).
    pub fn is_remote(&self) -> bool {
        self.kind == "remote"
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
        let mut raw: serde_json::Value =
            serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let warnings = review_notary_keys(&mut raw)?;
        let mut cfg: Self = serde_json::from_value(raw).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        cfg.warnings = warnings;
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
        let trust = &mut cfg.trust_service;
        for p in [
            &mut trust.key_passphrase_file,
            &mut trust.tls_ca_file,
            &mut trust.tls_client_cert,
            &mut trust.tls_client_key,
        ]
        .into_iter()
        .flatten()
        {
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
                        "rsa" => KeyAlgorithm::Rsa,
                        _ => return Err(bad("expected ecdsa, ed25519 or rsa")),
                    };
                }
                "TRUST_SERVICE_TYPE" => self.trust_service.kind = v,
                "TRUST_SERVICE_HOSTNAME" => self.trust_service.hostname = Some(v),
                "TRUST_SERVICE_PORT" => {
                    self.trust_service.port =
                        Some(Port(v.trim().parse().map_err(|_| bad("expected a port"))?));
                }
                "TRUST_SERVICE_TLS_CA_FILE" => self.trust_service.tls_ca_file = Some(v.into()),
                "TRUST_SERVICE_TLS_CLIENT_CERT" => {
                    self.trust_service.tls_client_cert = Some(v.into())
                }
                "TRUST_SERVICE_TLS_CLIENT_KEY" => {
                    self.trust_service.tls_client_key = Some(v.into())
                }
                "TRUST_SERVICE_CONNECT_TIMEOUT_SECS" => {
                    self.trust_service.connect_timeout_secs =
                        v.parse().map_err(|_| bad("expected seconds"))?;
                }
                "TRUST_SERVICE_RPC_TIMEOUT_SECS" => {
                    self.trust_service.rpc_timeout_secs =
                        v.parse().map_err(|_| bad("expected seconds"))?;
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
        self.validate_trust_service()?;
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

impl Config {
    /// `trust_service`: a known type, and for `remote` what notary-server requires.
    fn validate_trust_service(&self) -> Result<(), ConfigError> {
        let t = &self.trust_service;
        match t.kind.as_str() {
            "local" if t.key_algorithm == KeyAlgorithm::Rsa => {
                return Err(ConfigError::Invalid(
                    "trust_service.key_algorithm \"rsa\" needs a remote signer that makes RSA keys \
                     (signet signer with a PKCS#11 token); the local trust service makes ecdsa or \
                     ed25519 keys"
                        .to_owned(),
                ));
            }
            "local" => return Ok(()),
            "remote" => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "trust_service.type {other:?}: use \"local\" or \"remote\""
                )));
            }
        }
        let missing = |key: &str| {
            ConfigError::Invalid(format!(
                "trust_service.type \"remote\" needs trust_service.{key}"
            ))
        };
        if t.hostname.as_deref().is_none_or(|h| h.trim().is_empty()) {
            return Err(missing("hostname"));
        }
        if t.port.is_none_or(|p| p.0 == 0) {
            return Err(missing("port"));
        }
        if t.tls_ca_file.is_none() {
            return Err(missing(
                "tls_ca_file (the CA the signer's certificate chains to)",
            ));
        }
        if t.tls_client_cert.is_some() != t.tls_client_key.is_some() {
            return Err(ConfigError::Invalid(
                "trust_service: either pass both tls_client_cert and tls_client_key, or neither"
                    .to_owned(),
            ));
        }
        for (name, secs) in [
            ("connect_timeout_secs", t.connect_timeout_secs),
            ("rpc_timeout_secs", t.rpc_timeout_secs),
        ] {
            if !(1..=300).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "trust_service.{name} must be between 1 and 300 seconds, not {secs}"
                )));
            }
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

/// What Signet does with a key of notary-server's configuration.
enum Verdict {
    /// Does not apply to Signet: dropped with a warning naming why.
    Ignored(&'static str),
    /// Would change behaviour in a way Signet cannot honour: the file is refused.
    Refused(&'static str),
}

/// notary-server keys Signet does not take as they are, with their verdict. Keys not listed
/// here are either Signet's own (see `docs/notary-server-config.md`) or unknown, which the
/// typed parse refuses.
const NOTARY_KEYS: &[(&str, Verdict)] = &[
    (
        "reporting",
        Verdict::Ignored(
            "error reporting to Bugsnag is not built in; logs and /metrics carry failures",
        ),
    ),
    (
        "server.auth",
        Verdict::Ignored("misplaced: authentication is configured in the top-level `auth` section"),
    ),
    (
        "storage.tls_ca_file",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
    (
        "storage.client_key_file",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
    (
        "storage.client_cert_file",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
    (
        "storage.database",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
    (
        "storage.username",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
    (
        "storage.password",
        Verdict::Refused(
            "RethinkDB storage is not supported: run Signet on PostgreSQL or SQLite and import the data",
        ),
    ),
];

/// notary-server's `trust_service` keys that only mean something with `type = "remote"`.
const REMOTE_ONLY_KEYS: &[&str] = &[
    "hostname",
    "port",
    "tls_ca_file",
    "tls_client_cert",
    "tls_client_key",
];

/// Applies [`NOTARY_KEYS`] and the value checks of notary-server keys whose meaning
/// depends on their value (`storage.backend`, `trust_service.type`); returns the warnings.
fn review_notary_keys(raw: &mut serde_json::Value) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for (key, verdict) in NOTARY_KEYS {
        let (section, field) = match key.split_once('.') {
            Some((s, f)) => (s, Some(f)),
            None => (*key, None),
        };
        let Some(obj) = raw.as_object_mut() else {
            break;
        };
        let present = match field {
            None => obj.contains_key(section),
            Some(f) => obj
                .get(section)
                .and_then(|v| v.as_object())
                .is_some_and(|o| o.contains_key(f)),
        };
        if !present {
            continue;
        }
        match verdict {
            Verdict::Refused(why) => {
                return Err(ConfigError::Invalid(format!("`{key}`: {why}")));
            }
            Verdict::Ignored(why) => {
                warnings.push(format!("ignoring notary-server setting `{key}`: {why}"));
                match field {
                    None => {
                        obj.remove(section);
                    }
                    Some(f) => {
                        if let Some(o) = obj.get_mut(section).and_then(|v| v.as_object_mut()) {
                            o.remove(f);
                        }
                    }
                }
            }
        }
    }
    let backend = raw
        .pointer("/storage/backend")
        .and_then(|v| v.as_str())
        .map(str::to_ascii_lowercase);
    match backend.as_deref() {
        None | Some("postgres" | "sqlite" | "sqlite3") => {}
        Some("memory") => warnings.push(
            "storage.backend `memory`: Signet keeps data in the database that `db_url` names \
             (SQLite by default), across restarts"
                .to_owned(),
        ),
        Some("mysql") => {
            return Err(ConfigError::Invalid(
                "storage.backend `mysql` is not supported: run Signet on PostgreSQL or SQLite \
                 and import the notary-server data"
                    .to_owned(),
            ));
        }
        Some("rethinkdb") => {
            return Err(ConfigError::Invalid(
                "storage.backend `rethinkdb` is not supported: run Signet on PostgreSQL or \
                 SQLite and import the notary-server data"
                    .to_owned(),
            ));
        }
        Some(other) => {
            return Err(ConfigError::Invalid(format!(
                "storage.backend `{other}` is unknown: use `postgres` or `sqlite`"
            )));
        }
    }
    match raw.pointer("/trust_service/type").and_then(|v| v.as_str()) {
        Some("remote") => {}
        None | Some("local") => {
            // notary-server ignores the remote settings with `local`; so does Signet, aloud.
            if let Some(t) = raw.get_mut("trust_service").and_then(|v| v.as_object_mut()) {
                for key in REMOTE_ONLY_KEYS {
                    if t.remove(*key).is_some() {
                        warnings.push(format!(
                            "ignoring notary-server setting `trust_service.{key}`: it configures \
                             a remote signer and trust_service.type is `local`"
                        ));
                    }
                }
            }
        }
        Some(kind) => {
            return Err(ConfigError::Invalid(format!(
                "trust_service.type `{kind}` is unknown: use `local` (keys sealed in the server's \
                 database) or `remote` (a signer: signet signer or notary-signer)"
            )));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod notary_key_tests {
    use super::*;

    fn load(json: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.json");
        std::fs::write(&path, json).expect("write");
        Config::from_file(&path)
    }

    #[test]
    fn a_notary_server_config_loads_with_warnings_for_what_does_not_apply() {
        let cfg = load(
            r#"{
              "server": {"http_addr": ":4443", "tls_key_file": "k.pem", "tls_cert_file": "c.pem"},
              "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
              "logging": {"level": "debug"},
              "reporting": {"bugsnag": {"api_key": "x", "release_stage": "prod"}},
              "storage": {"backend": "postgres", "db_url": "postgres://server@db:5432/notaryserver?sslmode=disable"},
              "caching": {"max_age": {"current_metadata": 300, "consistent_metadata": 31536000}},
              "repositories": {"gun_prefixes": ["docker.io/"]}
            }"#,
        )
        .expect("loads");
        assert_eq!(cfg.server.http_addr, ":4443");
        assert_eq!(cfg.logging.level.as_deref(), Some("debug"));
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(
            cfg.warnings[0].contains("`reporting`"),
            "{:?}",
            cfg.warnings
        );
    }

    #[test]
    fn settings_signet_cannot_honour_are_refused_with_the_reason() {
        for (json, expect) in [
            (
                r#"{"storage": {"backend": "mysql", "db_url": "server@tcp(db:3306)/notaryserver"}}"#,
                "mysql",
            ),
            (
                r#"{"storage": {"backend": "rethinkdb", "db_url": "db:28015", "database": "notaryserver"}}"#,
                "RethinkDB",
            ),
            (r#"{"storage": {"backend": "cassandra"}}"#, "unknown"),
            (r#"{"trust_service": {"type": "hsm"}}"#, "`hsm` is unknown"),
        ] {
            let err = load(json).map(|_| ()).expect_err(json);
            assert!(err.to_string().contains(expect), "{json}: {err}");
        }
        let err = load(r#"{"server": {"nonsense": 1}}"#)
            .map(|_| ())
            .expect_err("unknown key");
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn rsa_keys_need_a_remote_signer() {
        let cfg = load(
            r#"{"trust_service": {"type": "remote", "hostname": "s", "port": 7899,
                "key_algorithm": "rsa", "tls_ca_file": "ca"}}"#,
        )
        .expect("loads");
        cfg.validate().expect("rsa from a remote signer");
        assert_eq!(cfg.trust_service.key_algorithm, KeyAlgorithm::Rsa);
        let err = load(r#"{"trust_service": {"type": "local", "key_algorithm": "rsa"}}"#)
            .expect("loads")
            .validate()
            .expect_err("local rsa");
        assert!(err.to_string().contains("remote signer"), "{err}");
    }

    #[test]
    fn remote_trust_service_takes_notary_server_fields() {
        let cfg = load(
            r#"{"trust_service": {"type": "remote", "hostname": "notarysigner", "port": "7899",
                "key_algorithm": "ecdsa", "tls_ca_file": "./root-ca.crt",
                "tls_client_cert": "./notary-server.crt", "tls_client_key": "./notary-server.key"}}"#,
        )
        .expect("loads");
        cfg.validate().expect("valid");
        let t = &cfg.trust_service;
        assert!(t.is_remote());
        assert_eq!(t.hostname.as_deref(), Some("notarysigner"));
        assert_eq!(t.port, Some(Port(7899)));
        // Relative to the file's directory, like notary-server.
        let ca = t.tls_ca_file.as_ref().expect("ca");
        assert!(
            ca.is_absolute() && ca.ends_with("root-ca.crt"),
            "{}",
            ca.display()
        );
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);

        // A number works too; the client certificate is optional, but not half of it.
        let cfg = load(
            r#"{"trust_service": {"type": "remote", "hostname": "s", "port": 7899, "tls_ca_file": "ca"}}"#,
        )
        .expect("loads");
        cfg.validate().expect("valid without a client certificate");
        for (json, expect) in [
            (
                r#"{"trust_service": {"type": "remote", "port": 1, "tls_ca_file": "ca"}}"#,
                "hostname",
            ),
            (
                r#"{"trust_service": {"type": "remote", "hostname": "s", "tls_ca_file": "ca"}}"#,
                "port",
            ),
            (
                r#"{"trust_service": {"type": "remote", "hostname": "s", "port": 1}}"#,
                "tls_ca_file",
            ),
            (
                r#"{"trust_service": {"type": "remote", "hostname": "s", "port": 1, "tls_ca_file": "ca", "tls_client_cert": "c"}}"#,
                "both",
            ),
        ] {
            let err = load(json).expect(json).validate().expect_err(json);
            assert!(err.to_string().contains(expect), "{json}: {err}");
        }
        let err = load(r#"{"trust_service": {"type": "remote", "port": "x"}}"#)
            .map(|_| ())
            .expect_err("bad port");
        assert!(err.to_string().contains("port"), "{err}");

        // With `local`, the remote settings are ignored aloud (notary-server ignores them).
        let cfg = load(r#"{"trust_service": {"type": "local", "hostname": "s", "port": "7899"}}"#)
            .expect("loads");
        assert!(!cfg.trust_service.is_remote());
        assert_eq!(cfg.trust_service.hostname, None);
        assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);

        let mut env = Config::default();
        env.apply_env([
            (
                "SIGNET_SERVER_TRUST_SERVICE_TYPE".to_owned(),
                "remote".to_owned(),
            ),
            (
                "SIGNET_SERVER_TRUST_SERVICE_HOSTNAME".to_owned(),
                "s".to_owned(),
            ),
            (
                "SIGNET_SERVER_TRUST_SERVICE_PORT".to_owned(),
                "7899".to_owned(),
            ),
            (
                "SIGNET_SERVER_TRUST_SERVICE_TLS_CA_FILE".to_owned(),
                "/ca".to_owned(),
            ),
        ])
        .expect("env");
        env.validate().expect("valid from the environment");
    }

    #[test]
    fn memory_backend_is_explained() {
        let cfg = load(r#"{"storage": {"backend": "memory"}}"#).expect("loads");
        assert!(
            cfg.warnings.iter().any(|w| w.contains("memory")),
            "{:?}",
            cfg.warnings
        );
    }
}
