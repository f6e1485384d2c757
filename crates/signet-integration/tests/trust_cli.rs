//! `signet trust` next to the real docker CLI 28 (`docker trust` needs no daemon) on the
//! same repositories, signed with the Go `notary` CLI into docker's trust directory:
//! `inspect [--pretty]` prints byte for byte what docker prints (stdout and exit code, and
//! stderr but for the warnings the two word differently), against the Go notary-server and
//! against `signet server`; `key generate`/`key load` write keys docker and notary use;
//! `resolve`, `root-key` and `verify` (with images in a real registry: Docker and OCI
//! manifests, an OCI index) accept what is signed and refuse everything else.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go notary-server, docker-registry on
//! 127.0.0.1:5000), the docker CLI 28 and the Go `notary` CLI on PATH, and a built
//! `signet` (`cargo build -p signet-cli`).

use std::path::Path;

use crate::util::docker_world::{Out, World};
use crate::util::registry::{
    AuthRegistry, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Pusher, RegistryAuth, blocking,
    shared_registry, write_docker_auth,
};
use crate::util::{self, Db, SignetServer};

fn hex() -> String {
    util::random_hex(32)
}

/// Signs, with the Go notary CLI in the `pub` configuration, a repository with signers
/// alice and bob in targets/releases, delegations targets/alice, targets/bob (keys bob and
/// carol) and targets/carol-x, and tags: `v1` in releases, alice and bob; `v2` in releases
/// and targets; `v10` in releases, and under another digest in carol-x; `latest` only in
/// targets/bob (not released); `9` only in targets. Returns the digests by tag.
fn rich_repo(w: &World, gun: &str) -> std::collections::BTreeMap<&'static str, String> {
    let keys = w.path("keys");
    let keys_s = keys.to_string_lossy().into_owned();
    for name in ["alice", "bob", "carol"] {
        if !keys.join(format!("{name}.pub")).exists() {
            World::ok(
                w.docker("pub", &["trust", "key", "generate", name, "--dir", &keys_s]),
                "docker trust key generate",
            );
        }
    }
    let k = |n: &str| format!("{keys_s}/{n}.pub");
    w.notary("pub", &["init", gun]);
    for (role, signers) in [
        ("targets/releases", vec!["alice", "bob"]),
        ("targets/alice", vec!["alice"]),
        ("targets/bob", vec!["bob", "carol"]),
        ("targets/carol-x", vec!["carol"]),
    ] {
        let mut args = vec![
            "delegation".to_owned(),
            "add".into(),
            gun.into(),
            role.into(),
        ];
        args.extend(signers.iter().map(|s| k(s)));
        args.push("--all-paths".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.notary("pub", &args);
    }
    w.notary("pub", &["publish", gun]);
    let digests: std::collections::BTreeMap<&str, String> = [
        ("v1", hex()),
        ("v2", hex()),
        ("v10", hex()),
        ("v10-carol", hex()),
        ("latest", hex()),
        ("9", hex()),
    ]
    .into_iter()
    .collect();
    for (tag, digest, roles) in [
        (
            "v1",
            &digests["v1"],
            "targets/releases,targets/alice,targets/bob",
        ),
        ("v2", &digests["v2"], "targets/releases,targets"),
        ("v10", &digests["v10"], "targets/releases"),
        ("v10", &digests["v10-carol"], "targets/carol-x"),
        ("latest", &digests["latest"], "targets/bob"),
        ("9", &digests["9"], "targets"),
    ] {
        w.notary(
            "pub",
            &["addhash", gun, tag, "1234", "--sha256", digest, "-r", roles],
        );
    }
    w.notary("pub", &["publish", gun]);
    digests
}

/// A repository without delegations: `t1` and `t2` in targets.
fn plain_repo(w: &World, gun: &str) {
    w.notary("pub", &["init", gun]);
    for tag in ["t1", "t2"] {
        w.notary("pub", &["addhash", gun, tag, "99", "--sha256", &hex()]);
    }
    w.notary("pub", &["publish", gun]);
}

/// Runs `trust inspect args` with docker and with signet, each in a fresh configuration
/// (empty cache: both trust on first use), and returns both.
fn both(w: &World, n: usize, args: &[&str]) -> (Out, Out) {
    let mut full = vec!["trust", "inspect"];
    full.extend_from_slice(args);
    let d = w.docker(&format!("docker-{n}"), &full);
    let s = w.signet(&format!("signet-{n}"), &full);
    (d, s)
}

