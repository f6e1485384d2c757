//! Writes the `update_sequence` document pool (`fuzz/pool/*.json`) and the plain-text
//! seeds of the byte-level targets (`fuzz/seeds/<target>/`).
//!
//! The pool is a small, self-consistent Notary repository for the GUN
//! `docker.io/fuzz/repo`: roots with X.509 root keys (fresh self-signed P-256
//! certificates, valid 2020–2099), targets with delegations, snapshots whose hashes
//! match specific combinations, and deliberately broken variants. Signatures are
//! placeholders: the fuzz target verifies with `AcceptAllSignatures`, so only the
//! listed key IDs matter.
//!
//! Run from the repository root:
//!     cargo run --manifest-path fuzz/Cargo.toml -p signet-fuzz-seedgen --target-dir fuzz/target
//! Certificates are random, so re-running changes every file; the pool is committed
//! and only needs regenerating when the metadata model changes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};
use serde_json::{Map, Value, json};
use signet_core::key::KeyId;
use signet_core::metadata::{
    Base64Bytes, DelegatedRole, Delegations, Expires, FileMeta, Role, RoleKeys, Unsigned,
};
use signet_core::{KeyType, PublicKey, RoleName, Root, Signature, Snapshot, Targets, Timestamp};
use signet_core::{Signed, UnixTime};

const GUN: &str = "docker.io/fuzz/repo";

fn cert_key(cn: &str, ca: bool) -> PublicKey {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 1, 1);
    if ca {
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let kp = KeyPair::generate().expect("keypair");
    let cert = params.self_signed(&kp).expect("self-signed");
    PublicKey::from_cert_chain(&[cert.der().to_vec()])
}

fn ed(n: u8) -> PublicKey {
    PublicKey::new(KeyType::Ed25519, vec![n; 32])
}

fn sig(k: &PublicKey) -> Signature {
    Signature {
        keyid: k.id().clone(),
        method: if k.keytype().is_x509() {
            "ecdsa"
        } else {
            "eddsa"
        }
        .to_owned(),
        sig: Base64Bytes(vec![0x5a; 64]),
    }
}

fn at(y: i32) -> Expires {
    Expires::at(UnixTime::parse_rfc3339(&format!("{y:04}-01-01T00:00:00Z")).expect("time"))
}

fn assemble<T: Role>(role: RoleName, signed: T, signers: &[&PublicKey]) -> Vec<u8> {
    let sigs: Vec<Signature> = signers.iter().map(|k| sig(k)).collect();
    let doc = Unsigned::new(role, signed, vec![], 1)
        .expect("canonical")
        .assemble(&sigs);
    // Every pool document must parse back.
    Signed::<T>::from_bytes(doc.bytes()).expect("reparse");
    doc.bytes().to_vec()
}

struct RootSpec<'a> {
    version: u64,
    expires: i32,
    root_keys: &'a [&'a PublicKey],
    root_threshold: i64,
    others: [&'a PublicKey; 3],
    drop_timestamp: bool,
}

fn root(spec: &RootSpec<'_>, signers: &[&PublicKey]) -> Vec<u8> {
    let mut keys = BTreeMap::new();
    for k in spec.root_keys.iter().chain(spec.others.iter()) {
        keys.insert(k.id().clone(), (*k).clone());
    }
    let rk = |ks: &[&PublicKey], t: i64| RoleKeys {
        keyids: ks.iter().map(|k| k.id().clone()).collect(),
        threshold: t,
        extra: Map::new(),
    };
    let mut roles = BTreeMap::new();
    roles.insert("root".to_owned(), rk(spec.root_keys, spec.root_threshold));
    roles.insert("targets".to_owned(), rk(&[spec.others[0]], 1));
    roles.insert("snapshot".to_owned(), rk(&[spec.others[1]], 1));
    if !spec.drop_timestamp {
        roles.insert("timestamp".to_owned(), rk(&[spec.others[2]], 1));
    }
    let r = Root {
        ty: "Root".to_owned(),
        consistent_snapshot: false,
        expires: at(spec.expires),
        keys,
        roles,
        version: spec.version,
        extra: Map::new(),
    };
    assemble(RoleName::root(), r, signers)
}

fn delegated(name: &str, keys: &[&PublicKey], paths: Option<Vec<&str>>) -> DelegatedRole {
    DelegatedRole {
        keyids: keys.iter().map(|k| k.id().clone()).collect(),
        name: name.to_owned(),
        paths: paths.map(|p| p.into_iter().map(str::to_owned).collect()),
        threshold: 1,
        extra: Map::new(),
    }
}

