//! `signet signer`: a drop-in for notary-signer.
//!
//! notary-server keeps its online keys (timestamp, and snapshot when the server manages it)
//! out of its own process by asking notary-signer over mutually authenticated gRPC. This
//! crate speaks the same API ([`proto`], from notary's `proto/signer.proto`), reads the same
//! JSON configuration ([`config`]) and passphrase variables ([`keys::Passphrases`]), and keeps
//! its keys sealed at rest in SQLite or PostgreSQL ([`keys`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use signet_signer::{config::SignerConfig, Signer};
//!
//! let config = SignerConfig::load("signer.json".as_ref(), |k| std::env::var(k).ok())?;
//! let signer = Signer::start(&config).await?;
//! println!("listening on {}", signer.local_addr());
//! signer.run(signet_service::shutdown::Shutdown::new()).await?;
//! # Ok(()) }
//! ```
//!
//! Where it differs from notary-signer on purpose: see [`service`] (status codes on bad
//! input), [`keys`] (role enforcement) and [`config`] (client CA required; backends).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod keys;
pub mod server;
pub mod service;

/// notary-signer's wire types and services (the shared `signet-signer-proto` crate).
pub use signet_signer_proto as proto;

use std::net::SocketAddr;
use std::sync::Arc;

use signet_service::shutdown::Shutdown;
use signet_store::Store;
use tokio::net::TcpListener;

use crate::config::{SignerConfig, Storage};
use crate::keys::{KeyStore, Passphrases};

/// Why the signer could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] signet_service::tls::TlsError),
    /// The key database could not be opened.
    #[error("key database: {0}")]
    Store(#[from] signet_store::StoreError),
    /// The key store could not be opened (passphrase).
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] server::ServeError),
}

impl SignerError {
    /// Whether the operator's configuration is at fault (bad file, TLS material, database
    /// URL, missing or wrong passphrase) rather than something at run time.
    pub fn is_configuration(&self) -> bool {
        match self {
            Self::Config(_) | Self::Tls(_) | Self::Bind { .. } => true,
            Self::Store(e) => matches!(
                e,
                signet_store::StoreError::InvalidUrl { .. }
                    | signet_store::StoreError::SchemaTooNew { .. }
            ),
            Self::Keys(e) => matches!(
                e,
                keys::KeyError::NoPassphrase { .. }
                    | keys::KeyError::WrongPassphrase { .. }
                    | keys::KeyError::Token(
                        signet_pkcs11::TokenError::Module { .. }
                            | signet_pkcs11::TokenError::NoToken { .. }
                            | signet_pkcs11::TokenError::Login { .. }
                    )
            ),
            Self::Serve(_) => false,
        }
    }
}

/// A signer bound to its address, with its keys open, not yet serving.
#[derive(Debug)]
pub struct Signer {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    keys: Arc<KeyStore>,
}

impl Signer {
    /// Loads TLS material, opens the key database (running schema migrations) and the
    /// default alias's key-encryption key (passphrases from the environment), and binds the
    /// listen address.
    ///
    /// # Errors
    ///
    /// [`SignerError`] naming what failed; nothing is served.
    pub async fn start(config: &SignerConfig) -> Result<Self, SignerError> {
        let tls = signet_service::tls::mtls_server_config(
            &config.tls_cert_file,
            &config.tls_key_file,
            &config.client_ca_file,
        )?;
        let token = match &config.pkcs11 {
            Some(p) => Some(Arc::new(open_token(p).await?)),
            None => None,
        };
        let keys = match (&config.storage, token) {
            (Storage::Database { url, default_alias }, Some(token)) => {
                let store = Store::connect(url).await?;
                let aliases = (!default_alias.is_empty()).then_some(default_alias.as_str());
                KeyStore::open_with_token(store, token, Passphrases::from_env(aliases)).await?
            }
            (Storage::Memory, Some(token)) => {
                let store = Store::connect("sqlite::memory:").await?;
                KeyStore::open_with_token(store, token, Passphrases::new()).await?
            }
            (Storage::Database { url, default_alias }, None) => {
                let store = Store::connect(url).await?;
                KeyStore::open(
                    store,
                    default_alias,
                    Passphrases::from_env([default_alias.as_str()]),
                )
                .await?
            }
            (Storage::Memory, None) => {
                let store = Store::connect("sqlite::memory:").await?;
                let mut passphrases = Passphrases::new();
                passphrases.insert("memory", random_passphrase()?);
                KeyStore::open(store, "memory", passphrases).await?
            }
        };
        Self::with_keys(config.grpc_addr, tls, Arc::new(keys)).await
    }

    /// A signer over an already open key store (tests, embedding).
    ///
    /// # Errors
    ///
    /// [`SignerError::Bind`].
    pub async fn with_keys(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        keys: Arc<KeyStore>,
    ) -> Result<Self, SignerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SignerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| SignerError::Bind { addr, source })?;
        Ok(Self {
            listener,
            local_addr,
            tls,
            keys,
        })
    }

    /// The bound address (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is triggered.
    ///
    /// # Errors
    ///
    /// [`SignerError::Serve`].
    pub async fn run(self, shutdown: Shutdown) -> Result<(), SignerError> {
        server::serve(self.listener, self.tls, self.keys, shutdown).await?;
        Ok(())
    }
}

/// Opens the configured token (PIN from its file or `SIGNET_SIGNER_PKCS11_PIN`), off the
/// async workers: loading a module and logging in block.
async fn open_token(p: &config::Pkcs11Config) -> Result<signet_pkcs11::Token, SignerError> {
    let pin = match &p.pin_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                config::ConfigError::Invalid(format!(
                    "cannot read pkcs11.pin_file {}: {e}",
                    path.display()
                ))
            })?);
            zeroize::Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned())
        }
        None => match std::env::var(PKCS11_PIN_ENV) {
            Ok(v) if !v.is_empty() => zeroize::Zeroizing::new(v),
            _ => {
                return Err(config::ConfigError::Invalid(format!(
                    "no PIN for the PKCS#11 token {:?}: set pkcs11.pin_file or {PKCS11_PIN_ENV}",
                    p.token_label
                ))
                .into());
            }
        },
    };
    let spec = signet_pkcs11::TokenSpec {
        module: p.module.clone(),
        token_label: p.token_label.clone(),
        pin,
    };
    let token = tokio::task::spawn_blocking(move || signet_pkcs11::Token::open(&spec))
        .await
        .map_err(|_| keys::KeyError::Crypto("token task"))?
        .map_err(keys::KeyError::Token)?;
    tracing::info!(token = %token.label(), "new keys are generated on the PKCS#11 token");
    Ok(token)
}

/// The environment variable holding the token's user PIN when no `pin_file` is given.
pub const PKCS11_PIN_ENV: &str = "SIGNET_SIGNER_PKCS11_PIN";

/// A random passphrase for the memory backend (its keys die with the process anyway).
fn random_passphrase() -> Result<String, SignerError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| keys::KeyError::Crypto("random"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
