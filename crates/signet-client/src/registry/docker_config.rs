//! The docker CLI's configuration directory (`$DOCKER_CONFIG`, default `~/.docker`): the
//! trust directory `trust/`, per-server TLS material `tls/<host:port>/`, and registry
//! credentials in `config.json` (`auths.<registry>.auth`, `credsStore`, `credHelpers`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::RegistryError;
use crate::Credentials;
use crate::transport::IDENTITY_TOKEN_USER;

/// The largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// docker's configuration directory.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    dir: PathBuf,
}

/// CA certificates and a client identity for one server, from a docker TLS directory.
#[derive(Clone, Debug, Default)]
pub struct TlsMaterial {
    /// Every `*.crt` file's PEM, concatenated (added to the system roots).
    pub ca_pem: Option<Vec<u8>>,
    /// The first `<name>.cert` / `<name>.key` pair.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl DockerConfig {
    /// The configuration in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// docker's choice: `$DOCKER_CONFIG` if set and not empty, else `<home>/.docker`.
    pub fn locate(docker_config: Option<&std::ffi::OsStr>, home: Option<&Path>) -> Self {
        match docker_config.filter(|v| !v.is_empty()) {
            Some(dir) => Self::new(dir),
            None => Self::new(home.unwrap_or(Path::new(".")).join(".docker")),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/trust`: docker's Notary trust directory (keys, cached metadata, changelists).
    pub fn trust_dir(&self) -> PathBuf {
        self.dir.join("trust")
    }

    /// `<dir>/tls/<host:port>`: CA certificates (`*.crt`) and client certificates
    /// (`*.cert` + `*.key`) for a trust server.
    pub fn tls_dir(&self, host_port: &str) -> PathBuf {
        self.dir.join("tls").join(host_port)
    }

    /// Reads a docker TLS directory as docker does (`ReadCertsDirectory`): every `*.crt` is
    /// a CA; every `<name>.cert` needs `<name>.key` and the reverse. A missing directory is
    /// no material.
    pub fn tls_material(dir: &Path) -> Result<TlsMaterial, RegistryError> {
        let err = |reason: String| RegistryError::Config {
            path: Some(dir.to_path_buf()),
            reason,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TlsMaterial::default());
            }
            Err(e) => return Err(err(e.to_string())),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut out = TlsMaterial::default();
        for name in &names {
            if name.ends_with(".crt") {
                let path = dir.join(name);
                let pem = std::fs::read(&path).map_err(|e| err(format!("{name}: {e}")))?;
                let all = out.ca_pem.get_or_insert_with(Vec::new);
                all.extend_from_slice(&pem);
                all.push(b'\n');
            } else if let Some(stem) = name.strip_suffix(".cert") {
                let key = format!("{stem}.key");
                if !names.contains(&key) {
                    return Err(err(format!(
                        "missing key {key} for client certificate {name}. CA certificates must \
                         use the extension .crt"
                    )));
                }
                if out.client_identity.is_none() {
                    out.client_identity = Some((dir.join(name), dir.join(key)));
                }
            } else if let Some(stem) = name.strip_suffix(".key") {
                let cert = format!("{stem}.cert");
                if !names.contains(&cert) {
                    return Err(err(format!(
                        "missing client certificate {cert} for key {name}"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The credentials docker would use for the registry whose `config.json` key is
    /// `server` (see `ImageRef::auth_key`): a credential helper (`credHelpers.<server>`,
    /// else `credsStore`), else `auths.<server>` (or an entry whose key is a URL of the same
    /// host), with `auth` (base64 `user:password`) or `username`/`password`. `None` when
    /// there are none, or the file does not exist.
    pub fn credentials(&self, server: &str) -> Result<Option<Credentials>, RegistryError> {
        let path = self.dir.join("config.json");
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RegistryError::Config {
                    path: Some(path),
                    reason: e.to_string(),
                });
            }
        };
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
            &mut text,
        )
        .map_err(|e| RegistryError::Config {
            path: Some(path.clone()),
            reason: e.to_string(),
        })?;
        let text = Zeroizing::new(text);
        if u64::try_from(text.len()).unwrap_or(u64::MAX) > MAX_CONFIG_BYTES {
            return Err(RegistryError::Config {
                path: Some(path),
                reason: format!("larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        let config: ConfigFile =
            serde_json::from_slice(&text).map_err(|e| RegistryError::Config {
                path: Some(path.clone()),
                reason: e.to_string(),
            })?;
        let helper = config
            .cred_helpers
            .get(server)
            .or(config.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper {
            return run_helper(helper, server);
        }
        let entry = config.auths.get(server).or_else(|| {
            config
                .auths
                .iter()
                .find(|(k, _)| host_of(k) == server)
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else { return Ok(None) };
        let bad = |reason: &str| RegistryError::Config {
            path: Some(path.clone()),
            reason: format!("auths.{server}: {reason}"),
        };
        // docker prefers the identity token (`docker login` against an OAuth token service
        // stores it, with the user name alone in `auth`).
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::identity_token(token)));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let plain = signet_core::encoding::b64_decode(auth.trim())
                .ok_or_else(|| bad("auth is not base64"))?;
            let plain = Zeroizing::new(String::from_utf8(plain).map_err(|_| bad("not UTF-8"))?);
            return match plain.split_once(':') {
                Some((user, password)) if !user.is_empty() => Ok(Some(Credentials {
                    username: user.to_owned(),
                    password: Zeroizing::new(password.trim_matches('\0').to_owned()),
                })),
                _ => Err(bad("invalid auth configuration file")),
            };
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials {
                username: u.clone(),
                password: Zeroizing::new(p.clone()),
            })),
            _ => Ok(None),
        }
    }
}

/// docker's `ConvertToHostname`: a config key that is a URL, reduced to its host.
fn host_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Asks `docker-credential-<helper> get` (the docker credential-helper protocol: the server
/// on standard input, `{"Username","Secret"}` on standard output).
fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let err = |reason: String| RegistryError::Config {
        path: None,
        reason: format!("credential helper {program}: {reason}"),
    };
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(err("invalid helper name".to_owned()));
    }
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        let text = String::from_utf8_lossy(&stdout);
        if text.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(err(format!("{} {}", text.trim(), stderr.trim())));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&stdout).map_err(|e| err(format!("bad answer: {e}")))?;
    let secret = Zeroizing::new(answer.secret);
    if answer.username == IDENTITY_TOKEN_USER {
        return Ok(Some(Credentials::identity_token(secret.as_str())));
    }
    if answer.username.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: Zeroizing::new(secret.as_str().to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), json).unwrap();
        let c = DockerConfig::new(d.path());
        (d, c)
    }

    #[test]
    fn auths_are_read_as_docker_reads_them() {
        let auth = signet_core::encoding::b64_encode(b"alice:s3cret:x");
        let user_only = signet_core::encoding::b64_encode(b"carol:");
        let (_d, c) = config(&format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},
                "https://index.docker.io/v1/":{{"username":"bob","password":"pw"}},
                "https://reg.example.com/v2/":{{"auth":"{auth}"}},
                "broken.example.com":{{"auth":"%%%"}},
                "token.example.com":{{"identitytoken":"t"}},
                "both.example.com":{{"auth":"{user_only}","identitytoken":"rt"}}}},"other":1}}"#
        ));
        let a = c.credentials("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("alice", "s3cret:x")
        );
        let b = c
            .credentials("https://index.docker.io/v1/")
            .unwrap()
            .unwrap();
        assert_eq!((b.username.as_str(), b.password.as_str()), ("bob", "pw"));
        let r = c.credentials("reg.example.com").unwrap().unwrap();
        assert_eq!(r.username, "alice");
        assert!(c.credentials("nothing.example.com").unwrap().is_none());
        assert!(c.credentials("broken.example.com").is_err());
        let t = c.credentials("token.example.com").unwrap().unwrap();
        assert!(t.is_identity_token());
        assert_eq!(t.password.as_str(), "t");
        // what `docker login` leaves with an OAuth token service: the token wins
        let both = c.credentials("both.example.com").unwrap().unwrap();
        assert!(both.is_identity_token());
        assert_eq!(both.password.as_str(), "rt");
        assert!(
            DockerConfig::new("/nonexistent")
                .credentials("x")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn missing_helper_is_an_error_not_anonymous_access() {
        let (_d, c) = config(r#"{"credsStore":"signet-test-no-such-helper"}"#);
        let e = c.credentials("example.com").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-signet-test-no-such-helper"),
            "{e}"
        );
        let (_d, c) = config(r#"{"credHelpers":{"example.com":"../evil"}}"#);
        assert!(c.credentials("example.com").is_err());
    }

    #[test]
    fn tls_directories_read_as_docker() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            DockerConfig::tls_material(&d.path().join("none"))
                .unwrap()
                .ca_pem
                .is_none()
        );
        std::fs::write(d.path().join("ca.crt"), "A").unwrap();
        std::fs::write(d.path().join("b.crt"), "B").unwrap();
        let m = DockerConfig::tls_material(d.path()).unwrap();
        assert_eq!(m.ca_pem.as_deref(), Some(&b"B\nA\n"[..]));
        assert!(m.client_identity.is_none());
        std::fs::write(d.path().join("client.cert"), "C").unwrap();
        let e = DockerConfig::tls_material(d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing key client.key"), "{e}");
        std::fs::write(d.path().join("client.key"), "K").unwrap();
        let m = DockerConfig::tls_material(d.path()).unwrap();
        assert_eq!(
            m.client_identity,
            Some((d.path().join("client.cert"), d.path().join("client.key")))
        );
        let c = DockerConfig::locate(None, Some(Path::new("/home/u")));
        assert_eq!(c.trust_dir(), Path::new("/home/u/.docker/trust"));
        let c = DockerConfig::locate(Some(std::ffi::OsStr::new("/cfg")), None);
        assert_eq!(c.tls_dir("h:1"), Path::new("/cfg/tls/h:1"));
    }
}
