//! Property tests of update validation (`validate_update`, `snapshot_for`,
//! `timestamp_for`) on real Go-notary metadata from `testdata/rotated-root`: a root
//! rotation with ECDSA X.509 root keys, plain ECDSA targets and snapshot keys.
//!
//! Case counts are modest (each case verifies real signatures): the suite runs on two
//! cores.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;
use signet_core::metadata::{Role, Signed, Snapshot, Targets, Timestamp};
use signet_core::update::{snapshot_for, timestamp_for};
use signet_core::{RepoState, RingVerifier, RoleName, Root, UnixTime, Upload, validate_update};

const CASE: &str = "rotated-root";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

fn read(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(CASE)
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn gun() -> String {
    let expect: Value = serde_json::from_slice(&read("expect.json")).unwrap();
    expect["gun"].as_str().unwrap().to_owned()
}

fn now() -> UnixTime {
    let expect: Value = serde_json::from_slice(&read("expect.json")).unwrap();
    UnixTime::parse_rfc3339(expect["validate_at"].as_str().unwrap()).unwrap()
}

/// The Go client's first publish: root v1, targets v2, snapshot v2.
fn first_publish() -> Vec<(RoleName, Vec<u8>)> {
    vec![
        (RoleName::root(), read("1.root.json")),
        (RoleName::targets(), read("2.targets.json")),
        (RoleName::snapshot(), read("2.snapshot.json")),
    ]
}

fn uploads(files: &[(RoleName, Vec<u8>)]) -> Vec<Upload> {
    files
        .iter()
        .map(|(role, bytes)| Upload {
            role: role.clone(),
            bytes: bytes.clone(),
        })
        .collect()
}

/// The canonical `signed` bytes of a file of `role`, if it parses at all.
fn canonical_of(role: &RoleName, bytes: &[u8]) -> Option<Vec<u8>> {
    fn go<T: Role>(bytes: &[u8]) -> Option<Vec<u8>> {
        Signed::<T>::from_bytes(bytes)
            .ok()
            .map(|s| s.canonical().to_vec())
    }
    match role.as_str() {
        "root" => go::<Root>(bytes),
        "snapshot" => go::<Snapshot>(bytes),
        "timestamp" => go::<Timestamp>(bytes),
        _ => go::<Targets>(bytes),
    }
}

/// `file` re-encoded with `edit` applied to its JSON (signatures kept as they were).
#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn edited(file: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(file).unwrap();
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

/// Whether `version + 1` overflows or has no canonical encoding (Go's float64 path
/// rounds it to 2^63 or beyond).
fn no_successor(version: u64) -> bool {
    version
        .checked_add(1)
        .is_none_or(|next| signet_core::canonical::to_canonical(&Value::from(next)).is_err())
}

fn versions(files: &[(RoleName, u64, Vec<u8>)]) -> Vec<(RoleName, u64)> {
    files.iter().map(|(r, v, _)| (r.clone(), *v)).collect()
}

#[test]
fn baseline_first_publish_validates() {
    let v = validate_update(
        &gun(),
        &RepoState::default(),
        uploads(&first_publish()),
        now(),
        &RingVerifier,
    )
    .unwrap();
    assert_eq!(
        versions(&v.files),
        vec![
            (RoleName::root(), 1),
            (RoleName::targets(), 2),
            (RoleName::snapshot(), 2)
        ]
    );
}

proptest! {
    #![proptest_config(config())]

    /// Flipping any bits of any byte of a signed upload either gets the update rejected,
    /// or changes nothing the signatures cover (e.g. `\u003c` becoming `\u003C`): the
    /// validated result is then the same as for the original upload.
    #[test]
    fn byte_flip_is_rejected_or_outside_the_signed_meaning(
        which in 0_usize..3,
        at in any::<prop::sample::Index>(),
        mask in 1_u8..=255,
    ) {
        let files = first_publish();
        let baseline = validate_update(
            &gun(), &RepoState::default(), uploads(&files), now(), &RingVerifier,
        ).unwrap();
        let mut mutated = files.clone();
        let (role, bytes) = &mut mutated[which];
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let role = role.clone();
        if let Ok(v) = validate_update(
            &gun(), &RepoState::default(), uploads(&mutated), now(), &RingVerifier,
        ) {
            prop_assert_eq!(
                canonical_of(&role, &mutated[which].1),
                canonical_of(&role, &files[which].1),
                "accepted a flip of byte {} (xor {:#04x}) in {} that changes signed data",
                i, mask, role
            );
            prop_assert_eq!(versions(&v.files), versions(&baseline.files));
        }
    }

    /// Root versions never go backwards: against a stored root of version `stored`, a
    /// validly signed root v2 is accepted only as a re-upload or the next version.
    #[test]
    fn root_version_never_goes_backwards(
        stored in prop_oneof![1_u64..8, any::<u64>(), Just(u64::MAX), Just(i64::MAX as u64)]
            .prop_filter("versions start at 1", |v| *v >= 1),
    ) {
        let current = edited(&read("2.root.json"), |d| d["signed"]["version"] = stored.into());
        // Versions that round to 2^63 or more on Go's float64 path have no canonical form
        // and cannot be stored in the first place.
        let current = Signed::from_bytes(&current);
        prop_assume!(current.is_ok());
        let state = RepoState {
            root: current.ok(),
            targets: BTreeMap::from([(
                RoleName::targets(),
                Signed::from_bytes(&read("2.targets.json")).unwrap(),
            )]),
            snapshot: None,
            timestamp: None,
        };
        let upload = vec![(RoleName::root(), read("2.root.json"))];
        let result = validate_update(&gun(), &state, uploads(&upload), now(), &RingVerifier);
        match result {
            Ok(v) => {
                prop_assert!(stored <= 2, "root v2 accepted over stored v{}", stored);
                prop_assert!(v.root.version() >= stored);
            }
            Err(e) => {
                prop_assert!(stored > 2, "root v2 rejected over stored v{}: {}", stored, e);
                prop_assert_eq!(e.notary_name(), "ErrBadRoot");
            }
        }
    }

    /// The snapshot and timestamp the server generates are always exactly one version
    /// above the previous ones. A version whose successor does not exist or cannot be
    /// encoded canonically is an error, never a wrap to 0.
    #[test]
    fn generated_versions_always_increase(prev_version in prop_oneof![
        any::<u64>(), Just(u64::MAX), Just(u64::MAX - 1), 0_u64..4,
    ]) {
        let root = Signed::<Root>::from_bytes(&read("2.root.json")).unwrap();
        let mut snap = Signed::<Snapshot>::from_bytes(&read("4.snapshot.json")).unwrap().signed;
        snap.version = prev_version;
        let targets = read("3.targets.json");
        let roles = [(RoleName::targets(), targets.as_slice())];
        match snapshot_for(&root.signed, Some(&snap), roles, now()) {
            Ok(next) => prop_assert_eq!(Some(next.signed.version), prev_version.checked_add(1)),
            Err(_) => prop_assert!(no_successor(prev_version)),
        }
        let mut ts = Signed::<Timestamp>::from_bytes(&read("3.timestamp.json")).unwrap().signed;
        ts.version = prev_version;
        match timestamp_for(&root.signed, Some(&ts), b"{}", now()) {
            Ok(next) => prop_assert_eq!(Some(next.signed.version), prev_version.checked_add(1)),
            Err(_) => prop_assert!(no_successor(prev_version)),
        }
    }

    /// An update rejected for a bad targets signature (body changed after signing) stays
    /// rejected whatever its signature bytes are changed to.
    #[test]
    fn rejected_update_never_validates_with_a_mutated_signature(
        replacement in prop_oneof![
            proptest::collection::vec(any::<u8>(), 64).prop_map(Some),
            Just(None),
        ],
        at in any::<prop::sample::Index>(),
        mask in 1_u8..=255,
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let tampered = edited(&read("2.targets.json"), |d| d["signed"]["version"] = 7.into());
        let rejected = |targets: Vec<u8>| {
            let files = vec![(RoleName::root(), read("1.root.json")), (RoleName::targets(), targets)];
            validate_update(&gun(), &RepoState::default(), uploads(&files), now(), &RingVerifier)
                .is_err()
        };
        prop_assert!(rejected(tampered.clone()), "tampered targets must be rejected");
        let resigned = edited(&tampered, |d| {
            let sig = &mut d["signatures"][0]["sig"];
            let mut bytes = b64.decode(sig.as_str().unwrap()).unwrap();
            match &replacement {
                Some(r) => bytes.clone_from(r),
                None => {
                    let i = at.index(bytes.len());
                    bytes[i] ^= mask;
                }
            }
            *sig = b64.encode(&bytes).into();
        });
        prop_assert!(rejected(resigned), "a mutated signature made a rejected update valid");
    }
}
