//! `signet server`: a Notary v1-compatible trust server.
//!
//! It serves the Notary v1 HTTP API (spec §1) so that the notary CLI, `docker trust` and
//! admission controllers work unchanged; validates every upload with `signet-core`;
//! signs timestamps (and snapshots, when publishers leave them to the server) with keys
//! it keeps encrypted at rest or on a remote signer (notary-signer's gRPC API); and stores everything in SQLite or PostgreSQL through
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
mod replica;
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
use signet_signer_proto::client::{RemoteSigner, SignerEndpoint};
use signet_store::Store;
use zeroize::Zeroizing;

use crate::http::{AppState, HttpSettings};
use crate::keys::{KeyService, LocalKeys, RemoteKeys};
use crate::service::TrustService;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database (`location` as [`signet_store::describe_url`] gives it).
    #[error("database {location}")]
    Store {
        /// Where the database is.
        location: String,
        /// What went wrong.
        source: signet_store::StoreError,
    },
    /// The key store.
    #[error("server keys")]
    Keys(#[from] keys::KeyError),
    /// TLS material.
    #[error("TLS")]
    Tls(#[from] tls::TlsError),
    /// Another server process holds the SQLite database.
    #[error(
        "another signet server is using {}: run one server per SQLite file (use PostgreSQL \
         for several)",
        database.display()
    )]
    InUse {
        /// The database file.
        database: std::path::PathBuf,
    },
    /// A SQLite database this server ran on before is gone.
    #[error(
        "the database {} existed but is gone (it is listed in {}): restore it from a backup, \
         or delete that file to start with an empty database",
        database.display(),
        marker.display()
    )]
    Vanished {
        /// The missing database file.
        database: std::path::PathBuf,
        /// The marker that remembers it.
        marker: std::path::PathBuf,
    },
    /// The listen address cannot be bound (in use, not local, not permitted).
    #[error("cannot listen on {addr}")]
    Listen {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Serving or preparing the state directory.
    #[error("{what}")]
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
                | Self::Store {
                    source: signet_store::StoreError::InvalidUrl { .. }
                        | signet_store::StoreError::SchemaTooNew { .. }
                        | signet_store::StoreError::NotarySchema,
                    ..
                }
                | Self::Keys(
                    keys::KeyError::WrongPassphrase
                        | keys::KeyError::NoPassphrase
                        | keys::KeyError::SignerSettings(_)
                )
                | Self::Tls(
                    tls::TlsError::Pem { .. }
                        | tls::TlsError::Mismatch { .. }
                        | tls::TlsError::Io { .. }
                )
                | Self::Listen { .. }
                | Self::Vanished { .. }
                | Self::InUse { .. }
        )
    }
}

/// How long the health endpoint waits for a probe.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Notary's name for the database probe in its health report.
const DB_HEALTH: &str = "DB operational";
/// Notary's name for the remote signer's probe in its health report.
const TRUST_HEALTH: &str = "Trust operational";

/// The remote signer's client, from `trust_service` (connects on first use: the server
/// starts, and serves reads, while the signer is down).
fn remote_keys(cfg: &Config, store: Store) -> Result<RemoteKeys, ServerError> {
    let t = &cfg.trust_service;
    let invalid = |what: &str| {
        ServerError::Config(config::ConfigError::Invalid(format!(
            "trust_service.type \"remote\" needs trust_service.{what}"
        )))
    };
    let hostname = t.hostname.as_deref().ok_or_else(|| invalid("hostname"))?;
    let port = t.port.ok_or_else(|| invalid("port"))?.0;
    let ca = t
        .tls_ca_file
        .as_deref()
        .ok_or_else(|| invalid("tls_ca_file"))?;
    let identity = match (&t.tls_client_cert, &t.tls_client_key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        _ => None,
    };
    let endpoint = SignerEndpoint::from_files(hostname.trim(), port, ca, identity)
        .map_err(keys::KeyError::from)?
        .with_timeouts(
            Duration::from_secs(t.connect_timeout_secs),
            Duration::from_secs(t.rpc_timeout_secs),
        );
    let signer = RemoteSigner::connect_lazy(&endpoint).map_err(keys::KeyError::from)?;
    Ok(RemoteKeys::new(store, Arc::new(signer), t.key_algorithm))
}

