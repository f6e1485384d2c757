//! The consumer typestate on repositories built with real keys (signet-test-support): trust
//! pinning, the root rotation walk, rollback, freeze, size limits, and that a rejected step
//! leaves the last trusted stage usable.

use serde_json::Map;
use signet_core::metadata::{Expires, FileMeta, Role, Timestamp};
use signet_core::trusted::{KnownVersions, Limits, Pinning, TrustedRoot};
use signet_core::{RingVerifier, RoleName, Signed, Targets, UnixTime, VerifyError};
use signet_test_support::{EcdsaKey, Signer, TestRepo};

const GUN: &str = "example.com/consumer";

fn now() -> UnixTime {
    UnixTime::from_unix(1_900_000_000, 0)
}

struct Repo {
    repo: TestRepo,
    timestamp_key: EcdsaKey,
}

impl Repo {
    fn new() -> Self {
        let mut repo = TestRepo::new(GUN, now());
        let timestamp_key = EcdsaKey::generate();
        repo.set_timestamp_key(timestamp_key.public().clone());
        repo.hold_snapshot_key();
        Self {
            repo,
            timestamp_key,
        }
    }

    /// (root, timestamp, snapshot, targets) for `root` and `version`, the timestamp
    /// expiring after `days`.
    fn files(&self, root: &[u8], version: u64, days: i64) -> [Vec<u8>; 3] {
        let targets = self
            .repo
            .targets(version, &[("v1", b"one"), ("v2", b"two")]);
        let snapshot = self
            .repo
            .snapshot(version, &[("root", root), ("targets", &targets)]);
        let body = Timestamp {
            ty: Timestamp::TYPE.to_owned(),
            expires: Expires::at(now().add_days(days)),
            meta: [("snapshot".to_owned(), FileMeta::of(&snapshot))].into(),
            version,
            extra: Map::new(),
        };
        let ts = TestRepo::sign("timestamp", body, &[&self.timestamp_key as &dyn Signer]);
        [ts, snapshot, targets]
    }
}

fn first(bytes: &[u8], pinning: Pinning) -> Result<TrustedRoot, VerifyError> {
    TrustedRoot::first_use(GUN, bytes, pinning, Limits::default(), now(), &RingVerifier)
}

#[test]
fn pinning_decides_which_first_root_is_trusted() {
    let r = Repo::new();
    let root = r.repo.root(1);
    let key = r.repo.root_key().public();

    let tofu = first(&root, Pinning::Tofu).unwrap();
    assert_eq!(tofu.first_use_key_ids().unwrap(), [key.id().clone()]);
    // Pinned by TUF (X.509) ID, by canonical ID, or by public key: accepted, no TOFU report.
    for pinning in [
        Pinning::Keys([key.id().clone()].into()),
        Pinning::Keys([key.canonical_id().clone()].into()),
        Pinning::public_keys([key]),
    ] {
        let t = first(&root, pinning).unwrap();
        assert!(t.first_use_key_ids().is_none());
    }
    // Another key pinned: refused.
    let other = Repo::new();
    let err = first(
        &root,
        Pinning::public_keys([other.repo.root_key().public()]),
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::Pinning { .. }), "{err}");
    assert_eq!(err.role(), RoleName::root());
    // TOFU disabled: no first use, but a cached anchor is fine.
    let err = first(&root, Pinning::DisableTofu).unwrap_err();
    assert!(matches!(err, VerifyError::Pinning { .. }), "{err}");
    TrustedRoot::from_cache(
        GUN,
        &root,
        Pinning::DisableTofu,
        Limits::default(),
        now(),
        &RingVerifier,
    )
    .unwrap();
    // A root for another GUN is not a root for this one.
    let foreign = TestRepo::new("example.com/other", now());
    let mut foreign = foreign;
    foreign.set_timestamp_key(EcdsaKey::generate().public().clone());
    foreign.hold_snapshot_key();
    assert!(first(&foreign.root(1), Pinning::Tofu).is_err());
}

#[test]
fn root_rotation_is_walked_version_by_version() {
    let mut r = Repo::new();
    let v1 = r.repo.root(1);
    let old = r.repo.rotate_root_key();
    let v2 = r.repo.root_signed_by(2, &[&old, r.repo.root_key()]);
    let v2_new_only = r.repo.root_signed_by(2, &[r.repo.root_key()]);
    let v3 = r.repo.root(3);
    r.repo.set_now(now().add_days(1));
    let v2_other = r.repo.root_signed_by(2, &[&old, r.repo.root_key()]);

    let t1 = first(&v1, Pinning::Tofu).unwrap();
    // Skipping a version is not allowed: the walk must fetch 2.root.json first.
    let err = t1.update_root(&v3, now(), &RingVerifier).unwrap_err();
    assert_eq!(
        err,
        VerifyError::RootVersionGap {
            trusted: 1,
            offered: 3
        }
    );
    // Not signed by the old root's key: refused, and t1 is still the trusted root.
    let err = t1
        .update_root(&v2_new_only, now(), &RingVerifier)
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::RotationNotAuthorized {
                trusted_version: 1,
                offered_version: 2,
                threshold: 1,
                valid: 0
            }
        ),
        "{err}"
    );
    assert_eq!(t1.root().version(), 1);
    let t2 = t1.update_root(&v2, now(), &RingVerifier).unwrap();
    let t3 = t2.update_root(&v3, now(), &RingVerifier).unwrap();
    assert_eq!(t3.root().version(), 3);
    // Back to an older root: rollback. Same version, other content: conflict.
    let err = t3.update_root(&v2, now(), &RingVerifier).unwrap_err();
    assert!(matches!(err, VerifyError::Rollback { .. }), "{err}");
    let err = t2.update_root(&v2_other, now(), &RingVerifier).err();
    assert!(
        matches!(err, Some(VerifyError::RootConflict { .. })),
        "{err:?}"
    );
    // The same content with other signatures is the same root.
    t2.update_root(&v2_new_only, now(), &RingVerifier).unwrap();
    assert_eq!(
        t2.update_root(&v2, now(), &RingVerifier)
            .unwrap()
            .root()
            .version(),
        2
    );
    // With the first key pinned, a rotation away from it fails closed.
    let pinned = first(&v1, Pinning::public_keys([old.public()])).unwrap();
    let err = pinned.update_root(&v2, now(), &RingVerifier).unwrap_err();
    assert!(matches!(err, VerifyError::Pinning { .. }), "{err}");
}

