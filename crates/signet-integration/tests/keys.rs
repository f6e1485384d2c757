//! Interop for private keys: the Go `notary` 0.7 CLI, the docker CLI 28 and `signet key`
//! on the same trust directories, against the Go notary-server peer.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go notary-server, in any mode), the
//! `notary` and `docker` CLIs on PATH, and a built `signet` (`cargo build -p signet-cli`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use signet_client::keys::{KeyStore, PassphraseEnv, Retriever, Signer as _};
use signet_core::{RingVerifier, Verifier as _};

use crate::util;

const PASS: &str = "interop-pass-123";
const PASS_VARS: [&str; 6] = [
    "NOTARY_ROOT_PASSPHRASE",
    "NOTARY_TARGETS_PASSPHRASE",
    "NOTARY_SNAPSHOT_PASSPHRASE",
    "NOTARY_DELEGATION_PASSPHRASE",
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
];

/// A command with no passphrase variables inherited, standard input closed, and (when
/// `with_pass`) every passphrase variable set to [`PASS`].
fn command(program: &Path, with_pass: bool) -> Command {
    let mut c = Command::new(program);
    for v in PASS_VARS {
        c.env_remove(v);
        if with_pass {
            c.env(v, PASS);
        }
    }
    c.stdin(Stdio::null());
    c
}

