//! TLS for a service's listener: the operator's certificate files, or a local CA and
//! server certificate generated in the state directory and renewed before they expire.
//!
//! [`TlsManager`] owns the material. [`TlsManager::load`] builds the first rustls
//! configuration; [`TlsManager::refresh`], called periodically while the service runs (see
//! [`crate::serve`]), renews generated certificates as they near expiry, reloads the
//! operator's files when they change, and warns when a certificate is close to expiry.
//! Every certificate's expiry is exported as the gauge
//! `signet_tls_certificate_expiry_timestamp_seconds`.
//!
//! Validity is always relative to the [`Clock`]: nothing here has a fixed date.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use signet_core::UnixTime;
use signet_core::key::parse_cert_chain;

use crate::clock::Clock;
use crate::metrics::{Collector, Exposition, Kind};

const DAY: i64 = 86_400;
/// How long a generated local CA is valid.
pub const CA_VALIDITY_DAYS: i64 = 10 * 365;
/// A generated CA is replaced when less than this is left (clients must then trust the new
/// `ca.crt`, which is logged as a warning).
pub const CA_RENEW_BEFORE_DAYS: i64 = 90;
/// How long a generated server certificate is valid.
pub const SERVER_VALIDITY_DAYS: i64 = 365;
/// A generated server certificate is replaced when less than this is left.
pub const SERVER_RENEW_BEFORE_DAYS: i64 = 30;
/// An operator's certificate this close to expiry is warned about (log and metric).
pub const WARN_BEFORE_DAYS: i64 = 30;
/// Generated certificates start this long before "now", for clocks that lag ours.
const BACKDATE_SECS: i64 = 3_600;

/// A TLS setup problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}")]
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
    /// The certificate and key do not make a usable rustls configuration (for example the
    /// key does not match the certificate).
    #[error("TLS certificate {cert} with key {key}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("generating TLS material: {0}")]
    Generate(String),
}

/// Where a listener's certificate comes from.
#[derive(Clone, Debug)]
pub enum TlsSource {
    /// The operator's PEM files: a certificate chain (leaf first) and its private key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// A local CA and server certificate kept in `state_dir/tls`, made on first use.
    LocalCa {
        /// The state directory.
        state_dir: PathBuf,
        /// Names the server certificate covers besides `localhost`, `127.0.0.1` and `::1`.
        extra_names: Vec<String>,
    },
}

/// Where the generated TLS material lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedTls {
    /// The local CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// The CA's private key.
    pub ca_key: PathBuf,
    /// The server certificate chain (server, then CA).
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

/// What [`ensure_local_ca`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    /// A new CA was made (first run, unusable, or near expiry).
    pub ca: bool,
    /// A new server certificate was made.
    pub server: bool,
}

/// One certificate the listener presents or depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateStatus {
    /// The file it was read from.
    pub path: PathBuf,
    /// `server` (the leaf presented) or `ca` (the generated local CA).
    pub role: &'static str,
    /// `operator` or `generated`.
    pub source: &'static str,
    /// End of validity.
    pub not_after: UnixTime,
}

struct State {
    /// Bytes of the operator's files as last loaded, to notice changes.
    loaded_files: Option<(Vec<u8>, Vec<u8>)>,
    certificates: Vec<CertificateStatus>,
    /// When each certificate (by path) was last warned about.
    warned: Vec<(PathBuf, UnixTime)>,
}

/// The listener's TLS material, kept fresh.
pub struct TlsManager {
    source: TlsSource,
    clock: Clock,
    state: Mutex<State>,
}

