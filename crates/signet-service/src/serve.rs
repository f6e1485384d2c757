//! Serving an axum application on a bound listener, over plain HTTP or TLS, until a
//! shutdown future resolves, then draining in-flight requests for a grace period. With
//! TLS, the [`TlsManager`] is refreshed periodically and the listener switches to renewed
//! or reloaded certificates without dropping connections.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;

use crate::guard::GuardAcceptor;
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
    /// How long a client may take to send a request head (HTTP/1), and the TLS handshake.
    pub header_timeout: Duration,
    /// A connection on which no byte moves for this long is closed (idle keep-alive,
    /// stalled bodies, clients that stop reading).
    pub idle_timeout: Duration,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            tls_refresh_every: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
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
    let guard = GuardAcceptor::new(opts.max_connections, opts.idle_timeout);
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    server
        .http_builder()
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    match transport {
        Transport::Plain => server.acceptor(guard).serve(app).await,
        Transport::Tls { manager, initial } => {
            let config = RustlsConfig::from_config(initial);
            let refresher = tokio::spawn(refresh_loop(
                manager,
                config.clone(),
                opts.tls_refresh_every,
            ));
            let tls = RustlsAcceptor::new(config)
                .handshake_timeout(opts.header_timeout)
                .acceptor(guard);
            let served = server.acceptor(tls).serve(app).await;
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
                ..ServeOptions::default()
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

    // ---------------------------------------------------------------- slow and silent clients

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn plain_server(opts: ServeOptions) -> (std::net::SocketAddr, crate::shutdown::Shutdown) {
        let app = Router::new().route(
            "/",
            axum::routing::get(|| async { "ok" })
                .post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = crate::shutdown::Shutdown::new();
        let s = stop.clone();
        tokio::spawn(serve(listener, app, Transport::Plain, opts, async move {
            s.wait().await;
        }));
        (addr, stop)
    }

    /// Reads until the server closes the connection; returns what was read and how long the
    /// close took. Fails the test if the server keeps it open for 10 s.
    async fn until_closed(conn: &mut tokio::net::TcpStream) -> (String, Duration) {
        let started = tokio::time::Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => panic!("connection still open after 10 s"),
            }
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    }

    fn opts(header_ms: u64, idle_ms: u64, max: usize) -> ServeOptions {
        ServeOptions {
            header_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            max_connections: max,
            ..ServeOptions::default()
        }
    }

    #[tokio::test]
    async fn half_sent_request_heads_are_dropped() {
        let (addr, _stop) = plain_server(opts(300, 60_000, 100)).await;
        let mut conns = Vec::new();
        for _ in 0..20 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            conns.push(c);
        }
        for c in &mut conns {
            let (_, took) = until_closed(c).await;
            assert!(took < Duration::from_secs(5), "closed after {took:?}");
        }
    }

    #[tokio::test]
    async fn idle_keep_alive_and_stalled_bodies_are_dropped() {
        let (addr, _stop) = plain_server(opts(30_000, 400, 100)).await;
        // A stalled body: the head promises 100 bytes, 10 arrive, then nothing.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .await
            .unwrap();
        let (_, took) = until_closed(&mut c).await;
        assert!(took < Duration::from_secs(5), "stalled body held {took:?}");

        // Keep-alive: one answered request, then silence.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (text, took) = until_closed(&mut c).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("ok"), "{text}");
        assert!(
            took < Duration::from_secs(5),
            "idle connection held {took:?}"
        );
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_slots_come_back() {
        let (addr, _stop) = plain_server(opts(30_000, 60_000, 3)).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            // A full request proves the connection was accepted and holds its slot.
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = c.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            held.push(c);
        }
        let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = over.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let (text, took) = until_closed(&mut over).await;
        assert_eq!(text, "", "no answer over the cap");
        assert!(took < Duration::from_secs(2));

        drop(held.pop());
        let mut answered = false;
        for _ in 0..50 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            if until_closed(&mut c).await.0.starts_with("HTTP/1.1 200") {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(answered, "a freed slot is reused");
    }
}