fn targets(
    version: u64,
    expires: i32,
    dkeys: &[(KeyId, &PublicKey)],
    droles: Vec<DelegatedRole>,
    files: &[(&str, &[u8])],
    extra: Map<String, Value>,
) -> Targets {
    Targets {
        ty: "Targets".to_owned(),
        delegations: Delegations {
            keys: dkeys
                .iter()
                .map(|(id, k)| (id.clone(), (*k).clone()))
                .collect(),
            roles: droles,
            extra: Map::new(),
        },
        expires: at(expires),
        targets: files
            .iter()
            .map(|(n, b)| ((*n).to_owned(), FileMeta::of(b)))
            .collect(),
        version,
        extra,
    }
}

fn snapshot(version: u64, expires: i32, files: &[(&str, &[u8])]) -> Snapshot {
    Snapshot {
        ty: "Snapshot".to_owned(),
        expires: at(expires),
        meta: files
            .iter()
            .map(|(n, b)| ((*n).to_owned(), FileMeta::of(b)))
            .collect(),
        version,
        extra: Map::new(),
    }
}

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pool_dir = fuzz_dir.join("pool");
    let _ = fs::remove_dir_all(&pool_dir);
    fs::create_dir_all(&pool_dir).expect("mkdir pool");

    let a = cert_key(GUN, false);
    let b = cert_key(GUN, false);
    let w = cert_key("docker.io/fuzz/*", false);
    let ca = cert_key(GUN, true);
    let other_gun = cert_key("docker.io/other/repo", false);
    let (t, s, ts) = (ed(1), ed(2), ed(3));
    let (d, d2, dx) = (ed(4), ed(5), cert_key("delegate", false));
    let others = [&t, &s, &ts];

    fn spec<'a>(
        version: u64,
        expires: i32,
        root_keys: &'a [&'a PublicKey],
        root_threshold: i64,
        others: [&'a PublicKey; 3],
    ) -> RootSpec<'a> {
        RootSpec {
            version,
            expires,
            root_keys,
            root_threshold,
            others,
            drop_timestamp: false,
        }
    }
    let mut pool: Vec<(&str, Vec<u8>)> = Vec::new();
    let root_v1 = root(&spec(1, 2090, &[&a], 1, others), &[&a]);
    let root_v2_rot = root(&spec(2, 2090, &[&b], 1, others), &[&a, &b]);
    pool.push(("root_v1", root_v1.clone()));
    pool.push(("root_v2", root(&spec(2, 2090, &[&a], 1, others), &[&a])));
    pool.push(("root_v2_rotated", root_v2_rot.clone()));
    pool.push(("root_v3_b", root(&spec(3, 2090, &[&b], 1, others), &[&b])));
    pool.push((
        "root_v3_b_unsigned_by_b",
        root(&spec(3, 2090, &[&b], 1, others), &[&a]),
    ));
    pool.push((
        "root_v1_wildcard",
        root(&spec(1, 2090, &[&w], 1, others), &[&w]),
    ));
    pool.push((
        "root_v1_expired",
        root(&spec(1, 2021, &[&a], 1, others), &[&a]),
    ));
    pool.push((
        "root_v1_ca_leaf",
        root(&spec(1, 2090, &[&ca], 1, others), &[&ca]),
    ));
    pool.push((
        "root_v1_other_gun",
        root(&spec(1, 2090, &[&other_gun], 1, others), &[&other_gun]),
    ));
    pool.push((
        "root_v1_threshold2",
        root(&spec(1, 2090, &[&a, &b], 2, others), &[&a]),
    ));
    pool.push((
        "root_v2_threshold2",
        root(&spec(2, 2090, &[&a, &b], 2, others), &[&a, &b]),
    ));
    let just_a = [&a];
    let mut no_ts = spec(1, 2090, &just_a, 1, others);
    no_ts.drop_timestamp = true;
    pool.push(("root_v1_no_timestamp_role", root(&no_ts, &[&a])));

    let dkeys = [
        (d.id().clone(), &d),
        (d2.id().clone(), &d2),
        (dx.id().clone(), &dx),
    ];
    let droles = || {
        vec![
            delegated("targets/releases", &[&d], Some(vec![""])),
            delegated("targets/x509", &[&dx], None),
            delegated("targets/other", &[&d2], Some(vec!["other/"])),
        ]
    };
    let targets_v1 = assemble(
        RoleName::targets(),
        targets(1, 2090, &dkeys, droles(), &[], Map::new()),
        &[&t],
    );
    let mut extra = Map::new();
    extra.insert("x-vendor".to_owned(), json!({"b": [1, "<&>"], "a": null}));
    let targets_v2 = assemble(
        RoleName::targets(),
        targets(
            2,
            2090,
            &dkeys,
            droles(),
            &[("hello", b"hello"), ("a/b", b"")],
            extra,
        ),
        &[&t],
    );
    pool.push(("targets_v1", targets_v1.clone()));
    pool.push(("targets_v2", targets_v2));
    pool.push((
        "targets_v1_no_delegations",
        assemble(
            RoleName::targets(),
            targets(1, 2090, &[], vec![], &[], Map::new()),
            &[&t],
        ),
    ));
    pool.push((
        "targets_v1_expired",
        assemble(
            RoleName::targets(),
            targets(1, 2021, &[], vec![], &[], Map::new()),
            &[&t],
        ),
    ));
    pool.push((
        "targets_v1_not_direct_child",
        assemble(
            RoleName::targets(),
            targets(
                1,
                2090,
                &dkeys,
                vec![delegated("targets/releases/deep", &[&d], None)],
                &[],
                Map::new(),
            ),
            &[&t],
        ),
    ));
    pool.push((
        "targets_v1_key_id_mismatch",
        assemble(
            RoleName::targets(),
            targets(
                1,
                2090,
                &[(KeyId::new("00ff"), &d)],
                vec![],
                &[],
                Map::new(),
            ),
            &[&t],
        ),
    ));
    pool.push((
        "targets_v1_unsigned",
        assemble(
            RoleName::targets(),
            targets(1, 2090, &dkeys, droles(), &[], Map::new()),
            &[&s],
        ),
    ));

    let releases = |n: &str| RoleName::parse(n).expect("role");
    let releases_v1 = assemble(
        releases("targets/releases"),
        targets(
            1,
            2090,
            &[(d2.id().clone(), &d2)],
            vec![delegated("targets/releases/sub", &[&d2], Some(vec![""]))],
            &[("app", b"app v1")],
            Map::new(),
        ),
        &[&d],
    );
    pool.push(("releases_v1", releases_v1.clone()));
    pool.push((
        "releases_v2",
        assemble(
            releases("targets/releases"),
            targets(2, 2090, &[], vec![], &[("app", b"app v2")], Map::new()),
            &[&d],
        ),
    ));
    pool.push((
        "releases_sub_v1",
        assemble(
            releases("targets/releases/sub"),
            targets(1, 2090, &[], vec![], &[("lib", b"x")], Map::new()),
            &[&d2],
        ),
    ));
    pool.push((
        "x509_v1",
        assemble(
            releases("targets/x509"),
            targets(1, 2090, &[], vec![], &[], Map::new()),
            &[&dx],
        ),
    ));
    pool.push((
        "other_v1",
        assemble(
            releases("targets/other"),
            targets(1, 2090, &[], vec![], &[("other/x", b"o")], Map::new()),
            &[&d2],
        ),
    ));

    let snapshot_v1 = assemble(
        RoleName::snapshot(),
        snapshot(1, 2090, &[("root", &root_v1), ("targets", &targets_v1)]),
        &[&s],
    );
    pool.push(("snapshot_v1", snapshot_v1.clone()));
    pool.push((
        "snapshot_v2_with_releases",
        assemble(
            RoleName::snapshot(),
            snapshot(
                2,
                2090,
                &[
                    ("root", &root_v1),
                    ("targets", &targets_v1),
                    ("targets/releases", &releases_v1),
                ],
            ),
            &[&s],
        ),
    ));
    pool.push((
        "snapshot_v2_rotated",
        assemble(
            RoleName::snapshot(),
            snapshot(2, 2090, &[("root", &root_v2_rot), ("targets", &targets_v1)]),
            &[&s],
        ),
    ));
    pool.push((
        "snapshot_v1_bad_hash",
        assemble(
            RoleName::snapshot(),
            snapshot(
                1,
                2090,
                &[("root", b"not the root"), ("targets", &targets_v1)],
            ),
            &[&s],
        ),
    ));
    pool.push((
        "snapshot_v1_expired",
        assemble(
            RoleName::snapshot(),
            snapshot(1, 2021, &[("root", &root_v1), ("targets", &targets_v1)]),
            &[&s],
        ),
    ));
    let ts_doc = Timestamp {
        ty: "Timestamp".to_owned(),
        expires: at(2090),
        meta: [("snapshot".to_owned(), FileMeta::of(&snapshot_v1))].into(),
        version: 1,
        extra: Map::new(),
    };
    pool.push((
        "timestamp_v1",
        assemble(RoleName::timestamp(), ts_doc, &[&ts]),
    ));

    let mut index =
        String::from("// Generated by fuzz/seedgen: the update_sequence document pool.\n&[\n");
    for (i, (name, bytes)) in pool.iter().enumerate() {
        let file = format!("{i:02}_{name}.json");
        fs::write(pool_dir.join(&file), bytes).expect("write pool");
        index.push_str(&format!(
            "    (\"{name}\", include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/pool/{file}\"))),\n"
        ));
    }
    index.push_str("]\n");
    fs::write(pool_dir.join("index.rs"), index).expect("write index");
    write_seeds(&fuzz_dir.join("seeds"), &pool, &a);
    println!(
        "wrote {} pool documents to {}",
        pool.len(),
        pool_dir.display()
    );
}

