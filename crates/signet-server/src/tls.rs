//! TLS for the listener: the operator's certificate, or a local CA and server certificate
//! made on first run in the state directory (kept across restarts).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Where the generated TLS material lives.
#[derive(Clone, Debug)]
pub struct GeneratedTls {
    /// The local CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
    /// Whether it was created by this call.
    pub created: bool,
}

/// A TLS setup problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The PEM material is unusable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificate generation or rustls setup failed.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// Loads a certificate chain and key into a rustls server config (TLS 1.2+, h2 and
/// http/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_err = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err(cert, "no certificate found".to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError::Setup(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| TlsError::Setup(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Returns the generated material in `state_dir/tls`, creating a CA and a server
/// certificate for `localhost`, `127.0.0.1`, `::1` and `extra_names` if missing.
pub fn ensure_local_ca(state_dir: &Path, extra_names: &[String]) -> Result<GeneratedTls, TlsError> {
    let dir = state_dir.join("tls");
    let out = GeneratedTls {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        created: false,
    };
    if out.ca_cert.exists() && out.cert.exists() && out.key.exists() {
        return Ok(out);
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let setup = |e: rcgen::Error| TlsError::Setup(e.to_string());

    let ca_key = KeyPair::generate().map_err(setup)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(setup)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Signet local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(setup)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let server_key = KeyPair::generate().map_err(setup)?;
    let mut params = CertificateParams::new(names).map_err(setup)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "signet server");
    params.not_after = rcgen::date_time_ymd(2028, 1, 1);
    let server_cert = params.signed_by(&server_key, &issuer).map_err(setup)?;

    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    write_private(&out.key, server_key.serialize_pem().as_bytes())?;
    fs::write(&out.cert, format!("{}{}", server_cert.pem(), ca_cert.pem()))
        .map_err(io_err(&out.cert))?;
    fs::write(&out.ca_cert, ca_cert.pem()).map_err(io_err(&out.ca_cert))?;
    Ok(GeneratedTls {
        created: true,
        ..out
    })
}

/// Writes a secret file readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })?;
    f.write_all(bytes).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}
