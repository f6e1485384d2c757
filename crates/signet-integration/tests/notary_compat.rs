//! `signet` as a drop-in for the Go `notary` 0.7 CLI: on repositories the Go CLI published
//! to the Go notary-server (https://127.0.0.1:4443), `signet list/lookup/verify/delegation
//! list/status` print byte for byte what `notary` prints (stdout) with the same exit code;
//! staged changes cross between the two clients in both directions; trust pinning and the
//! first-use warning.
//!
//! Needs the Go notary-server (`scripts/peers/up.sh`), the `notary` CLI,
//! `openssl`, and a built `signet` binary (`cargo build -p signet-cli`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util;

const PASS: [(&str, &str); 4] = [
    ("NOTARY_ROOT_PASSPHRASE", "compat-root-passphrase"),
    ("NOTARY_TARGETS_PASSPHRASE", "compat-targets-passphrase"),
    ("NOTARY_SNAPSHOT_PASSPHRASE", "compat-snapshot-passphrase"),
    (
        "NOTARY_DELEGATION_PASSPHRASE",
        "compat-delegation-passphrase",
    ),
];

/// One run of a client: exit code, stdout, stderr.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

struct World {
    dir: tempfile::TempDir,
    url: String,
    ca: PathBuf,
}

impl World {
    fn new() -> World {
        let url = util::go_notary_url();
        World {
            dir: tempfile::Builder::new()
                .prefix("notary-compat-")
                .tempdir()
                .expect("tempdir"),
            url,
            ca: util::peer_certs().ca,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, bin: &Path, trust: &str, stdin: Option<&Path>, args: &[&str]) -> Out {
        let mut cmd = Command::new(bin);
        cmd.arg("-s")
            .arg(&self.url)
            .arg("--tlscacert")
            .arg(&self.ca)
            .arg("-d")
            .arg(self.path(trust))
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env_remove("NOTARY_AUTH")
            .env_remove("SIGNET_ROOT_KEY")
            .envs(PASS)
            .stdin(match stdin {
                Some(p) => Stdio::from(std::fs::File::open(p).expect("stdin file")),
                None => Stdio::null(),
            });
        let o = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn notary(&self, trust: &str, args: &[&str]) -> Out {
        self.run(Path::new("notary"), trust, None, args)
    }

    /// `notary` that must succeed.
    fn notary_ok(&self, trust: &str, args: &[&str]) -> Out {
        let o = self.notary(trust, args);
        assert_eq!(
            o.code, 0,
            "notary {args:?} failed (Go notary-server up?): {o:?}"
        );
        o
    }

    fn signet(&self, trust: &str, args: &[&str]) -> Out {
        self.run(&util::signet_binary(), trust, None, args)
    }

    /// Runs `args` with notary in `go_trust` and signet in `signet_trust` (same stdin) and
    /// asserts identical stdout and exit code; returns signet's run.
    fn same(&self, go_trust: &str, signet_trust: &str, stdin: Option<&Path>, args: &[&str]) -> Out {
        let go = self.run(Path::new("notary"), go_trust, stdin, args);
        let ours = self.run(&util::signet_binary(), signet_trust, stdin, args);
        assert_eq!(
            (go.code, &go.stdout),
            (ours.code, &ours.stdout),
            "`{}` differs between notary (left) and signet (right)\nnotary stderr: {}\nsignet stderr: {}",
            args.join(" "),
            go.stderr,
            ours.stderr
        );
        ours
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// A P-256 key (PKCS#8) and self-signed certificate for a delegate, via openssl.
    fn delegate(&self, name: &str) -> (PathBuf, PathBuf) {
        let key = self.path(&format!("{name}.key"));
        let cert = self.path(&format!("{name}.crt"));
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out {k} && \
                 openssl req -x509 -new -key {k} -sha256 -days 365 -subj /CN={name} -out {c}",
                k = key.display(),
                c = cert.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(ok.success(), "openssl could not make a delegate key");
        (key, cert)
    }
}

fn gun(name: &str) -> String {
    format!("example.com/signet-compat/{}/{name}", util::random_hex(6))
}

/// A repository with targets by file and by hash, a delegation with a target, and a
/// path-restricted delegation with two keys; published by the Go CLI.
fn published(w: &World) -> String {
    let g = gun("repo");
    let f1 = w.write("f1.txt", "compat target one\n");
    w.write("f2.txt", "compat target two\n");
    let f3 = w.write("f3.txt", "compat target three, by the releases delegate\n");
    let (rel_key, rel_cert) = w.delegate("releases");
    let (_, qa1) = w.delegate("qa1");
    let (_, qa2) = w.delegate("qa2");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    w.notary_ok("go", &["init", &g, "-p"]);
    w.notary_ok("go", &["add", &g, "v1", &s(&f1)]);
    w.notary_ok(
        "go",
        &[
            "addhash",
            &g,
            "v2",
            "18",
            "--sha256",
            "0f0e6b1d0f5ac1e1b5a8ef1bd6bdfa1d3ac4f4e1f7f4d1d0b1e6f5a4b3c2d1e0",
            "-p",
        ],
    );
    w.notary_ok(
        "go",
        &[
            "delegation",
            "add",
            &g,
            "targets/releases",
            &s(&rel_cert),
            "--all-paths",
            "-p",
        ],
    );
    w.notary_ok(
        "go",
        &[
            "delegation",
            "add",
            &g,
            "targets/qa",
            &s(&qa1),
            &s(&qa2),
            "--paths",
            "qa/,test/",
            "-p",
        ],
    );
    w.notary_ok(
        "go",
        &["key", "import", &s(&rel_key), "-r", "targets/releases"],
    );
    w.notary_ok(
        "go",
        &["add", &g, "v3", &s(&f3), "-r", "targets/releases", "-p"],
    );
    g
}

#[test]
fn read_only_commands_match_notary_byte_for_byte() {
    let w = World::new();
    let g = published(&w);
    let never = gun("never");
    let (f1, f2) = (w.path("f1.txt"), w.path("f2.txt"));

    // fresh trust dirs on both sides (TOFU), then the warm caches
    for (go, ours) in [("go-ro", "signet-ro"), ("go-ro", "signet-ro")] {
        let l = w.same(go, ours, None, &["list", &g]);
        assert!(
            l.stdout.contains("targets/releases") && l.stdout.contains("v3"),
            "{l:?}"
        );
        w.same(go, ours, None, &["list", &g, "-r", "targets/releases"]);
        w.same(
            go,
            ours,
            None,
            &["list", &g, "--roles", "targets/releases,targets"],
        );
        w.same(go, ours, None, &["list", &g, "-r", "targets/qa"]);
        w.same(go, ours, None, &["lookup", &g, "v1"]);
        w.same(go, ours, None, &["lookup", &g, "v3"]);
        w.same(go, ours, None, &["lookup", &g, "missing"]);
        let v = w.same(go, ours, Some(&f1), &["verify", &g, "v1"]);
        assert_eq!(v.stdout, "compat target one\n");
        w.same(go, ours, Some(&f1), &["verify", &g, "v1", "-q"]);
        // v2 has only a sha256, so notary's message is deterministic
        let bad = w.same(go, ours, Some(&f2), &["verify", &g, "v2"]);
        assert_eq!(bad.code, 1);
        w.same(go, ours, Some(&f1), &["verify", &g, "missing"]);
        let d = w.same(go, ours, None, &["delegation", "list", &g]);
        assert!(
            d.stdout.contains("targets/qa") && d.stdout.contains("test/"),
            "{d:?}"
        );
    }
    // a repository that does not exist
    for args in [
        vec!["list", never.as_str()],
        vec!["lookup", never.as_str(), "v1"],
        vec!["delegation", "list", never.as_str()],
    ] {
        let o = w.same("go-never", "signet-never", None, &args);
        assert_eq!(o.code, 1);
    }
    // each client reads the trust directory the other filled
    w.same("signet-ro", "go-ro", None, &["list", &g]);
    w.same("signet-ro", "go-ro", None, &["delegation", "list", &g]);

    // JSON (Signet extension)
    let j = w.signet("signet-ro", &["list", &g, "--json"]);
    assert_eq!(j.code, 0, "{j:?}");
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("list --json is JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v1", "v2", "v3"]);
    assert_eq!(v[2]["role"], "targets/releases");
    let j = w.signet("signet-ro", &["lookup", &g, "v1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("lookup --json is JSON");
    assert_eq!(v["size"], 18);
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
}

/// `notary status` and `signet status` show the same staged changes whoever staged them;
/// Go publishes what signet staged, and signet resets what Go staged.
#[test]
fn changelists_cross_between_notary_and_signet() {
    let w = World::new();
    let g = gun("staged");
    let f = w.write("s1.txt", "staged by signet\n");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    w.notary_ok("go", &["init", &g, "-p"]);
    w.notary_ok("go", &["add", &g, "old", &s(&f), "-p"]);

    // nothing staged: identical message
    w.same("go", "go", None, &["status", &g]);

    // signet stages in Go's trust dir
    let o = w.signet("go", &["add", &g, "by-signet", &s(&f)]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (
            0,
            format!(
                "Addition of target \"by-signet\" to repository \"{g}\" staged for next publish.\n"
            )
            .as_str()
        )
    );
    let sha = "a".repeat(64);
    let o = w.signet("go", &["addhash", &g, "by-hash", "99", "--sha256", &sha]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = w.signet("go", &["remove", &g, "old"]);
    assert_eq!(
        o.stdout,
        format!("Removal of old from {g} staged for next publish.\n")
    );
    let st = w.same("go", "go", None, &["status", &g]);
    assert!(
        st.stdout
            .contains("create    targets    target    by-signet"),
        "{st:?}"
    );
    assert!(
        st.stdout.contains("delete    targets    target    old"),
        "{st:?}"
    );

    // Go publishes signet's changes
    w.notary_ok("go", &["publish", &g]);
    let l = w.same("go", "signet-fresh", None, &["list", &g]);
    assert!(
        l.stdout.contains("by-signet") && l.stdout.contains("by-hash"),
        "{l:?}"
    );
    assert!(!l.stdout.contains("old "), "{l:?}");
    w.same("go", "go", None, &["status", &g]);

    // Go stages; signet shows and resets
    w.notary_ok("go", &["add", &g, "go1", &s(&f)]);
    w.notary_ok("go", &["add", &g, "go2", &s(&f), "-r", "targets/releases"]);
    w.notary_ok("go", &["remove", &g, "by-hash"]);
    w.same("go", "go", None, &["status", &g]);
    let r = w.signet("go", &["reset", &g, "-n", "1"]);
    assert_eq!(
        r.stdout,
        format!("Successfully reset specified changes for repository {g}\n")
    );
    let st = w.same("go", "go", None, &["status", &g]);
    assert!(
        st.stdout.contains("go1") && !st.stdout.contains("go2"),
        "{st:?}"
    );
    let r = w.signet("go", &["reset", &g]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "\n* fatal: Must specify changes to reset with -n or the --all flag\n"
    );
    w.signet("go", &["reset", &g, "--all"]);
    let st = w.same("go", "go", None, &["status", &g]);
    assert_eq!(st.stdout, format!("No unpublished changes for {g}\n"));
}

/// `signet init -p` and `signet add -p` sign with keys from signet's own store (passphrases
/// from NOTARY_*_PASSPHRASE); the Go CLI, from a fresh trust dir, lists the target signet
/// published, byte for byte as signet lists it, and reads signet's key files.
#[test]
fn signet_publishes_with_its_key_store_and_notary_reads_it() {
    let w = World::new();
    let g = gun("signet-published");
    let f = w.write("p1.txt", "published by signet\n");
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let o = w.signet("signet", &["init", &g, "-p"]);
    assert_eq!(o.code, 0, "signet init -p failed: {o:?}");
    let o = w.signet("signet", &["add", &g, "by-signet", &s(&f), "-p"]);
    assert_eq!(o.code, 0, "signet add -p failed: {o:?}");
    assert!(o.stdout.contains("Auto-publishing changes to"), "{o:?}");

    let go = w.notary_ok("go-fresh", &["list", &g]);
    assert!(go.stdout.contains("by-signet"), "{go:?}");
    let ours = w.signet("signet-fresh", &["list", &g]);
    assert_eq!((ours.code, &ours.stdout), (go.code, &go.stdout), "{ours:?}");
    let ours = w.signet("signet", &["list", &g]);
    assert_eq!((ours.code, &ours.stdout), (go.code, &go.stdout), "{ours:?}");

    // The Go CLI reads the keys signet stored: root, and targets and snapshot for the GUN.
    let keys = w.notary_ok("signet", &["key", "list"]);
    for role in ["root", "targets", "snapshot"] {
        assert!(
            keys.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(role)),
            "no {role} key in {keys:?}"
        );
    }
}

#[test]
fn trust_pinning_fails_closed_and_first_use_is_announced() {
    let w = World::new();
    let g = gun("pinned");
    w.notary_ok("go", &["init", &g, "-p"]);
    let root_json = w.path("go/tuf").join(&g).join("metadata/root.json");
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&root_json).expect("Go cached root.json")).unwrap();
    let root_id = root["signed"]["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // TOFU: works, and says which key it trusted
    let o = w.signet("tofu", &["list", &g]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("on first use") && o.stderr.contains(&root_id),
        "no first-use warning naming {root_id}: {o:?}"
    );
    // the second time the root comes from the trust dir: no warning
    let o = w.signet("tofu", &["list", &g]);
    assert!(!o.stderr.contains("on first use"), "{o:?}");

    // a pinned root key by flag: the right one works, any other fails closed, even with a
    // cached root
    let o = w.signet("pin-ok", &["list", &g, "--pin-root-key", &root_id]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stderr.contains("on first use"), "{o:?}");
    let other = "0".repeat(64);
    for dir in ["pin-bad", "tofu"] {
        let o = w.signet(dir, &["list", &g, "--pin-root-key", &other]);
        assert_eq!(o.code, 1, "a foreign pin must fail: {o:?}");
        assert!(o.stdout.contains("* fatal:"), "{o:?}");
    }
    let mut cmd = Command::new(util::signet_binary());
    let o = cmd
        .args(["-s", &w.url, "--tlscacert"])
        .arg(&w.ca)
        .arg("-d")
        .arg(w.path("pin-env"))
        .args(["list", &g])
        .env("SIGNET_ROOT_KEY", &other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "SIGNET_ROOT_KEY must pin");

    // notary's config file: disable_tofu refuses a fresh GUN; certs pinning accepts the
    // right key by GUN wildcard and refuses another
    let cfg = |name: &str, pinning: serde_json::Value| {
        let p = w.path(name);
        std::fs::write(
            &p,
            serde_json::json!({
                "remote_server": {"url": w.url, "root_ca": w.ca},
                "trust_pinning": pinning,
            })
            .to_string(),
        )
        .unwrap();
        p
    };
    let no_tofu = cfg("no-tofu.json", serde_json::json!({"disable_tofu": true}));
    let prefix = format!("{}*", &g[..g.rfind('/').unwrap() + 1]);
    let good = cfg(
        "good.json",
        serde_json::json!({"certs": {prefix: [root_id]}, "disable_tofu": true}),
    );
    let bad = cfg(
        "bad.json",
        serde_json::json!({"certs": {g.clone(): [other]}}),
    );
    let with_config = |config: &Path, dir: &str| {
        Command::new(util::signet_binary())
            .arg("-c")
            .arg(config)
            .arg("-d")
            .arg(w.path(dir))
            .args(["list", &g])
            .env("HOME", w.path("home"))
            .env_remove("SIGNET_ROOT_KEY")
            .output()
            .unwrap()
    };
    let o = with_config(&no_tofu, "cfg-1");
    assert_eq!(
        o.status.code(),
        Some(1),
        "disable_tofu must refuse a fresh GUN"
    );
    let o = with_config(&good, "cfg-2");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = with_config(&bad, "cfg-3");
    assert_eq!(o.status.code(), Some(1));
}
