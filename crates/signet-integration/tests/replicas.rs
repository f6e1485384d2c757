//! Two `signet server` processes on one PostgreSQL database serve one consistent view: what
//! the Go notary CLI publishes through one is what it reads through the other, at once, and
//! a later publish through the second is seen through the first. Reads are proven fresh by
//! change notifications (no query per read); with the listening connections killed they
//! fall back to changefeed checks, still never stale, and come back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use signet_core::UnixTime;
use signet_test_support::{TestRepo, multipart, parse_server_key};

use crate::util::{self, Db, PgDatabase, SignetServer, https_client};

/// Runs `notary` against `server` with its own trust dir; returns (exit code, output).
fn notary(server: &str, ca: &Path, trust: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("notary")
        .args(["-s", server, "--tlscacert"])
        .arg(ca)
        .arg("-d")
        .arg(trust)
        .args(args)
        .env("NOTARY_ROOT_PASSPHRASE", "root-pass-123")
        .env("NOTARY_TARGETS_PASSPHRASE", "targets-pass-123")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass-123")
        .stdin(Stdio::null())
        .output()
        .expect("run notary (Debian package `notary`; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn two_server_processes_on_one_database_serve_one_view() {
    let db = PgDatabase::create();
    let a = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let b = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let work = tempfile::tempdir().expect("tempdir");
    let (publisher, reader) = (work.path().join("publisher"), work.path().join("reader"));
    let gun = format!("example.com/replicas/{}", util::random_hex(6));
    let file = work.path().join("payload");
    std::fs::write(&file, b"replicated payload\n").expect("write payload");
    let file = file.to_str().expect("utf-8 path");

    let (code, out) = notary(a.url(), a.ca(), &publisher, &["init", &gun, "-p"]);
    assert_eq!(code, 0, "init through A: {out}");
    let (code, out) = notary(
        a.url(),
        a.ca(),
        &publisher,
        &["add", &gun, "v1", file, "-p"],
    );
    assert_eq!(code, 0, "add through A: {out}");
    // Immediately through B, from a fresh trust dir.
    let (code, out) = notary(b.url(), b.ca(), &reader, &["list", &gun]);
    assert_eq!(code, 0, "list through B: {out}");
    assert!(
        out.contains("v1"),
        "B does not show what A published:\n{out}"
    );

    // The other way round, reusing B's warm cache of the repository.
    let (code, out) = notary(
        b.url(),
        b.ca(),
        &publisher,
        &["add", &gun, "v2", file, "-p"],
    );
    assert_eq!(code, 0, "add through B: {out}");
    let (code, out) = notary(a.url(), a.ca(), &reader, &["list", &gun]);
    assert_eq!(code, 0, "list through A: {out}");
    assert!(
        out.contains("v1") && out.contains("v2"),
        "A does not show what B published:\n{out}"
    );

    drop((a, b)); // before the database is dropped
}

// ------------------------------------------------------------------ reads proven by notifications

/// A publisher holding root, targets and snapshot keys, publishing new targets versions of one
/// repository through whichever replica it is given.
struct Publisher {
    repo: TestRepo,
    root: Vec<u8>,
    client: reqwest::Client,
}

#[allow(clippy::disallowed_methods)] // test code: the machine's time for a test repository, not a trust decision
fn now() -> UnixTime {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    UnixTime::from_unix(i64::try_from(since.as_secs()).expect("seconds fit"), 0)
}

impl Publisher {
    /// Creates `gun` through `server`: root, targets and snapshot version 1.
    async fn init(server: &SignetServer, gun: &str) -> Publisher {
        let client = https_client(server.ca()).expect("client");
        let key = client
            .get(format!(
                "{}/v2/{gun}/_trust/tuf/timestamp.key",
                server.url()
            ))
            .send()
            .await
            .expect("GET timestamp.key");
        let key = parse_server_key(&key.bytes().await.expect("key body")).expect("a key");
        let mut repo = TestRepo::new(gun, now());
        repo.set_timestamp_key(key);
        repo.hold_snapshot_key();
        let parts = repo.initial_upload();
        let root = parts
            .iter()
            .find(|(role, _)| role == "root")
            .map(|(_, bytes)| bytes.clone())
            .expect("a root part");
        let publisher = Publisher { repo, root, client };
        publisher.post(server, &parts).await;
        publisher
    }

    /// Publishes targets and snapshot `version` (one target, `release-<version>`).
    async fn publish(&self, server: &SignetServer, version: u64) {
        let name = format!("release-{version}");
        let targets = self
            .repo
            .targets(version, &[(&name, b"payload".as_slice())]);
        let snapshot = self
            .repo
            .snapshot(version, &[("root", &self.root), ("targets", &targets)]);
        self.post(
            server,
            &[
                ("targets".to_owned(), targets),
                ("snapshot".to_owned(), snapshot),
            ],
        )
        .await;
    }

    async fn post(&self, server: &SignetServer, parts: &[(String, Vec<u8>)]) {
        let refs: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(r, b)| (r.as_str(), b.as_slice()))
            .collect();
        let (content_type, body) = multipart(&refs);
        let url = format!("{}/v2/{}/_trust/tuf/", server.url(), self.repo.gun());
        let resp = self
            .client
            .post(&url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "publish through {}: {text}", server.url());
    }

    /// The version of the current targets.json `server` serves.
    async fn served_targets_version(&self, server: &SignetServer) -> u64 {
        let url = format!(
            "{}/v2/{}/_trust/tuf/targets.json",
            server.url(),
            self.repo.gun()
        );
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .expect("GET targets.json");
        assert_eq!(resp.status().as_u16(), 200, "GET {url}");
        let doc: serde_json::Value =
            serde_json::from_slice(&resp.bytes().await.expect("body")).expect("targets JSON");
        doc["signed"]["version"].as_u64().expect("a version")
    }

    /// GETs the current timestamp through `server`.
    async fn read_timestamp(&self, server: &SignetServer) {
        let url = format!(
            "{}/v2/{}/_trust/tuf/timestamp.json",
            server.url(),
            self.repo.gun()
        );
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .expect("GET timestamp.json");
        assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    }
}

