//! Serving the signer: TLS handshakes (mutual, with the client CA) on a TCP listener, then
//! tonic's HTTP/2 server with `KeyManagement`, `Signer` and `grpc.health.v1.Health`.
//!
//! Health: the service names notary-server checks, `grpc.health.v1.Health.KeyManagement`
//! and `grpc.health.v1.Health.Signer`, are `SERVING` while the key database answers (and,
//! with a PKCS#11 token, while the token answers with its login: [`signet_pkcs11::Token::probe`])
//! and `NOT_SERVING` while one does not (checked every [`HEALTH_INTERVAL`]); `""` (the whole
//! server) is always `SERVING`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use signet_service::shutdown::Shutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;

use crate::keys::KeyStore;
use crate::proto::key_management::key_management_server::KeyManagementServer;
use crate::proto::signer::signer_server::SignerServer;
use crate::service::SignerService;

pub use crate::proto::{HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER};
/// How often the key database is probed for the health service.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// How long one probe of the database or the token may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the HTTP/2 server.
const ACCEPT_QUEUE: usize = 64;

/// Serving failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The gRPC server stopped with an error.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A client connection after a successful mutual TLS handshake.
#[derive(Debug)]
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    peer: Option<SocketAddr>,
}

impl Connected for TlsConnection {
    type ConnectInfo = Option<SocketAddr>;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts TCP connections and completes TLS handshakes concurrently; connections whose
/// client has no certificate from the client CA never reach the gRPC server.
fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsConnection, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_QUEUE);
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.wait() => break,
                a = listener.accept() => a,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx
                            .send(Ok(TlsConnection {
                                stream,
                                peer: Some(peer),
                            }))
                            .await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, error = %e, "TLS handshake refused");
                    }
                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// What keeps the keys from being used, if anything: the key database or the token not
/// answering within 2 s.
pub async fn probe(keys: &KeyStore) -> Option<String> {
    match tokio::time::timeout(PROBE_TIMEOUT, keys.store().health()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(format!("key database unreachable: {e}")),
        Err(_) => return Some("key database unreachable: timed out".to_owned()),
    }
    let token = keys.token()?.clone();
    let probed = tokio::task::spawn_blocking(move || token.probe());
    match tokio::time::timeout(PROBE_TIMEOUT, probed).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(format!("PKCS#11 token unusable: {e}")),
        Ok(Err(_)) => Some("PKCS#11 token unusable: the probe failed".to_owned()),
        Err(_) => Some("PKCS#11 token unusable: timed out".to_owned()),
    }
}

/// Serves the signer on `listener` until `shutdown` is triggered.
///
/// # Errors
///
/// [`ServeError`] if the gRPC server fails.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    keys: Arc<KeyStore>,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in [HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER] {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let probe = {
        let keys = keys.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut healthy = true;
            loop {
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(HEALTH_INTERVAL) => {}
                }
                let problem = probe(&keys).await;
                let ok = problem.is_none();
                if ok != healthy {
                    healthy = ok;
                    match &problem {
                        None => tracing::info!("keys reachable again: reporting SERVING"),
                        Some(p) => tracing::error!("{p}: reporting NOT_SERVING"),
                    }
                }
                let status = if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                for name in [HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER] {
                    reporter.set_service_status(name, status).await;
                }
            }
        })
    };
    let service = SignerService::new(keys);
    let incoming = accept_loop(listener, tls, shutdown.clone());
    let result = tonic::transport::Server::builder()
        .add_service(KeyManagementServer::new(service.clone()))
        .add_service(SignerServer::new(service))
        .add_service(health)
        .serve_with_incoming_shutdown(incoming, shutdown.wait())
        .await;
    probe.abort();
    Ok(result?)
}
