//! A repository whose root and targets keys live on a PKCS#11 token (a real SoftHSM2 token):
//! `signet key generate --pkcs11` makes the root key there, `signet init` finds it and makes
//! the targets (and snapshot) keys there too, `signet publish` signs with them, and the Go
//! `notary` client lists what was published. No private key file is written.
//!
//! Needs the peers' Go notary-server on 127.0.0.1:4443, the `notary` CLI, SoftHSM2
//! (`scripts/peers/install.sh`) and a built `signet`.

use std::path::Path;
use std::process::{Command, Stdio};

use signet_test_support::softhsm::{self, SoftHsm, USER_PIN};

use crate::util;

/// Runs `bin -d TRUST -s <Go notary-server> --tlscacert CA args…` with the token's
/// environment; returns the exit code and stdout + stderr.
fn run(bin: &Path, trust: &Path, hsm: &SoftHsm, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .arg("-d")
        .arg(trust)
        .arg("-s")
        .arg(util::go_notary_url())
        .arg("--tlscacert")
        .arg(util::peer_certs().ca)
        .args(args)
        .env("HOME", trust)
        .envs(hsm.env())
        .env("SIGNET_PKCS11_MODULE", softhsm::module())
        .env("SIGNET_PKCS11_TOKEN", hsm.label())
        .env("SIGNET_PKCS11_PIN", USER_PIN)
        // Nothing may need a passphrase: every key is on the token.
        .env_remove("NOTARY_ROOT_PASSPHRASE")
        .env_remove("NOTARY_TARGETS_PASSPHRASE")
        .env_remove("NOTARY_SNAPSHOT_PASSPHRASE")
        .env_remove("NOTARY_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run client");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn root_and_targets_keys_on_a_softhsm_token_publish_for_the_go_client() {
    let dir =
        util::artifact_dir("root_and_targets_keys_on_a_softhsm_token_publish_for_the_go_client");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let hsm = SoftHsm::create("signet-client");
    let signet = util::signet_binary();
    let trust = dir.join("trust");
    let gun = format!("example.com/token-{}/app", util::random_hex(4));

    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &["key", "generate", "ecdsa", "--role", "root", "--pkcs11"],
    );
    assert_eq!(code, 0, "{out}");
    let root_id = out
        .split("Generated new ecdsa root key with keyID: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no key ID in {out:?}"));

    // init finds the token's root key (checked on the published root below).
    let (code, out) = run(&signet, &trust, &hsm, &["init", &gun]);
    assert_eq!(code, 0, "{out}");
    let file = dir.join("v1.txt");
    std::fs::write(&file, b"signed on the token\n").expect("write");
    let f = file.to_str().expect("utf-8");
    let (code, out) = run(&signet, &trust, &hsm, &["add", &gun, "v1", f]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&signet, &trust, &hsm, &["publish", &gun]);
    assert_eq!(code, 0, "{out}");

    // The Go client, with no keys at all, trusts and lists it.
    let go = dir.join("go");
    let (code, listed) = run(Path::new("notary"), &go, &hsm, &["list", &gun]);
    assert_eq!(code, 0, "Go notary cannot list it:\n{listed}");
    assert!(listed.contains("v1"), "{listed}");

    // A second publish signs targets with the token key the root names.
    let (code, out) = run(&signet, &trust, &hsm, &["add", &gun, "v2", f]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&signet, &trust, &hsm, &["publish", &gun]);
    assert_eq!(code, 0, "{out}");
    let (code, listed) = run(Path::new("notary"), &go, &hsm, &["list", &gun]);
    assert_eq!(code, 0, "{listed}");
    assert!(listed.contains("v1") && listed.contains("v2"), "{listed}");

    // The root the server holds lists the token's key (under its certificate), and no
    // private key was written to the trust directory.
    let root_url = format!("{}/v2/{gun}/_trust/tuf/root.json", util::go_notary_url());
    let (status, root) = util::https_get(&root_url, &util::peer_certs().ca).expect("root");
    assert_eq!(status, 200, "{root}");
    let root: signet_core::Signed<signet_core::Root> =
        signet_core::Signed::from_bytes(root.as_bytes()).expect("root.json");
    let root_keys = &root.signed.roles["root"].keyids;
    let canonical: Vec<String> = root_keys
        .iter()
        .map(|id| root.signed.keys[id].canonical_id().as_str().to_owned())
        .collect();
    assert_eq!(canonical, [root_id], "root keys of the published root");
    let private = trust.join("private");
    let files: Vec<_> = std::fs::read_dir(&private)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        files
            .iter()
            .all(|p| p.extension().is_none_or(|e| e != "key")),
        "private key files were written: {files:?}"
    );
}
