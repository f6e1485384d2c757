//! The one HTTP client set-up for everything that talks to trust servers: TLS roots (a CA
//! bundle, or the system roots), an optional client certificate, timeouts, proxies from the
//! environment (`HTTPS_PROXY`, `NO_PROXY`), token authentication, and reads that stop at a
//! size limit.
//!
//! # Token authentication
//!
//! A server behind a registry's token service answers `401` with
//! `WWW-Authenticate: Bearer realm="…",service="…"`. The transport then asks the realm for a
//! token (`?service=…&scope=repository:<gun>:<actions>`), with HTTP basic credentials if it
//! has any (notary's `NOTARY_AUTH`, base64 of `user:password`), and repeats the request with
//! `Authorization: Bearer <token>`; tokens are kept per scope for the transport's lifetime.
//! Requests challenged at the same time share one exchange per scope: the ones that
//! wait use the token it got, or give up with their `401` if it got none.
//! A `Basic` challenge is answered with the credentials directly. The realm must be
//! `https://` (or loopback `http://`), so credentials never travel in clear text.
//!
//! An identity token (docker's OAuth refresh token, [`Credentials::identity_token`]) is
//! exchanged instead as docker exchanges it: `POST` to the realm with the form
//! `grant_type=refresh_token`, `refresh_token`, `service`, `scope` and `client_id`, the access
//! token read from the JSON answer. It is never sent as a basic password.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ClientError;
use crate::registry::is_loopback_host;

/// How to reach a Notary v1 server.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Base URL, e.g. `https://notary.example.com:4443` (no trailing slash needed).
    /// `http://` is accepted for loopback test servers only.
    pub server: String,
    /// PEM file of CA certificates to trust; `None`: none (then only `ca_pem` counts).
    pub ca_file: Option<PathBuf>,
    /// PEM CA certificates given inline (added to `ca_file`'s).
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and key (PEM files) for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Timeout for a whole request, body included.
    pub request_timeout: Duration,
    /// Also trust the operating system's root certificates (notary does when no CA is
    /// configured).
    pub system_roots: bool,
    /// notary's `skipTLSVerify`: accept any server certificate. Dangerous; for test
    /// set-ups only.
    pub skip_tls_verify: bool,
    /// Basic credentials for token services and basic challenges (`NOTARY_AUTH`).
    pub credentials: Option<Credentials>,
}

/// A user name and password for a registry's token service.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password (never logged).
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The user name docker's credential helpers give for an identity token.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// The OAuth client ID sent with an identity token.
const OAUTH_CLIENT_ID: &str = "signet";

impl Credentials {
    /// An identity token (an OAuth refresh token from `docker login`), held under docker's
    /// user name for them, [`IDENTITY_TOKEN_USER`].
    pub fn identity_token(token: impl Into<String>) -> Self {
        Self {
            username: IDENTITY_TOKEN_USER.to_owned(),
            password: zeroize::Zeroizing::new(token.into()),
        }
    }

    /// Whether these are an identity token rather than a user name and password.
    pub fn is_identity_token(&self) -> bool {
        self.username == IDENTITY_TOKEN_USER
    }

    /// Parses notary's `NOTARY_AUTH`: base64 of `user:password` (the password trimmed).
    pub fn from_notary_auth(value: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::Config {
            path: None,
            reason: format!("NOTARY_AUTH: {reason}"),
        };
        let plain = signet_core::encoding::b64_decode(value.trim())
            .ok_or_else(|| bad("could not base64-decode authentication string"))?;
        let plain =
            zeroize::Zeroizing::new(String::from_utf8(plain).map_err(|_| bad("not UTF-8"))?);
        match plain.split_once(':') {
            Some(("", _)) => Err(bad("authentication string with zero-length username")),
            Some((user, password)) => Ok(Self {
                username: user.to_owned(),
                password: zeroize::Zeroizing::new(password.trim().to_owned()),
            }),
            None => Err(bad("format must be <username>:<password>")),
        }
    }
}

/// What a request needs from the server: read (`pull`), write (`push,pull`) or delete (`*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `pull`.
    Read,
    /// `push,pull`.
    Write,
    /// `*`.
    Admin,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Self::Read => "pull",
            Self::Write => "push,pull",
            Self::Admin => "*",
        }
    }
}

