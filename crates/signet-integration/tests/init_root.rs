//! `init --rootkey/--rootcert`: a repository whose root key (and certificate) the operator
//! brings, published with `signet` and listed by the Go `notary` client.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go notary-server and CLI), openssl and a
//! built `signet`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util;

fn run(bin: &Path, trust: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .arg("-d")
        .arg(trust)
        .arg("-s")
        .arg(util::go_notary_url())
        .arg("--tlscacert")
        .arg(util::peer_certs().ca)
        .args(args)
        .env("HOME", trust)
        .env("NOTARY_ROOT_PASSPHRASE", "init-root-passphrase")
        .env("NOTARY_TARGETS_PASSPHRASE", "init-targets-passphrase")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "init-snapshot-passphrase")
        .env_remove("NOTARY_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run client");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_with_the_operators_root_key_and_certificate() {
    let dir = util::artifact_dir("init_with_the_operators_root_key_and_certificate");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let signet = util::signet_binary();
    let gun = format!("example.com/rootkey-{}", util::random_hex(4));
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();

    // A root key made elsewhere (encrypted, with `key generate -o`) brings its own
    // certificate for a second repository made from the same key.
    let (trust, other) = (dir.join("trust"), dir.join("other"));
    let prefix = s(&dir.join("root"));
    let (code, out) = run(
        &signet,
        &other,
        &["key", "generate", "ecdsa", "--role", "root", "-o", &prefix],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(
        &signet,
        &trust,
        &[
            "init",
            &gun,
            "--rootkey",
            &format!("{prefix}-key.pem"),
            "-p",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let id = out
        .split("Root key found, using: ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no root key ID in {out:?}"));
    // The key the file holds: its public half is `PREFIX.pem`.
    let public = std::fs::read(format!("{prefix}.pem")).expect("public key");
    let now = signet_service::Clock::system().now();
    let key = signet_core::PublicKey::from_pem(&public, now).expect("public key PEM");
    assert_eq!(
        key.canonical_id().as_str(),
        id,
        "init used another root key"
    );
    let file = dir.join("payload.txt");
    std::fs::write(&file, b"root key brought by the operator\n").expect("write");
    let (code, out) = run(&signet, &trust, &["add", &gun, "v1", &s(&file), "-p"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(Path::new("notary"), &dir.join("go"), &["list", &gun]);
    assert_eq!(code, 0, "Go notary cannot list it:\n{out}");
    assert!(out.contains("v1"), "{out}");

    // A certificate for that key from openssl (CN = GUN), used as is.
    let gun2 = format!("{gun}-cert");
    let key_pem = s(&dir.join("root-plain.pem"));
    let cert_pem = s(&dir.join("root.crt"));
    let (code, out) = run(
        &signet,
        &trust,
        &[
            "key",
            "export",
            "--key",
            &id,
            "-o",
            &s(&dir.join("exported.pem")),
        ],
    );
    assert_eq!(code, 0, "{out}");
    // openssl reads notary's encrypted PKCS#8 once the PEM headers are gone.
    let exported = std::fs::read_to_string(dir.join("exported.pem")).expect("exported");
    let body: String = exported
        .lines()
        .filter(|l| !l.contains(": ") && !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("stripped.pem"), body).expect("write");
    openssl(&[
        "pkcs8",
        "-in",
        &s(&dir.join("stripped.pem")),
        "-passin",
        "pass:init-root-passphrase",
        "-out",
        &key_pem,
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &key_pem,
        "-sha256",
        "-days",
        "365",
        "-subj",
        &format!("/CN={}", gun2.replace('/', "\\/")),
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-out",
        &cert_pem,
    ]);
    let (code, out) = run(
        &signet,
        &trust,
        &["init", &gun2, "--rootcert", &cert_pem, "-p"],
    );
    assert_eq!(code, 0, "{out}");
    let root = std::fs::read_to_string(trust.join("tuf").join(&gun2).join("metadata/root.json"))
        .expect("cached root");
    let cert = std::fs::read_to_string(&cert_pem).expect("cert");
    let b64 = |t: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(t.as_bytes())
    };
    assert!(
        root.contains(&b64(&cert)),
        "root.json does not list the operator's certificate"
    );
    let (code, out) = run(Path::new("notary"), &dir.join("go2"), &["list", &gun2]);
    assert_eq!(code, 0, "Go notary cannot list it:\n{out}");

    // A certificate for another key is refused, and nothing is created.
    let other_key = s(&dir.join("other.pem"));
    let other_cert = s(&dir.join("other.crt"));
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        &other_key,
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &other_key,
        "-sha256",
        "-days",
        "365",
        "-subj",
        &format!("/CN={}-x", gun2.replace('/', "\\/")),
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-out",
        &other_cert,
    ]);
    let gun3 = format!("{gun2}-x");
    let (code, out) = run(
        &signet,
        &trust,
        &[
            "init",
            &gun3,
            "--rootkey",
            &format!("{prefix}-key.pem"),
            "--rootcert",
            &other_cert,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the root certificate is not for the root key"),
        "{out}"
    );
    assert!(
        !trust
            .join("tuf")
            .join(&gun3)
            .join("metadata/root.json")
            .exists()
    );
}
