//! `signet server`: a Notary v1-compatible trust server.
//!
//! It serves the Notary v1 HTTP API (spec §1) so that the notary CLI, `docker trust` and
//! admission controllers work unchanged; validates every upload with `signet-core`;
//! signs timestamps (and snapshots, when publishers leave them to the server) with keys
//! it keeps encrypted at rest; and stores everything in SQLite or PostgreSQL through
//! `signet-store`, one transaction per update.
//!
//! The binary calls [`run`]; tests call [`build`] and drive [`http::app`] in-process.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
mod freshness;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod service;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
use signet_service::Clock;
use signet_service::health::Health;
use signet_service::metrics::Registry;
use signet_service::serve::{ServeOptions, Transport};
use signet_service::tls::{self, TlsManager, TlsSource};
use signet_store::Store;
use zeroize::Zeroizing;

use crate::http::{AppState, HttpSettings};
use crate::keys::{KeyService, LocalKeys};
use crate::service::TrustService;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database.
    #[error("database")]
    Store(#[from] signet_store::StoreError),
    /// The key store.
    #[error("server keys")]
    Keys(#[from] keys::KeyError),
    /// TLS material.
    #[error("TLS")]
    Tls(#[from] tls::TlsError),
    /// Listening or serving.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl ServerError {
    /// Whether the operator must fix the configuration (as opposed to a runtime failure).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Store(
                    signet_store::StoreError::InvalidUrl { .. }
                        | signet_store::StoreError::SchemaTooNew { .. }
                )
                | Self::Keys(keys::KeyError::WrongPassphrase | keys::KeyError::NoPassphrase)
                | Self::Tls(tls::TlsError::Pem { .. } | tls::TlsError::Mismatch { .. })
        )
    }
}

/// How long the health endpoint waits for a probe.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Notary's name for the database probe in its health report.
const DB_HEALTH: &str = "DB operational";

/// Opens the database and key store and builds the application state.
pub async fn build(
    cfg: &Config,
    passphrase: Zeroizing<String>,
    clock: Clock,
) -> Result<Arc<AppState>, ServerError> {
    cfg.validate()?;
    if let Some(dir) = sqlite_parent_dir(&cfg.storage.db_url) {
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    let store = Store::connect(&cfg.storage.db_url)
        .await?
        .with_clock(clock.clone());
    let keys = LocalKeys::open(
        store.clone(),
        passphrase.as_bytes(),
        cfg.trust_service.key_algorithm,
    )
    .await?
    .with_pending_key_days(cfg.trust_service.pending_key_days);
    let auth = match &cfg.auth {
        Some(a) => Some(auth::TokenAuth::load(&a.options)?),
        None => None,
    };
    let probe_store = store.clone();
    let health = Health::new(HEALTH_TIMEOUT).with(DB_HEALTH, move || {
        let store = probe_store.clone();
        async move {
            store.health().await.map_err(|e| {
                tracing::warn!(error = %e, "health check failed");
                "database is unavailable".to_owned()
            })
        }
    });
    let metrics = Arc::new(metrics::Metrics::default());
    let registry = Registry::default();
    registry.register(metrics.clone());
    let state = Arc::new(AppState {
        service: TrustService::new(store, KeyService::Local(Arc::new(keys)), clock),
        settings: HttpSettings {
            current_max_age: cfg.caching.max_age.current_metadata,
            consistent_max_age: cfg.caching.max_age.consistent_metadata,
            gun_prefixes: cfg.repositories.gun_prefixes.clone(),
            max_upload_bytes: cfg.server.max_upload_bytes,
            body_timeout: Duration::from_secs(cfg.server.body_timeout_secs),
            uploads: http::UploadLimiter::new(cfg.server.max_concurrent_uploads),
            auth,
        },
        metrics,
        registry,
        health,
    });
    let follower = state.clone();
    tokio::spawn(async move { follower.service.follow_changes().await });
    Ok(state)
}

fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    if path.starts_with(':') || path.is_empty() {
        return None;
    }
    let path = path.split('?').next()?;
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(ToOwned::to_owned)
}

/// What [`run`] reports once it listens.
#[derive(Clone, Debug)]
pub struct Listening {
    /// The bound address.
    pub addr: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The generated local CA, if one is in use.
    pub generated_ca: Option<tls::GeneratedTls>,
}

/// Serves until `shutdown` resolves. `on_listening` is called once the socket is bound.
pub async fn run(
    cfg: Config,
    passphrase: Zeroizing<String>,
    on_listening: impl FnOnce(&Listening),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let clock = Clock::system();
    let state = build(&cfg, passphrase, clock.clone()).await?;
    let listener = TcpListener::bind(normalize_addr(&cfg.server.http_addr)).map_err(|source| {
        ServerError::Io {
            what: format!("listening on {}", cfg.server.http_addr),
            source,
        }
    })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "reading the bound address".to_owned(),
        source,
    })?;
    let (transport, generated_ca) = if cfg.server.plain_http {
        (Transport::Plain, None)
    } else {
        let source = match (&cfg.server.tls_cert_file, &cfg.server.tls_key_file) {
            (Some(cert), Some(key)) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsSource::LocalCa {
                state_dir: cfg.server.state_dir.clone(),
                extra_names: Vec::new(),
            },
        };
        let (manager, initial) = TlsManager::load(source, clock)?;
        state.registry.register(manager.clone());
        let generated = manager.generated();
        (Transport::Tls { manager, initial }, generated)
    };
    on_listening(&Listening {
        addr,
        scheme: if cfg.server.plain_http {
            "http"
        } else {
            "https"
        },
        generated_ca,
    });
    signet_service::serve::serve(
        listener,
        http::app(state),
        transport,
        ServeOptions {
            header_timeout: Duration::from_secs(cfg.server.header_timeout_secs),
            idle_timeout: Duration::from_secs(cfg.server.idle_timeout_secs),
            max_connections: cfg.server.max_connections,
            ..ServeOptions::default()
        },
        shutdown,
    )
    .await
    .map_err(|source| ServerError::Io {
        what: "serving".to_owned(),
        source,
    })
}

/// Notary configs write `:4443` for "all interfaces".
fn normalize_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}