fn assert_inspect_matches_docker(server: &str, ca: &Path) {
    let w = World::new(server, ca);
    let prefix = format!("127.0.0.1:5000/ti-{}", util::random_hex(4));
    let rich = format!("{prefix}/rich");
    let plain = format!("{prefix}/plain");
    let empty = format!("{prefix}/empty");
    let missing = format!("{prefix}/missing");
    rich_repo(&w, &rich);
    plain_repo(&w, &plain);
    w.notary("pub", &["init", &empty, "-p"]);

    let cases: Vec<Vec<String>> = vec![
        vec![rich.clone()],
        vec![format!("{rich}:v1")],
        vec![format!("{rich}:v10")],
        vec![format!("{rich}:latest")],
        vec![format!("{rich}:nope")],
        vec![format!("{rich}:9")],
        vec![plain.clone()],
        vec![format!("{plain}:t2")],
        vec![empty],
        vec![missing.clone()],
        vec![rich.clone(), missing, format!("{plain}:t1")],
        vec![format!("{rich}:v1@sha256:{}", "a".repeat(64))],
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for case in &cases {
        for pretty in [false, true] {
            n += 1;
            let mut args: Vec<&str> = Vec::new();
            if pretty {
                args.push("--pretty");
            }
            args.extend(case.iter().map(String::as_str));
            let (d, s) = both(&w, n, &args);
            if d.stdout != s.stdout
                || d.code != s.code
                || d.stderr_without_warnings() != s.stderr_without_warnings()
            {
                failures.push(format!(
                    "trust inspect {args:?}\n--- docker (exit {}):\n{}{}\n--- signet (exit {}):\n{}{}",
                    d.code, d.stdout, d.stderr, s.code, s.stdout, s.stderr
                ));
            }
            if case == &cases[0] && !pretty {
                // the case that exercises everything did print tags and signers
                assert!(d.stdout.contains("\"SignedTag\": \"v10\""), "{}", d.stdout);
                assert_eq!(d.code, 0, "{}", d.stderr);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "signet trust inspect differs from docker trust inspect on {server}:\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn inspect_is_byte_identical_to_docker_on_go_server() {
    let url = util::go_notary_url();
    assert_inspect_matches_docker(&url, &util::peer_certs().ca);
}

#[test]
fn inspect_is_byte_identical_to_docker_on_signet_server() {
    util::go_notary_url(); // the peers' certificates
    let server = SignetServer::start(Db::Sqlite);
    assert_inspect_matches_docker(server.url(), server.ca());
}

#[test]
fn keys_generated_and_loaded_by_signet_sign_for_docker_and_notary() {
    let url = util::go_notary_url();
    let w = World::new(&url, &util::peer_certs().ca);
    let keys = w.path("keys");
    let keys_s = keys.to_string_lossy().into_owned();

    // generate: docker's messages, a key docker and notary use
    let d = w.docker(
        "docker",
        &["trust", "key", "generate", "erin", "--dir", &keys_s],
    );
    let s = w.signet(
        "pub",
        &["trust", "key", "generate", "dave", "--dir", &keys_s],
    );
    assert_eq!((d.code, s.code), (0, 0), "{}{}", d.stderr, s.stderr);
    assert_eq!(s.stdout, d.stdout.replace("erin", "dave"));
    let public = std::fs::read_to_string(keys.join("dave.pub")).unwrap();
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\nrole: dave\n\n"),
        "{public}"
    );
    for args in [
        vec!["trust", "key", "generate", "Dave", "--dir", &keys_s],
        vec!["trust", "key", "generate", "dave", "--dir", &keys_s],
        vec!["trust", "key", "generate", "x", "--dir", "/nonexistent-dir"],
    ] {
        let d = w.docker("docker", &args);
        let s = w.signet("pub", &args);
        assert_eq!(
            (s.code, &s.stdout, &s.stderr),
            (d.code, &d.stdout, &d.stderr),
            "{args:?}"
        );
    }
    let gun = format!("127.0.0.1:5000/tk-{}/app", util::random_hex(4));
    World::ok(
        w.docker(
            "pub",
            &[
                "trust",
                "signer",
                "add",
                "--key",
                &format!("{keys_s}/dave.pub"),
                "dave",
                &gun,
            ],
        ),
        "docker trust signer add (signet's key)",
    );
    let digest = hex();
    w.notary(
        "pub",
        &[
            "addhash",
            &gun,
            "v1",
            "7",
            "--sha256",
            &digest,
            "-r",
            "targets/dave,targets/releases",
            "-p",
        ],
    );
    let inspect = World::ok(
        w.docker("reader", &["trust", "inspect", &format!("{gun}:v1")]),
        "inspect",
    );
    assert!(
        inspect.contains(&digest) && inspect.contains("\"dave\""),
        "{inspect}"
    );

    // load: an unencrypted key and an encrypted one docker wrote; the same messages
    let plain = keys.join("plain.key");
    let keygen = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&plain)
        .output()
        .expect("openssl");
    assert!(keygen.status.success());
    chmod(&plain, 0o600);
    let plain_s = plain.to_string_lossy().into_owned();
    let d = w.docker(
        "docker-load",
        &["trust", "key", "load", &plain_s, "--name", "plainy"],
    );
    let s = w.signet(
        "signet-load",
        &["trust", "key", "load", &plain_s, "--name", "plainy"],
    );
    assert_eq!(
        (s.code, &s.stdout),
        (d.code, &d.stdout),
        "{}{}",
        d.stderr,
        s.stderr
    );
    let listed = w.notary("signet-load", &["key", "list"]).stdout;
    assert!(listed.contains("plainy"), "{listed}");
    // docker's own encrypted key file: docker 28 reports success and stores nothing;
    // signet stores it (and notary sees it)
    let erin_file = std::fs::read_dir(w.config("docker").join("trust/private"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains("role: erin"))
        .expect("erin's key");
    let copy = keys.join("erin.key");
    std::fs::copy(&erin_file, &copy).unwrap();
    chmod(&copy, 0o600);
    let s = w.signet(
        "signet-load",
        &[
            "trust",
            "key",
            "load",
            &copy.to_string_lossy(),
            "--name",
            "erin",
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    let listed = w.notary("signet-load", &["key", "list"]).stdout;
    assert!(listed.contains("erin"), "{listed}");
    for (file, mode) in [(&plain, 0o644), (&keys.join("dave.pub"), 0o600)] {
        chmod(file, mode);
        let args = ["trust", "key", "load", &file.to_string_lossy()];
        let d = w.docker("docker-load", &args);
        let s = w.signet("signet-load", &args);
        assert_eq!(
            (s.code, &s.stdout, &s.stderr),
            (d.code, &d.stdout, &d.stderr),
            "{args:?}"
        );
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn resolve_and_root_key_give_what_is_signed_and_fail_closed() {
    let url = util::go_notary_url();
    let w = World::new(&url, &util::peer_certs().ca);
    let gun = format!("127.0.0.1:5000/tr-{}/rich", util::random_hex(4));
    let d = rich_repo(&w, &gun);

    let out = World::ok(
        w.signet("r", &["trust", "resolve", &format!("{gun}:v1")]),
        "resolve",
    );
    assert_eq!(out, format!("{gun}:v1@sha256:{}\n", d["v1"]));
    let out = World::ok(
        w.signet("r", &["trust", "resolve", "--json", &format!("{gun}:9")]),
        "resolve",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["role"], "targets");
    assert_eq!(v["digest"], format!("sha256:{}", d["9"]));
    assert_eq!(v["size"], 1234);
    assert_eq!(v["reference"], format!("{gun}:9@sha256:{}", d["9"]));
    let pinned = format!("{gun}:v2@sha256:{}", d["v2"]);
    assert_eq!(
        World::ok(
            w.signet("r", &["trust", "resolve", &pinned]),
            "resolve pinned"
        ),
        format!("{pinned}\n")
    );
    for bad in [
        format!("{gun}:latest"),                // only targets/bob signs it
        format!("{gun}:nope"),                  // not signed at all
        format!("{gun}:v1@sha256:{}", d["v2"]), // another tag's digest
        gun.clone(),                            // latest again
        format!("127.0.0.1:5000/tr-none-{}/x:v1", util::random_hex(4)), // no trust data
    ] {
        let s = w.signet("r", &["trust", "resolve", &bad]);
        assert_eq!(
            s.code, 1,
            "resolve {bad} must fail:\n{}{}",
            s.stdout, s.stderr
        );
        assert!(s.stdout.is_empty(), "{}", s.stdout);
    }

    // root-key: the PEM and the canonical ID of the root key the publisher holds
    let pem = World::ok(w.signet("rk", &["trust", "root-key", &gun]), "root-key");
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && pem.trim_end().ends_with("-----END PUBLIC KEY-----"),
        "{pem}"
    );
    let id = World::ok(
        w.signet("rk", &["trust", "root-key", "--id", &gun]),
        "root-key --id",
    );
    let id = id.trim();
    assert!(
        w.config("pub")
            .join(format!("trust/private/{id}.key"))
            .is_file(),
        "root key {id} is not the publisher's root key"
    );
    let ok = w.signet("pinned", &["--pin-root-key", id, "trust", "inspect", &gun]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(!ok.stderr.contains("first use"), "{}", ok.stderr);
    let wrong = w.signet(
        "wrong-pin",
        &[
            "--pin-root-key",
            &hex(),
            "trust",
            "resolve",
            &format!("{gun}:v1"),
        ],
    );
    assert_eq!(
        wrong.code, 1,
        "a root other than the pinned one must fail:\n{}",
        wrong.stdout
    );
    assert!(wrong.stdout.is_empty());
    // the notary-only server flags are refused, not ignored
    let s = w.signet(
        "r",
        &["-s", "https://elsewhere:4443", "trust", "inspect", &gun],
    );
    assert_eq!(s.code, 1);
    assert!(
        s.stderr.contains("DOCKER_CONTENT_TRUST_SERVER"),
        "{}",
        s.stderr
    );
}

#[test]
fn verify_checks_tags_indexes_and_platform_manifests_against_the_registry() {
    let url = util::go_notary_url();
    let host = shared_registry();
    let w = World::new(&url, &util::peer_certs().ca);
    let repo = format!("tv-{}/multi", util::random_hex(4));
    let gun = format!("{host}/{repo}");
    let (docker_m, oci_m, amd, arm, index, unsigned) = blocking(async {
        let p = Pusher::new(host, None);
        let docker_m = p.image(&repo, "docker", DOCKER_MANIFEST, "docker").await;
        let oci_m = p.image(&repo, "oci", OCI_MANIFEST, "oci").await;
        let amd = p.image(&repo, "amd64-only", OCI_MANIFEST, "amd64").await;
        let arm = p.image(&repo, "arm64-only", OCI_MANIFEST, "arm64").await;
        let index = p
            .index(
                &repo,
                "multi",
                OCI_INDEX,
                &[(&amd, "linux/amd64"), (&arm, "linux/arm64/v8")],
            )
            .await;
        let unsigned = p.image(&repo, "unsigned", OCI_MANIFEST, "unsigned").await;
        (docker_m, oci_m, amd, arm, index, unsigned)
    });
    w.notary("pub", &["init", &gun]);
    for (tag, m) in [("docker", &docker_m), ("oci", &oci_m), ("multi", &index)] {
        w.notary(
            "pub",
            &[
                "addhash",
                &gun,
                tag,
                &m.size.to_string(),
                "--sha256",
                m.digest.trim_start_matches("sha256:"),
            ],
        );
    }
    w.notary("pub", &["publish", &gun]);

    let verify = |arg: String| w.signet("v", &["trust", "verify", &arg]);
    for tag in ["docker", "oci", "multi"] {
        let out = verify(format!("{gun}:{tag}"));
        assert_eq!(out.code, 0, "verify {tag}: {}{}", out.stdout, out.stderr);
    }
    let out = verify(format!("{gun}:multi"));
    assert!(
        out.stdout.contains(&index.digest) && out.stdout.contains("linux/arm64/v8"),
        "{}",
        out.stdout
    );
    // a platform manifest: accepted because the signed index lists it
    for (child, platform) in [(&amd, "linux/amd64"), (&arm, "linux/arm64/v8")] {
        let out = verify(format!("{gun}@{}", child.digest));
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(platform)
                && out
                    .stdout
                    .contains(&format!("{gun}:multi@{}", index.digest)),
            "{}",
            out.stdout
        );
        let out = verify(format!("{gun}:multi@{}", child.digest));
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        // listed by multi's index, not by oci's manifest
        let out = verify(format!("{gun}:oci@{}", child.digest));
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    }
    // a digest signed directly
    assert_eq!(verify(format!("{gun}@{}", oci_m.digest)).code, 0);
    // refused: a pushed but unsigned manifest, by digest and by tag; an unknown digest
    for bad in [
        format!("{gun}@{}", unsigned.digest),
        format!("{gun}:unsigned"),
        format!("{gun}@sha256:{}", hex()),
        format!("{gun}:amd64-only"),
    ] {
        let out = verify(bad.clone());
        assert_eq!(out.code, 1, "verify {bad} must fail: {}", out.stdout);
        assert!(out.stdout.is_empty());
    }
    // the tag moved in the registry: what it serves is no longer what is signed
    blocking(async {
        let p = Pusher::new(host, None);
        p.manifest(&repo, "oci", OCI_MANIFEST, unsigned.bytes.clone())
            .await;
    });
    let out = verify(format!("{gun}:oci"));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("the registry serves"), "{}", out.stderr);
}

/// `signet trust sign` reads what the registry serves and signs it as docker would; the
/// docker CLI then shows exactly that (and prints what `signet trust inspect` prints).
#[test]
fn docker_shows_what_signet_trust_sign_signed_from_the_registry() {
    let url = util::go_notary_url();
    let host = shared_registry();
    let w = World::new(&url, &util::peer_certs().ca);
    let repo = format!("ts-{}/app", util::random_hex(4));
    let gun = format!("{host}/{repo}");
    let (docker_m, oci_m, amd, arm, index, moved) = blocking(async {
        let p = Pusher::new(host, None);
        let docker_m = p.image(&repo, "docker", DOCKER_MANIFEST, "docker").await;
        let oci_m = p.image(&repo, "oci", OCI_MANIFEST, "oci").await;
        let amd = p.image(&repo, "amd64-only", OCI_MANIFEST, "amd").await;
        let arm = p.image(&repo, "arm64-only", OCI_MANIFEST, "arm").await;
        let index = p
            .index(
                &repo,
                "multi",
                OCI_INDEX,
                &[(&amd, "linux/amd64"), (&arm, "linux/arm64")],
            )
            .await;
        let moved = p.image(&repo, "next", OCI_MANIFEST, "moved").await;
        (docker_m, oci_m, amd, arm, index, moved)
    });
    let keys = w.path("keys");
    let keys_s = keys.to_string_lossy().into_owned();
    for name in ["alice", "bob"] {
        World::ok(
            w.signet("pub", &["trust", "key", "generate", name, "--dir", &keys_s]),
            "signet trust key generate",
        );
    }
    let out = World::ok(
        w.signet(
            "pub",
            &[
                "trust",
                "signer",
                "add",
                "--key",
                &format!("{keys_s}/alice.pub"),
                "alice",
                &gun,
            ],
        ),
        "signer add",
    );
    assert!(out.contains("Initializing signed repository"), "{out}");
    for tag in ["docker", "oci", "multi"] {
        let out = World::ok(
            w.signet("pub", &["trust", "sign", &format!("{gun}:{tag}")]),
            "sign",
        );
        assert!(
            out.ends_with(&format!("Successfully signed {gun}:{tag}\n")),
            "{out}"
        );
    }
    let expect_rows = |rows: &[(&str, &str, &[&str])]| {
        let d = World::ok(
            w.docker(
                &format!("docker-{}", util::random_hex(3)),
                &["trust", "inspect", &gun],
            ),
            "docker trust inspect",
        );
        let s = World::ok(
            w.signet(
                &format!("signet-{}", util::random_hex(3)),
                &["trust", "inspect", &gun],
            ),
            "signet trust inspect",
        );
        assert_eq!(s, d, "signet and docker inspect differ");
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        let got: Vec<(String, String, Vec<String>)> = v[0]["SignedTags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["SignedTag"].as_str().unwrap().to_owned(),
                    r["Digest"].as_str().unwrap().to_owned(),
                    r["Signers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        let want: Vec<(String, String, Vec<String>)> = rows
            .iter()
            .map(|(t, d, s)| {
                (
                    (*t).to_owned(),
                    d.trim_start_matches("sha256:").to_owned(),
                    s.iter().map(|x| (*x).to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "docker trust inspect:\n{d}");
        d
    };
    expect_rows(&[
        ("docker", &docker_m.digest, &["alice"]),
        ("multi", &index.digest, &["alice"]),
        ("oci", &oci_m.digest, &["alice"]),
    ]);
    // what docker shows also verifies, down to the platform manifests the index lists
    for arg in [
        format!("{gun}:multi"),
        format!("{gun}@{}", arm.digest),
        format!("{gun}@{}", amd.digest),
    ] {
        World::ok(w.signet("v", &["trust", "verify", &arg]), "verify");
    }

    // a second signer co-signs a released tag with the digest already signed
    World::ok(
        w.signet(
            "pub",
            &[
                "trust",
                "signer",
                "add",
                "--key",
                &format!("{keys_s}/bob.pub"),
                "bob",
                &gun,
            ],
        ),
        "signer add bob",
    );
    let out = World::ok(
        w.signet("pub", &["trust", "sign", &format!("{gun}:docker")]),
        "co-sign",
    );
    assert!(
        out.contains(&format!(
            "Existing signatures for tag docker digest {} from:\nalice\n",
            docker_m.digest.trim_start_matches("sha256:")
        )),
        "{out}"
    );
    // the tag moves in the registry: plain `sign` keeps the signed digest, --local signs
    // what the registry serves now
    blocking(Pusher::new(host, None).manifest(&repo, "oci", OCI_MANIFEST, moved.bytes.clone()));
    World::ok(
        w.signet("pub", &["trust", "sign", &format!("{gun}:oci")]),
        "sign again",
    );
    let verify = w.signet("v", &["trust", "verify", &format!("{gun}:oci")]);
    assert_eq!(
        verify.code, 1,
        "the registry no longer serves the signed oci: {}",
        verify.stdout
    );
    World::ok(
        w.signet("pub", &["trust", "sign", "--local", &format!("{gun}:oci")]),
        "sign --local",
    );
    // revoke one tag
    World::ok(
        w.signet("pub", &["trust", "revoke", "-y", &format!("{gun}:multi")]),
        "revoke",
    );
    expect_rows(&[
        ("docker", &docker_m.digest, &["alice", "bob"]),
        ("oci", &moved.digest, &["alice", "bob"]),
    ]);
    World::ok(
        w.signet("v", &["trust", "verify", &format!("{gun}:oci")]),
        "verify after --local",
    );
    let gone = w.signet("v", &["trust", "verify", &format!("{gun}@{}", arm.digest)]);
    assert_eq!(gone.code, 1, "the index was revoked: {}", gone.stdout);
}

/// The first `signet trust sign` of a repository creates it with a signer named after the
/// registry user (docker's rule), with the credentials from config.json; without a user
/// and without --signer it refuses before writing anything.
#[test]
fn first_sign_initializes_with_the_registry_user_as_signer() {
    let url = util::go_notary_url();
    let reg = AuthRegistry::start(RegistryAuth::Basic {
        user: "dave".into(),
        password: "dave-pw-123".into(),
    });
    let host = reg.host_port().to_owned();
    let w = World::new(&url, &util::peer_certs().ca);
    let repo = format!("tf-{}/app", util::random_hex(4));
    let gun = format!("{host}/{repo}");
    let pushed = blocking(
        Pusher::new(&host, Some(reg.push_auth(&repo, "dave", "dave-pw-123"))).image(
            &repo,
            "v1",
            OCI_MANIFEST,
            "first",
        ),
    );
    // no credentials: the registry refuses, nothing is initialized
    let out = w.signet("anon", &["trust", "sign", &format!("{gun}:v1")]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("docker login {host}")),
        "{}",
        out.stderr
    );
    write_docker_auth(&w.config("pub"), &host, "dave", "dave-pw-123");
    let out = World::ok(
        w.signet("pub", &["trust", "sign", &format!("{gun}:v1")]),
        "first sign",
    );
    assert!(
        out.starts_with(&format!(
            "Created signer: dave\nFinished initializing signed repository for {gun}:v1\n"
        )),
        "{out}"
    );
    let d = World::ok(
        w.docker("reader", &["trust", "inspect", "--pretty", &gun]),
        "inspect",
    );
    assert!(
        d.contains(&format!(
            "v1           {}   dave",
            pushed.digest.trim_start_matches("sha256:")
        )),
        "{d}"
    );
    assert!(d.contains("SIGNER    KEYS\ndave "), "{d}");
    // --signer names the first signer when there is no registry user
    let repo2 = format!("tf-{}/other", util::random_hex(4));
    let gun2 = format!("{host}/{repo2}");
    blocking(
        Pusher::new(&host, Some(reg.push_auth(&repo2, "dave", "dave-pw-123"))).image(
            &repo2,
            "v1",
            DOCKER_MANIFEST,
            "second",
        ),
    );
    let out = World::ok(
        w.signet(
            "pub",
            &["trust", "sign", "--signer", "ci-bot", &format!("{gun2}:v1")],
        ),
        "first sign with --signer",
    );
    assert!(out.starts_with("Created signer: ci-bot\n"), "{out}");
}
