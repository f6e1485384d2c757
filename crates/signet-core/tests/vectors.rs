//! Data-driven tests over metadata produced by the real Go notary 0.7 (see
//! `testdata/README.md` for provenance). Every case folder holds the exact bytes the Go
//! server served and an `expect.json` recording, per file, its signatures and which files'
//! keys authorize them.
//!
//! For every case we check that:
//! - every file parses, keeps its exact bytes, and has the recorded version;
//! - every signature verifies (or not) exactly as recorded, against the keys of the files
//!   that authorize it — our canonical JSON, key IDs and crypto agree with Go's;
//! - the current chain holds: timestamp → snapshot → targets (→ delegations), thresholds met;
//! - the first upload a Go client made (root, targets, snapshot) passes `validate_update`;
//! - tampering with any current file breaks it (attacks: bit flip in a signature, edited
//!   signed content, replay under another GUN, expiry).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use signet_core::error::VerifyError;
use signet_core::key::KeyRing;
use signet_core::metadata::{Role, Signed, Snapshot, Targets, Timestamp};
use signet_core::verify::{
    base_role_ring, delegation_ring, root_cert_keys, verify_root_signed_by, verify_threshold,
};
use signet_core::{RingVerifier, RoleName, Root, UnixTime, Upload, Verifier, validate_update};

struct Case {
    name: String,
    dir: PathBuf,
    expect: Value,
    gun: String,
    now: UnixTime,
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).expect("testdata folder") {
        let dir = entry.expect("entry").path();
        let expect_path = dir.join("expect.json");
        if !expect_path.exists() {
            continue;
        }
        let expect: Value = serde_json::from_slice(&std::fs::read(&expect_path).unwrap()).unwrap();
        let gun = expect["gun"].as_str().unwrap().to_owned();
        let now = UnixTime::parse_rfc3339(expect["validate_at"].as_str().unwrap()).unwrap();
        out.push(Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            dir,
            expect,
            gun,
            now,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 7,
        "expected the Go-generated vectors, found {}",
        out.len()
    );
    out
}

impl Case {
    fn bytes(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(file)).unwrap_or_else(|e| panic!("{}: {file}: {e}", self.name))
    }
    fn files(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.expect["files"].as_object().unwrap().iter()
    }
    fn root(&self, file: &str) -> Signed<Root> {
        Signed::from_bytes(&self.bytes(file)).unwrap()
    }
    fn targets(&self, file: &str) -> Signed<Targets> {
        Signed::from_bytes(&self.bytes(file)).unwrap()
    }
}

/// The keys a file's role trusts, as found in `authorizer`.
fn ring_keys(
    case: &Case,
    role: &RoleName,
    authorizer: &str,
) -> Vec<(signet_core::KeyId, signet_core::PublicKey)> {
    let collect = |ring: KeyRing<'_>| {
        ring.keys
            .into_iter()
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect()
    };
    match role.as_str() {
        "root" => root_cert_keys(&case.root(authorizer).signed, &case.gun, None),
        "targets" | "snapshot" | "timestamp" => {
            collect(base_role_ring(&case.root(authorizer).signed, role.as_str()).unwrap())
        }
        _ => {
            let parent = case.targets(authorizer);
            collect(delegation_ring(&parent.signed, role).expect("parent delegates the role"))
        }
    }
}

fn parse_any(role: &RoleName, bytes: &[u8]) -> (u64, Vec<signet_core::Signature>, Vec<u8>) {
    fn go<T: Role>(b: &[u8]) -> (u64, Vec<signet_core::Signature>, Vec<u8>) {
        let s = Signed::<T>::from_bytes(b).unwrap();
        assert_eq!(s.bytes(), b, "exact bytes kept");
        (s.version(), s.signatures.clone(), s.canonical().to_vec())
    }
    match role.as_str() {
        "root" => go::<Root>(bytes),
        "snapshot" => go::<Snapshot>(bytes),
        "timestamp" => go::<Timestamp>(bytes),
        _ => go::<Targets>(bytes),
    }
}

