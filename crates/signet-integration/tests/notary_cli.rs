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

use std::collections::BTreeMap;

use signet_test_support::pki::PemPair;

use crate::util::{self, CliClient, Db, PgDatabase, SignetServer};

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

/// Who runs the steps of the compared run.
#[derive(Clone, Copy)]
enum Turns {
    SignetOnly,
    SignetFirst,
    GoFirst,
}

/// Steps where `signet` deliberately answers differently from the Go client, with what it
/// prints instead. Both list a repository the server no longer has (deleted with
/// `delete --remote` from another machine): the Go client falls back to its cache and lists
/// the stale targets; `signet` believes the server and fails.
const CLIENT_DIFFERENCES: &[(&str, &str)] = &[
    (
        "fail.list-deleted-cached",
        "exit=1\n\n* fatal: SERVER does not have trust data for PREFIX/interop/main\n",
    ),
    (
        "orphan.list-cached",
        "exit=1\n\n* fatal: SERVER does not have trust data for PREFIX/interop/orphan\n",
    ),
];

/// Steps where the Go client, taking turns with `signet`, prints something else than in a
/// Go-only run because `signet` ran the step before. None since `signet publish` stopped
/// refreshing its cache after uploading (the Go client never did): the Go client's
/// fallback to the cache now finds the same state whoever published.
const GO_AFTER_SIGNET_DIFFERENCES: &[(&str, &str)] = &[];

/// A transcript's blocks by step name, in order.
fn steps(transcript: &str) -> Vec<(String, String)> {
    transcript
        .split("== ")
        .filter(|b| !b.is_empty())
        .map(|b| {
            let (name, rest) = b.split_once('\n').unwrap_or((b, ""));
            (name.to_owned(), rest.to_owned())
        })
        .collect()
}

/// `alias notary=signet`: the whole notary scenario (init, add/addhash/remove, delegations
/// with a certificate key, witness, snapshot/timestamp keys moved to the server, targets and
/// root key rotation, delete --remote, failures) driven with `signet` as the client prints,
/// on stdout, what the Go `notary` client prints, step by step, against the same server;
/// except the documented differences.
///
/// With `alternate`, the Go client and `signet` take turns step by step on the same trust
/// directories: each picks up the metadata cache, keys (root, targets, snapshot, the
/// delegate's) and staged changes the other left.
fn assert_client_matches_go(test: &str, url: &str, ca: &Path, turns: Turns) {
    let dir = fresh_artifact_dir(test);
    let signet = util::signet_binary();
    let go_client: &Path = Path::new("notary");
    let ours_clients: Vec<&Path> = match turns {
        Turns::SignetOnly => vec![signet.as_path()],
        Turns::SignetFirst => vec![signet.as_path(), go_client],
        Turns::GoFirst => vec![go_client, signet.as_path()],
    };
    let (go, ours) = util::in_parallel(
        || {
            util::run_notary_cli_with(
                Some(CliClient {
                    binaries: &[go_client],
                }),
                url,
                ca,
                &dir.join("go"),
                &unique_prefix(),
            )
        },
        || {
            util::run_notary_cli_with(
                Some(CliClient {
                    binaries: &ours_clients,
                }),
                url,
                ca,
                &dir.join("signet"),
                &unique_prefix(),
            )
        },
    );
    check_go_reference(&go, &dir);
    let differences: BTreeMap<&str, &str> = CLIENT_DIFFERENCES.iter().copied().collect();
    let go_after_signet: BTreeMap<&str, &str> =
        GO_AFTER_SIGNET_DIFFERENCES.iter().copied().collect();
    let (go_steps, our_steps) = (steps(&go), steps(&ours));
    let names = |s: &[(String, String)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&go_steps),
        names(&our_steps),
        "the runs did different steps"
    );
    let mut go_expected = String::new();
    for (i, (name, block)) in go_steps.iter().enumerate() {
        go_expected.push_str(&format!("== {name}\n"));
        let by_signet = ours_clients[i % ours_clients.len()] == signet.as_path();
        let go_in_turns = !by_signet && ours_clients.len() > 1;
        let different = if by_signet {
            differences.get(name.as_str())
        } else {
            go_after_signet.get(name.as_str()).filter(|_| go_in_turns)
        };
        match different {
            Some(ours) => go_expected.push_str(ours),
            None => go_expected.push_str(block),
        }
    }
    if go_expected != ours {
        let diff = util::unified_diff(&dir, "go-adjusted.txt", &go_expected, "signet.txt", &ours);
        panic!(
            "with signet as the client, the notary scenario prints something else than the Go \
             client (---, with the documented differences applied) on stdout.\nTrust dirs and \
             stderr: {}/{{go,signet}}/\n\n{diff}",
            dir.display()
        );
    }
}

