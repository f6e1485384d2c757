//! Two `signet server` processes on one PostgreSQL database serve one consistent view: what
//! the Go notary CLI publishes through one is what it reads through the other, at once, and
//! a later publish through the second is seen through the first.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{self, Db, PgDatabase, SignetServer};

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
