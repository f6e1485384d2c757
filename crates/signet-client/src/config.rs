//! The notary client configuration (`~/.notary/config.json`, spec §6.5) and the global
//! options that override it, resolved the way the Go `notary` CLI resolves them:
//!
//! ```json
//! {"trust_dir":"~/.notary",
//!  "remote_server":{"url":"https://notary-server:4443","root_ca":"root-ca.crt",
//!                   "tls_client_cert":"c.crt","tls_client_key":"c.key","skipTLSVerify":false},
//!  "trust_pinning":{"certs":{"docker.com/notary":["<key id>"],"docker.com/*":["<key id>"]},
//!                   "ca":{"docker.com/":"/ca.pem"},"disable_tofu":false}}
//! ```
//!
//! * `-c FILE` must exist; without it `~/.notary/config.json` is read if present.
//! * Flags win over the file: `-d`, `--tlscacert`, `--tlscert`, `--tlskey` (relative to the
//!   working directory), `-s`.
//! * `remote_server.*` paths in the file are relative to the file's directory; `trust_dir`
//!   expands a leading `~`.
//! * The default server is `https://notary-server:4443`, as in notary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use signet_core::{KeyId, Pinning};

use crate::error::ClientError;
use crate::transport::TransportConfig;

/// notary's default server URL.
pub const DEFAULT_SERVER: &str = "https://notary-server:4443";

/// The file as notary reads it (unknown fields ignored, as viper does).
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    trust_dir: Option<String>,
    #[serde(default)]
    remote_server: RemoteServer,
    #[serde(default)]
    trust_pinning: TrustPinning,
}

#[derive(Debug, Default, Deserialize)]
struct RemoteServer {
    url: Option<String>,
    root_ca: Option<String>,
    tls_client_cert: Option<String>,
    tls_client_key: Option<String>,
    #[serde(rename = "skipTLSVerify")]
    skip_tls_verify: Option<bool>,
}

/// notary's `trust_pinning`: how the first root of a GUN is trusted.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TrustPinning {
    /// Pinned root key IDs by GUN, or by GUN prefix ending in `*`.
    #[serde(default)]
    pub certs: BTreeMap<String, Vec<String>>,
    /// CA bundle files by GUN prefix.
    #[serde(default)]
    pub ca: BTreeMap<String, String>,
    /// No trust on first use: a GUN needs a pin or a cached root.
    #[serde(default)]
    pub disable_tofu: bool,
}

/// Global options given on the command line (all optional; they override the file).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `-c/--configFile`.
    pub config_file: Option<PathBuf>,
    /// `-d/--trustDir`.
    pub trust_dir: Option<PathBuf>,
    /// `-s/--server`.
    pub server: Option<String>,
    /// `--tlscacert`.
    pub tls_ca: Option<PathBuf>,
    /// `--tlscert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tlskey`.
    pub tls_key: Option<PathBuf>,
    /// Root key IDs pinned for every GUN (`--pin-root-key`, `SIGNET_ROOT_KEY`): any other
    /// root fails, whatever the file says.
    pub pinned_root_keys: Vec<String>,
}

/// The resolved client settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The trust directory.
    pub trust_dir: PathBuf,
    /// The server URL.
    pub server: String,
    /// CA bundle for the server (`None`: the system roots).
    pub root_ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// `remote_server.skipTLSVerify`.
    pub skip_tls_verify: bool,
    /// `trust_pinning`.
    pub trust_pinning: TrustPinning,
    /// Root keys pinned for every GUN by flag or environment.
    pub pinned_root_keys: Vec<String>,
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
}

fn config_err(path: Option<&Path>, reason: impl Into<String>) -> ClientError {
    ClientError::Config {
        path: path.map(Path::to_path_buf),
        reason: reason.into(),
    }
}

