//! What server replicas (several processes on one PostgreSQL database, each caching what it
//! serves) need from the database to serve reads from their caches without a query per read,
//! while every read still reflects every write acknowledged before it.
//!
//! The parts (schema version 3):
//!
//! * **Change notifications.** Every changefeed row announces itself on [`CHANGE_CHANNEL`]
//!   from a trigger. PostgreSQL delivers notifications only after their transaction commits,
//!   in commit order, to every connection listening at that time. A [`ChangeListener`] is
//!   such a connection; once it reports a loss, what was sent meanwhile is gone and the
//!   caller must start over with a new one.
//! * **Leases.** `signet_replicas` has one row per replica: the last changefeed id it has
//!   applied to its cache (`seen_change`) and until when, in microseconds of the database's
//!   clock, it may serve from its cache (`lease_until`). [`Store::renew_replica`] writes
//!   both and sends a ping on the same channel, so a replica that sees its own ping come back
//!   knows its listener delivered everything committed before the renewal.
//! * **Waiting writers.** After a write, [`Store::replicas_behind`] tells how many replicas
//!   with a running lease have not applied the newest change yet; the writer acknowledges once
//!   that is zero (or once every lease that could predate the write has run out).
//!
//! The timing rules (how long a lease is, what a replica may conclude from a ping) belong to
//! the server; this module only moves the data.

use std::io;

use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::{ACQUIRE_TIMEOUT, Backend, Inner, Store, StoreError};

/// The notification channel of changefeed rows and lease renewals.
pub const CHANGE_CHANNEL: &str = "signet_changefeed";
/// `application_name` of listening connections (`pg_stat_activity` shows it).
pub const LISTENER_APPLICATION: &str = "signet-listener";

/// Renews one replica's lease, records what it has applied (never lowering it) and sends a
/// ping, in one statement. The write is not flushed before the commit returns
/// (`synchronous_commit` off): a lease lost in a database crash is harmless, since every
/// listener loses its connection then too.
const RENEW: &str = "WITH lease AS (
    INSERT INTO signet_replicas (replica_id, seen_change, lease_until)
    VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + $3)
    ON CONFLICT (replica_id) DO UPDATE
    SET seen_change = GREATEST(signet_replicas.seen_change, excluded.seen_change),
        lease_until = excluded.lease_until
    RETURNING replica_id
)
SELECT pg_notify($4, $5), set_config('synchronous_commit', 'off', true) FROM lease";
const RELEASE: &str = "UPDATE signet_replicas SET lease_until = 0 WHERE replica_id = $1";
/// Rows of replicas whose lease ended more than a day ago: processes long gone.
const FORGET_OLD: &str = "DELETE FROM signet_replicas
WHERE lease_until < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 86400000000";
const BEHIND_NEWEST: &str = "SELECT t.target, (SELECT COUNT(*) FROM signet_replicas r
    WHERE r.seen_change < t.target AND r.replica_id <> $1
      AND r.lease_until > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
FROM (SELECT COALESCE(MAX(id), 0) AS target FROM changefeed) t";
const BEHIND: &str = "SELECT $2::bigint, COUNT(*) FROM signet_replicas
WHERE seen_change < $2 AND replica_id <> $1
  AND lease_until > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// What a [`ChangeListener`] receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeEvent {
    /// A changefeed row committed. `gun` is `None` when the GUN did not fit in a notification
    /// (or the payload was not understood): treat it as "anything may have changed".
    Change {
        /// The changefeed id (0 if unreadable).
        id: i64,
        /// The repository.
        gun: Option<String>,
    },
    /// A lease renewal committed, with the ping given to [`Store::renew_replica`].
    Ping(String),
}

/// A connection listening on [`CHANGE_CHANNEL`]. Dropping it stops listening.
#[derive(Debug)]
pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    /// The next notification, waiting as long as it takes.
    ///
    /// Cancelling the future (for example in `tokio::select!`) loses nothing while the
    /// connection is up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] once the connection is lost (terminated, closed, broken):
    /// notifications sent since may be lost for good. Drop this listener; a new one starts
    /// over.
    pub async fn next(&mut self) -> Result<ChangeEvent, StoreError> {
        match self.listener.try_recv().await {
            Ok(Some(notification)) => Ok(parse_event(notification.payload())),
            Ok(None) => Err(StoreError::Unavailable {
                backend: Backend::Postgres,
                source: sqlx::Error::Io(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the listening connection was lost",
                )),
            }),
            Err(err) => Err(StoreError::from_sqlx(Backend::Postgres, "listen", err)),
        }
    }
}

/// Reads a payload: `c <id> <gun>`, `c <id>` (from the changefeed trigger) or `p <ping>`.
fn parse_event(payload: &str) -> ChangeEvent {
    if let Some(ping) = payload.strip_prefix("p ") {
        return ChangeEvent::Ping(ping.to_owned());
    }
    let Some(rest) = payload.strip_prefix("c ") else {
        return ChangeEvent::Change { id: 0, gun: None };
    };
    let (id, gun) = match rest.split_once(' ') {
        Some((id, gun)) => (id, Some(gun.to_owned())),
        None => (rest, None),
    };
    match id.parse() {
        Ok(id) => ChangeEvent::Change { id, gun },
        Err(_) => ChangeEvent::Change { id: 0, gun: None },
    }
}

