//! Real registries for the tests: the peers' docker-registry on 127.0.0.1:5000 (no auth),
//! and throw-away docker-registry processes with HTTP basic (htpasswd) or token
//! authentication, the latter with a token service served here that mints ES256 JWTs the
//! registry verifies against a test CA. `Pusher` uploads blobs and manifests (Docker v2,
//! OCI, manifest lists and OCI indexes) the way `docker push` does, with curl's HTTP calls.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::pem::PemObject as _;
use serde_json::json;
use signet_test_support::pki::TestCa;

use super::random_hex;

/// The peers' registry (`scripts/peers/registry.sh start`).
pub(crate) const SHARED_REGISTRY: &str = "127.0.0.1:5000";

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The shared registry's `host:port`, after checking it answers.
pub(crate) fn shared_registry() -> &'static str {
    let url = format!("http://{SHARED_REGISTRY}/v2/");
    let ok = blocking(async {
        http_client()
            .get(&url)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    match ok {
        Ok(200) => SHARED_REGISTRY,
        other => panic!(
            "docker-registry is not answering on {url} ({other:?}); start it with \
             scripts/peers/registry.sh start"
        ),
    }
}

/// A plain-HTTP client (rustls with *ring* configured, as reqwest needs one).
pub(crate) fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("rustls config")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// Runs a future to completion on a fresh current-thread runtime.
pub(crate) fn blocking<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// A manifest as pushed: its digest (`sha256:…`), size, type and bytes.
#[derive(Clone, Debug)]
pub(crate) struct Pushed {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) media_type: &'static str,
    pub(crate) bytes: Vec<u8>,
}

fn sha256_digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    format!(
        "sha256:{}",
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Uploads to one registry (`http://host:port`) with an optional `Authorization` value.
pub(crate) struct Pusher {
    base: String,
    auth: Option<String>,
    http: reqwest::Client,
}

impl Pusher {
    pub(crate) fn new(host_port: &str, auth: Option<String>) -> Self {
        Self {
            base: format!("http://{host_port}"),
            auth,
            http: http_client(),
        }
    }

    fn req(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Some(a) => r.header(reqwest::header::AUTHORIZATION, a),
            None => r,
        }
    }

    /// Uploads a blob (monolithic: POST opens a session, PUT with `?digest=` closes it).
    pub(crate) async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let resp = self
            .req(
                reqwest::Method::POST,
                &format!("{}/v2/{repo}/blobs/uploads/", self.base),
            )
            .send()
            .await
            .expect("open upload");
        assert_eq!(resp.status().as_u16(), 202, "open upload for {repo}");
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("upload location")
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .req(
                reqwest::Method::PUT,
                &format!("{location}{sep}digest={digest}"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("close upload");
        assert_eq!(resp.status().as_u16(), 201, "blob upload {digest}");
        digest
    }

    /// PUTs a manifest under `reference` (a tag or its digest).
    pub(crate) async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &'static str,
        bytes: Vec<u8>,
    ) -> Pushed {
        let resp = self
            .req(
                reqwest::Method::PUT,
                &format!("{}/v2/{repo}/manifests/{reference}", self.base),
            )
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(bytes.clone())
            .send()
            .await
            .expect("put manifest");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 201, "manifest {repo}:{reference}: {body}");
        Pushed {
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            media_type,
            bytes,
        }
    }

    /// A one-layer image manifest (`DOCKER_MANIFEST` or `OCI_MANIFEST`) whose config names
    /// `seed` (so each seed gives another digest), tagged `tag`.
    pub(crate) async fn image(
        &self,
        repo: &str,
        tag: &str,
        media_type: &'static str,
        seed: &str,
    ) -> Pushed {
        let oci = media_type == OCI_MANIFEST;
        let layer = format!("signet test layer {seed}").into_bytes();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha256_digest(&layer)
        )
        .into_bytes();
        let layer_digest = self.blob(repo, &layer).await;
        let config_digest = self.blob(repo, &config).await;
        let (config_type, layer_type) = if oci {
            (
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar",
            )
        } else {
            (
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar",
            )
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": layer_type, "size": layer.len(), "digest": layer_digest}],
        });
        self.manifest(repo, tag, media_type, format!("{manifest}").into_bytes())
            .await
    }

    /// A multi-arch index (`DOCKER_LIST` or `OCI_INDEX`) over `children` (already pushed
    /// to `repo`), each with its `os/architecture[/variant]`, tagged `tag`.
    pub(crate) async fn index(
        &self,
        repo: &str,
        tag: &str,
        media_type: &'static str,
        children: &[(&Pushed, &str)],
    ) -> Pushed {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(p, platform)| {
                let mut parts = platform.split('/');
                let os = parts.next().unwrap_or("linux");
                let arch = parts.next().unwrap_or("amd64");
                let mut plat = json!({"architecture": arch, "os": os});
                if let Some(v) = parts.next() {
                    plat["variant"] = json!(v);
                }
                json!({"mediaType": p.media_type, "digest": p.digest, "size": p.size, "platform": plat})
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests});
        self.manifest(repo, tag, media_type, format!("{index}").into_bytes())
            .await
    }
}