impl TransportConfig {
    /// A configuration for `server` trusting the CAs in `ca_file`, with 10 s connect and
    /// 60 s request timeouts.
    pub fn new(server: impl Into<String>, ca_file: Option<PathBuf>) -> Self {
        Self {
            server: server.into(),
            ca_file,
            ca_pem: None,
            client_identity: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            system_roots: false,
            skip_tls_verify: false,
            credentials: None,
        }
    }
}

/// An HTTP client for one server, built once from a [`TransportConfig`].
#[derive(Clone, Debug)]
pub struct Transport {
    base: String,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    /// Bearer tokens by scope, and how many exchanges each scope has had.
    tokens: Arc<Mutex<Tokens>>,
    /// Held while a token is exchanged, so concurrent requests share one exchange.
    exchange: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct Tokens {
    by_scope: HashMap<String, String>,
    exchanges: HashMap<String, u64>,
}

/// A response body read up to a limit.
pub(crate) enum Fetched {
    /// 200 and the body.
    Body(Vec<u8>),
    /// Any other status.
    Status(u16),
    /// The body (or its announced length) went over the limit.
    TooLarge,
}

impl Transport {
    /// Builds the client: rustls with the *ring* provider, the configured roots and
    /// identity, no redirects.
    pub fn new(config: &TransportConfig) -> Result<Self, ClientError> {
        let err = |path: Option<&PathBuf>, reason: String| ClientError::Config {
            path: path.cloned(),
            reason,
        };
        let base = config.server.trim_end_matches('/').to_owned();
        let loopback_http = base
            .strip_prefix("http://")
            .is_some_and(|rest| is_loopback_host(rest.split('/').next().unwrap_or_default()));
        if !base.starts_with("https://") && !loopback_http {
            return Err(err(
                None,
                format!("server URL {base} must be https:// (http:// only for loopback)"),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        let mut add_pem = |pem: &[u8], path: Option<&PathBuf>| -> Result<(), ClientError> {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| err(path, format!("bad PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| err(path, format!("bad CA certificate: {e}")))?;
            }
            Ok(())
        };
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| err(Some(path), e.to_string()))?;
            add_pem(&pem, Some(path))?;
        }
        if let Some(pem) = &config.ca_pem {
            add_pem(pem, None)?;
        }
        if config.system_roots {
            let native = rustls_native_certs::load_native_certs();
            // unreadable system certificates are skipped, as Go does
            roots.add_parsable_certificates(native.certs);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err(None, format!("TLS: {e}")))?;
        let builder = if config.skip_tls_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            builder.with_root_certificates(roots)
        };
        let tls = match &config.client_identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| err(Some(cert), format!("client certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| err(Some(key), format!("client key: {e}")))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| err(Some(cert), format!("client identity: {e}")))?
            }
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| err(None, format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            credentials: config.credentials.clone(),
            tokens: Arc::default(),
            exchange: Arc::default(),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The configured HTTP client (for the registry API, which shares this set-up).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The URL of a metadata file: `<server>/v2/<gun>/_trust/tuf/<file>`.
    pub fn url(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.base)
    }

    /// GETs `url`, reading at most `limit` bytes: a `Content-Length` over the limit or a
    /// body that keeps going past it stops the read at once.
    pub(crate) async fn get_limited(
        &self,
        gun: &str,
        url: &str,
        limit: u64,
    ) -> Result<Fetched, reqwest::Error> {
        let resp = self.send(gun, Access::Read, || self.http.get(url)).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(Fetched::Status(status));
        }
        read_limited(resp, limit).await
    }
}

/// Reads a 200 answer's body, at most `limit` bytes: a `Content-Length` over the limit or
/// a body that keeps going past it stops the read at once. The buffer is sized once from
/// the announced length, after that length is checked, rather than grown by doubling (a
/// large targets file is not copied over and over).
async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Fetched, reqwest::Error> {
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Ok(Fetched::TooLarge);
    }
    let announced = announced.and_then(|n| usize::try_from(n).ok());
    let mut body = Vec::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) = resp.chunk().await? {
        if u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX) > limit {
            return Ok(Fetched::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(body))
}

/// The first [`ANSWER_PREFIX`] bytes of an answer's body (what an error message needs).
async fn read_prefix(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= ANSWER_PREFIX {
            body.truncate(ANSWER_PREFIX);
            break;
        }
    }
    Ok(body)
}

/// How much of an answer to a write is kept.
const ANSWER_PREFIX: usize = 1024;

impl Transport {
    /// Sends the request `make` builds; on a `401` with a `Bearer` or `Basic` challenge,
    /// authenticates (see the module documentation) and sends it once more.
    pub(crate) async fn send(
        &self,
        gun: &str,
        access: Access,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let scope = format!("repository:{gun}:{}", access.actions());
        let cached = self.token(&scope);
        // Exchanges finished after this point answer this request's challenge too.
        let exchanges_before = self.exchanges(&scope);
        let first = match &cached {
            Some(token) => make().bearer_auth(token),
            None => make(),
        };
        let resp = first.send().await?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        let Some(challenge) = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(resp);
        };
        match challenge.scheme.as_str() {
            "bearer" => {
                let _one_at_a_time = self.exchange.lock().await;
                // Another request may have exchanged a token for this scope meanwhile.
                let fresh = self.token(&scope).filter(|t| Some(t) != cached.as_ref());
                let token = match fresh {
                    Some(token) => Some(token),
                    // It tried and got none: asking again would get none too.
                    None if self.exchanges(&scope) != exchanges_before => None,
                    None => {
                        let token = self.fetch_token(&challenge, &scope).await;
                        if let Ok(mut t) = self.tokens.lock() {
                            *t.exchanges.entry(scope.clone()).or_default() += 1;
                            if let Some(token) = &token {
                                t.by_scope.insert(scope, token.clone());
                            }
                        }
                        token
                    }
                };
                match token {
                    Some(token) => make().bearer_auth(token).send().await,
                    None => Ok(resp),
                }
            }
            "basic" => match &self.credentials {
                Some(c) if !c.is_identity_token() => {
                    make()
                        .basic_auth(&c.username, Some(c.password.as_str()))
                        .send()
                        .await
                }
                // an identity token is for a token service only, never a basic password
                _ => Ok(resp),
            },
            _ => Ok(resp),
        }
    }

