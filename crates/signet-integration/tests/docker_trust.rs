//! Interop: the docker CLI content-trust scenario in `tests/interop/docker-trust.sh`
//! (`docker trust key generate`, `signer add/remove`, `inspect [--pretty]`, `revoke`, plus a tag
//! signed into `targets/releases` and `targets/alice` with the Go `notary` CLI, and the removal
//! of a repository's last signer, after which the client uploads `"keyids":null`) must print
//! the same normalized transcript against `signet server` as against the Go notary-server;
//! and the same scenario with `signet trust` in place of `docker trust` must print docker's
//! transcript (warnings aside) but for one documented difference.
//!
//! Needs:
//! * the peers: `scripts/peers/up.sh` (the Go notary-server in any mode, and docker-registry
//!   on 127.0.0.1:5000; only `scripts/peers/push-image.sh` uses it, docker itself talks to the
//!   trust server alone);
//! * the docker CLI (28.x, no daemon), the Go `notary` CLI, perl, curl;
//! * a built `signet` binary (`cargo build -p signet-cli`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{self, Db, SignetServer};

/// Every complete transcript starts with this block.
const FIRST_BLOCK: &str = "== key-generate-alice\nexit=0\n";
/// Markers that only appear when the reference run against the Go server worked end to end.
const GO_MARKERS: &[&str] = &[
    "Successfully added signer: bob to 127.0.0.1:5000/REPO/app",
    "\"SignedTag\": \"v1\"",
    "Successfully deleted signature for 127.0.0.1:5000/REPO/app:v1",
    "Successfully removed alice from 127.0.0.1:5000/REPO/app",
    "== inspect-pretty-missing-repo\n",
    // the last signer: targets/releases is left with no keys ("keyids":null)
    "== solo-signer-remove-alice-yes\nexit=0\n",
    "Successfully removed alice from 127.0.0.1:5000/REPO/solo",
    "Successfully added signer: alice to 127.0.0.1:5000/REPO/solo",
];

fn script() -> PathBuf {
    util::workspace_root().join("tests/interop/docker-trust.sh")
}

fn expected_file() -> PathBuf {
    util::workspace_root().join("tests/interop/expected/docker-trust.txt")
}