#[test]
fn chain_checks_freeze_rollback_limits_and_keeps_the_last_stage() {
    let r = Repo::new();
    let root = r.repo.root(1);
    let [ts, snap, targets] = r.files(&root, 2, 14);
    let v = &RingVerifier;
    let trusted = first(&root, Pinning::Tofu).unwrap();

    let stage = trusted.update_timestamp(&ts, now(), v).unwrap();
    // A tampered snapshot is refused; the timestamp stage stays usable.
    let err = stage
        .update_snapshot(&signet_test_support::tamper(&snap), now(), v)
        .unwrap_err();
    assert!(matches!(err, VerifyError::HashMismatch { .. }), "{err}");
    let snap_stage = stage.update_snapshot(&snap, now(), v).unwrap();
    let chain = snap_stage.update_targets(&targets, now(), v).unwrap();
    let (role, meta) = chain.find_any("v2").unwrap();
    assert_eq!(role, &RoleName::targets());
    assert_eq!(meta.length, 3);
    assert_eq!(chain.all_targets().len(), 2);
    assert_eq!(
        chain.trusted_snapshot().snapshot().bytes(),
        snap.as_slice(),
        "exact bytes kept for the cache"
    );

    // Freeze: 15 days later the timestamp has expired.
    let later = now().add_days(15);
    let err = trusted.update_timestamp(&ts, later, v).unwrap_err();
    assert!(
        matches!(err, VerifyError::Expired { ref role, .. } if *role == RoleName::timestamp()),
        "{err}"
    );
    // Rollback: the next update starts from what this chain trusted.
    let [old_ts, ..] = r.files(&root, 1, 14);
    let next = trusted.clone().with_known_versions(chain.known_versions());
    let err = next.update_timestamp(&old_ts, now(), v).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Rollback {
            role: RoleName::timestamp(),
            trusted: 2,
            offered: 1
        }
    );
    // Endless data: over the caller's limit, refused before parsing.
    let limits = Limits {
        timestamp: 64,
        ..Limits::default()
    };
    let small = TrustedRoot::first_use(GUN, &root, Pinning::Tofu, limits, now(), v).unwrap();
    let err = small.update_timestamp(&ts, now(), v).unwrap_err();
    assert!(
        matches!(err, VerifyError::TooLarge { limit: 64, .. }),
        "{err}"
    );
    let mut known = KnownVersions::default();
    known.insert(RoleName::targets(), 3);
    let err = trusted
        .clone()
        .with_known_versions(known)
        .update_timestamp(&ts, now(), v)
        .and_then(|t| t.update_snapshot(&snap, now(), v))
        .and_then(|s| s.update_targets(&targets, now(), v))
        .unwrap_err();
    assert!(matches!(err, VerifyError::Rollback { .. }), "{err}");
    // The same floor set once the snapshot is verified refuses the same targets; a floor at
    // the offered version (the cached file reused as it is) does not.
    let snap_stage = trusted
        .update_timestamp(&ts, now(), v)
        .and_then(|t| t.update_snapshot(&snap, now(), v))
        .unwrap();
    let err = snap_stage
        .clone()
        .with_known_version(RoleName::targets(), 3)
        .update_targets(&targets, now(), v)
        .unwrap_err();
    assert!(matches!(err, VerifyError::Rollback { .. }), "{err}");
    let offered = Signed::<Targets>::from_bytes(&targets).unwrap().version();
    snap_stage
        .with_known_version(RoleName::targets(), offered)
        .update_targets(&targets, now(), v)
        .unwrap();
}

#[test]
fn ca_pinning_follows_certificate_chains() {
    use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Pinned CA");
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, GUN);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let other_key = KeyPair::generate().unwrap();
    let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params
        .distinguished_name
        .push(DnType::CommonName, "Pinned CA");
    other_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = other_params.self_signed(&other_key).unwrap();

    // rcgen certificates are valid from 1975 to 4096.
    let now = now();
    let (leaf, ca, other) = (leaf.der().to_vec(), ca.der().to_vec(), other.der().to_vec());
    assert!(signet_core::verify::chains_to_ca(
        &leaf,
        &[],
        std::slice::from_ref(&ca),
        now
    ));
    // Same subject name, different key: the signature decides.
    assert!(!signet_core::verify::chains_to_ca(
        &leaf,
        &[],
        &[other],
        now
    ));
    // A self-signed leaf does not chain to anything but itself, and it is no CA.
    assert!(!signet_core::verify::chains_to_ca(
        &leaf,
        &[],
        std::slice::from_ref(&leaf),
        now
    ));
    // Outside the CA's validity: refused.
    assert!(!signet_core::verify::chains_to_ca(
        &leaf,
        &[],
        &[ca],
        now.add_years(-60)
    ));
    let pinning = Pinning::ca_pem(
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            signet_core::encoding::b64_encode(&leaf)
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(matches!(pinning, Pinning::Ca(ref c) if c.len() == 1));
}
