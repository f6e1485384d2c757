//! The one HTTP client set-up for everything that talks to trust servers: TLS roots, an
//! optional client certificate, timeouts, and reads that stop at a size limit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ClientError;

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
        }
    }
}

/// An HTTP client for one server, built once from a [`TransportConfig`].
#[derive(Clone, Debug)]
pub struct Transport {
    base: String,
    http: reqwest::Client,
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
        let loopback_http = base.strip_prefix("http://").is_some_and(|rest| {
            ["127.0.0.1:", "[::1]:", "localhost:"]
                .iter()
                .any(|p| rest.starts_with(p))
        });
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
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(None, format!("TLS: {e}")))?
            .with_root_certificates(roots);
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
        Ok(Self { base, http })
    }

    /// The URL of a metadata file: `<server>/v2/<gun>/_trust/tuf/<file>`.
    pub fn url(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.base)
    }

    /// GETs `url`, reading at most `limit` bytes: a `Content-Length` over the limit or a
    /// body that keeps going past it stops the read at once.
    pub(crate) async fn get_limited(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<Fetched, reqwest::Error> {
        let mut resp = self.http.get(url).send().await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(Fetched::Status(status));
        }
        if resp.content_length().is_some_and(|n| n > limit) {
            return Ok(Fetched::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX) > limit {
                return Ok(Fetched::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body))
    }
}