/// A clean per-test directory under `target/tmp/` (kept after the run for inspection).
fn fresh_artifact_dir(test: &str) -> PathBuf {
    let dir = util::artifact_dir(test);
    fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clean {}: {e}", dir.display()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs `docker-trust.sh SERVER CA dir/<label> <unique prefix>` and returns the transcript.
/// Panics if the harness itself broke (exit != 0: missing tool, registry down, ...).
fn scenario(label: &str, url: &str, ca: &Path, dir: &Path) -> String {
    scenario_with(label, url, ca, dir, &[])
}

/// [`scenario`] with extra environment (`TRUST_CLI`, `STRIP_WARNINGS`).
fn scenario_with(label: &str, url: &str, ca: &Path, dir: &Path, env: &[(&str, &str)]) -> String {
    let script = script();
    assert!(script.is_file(), "{} is missing", script.display());
    // image 127.0.0.1:5000/<prefix>/app; the prefix is normalized to REPO in the transcript
    let prefix = format!("it-{}", util::random_hex(6));
    let out = Command::new("bash")
        .envs(env.iter().copied())
        .arg(&script)
        .arg(url)
        .arg(ca)
        .arg(dir.join(label))
        .arg(&prefix)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {url} failed ({}); the harness broke, not the server (needs docker, notary, perl, \
         curl and docker-registry on 127.0.0.1:5000 via scripts/peers/registry.sh start):\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let transcript = String::from_utf8(out.stdout).expect("transcript is UTF-8");
    fs::write(dir.join(format!("{label}.txt")), &transcript).expect("write transcript");
    transcript
}

fn check_go_reference(go: &str, dir: &Path, label: &str) {
    let missing: Vec<&str> = GO_MARKERS
        .iter()
        .copied()
        .filter(|m| !go.contains(m))
        .collect();
    assert!(
        go.starts_with(FIRST_BLOCK) && missing.is_empty(),
        "the reference run against the Go notary-server did not work itself (missing {missing:?}; \
         raw files in {}):\n{go}",
        dir.join(label).display()
    );
}

/// Runs the scenario against the Go server and against `server` (in parallel) and asserts that
/// the transcripts are identical.
fn assert_matches_go(test: &str, server: &SignetServer) {
    let go_url = util::go_notary_url();
    let go_ca = util::peer_certs().ca;
    let dir = fresh_artifact_dir(test);

    let (go, signet) = util::in_parallel(
        || scenario("go", &go_url, &go_ca, &dir),
        || scenario("signet", server.url(), server.ca(), &dir),
    );
    check_go_reference(&go, &dir, "go");

    if go != signet {
        let diff = util::unified_diff(&dir, "go.txt", &go, "signet.txt", &signet);
        panic!(
            "docker trust transcripts differ between the Go notary-server (---) and signet \
             (+++).\nRaw transcripts, docker config and trust dirs: {dir}/{{go,signet}}/\n\n\
             {diff}\nsignet server stderr (tail):\n{stderr}",
            dir = dir.display(),
            stderr = server.stderr_tail(6000),
        );
    }
}

#[test]
fn docker_trust_matches_go_server_on_sqlite() {
    util::go_notary_url(); // fail fast, before building state
    let server = SignetServer::start(Db::Sqlite);
    assert_matches_go("docker_trust_matches_go_server_on_sqlite", &server);
}

#[test]
fn docker_trust_matches_go_server_on_postgres() {
    util::go_notary_url();
    let db = util::PgDatabase::create();
    let server = SignetServer::start(Db::Postgres(db.url().to_owned()));
    assert_matches_go("docker_trust_matches_go_server_on_postgres", &server);
    drop(server); // before the database is dropped
}

/// The transcript must not depend on the run (key IDs, paths, repo prefix, server address are
/// normalized): two runs against the Go server give the same bytes, and they equal the
/// checked-in `tests/interop/expected/docker-trust.txt`.
#[test]
fn docker_trust_transcript_is_deterministic_on_go_server() {
    let go_url = util::go_notary_url();
    let ca = util::peer_certs().ca;
    let dir = fresh_artifact_dir("docker_trust_transcript_is_deterministic_on_go_server");
    let (a, b) = util::in_parallel(
        || scenario("go-a", &go_url, &ca, &dir),
        || scenario("go-b", &go_url, &ca, &dir),
    );
    check_go_reference(&a, &dir, "go-a");
    if a != b {
        let diff = util::unified_diff(&dir, "go-a.txt", &a, "go-b.txt", &b);
        panic!(
            "two runs against the Go notary-server differ: the normalization in \
             tests/interop/docker-trust.sh misses something.\n{diff}"
        );
    }

    let expected_path = expected_file();
    let expected = fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", expected_path.display()));
    if a != expected {
        let diff = util::unified_diff(&dir, "expected.txt", &expected, "go-a.txt", &a);
        panic!(
            "the Go notary-server transcript no longer matches {} (docker CLI, notary or \
             script changed?). If the new behaviour is right, regenerate it with\n  \
             tests/interop/docker-trust.sh https://127.0.0.1:4443 /tmp/peers/certs/ca.crt \
             $(mktemp -d) > tests/interop/expected/docker-trust.txt\n{diff}",
            expected_path.display()
        );
    }
}

/// The scenario with `signet trust` in place of `docker trust` (warnings stripped from
/// both, as the clients word them differently) must print docker's transcript but for
/// one documented difference: docker CLI 27 and 28 do not remove a signer that is not
/// the last one of `targets/releases` (`maybePromptForSignerRemoval` returns false, a
/// regression from 20.10), so `signer remove -f bob` is a silent no-op there. Signet
/// removes bob, as asked (and as docker 20.10 did), so bob is gone from the two inspects
/// after the removals.
fn expected_from_docker(docker: &str) -> String {
    let edits: [(&str, &str, &str); 3] = [
        (
            "== signer-remove-bob-force\n",
            "Removing signer \"bob\" from 127.0.0.1:5000/REPO/app...\n",
            "Removing signer \"bob\" from 127.0.0.1:5000/REPO/app...\nSuccessfully removed bob from 127.0.0.1:5000/REPO/app\n\n",
        ),
        (
            "== inspect-after-remove\n",
            "        \"Signers\": [\n            {\n                \"Name\": \"bob\",\n                \"Keys\": [\n                    {\n                        \"ID\": \"KEYID1\"\n                    }\n                ]\n            }\n        ],\n",
            "        \"Signers\": [],\n",
        ),
        (
            "== inspect-pretty-after-remove\n",
            "\nList of signers and their keys for 127.0.0.1:5000/REPO/app\n\nSIGNER    KEYS\nbob       KEYID1[:12]\n",
            "",
        ),
    ];
    let mut out = docker.to_owned();
    for (block, from, to) in edits {
        let start = out
            .find(block)
            .unwrap_or_else(|| panic!("docker's transcript has no block {block:?}:\n{docker}"));
        let end = out[start + block.len()..]
            .find("\n== ")
            .map_or(out.len(), |i| start + block.len() + i + 1);
        let body = &out[start..end];
        assert_eq!(
            body.matches(from).count(),
            1,
            "docker's {block:?} block changed shape (expected {from:?} once):\n{body}"
        );
        let edited = body.replacen(from, to, 1);
        out.replace_range(start..end, &edited);
    }
    out
}

fn assert_signet_trust_matches_docker(test: &str, url: &str, ca: &Path) {
    let dir = fresh_artifact_dir(test);
    let signet = util::signet_binary();
    let signet = signet.to_string_lossy().into_owned();
    let (docker, ours) = util::in_parallel(
        || scenario_with("docker", url, ca, &dir, &[("STRIP_WARNINGS", "1")]),
        || {
            scenario_with(
                "signet",
                url,
                ca,
                &dir,
                &[("STRIP_WARNINGS", "1"), ("TRUST_CLI", &signet)],
            )
        },
    );
    check_go_reference(&docker, &dir, "docker");
    let expected = expected_from_docker(&docker);
    if expected != ours {
        let diff = util::unified_diff(&dir, "expected.txt", &expected, "signet.txt", &ours);
        panic!(
            "`signet trust` printed something else than `docker trust` in the same scenario \
             (--- docker's transcript with the documented difference, +++ signet's; raw \
             transcripts and trust dirs in {dir}/{{docker,signet}}/):\n\n{diff}",
            dir = dir.display()
        );
    }
}

#[test]
fn signet_trust_runs_the_docker_trust_scenario_like_docker_on_go_server() {
    let url = util::go_notary_url();
    assert_signet_trust_matches_docker(
        "signet_trust_runs_the_docker_trust_scenario_like_docker_on_go_server",
        &url,
        &util::peer_certs().ca,
    );
}

#[test]
fn signet_trust_runs_the_docker_trust_scenario_like_docker_on_signet_server() {
    util::go_notary_url();
    let server = SignetServer::start(Db::Sqlite);
    assert_signet_trust_matches_docker(
        "signet_trust_runs_the_docker_trust_scenario_like_docker_on_signet_server",
        server.url(),
        server.ca(),
    );
}