impl std::fmt::Debug for TlsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsManager")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TlsManager {
    /// Loads (or generates) the material and returns the manager and the first rustls
    /// configuration. Relative paths are made absolute first, so logs and metrics name
    /// files unambiguously.
    ///
    /// # Errors
    ///
    /// Unreadable or unusable files, or generation failures.
    pub fn load(
        source: TlsSource,
        clock: Clock,
    ) -> Result<(Arc<Self>, Arc<rustls::ServerConfig>), TlsError> {
        let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        let source = match source {
            TlsSource::Files { cert, key } => TlsSource::Files {
                cert: absolute(cert),
                key: absolute(key),
            },
            TlsSource::LocalCa {
                state_dir,
                extra_names,
            } => TlsSource::LocalCa {
                state_dir: absolute(state_dir),
                extra_names,
            },
        };
        let m = Arc::new(Self {
            source,
            clock,
            state: Mutex::new(State {
                loaded_files: None,
                certificates: Vec::new(),
                warned: Vec::new(),
            }),
        });
        let cfg = m
            .refresh_inner(true)?
            .ok_or_else(|| TlsError::Generate("no configuration was built".to_owned()))?;
        Ok((m, cfg))
    }

    /// Renews generated material that nears expiry and reloads changed operator files;
    /// returns a new configuration when the listener should switch to it. Warns (at most
    /// daily per certificate) about certificates close to expiry.
    ///
    /// # Errors
    ///
    /// As [`TlsManager::load`]; the listener keeps its current configuration then.
    pub fn refresh(&self) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
        self.refresh_inner(false)
    }

    /// The generated material's paths, when the source is [`TlsSource::LocalCa`].
    pub fn generated(&self) -> Option<GeneratedTls> {
        match &self.source {
            TlsSource::LocalCa { state_dir, .. } => Some(generated_paths(state_dir)),
            TlsSource::Files { .. } => None,
        }
    }

    /// The certificates in use and their expiry.
    pub fn certificates(&self) -> Vec<CertificateStatus> {
        self.lock().certificates.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh_inner(&self, first: bool) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
        let now = self.clock.now();
        let built = match &self.source {
            TlsSource::Files { cert, key } => {
                let cert_pem = read(cert)?;
                let key_pem = read(key)?;
                let mut state = self.lock();
                if !first
                    && state
                        .loaded_files
                        .as_ref()
                        .is_some_and(|(c, k)| *c == cert_pem && *k == key_pem)
                {
                    None
                } else {
                    let cfg = server_config_from_pem(cert, &cert_pem, key, &key_pem)?;
                    let not_after = leaf_not_after(cert, &cert_pem)?;
                    if !first {
                        tracing::info!(cert = %cert.display(), "TLS certificate files changed; reloaded");
                    }
                    state.loaded_files = Some((cert_pem, key_pem));
                    state.certificates = vec![CertificateStatus {
                        path: cert.clone(),
                        role: "server",
                        source: "operator",
                        not_after,
                    }];
                    Some(cfg)
                }
            }
            TlsSource::LocalCa {
                state_dir,
                extra_names,
            } => {
                let (paths, renewal) = ensure_local_ca(state_dir, extra_names, now)?;
                if renewal.ca && !first {
                    tracing::warn!(
                        ca = %paths.ca_cert.display(),
                        "the generated local CA neared expiry and was replaced: clients must trust the new CA certificate"
                    );
                } else if renewal.server && !first {
                    tracing::info!(cert = %paths.cert.display(), "renewed the generated TLS server certificate");
                }
                let changed = first || renewal.ca || renewal.server;
                let statuses = vec![
                    CertificateStatus {
                        path: paths.cert.clone(),
                        role: "server",
                        source: "generated",
                        not_after: leaf_not_after(&paths.cert, &read(&paths.cert)?)?,
                    },
                    CertificateStatus {
                        path: paths.ca_cert.clone(),
                        role: "ca",
                        source: "generated",
                        not_after: leaf_not_after(&paths.ca_cert, &read(&paths.ca_cert)?)?,
                    },
                ];
                self.lock().certificates = statuses;
                if changed {
                    Some(server_config(&paths.cert, &paths.key)?)
                } else {
                    None
                }
            }
        };
        self.warn_near_expiry(now);
        Ok(built)
    }

    fn warn_near_expiry(&self, now: UnixTime) {
        let mut state = self.lock();
        let State {
            certificates,
            warned,
            ..
        } = &mut *state;
        for c in certificates.iter() {
            let left = c.not_after.secs() - now.secs();
            if left > WARN_BEFORE_DAYS * DAY {
                continue;
            }
            let recently = warned
                .iter()
                .any(|(p, at)| *p == c.path && now.secs() - at.secs() < DAY);
            if recently {
                continue;
            }
            warned.retain(|(p, _)| *p != c.path);
            warned.push((c.path.clone(), now));
            if left <= 0 {
                tracing::error!(
                    cert = %c.path.display(),
                    not_after = %c.not_after,
                    "the TLS certificate has expired: clients will refuse connections; replace it"
                );
            } else {
                tracing::warn!(
                    cert = %c.path.display(),
                    not_after = %c.not_after,
                    days_left = left / DAY,
                    "the TLS certificate expires soon; replace it (the server reloads changed files)"
                );
            }
        }
    }
}