/// `~` or `~/x` → under `home`; anything else unchanged.
fn home_expand(home: Option<&Path>, p: &str) -> PathBuf {
    match (home, p.strip_prefix('~')) {
        (Some(h), Some("")) => h.to_path_buf(),
        (Some(h), Some(rest)) if rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

/// `p` relative to the working directory `cwd`, made absolute.
fn from_cwd(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

impl Settings {
    /// Resolves the settings as notary does, with `home` (`$HOME`) and `cwd` given.
    pub fn resolve(
        o: &Overrides,
        home: Option<&Path>,
        cwd: &Path,
    ) -> Result<Settings, ClientError> {
        let default_dir = home.map_or_else(|| cwd.join(".notary"), |h| h.join(".notary"));
        let (path, required) = match &o.config_file {
            Some(p) => (from_cwd(cwd, p), true),
            None => (default_dir.join("config.json"), false),
        };
        let (file, used) = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: FileConfig = serde_json::from_slice(&bytes).map_err(|e| {
                    config_err(Some(&path), format!("error opening config file: {e}"))
                })?;
                (file, Some(path))
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                (FileConfig::default(), None)
            }
            Err(e) => {
                return Err(config_err(
                    Some(&path),
                    format!("error opening config file: {e}"),
                ));
            }
        };
        let base = used
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
        let rel_to_config = |p: &Option<String>| {
            p.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| from_cwd(&base, Path::new(s)))
        };

        let trust_dir = match (&o.trust_dir, &file.trust_dir) {
            (Some(d), _) => from_cwd(cwd, d),
            (None, Some(d)) if !d.is_empty() => home_expand(home, d),
            _ => default_dir,
        };
        let server = o
            .server
            .clone()
            .or(file.remote_server.url.clone().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let root_ca = o
            .tls_ca
            .as_ref()
            .map(|p| from_cwd(cwd, p))
            .or_else(|| rel_to_config(&file.remote_server.root_ca));
        let cert = o
            .tls_cert
            .as_ref()
            .map(|p| from_cwd(cwd, p))
            .or_else(|| rel_to_config(&file.remote_server.tls_client_cert));
        let key = o
            .tls_key
            .as_ref()
            .map(|p| from_cwd(cwd, p))
            .or_else(|| rel_to_config(&file.remote_server.tls_client_key));
        let client_identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(config_err(
                    used.as_deref(),
                    "either pass both client key and cert, or neither",
                ));
            }
        };
        let mut trust_pinning = file.trust_pinning;
        for ca in trust_pinning.ca.values_mut() {
            *ca = home_expand(home, ca).to_string_lossy().into_owned();
        }
        Ok(Settings {
            trust_dir,
            server,
            root_ca,
            client_identity,
            skip_tls_verify: file.remote_server.skip_tls_verify.unwrap_or(false),
            trust_pinning,
            pinned_root_keys: o.pinned_root_keys.clone(),
            config_file: used,
        })
    }

    /// The HTTP set-up for the server: the configured CA only (notary's exclusive root
    /// pool), else the system roots.
    pub fn transport_config(&self) -> TransportConfig {
        let mut t = TransportConfig::new(self.server.clone(), self.root_ca.clone());
        t.system_roots = self.root_ca.is_none();
        t.client_identity = self.client_identity.clone();
        t.skip_tls_verify = self.skip_tls_verify;
        t
    }

    /// How the first root of `gun` is trusted: a root key pinned by flag or environment
    /// (for every GUN); else notary's rules, one mode per GUN: `certs` for the exact GUN,
    /// else the longest `prefix*` entry; else the `ca` entry with the longest GUN prefix;
    /// else TOFU, unless `disable_tofu`.
    pub fn pinning_for(&self, gun: &str) -> Result<Pinning, ClientError> {
        if !self.pinned_root_keys.is_empty() {
            return Ok(Pinning::Keys(
                self.pinned_root_keys.iter().map(KeyId::new).collect(),
            ));
        }
        let tp = &self.trust_pinning;
        let certs = tp.certs.get(gun).or_else(|| {
            tp.certs
                .iter()
                .filter_map(|(k, v)| {
                    let prefix = k.strip_suffix('*')?;
                    gun.starts_with(prefix).then_some((prefix.len(), v))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, v)| v)
        });
        if let Some(ids) = certs {
            return Ok(Pinning::Keys(ids.iter().map(KeyId::new).collect()));
        }
        let ca = tp
            .ca
            .iter()
            .filter(|(prefix, _)| gun.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((_, file)) = ca {
            let path = Path::new(file);
            let pem = std::fs::read(path)
                .map_err(|e| config_err(Some(path), format!("trust_pinning.ca for {gun}: {e}")))?;
            return Pinning::ca_pem(&pem)
                .map_err(|e| config_err(Some(path), format!("trust_pinning.ca for {gun}: {e}")));
        }
        Ok(if tp.disable_tofu {
            Pinning::DisableTofu
        } else {
            Pinning::Tofu
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn file_then_flags_as_notary() {
        let d = tempfile::tempdir().unwrap();
        let cfg = write(
            d.path(),
            "config.json",
            r#"{"trust_dir":"~/td","remote_server":{"url":"https://n:1","root_ca":"ca.pem",
               "tls_client_cert":"/abs/c.crt","tls_client_key":"k.key","skipTLSVerify":true},
               "trust_pinning":{"disable_tofu":true},"unknown":1}"#,
        );
        let home = Path::new("/home/u");
        let o = Overrides {
            config_file: Some(cfg.clone()),
            ..Overrides::default()
        };
        let s = Settings::resolve(&o, Some(home), Path::new("/cwd")).unwrap();
        assert_eq!(s.trust_dir, PathBuf::from("/home/u/td"));
        assert_eq!(s.server, "https://n:1");
        assert_eq!(s.root_ca, Some(d.path().join("ca.pem")));
        assert_eq!(
            s.client_identity,
            Some((PathBuf::from("/abs/c.crt"), d.path().join("k.key")))
        );
        assert!(s.skip_tls_verify);
        assert_eq!(s.pinning_for("any").unwrap(), Pinning::DisableTofu);

        let o = Overrides {
            config_file: Some(cfg),
            trust_dir: Some("rel".into()),
            server: Some("https://s:2".into()),
            tls_ca: Some("my-ca.pem".into()),
            ..Overrides::default()
        };
        let s = Settings::resolve(&o, Some(home), Path::new("/cwd")).unwrap();
        assert_eq!(s.trust_dir, PathBuf::from("/cwd/rel"));
        assert_eq!(s.server, "https://s:2");
        assert_eq!(s.root_ca, Some(PathBuf::from("/cwd/my-ca.pem")));
    }

    #[test]
    fn defaults_and_missing_files() {
        let d = tempfile::tempdir().unwrap();
        let s = Settings::resolve(&Overrides::default(), Some(d.path()), Path::new("/c")).unwrap();
        assert_eq!(s.trust_dir, d.path().join(".notary"));
        assert_eq!(s.server, DEFAULT_SERVER);
        assert!(s.root_ca.is_none() && s.config_file.is_none());
        assert_eq!(s.pinning_for("x").unwrap(), Pinning::Tofu);
        // an explicit -c must exist
        let o = Overrides {
            config_file: Some(d.path().join("nope.json")),
            ..Overrides::default()
        };
        assert!(Settings::resolve(&o, Some(d.path()), Path::new("/c")).is_err());
        // half a client identity is an error
        let o = Overrides {
            tls_cert: Some("c".into()),
            ..Overrides::default()
        };
        assert!(Settings::resolve(&o, Some(d.path()), Path::new("/c")).is_err());
    }

    #[test]
    fn pinning_modes_per_gun() {
        let d = tempfile::tempdir().unwrap();
        let ca = signet_test_support::CertKey::generate(
            "ca",
            signet_core::UnixTime::from_unix(1_700_000_000, 0),
        );
        let ca_file = write(d.path(), "ca.pem", &ca.cert_pem());
        let cfg = write(
            d.path(),
            "c.json",
            &serde_json::json!({"trust_pinning": {
                "certs": {"docker.com/notary": ["exact"], "docker.com/*": ["wild"],
                          "docker.com/lib*": ["longer"]},
                "ca": {"example.com/": ca_file, "example.com/team/": "/missing.pem"},
            }})
            .to_string(),
        );
        let o = Overrides {
            config_file: Some(cfg),
            ..Overrides::default()
        };
        let s = Settings::resolve(&o, None, d.path()).unwrap();
        let keys = |ids: &[&str]| Pinning::Keys(ids.iter().map(|i| KeyId::new(*i)).collect());
        assert_eq!(
            s.pinning_for("docker.com/notary").unwrap(),
            keys(&["exact"])
        );
        assert_eq!(s.pinning_for("docker.com/other").unwrap(), keys(&["wild"]));
        assert_eq!(
            s.pinning_for("docker.com/library/x").unwrap(),
            keys(&["longer"])
        );
        assert!(
            matches!(s.pinning_for("example.com/app").unwrap(), Pinning::Ca(c) if c.len() == 1)
        );
        // the longest CA prefix wins, and an unreadable bundle is an error, not TOFU
        assert!(s.pinning_for("example.com/team/app").is_err());
        assert_eq!(s.pinning_for("other.org/x").unwrap(), Pinning::Tofu);

        let mut s = s;
        s.pinned_root_keys = vec!["flag".into()];
        assert_eq!(s.pinning_for("docker.com/notary").unwrap(), keys(&["flag"]));
    }
}