#[test]
fn signet_client_matches_go_client_against_go_server() {
    let url = util::go_notary_url();
    assert_client_matches_go(
        "signet_client_matches_go_client_against_go_server",
        &url,
        &util::peer_certs().ca,
        Turns::SignetOnly,
    );
}

#[test]
fn signet_client_matches_go_client_against_signet_server() {
    util::go_notary_url();
    let server = SignetServer::start(Db::Sqlite);
    assert_client_matches_go(
        "signet_client_matches_go_client_against_signet_server",
        server.url(),
        server.ca(),
        Turns::SignetOnly,
    );
}

/// The same against the Go notary-server in its PostgreSQL mode: a second Go notary-server,
/// started here on a scratch database of the tests' PostgreSQL (with the tables notary 0.7
/// expects, `$PEERS_ROOT/sql/notaryserver.sql`), asking the peers' notary-signer for its
/// timestamp and snapshot signatures like the memory-mode one.
#[test]
fn signet_client_matches_go_client_against_go_server_on_postgres() {
    util::go_notary_url(); // the peers (notary-signer, certificates) must be up
    let test = "signet_client_matches_go_client_against_go_server_on_postgres";
    let setup = util::artifact_dir(&format!("{test}-server"));
    fs::remove_dir_all(&setup).unwrap_or_else(|e| panic!("cannot clean {}: {e}", setup.display()));
    fs::create_dir_all(&setup).expect("server dir");

    let db = PgDatabase::create();
    let tables = util::peers_root().join("sql/notaryserver.sql");
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", db.url(), "-f"])
        .arg(&tables)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "cannot create notary's tables from {} (run scripts/peers/configure.sh): {}",
        tables.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let certs = util::peer_certs();
    let peer_tls = PemPair {
        cert: certs.server_cert.clone(),
        key: certs.server_key.clone(),
    };
    let signer_port = std::env::var("SIGNER_PORT").unwrap_or_else(|_| "7899".to_owned());
    // The peers' notary-server certificate is also the client certificate their signer takes.
    let (server, url) = crate::signer::start_go_server_on_signer(
        &setup,
        &peer_tls,
        &certs.ca,
        &peer_tls,
        &signer_port,
        "ecdsa",
        serde_json::json!({
            "backend": "postgres",
            "db_url": format!("{}?sslmode=disable", db.url()),
        }),
    );

    assert_client_matches_go(test, &url, &certs.ca, Turns::SignetOnly);

    // The metadata really went through PostgreSQL: both runs' repositories are in its tables.
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-tA", db.url(), "-c"])
        .arg("SELECT count(DISTINCT gun) FROM tuf_files")
        .output()
        .expect("run psql");
    let guns: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("psql: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        guns >= 2,
        "notary-server stored only {guns} repositories in PostgreSQL database {}:\n{}",
        db.name(),
        server.log_tail()
    );
    drop(server); // before the database
}

/// The two clients taking turns on one set of trust directories (every other step, both
/// orders, so each client runs every step once), each continuing what the other started,
/// print what the Go client alone prints.
#[test]
fn go_and_signet_clients_take_turns_on_shared_trust_dirs() {
    let url = util::go_notary_url();
    let ca = util::peer_certs().ca;
    util::in_parallel(
        || {
            assert_client_matches_go(
                "go_and_signet_clients_take_turns_signet_first",
                &url,
                &ca,
                Turns::SignetFirst,
            );
        },
        || {
            assert_client_matches_go(
                "go_and_signet_clients_take_turns_go_first",
                &url,
                &ca,
                Turns::GoFirst,
            );
        },
    );
}