    fn token(&self, scope: &str) -> Option<String> {
        self.tokens.lock().ok()?.by_scope.get(scope).cloned()
    }

    fn exchanges(&self, scope: &str) -> u64 {
        self.tokens
            .lock()
            .map_or(0, |t| t.exchanges.get(scope).copied().unwrap_or(0))
    }

    /// Asks the token service named by a `Bearer` challenge for a token; `None` if it
    /// cannot be had (the caller then reports the 401).
    async fn fetch_token(&self, challenge: &Challenge, scope: &str) -> Option<String> {
        let realm = challenge.params.get("realm")?;
        let loopback_http = realm
            .strip_prefix("http://")
            .is_some_and(|rest| is_loopback_host(rest.split('/').next().unwrap_or_default()));
        if !realm.starts_with("https://") && !loopback_http {
            tracing::warn!(%realm, "refusing a token realm that is not https");
            return None;
        }
        let mut url = reqwest::Url::parse(realm).ok()?;
        let service = challenge.params.get("service").map(String::as_str);
        let req = match &self.credentials {
            Some(c) if c.is_identity_token() => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", c.password.as_str())
                    .append_pair("client_id", OAUTH_CLIENT_ID)
                    .append_pair("scope", scope);
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                let form = zeroize::Zeroizing::new(form.finish());
                self.http
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.as_str().to_owned())
            }
            credentials => {
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("scope", scope);
                    if let Some(service) = service {
                        q.append_pair("service", service);
                    }
                }
                let req = self.http.get(url);
                match credentials {
                    Some(c) => req.basic_auth(&c.username, Some(c.password.as_str())),
                    None => req,
                }
            }
        };
        let mut resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            tracing::warn!(status = resp.status().as_u16(), "token service refused");
            return None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.ok()? {
            if body.len() + chunk.len() > TOKEN_LIMIT {
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }
}

/// Largest token response read.
const TOKEN_LIMIT: usize = 1 << 20;

/// A parsed `WWW-Authenticate` challenge: the scheme (lower case) and its parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower case (`bearer`, `basic`).
    pub scheme: String,
    /// The parameters by lower-case name (`realm`, `service`, `scope`), values unquoted.
    pub params: HashMap<String, String>,
}

