//! Reads from the cache with no database round trip on PostgreSQL, where other server
//! processes (replicas) write to the same database — while every read still reflects every
//! write acknowledged before it arrived, through any replica.
//!
//! # The protocol
//!
//! Each replica keeps one listening connection ([`signet_store::ChangeListener`]) and a lease
//! row in `signet_replicas` (see `signet_store`'s `replicas` module).
//!
//! * **Applying.** Every changefeed row is announced after its commit; the listener drops the
//!   cached view of that GUN and raises the replica's *applied* mark to the change's id.
//! * **Renewing.** Every [`RENEW_EVERY`], and at once after applying something, the replica
//!   writes its applied mark and a lease of [`LEASE`] (by the database's clock) and sends a
//!   ping tagged with the listener's connection number and a sequence number. Only while
//!   its listener is connected and caught up.
//! * **Proving.** When its own ping comes back on the listener, every change committed before
//!   the renewal has been applied (notifications arrive in commit order and are applied in
//!   order). The cache may then answer reads with no query until `sent + LEASE -`
//!   [`MARGIN`], `sent` being when the renewal was sent: before the lease it wrote can end.
//! * **Writing.** A writer acknowledges a change only once every other replica with a
//!   running lease has applied it ([`Replica::await_replicas`]), or once [`LEASE`] has passed since
//!   the commit: by then no replica can still hold a proof from before the change.
//! * **Failing safe.** A lost listener (terminated, broken, silent: its pings stop coming
//!   back) revokes the proof and the lease at once; reads then go through the batched
//!   changefeed check of [`crate::freshness`], exactly as before this protocol, until a new
//!   listener has caught up (cache dropped, applied mark read from the changefeed) and its
//!   first ping has returned.
//!
//! Why a read that arrives after a write's acknowledgement sees it: the writer checked the
//! leases after its commit. If this replica's lease was running then, it had applied the
//! change. If not, any proof the replica uses now comes from a renewal written after that
//! check, hence after the commit; its ping followed the change through the same connection
//! (or the change predates that connection, whose start dropped the whole cache).
//!
//! Assumed: the database's clock does not jump forward by more than [`MARGIN`] within a
//! lease, and each process measures elapsed time correctly (monotonic clocks).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signet_service::errors::chain;
use signet_service::metrics::{Collector, Exposition, Kind};
use signet_store::{ChangeEvent, Store};
use tokio::sync::{Notify, watch};

/// How long a renewal keeps a replica's lease, by the database's clock.
pub(crate) const LEASE: Duration = Duration::from_secs(3);
/// How much sooner than its lease a replica stops trusting its cache.
pub(crate) const MARGIN: Duration = Duration::from_secs(1);
/// How often a replica renews its lease when nothing changes.
pub(crate) const RENEW_EVERY: Duration = Duration::from_millis(500);
/// A ping not back after this long means the listener is stuck: it is replaced.
const PING_TIMEOUT: Duration = Duration::from_millis(1500);
/// Pauses between listener connection attempts.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Pauses between a writer's looks at the leases.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(20);
/// Renewals kept track of until their ping returns.
const MAX_PENDING: usize = 64;

/// What the replica protocol needs from the cache it keeps fresh.
pub(crate) trait Cache: Sync {
    /// Drops the view of `gun`, or of every GUN.
    fn invalidate(&self, gun: Option<&str>);
    /// Raises the mark of changes applied so far; returns the mark.
    fn applied(&self, id: i64) -> i64;
}

/// One renewal whose ping has not come back yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    connection: u64,
    seq: u64,
    sent: Instant,
}

/// This process's part in the protocol.
#[derive(Debug)]
pub(crate) struct Replica {
    id: String,
    base: Instant,
    /// Nanoseconds after `base` until which reads may use the cache with no query; 0: none.
    proven_until: AtomicU64,
    /// The listener's connection number while it is caught up; 0 otherwise.
    ready: AtomicU64,
    pending: Mutex<VecDeque<Pending>>,
    /// Wakes the renewer: something was applied, or the listener came or went.
    wake: Notify,
    /// Tells the listener to start over (its pings stopped coming back).
    restart: Notify,
    /// Set at shutdown: the listener and the renewer stop.
    closing: watch::Sender<bool>,
    /// Held by a renewal in flight, so that giving the lease up comes after it.
    renewing: tokio::sync::Mutex<()>,
    stats: Arc<ReplicaStats>,
}

