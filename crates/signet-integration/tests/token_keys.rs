//! A repository whose root and targets keys live on a PKCS#11 token (a real SoftHSM2 token):
//! `signet key generate --pkcs11` makes the root key there, `signet init` finds it and makes
//! the targets (and snapshot) keys there too, `signet publish` signs with them, and the Go
//! `notary` client lists what was published. No private key file is written.
//!
//! Needs the peers' Go notary-server on 127.0.0.1:4443, the `notary` CLI, SoftHSM2
//! (`scripts/peers/install.sh`) and a built `signet`.

use std::path::{Path, PathBuf};
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

/// An empty artifact directory for test `name`, a new token labelled `label`, the `signet`
/// binary, and the trust directory to use.
fn fresh(name: &str, label: &str) -> (PathBuf, SoftHsm, PathBuf, PathBuf) {
    let dir = util::artifact_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let trust = dir.join("trust");
    (dir, SoftHsm::create(label), util::signet_binary(), trust)
}

#[test]
fn root_and_targets_keys_on_a_softhsm_token_publish_for_the_go_client() {
    let (dir, hsm, signet, trust) = fresh(
        "root_and_targets_keys_on_a_softhsm_token_publish_for_the_go_client",
        "signet-client",
    );
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

/// The key ID in `Generated new <type> <role> key with keyID: <id> …`.
fn generated_id(out: &str) -> String {
    out.split("key with keyID: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no key ID in {out:?}"))
}

