//! Batched freshness checks for a cache that other processes' writes can make stale
//! (server replicas sharing one PostgreSQL database): the fallback for reads that change
//! notifications cannot vouch for (see [`crate::replica`]).
//!
//! A read may use the cache only after a check that *started after the read arrived* has
//! applied every change committed before it. Checks run back to back in one task, and every
//! read waiting at the time joins the next one, so under load one cheap query serves many
//! reads while each read still sees every write acknowledged before it began
//! (linearizable reads).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// How long a read waits for a check before it bypasses the cache.
const WAIT_LIMIT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
struct Batch {
    number: u64,
    ok: bool,
}

/// The gate reads wait at.
#[derive(Debug)]
pub(crate) struct FreshnessGate {
    started: AtomicU64,
    wanted: Notify,
    done: watch::Sender<Batch>,
}

impl FreshnessGate {
    pub(crate) fn new() -> Self {
        Self {
            started: AtomicU64::new(0),
            wanted: Notify::new(),
            done: watch::Sender::new(Batch {
                number: 0,
                ok: false,
            }),
        }
    }

    /// Waits for a check that starts after this call. `true` if the cache is current as
    /// of it; `false` (use the database) if the check failed or took too long.
    pub(crate) async fn wait(&self) -> bool {
        let need = self.started.load(Ordering::SeqCst) + 1;
        let mut rx = self.done.subscribe();
        self.wanted.notify_one();
        match tokio::time::timeout(WAIT_LIMIT, rx.wait_for(|b| b.number >= need)).await {
            Ok(Ok(batch)) => batch.ok,
            _ => false,
        }
    }

    /// Runs checks on demand, forever: `check` applies the changes committed so far and
    /// says whether it succeeded.
    pub(crate) async fn run<F, Fut>(&self, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        loop {
            self.wanted.notified().await;
            let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            let ok = check().await;
            self.done.send_replace(Batch { number, ok });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[tokio::test]
    async fn a_read_only_trusts_a_check_that_started_after_it() {
        let gate = Arc::new(FreshnessGate::new());
        // The first check is slow and started before the read; the read must wait for the
        // second.
        let checks = Arc::new(AtomicU64::new(0));
        let release_first = Arc::new(Notify::new());
        let g = gate.clone();
        let (c, r) = (checks.clone(), release_first.clone());
        tokio::spawn(async move {
            g.run(|| {
                let (c, r) = (c.clone(), r.clone());
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        r.notified().await;
                    }
                    true
                }
            })
            .await;
        });
        gate.wanted.notify_one(); // someone else's read starts check 1
        while checks.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let done = Arc::new(AtomicBool::new(false));
        let (g, d) = (gate.clone(), done.clone());
        let reader = tokio::spawn(async move {
            let ok = g.wait().await;
            d.store(true, Ordering::SeqCst);
            ok
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !done.load(Ordering::SeqCst),
            "read finished on a check that began before it"
        );
        release_first.notify_one();
        assert!(reader.await.unwrap());
        assert_eq!(checks.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_checks_send_reads_to_the_database() {
        let gate = Arc::new(FreshnessGate::new());
        let g = gate.clone();
        tokio::spawn(async move { g.run(|| async { false }).await });
        assert!(!gate.wait().await);
    }
}