/// Opens the database and key store and builds the application state.
pub async fn build(
    cfg: &Config,
    passphrase: Zeroizing<String>,
    clock: Clock,
) -> Result<Arc<AppState>, ServerError> {
    cfg.validate()?;
    let sqlite_file = signet_store::sqlite_path(&cfg.storage.db_url);
    let mut database_lock = None;
    if let Some(db) = &sqlite_file {
        check_database_not_vanished(&cfg.server.state_dir, db)?;
        if let Some(dir) = db.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        }
        database_lock = Some(lock_database(db)?);
    }
    let location = database_location(&cfg.storage.db_url);
    let store = Store::connect(&cfg.storage.db_url)
        .await
        .map_err(|source| ServerError::Store {
            location: location.clone(),
            source,
        })?
        .with_clock(clock.clone());
    let keys = if cfg.trust_service.is_remote() {
        KeyService::Remote(Arc::new(remote_keys(cfg, store.clone())?))
    } else {
        KeyService::Local(Arc::new(
            LocalKeys::open(
                store.clone(),
                passphrase.as_bytes(),
                cfg.trust_service.key_algorithm,
            )
            .await?
            .with_pending_key_days(cfg.trust_service.pending_key_days),
        ))
    };
    let auth = match &cfg.auth {
        Some(a) => Some(auth::TokenAuth::load(&a.options)?),
        None => None,
    };
    if let Some(db) = &sqlite_file {
        remember_database(&cfg.server.state_dir, db)?;
    }
    let probe_store = store.clone();
    let probe_file = sqlite_file.clone();
    let mut health = Health::new(HEALTH_TIMEOUT).with(DB_HEALTH, move || {
        let store = probe_store.clone();
        let file = probe_file.clone();
        async move {
            // A SQLite file deleted under the running server still answers through its
            // open handles; writes would vanish with them.
            if let Some(path) = file
                && !path.exists()
            {
                tracing::error!(database = %path.display(), "the database file was removed");
                return Err(format!("database file {} was removed", path.display()));
            }
            store.health().await.map_err(|e| {
                tracing::warn!(error = %e, "health check failed");
                "database is unavailable".to_owned()
            })
        }
    });
    if let KeyService::Remote(remote) = &keys {
        let signer = remote.signer().clone();
        tracing::info!(signer = %signer.authority(), "signing with a remote signer");
        health = health.with(TRUST_HEALTH, move || {
            let signer = signer.clone();
            async move {
                signer.check_health().await.map_err(|reason| {
                    tracing::warn!(%reason, "signer health check failed");
                    reason
                })
            }
        });
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let registry = Registry::default();
    registry.register(metrics.clone());
    let service = TrustService::new(store, keys, clock);
    if let Some(stats) = service.replica_metrics() {
        registry.register(stats);
    }
    let state = Arc::new(AppState {
        service,
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
        database_lock,
    });
    let follower = state.clone();
    tokio::spawn(async move { follower.service.follow_changes().await });
    Ok(state)
}

/// The database's location for messages; the redacted URL if it does not parse (the
/// connect error then says why).
pub fn database_location(url: &str) -> String {
    signet_store::describe_url(url).unwrap_or_else(|_| "(invalid URL)".to_owned())
}

