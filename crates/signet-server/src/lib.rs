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
pub mod clock;
pub mod config;
pub mod error;
mod freshness;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod service;
pub mod tls;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

pub use config::Config;
use signet_store::Store;
use zeroize::Zeroizing;

use crate::clock::Clock;
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
                | Self::Store(signet_store::StoreError::InvalidUrl { .. })
                | Self::Keys(keys::KeyError::WrongPassphrase | keys::KeyError::NoPassphrase)
                | Self::Tls(tls::TlsError::Pem { .. })
        )
    }
}

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
    let store = Store::connect(&cfg.storage.db_url).await?;
    let keys = LocalKeys::open(
        store.clone(),
        passphrase.as_bytes(),
        cfg.trust_service.key_algorithm,
    )
    .await?;
    let auth = match &cfg.auth {
        Some(a) => Some(auth::TokenAuth::load(&a.options)?),
        None => None,
    };
    let state = Arc::new(AppState {
        service: TrustService::new(store, KeyService::Local(Arc::new(keys)), clock),
        settings: HttpSettings {
            current_max_age: cfg.caching.max_age.current_metadata,
            consistent_max_age: cfg.caching.max_age.consistent_metadata,
            gun_prefixes: cfg.repositories.gun_prefixes.clone(),
            max_upload_bytes: cfg.server.max_upload_bytes,
            auth,
        },
        metrics: metrics::Metrics::default(),
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
    let state = build(&cfg, passphrase, Clock::system()).await?;
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
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Io {
            what: "configuring the socket".to_owned(),
            source,
        })?;
    let app = http::app(state).into_make_service();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let serve_err = |source| ServerError::Io {
        what: "serving".to_owned(),
        source,
    };
    if cfg.server.plain_http {
        on_listening(&Listening {
            addr,
            scheme: "http",
            generated_ca: None,
        });
        axum_server::from_tcp(listener)
            .map_err(serve_err)?
            .handle(handle)
            .serve(app)
            .await
            .map_err(serve_err)
    } else {
        let (cert, key, generated) = match (&cfg.server.tls_cert_file, &cfg.server.tls_key_file) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), None),
            _ => {
                let g = tls::ensure_local_ca(&cfg.server.state_dir, &[])?;
                (g.cert.clone(), g.key.clone(), Some(g))
            }
        };
        let tls = tls::server_config(&cert, &key)?;
        on_listening(&Listening {
            addr,
            scheme: "https",
            generated_ca: generated,
        });
        axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(tls),
        )
        .map_err(serve_err)?
        .handle(handle)
        .serve(app)
        .await
        .map_err(serve_err)
    }
}

/// Notary configs write `:4443` for "all interfaces".
fn normalize_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}