/// How far the replicas are from a change: see [`Store::replicas_behind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaLag {
    /// The changefeed id the replicas were compared with.
    pub change_id: i64,
    /// Replicas whose lease is running and that have applied only older changes.
    pub behind: u64,
}

impl Store {
    /// Opens a connection of its own (not from the pool) listening on [`CHANGE_CHANNEL`].
    /// Only changes committed after this returns are certain to be reported.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on SQLite; [`StoreError::Unavailable`] if the connection
    /// cannot be opened.
    pub async fn listen_changes(&self) -> Result<ChangeListener, StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Err(StoreError::Unsupported {
                what: "change notifications need PostgreSQL",
            });
        };
        let options = (*pool.connect_options())
            .clone()
            .application_name(LISTENER_APPLICATION);
        // A pool of one: PgListener takes its connection from a pool.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let unavailable = |err| StoreError::from_sqlx(Backend::Postgres, "listen", err);
        let mut listener = PgListener::connect_with(&own).await.map_err(unavailable)?;
        listener.ignore_pool_close_event(true);
        // A lost connection is reported, not silently replaced: the caller must know.
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await.map_err(unavailable)?;
        Ok(ChangeListener { listener })
    }

    /// Renews the lease of replica `replica_id` for `lease_micros` from now (by the
    /// database's clock), records that it has applied every change up to `seen_change`, and
    /// sends `ping` on [`CHANGE_CHANNEL`] (delivered as [`ChangeEvent::Ping`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on SQLite; [`StoreError::Unavailable`] or
    /// [`StoreError::Database`]. The renewal may have committed all the same.
    pub async fn renew_replica(
        &self,
        replica_id: &str,
        seen_change: i64,
        lease_micros: i64,
        ping: &str,
    ) -> Result<(), StoreError> {
        let pool = postgres(self, "lease renewal needs PostgreSQL")?;
        sqlx::query(RENEW)
            .bind(replica_id)
            .bind(seen_change)
            .bind(lease_micros)
            .bind(CHANGE_CHANNEL)
            .bind(format!("p {ping}"))
            .execute(pool)
            .await
            .map_err(|err| StoreError::from_sqlx(Backend::Postgres, "renew_replica", err))?;
        Ok(())
    }

    /// Ends the lease of replica `replica_id` (writers stop waiting for it), and forgets
    /// replicas whose lease ended more than a day ago.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on SQLite; [`StoreError::Unavailable`] or
    /// [`StoreError::Database`].
    pub async fn release_replica(&self, replica_id: &str) -> Result<(), StoreError> {
        let pool = postgres(self, "leases need PostgreSQL")?;
        let op = |err| StoreError::from_sqlx(Backend::Postgres, "release_replica", err);
        sqlx::query(RELEASE)
            .bind(replica_id)
            .execute(pool)
            .await
            .map_err(op)?;
        sqlx::query(FORGET_OLD).execute(pool).await.map_err(op)?;
        Ok(())
    }

    /// How many replicas other than `except` (the asking replica's own id) with a running
    /// lease have not yet applied change `change_id`, or (with `None`) the newest change
    /// committed so far, which the answer names.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on SQLite; [`StoreError::Unavailable`] or
    /// [`StoreError::Database`].
    pub async fn replicas_behind(
        &self,
        except: &str,
        change_id: Option<i64>,
    ) -> Result<ReplicaLag, StoreError> {
        let pool = postgres(self, "leases need PostgreSQL")?;
        let query = match change_id {
            Some(id) => sqlx::query_as::<_, (i64, i64)>(BEHIND)
                .bind(except)
                .bind(id),
            None => sqlx::query_as::<_, (i64, i64)>(BEHIND_NEWEST).bind(except),
        };
        let (change_id, behind) = query
            .fetch_one(pool)
            .await
            .map_err(|err| StoreError::from_sqlx(Backend::Postgres, "replicas_behind", err))?;
        Ok(ReplicaLag {
            change_id,
            behind: u64::try_from(behind).unwrap_or(0),
        })
    }
}

fn postgres<'a>(store: &'a Store, what: &'static str) -> Result<&'a sqlx::PgPool, StoreError> {
    match &store.inner {
        Inner::Postgres(pool) => Ok(pool),
        Inner::Sqlite { .. } => Err(StoreError::Unsupported { what }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        assert_eq!(
            parse_event("c 42 example.com/a b"),
            ChangeEvent::Change {
                id: 42,
                gun: Some("example.com/a b".to_owned())
            }
        );
        assert_eq!(parse_event("c 7"), ChangeEvent::Change { id: 7, gun: None });
        assert_eq!(
            parse_event("p r1 2 3"),
            ChangeEvent::Ping("r1 2 3".to_owned())
        );
        assert_eq!(
            parse_event("something else"),
            ChangeEvent::Change { id: 0, gun: None }
        );
        assert_eq!(
            parse_event("c x y"),
            ChangeEvent::Change { id: 0, gun: None }
        );
    }
}
