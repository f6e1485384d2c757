//! The storage test suite. Every behaviour test runs against every backend: a temporary SQLite
//! file, `sqlite::memory:` and a scratch PostgreSQL database.
//!
//! PostgreSQL: the admin URL comes from `SIGNET_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates `signet_store_<random hex>`,
//! runs against it and drops it afterwards, also when the test panics. If PostgreSQL cannot be
//! reached the PostgreSQL tests fail; they never skip.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use signet_store::{
    Backend, Change, ChangeCategory, MetaRecord, NewRecord, NewServerKey, Store, StoreError,
    UnixMicros,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use tokio::task::JoinSet;

use signet_test_support::postgres::ScratchDatabase;

const GUN: &str = "example.com/org/app";

// ---------------------------------------------------------------------------------------------
// Backend instantiation
// ---------------------------------------------------------------------------------------------

/// Instantiates each listed test (an `async fn(&TestDb)`) once for one backend.
macro_rules! backend_suite {
    ($module:ident, $open:ident, [$($test:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = super::TestDb::$open().await;
                    super::$test(&db).await;
                }
            )*
        }
    };
}

backend_suite!(
    sqlite_file,
    sqlite_file,
    [
        round_trip,
        version_conflict_rejects_whole_batch,
        duplicate_role_in_batch_is_rejected,
        concurrent_updates_one_winner_none_lost,
        two_stores_racing,
        delete_is_exact,
        changefeed_semantics,
        server_keys_reuse_until_used,
        unused_keys_of_unpublished_repositories_expire,
        settings_first_value_wins,
        health_and_close,
        schema_is_idempotent_and_refuses_newer,
    ]
);

backend_suite!(
    sqlite_memory,
    sqlite_memory,
    [
        round_trip,
        version_conflict_rejects_whole_batch,
        duplicate_role_in_batch_is_rejected,
        concurrent_updates_one_winner_none_lost,
        delete_is_exact,
        changefeed_semantics,
        server_keys_reuse_until_used,
        unused_keys_of_unpublished_repositories_expire,
        settings_first_value_wins,
        health_and_close,
    ]
);

backend_suite!(
    postgres,
    postgres,
    [
        round_trip,
        version_conflict_rejects_whole_batch,
        duplicate_role_in_batch_is_rejected,
        concurrent_updates_one_winner_none_lost,
        two_stores_racing,
        delete_is_exact,
        changefeed_semantics,
        server_keys_reuse_until_used,
        unused_keys_of_unpublished_repositories_expire,
        settings_first_value_wins,
        health_and_close,
        schema_is_idempotent_and_refuses_newer,
        unique_violation_from_racing_writer_is_a_conflict,
    ]
);

/// A scratch database and a store connected to it; removed again on drop.
struct TestDb {
    url: String,
    store: Store,
    scratch: Scratch,
}

enum Scratch {
    SqliteFile(PathBuf),
    Memory,
    Postgres(#[allow(dead_code)] ScratchDatabase),
}

impl TestDb {
    async fn sqlite_file() -> Self {
        let path = std::env::temp_dir().join(format!("signet-store-{}.db", random_hex()));
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url).await.expect("open sqlite file");
        assert_eq!(store.backend(), Backend::Sqlite);
        Self {
            url,
            store,
            scratch: Scratch::SqliteFile(path),
        }
    }

    async fn sqlite_memory() -> Self {
        let url = "sqlite::memory:".to_owned();
        let store = Store::connect(&url).await.expect("open in-memory sqlite");
        assert_eq!(store.backend(), Backend::Sqlite);
        Self {
            url,
            store,
            scratch: Scratch::Memory,
        }
    }

    async fn postgres() -> Self {
        // The guard drops the database, even if connecting fails.
        let db = ScratchDatabase::create("signet_store").await;
        let url = db.url().to_owned();
        let store = Store::connect(&url)
            .await
            .expect("connect to scratch database");
        assert_eq!(store.backend(), Backend::Postgres);
        Self {
            url,
            store,
            scratch: Scratch::Postgres(db),
        }
    }

    /// A second, independent store (its own pools) on the same database, standing in for another
    /// server process.
    async fn second_store(&self) -> Store {
        assert!(
            !matches!(self.scratch, Scratch::Memory),
            "an in-memory database cannot be shared"
        );
        Store::connect(&self.url).await.expect("second store")
    }