/// An RSA key made on the token (`key generate rsa --pkcs11 -o`) is delegated to, signs the
/// delegation's metadata with RSASSA-PSS (notary's `rsapss`) there, and the Go `notary`
/// client verifies it and lists the delegated target. `key list` shows the token's keys
/// with their location.
#[test]
fn rsa_delegation_key_on_a_softhsm_token_signs_for_the_go_client() {
    let (dir, hsm, signet, trust) = fresh(
        "rsa_delegation_key_on_a_softhsm_token_signs_for_the_go_client",
        "signet-rsa",
    );
    let gun = format!("example.com/token-rsa-{}/app", util::random_hex(4));
    let prefix = dir.join("releases");

    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &[
            "key",
            "generate",
            "rsa",
            "--role",
            "targets/releases",
            "--pkcs11",
            "-o",
            prefix.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Generated new rsa targets/releases key"),
        "{out}"
    );
    let rsa_id = generated_id(&out);
    let public = dir.join("releases.pem");
    let pem = std::fs::read_to_string(&public).expect("public key file");
    assert!(pem.contains("BEGIN PUBLIC KEY"), "{pem}");
    // RSA root keys are refused (their certificate is ECDSA).
    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &["key", "generate", "rsa", "--role", "root", "--pkcs11"],
    );
    assert_ne!(code, 0, "{out}");

    let (code, out) = run(&signet, &trust, &hsm, &["init", &gun]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &[
            "delegation",
            "add",
            &gun,
            "targets/releases",
            public.to_str().expect("utf-8"),
            "--all-paths",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&signet, &trust, &hsm, &["publish", &gun]);
    assert_eq!(code, 0, "{out}");
    let file = dir.join("v1.txt");
    std::fs::write(&file, b"signed with RSA-PSS on the token\n").expect("write");
    let f = file.to_str().expect("utf-8");
    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &["add", &gun, "v1", f, "--roles", "targets/releases"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&signet, &trust, &hsm, &["publish", &gun]);
    assert_eq!(code, 0, "{out}");

    // The Go client verifies the RSA-PSS signature and lists the delegated target.
    let go = dir.join("go");
    let (code, listed) = run(Path::new("notary"), &go, &hsm, &["list", &gun]);
    assert_eq!(code, 0, "Go notary cannot list it:\n{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("v1 ") && l.trim_end().ends_with("targets/releases")),
        "v1 must be listed from targets/releases:\n{listed}"
    );

    // The server holds targets/releases signed by the token key with `rsapss`.
    let url = format!(
        "{}/v2/{gun}/_trust/tuf/targets/releases.json",
        util::go_notary_url()
    );
    let (status, body) = util::https_get(&url, &util::peer_certs().ca).expect("releases");
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    let sigs = doc["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1, "{body}");
    assert_eq!(sigs[0]["keyid"], rsa_id.as_str());
    assert_eq!(sigs[0]["method"], "rsapss");

    // key list shows the token's keys, with the token as their location.
    let (code, out) = run(&signet, &trust, &hsm, &["key", "list"]);
    assert_eq!(code, 0, "{out}");
    let location = format!("pkcs11:token={}", hsm.label());
    let row = out
        .lines()
        .find(|l| l.contains(&rsa_id))
        .unwrap_or_else(|| panic!("the RSA key is not listed:\n{out}"));
    assert!(
        row.starts_with("targets/releases") && row.trim_end().ends_with(&location),
        "{row}"
    );
    for role in ["root", "targets", "snapshot"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{role} ")) && l.trim_end().ends_with(&location)),
            "no {role} key on the token listed:\n{out}"
        );
    }

    // key remove destroys a token key (after confirmation), as it deletes a key file.
    let (code, out) = run(&signet, &trust, &hsm, &["key", "remove", &rsa_id]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Aborting action."),
        "no answer must abort:\n{out}"
    );
    let (code, out) = run(&signet, &trust, &hsm, &["key", "remove", &rsa_id, "-y"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "Deleted {rsa_id} (role targets/releases) from {location}."
        )),
        "{out}"
    );
    let (code, out) = run(&signet, &trust, &hsm, &["key", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains(&rsa_id),
        "the removed key is still listed:\n{out}"
    );
    let (code, out) = run(&signet, &trust, &hsm, &["key", "remove", &rsa_id, "-y"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("No key with ID"), "{out}");
}

/// An Ed25519 targets key made on the token before `init` (`key generate ed25519 --role
/// targets -g GUN --pkcs11`) is the one `init` puts in the root and `publish` signs with
/// there (`CKM_EDDSA`, notary's `eddsa`); the Go `notary` client verifies it and lists the
/// target. A root key on the token must still be ECDSA (its certificate is).
#[test]
fn ed25519_targets_key_on_a_softhsm_token_signs_for_the_go_client() {
    let (dir, hsm, signet, trust) = fresh(
        "ed25519_targets_key_on_a_softhsm_token_signs_for_the_go_client",
        "signet-ed25519",
    );
    let gun = format!("example.com/token-ed25519-{}/app", util::random_hex(4));

    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &["key", "generate", "ed25519", "--role", "root", "--pkcs11"],
    );
    assert_ne!(
        code, 0,
        "an Ed25519 root key on the token must be refused:\n{out}"
    );
    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &[
            "key", "generate", "ed25519", "--role", "targets", "-g", &gun, "--pkcs11",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Generated new ed25519 targets key"), "{out}");
    let key_id = generated_id(&out);

    let (code, out) = run(&signet, &trust, &hsm, &["init", &gun]);
    assert_eq!(code, 0, "{out}");
    let file = dir.join("v1.txt");
    std::fs::write(&file, b"signed with eddsa on the token\n").expect("write");
    let (code, out) = run(
        &signet,
        &trust,
        &hsm,
        &["add", &gun, "v1", file.to_str().expect("utf-8")],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&signet, &trust, &hsm, &["publish", &gun]);
    assert_eq!(code, 0, "{out}");

    let go = dir.join("go");
    let (code, listed) = run(Path::new("notary"), &go, &hsm, &["list", &gun]);
    assert_eq!(code, 0, "Go notary cannot list it:\n{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("v1 ") && l.trim_end().ends_with("targets")),
        "{listed}"
    );

    // targets.json on the server is signed by the token's Ed25519 key, which the root names.
    let url = format!("{}/v2/{gun}/_trust/tuf/targets.json", util::go_notary_url());
    let (status, body) = util::https_get(&url, &util::peer_certs().ca).expect("targets");
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    let sigs = doc["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1, "{body}");
    assert_eq!(sigs[0]["keyid"], key_id.as_str());
    assert_eq!(sigs[0]["method"], "eddsa");
    let root_url = format!("{}/v2/{gun}/_trust/tuf/root.json", util::go_notary_url());
    let (status, root) = util::https_get(&root_url, &util::peer_certs().ca).expect("root");
    assert_eq!(status, 200, "{root}");
    let root: serde_json::Value = serde_json::from_str(&root).expect("json");
    assert_eq!(
        root["signed"]["roles"]["targets"]["keyids"][0],
        key_id.as_str()
    );
    assert_eq!(root["signed"]["keys"][&key_id]["keytype"], "ed25519");
}