fn notary(trust: &Path, args: &[&str]) -> Output {
    let ca = util::peer_certs().ca;
    let out = command(Path::new("notary"), true)
        .args(["-s", util::GO_NOTARY_URL, "--tlscacert"])
        .arg(&ca)
        .arg("-d")
        .arg(trust)
        .args(args)
        .output()
        .expect("the Go `notary` CLI must be on PATH");
    assert!(
        out.status.success(),
        "notary {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn signet_in(trust: &Path, args: &[&str], with_pass: bool) -> Output {
    command(&util::signet_binary(), with_pass)
        .arg("-d")
        .arg(trust)
        .args(args)
        .output()
        .expect("run signet")
}

fn signet_ok(trust: &Path, args: &[&str]) -> Output {
    let out = signet_in(trust, args, true);
    assert!(
        out.status.success(),
        "signet {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf8")
}

fn gun(test: &str) -> String {
    format!("example.com/signet-keys/{test}-{}", util::random_hex(6))
}

/// Every key in the store decrypts, and a signature signet makes verifies with signet-core.
fn assert_keys_sign(trust: &Path, env: PassphraseEnv) -> usize {
    let store = KeyStore::new(trust);
    let mut pass = Retriever::with_values(env, PASS_VARS.iter().map(|v| (*v, PASS)));
    let entries = store.list().expect("list keys");
    for entry in &entries {
        let (key, _) = store
            .load(&entry.id, &mut pass)
            .expect("decrypt with passphrase");
        assert_eq!(key.key_id().as_str(), entry.id);
        let sig = key.sign(b"payload").expect("sign");
        RingVerifier
            .verify(key.public_key(), key.method(), b"payload", &sig)
            .expect("signet-core verifies signet's signature");
    }
    entries.len()
}

#[test]
fn keys_from_go_notary_are_listed_identically_and_sign() {
    util::go_notary_url();
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let gun = gun("go-made");
    notary(&trust, &["init", &gun]);
    notary(&trust, &["key", "generate", "--role", "targets/x"]);
    notary(&trust, &["key", "generate"]);
    let go = stdout(&notary(&trust, &["key", "list"]));
    let ours = stdout(&signet_ok(&trust, &["key", "list"]));
    assert_eq!(
        ours, go,
        "signet key list must print what notary key list prints"
    );
    assert_eq!(assert_keys_sign(&trust, PassphraseEnv::notary()), 5);
}

#[test]
fn keys_from_signet_are_listed_and_used_by_go_notary() {
    util::go_notary_url();
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    // A root key made by signet, given to `notary init --rootkey`, and a publish.
    let prefix = tmp.path().join("root");
    signet_ok(
        &trust,
        &[
            "key",
            "generate",
            "--role",
            "root",
            "-o",
            prefix.to_str().unwrap(),
        ],
    );
    let root_file = tmp.path().join("root-key.pem");
    let gun = gun("signet-root");
    notary(
        &trust,
        &["init", &gun, "--rootkey", root_file.to_str().unwrap()],
    );
    notary(&trust, &["publish", &gun]);
    // The key signet generated into the store is listed by both, identically.
    signet_ok(&trust, &["key", "generate", "--role", "targets/y"]);
    let go = stdout(&notary(&trust, &["key", "list"]));
    let ours = stdout(&signet_ok(&trust, &["key", "list"]));
    assert_eq!(ours, go);
    assert_eq!(assert_keys_sign(&trust, PassphraseEnv::notary()), 4);
}

#[test]
fn signet_delegation_key_signs_go_notary_publish() {
    util::go_notary_url();
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let gun = gun("signet-delegation");
    notary(&trust, &["init", &gun, "-p"]);
    let prefix = tmp.path().join("releases");
    signet_ok(
        &trust,
        &[
            "key",
            "generate",
            "--role",
            "targets/releases",
            "-o",
            prefix.to_str().unwrap(),
        ],
    );
    // notary 0.7 cannot import this file itself; signet can, into the shared trust dir.
    let key_file = tmp.path().join("releases-key.pem");
    signet_ok(&trust, &["key", "import", key_file.to_str().unwrap()]);
    let pubkey = tmp.path().join("releases.pem");
    notary(
        &trust,
        &[
            "delegation",
            "add",
            &gun,
            "targets/releases",
            pubkey.to_str().unwrap(),
            "--all-paths",
            "-p",
        ],
    );
    let target = tmp.path().join("payload.txt");
    std::fs::write(&target, b"signed by a signet-made delegation key\n").unwrap();
    notary(
        &trust,
        &[
            "add",
            &gun,
            "v1",
            target.to_str().unwrap(),
            "--roles",
            "targets/releases",
            "-p",
        ],
    );
    let list = stdout(&notary(&trust, &["list", &gun]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("v1 ") && l.trim_end().ends_with("targets/releases")),
        "v1 must be signed into targets/releases:\n{list}"
    );
}

#[test]
fn export_and_import_between_signet_and_go_notary() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    signet_ok(&a, &["key", "generate", "--role", "targets/z"]);
    let bundle = tmp.path().join("bundle.pem");
    signet_ok(&a, &["key", "export", "-o", bundle.to_str().unwrap()]);
    // Go notary imports signet's export, and notary's export comes back into signet.
    notary(&b, &["key", "import", bundle.to_str().unwrap()]);
    let back = tmp.path().join("back.pem");
    notary(&b, &["key", "export", "-o", back.to_str().unwrap()]);
    signet_ok(&c, &["key", "import", back.to_str().unwrap()]);
    let la = stdout(&signet_ok(&a, &["key", "list"]));
    let lb = stdout(&notary(&b, &["key", "list"]));
    let lc = stdout(&signet_ok(&c, &["key", "list"]));
    let ids = |s: &str| -> Vec<String> {
        s.lines()
            .skip(3)
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(ids(&la), ids(&lb));
    assert_eq!(ids(&lb), ids(&lc));
    assert_eq!(assert_keys_sign(&c, PassphraseEnv::notary()), 1);
}

#[test]
fn docker_trust_key_generate_file_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let docker_config = tmp.path().join("docker");
    let out = command(Path::new("docker"), true)
        .env("DOCKER_CONFIG", &docker_config)
        .args(["trust", "key", "generate", "alice", "--dir"])
        .arg(tmp.path())
        .output()
        .expect("the docker CLI must be on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trust = docker_config.join("trust");
    let list = stdout(&signet_ok(&trust, &["key", "list"]));
    let row = list.lines().nth(3).unwrap_or_default();
    assert!(row.starts_with("alice "), "{list}");
    assert_eq!(assert_keys_sign(&trust, PassphraseEnv::docker()), 1);
    // The public key docker wrote is the one the private key holds.
    let public = std::fs::read_to_string(tmp.path().join("alice.pub")).unwrap();
    let id = row.split_whitespace().nth(1).unwrap().to_owned();
    let key = KeyStore::new(&trust)
        .load(
            &id,
            &mut Retriever::with_values(PassphraseEnv::docker(), [(PASS_VARS[5], PASS)]),
        )
        .unwrap()
        .0;
    let der = signet_core::encoding::pem_decode_all(public.as_bytes()).unwrap()[0]
        .contents
        .clone();
    assert_eq!(key.public().public_bytes(), der.as_slice());
}

#[test]
fn wrong_passphrase_is_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let out = signet_ok(&trust, &["key", "generate"]);
    let id = stdout(&out).trim().rsplit(' ').next().unwrap().to_owned();
    let out = command(&util::signet_binary(), false)
        .env("NOTARY_ROOT_PASSPHRASE", "not-the-passphrase")
        .arg("-d")
        .arg(&trust)
        .args(["key", "passwd", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("password invalid") && err.contains(&id),
        "{err}"
    );
}

#[test]
fn no_passphrase_and_no_terminal_fails_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let id = {
        let out = signet_ok(&trust, &["key", "generate", "--role", "targets/q"]);
        stdout(&out).trim().rsplit(' ').next().unwrap().to_owned()
    };
    for (args, var) in [
        (vec!["key", "generate"], "NOTARY_ROOT_PASSPHRASE"),
        (
            vec!["key", "passwd", id.as_str()],
            "NOTARY_DELEGATION_PASSPHRASE",
        ),
    ] {
        let started = Instant::now();
        let out = signet_in(&trust, &args, false);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(var) && err.contains("not a terminal"),
            "{args:?}: {err}"
        );
    }
    // Nothing was written by the failed generate.
    assert_eq!(KeyStore::new(&trust).list().unwrap().len(), 1);
}

#[test]
fn remove_without_confirmation_aborts_and_with_yes_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let out = signet_ok(&trust, &["key", "generate"]);
    let id = stdout(&out).trim().rsplit(' ').next().unwrap().to_owned();
    let out = signet_ok(&trust, &["key", "remove", &id]);
    assert!(stdout(&out).contains("Aborting action."));
    assert_eq!(KeyStore::new(&trust).list().unwrap().len(), 1);
    let out = signet_ok(&trust, &["key", "remove", &id, "-y"]);
    assert!(stdout(&out).contains("Deleted "));
    let go = stdout(&notary(&trust, &["key", "list"]));
    assert!(go.contains("No signing keys found."), "{go}");
}