    /// Runs one statement on a raw connection that bypasses the store.
    async fn raw_execute(&self, sql: &str) {
        match &self.scratch {
            Scratch::SqliteFile(_) => {
                let mut conn = SqliteConnection::connect(&self.url)
                    .await
                    .expect("raw sqlite");
                sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .expect("raw statement");
                conn.close().await.expect("close");
            }
            Scratch::Postgres(_) => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("raw postgres");
                sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .expect("raw statement");
                conn.close().await.expect("close");
            }
            Scratch::Memory => panic!("no raw access to an in-memory database"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.scratch {
            Scratch::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Scratch::Memory => {}
            Scratch::Postgres(_) => {}
        }
    }
}

fn random_hex() -> String {
    let mut bytes = [0_u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn rec(role: &str, version: u64, data: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        role: role.to_owned(),
        version,
        data: data.into(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn assert_conflict(result: Result<(), StoreError>, role: &str, version: u64) {
    match result {
        Err(StoreError::VersionConflict {
            role: got_role,
            version: got_version,
        }) => assert_eq!((got_role.as_str(), got_version), (role, version)),
        other => panic!("expected a version conflict for {role} v{version}, got {other:?}"),
    }
}

/// Summarises changes as (gun, version, category, sha256) for comparisons.
fn summary(changes: &[Change]) -> Vec<(String, u64, ChangeCategory, String)> {
    changes
        .iter()
        .map(|c| (c.gun.clone(), c.version, c.category, c.sha256.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

/// Times the store writes come from its clock: this one, fixed.
const WRITTEN_AT: UnixMicros = UnixMicros(1_900_000_000_123_456);

fn fixed_clock() -> signet_service::Clock {
    signet_service::Clock::fixed(signet_core_time(WRITTEN_AT))
}

fn signet_core_time(t: UnixMicros) -> signet_core::UnixTime {
    signet_core::UnixTime::from_unix(
        t.0 / 1_000_000,
        u32::try_from(t.0 % 1_000_000).unwrap() * 1_000,
    )
}

async fn round_trip(db: &TestDb) {
    let store = &db.store.clone().with_clock(fixed_clock());
    assert_eq!(store.latest(GUN, "root").await.unwrap(), None);
    assert_eq!(store.latest_all(GUN).await.unwrap(), vec![]);

    // Bytes that are not valid UTF-8, with NUL and trailing whitespace, must survive unchanged.
    let root1 = b"{\"signed\":{\"version\":1}}\x00\xff\xfe \n".to_vec();
    let targets1 = b"{\"signed\":{\"_type\":\"Targets\"}}".to_vec();
    let snapshot1 = b"snapshot v1".to_vec();
    let timestamp1 = b"timestamp v1".to_vec();
    let delegation1 = Vec::new();
    store
        .update(
            GUN,
            &[
                rec("root", 1, root1.clone()),
                rec("targets", 1, targets1.clone()),
                rec("targets/releases", 1, delegation1.clone()),
                rec("snapshot", 1, snapshot1.clone()),
                rec("timestamp", 1, timestamp1.clone()),
            ],
        )
        .await
        .unwrap();

    let latest = store.latest(GUN, "root").await.unwrap().expect("root v1");
    assert_eq!(latest.gun, GUN);
    assert_eq!(latest.role, "root");
    assert_eq!(latest.version, 1);
    assert_eq!(latest.data, root1);
    assert_eq!(latest.sha256, sha256_hex(&root1));
    assert_eq!(
        latest.created_at, WRITTEN_AT,
        "created_at comes from the store's clock"
    );
    assert_eq!(latest.updated_at, latest.created_at);

    let empty = store
        .latest(GUN, "targets/releases")
        .await
        .unwrap()
        .expect("delegation");
    assert_eq!(empty.data, Vec::<u8>::new());
    assert_eq!(empty.sha256, sha256_hex(b""));

    assert_eq!(
        store.by_version(GUN, "root", 1).await.unwrap(),
        Some(latest.clone())
    );
    assert_eq!(store.by_version(GUN, "root", 2).await.unwrap(), None);
    assert_eq!(store.by_version(GUN, "root", u64::MAX).await.unwrap(), None);
    assert_eq!(
        store
            .by_version("example.com/other", "root", 1)
            .await
            .unwrap(),
        None
    );

    let root_sum = sha256_hex(&root1);
    assert_eq!(
        store.by_checksum(GUN, "root", &root_sum).await.unwrap(),
        Some(latest.clone())
    );
    assert_eq!(
        store.by_checksum(GUN, "targets", &root_sum).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .by_checksum("example.com/other", "root", &root_sum)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .by_checksum(GUN, "root", &root_sum.to_ascii_uppercase())
            .await
            .unwrap(),
        None,
        "checksums compare exactly"
    );

    // A new version becomes the latest; the old one stays addressable by version and checksum.
    let root2 = b"root v2".to_vec();
    store
        .update(GUN, &[rec("root", 2, root2.clone())])
        .await
        .unwrap();
    let latest2 = store.latest(GUN, "root").await.unwrap().expect("root v2");
    assert_eq!(
        (latest2.version, latest2.data.as_slice()),
        (2, root2.as_slice())
    );
    assert_eq!(
        store.by_version(GUN, "root", 1).await.unwrap(),
        Some(latest.clone())
    );
    assert_eq!(
        store.by_checksum(GUN, "root", &root_sum).await.unwrap(),
        Some(latest)
    );
    assert_eq!(
        store
            .by_checksum(GUN, "root", &sha256_hex(&root2))
            .await
            .unwrap(),
        Some(latest2.clone())
    );

    let all = store.latest_all(GUN).await.unwrap();
    let roles: Vec<(&str, u64)> = all.iter().map(|r| (r.role.as_str(), r.version)).collect();
    assert_eq!(
        roles,
        [
            ("root", 2),
            ("snapshot", 1),
            ("targets", 1),
            ("targets/releases", 1),
            ("timestamp", 1)
        ]
    );
    for record in &all {
        assert_eq!(
            Some(record),
            store.latest(GUN, &record.role).await.unwrap().as_ref()
        );
    }
    assert_eq!(store.latest_all("example.com/other").await.unwrap(), vec![]);

    // An empty update is a no-op.
    store.update(GUN, &[]).await.unwrap();
    assert_eq!(store.latest_all(GUN).await.unwrap(), all);
}

async fn version_conflict_rejects_whole_batch(db: &TestDb) {
    let store = &db.store;
    store
        .update(
            GUN,
            &[
                rec("root", 1, "r1"),
                rec("targets", 1, "t1"),
                rec("timestamp", 1, "ts1"),
            ],
        )
        .await
        .unwrap();
    let feed_before = store.changefeed(None, 0, 100).await.unwrap();
    assert_eq!(feed_before.len(), 1);

    // targets v2 would be fine, but the equal timestamp version sinks the whole batch.
    assert_conflict(
        store
            .update(
                GUN,
                &[rec("targets", 2, "t2"), rec("timestamp", 1, "ts1 again")],
            )
            .await,
        "timestamp",
        1,
    );
    // Same with the conflicting record first, and with a lower version.
    assert_conflict(
        store
            .update(GUN, &[rec("root", 0, "r0"), rec("targets", 2, "t2")])
            .await,
        "root",
        0,
    );
    let targets = store
        .latest(GUN, "targets")
        .await
        .unwrap()
        .expect("targets");
    assert_eq!((targets.version, targets.data.as_slice()), (1, &b"t1"[..]));
    assert_eq!(store.by_version(GUN, "targets", 2).await.unwrap(), None);
    let timestamp = store
        .latest(GUN, "timestamp")
        .await
        .unwrap()
        .expect("timestamp");
    assert_eq!(timestamp.data, b"ts1");
    assert_eq!(store.changefeed(None, 0, 100).await.unwrap(), feed_before);

    // Gaps are allowed; afterwards everything up to the new version is "old".
    store.update(GUN, &[rec("targets", 5, "t5")]).await.unwrap();
    assert_conflict(
        store.update(GUN, &[rec("targets", 3, "t3")]).await,
        "targets",
        3,
    );
    assert_conflict(
        store.update(GUN, &[rec("targets", 5, "t5")]).await,
        "targets",
        5,
    );
    store.update(GUN, &[rec("targets", 6, "t6")]).await.unwrap();

    // Versions are per GUN.
    store
        .update("example.com/other", &[rec("timestamp", 1, "other ts1")])
        .await
        .unwrap();

    // Out-of-range versions are refused before touching the database.
    match store
        .update(
            GUN,
            &[rec("snapshot", 1, "s1"), rec("root", u64::MAX, "huge")],
        )
        .await
    {
        Err(StoreError::VersionOutOfRange { role, version }) => {
            assert_eq!((role.as_str(), version), ("root", u64::MAX));
        }
        other => panic!("expected VersionOutOfRange, got {other:?}"),
    }
    assert_eq!(store.latest(GUN, "snapshot").await.unwrap(), None);
    let largest = u64::try_from(i64::MAX).unwrap();
    store
        .update(GUN, &[rec("root", largest, "max")])
        .await
        .unwrap();
    assert_eq!(
        store.latest(GUN, "root").await.unwrap().unwrap().version,
        largest
    );
}

async fn duplicate_role_in_batch_is_rejected(db: &TestDb) {
    let store = &db.store;
    assert_conflict(
        store
            .update(
                GUN,
                &[
                    rec("root", 1, "r1"),
                    rec("timestamp", 1, "a"),
                    rec("timestamp", 2, "b"),
                ],
            )
            .await,
        "timestamp",
        2,
    );
    assert_conflict(
        store
            .update(GUN, &[rec("targets", 1, "a"), rec("targets", 1, "a")])
            .await,
        "targets",
        1,
    );
    assert_eq!(store.latest_all(GUN).await.unwrap(), vec![]);
    assert_eq!(store.changefeed(None, 0, 100).await.unwrap(), vec![]);
}

/// Eight writers race for the same next timestamp version: exactly one wins. Then eight writers
/// each retry until they have stored one version: every version is stored exactly once.
async fn concurrent_updates_one_winner_none_lost(db: &TestDb) {
    race_on_stores(std::slice::from_ref(&db.store)).await;
}

async fn two_stores_racing(db: &TestDb) {
    let second = db.second_store().await;
    // Writes through one store are visible through the other at once.
    db.store
        .update("example.com/seen", &[rec("timestamp", 1, "one")])
        .await
        .unwrap();
    assert_eq!(
        second
            .latest("example.com/seen", "timestamp")
            .await
            .unwrap()
            .map(|r| r.data),
        Some(b"one".to_vec())
    );
    assert_conflict(
        second
            .update("example.com/seen", &[rec("timestamp", 1, "dup")])
            .await,
        "timestamp",
        1,
    );

    race_on_stores(&[db.store.clone(), second.clone()]).await;

    // Settings initialisation across "processes" agrees on one value.
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        tasks.spawn(async move {
            store
                .init_setting("shared", format!("v{i}").as_bytes())
                .await
        });
    }
    let values: BTreeSet<Vec<u8>> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|result| result.expect("init_setting"))
        .collect();
    assert_eq!(values.len(), 1, "{values:?}");
    let value = values.into_iter().next().unwrap();
    assert_eq!(second.setting("shared").await.unwrap(), Some(value.clone()));
    assert_eq!(db.store.setting("shared").await.unwrap(), Some(value));
    second.close().await;
}

async fn race_on_stores(stores: &[Store]) {
    const WRITERS: usize = 8;
    let gun = "example.com/race";
    stores[0]
        .update(gun, &[rec("timestamp", 1, "base")])
        .await
        .unwrap();

    // Round 1: everyone offers version 2.
    let mut tasks = JoinSet::new();
    for i in 0..WRITERS {
        let store = stores[i % stores.len()].clone();
        tasks.spawn(async move {
            let data = format!("writer {i}");
            (i, store.update(gun, &[rec("timestamp", 2, data)]).await)
        });
    }
    let mut winners = Vec::new();
    for (i, result) in tasks.join_all().await {
        match result {
            Ok(()) => winners.push(i),
            Err(err) => assert_conflict(Err(err), "timestamp", 2),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer stores version 2");
    let latest = stores[0].latest(gun, "timestamp").await.unwrap().unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.data, format!("writer {}", winners[0]).into_bytes());

    // Round 2: everyone stores "latest + 1" (with a snapshot in the same batch), retrying on
    // conflicts, until each has stored one version.
    let mut tasks = JoinSet::new();
    for i in 0..WRITERS {
        let store = stores[i % stores.len()].clone();
        tasks.spawn(async move {
            for _attempt in 0..10_000 {
                let current = store
                    .latest(gun, "timestamp")
                    .await
                    .unwrap()
                    .unwrap()
                    .version;
                let next = current + 1;
                let batch = [
                    rec("snapshot", next, format!("snapshot by {i}")),
                    rec("timestamp", next, format!("timestamp by {i}")),
                ];
                match store.update(gun, &batch).await {
                    Ok(()) => return next,
                    Err(StoreError::VersionConflict { .. }) => tokio::task::yield_now().await,
                    Err(other) => panic!("writer {i}: unexpected error {other:?}"),
                }
            }
            panic!("writer {i} never got a version in");
        });
    }
    let mut stored: Vec<u64> = tasks.join_all().await;
    stored.sort_unstable();
    let expected: Vec<u64> = (3..3 + WRITERS as u64).collect();
    assert_eq!(
        stored, expected,
        "every writer stored a distinct next version"
    );

    let mut writers = BTreeSet::new();
    for version in expected {
        let ts = stores[0]
            .by_version(gun, "timestamp", version)
            .await
            .unwrap()
            .unwrap();
        let snap = stores[0]
            .by_version(gun, "snapshot", version)
            .await
            .unwrap()
            .unwrap();
        let writer = String::from_utf8(ts.data)
            .unwrap()
            .replace("timestamp by ", "");
        assert_eq!(
            snap.data,
            format!("snapshot by {writer}").into_bytes(),
            "batches stay whole"
        );
        writers.insert(writer);
    }
    assert_eq!(writers.len(), WRITERS, "no writer's update was lost");

    // One changefeed entry per stored timestamp, in version order.
    let feed = stores[0].changefeed(Some(gun), 0, 1000).await.unwrap();
    let versions: Vec<u64> = feed.iter().map(|c| c.version).collect();
    assert_eq!(versions, (1..3 + WRITERS as u64).collect::<Vec<_>>());
}

async fn delete_is_exact(db: &TestDb) {
    let store = &db.store;
    for gun in ["a/b", "a/bc", "a"] {
        store
            .update(
                gun,
                &[
                    rec("root", 1, "r1"),
                    rec("timestamp", 1, format!("{gun} ts1")),
                ],
            )
            .await
            .unwrap();
    }
    store
        .update("a/b", &[rec("timestamp", 2, "a/b ts2")])
        .await
        .unwrap();

    assert_eq!(store.delete("a%").await.unwrap(), 0, "no pattern matching");
    assert_eq!(store.delete("a/b").await.unwrap(), 3);
    assert_eq!(store.latest_all("a/b").await.unwrap(), vec![]);
    assert_eq!(store.latest("a/b", "root").await.unwrap(), None);
    assert_eq!(store.by_version("a/b", "timestamp", 1).await.unwrap(), None);
    assert_eq!(store.latest_all("a/bc").await.unwrap().len(), 2);
    assert_eq!(store.latest_all("a").await.unwrap().len(), 2);

    let feed = store.changefeed(Some("a/b"), 0, 100).await.unwrap();
    assert_eq!(
        summary(&feed),
        [
            (
                "a/b".to_owned(),
                1,
                ChangeCategory::Update,
                sha256_hex(b"a/b ts1")
            ),
            (
                "a/b".to_owned(),
                2,
                ChangeCategory::Update,
                sha256_hex(b"a/b ts2")
            ),
            ("a/b".to_owned(), 0, ChangeCategory::Deletion, String::new()),
        ]
    );

    // Deleting nothing writes no changefeed entry.
    let total = store.changefeed(None, 0, 100).await.unwrap().len();
    assert_eq!(store.delete("a/b").await.unwrap(), 0);
    assert_eq!(store.delete("never/existed").await.unwrap(), 0);
    assert_eq!(store.changefeed(None, 0, 100).await.unwrap().len(), total);

    // The delete is hard: version 1 can be stored again.
    store
        .update("a/b", &[rec("root", 1, "again")])
        .await
        .unwrap();
    assert_eq!(
        store.latest("a/b", "root").await.unwrap().unwrap().data,
        b"again"
    );
}

async fn changefeed_semantics(db: &TestDb) {
    let store = &db.store;
    let (a, b) = ("example.com/a", "example.com/b");
    assert_eq!(store.changefeed(None, 0, 100).await.unwrap(), vec![]);
    assert_eq!(store.changefeed(None, -1, 100).await.unwrap(), vec![]);

    store
        .update(a, &[rec("root", 1, "a root"), rec("timestamp", 1, "a1")])
        .await
        .unwrap();
    store.update(b, &[rec("timestamp", 1, "b1")]).await.unwrap();
    store
        .update(a, &[rec("targets", 1, "only targets")])
        .await
        .unwrap(); // no entry
    store.update(a, &[rec("timestamp", 2, "a2")]).await.unwrap();
    store.update(b, &[rec("timestamp", 2, "b2")]).await.unwrap();
    assert_eq!(store.delete(b).await.unwrap(), 2);
    store.update(a, &[rec("timestamp", 3, "a3")]).await.unwrap();

    let all = store.changefeed(None, 0, 100).await.unwrap();
    let upd = |gun: &str, version: u64, data: &[u8]| {
        (
            gun.to_owned(),
            version,
            ChangeCategory::Update,
            sha256_hex(data),
        )
    };
    assert_eq!(
        summary(&all),
        [
            upd(a, 1, b"a1"),
            upd(b, 1, b"b1"),
            upd(a, 2, b"a2"),
            upd(b, 2, b"b2"),
            (b.to_owned(), 0, ChangeCategory::Deletion, String::new()),
            upd(a, 3, b"a3"),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
    assert!(all.iter().all(|c| c.id > 0 && c.created_at.0 > 0));
    let id = |index: usize| all[index].id;
    let page = |range: std::ops::Range<usize>| all[range].to_vec();

    // Forward: after change_id, oldest first.
    assert_eq!(store.changefeed(None, 0, 2).await.unwrap(), page(0..2));
    assert_eq!(store.changefeed(None, id(1), 2).await.unwrap(), page(2..4));
    assert_eq!(
        store.changefeed(None, id(3), 100).await.unwrap(),
        page(4..6)
    );
    assert_eq!(store.changefeed(None, id(5), 100).await.unwrap(), vec![]);
    assert_eq!(
        store.changefeed(None, id(5) + 1000, 100).await.unwrap(),
        vec![]
    );

    // change_id -1 (any negative id): the newest, still ascending.
    assert_eq!(store.changefeed(None, -1, 2).await.unwrap(), page(4..6));
    assert_eq!(store.changefeed(None, -1, -2).await.unwrap(), page(4..6));
    assert_eq!(store.changefeed(None, -7, 3).await.unwrap(), page(3..6));
    assert_eq!(store.changefeed(None, -1, 100).await.unwrap(), all);

    // Negative records: the ones before change_id; with change_id 0, the newest.
    assert_eq!(store.changefeed(None, id(4), -2).await.unwrap(), page(2..4));
    assert_eq!(store.changefeed(None, id(2), -5).await.unwrap(), page(0..2));
    assert_eq!(store.changefeed(None, id(0), -5).await.unwrap(), vec![]);
    assert_eq!(store.changefeed(None, 0, -2).await.unwrap(), page(4..6));
    assert_eq!(
        store.changefeed(None, id(5) + 1000, -1).await.unwrap(),
        page(5..6)
    );

    // Extreme limits and zero.
    assert_eq!(store.changefeed(None, 0, i64::MAX).await.unwrap(), all);
    assert_eq!(store.changefeed(None, 0, i64::MIN).await.unwrap(), all);
    assert_eq!(store.changefeed(None, 0, 0).await.unwrap(), vec![]);

    // Per GUN: the filter applies before the limit.
    let only =
        |gun: &str| -> Vec<Change> { all.iter().filter(|c| c.gun == gun).cloned().collect() };
    let (in_a, in_b) = (only(a), only(b));
    assert_eq!(in_a.len(), 3);
    assert_eq!(store.changefeed(Some(a), 0, 100).await.unwrap(), in_a);
    assert_eq!(store.changefeed(Some(a), 0, 2).await.unwrap(), in_a[0..2]);
    assert_eq!(
        store.changefeed(Some(a), in_a[0].id, 1).await.unwrap(),
        in_a[1..2]
    );
    assert_eq!(store.changefeed(Some(a), -1, 2).await.unwrap(), in_a[1..3]);
    assert_eq!(
        store.changefeed(Some(a), id(2), -5).await.unwrap(),
        in_a[0..1]
    );
    assert_eq!(store.changefeed(Some(b), -1, 100).await.unwrap(), in_b);
    assert_eq!(store.changefeed(Some(b), 0, -1).await.unwrap(), in_b[2..3]);
    assert_eq!(
        store.changefeed(Some("example.com"), 0, 100).await.unwrap(),
        vec![]
    );
}

async fn server_keys_reuse_until_used(db: &TestDb) {
    let store = &db.store;
    let key = |key_id: &str, gun: &str, role: &str, algorithm: &str| NewServerKey {
        key_id: key_id.to_owned(),
        gun: gun.to_owned(),
        role: role.to_owned(),
        algorithm: algorithm.to_owned(),
        public: format!("public {key_id}").into_bytes(),
        private: format!("SECRET-{key_id}\x00\u{ff}").into_bytes(),
    };
    assert_eq!(
        store.unused_key(GUN, "timestamp", "ecdsa").await.unwrap(),
        None
    );
    assert_eq!(store.key("bbbb").await.unwrap(), None);
    assert_eq!(store.keys_for(GUN, "timestamp").await.unwrap(), vec![]);

    let store = &store.clone().with_clock(fixed_clock());
    for new in [
        key("bbbb", GUN, "timestamp", "ecdsa"),
        key("aaaa", GUN, "timestamp", "ecdsa"),
        key("cccc", GUN, "timestamp", "ed25519"),
        key("0000", "example.com/other", "timestamp", "ecdsa"),
        key("1111", GUN, "snapshot", "ecdsa"),
    ] {
        store.insert_key(&new).await.unwrap();
    }

    // Lowest never-used key id, handed out again and again until marked used.
    let first = store
        .unused_key(GUN, "timestamp", "ecdsa")
        .await
        .unwrap()
        .expect("a key");
    assert_eq!(first.key_id, "aaaa");
    assert_eq!(
        (
            first.gun.as_str(),
            first.role.as_str(),
            first.algorithm.as_str()
        ),
        (GUN, "timestamp", "ecdsa")
    );
    assert_eq!(first.public, b"public aaaa");
    assert_eq!(first.private, "SECRET-aaaa\x00\u{ff}".as_bytes());
    assert_eq!(first.created_at, WRITTEN_AT);
    assert_eq!(first.last_used, None);
    assert_eq!(
        store.unused_key(GUN, "timestamp", "ecdsa").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.key("aaaa").await.unwrap(), Some(first.clone()));
    let debug = format!("{first:?}");
    assert!(
        debug.contains("<encrypted>") && !debug.contains("SECRET"),
        "{debug}"
    );

    store.mark_key_used("aaaa").await.unwrap();
    let used = store.key("aaaa").await.unwrap().unwrap();
    let used_at = used.last_used.expect("marked used");
    assert!(used_at >= first.created_at);
    assert_eq!(
        store
            .unused_key(GUN, "timestamp", "ecdsa")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "bbbb"
    );
    // Marking again keeps the first use time; unknown ids are ignored.
    tokio::time::sleep(Duration::from_millis(2)).await;
    store.mark_key_used("aaaa").await.unwrap();
    assert_eq!(
        store.key("aaaa").await.unwrap().unwrap().last_used,
        Some(used_at)
    );
    store.mark_key_used("no-such-key").await.unwrap();

    store.mark_key_used("bbbb").await.unwrap();
    assert_eq!(
        store.unused_key(GUN, "timestamp", "ecdsa").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .unused_key(GUN, "timestamp", "ed25519")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "cccc"
    );
    assert_eq!(
        store
            .unused_key("example.com/other", "timestamp", "ecdsa")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "0000"
    );

    let ids = |keys: Vec<signet_store::ServerKey>| -> Vec<String> {
        keys.into_iter().map(|k| k.key_id).collect()
    };
    assert_eq!(
        ids(store.keys_for(GUN, "timestamp").await.unwrap()),
        ["bbbb", "aaaa", "cccc"]
    );
    assert_eq!(
        ids(store.keys_for(GUN, "snapshot").await.unwrap()),
        ["1111"]
    );

    // Key ids are unique; a duplicate changes nothing.
    let mut duplicate = key("aaaa", "example.com/else", "snapshot", "ed25519");
    duplicate.private = b"other".to_vec();
    match store.insert_key(&duplicate).await {
        Err(StoreError::Database {
            op: "insert_key", ..
        }) => {}
        other => panic!("expected a database error, got {other:?}"),
    }
    assert_eq!(store.key("aaaa").await.unwrap(), Some(used));
}

/// Keys handed out by `GET …/{role}.key` for repositories that never publish expire; every
/// key that signed, and every key of a repository with metadata, stays.
async fn unused_keys_of_unpublished_repositories_expire(db: &TestDb) {
    let manual =
        signet_service::ManualClock::new(signet_core::UnixTime::from_unix(1_900_000_000, 0));
    let store = db.store.clone().with_clock(manual.clock());
    let key = |key_id: &str, gun: &str| NewServerKey {
        key_id: key_id.to_owned(),
        gun: gun.to_owned(),
        role: "timestamp".to_owned(),
        algorithm: "ecdsa".to_owned(),
        public: b"public".to_vec(),
        private: b"sealed".to_vec(),
    };
    let never = "example.com/never-published";
    let deleted = "example.com/deleted";
    store.insert_key(&key("old-unused", never)).await.unwrap();
    store.insert_key(&key("old-used", never)).await.unwrap();
    store.mark_key_used("old-used").await.unwrap();
    store.insert_key(&key("old-published", GUN)).await.unwrap();
    store.update(GUN, &[rec("root", 1, "root")]).await.unwrap();
    store
        .insert_key(&key("old-deleted", deleted))
        .await
        .unwrap();
    store
        .update(deleted, &[rec("root", 1, "root")])
        .await
        .unwrap();
    store.delete(deleted).await.unwrap();
    manual.advance_secs(10 * 86_400);
    store.insert_key(&key("new-unused", never)).await.unwrap();

    let cutoff = UnixMicros((1_900_000_000 + 86_400) * 1_000_000);
    assert_eq!(store.expire_unused_keys(cutoff).await.unwrap(), 2);
    for (id, kept) in [
        ("old-unused", false),
        ("old-deleted", false),
        ("old-used", true),
        ("old-published", true),
        ("new-unused", true),
    ] {
        assert_eq!(store.key(id).await.unwrap().is_some(), kept, "{id}");
    }
    assert_eq!(
        store
            .unused_key(never, "timestamp", "ecdsa")
            .await
            .unwrap()
            .map(|k| k.key_id),
        Some("new-unused".to_owned())
    );
    // Idempotent.
    assert_eq!(store.expire_unused_keys(cutoff).await.unwrap(), 0);
}

async fn settings_first_value_wins(db: &TestDb) {
    let store = &db.store;
    assert_eq!(store.setting("salt").await.unwrap(), None);
    let salt = b"\x00salt\xff".to_vec();
    assert_eq!(store.init_setting("salt", &salt).await.unwrap(), salt);
    assert_eq!(store.init_setting("salt", b"other").await.unwrap(), salt);
    assert_eq!(store.setting("salt").await.unwrap(), Some(salt.clone()));
    assert_eq!(store.setting("pepper").await.unwrap(), None);

    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .init_setting("check", format!("v{i}").as_bytes())
                .await
        });
    }
    let values: BTreeSet<Vec<u8>> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|result| result.expect("init_setting"))
        .collect();
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(
        store.setting("check").await.unwrap().as_ref(),
        values.first()
    );
}

async fn health_and_close(db: &TestDb) {
    db.store.health().await.unwrap();
    let clone = db.store.clone();
    clone.close().await;
    match db.store.health().await {
        Err(StoreError::Unavailable { backend, .. }) => assert_eq!(backend, db.store.backend()),
        other => panic!("expected Unavailable after close, got {other:?}"),
    }
    match db.store.latest(GUN, "root").await {
        Err(StoreError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable after close, got {other:?}"),
    }
}

async fn schema_is_idempotent_and_refuses_newer(db: &TestDb) {
    db.store
        .update(GUN, &[rec("root", 1, "kept")])
        .await
        .unwrap();
    db.store.init_setting("salt", b"kept").await.unwrap();
    // Reconnecting re-runs the DDL and keeps the data.
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(
        again.latest(GUN, "root").await.unwrap().unwrap().data,
        b"kept"
    );
    assert_eq!(again.setting("salt").await.unwrap(), Some(b"kept".to_vec()));
    again.close().await;

    db.raw_execute("UPDATE signet_schema_version SET version = 99 WHERE id = 1")
        .await;
    match Store::connect(&db.url).await {
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported,
        }) if supported == signet_store::SCHEMA_VERSION => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// A writer that bypasses the store's locks (think: an old server version) inserts a row but has
/// not committed; the store's insert of the same version waits on the unique index and, once the
/// other commits, must report a version conflict rather than a database error.
async fn unique_violation_from_racing_writer_is_a_conflict(db: &TestDb) {
    let mut raw = PgConnection::connect(&db.url).await.unwrap();
    let mut tx = raw.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at, updated_at)
         VALUES ($1, 'timestamp', 1, $2, $3, 0, 0)",
    )
    .bind(GUN)
    .bind(sha256_hex(b"raw"))
    .bind(&b"raw"[..])
    .execute(&mut *tx)
    .await
    .unwrap();

    let store = db.store.clone();
    let racer =
        tokio::spawn(async move { store.update(GUN, &[rec("timestamp", 1, "store")]).await });

    // Wait until the store's insert is blocked on our uncommitted row.
    let mut watcher = PgConnection::connect(&db.url).await.unwrap();
    let mut blocked = false;
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(blocked, "the store's insert never waited on the racing row");
    assert!(!racer.is_finished());

    tx.commit().await.unwrap();
    assert_conflict(racer.await.unwrap(), "timestamp", 1);
    let stored: MetaRecord = db.store.latest(GUN, "timestamp").await.unwrap().unwrap();
    assert_eq!(stored.data, b"raw");
    assert_eq!(db.store.changefeed(None, 0, 100).await.unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Backend-specific tests
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn sqlite_file_is_created_private_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt;

    let db = TestDb::sqlite_file().await;
    let Scratch::SqliteFile(path) = &db.scratch else {
        unreachable!("sqlite_file() makes a file")
    };
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "database file mode {mode:o}");

    let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let version: i64 = sqlx::query_scalar("SELECT version FROM signet_schema_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, signet_store::SCHEMA_VERSION);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_relative_url_resolves_against_current_dir() {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&target).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let file = format!("signet-store-relative-{}.db", random_hex());
    let relative = relative_path(&cwd, &target).join(&file);
    assert!(relative.is_relative());

    let store = Store::connect(&format!("sqlite://{}", relative.display()))
        .await
        .unwrap();
    store
        .update(GUN, &[rec("root", 1, "relative")])
        .await
        .unwrap();
    store.close().await;
    let absolute = target.join(&file);
    assert!(absolute.exists(), "{} was not created", absolute.display());

    let store = Store::connect(&format!("sqlite://{}", absolute.display()))
        .await
        .unwrap();
    assert_eq!(
        store.latest(GUN, "root").await.unwrap().unwrap().data,
        b"relative"
    );
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(target.join(format!("{file}{suffix}")));
    }
}

/// A relative path from `from` to `to` (both absolute).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

#[tokio::test]
async fn connect_errors_are_classified() {
    for url in [
        "mysql://root@localhost/notary",
        "sqlite://",
        "file:///tmp/x.db",
    ] {
        match Store::connect(url).await {
            Err(StoreError::InvalidUrl { .. }) => {}
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
    let missing_dir = std::env::temp_dir()
        .join(format!("signet-store-missing-{}", random_hex()))
        .join("x.db");
    match Store::connect(&format!("sqlite://{}", missing_dir.display())).await {
        Err(StoreError::Unavailable {
            backend: Backend::Sqlite,
            ..
        }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Port 1 on localhost refuses connections.
    match Store::connect("postgres://postgres:pw@127.0.0.1:1/test").await {
        Err(
            err @ StoreError::Unavailable {
                backend: Backend::Postgres,
                ..
            },
        ) => {
            assert!(!format!("{err:?}").contains(":pw@"), "{err:?}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Write failures: reported by health, logged with their cause, recovered without a restart
// ---------------------------------------------------------------------------------------------

/// The error and every source below it, as one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// A real full filesystem under an SQLite database: the write that does not fit fails and
/// changes nothing, health reports the store cannot write, and once space is freed writes
/// succeed again on the same `Store` (no restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_fails_writes_then_recovers_without_restart() {
    let fs = signet_test_support::smallfs::SmallFs::mount(2 << 20);
    let url = format!("sqlite://{}", fs.path().join("signet.db").display());
    let store = Store::connect(&url).await.expect("open sqlite on tmpfs");
    store
        .update(GUN, &[rec("root", 1, vec![b'r'; 2000])])
        .await
        .unwrap();
    store.health().await.unwrap();

    let (filler, filled) = fs.fill("filler");
    assert!(filled > 0);
    let big = vec![b'x'; 512 * 1024];
    for attempt in 0..3 {
        let err = store
            .update(GUN, &[rec("targets", 1, big.clone())])
            .await
            .expect_err("a write that does not fit must fail");
        let why = chain(&err);
        assert!(
            why.contains("full"),
            "attempt {attempt}: cause missing: {why}"
        );
        let health = store.health().await;
        assert!(
            health.is_err(),
            "attempt {attempt}: health passed while writes fail"
        );
    }
    // Reads still work, and nothing of the failed writes is visible.
    assert_eq!(store.latest(GUN, "targets").await.unwrap(), None);
    assert_eq!(
        store.latest(GUN, "root").await.unwrap().unwrap().data,
        vec![b'r'; 2000]
    );

    std::fs::remove_file(&filler).unwrap();
    // Health notices on its own that writes work again.
    store.health().await.expect("healthy once space is free");
    store
        .update(GUN, &[rec("targets", 1, big.clone())])
        .await
        .expect("writes work again without a restart");
    store
        .insert_key(&NewServerKey {
            key_id: "k1".to_owned(),
            gun: GUN.to_owned(),
            role: "timestamp".to_owned(),
            algorithm: "ecdsa".to_owned(),
            public: b"public".to_vec(),
            private: b"sealed".to_vec(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.latest(GUN, "targets").await.unwrap().unwrap().data,
        big
    );
    store.health().await.unwrap();
    store.close().await;
}

/// PostgreSQL refusing writes (here: every insert fails with SQLSTATE 53100 `disk_full`, as
/// a full data directory does): the cause reaches the error chain, health reports it while it
/// lasts and clears once writes succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failing_writes_are_reported_then_recovered() {
    let db = TestDb::postgres().await;
    db.store
        .update(GUN, &[rec("root", 1, "kept")])
        .await
        .unwrap();
    db.raw_execute(
        "CREATE FUNCTION signet_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
         USING ERRCODE = '53100'; END $$",
    )
    .await;
    for table in ["tuf_files", "signet_settings"] {
        db.raw_execute(&format!(
            "CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON {table}
             FOR EACH ROW EXECUTE FUNCTION signet_test_disk_full()"
        ))
        .await;
    }
    let err = db
        .store
        .update(GUN, &[rec("targets", 1, "lost")])
        .await
        .expect_err("the insert fails");
    let why = chain(&err);
    assert!(why.contains("No space left on device"), "{why}");
    assert!(
        db.store.health().await.is_err(),
        "health passed while writes fail"
    );
    assert!(
        db.store.health().await.is_err(),
        "health passed while writes fail"
    );

    for table in ["tuf_files", "signet_settings"] {
        db.raw_execute(&format!("DROP TRIGGER disk_full ON {table}"))
            .await;
    }
    db.store.health().await.expect("healthy once writes work");
    db.store
        .update(GUN, &[rec("targets", 1, "stored")])
        .await
        .unwrap();
    assert_eq!(
        db.store.latest(GUN, "targets").await.unwrap().unwrap().data,
        b"stored"
    );
}