/// How a throw-away registry authenticates.
pub(crate) enum RegistryAuth {
    /// htpasswd (bcrypt) with one user.
    Basic { user: String, password: String },
    /// A token service (served by this process) that gives tokens to one user.
    Token { user: String, password: String },
}

/// A docker-registry process with authentication, killed on drop.
pub(crate) struct AuthRegistry {
    child: Child,
    host_port: String,
    dir: tempfile::TempDir,
    token: Option<TokenService>,
    _rt: Option<tokio::runtime::Runtime>,
}

/// What the token service needs to mint tokens.
#[derive(Clone)]
pub(crate) struct TokenService {
    key: std::sync::Arc<ring::signature::EcdsaKeyPair>,
    leaf_der: Vec<u8>,
    user: String,
    password: String,
}

const TOKEN_SERVICE: &str = "signet-test-registry";
const TOKEN_ISSUER: &str = "signet-test-issuer";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl AuthRegistry {
    /// Starts docker-registry on a free loopback port with `auth`.
    pub(crate) fn start(auth: RegistryAuth) -> AuthRegistry {
        let bin = which("docker-registry").unwrap_or_else(|| {
            panic!("docker-registry is not installed (run scripts/peers/install.sh)")
        });
        let dir = tempfile::Builder::new()
            .prefix("signet-registry-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let (auth_yaml, token, rt) = match auth {
            RegistryAuth::Basic { user, password } => {
                let salt = format!("$2b$05${}", &random_hex(11)[..22]);
                let out = Command::new("perl")
                    .args(["-e", "print crypt($ARGV[0], $ARGV[1])", &password, &salt])
                    .output()
                    .expect("perl (for a bcrypt htpasswd line)");
                let hash = String::from_utf8(out.stdout).expect("utf-8");
                assert!(
                    hash.starts_with("$2b$05$"),
                    "perl crypt has no bcrypt: {hash:?}"
                );
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("htpasswd");
                (
                    format!(
                        "auth:\n  htpasswd:\n    realm: signet-test\n    path: {}\n",
                        htpasswd.display()
                    ),
                    None,
                    None,
                )
            }
            RegistryAuth::Token { user, password } => {
                let ca = TestCa::new(dir.path(), "token-ca");
                let leaf = ca.server("token-signer");
                let key_der =
                    rustls::pki_types::PrivateKeyDer::from_pem_file(&leaf.key).expect("token key");
                let leaf_der = rustls::pki_types::CertificateDer::from_pem_file(&leaf.cert)
                    .expect("token cert")
                    .to_vec();
                let key = ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    key_der.secret_der(),
                    &ring::rand::SystemRandom::new(),
                )
                .expect("P-256 token key");
                let service = TokenService {
                    key: std::sync::Arc::new(key),
                    leaf_der,
                    user,
                    password,
                };
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("runtime");
                let listener = rt
                    .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                    .expect("bind token service");
                let token_addr = listener.local_addr().expect("addr");
                let app = axum::Router::new()
                    .route(
                        "/token",
                        axum::routing::get(token_endpoint).post(oauth_token_endpoint),
                    )
                    .with_state(service.clone());
                rt.spawn(async move { axum::serve(listener, app).await });
                (
                    format!(
                        "auth:\n  token:\n    realm: http://{token_addr}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                        ca.cert.display()
                    ),
                    Some(service),
                    Some(rt),
                )
            }
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let mut reg = AuthRegistry {
            child,
            host_port: format!("127.0.0.1:{port}"),
            dir,
            token,
            _rt: rt,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&mut self) {
        let url = format!("http://{}/v2/", self.host_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry exited ({status}):\n{}",
                    std::fs::read_to_string(self.dir.path().join("registry.log"))
                        .unwrap_or_default()
                );
            }
            if let Ok(401) = blocking(async {
                http_client()
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer 401 on {url}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host_port(&self) -> &str {
        &self.host_port
    }

    /// An `Authorization` value that lets the test push to `repo`.
    pub(crate) fn push_auth(&self, repo: &str, user: &str, password: &str) -> String {
        match &self.token {
            None => format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{password}").as_bytes())
            ),
            Some(t) => format!(
                "Bearer {}",
                t.mint(&format!("repository:{repo}:pull,push"), user)
            ),
        }
    }

    /// The registry's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TokenService {
    /// A JWT granting `scope` (`repository:<name>:<actions>`) to `user`.
    #[allow(clippy::disallowed_methods)] // token claims carry wall-clock times the registry checks
    fn mint(&self, scope: &str, user: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let mut access = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            let Some((kind, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            access.push(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}));
        }
        let header =
            json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.leaf_der)]});
        let claims = json!({
            "iss": TOKEN_ISSUER, "sub": user, "aud": TOKEN_SERVICE,
            "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": random_hex(8),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!("{header}")),
            URL_SAFE_NO_PAD.encode(format!("{claims}"))
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .expect("sign token");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// `GET /token?service=…&scope=…` with HTTP basic credentials: a token for the scope if the
/// credentials are the user's, else 401.
async fn token_endpoint(
    axum::extract::State(s): axum::extract::State<TokenService>,
    axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, String) {
    let want = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", s.user, s.password).as_bytes())
    );
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(want.as_str()) {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_owned(),
        );
    }
    let scope: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let token = s.mint(&scope.join(" "), &s.user);
    (
        axum::http::StatusCode::OK,
        format!("{}", json!({"token": token})),
    )
}