fn write_seeds(seeds: &Path, pool: &[(&str, Vec<u8>)], root_key: &PublicKey) {
    let dir = |t: &str| -> PathBuf {
        // Files are overwritten, never removed: seeds taken from fuzzing runs stay.
        let p = seeds.join(t);
        fs::create_dir_all(&p).expect("mkdir seeds");
        p
    };
    let put = |d: &Path, name: &str, bytes: &[u8]| fs::write(d.join(name), bytes).expect("write");

    let canon = dir("canonical_json");
    for (i, s) in [
        r#"{"b":1,"a":[true,false,null],"c":{"z":"<&>","y":"\u2028\u00e9"}}"#,
        "[1.0,1e3,-0,9007199254740993,-9223372036854775808]",
        "[\"raw \\u0001 control\", \"q\\\"b\\\\\"]",
        r#"{"a!":3,"a b":2,"a":1}"#,
    ]
    .iter()
    .enumerate()
    {
        put(&canon, &format!("json{i}"), s.as_bytes());
    }
    for (prefix, target) in [
        ("root", "metadata_root"),
        ("targets", "metadata_targets"),
        ("releases", "metadata_targets"),
        ("snapshot", "metadata_snapshot"),
        ("timestamp", "metadata_timestamp"),
    ] {
        let d = dir(target);
        for (name, bytes) in pool.iter().filter(|(n, _)| n.starts_with(prefix)).take(3) {
            put(&d, name, bytes);
        }
    }
    // keys_pem: first byte selects the mode (see the target).
    let keys = dir("keys_pem");
    let key_json = serde_json::to_vec(root_key).expect("key json");
    put(&keys, "x509_key_json", &[&[0u8][..], &key_json].concat());
    put(
        &keys,
        "cert_chain",
        &[&[1u8][..], root_key.public_bytes()].concat(),
    );
    put(
        &keys,
        "pem_decode",
        &[
            &[2u8][..],
            b"junk\n-----BEGIN X-----\nk: v\n\nAQID\n-----END X-----\n",
        ]
        .concat(),
    );
    put(
        &keys,
        "ed25519_json",
        &[&[0u8][..], br#"{"keytype":"ed25519","keyval":{"private":null,"public":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}}"#].concat(),
    );
    let roles = dir("role_names");
    for r in [
        "root",
        "targets/releases",
        "targets/a/b-c_1",
        "targets/../x",
        "timestamp/x",
    ] {
        put(&roles, &r.replace('/', "_"), r.as_bytes());
    }
    let routes = dir("gun_routes");
    let sum = "ab".repeat(32);
    for (i, r) in [
        "GET /v2/".to_owned(),
        "GET /v2/docker.io/library/alpine/_trust/tuf/targets/releases.json".to_owned(),
        format!("GET /v2/reg:5000/a/_trust/tuf/snapshot.{sum}.json"),
        "HEAD /v2/a/_trust/tuf/3.root.json".to_owned(),
        "POST /v2/a/b/_trust/tuf/".to_owned(),
        "DELETE /v2/a/b/_trust/tuf/".to_owned(),
        "POST /v2/a/_trust/tuf/timestamp.key".to_owned(),
        "GET /v2/a/_trust/tuf/b/_trust/tuf/root.json".to_owned(),
        "GET /v2/x/y/_trust/changefeed".to_owned(),
        "GET /_notary_server/health".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        put(&routes, &format!("route{i}"), r.as_bytes());
    }
    let times = dir("time_rfc3339");
    for (i, t) in [
        "2026-11-21T20:24:27.278162772Z",
        "2116-07-03T17:56:36.027379879-05:00",
        "1970-01-01T00:00:00Z",
        "2024-02-29t12:00:00.5+14:00",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9999999999z",
    ]
    .iter()
    .enumerate()
    {
        put(&times, &format!("time{i}"), t.as_bytes());
    }
}
