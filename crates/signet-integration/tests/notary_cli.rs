//! Interop: the Go `notary` 0.7 CLI scenario in `tests/interop/notary-cli.sh` must print the
//! same normalized transcript against `signet server` as against the Go notary-server. It
//! includes removing a delegation's last key and then the last delegation, which makes the Go
//! client upload `"keyids":null` and `"roles":null`.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go notary-server, in any mode), the
//! `notary` CLI, and a built `signet` binary (`cargo build -p signet-cli`). The Postgres variant
//! also needs the local PostgreSQL on 127.0.0.1:5432.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, Db, PgDatabase, SignetServer};

/// Every complete transcript starts with this block (the Go server must get this far).
const FIRST_BLOCK: &str = "== basic.init-publish\nexit=0\n";
/// ... and ends with a block of this step.
const LAST_STEP: &str = "== autoinit.list-fresh\n";
/// The publish after a delegation's last key was removed (`"keyids":null`) must work on the Go
/// server, or the comparison proves nothing about it.
const NULL_KEYIDS_PUBLISHED: &str = "== delegation.publish-no-keys\nexit=0\n";

/// A clean per-test directory under `target/tmp/` (kept after the run for inspection).
pub(crate) fn fresh_artifact_dir(test: &str) -> PathBuf {
    let dir = util::artifact_dir(test);
    fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clean {}: {e}", dir.display()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A GUN prefix nobody used before on a long-running server (normalized away in transcripts).
fn unique_prefix() -> String {
    format!("example.com/it-{}", util::random_hex(6))
}

/// Runs the scenario against `url` in `dir/<label>` and returns the transcript.
pub(crate) fn scenario(label: &str, url: &str, ca: &Path, dir: &Path) -> String {
    util::run_notary_cli(url, ca, &dir.join(label), &unique_prefix())
}

pub(crate) fn check_go_reference(go: &str, dir: &Path) {
    assert!(
        go.starts_with(FIRST_BLOCK) && go.contains(LAST_STEP) && go.contains(NULL_KEYIDS_PUBLISHED),
        "the reference run against the Go notary-server did not work itself (see {}):\n{go}",
        dir.join("go").display()
    );
}

/// Runs the scenario against the Go server and against `server` (in parallel) and asserts that
/// the transcripts are identical.
fn assert_matches_go(test: &str, server: &SignetServer) {
    let go_url = util::go_notary_url();
    let dir = fresh_artifact_dir(test);
    let go_ca = util::peer_certs().ca;

    let (go, signet) = util::in_parallel(
        || scenario("go", &go_url, &go_ca, &dir),
        || scenario("signet", server.url(), server.ca(), &dir),
    );
    check_go_reference(&go, &dir);

    if go != signet {
        let diff = util::unified_diff(&dir, "go.txt", &go, "signet.txt", &signet);
        panic!(
            "notary CLI transcripts differ between the Go notary-server (---) and signet \
             (+++).\nRaw transcripts and trust dirs: {dir}/{{go,signet}}/\n\n{diff}\n\
             signet server stderr (tail):\n{stderr}",
            dir = dir.display(),
            stderr = server.stderr_tail(6000),
        );
    }
}

#[test]
fn notary_cli_matches_go_server_on_sqlite() {
    util::go_notary_url(); // fail fast, before building state
    let server = SignetServer::start(Db::Sqlite);
    assert_matches_go("notary_cli_matches_go_server_on_sqlite", &server);
}

#[test]
fn notary_cli_matches_go_server_on_postgres() {
    util::go_notary_url();
    let db = PgDatabase::create();
    let server = SignetServer::start(Db::Postgres(db.url().to_owned()));
    assert_matches_go("notary_cli_matches_go_server_on_postgres", &server);
    drop(server); // before the database is dropped
}

/// The transcript must not depend on the run (key IDs, dates, paths, GUN prefix are
/// normalized): two runs against the Go server give the same bytes.
#[test]
fn notary_cli_transcript_is_deterministic_on_go_server() {
    let go_url = util::go_notary_url();
    let ca = util::peer_certs().ca;
    let dir = fresh_artifact_dir("notary_cli_transcript_is_deterministic_on_go_server");
    let (a, b) = util::in_parallel(
        || scenario("go-a", &go_url, &ca, &dir),
        || scenario("go-b", &go_url, &ca, &dir),
    );
    assert!(
        a.starts_with(FIRST_BLOCK) && a.contains(LAST_STEP),
        "the run against the Go notary-server did not work (see {}):\n{a}",
        dir.join("go-a").display()
    );
    if a != b {
        let diff = util::unified_diff(&dir, "go-a.txt", &a, "go-b.txt", &b);
        panic!(
            "two runs against the Go notary-server differ: the normalization in \
             tests/interop/notary-cli.sh misses something.\n{diff}"
        );
    }
}
