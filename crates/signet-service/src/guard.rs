//! Per-connection guards for listeners: a cap on open connections and an inactivity
//! deadline, so slow or silent clients cannot hold sockets (and file descriptors) forever.
//!
//! [`GuardAcceptor`] sits at the bottom of the accept chain (below TLS): a connection over
//! the cap is closed at once, and every accepted stream is wrapped in a [`Guarded`] that
//! fails reads and writes with `TimedOut` once no byte has moved in either direction for
//! the idle timeout. Header-read limits (a client dribbling a request head) are hyper's
//! `header_read_timeout`, set in [`crate::serve`].

use std::future::{Ready, ready};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Caps open connections and wraps each in an inactivity deadline.
#[derive(Clone, Debug)]
pub struct GuardAcceptor {
    slots: Arc<Semaphore>,
    idle: Duration,
    refused: Arc<AtomicU64>,
}

impl GuardAcceptor {
    /// At most `max_connections` open at once; each closed after `idle` without traffic.
    pub fn new(max_connections: usize, idle: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            idle,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Connections closed because the cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self, max_connections: usize) -> usize {
        max_connections.saturating_sub(self.slots.available_permits())
    }
}

impl<I, S> Accept<I, S> for GuardAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    type Stream = Guarded<I>;
    type Service = S;
    type Future = Ready<io::Result<(Guarded<I>, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            let n = self.refused.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(
                    refused = n + 1,
                    "connection limit reached: closing new connections"
                );
            }
            return ready(Err(io::Error::other("connection limit reached")));
        };
        ready(Ok((Guarded::new(stream, permit, self.idle), service)))
    }
}

/// A stream that holds a connection slot and times out when idle.
#[derive(Debug)]
pub struct Guarded<I> {
    inner: I,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<I> Guarded<I> {
    fn new(inner: I, slot: OwnedSemaphorePermit, idle: Duration) -> Self {
        Self {
            inner,
            _slot: slot,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// Maps a pending poll to `TimedOut` once the deadline has passed.
    fn pending_or_timeout<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending_or_timeout(cx),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending_or_timeout(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending_or_timeout(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.pending_or_timeout(cx),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
