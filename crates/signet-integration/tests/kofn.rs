//! k-of-n signing end to end, with three machines (trust directories) that each hold one
//! key: a delegation with threshold 2, and the targets role rotated to two keys held
//! elsewhere with threshold 2. A holder alone cannot publish; the update travels as a
//! bundle file, the second holder adds a signature, and the publish succeeds only then.
//! The Go `notary` client, on a fresh machine, lists what was published: it counts the
//! distinct signatures itself.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go `notary` CLI) and a built `signet`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{self, Db, SignetServer};

struct Machine {
    dir: PathBuf,
    url: String,
    ca: PathBuf,
}

impl Machine {
    fn new(root: &Path, name: &str, url: &str, ca: &Path) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("create trust dir");
        Self {
            dir,
            url: url.to_owned(),
            ca: ca.to_owned(),
        }
    }

    /// Runs `signet -d <dir> -s <url> --tlscacert <ca> args…`; returns (exit code, stdout
    /// + stderr).
    fn signet(&self, args: &[&str]) -> (i32, String) {
        run(Command::new(util::signet_binary()), self, args)
    }

    fn go(&self, args: &[&str]) -> (i32, String) {
        run(Command::new("notary"), self, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out) = self.signet(args);
        assert_eq!(code, 0, "signet {args:?} failed:\n{out}");
        out
    }
}

fn run(mut cmd: Command, m: &Machine, args: &[&str]) -> (i32, String) {
    let out = cmd
        .arg("-d")
        .arg(&m.dir)
        .arg("-s")
        .arg(&m.url)
        .arg("--tlscacert")
        .arg(&m.ca)
        .args(args)
        .env("HOME", &m.dir)
        .env("NOTARY_ROOT_PASSPHRASE", "kofn-root-passphrase")
        .env("NOTARY_TARGETS_PASSPHRASE", "kofn-targets-passphrase")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "kofn-snapshot-passphrase")
        .env("NOTARY_DELEGATION_PASSPHRASE", "kofn-delegation-passphrase")
        .env_remove("NOTARY_AUTH")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A key made on `m` for `role` of `gun`, kept in its store; returns the public key PEM
/// file.
fn holder_key(m: &Machine, role: &str, gun: &str, name: &str) -> PathBuf {
    let prefix = m.dir.join(name);
    let prefix = prefix.to_str().expect("utf-8 path");
    m.ok(&["key", "generate", "ecdsa", "--role", role, "-o", prefix]);
    m.ok(&[
        "key",
        "import",
        &format!("{prefix}-key.pem"),
        "-r",
        role,
        "-g",
        gun,
    ]);
    PathBuf::from(format!("{prefix}.pem"))
}

#[test]
fn k_of_n_on_signet_server() {
    util::go_notary_url(); // the peers (and the Go client) must be there
    let server = SignetServer::start(Db::Sqlite);
    k_of_n("k_of_n_on_signet_server", server.url(), server.ca());
}

#[test]
fn k_of_n_on_go_server() {
    let url = util::go_notary_url();
    k_of_n("k_of_n_on_go_server", &url, &util::peer_certs().ca);
}