#[test]
fn every_go_signature_verifies_as_recorded() {
    let mut checked = 0;
    for case in cases() {
        for (file, meta) in case.files() {
            let role = RoleName::parse(meta["role"].as_str().unwrap()).unwrap();
            let bytes = case.bytes(file);
            assert_eq!(
                bytes.len() as u64,
                meta["length"].as_u64().unwrap(),
                "{}/{file}",
                case.name
            );
            let (version, sigs, canonical) = parse_any(&role, &bytes);
            assert_eq!(
                version,
                meta["version"].as_u64().unwrap(),
                "{}/{file}",
                case.name
            );
            for expected in meta["signatures"].as_array().unwrap() {
                let keyid = expected["keyid"].as_str().unwrap();
                let sig = sigs.iter().find(|s| s.keyid.as_str() == keyid).unwrap();
                let authorizers: Vec<&str> = expected["authorized_by"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
                    .unwrap_or_default();
                let verified = authorizers.iter().any(|auth| {
                    ring_keys(&case, &role, auth).iter().any(|(id, k)| {
                        id.as_str() == keyid
                            && RingVerifier
                                .verify(k, &sig.method, &canonical, &sig.sig.0)
                                .is_ok()
                    })
                });
                assert_eq!(
                    verified,
                    expected["valid"].as_bool().unwrap(),
                    "{}/{file} signature {keyid}",
                    case.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} signatures checked");
}

/// Verifies the current chain the way a client would and returns the error, if any.
fn check_chain(
    case: &Case,
    files: &BTreeMap<String, Vec<u8>>,
    gun: &str,
    now: UnixTime,
) -> Result<(), VerifyError> {
    let v = &RingVerifier;
    let root = Signed::<Root>::from_bytes(&files["root.json"]).unwrap();
    verify_root_signed_by(&root, &root.signed, gun, Some(now), v)?;
    let ts = Signed::<Timestamp>::from_bytes(&files["timestamp.json"]).unwrap();
    let ring = base_role_ring(&root.signed, "timestamp")?;
    verify_threshold(&ts, &RoleName::timestamp(), &ring, v)?;
    signet_core::verify::check_expiry(&ts, &RoleName::timestamp(), now)?;
    let hash_err = |role: &str, reason: String| VerifyError::HashMismatch {
        role: RoleName::parse(role).unwrap(),
        reason,
    };
    ts.signed.meta["snapshot"]
        .check(&files["snapshot.json"])
        .map_err(|r| hash_err("snapshot", r))?;
    let snap = Signed::<Snapshot>::from_bytes(&files["snapshot.json"]).unwrap();
    verify_threshold(
        &snap,
        &RoleName::snapshot(),
        &base_role_ring(&root.signed, "snapshot")?,
        v,
    )?;
    for (role, meta) in &snap.signed.meta {
        let file = format!("{role}.json");
        if let Some(bytes) = files.get(&file) {
            meta.check(bytes).map_err(|r| hash_err(role, r))?;
        } else {
            panic!(
                "{}: snapshot lists {role} but the case has no {file}",
                case.name
            );
        }
    }
    let targets = Signed::<Targets>::from_bytes(&files["targets.json"]).unwrap();
    verify_threshold(
        &targets,
        &RoleName::targets(),
        &base_role_ring(&root.signed, "targets")?,
        v,
    )?;
    for d in &targets.signed.delegations.roles {
        let name = RoleName::parse(&d.name).unwrap();
        if let Some(bytes) = files.get(&format!("{}.json", d.name)) {
            let doc = Signed::<Targets>::from_bytes(bytes).unwrap();
            verify_threshold(
                &doc,
                &name,
                &delegation_ring(&targets.signed, &name).unwrap(),
                v,
            )?;
        }
    }
    Ok(())
}

fn current_files(case: &Case) -> BTreeMap<String, Vec<u8>> {
    case.files()
        .filter(|(f, _)| !f.chars().next().unwrap().is_ascii_digit())
        .map(|(f, _)| (f.clone(), case.bytes(f)))
        .collect()
}

#[test]
fn current_chain_holds() {
    for case in cases() {
        let files = current_files(&case);
        check_chain(&case, &files, &case.gun, case.now)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
}

#[test]
// Deliberately non-canonical bytes: tampered or re-encoded documents that must be rejected.
#[allow(clippy::disallowed_methods)]
fn tampering_breaks_the_chain() {
    for case in cases() {
        let files = current_files(&case);
        // Expiry: the timestamp lives 14 days.
        let later = case.now.add_days(15);
        assert!(
            matches!(
                check_chain(&case, &files, &case.gun, later),
                Err(VerifyError::Expired { .. })
            ),
            "{}: expired timestamp accepted",
            case.name
        );
        // Another GUN: the root certificate's CN no longer matches.
        assert!(
            check_chain(&case, &files, "evil.example/other", case.now).is_err(),
            "{}: GUN swap",
            case.name
        );
        for file in [
            "root.json",
            "timestamp.json",
            "snapshot.json",
            "targets.json",
        ] {
            // Flip one bit in the first signature.
            let mut doc: Value = serde_json::from_slice(&files[file]).unwrap();
            let sig = doc["signatures"][0]["sig"].as_str().unwrap().to_owned();
            let mut raw = signet_core::encoding::b64_decode(&sig).unwrap();
            raw[5] ^= 1;
            doc["signatures"][0]["sig"] = Value::from(signet_core::encoding::b64_encode(&raw));
            let mut tampered = files.clone();
            tampered.insert(file.to_owned(), serde_json::to_vec(&doc).unwrap());
            assert!(
                check_chain(&case, &tampered, &case.gun, case.now).is_err(),
                "{}: flipped sig in {file}",
                case.name
            );
            // Edit the signed content (bump the version).
            let mut doc: Value = serde_json::from_slice(&files[file]).unwrap();
            let v = doc["signed"]["version"].as_u64().unwrap();
            doc["signed"]["version"] = Value::from(v + 1);
            let mut tampered = files.clone();
            tampered.insert(file.to_owned(), serde_json::to_vec(&doc).unwrap());
            assert!(
                check_chain(&case, &tampered, &case.gun, case.now).is_err(),
                "{}: edited {file}",
                case.name
            );
        }
    }
}

#[test]
fn go_client_first_upload_passes_validation() {
    for case in cases() {
        let versioned = |role: &str| -> Option<String> {
            case.files()
                .filter(|(f, m)| m["role"] == role && f.chars().next().unwrap().is_ascii_digit())
                .min_by_key(|(_, m)| m["version"].as_u64().unwrap())
                .map(|(f, _)| f.clone())
        };
        // The Go client's first POST carries root and targets (and a snapshot, which the
        // server may have replaced since); root + targets alone must validate.
        let root_targets: Vec<Upload> = ["root", "targets"]
            .iter()
            .map(|role| Upload {
                role: RoleName::parse(role).unwrap(),
                bytes: case
                    .bytes(&versioned(role).unwrap_or_else(|| panic!("{}: no {role}", case.name))),
            })
            .collect();
        let state = signet_core::RepoState::default();
        validate_update(
            &case.gun,
            &state,
            root_targets.clone(),
            case.now,
            &RingVerifier,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        // The same upload for another GUN is rejected: root certificates are bound to the GUN.
        let err = validate_update(
            "example.com/not-this-one",
            &state,
            root_targets,
            case.now,
            &RingVerifier,
        )
        .unwrap_err();
        assert_eq!(err.notary_name(), "ErrBadRoot", "{}", case.name);
    }
}

#[test]
// Deliberately non-canonical bytes: tampered or re-encoded documents that must be rejected.
#[allow(clippy::disallowed_methods)]
fn root_rotation_is_accepted_only_with_the_old_roots_signature() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "rotated-root")
        .expect("rotated-root case");
    let old = case.root("1.root.json");
    let state = signet_core::RepoState {
        root: Some(old),
        targets: [(RoleName::targets(), case.targets("2.targets.json"))].into(),
        ..Default::default()
    };
    let new_bytes = case.bytes("2.root.json");
    let ok = validate_update(
        &case.gun,
        &state,
        vec![Upload {
            role: RoleName::root(),
            bytes: new_bytes.clone(),
        }],
        case.now,
        &RingVerifier,
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    // Drop the old root key's signature: the rotation must fail.
    let mut doc: Value = serde_json::from_slice(&new_bytes).unwrap();
    let old_key = case.root("1.root.json").signed.roles["root"].keyids[0].clone();
    doc["signatures"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["keyid"].as_str() != Some(old_key.as_str()));
    let err = validate_update(
        &case.gun,
        &state,
        vec![Upload {
            role: RoleName::root(),
            bytes: serde_json::to_vec(&doc).unwrap(),
        }],
        case.now,
        &RingVerifier,
    )
    .unwrap_err();
    assert_eq!(err.notary_name(), "ErrBadRoot");
    assert!(err.message().contains("threshold"), "{err}");
}

/// A consumer starting from the first root it ever saw reaches every target the Go client
/// listed, through the typestate chain; rollback to older versions is refused.
#[test]
fn consumer_walks_from_first_root_to_targets() {
    use signet_core::trusted::{KnownVersions, Limits, Pinning, TrustedRoot};
    let mut found = 0;
    for case in cases() {
        let v = &RingVerifier;
        let mut roots: Vec<(u64, String)> = case
            .files()
            .filter(|(f, m)| m["role"] == "root" && f.chars().next().unwrap().is_ascii_digit())
            .map(|(f, m)| (m["version"].as_u64().unwrap(), f.clone()))
            .collect();
        roots.sort();
        let mut trusted = TrustedRoot::first_use(
            &case.gun,
            &case.bytes(&roots[0].1),
            Pinning::Tofu,
            Limits::default(),
            case.now,
            v,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let first_keys = trusted.first_use_key_ids().unwrap().to_vec();
        assert!(!first_keys.is_empty(), "{}: TOFU reports keys", case.name);
        for (_, f) in &roots[1..] {
            trusted = trusted
                .update_root(&case.bytes(f), case.now, v)
                .unwrap_or_else(|e| panic!("{}: rotating to {f}: {e}", case.name));
        }
        // A failed step leaves the trusted root usable.
        assert!(trusted.update_timestamp(b"{not json", case.now, v).is_err());
        let ts = trusted
            .update_timestamp(&case.bytes("timestamp.json"), case.now, v)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let snap = ts
            .update_snapshot(&case.bytes("snapshot.json"), case.now, v)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut targets = snap
            .update_targets(&case.bytes("targets.json"), case.now, v)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let delegations: Vec<RoleName> = targets
            .role(&RoleName::targets())
            .unwrap()
            .signed
            .delegations
            .roles
            .iter()
            .map(|d| RoleName::parse(&d.name).unwrap())
            .collect();
        for d in &delegations {
            if targets.meta(d).is_some() {
                targets
                    .add_delegation(d, &case.bytes(&format!("{d}.json")), case.now, v)
                    .unwrap_or_else(|e| panic!("{}: {d}: {e}", case.name));
            }
        }
        let no_targets = serde_json::Map::new();
        let expected = case.expect["conclusions"]["targets"]
            .as_object()
            .unwrap_or(&no_targets);
        found += expected.len();
        let order: Vec<RoleName> = delegations
            .iter()
            .cloned()
            .chain([RoleName::targets()])
            .collect();
        for (name, want) in expected {
            let (role, _) = targets
                .find(name, &order)
                .unwrap_or_else(|| panic!("{}: target {name} not found", case.name));
            assert_eq!(
                role.as_str(),
                want["role"].as_str().unwrap(),
                "{}: {name}",
                case.name
            );
        }
        // Rollback: a cache that already trusted a newer timestamp refuses this one.
        let current_ts = Signed::<Timestamp>::from_bytes(&case.bytes("timestamp.json")).unwrap();
        let mut known = KnownVersions::default();
        known.insert(RoleName::timestamp(), current_ts.version() + 1);
        let err = trusted
            .clone()
            .with_known_versions(known)
            .update_timestamp(&case.bytes("timestamp.json"), case.now, v)
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::Rollback { .. }),
            "{}: {err}",
            case.name
        );
    }
    assert!(found >= 5, "only {found} targets looked up");
}

/// Snapshot bytes that differ from what the timestamp names are refused before parsing.
#[test]
fn consumer_refuses_snapshot_not_named_by_timestamp() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "delegation")
        .unwrap();
    let v = &RingVerifier;
    let root = signet_core::TrustedRoot::first_use(
        &case.gun,
        &case.bytes("root.json"),
        signet_core::Pinning::Tofu,
        signet_core::Limits::default(),
        case.now,
        v,
    )
    .unwrap();
    let ts = root
        .update_timestamp(&case.bytes("timestamp.json"), case.now, v)
        .unwrap();
    // An older, correctly signed snapshot: mix-and-match.
    let err = ts
        .update_snapshot(&case.bytes("2.snapshot.json"), case.now, v)
        .unwrap_err();
    assert!(matches!(err, VerifyError::HashMismatch { .. }), "{err}");
}

/// Notary 0.3's own compatibility fixture (generated by Go notary 0.3, shipped in Debian's
/// `golang-github-docker-notary-dev`, read in place): root ecdsa-x509, targets/snapshot/
/// timestamp ecdsa, and `targets/releases` signed with **rsapss by an rsa-x509 key**.
#[test]
// Deliberately non-canonical bytes: tampered or re-encoded documents that must be rejected.
#[allow(clippy::disallowed_methods)]
fn notary_0_3_fixture_with_rsa_pss_delegation_verifies() {
    let dir = Path::new(
        "/usr/share/gocode/src/github.com/theupdateframework/notary/fixtures/compatibility/notary0.3/tuf/docker.com/notary0.3/tst/metadata",
    );
    assert!(
        dir.exists(),
        "{} is missing: install Debian's golang-github-docker-notary-dev (scripts/test does)",
        dir.display()
    );
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    // The fixture was made in July 2016; its certificates are checked as of then.
    let now = UnixTime::parse_rfc3339("2016-08-01T00:00:00Z").unwrap();
    let gun = "docker.com/notary0.3/tst";
    let v = &RingVerifier;
    let root = signet_core::TrustedRoot::first_use(
        gun,
        &read("root.json"),
        signet_core::Pinning::Tofu,
        signet_core::Limits::default(),
        now,
        v,
    )
    .unwrap();
    let ts = root
        .update_timestamp(&read("timestamp.json"), now, v)
        .unwrap();
    let snap = ts.update_snapshot(&read("snapshot.json"), now, v).unwrap();
    let mut targets = snap.update_targets(&read("targets.json"), now, v).unwrap();
    let releases = RoleName::parse("targets/releases").unwrap();
    let doc = read("targets/releases.json");
    let parsed = Signed::<Targets>::from_bytes(&doc).unwrap();
    assert_eq!(parsed.signatures[0].method, "rsapss");
    targets.add_delegation(&releases, &doc, now, v).unwrap();
    let (role, meta) = targets
        .find("hello", &[releases.clone(), RoleName::targets()])
        .unwrap();
    assert_eq!(role, &releases);
    assert_eq!(meta.length, 0);
    // The RSA-PSS signature is load-bearing: flip one bit and the delegation is refused.
    let mut tampered: Value = serde_json::from_slice(&doc).unwrap();
    let sig = tampered["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut raw = signet_core::encoding::b64_decode(&sig).unwrap();
    raw[10] ^= 1;
    tampered["signatures"][0]["sig"] = Value::from(signet_core::encoding::b64_encode(&raw));
    let key = &targets
        .role(&RoleName::targets())
        .unwrap()
        .signed
        .delegations
        .keys;
    assert!(key.values().any(|k| k.keytype().as_str() == "rsa-x509"));
    let err = Signed::<Targets>::from_bytes(&serde_json::to_vec(&tampered).unwrap())
        .map(|d| {
            let parent = &targets.role(&RoleName::targets()).unwrap().signed;
            verify_threshold(
                &d,
                &releases,
                &delegation_ring(parent, &releases).unwrap(),
                v,
            )
        })
        .unwrap();
    assert!(
        matches!(err, Err(VerifyError::ThresholdNotMet { .. })),
        "{err:?}"
    );
}

/// Every publish the Go client made replays through `validate_update`: for consecutive
/// snapshots, the repository as the older one describes it is the stored state, and the
/// files the newer one names anew (plus the snapshot itself) are the upload. Covers what Go
/// uploads after removing a delegation's last key (`"keyids":null`) and its last
/// delegation (`"roles":null`), and the stored state holding those files.
#[test]
fn go_client_publishes_replay_through_validate_update() {
    let mut replayed = 0;
    for case in cases() {
        let mut snapshots: Vec<(u64, String)> = case
            .files()
            .filter(|(f, m)| m["role"] == "snapshot" && f.chars().next().unwrap().is_ascii_digit())
            .map(|(f, m)| (m["version"].as_u64().unwrap(), f.clone()))
            .collect();
        snapshots.sort();
        // role -> the stored file a snapshot names for it
        let named = |snapshot: &str| -> BTreeMap<String, String> {
            case.expect["files"][snapshot]["meta"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(role, m)| (role.clone(), m["matches"].as_str().unwrap().to_owned()))
                .collect()
        };
        for pair in snapshots.windows(2) {
            let (prev, next) = (&pair[0].1, &pair[1].1);
            let mut stored: Vec<(String, Vec<u8>)> = named(prev)
                .into_iter()
                .map(|(role, file)| (role, case.bytes(&file)))
                .collect();
            stored.push(("snapshot".to_owned(), case.bytes(prev)));
            let state = signet_core::RepoState::from_files(
                stored.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
            )
            .unwrap_or_else(|e| panic!("{}: state of {prev}: {e}", case.name));
            let before = named(prev);
            let mut uploads: Vec<Upload> = named(next)
                .into_iter()
                .filter(|(role, file)| before.get(role) != Some(file))
                .map(|(role, file)| Upload {
                    role: RoleName::parse(&role).unwrap(),
                    bytes: case.bytes(&file),
                })
                .collect();
            uploads.push(Upload {
                role: RoleName::snapshot(),
                bytes: case.bytes(next),
            });
            validate_update(&case.gun, &state, uploads, case.now, &RingVerifier)
                .unwrap_or_else(|e| panic!("{}: publish of {next} over {prev}: {e}", case.name));
            replayed += 1;
        }
    }
    assert!(replayed >= 10, "only {replayed} publishes replayed");
}

/// The Go client's `null`s (see `emptied-delegation/expect.json`, `files[].nulls`): the
/// files carrying them parse to empty lists, and their signatures, made over Go's canonical
/// form with the `null`s in it, verify over ours.
#[test]
fn go_null_lists_parse_as_empty_and_their_signatures_verify() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "emptied-delegation")
        .expect("emptied-delegation case");
    let mut seen = std::collections::BTreeSet::new();
    for (file, meta) in case.files() {
        let Some(nulls) = meta["nulls"].as_array() else {
            continue;
        };
        let doc = case.targets(file);
        for null in nulls {
            let null = null.as_str().unwrap();
            match null {
                "delegations.roles[0].keyids" => {
                    assert!(doc.signed.delegations.roles[0].keyids.is_empty());
                    let releases = RoleName::parse("targets/releases").unwrap();
                    let ring = delegation_ring(&doc.signed, &releases).unwrap();
                    assert!(ring.keys.is_empty(), "{file}: a role with no keys");
                    // The delegate's own (older) file no longer verifies under it.
                    let rel = case.targets("1.targets/releases.json");
                    assert!(matches!(
                        verify_threshold(&rel, &releases, &ring, &RingVerifier),
                        Err(VerifyError::ThresholdNotMet { .. })
                    ));
                }
                "delegations.roles" => assert!(doc.signed.delegations.roles.is_empty()),
                other => panic!("{file}: unexpected null at {other}"),
            }
            let canonical = std::str::from_utf8(doc.canonical()).unwrap();
            let leaf = null.rsplit('.').next().unwrap();
            assert!(canonical.contains(&format!("\"{leaf}\":null")), "{file}");
            seen.insert(null.to_owned());
        }
        let root = case.root("1.root.json");
        let ring = base_role_ring(&root.signed, "targets").unwrap();
        verify_threshold(&doc, &RoleName::targets(), &ring, &RingVerifier)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["delegations.roles", "delegations.roles[0].keyids"]
    );
}