/// Parses `Scheme k="v", k2=v2` (quoted values may contain `\"` and commas); `None` if the
/// header is malformed.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let mut params = HashMap::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let value;
        if let Some(quoted) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end?..];
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value = after[..end].trim().to_owned();
            rest = &after[end..];
        }
        params.insert(key, value);
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// notary's `skipTLSVerify`: a verifier that accepts any certificate but still checks the
/// handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every request with `head` and then closes.
    async fn answering(head: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn.write_all(head.as_bytes()).await;
            }
        });
        base
    }

    #[tokio::test]
    async fn an_announced_length_over_the_limit_is_refused_before_any_allocation() {
        // Far beyond any memory: sizing the buffer from it would abort the process.
        let base = answering("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n{}").await;
        let t = Transport::new(&TransportConfig::new(base, None)).unwrap();
        let got = t
            .get_limited("a/b", &t.url("a/b", "root.json"), 1 << 20)
            .await;
        assert!(matches!(got, Ok(Fetched::TooLarge)));
        assert!(matches!(
            t.get_key("a/b", "timestamp").await,
            Ok(Fetched::TooLarge)
        ));
        assert!(matches!(
            t.rotate_key("a/b", "snapshot").await,
            Ok(Fetched::TooLarge)
        ));
    }

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry, docker",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["service"], "registry, docker");
        assert_eq!(c.params["scope"], "repository:a/b:pull");
        let c = parse_challenge(r#"Basic realm=x, charset="UTF-8""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "x");
        assert_eq!(c.params["charset"], "UTF-8");
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn notary_auth_parses_as_notary() {
        let enc = |s: &str| signet_core::encoding::b64_encode(s.as_bytes());
        let c = Credentials::from_notary_auth(&enc("user:pa:ss \n")).unwrap();
        assert_eq!(c.username, "user");
        assert_eq!(c.password.as_str(), "pa:ss");
        assert!(Credentials::from_notary_auth(&enc(":pw")).is_err());
        assert!(Credentials::from_notary_auth(&enc("nocolon")).is_err());
        assert!(Credentials::from_notary_auth("%%%").is_err());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }
}

/// The answer to a write request: status and (at most 1 KiB of) body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Largest body read from a key response (notary: 256 KiB) or an error answer.
const KEY_LIMIT: u64 = 256 << 10;

impl Transport {
    /// `GET <gun>/_trust/tuf/<role>.key`: the server-managed public key of `role`.
    pub(crate) async fn get_key(&self, gun: &str, role: &str) -> Result<Fetched, reqwest::Error> {
        let url = self.url(gun, &format!("{role}.key"));
        let resp = self
            .send(gun, Access::Write, || self.http.get(&url))
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(Fetched::Status(status));
        }
        read_limited(resp, KEY_LIMIT).await
    }

    /// `POST <gun>/_trust/tuf/<role>.key`: asks the server to make a new key for `role`
    /// (timestamp or snapshot) and answers with its public part.
    pub(crate) async fn rotate_key(
        &self,
        gun: &str,
        role: &str,
    ) -> Result<Fetched, reqwest::Error> {
        let url = self.url(gun, &format!("{role}.key"));
        let resp = self
            .send(gun, Access::Write, || self.http.post(&url))
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(Fetched::Status(status));
        }
        read_limited(resp, KEY_LIMIT).await
    }

    /// `DELETE <gun>/_trust/tuf/`: removes the repository's trust data from the server
    /// (needs `*` access).
    pub(crate) async fn delete_gun(&self, gun: &str) -> Result<Answer, reqwest::Error> {
        let url = format!("{}/v2/{gun}/_trust/tuf/", self.base);
        let resp = self
            .send(gun, Access::Admin, || self.http.delete(&url))
            .await?;
        let status = resp.status().as_u16();
        let body = read_prefix(resp).await?;
        Ok(Answer { status, body })
    }

    /// `POST <gun>/_trust/tuf/` with one multipart part per file, as the Go client lays it
    /// out (`name="files"`, `filename="<role>"`).
    pub(crate) async fn post_update(
        &self,
        gun: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<Answer, reqwest::Error> {
        let url = format!("{}/v2/{gun}/_trust/tuf/", self.base);
        let make = || {
            let mut form = reqwest::multipart::Form::new();
            for (role, bytes) in files {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(role.clone())
                    .mime_str("application/octet-stream")
                    .unwrap_or_else(|_| reqwest::multipart::Part::bytes(bytes.clone()));
                form = form.part("files", part);
            }
            self.http.post(&url).multipart(form)
        };
        let resp = self.send(gun, Access::Write, make).await?;
        let status = resp.status().as_u16();
        let body = read_prefix(resp).await?;
        Ok(Answer { status, body })
    }
}