/// A delegation and the targets role at 2 of 2 keys: publishes only with enough distinct
/// keys, through a bundle passed between the holders.
fn k_of_n(test: &str, url: &str, ca: &Path) {
    let root = util::artifact_dir(test);
    let _ = std::fs::remove_dir_all(&root);
    let (owner, bob, carol, fresh) = (
        Machine::new(&root, "owner", url, ca),
        Machine::new(&root, "bob", url, ca),
        Machine::new(&root, "carol", url, ca),
        Machine::new(&root, "fresh", url, ca),
    );
    let gun = format!("example.com/kofn-{}", util::random_hex(4));
    let gun = gun.as_str();
    let file = root.join("payload.txt");
    std::fs::write(&file, b"released by two of two\n").expect("payload");
    let file = file.to_str().expect("utf-8");
    let bundle = root.join("update.json");
    let bundle = bundle.to_str().expect("utf-8");

    owner.ok(&["init", gun, "-p"]);
    // The server signs snapshots, so any holder can publish a complete bundle.
    owner.ok(&["key", "rotate", gun, "snapshot", "-r"]);
    let bob_pub = holder_key(&bob, "targets/releases", gun, "bob");
    let carol_pub = holder_key(&carol, "targets/releases", gun, "carol");
    owner.ok(&[
        "delegation",
        "add",
        gun,
        "targets/releases",
        bob_pub.to_str().expect("utf-8"),
        carol_pub.to_str().expect("utf-8"),
        "--all-paths",
        "--threshold",
        "2",
        "-p",
    ]);
    let listed = owner.ok(&["delegation", "list", gun]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("targets/releases") && l.trim_end().ends_with(" 2")),
        "threshold 2 not listed:\n{listed}"
    );

    // One holder cannot publish alone, and nothing reaches the server.
    bob.ok(&["add", gun, "v1", file, "-r", "targets/releases"]);
    let (code, out) = bob.signet(&["publish", gun]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("targets/releases needs signatures from 2"),
        "{out}"
    );
    let (code, out) = fresh.signet(&["lookup", gun, "v1"]);
    assert_ne!(code, 0, "v1 must not be published yet:\n{out}");

    // Bob exports; the bundle is not enough yet.
    let out = bob.ok(&["publish", gun, "--export", bundle]);
    assert!(
        out.contains("targets/releases: 1 of 2 signatures, needs 1 more"),
        "{out}"
    );
    let (code, out) = bob.signet(&["publish", gun, "--bundle", bundle]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not signed enough"), "{out}");
    // Bob signing twice adds nothing: distinct keys count.
    let (code, out) = bob.signet(&["bundle", "sign", bundle]);
    assert_eq!(code, 1, "{out}");

    // Carol adds hers; now anyone may publish.
    let out = carol.ok(&["bundle", "sign", bundle]);
    assert!(
        out.contains("targets/releases: 2 of 2 signatures, ready"),
        "{out}"
    );
    fresh.ok(&["publish", gun, "--bundle", bundle]);
    let (code, out) = fresh.go(&["list", gun]);
    assert_eq!(code, 0, "Go notary list failed:\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("v1 ") && l.trim_end().ends_with("targets/releases")),
        "Go notary does not list v1 from targets/releases:\n{out}"
    );
    // A stale bundle is refused.
    let (code, out) = owner.signet(&["publish", gun, "--bundle", bundle]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the repository changed since the bundle was made"),
        "{out}"
    );

    // The targets role moves to Bob's and Carol's keys, 2 of 2.
    let bob_t = holder_key(&bob, "targets", gun, "bob-targets");
    let carol_t = holder_key(&carol, "targets", gun, "carol-targets");
    let rotate = [
        "key",
        "rotate",
        gun,
        "targets",
        "--pubkey",
        bob_t.to_str().expect("utf-8"),
        "--pubkey",
        carol_t.to_str().expect("utf-8"),
        "--threshold",
        "2",
    ];
    // targets must be re-signed by its new keys, which are not here.
    let (code, out) = owner.signet(&rotate);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no signing key for targets"), "{out}");
    let mut export = rotate.to_vec();
    export.extend(["--export", bundle]);
    let out = owner.ok(&export);
    assert!(out.contains("root: 1 of 1 signatures, ready"), "{out}");
    assert!(
        out.contains("targets: 0 of 2 signatures, needs 2 more"),
        "{out}"
    );
    bob.ok(&["bundle", "sign", bundle]);
    carol.ok(&["bundle", "sign", bundle]);
    bob.ok(&["publish", gun, "--bundle", bundle]);

    bob.ok(&["add", gun, "v2", file]);
    let (code, out) = bob.signet(&["publish", gun]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("targets needs signatures from 2"), "{out}");
    bob.ok(&["publish", gun, "--export", bundle]);
    carol.ok(&["bundle", "sign", bundle]);
    let status = carol.ok(&["bundle", "status", bundle]);
    assert!(
        status.contains("targets: 2 of 2 signatures, ready"),
        "{status}"
    );
    carol.ok(&["publish", gun, "--bundle", bundle]);
    let (code, out) = fresh.go(&["list", gun]);
    assert_eq!(code, 0, "Go notary list failed:\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("v2 ") && l.trim_end().ends_with("targets")),
        "Go notary does not list v2:\n{out}"
    );
    let ours = fresh.ok(&["list", gun]);
    assert!(ours.contains("v1") && ours.contains("v2"), "{ours}");
}

/// `witness` re-admits a delegation whose signatures no longer meet its keys: the delegate's
/// key was replaced, the old metadata stops verifying (its targets disappear), and the new
/// key holder's `witness` re-signs it as it is.
#[test]
fn witness_brings_back_an_invalid_delegation() {
    util::go_notary_url();
    let server = SignetServer::start(Db::Sqlite);
    let root = util::artifact_dir("witness_brings_back_an_invalid_delegation");
    let _ = std::fs::remove_dir_all(&root);
    let (url, ca) = (server.url(), server.ca());
    let (owner, first, second, fresh) = (
        Machine::new(&root, "owner", url, ca),
        Machine::new(&root, "first", url, ca),
        Machine::new(&root, "second", url, ca),
        Machine::new(&root, "fresh", url, ca),
    );
    let gun = format!("example.com/witness-{}", util::random_hex(4));
    let gun = gun.as_str();
    let file = root.join("payload.txt");
    std::fs::write(&file, b"signed by the first delegate\n").expect("payload");
    let file = file.to_str().expect("utf-8");

    owner.ok(&["init", gun, "-p"]);
    owner.ok(&["key", "rotate", gun, "snapshot", "-r"]);
    let first_pub = holder_key(&first, "targets/releases", gun, "first");
    let second_pub = holder_key(&second, "targets/releases", gun, "second");
    owner.ok(&[
        "delegation",
        "add",
        gun,
        "targets/releases",
        first_pub.to_str().expect("utf-8"),
        "--all-paths",
        "-p",
    ]);
    first.ok(&["add", gun, "v1", file, "-r", "targets/releases", "-p"]);
    assert!(fresh.ok(&["list", gun]).contains("targets/releases"));

    // The first delegate's key is replaced by the second's.
    let first_id = fresh
        .ok(&["delegation", "list", gun])
        .lines()
        .find(|l| l.starts_with("targets/releases"))
        .and_then(|l| l.split_whitespace().rev().nth(1).map(str::to_owned))
        .expect("key ID in delegation list");
    owner.ok(&[
        "delegation",
        "add",
        gun,
        "targets/releases",
        second_pub.to_str().expect("utf-8"),
    ]);
    owner.ok(&[
        "delegation",
        "remove",
        gun,
        "targets/releases",
        &first_id,
        "-p",
    ]);
    let (code, out) = fresh.signet(&["list", gun]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("v1"),
        "v1 is still listed from an invalid delegation:\n{out}"
    );
    assert!(
        out.contains("skipping delegation targets/releases"),
        "{out}"
    );

    // The second delegate witnesses the role: it is signed again, as it was.
    let out = second.ok(&["witness", gun, "targets/releases", "-p"]);
    assert!(out.contains("marked for witnessing"), "{out}");
    let out = fresh.ok(&["list", gun]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("v1 ") && l.trim_end().ends_with("targets/releases")),
        "{out}"
    );
    let (code, out) = fresh.go(&["list", gun]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("v1"), "the Go client does not see v1:\n{out}");
}