impl Collector for TlsManager {
    fn collect(&self, out: &mut Exposition) {
        const NAME: &str = "signet_tls_certificate_expiry_timestamp_seconds";
        out.family(
            NAME,
            "When each TLS certificate the listener uses expires, seconds since the Unix epoch.",
            Kind::Gauge,
        );
        for c in self.lock().certificates.iter() {
            let path = c.path.display().to_string();
            #[allow(clippy::cast_precision_loss)] // seconds fit f64 exactly for any real date
            let value = c.not_after.secs() as f64;
            out.sample_f64(
                NAME,
                &[("role", c.role), ("source", c.source), ("path", &path)],
                value,
            );
        }
    }
}

/// Builds a rustls server configuration (TLS 1.2+, h2 and http/1.1) from PEM files.
///
/// # Errors
///
/// Unreadable files, no certificate, or a key that does not match the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config_from_pem(cert, &read(cert)?, key, &read(key)?)
}

fn server_config_from_pem(
    cert: &Path,
    cert_pem: &[u8],
    key: &Path,
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_err = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err(cert, "no certificate found".to_owned()));
    }
    let key_der =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pem_err(key, e.to_string()))?;
    let mismatch = |reason: String| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| mismatch(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| mismatch(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Builds a rustls server configuration for a gRPC service with mutual TLS (TLS 1.2+, h2
/// only): the server presents `cert`/`key`, and every client must present a certificate
/// that chains to a CA in `client_ca` (PEM, one or more certificates); others are refused
/// during the handshake.
///
/// # Errors
///
/// Unreadable files, no certificate, no usable CA, or a key that does not match.
pub fn mtls_server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_err = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let ca_pem = read(client_ca)?;
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&ca_pem) {
        let der = der.map_err(|e| pem_err(client_ca, e.to_string()))?;
        roots
            .add(der)
            .map_err(|e| pem_err(client_ca, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(pem_err(client_ca, "no CA certificate found".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| pem_err(client_ca, e.to_string()))?;
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err(cert, "no certificate found".to_owned()));
    }
    let key_der =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_err(key, e.to_string()))?;
    let mismatch = |reason: String| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key_der)
        .map_err(|e| mismatch(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn leaf_not_after(path: &Path, pem: &[u8]) -> Result<UnixTime, TlsError> {
    let chain = parse_cert_chain(pem).map_err(|reason| TlsError::Pem {
        path: path.to_owned(),
        reason,
    })?;
    chain
        .first()
        .map(|c| c.not_after)
        .ok_or_else(|| TlsError::Pem {
            path: path.to_owned(),
            reason: "no certificate found".to_owned(),
        })
}

fn generated_paths(state_dir: &Path) -> GeneratedTls {
    let dir = state_dir.join("tls");
    GeneratedTls {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

/// Makes sure `state_dir/tls` holds a usable local CA and server certificate at `now`:
/// made on first use, and each replaced when unusable or near expiry (see the
/// `*_RENEW_BEFORE_DAYS` constants). The server certificate covers `localhost`,
/// `127.0.0.1`, `::1` and `extra_names`. Files are replaced atomically; keys are 0600.
///
/// # Errors
///
/// The directory or files cannot be written, or generation fails.
pub fn ensure_local_ca(
    state_dir: &Path,
    extra_names: &[String],
    now: UnixTime,
) -> Result<(GeneratedTls, Renewal), TlsError> {
    let paths = generated_paths(state_dir);
    let dir = state_dir.join("tls");
    fs::create_dir_all(&dir).map_err(|source| TlsError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut renewal = Renewal::default();

    let ca = match usable_pair(&paths.ca_cert, &paths.ca_key, now, CA_RENEW_BEFORE_DAYS) {
        Some(pair) => pair,
        None => {
            renewal.ca = true;
            let (pem, key) = new_ca(now)?;
            write_atomic(&paths.ca_key, key.serialize_pem().as_bytes(), true)?;
            write_atomic(&paths.ca_cert, pem.as_bytes(), false)?;
            (pem, key)
        }
    };
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    for n in extra_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    // The names the server certificate was made for, to notice when they change.
    let names_file = dir.join("server.names");
    let wanted_names = names.join("\n");
    let server_ok = !renewal.ca
        && usable_pair(&paths.cert, &paths.key, now, SERVER_RENEW_BEFORE_DAYS).is_some()
        && server_config(&paths.cert, &paths.key).is_ok()
        && fs::read_to_string(&names_file).is_ok_and(|n| n == wanted_names);
    if !server_ok {
        renewal.server = true;
        let (ca_pem, ca_key) = ca;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(generate_err)?;
        let key = KeyPair::generate().map_err(generate_err)?;
        let mut params = CertificateParams::new(names).map_err(generate_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "signet server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, now, SERVER_VALIDITY_DAYS)?;
        let cert = params.signed_by(&key, &issuer).map_err(generate_err)?;
        // Key first: a crash between the two renames leaves a mismatched pair, which the
        // next start detects (server_config fails) and replaces.
        write_atomic(&paths.key, key.serialize_pem().as_bytes(), true)?;
        write_atomic(
            &paths.cert,
            format!("{}{}", cert.pem(), ca_pem).as_bytes(),
            false,
        )?;
        write_atomic(&names_file, wanted_names.as_bytes(), false)?;
    }
    Ok((paths, renewal))
}

/// The certificate PEM and key of a pair that parses and stays valid for more than
/// `renew_before_days` after `now`.
fn usable_pair(
    cert: &Path,
    key: &Path,
    now: UnixTime,
    renew_before_days: i64,
) -> Option<(String, KeyPair)> {
    let pem = fs::read_to_string(cert).ok()?;
    let not_after = leaf_not_after(cert, pem.as_bytes()).ok()?;
    if not_after.secs() - now.secs() <= renew_before_days * DAY {
        return None;
    }
    let key = KeyPair::from_pem(&fs::read_to_string(key).ok()?).ok()?;
    Some((pem, key))
}

fn new_ca(now: UnixTime) -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate().map_err(generate_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Signet local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now, CA_VALIDITY_DAYS)?;
    let cert = params.self_signed(&key).map_err(generate_err)?;
    Ok((cert.pem(), key))
}

fn set_validity(params: &mut CertificateParams, now: UnixTime, days: i64) -> Result<(), TlsError> {
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| TlsError::Generate(format!("validity out of range: {e}")))
    };
    params.not_before = at(now.secs() - BACKDATE_SECS)?;
    params.not_after = at(now.secs() + days * DAY)?;
    Ok(())
}

fn generate_err(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so
/// readers see the old or the new file, never a torn one. `private` files are 0600.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io_err = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io_err)?;
    f.write_all(bytes).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// 2031-06-01T00:00:00Z: far from any date the code could have baked in.
    const T0: i64 = 1_938_038_400;

    fn not_after(path: &Path) -> i64 {
        leaf_not_after(path, &fs::read(path).unwrap())
            .unwrap()
            .secs()
    }

    #[test]
    fn generated_validity_is_relative_to_now() {
        let dir = tempfile::tempdir().unwrap();
        let (p, r) = ensure_local_ca(dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: true,
                server: true
            }
        );
        assert_eq!(not_after(&p.cert), T0 + SERVER_VALIDITY_DAYS * DAY);
        assert_eq!(not_after(&p.ca_cert), T0 + CA_VALIDITY_DAYS * DAY);
        let chain = parse_cert_chain(&fs::read(&p.cert).unwrap()).unwrap();
        assert_eq!(chain[0].not_before.secs(), T0 - BACKDATE_SECS);
        assert_eq!(chain.len(), 2, "server certificate then CA");
        use std::os::unix::fs::PermissionsExt as _;
        for key in [&p.key, &p.ca_key] {
            assert_eq!(
                fs::metadata(key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn reused_until_near_expiry_then_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let t = |days: i64| UnixTime::from_unix(T0 + days * DAY, 0);
        let (p, _) = ensure_local_ca(dir.path(), &[], t(0)).unwrap();
        let first = fs::read(&p.cert).unwrap();
        let ca = fs::read(&p.ca_cert).unwrap();

        let late = SERVER_VALIDITY_DAYS - SERVER_RENEW_BEFORE_DAYS - 1;
        let (_, r) = ensure_local_ca(dir.path(), &[], t(late)).unwrap();
        assert_eq!(r, Renewal::default(), "still valid for over 30 days");
        assert_eq!(fs::read(&p.cert).unwrap(), first);

        let (_, r) = ensure_local_ca(dir.path(), &[], t(late + 2)).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: false,
                server: true
            }
        );
        assert_ne!(fs::read(&p.cert).unwrap(), first);
        assert_eq!(fs::read(&p.ca_cert).unwrap(), ca, "the CA is kept");
        assert_eq!(
            not_after(&p.cert),
            T0 + (late + 2 + SERVER_VALIDITY_DAYS) * DAY
        );
        // The renewed certificate still chains to the kept CA.
        assert_chains(&p);

        let ca_late = CA_VALIDITY_DAYS - CA_RENEW_BEFORE_DAYS + 1;
        let (_, r) = ensure_local_ca(dir.path(), &[], t(ca_late)).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: true,
                server: true
            }
        );
        assert_ne!(fs::read(&p.ca_cert).unwrap(), ca);
        assert_chains(&p);
    }

    #[test]
    fn a_new_name_renews_the_server_certificate_only() {
        let dir = tempfile::tempdir().unwrap();
        let now = UnixTime::from_unix(T0, 0);
        let (p, _) = ensure_local_ca(dir.path(), &[], now).unwrap();
        let ca = fs::read(&p.ca_cert).unwrap();
        let (_, r) = ensure_local_ca(dir.path(), &[], now).unwrap();
        assert_eq!(r, Renewal::default());
        let names = vec!["signet.example".to_owned(), "192.0.2.7".to_owned()];
        let (_, r) = ensure_local_ca(dir.path(), &names, now).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: false,
                server: true
            }
        );
        assert_eq!(fs::read(&p.ca_cert).unwrap(), ca);
        let (_, r) = ensure_local_ca(dir.path(), &names, now).unwrap();
        assert_eq!(r, Renewal::default(), "same names: kept");
        // The certificate really covers the new names.
        let cfg = server_config(&p.cert, &p.key).unwrap();
        drop(cfg);
        let der = CertificateDer::pem_file_iter(&p.cert)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(der.as_ref()).into_owned();
        assert!(
            text.contains("signet.example"),
            "DNS name in the certificate"
        );
        assert!(
            der.as_ref().windows(4).any(|w| w == [192, 0, 2, 7]),
            "IP address in the certificate"
        );
    }

    #[test]
    fn expired_or_broken_material_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = ensure_local_ca(dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        // A server key that no longer matches its certificate (a torn renewal).
        let other = KeyPair::generate().unwrap();
        fs::write(&p.key, other.serialize_pem()).unwrap();
        let (_, r) = ensure_local_ca(dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: false,
                server: true
            }
        );
        server_config(&p.cert, &p.key).unwrap();
        // A garbage CA certificate.
        fs::write(&p.ca_cert, "not a certificate").unwrap();
        let (_, r) = ensure_local_ca(dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        assert_eq!(
            r,
            Renewal {
                ca: true,
                server: true
            }
        );
        assert_chains(&p);
    }

    #[test]
    fn manager_renews_while_running_and_exports_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(UnixTime::from_unix(T0, 0));
        let (m, _) = TlsManager::load(
            TlsSource::LocalCa {
                state_dir: dir.path().to_owned(),
                extra_names: vec!["signet.example".to_owned()],
            },
            clock.clock(),
        )
        .unwrap();
        assert!(m.refresh().unwrap().is_none(), "nothing to do yet");
        let server = |m: &TlsManager| {
            m.certificates()
                .into_iter()
                .find(|c| c.role == "server")
                .unwrap()
                .not_after
                .secs()
        };
        assert_eq!(server(&m), T0 + SERVER_VALIDITY_DAYS * DAY);
        clock.advance_secs((SERVER_VALIDITY_DAYS - 10) * DAY);
        assert!(
            m.refresh().unwrap().is_some(),
            "renewed: a new configuration"
        );
        let renewed = T0 + (2 * SERVER_VALIDITY_DAYS - 10) * DAY;
        assert_eq!(server(&m), renewed);

        let reg = crate::metrics::Registry::default();
        reg.register(m);
        let text = reg.render();
        let ca = dir.path().join("tls/ca.crt").display().to_string();
        assert!(
            text.contains(&format!(
                "signet_tls_certificate_expiry_timestamp_seconds{{role=\"server\",source=\"generated\",path=\"{}\"}} {renewed}\n",
                dir.path().join("tls/server.crt").display()
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("source=\"generated\",path=\"{ca}\"}} ")),
            "{text}"
        );
    }

    #[test]
    fn operator_files_reload_on_change_and_report_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let gen_dir = tempfile::tempdir().unwrap();
        let (g, _) = ensure_local_ca(gen_dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        let cert = dir.path().join("op.crt");
        let key = dir.path().join("op.key");
        fs::copy(&g.cert, &cert).unwrap();
        fs::copy(&g.key, &key).unwrap();
        let clock = ManualClock::new(UnixTime::from_unix(T0, 0));
        let (m, _) = TlsManager::load(
            TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            clock.clock(),
        )
        .unwrap();
        assert_eq!(m.certificates()[0].source, "operator");
        assert_eq!(
            m.certificates()[0].not_after.secs(),
            T0 + SERVER_VALIDITY_DAYS * DAY
        );
        assert!(m.refresh().unwrap().is_none(), "unchanged files");
        // The operator installs a renewed certificate (made a year later).
        clock.advance_secs(SERVER_VALIDITY_DAYS * DAY);
        let (g2, _) = ensure_local_ca(gen_dir.path(), &[], clock.now()).unwrap();
        fs::copy(&g2.cert, &cert).unwrap();
        fs::copy(&g2.key, &key).unwrap();
        assert!(m.refresh().unwrap().is_some(), "changed files reload");
        assert_eq!(
            m.certificates()[0].not_after.secs(),
            clock.now().secs() + SERVER_VALIDITY_DAYS * DAY
        );
        // A half-installed pair (new key, old cert) is refused and the old config kept.
        let other = KeyPair::generate().unwrap();
        fs::write(&key, other.serialize_pem()).unwrap();
        assert!(matches!(m.refresh(), Err(TlsError::Mismatch { .. })));
    }

    #[test]
    fn mismatched_operator_pair_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let (g, _) = ensure_local_ca(dir.path(), &[], UnixTime::from_unix(T0, 0)).unwrap();
        let err = server_config(&g.cert, &g.ca_key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        let err = server_config(&g.key, &g.key).unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    }

    /// The server certificate verifies against `ca.crt` with webpki, as clients check it.
    fn assert_chains(p: &GeneratedTls) {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&p.ca_cert).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&p.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let leaf_facts = parse_cert_chain(&fs::read(&p.cert).unwrap()).unwrap();
        let at = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(leaf_facts[0].not_before.secs() + BACKDATE_SECS + 60).unwrap(),
        ));
        use rustls::client::danger::ServerCertVerifier as _;
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                &[],
                at,
            )
            .unwrap();
    }
}
