//! Serving an axum application on a bound listener, over plain HTTP or TLS, until a
//! shutdown future resolves, then draining in-flight requests for a grace period. With
//! TLS, the [`TlsManager`] is refreshed periodically and the listener switches to renewed
//! or reloaded certificates without dropping connections.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;

use crate::tls::TlsManager;

/// How the listener speaks.
#[derive(Debug)]
pub enum Transport {
    /// Plain HTTP (behind a TLS-terminating proxy).
    Plain,
    /// TLS with the manager's material, starting from `initial`.
    Tls {
        /// The material and its renewal.
        manager: Arc<TlsManager>,
        /// The configuration to start with (from [`TlsManager::load`]).
        initial: Arc<rustls::ServerConfig>,
    },
}

/// Serving options.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// How long in-flight requests may finish after shutdown starts.
    pub grace: Duration,
    /// How often TLS material is checked for renewal and changed files.
    pub tls_refresh_every: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            tls_refresh_every: Duration::from_secs(3600),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves.
///
/// # Errors
///
/// The listener cannot be used, or serving fails.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    transport: Transport,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let grace = opts.grace;
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(grace));
    });
    let app = app.into_make_service();
    match transport {
        Transport::Plain => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(app)
                .await
        }
        Transport::Tls { manager, initial } => {
            let config = RustlsConfig::from_config(initial);
            let refresher = tokio::spawn(refresh_loop(
                manager,
                config.clone(),
                opts.tls_refresh_every,
            ));
            let served = axum_server::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(app)
                .await;
            refresher.abort();
            served
        }
    }
}

async fn refresh_loop(manager: Arc<TlsManager>, config: RustlsConfig, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; load() just ran
    loop {
        tick.tick().await;
        let m = manager.clone();
        match tokio::task::spawn_blocking(move || m.refresh()).await {
            Ok(Ok(Some(new))) => config.reload_from_config(new),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "TLS refresh failed; keeping the current certificate");
            }
            Err(e) => tracing::error!(error = %e, "TLS refresh task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use signet_core::UnixTime;
    use signet_core::key::parse_cert;

    use super::*;
    use crate::clock::ManualClock;
    use crate::tls::{SERVER_VALIDITY_DAYS, TlsSource};

    const T0: i64 = 1_938_038_400;
    const DAY: i64 = 86_400;

    /// Connects with a client that trusts `ca` and returns the server certificate's expiry.
    /// The client's verification time is the server's (moved) clock, as a client living
    /// in that future would check it.
    async fn presented_not_after(addr: std::net::SocketAddr, ca: &Path, at: i64) -> i64 {
        #[derive(Debug)]
        struct At(i64);
        impl rustls::time_provider::TimeProvider for At {
            fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
                Some(rustls::pki_types::UnixTime::since_unix_epoch(
                    Duration::from_secs(u64::try_from(self.0).unwrap()),
                ))
            }
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_details(
            Arc::new(rustls::crypto::ring::default_provider()),
            Arc::new(At(at)),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("handshake with a certificate valid at the client's time");
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        parse_cert(&leaf).unwrap().not_after.secs()
    }

    #[tokio::test]
    async fn listener_switches_to_renewed_certificate_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(UnixTime::from_unix(T0, 0));
        let (manager, initial) = TlsManager::load(
            TlsSource::LocalCa {
                state_dir: dir.path().to_owned(),
                extra_names: Vec::new(),
            },
            clock.clock(),
        )
        .unwrap();
        let ca = manager.generated().unwrap().ca_cert;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = crate::shutdown::Shutdown::new();
        let s = stop.clone();
        let server = tokio::spawn(serve(
            listener,
            Router::new(),
            Transport::Tls { manager, initial },
            ServeOptions {
                grace: Duration::from_secs(1),
                tls_refresh_every: Duration::from_millis(50),
            },
            async move { s.wait().await },
        ));

        let first = presented_not_after(addr, &ca, T0).await;
        assert_eq!(first, T0 + SERVER_VALIDITY_DAYS * DAY);

        // Move to 5 days before expiry: the refresher renews and the listener switches.
        let later = T0 + (SERVER_VALIDITY_DAYS - 5) * DAY;
        clock.set(UnixTime::from_unix(later, 0));
        let mut seen = first;
        for _ in 0..100 {
            seen = presented_not_after(addr, &ca, later).await;
            if seen != first {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, later + SERVER_VALIDITY_DAYS * DAY);

        stop.trigger();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("graceful shutdown")
            .unwrap()
            .unwrap();
    }
}