impl Replica {
    pub(crate) fn new() -> Self {
        Self {
            id: random_id(),
            base: Instant::now(),
            proven_until: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            pending: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            restart: Notify::new(),
            closing: watch::Sender::new(false),
            renewing: tokio::sync::Mutex::new(()),
            stats: Arc::default(),
        }
    }

    /// The counters, for the metrics registry.
    pub(crate) fn stats(&self) -> Arc<ReplicaStats> {
        self.stats.clone()
    }

    /// The counters, to count with.
    pub(crate) fn counters(&self) -> &ReplicaStats {
        &self.stats
    }

    /// Whether the cache is proven current now.
    pub(crate) fn proven(&self) -> bool {
        let now = self.nanos(Instant::now());
        now < self.proven_until.load(Ordering::SeqCst)
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn revoke(&self) {
        self.proven_until.store(0, Ordering::SeqCst);
    }

    /// Runs the listener and the renewals until [`Replica::close`].
    pub(crate) async fn run(&self, store: &Store, cache: &impl Cache) {
        let mut closing = self.closing.subscribe();
        let listen = async {
            tokio::select! {
                () = self.listen(store, cache) => {}
                _ = closing.wait_for(|c| *c) => {}
            }
        };
        // The renewer stops by itself, never in the middle of a renewal.
        tokio::join!(listen, self.renew(store, cache));
    }

    /// Keeps one listening connection, starting over whenever it is lost.
    async fn listen(&self, store: &Store, cache: &impl Cache) {
        let mut connection = 0u64;
        let mut retry = RETRY_FIRST;
        loop {
            connection += 1;
            let mut listener = match store.listen_changes().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "cannot listen for changes; reads check the changefeed");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            };
            // Listening: every change committed from now on will be reported. Whatever came
            // before is covered by dropping the cache and starting from the newest change.
            cache.invalidate(None);
            match store.newest_change_id().await {
                Ok(newest) => {
                    cache.applied(newest);
                }
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "cannot read the changefeed; reads check the changefeed");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            }
            retry = RETRY_FIRST;
            self.ready.store(connection, Ordering::SeqCst);
            self.stats.listener_up.store(true, Ordering::SeqCst);
            self.wake.notify_one();
            tracing::info!(replica = %self.id, "listening for changes by other replicas");
            let lost = loop {
                tokio::select! {
                    event = listener.next() => match event {
                        Ok(ChangeEvent::Change { id, gun }) => {
                            cache.invalidate(gun.as_deref());
                            cache.applied(id);
                            self.wake.notify_one();
                        }
                        Ok(ChangeEvent::Ping(ping)) => self.ping_returned(&ping, connection),
                        Err(e) => break chain(&e),
                    },
                    () = self.restart.notified() => {
                        break "lease renewals stopped coming back".to_owned();
                    }
                }
            };
            // From here on nothing is proven: reads check the changefeed until a new listener
            // has caught up, and the renewer gives the lease up.
            self.revoke();
            self.ready.store(0, Ordering::SeqCst);
            cache.invalidate(None);
            self.stats.listener_up.store(false, Ordering::SeqCst);
            self.stats.listener_lost.fetch_add(1, Ordering::Relaxed);
            self.wake.notify_one();
            tracing::warn!(replica = %self.id, reason = %lost, "lost the change listener; reads check the changefeed until it is back");
            drop(listener);
            tokio::time::sleep(RETRY_FIRST).await;
        }
    }

    /// A ping came back on listener connection `connection`: if it is one of ours from this
    /// connection, everything committed before its renewal has been applied.
    fn ping_returned(&self, ping: &str, connection: u64) {
        let mut parts = ping.split(' ');
        let (Some(id), Some(conn), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
            return;
        };
        if id != self.id || conn.parse() != Ok(connection) {
            return;
        }
        let Ok(seq) = seq.parse::<u64>() else { return };
        let mut sent = None;
        if let Ok(mut pending) = self.pending.lock() {
            while let Some(p) = pending.front().copied() {
                if p.connection > connection || (p.connection == connection && p.seq > seq) {
                    break;
                }
                pending.pop_front();
                if p.connection == connection && p.seq == seq {
                    sent = Some(p.sent);
                }
            }
        }
        if let Some(sent) = sent
            && let Some(until) = sent.checked_add(LEASE - MARGIN)
        {
            self.proven_until
                .fetch_max(self.nanos(until), Ordering::SeqCst);
        }
    }

    /// Renews the lease while the listener is caught up, gives it up otherwise.
    async fn renew(&self, store: &Store, cache: &impl Cache) {
        let mut seq = 0u64;
        let mut held = false;
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.wake.notified() => {}
            }
            let _renewing = self.renewing.lock().await;
            if *self.closing.borrow() {
                return;
            }
            let connection = self.ready.load(Ordering::SeqCst);
            if connection == 0 {
                if held {
                    match store.release_replica(&self.id).await {
                        Ok(()) => held = false,
                        Err(e) => {
                            tracing::warn!(error = %chain(&e), "cannot give up the replica lease; writers wait for it to run out");
                        }
                    }
                }
                continue;
            }
            let now = Instant::now();
            if self.ping_overdue(connection, now) {
                self.restart.notify_waiters();
                continue;
            }
            seq += 1;
            if let Ok(mut pending) = self.pending.lock() {
                if pending.len() >= MAX_PENDING {
                    pending.pop_front();
                }
                pending.push_back(Pending {
                    connection,
                    seq,
                    sent: now,
                });
            }
            let applied = cache.applied(0);
            let ping = format!("{} {connection} {seq}", self.id);
            held = true; // even a failed renewal may have committed
            if let Err(e) = store
                .renew_replica(&self.id, applied, micros(LEASE), &ping)
                .await
            {
                tracing::warn!(error = %chain(&e), "cannot renew the replica lease");
                // Its ping may never come: not a sign of a stuck listener.
                if let Ok(mut pending) = self.pending.lock() {
                    pending.retain(|p| !(p.connection == connection && p.seq == seq));
                }
            }
        }
    }

    /// Whether a ping of listener connection `connection` is overdue.
    fn ping_overdue(&self, connection: u64, now: Instant) -> bool {
        let Ok(pending) = self.pending.lock() else {
            return false;
        };
        pending
            .iter()
            .find(|p| p.connection == connection)
            .is_some_and(|p| now.saturating_duration_since(p.sent) > PING_TIMEOUT)
    }

    /// Returns once every other replica with a running lease has applied the newest change,
    /// or once [`LEASE`] has passed since `committed` (taken after the write's commit). This
    /// replica is not waited for: the writer dropped its own view of the GUN already, and a
    /// view read before the commit is never cached after that drop (`generation`).
    pub(crate) async fn await_replicas(&self, store: &Store, committed: Instant) {
        let deadline = committed + LEASE;
        let mut change = None;
        let mut pause = POLL_FIRST;
        loop {
            match store.replicas_behind(&self.id, change).await {
                Ok(lag) if lag.behind == 0 => return,
                Ok(lag) => change = Some(lag.change_id),
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "cannot read the replicas' leases; waiting for them to run out");
                }
            }
            let now = Instant::now();
            if now >= deadline {
                self.stats.lease_waits.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    change = ?change,
                    "replicas did not confirm a change; acknowledged after their leases ran out"
                );
                return;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Gives the lease up; for shutdown.
    pub(crate) async fn close(&self, store: &Store) {
        self.closing.send_replace(true);
        self.revoke();
        self.wake.notify_one();
        let _no_renewal_in_flight = self.renewing.lock().await;
        if let Err(e) = store.release_replica(&self.id).await {
            tracing::warn!(error = %chain(&e), "cannot give up the replica lease at shutdown");
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// 16 random bytes in hex: this process's name in `signet_replicas`.
fn random_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Without randomness, the process id and start time still tell processes apart.
        #[allow(clippy::disallowed_methods)] // a name, not a decision
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return format!("{}-{}", std::process::id(), since.as_nanos());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How reads on a replica were answered, and how its listener fares.
#[derive(Debug, Default)]
pub(crate) struct ReplicaStats {
    /// Reads whose cache use was proven by notifications (no query).
    pub(crate) notified_reads: AtomicU64,
    /// Reads that waited for a changefeed check.
    pub(crate) checked_reads: AtomicU64,
    /// Reads that went to the database because a check failed.
    pub(crate) uncached_reads: AtomicU64,
    /// Changefeed checks run (database round trips on the read path).
    pub(crate) checks: AtomicU64,
    listener_up: AtomicBool,
    listener_lost: AtomicU64,
    lease_waits: AtomicU64,
}

impl Collector for ReplicaStats {
    fn collect(&self, out: &mut Exposition) {
        const READS: &str = "signet_replica_reads_total";
        const CHECKS: &str = "signet_replica_freshness_checks_total";
        const UP: &str = "signet_replica_listener_up";
        const LOST: &str = "signet_replica_listener_lost_total";
        const WAITS: &str = "signet_replica_lease_waits_total";
        out.family(
            READS,
            "Reads of current metadata on PostgreSQL by how their freshness was established: \
             notified (no query), checked (a changefeed query), database (the check failed).",
            Kind::Counter,
        );
        for (how, n) in [
            ("notified", &self.notified_reads),
            ("checked", &self.checked_reads),
            ("database", &self.uncached_reads),
        ] {
            out.sample_u64(READS, &[("freshness", how)], n.load(Ordering::Relaxed));
        }
        out.family(
            CHECKS,
            "Changefeed queries run for reads that could not be proven fresh by notifications.",
            Kind::Counter,
        );
        out.sample_u64(CHECKS, &[], self.checks.load(Ordering::Relaxed));
        out.family(
            UP,
            "1 while the change listener is connected and caught up.",
            Kind::Gauge,
        );
        out.sample_u64(UP, &[], u64::from(self.listener_up.load(Ordering::SeqCst)));
        out.family(
            LOST,
            "Times the change listener was lost and started over.",
            Kind::Counter,
        );
        out.sample_u64(LOST, &[], self.listener_lost.load(Ordering::Relaxed));
        out.family(
            WAITS,
            "Writes acknowledged only after waiting out the replicas' leases.",
            Kind::Counter,
        );
        out.sample_u64(WAITS, &[], self.lease_waits.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_pings_of_the_current_connection_prove_anything() {
        let r = Replica::new();
        assert!(!r.proven());
        let sent = Instant::now();
        for seq in 1..=3 {
            r.pending.lock().unwrap().push_back(Pending {
                connection: 2,
                seq,
                sent,
            });
        }
        r.ping_returned("someone-else 2 1", 2);
        r.ping_returned(&format!("{} 1 1", r.id), 2); // an older connection's
        assert!(!r.proven());
        r.ping_returned(&format!("{} 2 2", r.id), 2);
        assert!(r.proven());
        // 1 and 2 are settled; 3 still pending.
        assert_eq!(r.pending.lock().unwrap().len(), 1);
        r.revoke();
        assert!(!r.proven());
    }

    #[test]
    fn a_proof_ends_before_the_lease() {
        let r = Replica::new();
        let long_ago = Instant::now()
            .checked_sub(LEASE - MARGIN)
            .expect("the monotonic clock is past a few seconds");
        r.pending.lock().unwrap().push_back(Pending {
            connection: 1,
            seq: 1,
            sent: long_ago,
        });
        r.ping_returned(&format!("{} 1 1", r.id), 1);
        assert!(!r.proven(), "a ping sent a lease ago proves nothing now");
    }
}