/// Takes the exclusive lock `<db>.lock`: one server process per SQLite file (the single
/// writer connection is what keeps SQLite's writes ordered and its caches coherent).
fn lock_database(db: &std::path::Path) -> Result<std::fs::File, ServerError> {
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::Io {
            what: format!("opening {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::InUse {
            database: db.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

/// The file in the state directory listing the SQLite databases this server has run on.
const DATABASES_MARKER: &str = "databases";

/// Refuses to start afresh on a SQLite file that this server ran on before and that has
/// since disappeared: an empty database would silently replace the repositories.
fn check_database_not_vanished(
    state_dir: &std::path::Path,
    db: &std::path::Path,
) -> Result<(), ServerError> {
    let marker = state_dir.join(DATABASES_MARKER);
    let known = std::fs::read_to_string(&marker).unwrap_or_default();
    if !db.exists() && known.lines().any(|l| std::path::Path::new(l) == db) {
        return Err(ServerError::Vanished {
            database: db.to_owned(),
            marker: std::path::absolute(&marker).unwrap_or(marker),
        });
    }
    Ok(())
}

/// Records `db` in the state directory's marker (see [`check_database_not_vanished`]).
fn remember_database(state_dir: &std::path::Path, db: &std::path::Path) -> Result<(), ServerError> {
    let marker = state_dir.join(DATABASES_MARKER);
    let known = std::fs::read_to_string(&marker).unwrap_or_default();
    if known.lines().any(|l| std::path::Path::new(l) == db) {
        return Ok(());
    }
    let io = |source| ServerError::Io {
        what: format!("recording the database in {}", marker.display()),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&marker)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, format!("{}\n", db.display()).as_bytes()).map_err(io)
}

/// Writes a consistent copy of the configured SQLite database to `dest` (which must not
/// exist), safely while a server is running on it.
///
/// # Errors
///
/// No SQLite database at the configured URL (PostgreSQL: use `pg_dump`), `dest` exists or
/// cannot be written.
pub async fn backup(cfg: &Config, dest: &std::path::Path) -> Result<(), ServerError> {
    let location = database_location(&cfg.storage.db_url);
    let store_err = |source| ServerError::Store {
        location: location.clone(),
        source,
    };
    let Some(db) = signet_store::sqlite_path(&cfg.storage.db_url) else {
        return Err(store_err(signet_store::StoreError::Unsupported {
            what: "backup of a database that is not a SQLite file: use pg_dump for PostgreSQL",
        }));
    };
    if !db.exists() {
        return Err(ServerError::Io {
            what: format!("no database at {}", db.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    if dest.exists() {
        return Err(ServerError::Io {
            what: format!("backup destination {}", dest.display()),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let dest = std::path::absolute(dest).map_err(|source| ServerError::Io {
        what: format!("backup destination {}", dest.display()),
        source,
    })?;
    let store = Store::connect(&cfg.storage.db_url)
        .await
        .map_err(store_err)?;
    let result = store.backup_to(&dest).await.map_err(store_err);
    store.close().await;
    result
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
    /// Where the database is ([`database_location`]).
    pub database: String,
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
        ServerError::Listen {
            addr: cfg.server.http_addr.clone(),
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
                extra_names: local_names(addr),
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
        database: database_location(&cfg.storage.db_url),
    });
    let served = signet_service::serve::serve(
        listener,
        http::app(state.clone()),
        transport,
        ServeOptions {
            header_timeout: Duration::from_secs(cfg.server.header_timeout_secs),
            idle_timeout: Duration::from_secs(cfg.server.idle_timeout_secs),
            max_connections: cfg.server.max_connections,
            ..ServeOptions::default()
        },
        shutdown,
    )
    .await;
    state.service.close().await;
    served.map_err(|source| ServerError::Io {
        what: "serving".to_owned(),
        source,
    })
}

/// Names the generated certificate covers besides `localhost`, `127.0.0.1` and `::1`: the
/// machine's host name and the listen address (unless it is a wildcard).
fn local_names(addr: SocketAddr) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    names
}

/// Notary configs write `:4443` for "all interfaces".
fn normalize_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}