/// One sample of `/metrics` (the line's name with labels, exactly as printed).
async fn metric(client: &reqwest::Client, server: &SignetServer, series: &str) -> u64 {
    let text = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics of {}:\n{text}", server.url()))
}

const NOTIFIED: &str = r#"signet_replica_reads_total{freshness="notified"}"#;
const CHECKS: &str = "signet_replica_freshness_checks_total";
const LISTENER_UP: &str = "signet_replica_listener_up";
const LISTENER_LOST: &str = "signet_replica_listener_lost_total";

/// Waits (up to 60 s, a generous bound for a loaded machine, not a performance claim) until
/// `server` answers a read of `publisher`'s repository from its cache with no query.
async fn until_reads_are_notified(publisher: &Publisher, server: &SignetServer) {
    let client = &publisher.client;
    for _ in 0..600 {
        let before = metric(client, server, NOTIFIED).await;
        publisher.read_timestamp(server).await;
        if metric(client, server, NOTIFIED).await > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{} never served a read proven fresh by notifications; its log:\n{}",
        server.url(),
        server.stderr_tail(4000)
    );
}

/// `reads` reads through `server`: how many changefeed queries they cost.
async fn checks_for_reads(publisher: &Publisher, server: &SignetServer, reads: u64) -> u64 {
    let client = &publisher.client;
    let before = metric(client, server, CHECKS).await;
    for _ in 0..reads {
        publisher.read_timestamp(server).await;
    }
    metric(client, server, CHECKS).await - before
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn replicas_read_without_a_query_and_see_every_acknowledged_write() {
    let db = PgDatabase::create();
    let a = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let b = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let gun = format!("example.com/replicas/{}", util::random_hex(6));
    runtime().block_on(async {
        let publisher = Publisher::init(&a, &gun).await;
        until_reads_are_notified(&publisher, &a).await;
        until_reads_are_notified(&publisher, &b).await;

        // Each write, through either replica, is what the other serves on its very next read.
        for version in 2..=21 {
            let (writer, reader) = if version % 2 == 0 { (&a, &b) } else { (&b, &a) };
            publisher.publish(writer, version).await;
            assert_eq!(
                publisher.served_targets_version(reader).await,
                version,
                "a read through {} right after a write through {} was stale",
                reader.url(),
                writer.url()
            );
        }

        // Reads cost no database round trip while the listener vouches for the cache (before
        // notifications proved freshness, every read here waited for one changefeed query).
        until_reads_are_notified(&publisher, &b).await;
        let checks = checks_for_reads(&publisher, &b, 50).await;
        assert!(
            checks <= 5,
            "50 reads through a replica cost {checks} changefeed queries"
        );
    });
    drop((a, b)); // before the database is dropped
}

#[test]
fn a_lost_listener_falls_back_to_checks_and_recovers() {
    let db = PgDatabase::create();
    let a = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let b = SignetServer::start(Db::Postgres(db.url().to_owned()));
    let gun = format!("example.com/replicas/{}", util::random_hex(6));
    let terminate = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'signet-listener'",
        db.name()
    );
    runtime().block_on(async {
        let publisher = Publisher::init(&a, &gun).await;
        until_reads_are_notified(&publisher, &a).await;
        until_reads_are_notified(&publisher, &b).await;
        let client = publisher.client.clone();
        let lost_before = metric(&client, &b, LISTENER_LOST).await;

        // Both listeners killed; at once, writes through one replica are read through the other.
        assert_eq!(util::psql_output(&terminate), "2", "two listeners to kill");
        publisher.publish(&a, 2).await;
        assert_eq!(publisher.served_targets_version(&b).await, 2);
        publisher.publish(&b, 3).await;
        assert_eq!(publisher.served_targets_version(&a).await, 3);

        // Listeners killed over and over while writes and reads go on: still never stale.
        for version in 4..=13 {
            util::psql_output(&terminate);
            let (writer, reader) = if version % 2 == 0 { (&a, &b) } else { (&b, &a) };
            publisher.publish(writer, version).await;
            assert_eq!(
                publisher.served_targets_version(reader).await,
                version,
                "a read through {} right after a write through {} was stale while listeners \
                 were being killed",
                reader.url(),
                writer.url()
            );
        }

        // Both come back: listening, and reads once more free of queries.
        assert!(metric(&client, &b, LISTENER_LOST).await > lost_before);
        for server in [&a, &b] {
            let mut up = false;
            for _ in 0..600 {
                if metric(&client, server, LISTENER_UP).await == 1 {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(
                up,
                "the listener of {} did not come back:\n{}",
                server.url(),
                server.stderr_tail(4000)
            );
        }
        publisher.publish(&a, 14).await;
        assert_eq!(publisher.served_targets_version(&b).await, 14);
        until_reads_are_notified(&publisher, &b).await;
        let checks = checks_for_reads(&publisher, &b, 50).await;
        assert!(
            checks <= 5,
            "after recovering, 50 reads cost {checks} changefeed queries"
        );
    });
    drop((a, b));
}