impl TokenService {
    /// The identity token (OAuth refresh token) the service accepts for its user.
    fn identity_token(&self) -> String {
        format!("refresh-{}-{}", self.user, self.password)
    }
}

impl AuthRegistry {
    /// The identity token its token service takes (`docker login` would have stored it).
    pub(crate) fn identity_token(&self) -> String {
        self.token
            .as_ref()
            .expect("identity tokens need a token-auth registry")
            .identity_token()
    }
}

/// `POST /token` with docker's OAuth form (`grant_type=refresh_token`, `refresh_token`,
/// `service`, `scope`, `client_id`): an access token for the scope if the refresh token is
/// the user's identity token, else 401.
async fn oauth_token_endpoint(
    axum::extract::State(s): axum::extract::State<TokenService>,
    axum::extract::Form(form): axum::extract::Form<Vec<(String, String)>>,
) -> (axum::http::StatusCode, String) {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let identity = s.identity_token();
    if field("grant_type") != Some("refresh_token")
        || field("refresh_token") != Some(identity.as_str())
        || field("service") != Some(TOKEN_SERVICE)
        || field("client_id").is_none_or(str::is_empty)
    {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_grant"}"#.to_owned(),
        );
    }
    let token = s.mint(field("scope").unwrap_or_default(), &s.user);
    (
        axum::http::StatusCode::OK,
        format!("{}", json!({"access_token": token, "expires_in": 600})),
    )
}

/// Writes `$dir/config.json` as `docker login` leaves it with an OAuth token service: the user
/// name alone in `auth`, the refresh token in `identitytoken`.
pub(crate) fn write_docker_identity_token(dir: &Path, host: &str, user: &str, token: &str) {
    std::fs::create_dir_all(dir).expect("docker config dir");
    let auth = STANDARD.encode(format!("{user}:").as_bytes());
    std::fs::write(
        dir.join("config.json"),
        format!(
            "{}",
            json!({"auths": {host: {"auth": auth, "identitytoken": token}}})
        ),
    )
    .expect("config.json");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// Writes `$dir/config.json` with `auths.<host>.auth` = base64(`user:password`).
pub(crate) fn write_docker_auth(dir: &Path, host: &str, user: &str, password: &str) {
    std::fs::create_dir_all(dir).expect("docker config dir");
    let auth = STANDARD.encode(format!("{user}:{password}").as_bytes());
    std::fs::write(
        dir.join("config.json"),
        format!("{}", json!({"auths": {host: {"auth": auth}}})),
    )
    .expect("config.json");
}
