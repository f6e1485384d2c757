//! What a trust server decides about an upload (Notary's `validateUpdate`), and the
//! snapshot and timestamp it generates.
//!
//! [`validate_update`] takes the repository as stored, the uploaded files, and the time;
//! it returns the files to store and, when the publisher left the snapshot to the server,
//! an [`Unsigned`] snapshot to sign. [`timestamp_for`] then makes the timestamp over the
//! final snapshot bytes. Signing happens outside the core.

use std::collections::BTreeMap;

use serde_json::Map;

use crate::crypto::Verifier;
use crate::error::{MetadataError, UpdateError, VerifyError};
use crate::metadata::{
    Expires, FileMeta, Role, RoleName, Root, Signed, Snapshot, Targets, Timestamp, Unsigned,
};
use crate::time::UnixTime;
use crate::verify::{
    base_role_ring, check_delegations, check_expiry, check_root_structure, delegation_ring,
    verify_root_signed_by, verify_threshold,
};

/// Snapshot lifetime when the server signs it (Notary: 3 years).
pub const SNAPSHOT_LIFETIME_YEARS: i64 = 3;
/// Timestamp lifetime (Notary: 14 days).
pub const TIMESTAMP_LIFETIME_DAYS: i64 = 14;

/// A repository's current metadata as the server holds it.
#[derive(Clone, Debug, Default)]
pub struct RepoState {
    /// Current root.
    pub root: Option<Signed<Root>>,
    /// `targets` and delegations, by role.
    pub targets: BTreeMap<RoleName, Signed<Targets>>,
    /// Current snapshot.
    pub snapshot: Option<Signed<Snapshot>>,
    /// Current timestamp.
    pub timestamp: Option<Signed<Timestamp>>,
}

impl RepoState {
    /// Builds the state from stored `(role, bytes)` pairs (the current version of each role).
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, MetadataError> {
        let mut state = Self::default();
        for (role, bytes) in files {
            let role = RoleName::parse(role)?;
            match role.as_str() {
                "root" => state.root = Some(Signed::from_bytes(bytes)?),
                "snapshot" => state.snapshot = Some(Signed::from_bytes(bytes)?),
                "timestamp" => state.timestamp = Some(Signed::from_bytes(bytes)?),
                _ => {
                    state.targets.insert(role, Signed::from_bytes(bytes)?);
                }
            }
        }
        Ok(state)
    }
}

/// One uploaded file.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The role it claims to be.
    pub role: RoleName,
    /// Its exact bytes.
    pub bytes: Vec<u8>,
}

/// How the new snapshot comes about.
#[derive(Clone, Debug)]
pub enum SnapshotPlan {
    /// The publisher uploaded a valid snapshot.
    Uploaded(Signed<Snapshot>),
    /// The server must sign this snapshot with a key root lists for `snapshot`.
    Sign(Unsigned<Snapshot>),
}

/// An accepted update.
#[derive(Clone, Debug)]
pub struct ValidatedUpdate {
    /// The root in force after the update.
    pub root: Signed<Root>,
    /// Uploaded files to store, root first, then targets roles shallow to deep, then an
    /// uploaded snapshot. Uploaded timestamps are dropped.
    pub files: Vec<(RoleName, u64, Vec<u8>)>,
    /// The snapshot.
    pub snapshot: SnapshotPlan,
}

/// Validates an update against the stored repository, as Notary's server does (spec §3):
/// root rotation signed by the old root's threshold and the new root's own, targets and
/// delegations against their delegators, an uploaded snapshot against every loaded role.
pub fn validate_update(
    gun: &str,
    stored: &RepoState,
    uploads: Vec<Upload>,
    now: UnixTime,
    verifier: &dyn Verifier,
) -> Result<ValidatedUpdate, UpdateError> {
    let mut root_upload = None;
    let mut snapshot_upload = None;
    let mut targets_uploads: BTreeMap<(usize, RoleName), Vec<u8>> = BTreeMap::new();
    for up in uploads {
        match up.role.as_str() {
            "root" => root_upload = Some(up.bytes),
            "snapshot" => snapshot_upload = Some(up.bytes),
            "timestamp" => {} // the server makes its own
            _ => {
                targets_uploads.insert((up.role.depth(), up.role), up.bytes);
            }
        }
    }

    // 1-2. Root.
    let mut files = Vec::new();
    let root = match (root_upload, &stored.root) {
        (None, None) => {
            return Err(UpdateError::Validation(
                "no pre-existing root and no root provided in update.".to_owned(),
            ));
        }
        (None, Some(current)) => current.clone(),
        (Some(bytes), current) => {
            let new = check_new_root(gun, current.as_ref(), &bytes, now, verifier)?;
            files.push((RoleName::root(), new.version(), bytes));
            new
        }
    };

    // 3. Targets and delegations, shallow first then by name.
    let mut loaded: BTreeMap<RoleName, Signed<Targets>> = BTreeMap::new();
    for ((_, role), bytes) in targets_uploads {
        let doc = Signed::<Targets>::from_bytes(&bytes)
            .map_err(|e| UpdateError::BadTargets(e.to_string()))?;
        check_targets(
            &root.signed,
            stored,
            &mut loaded,
            &role,
            &doc,
            now,
            verifier,
        )
        .map_err(|e| UpdateError::BadTargets(e.to_string()))?;
        files.push((role.clone(), doc.version(), bytes));
        loaded.insert(role, doc);
    }
    if let std::collections::btree_map::Entry::Vacant(slot) = loaded.entry(RoleName::targets()) {
        let Some(t) = stored.targets.get(&RoleName::targets()) else {
            return Err(UpdateError::BadHierarchy {
                missing: "targets".to_owned(),
                msg: "no targets metadata was included in update and none exists on the server"
                    .to_owned(),
            });
        };
        slot.insert(t.clone());
    }

    // 4-5. Snapshot.
    let snapshot = match snapshot_upload {
        Some(bytes) => {
            let doc = check_snapshot(&root, &loaded, &bytes, now, verifier)
                .map_err(UpdateError::BadSnapshot)?;
            files.push((RoleName::snapshot(), doc.version(), bytes));
            SnapshotPlan::Uploaded(doc)
        }
        None => {
            let roles = std::iter::once((RoleName::root(), root.bytes()))
                .chain(loaded.iter().map(|(r, d)| (r.clone(), d.bytes())));
            let draft = snapshot_for(
                &root.signed,
                stored.snapshot.as_ref().map(|s| &s.signed),
                roles,
                now,
            )
            .map_err(|e| UpdateError::BadSnapshot(e.to_string()))?;
            SnapshotPlan::Sign(draft)
        }
    };
    Ok(ValidatedUpdate {
        root,
        files,
        snapshot,
    })
}

fn check_new_root(
    gun: &str,
    current: Option<&Signed<Root>>,
    bytes: &[u8],
    now: UnixTime,
    verifier: &dyn Verifier,
) -> Result<Signed<Root>, UpdateError> {
    let bad = |e: &dyn core::fmt::Display| UpdateError::BadRoot(e.to_string());
    let new = Signed::<Root>::from_bytes(bytes).map_err(|e| bad(&e))?;
    let current_version = current.map_or(1, Signed::version);
    if new.version() != current_version && Some(new.version()) != current_version.checked_add(1) {
        return Err(UpdateError::BadRoot(format!(
            "Root modifications must increment the version. Current {current_version}, new {}",
            new.version()
        )));
    }
    check_root_structure(&new.signed).map_err(|e| bad(&e))?;
    if let Some(old) = current {
        // Rotation: the old root's keys (expiry ignored) must sign the new root.
        verify_root_signed_by(&new, &old.signed, gun, None, verifier).map_err(|e| bad(&e))?;
    }
    verify_root_signed_by(&new, &new.signed, gun, Some(now), verifier).map_err(|e| bad(&e))?;
    check_expiry(&new, &RoleName::root(), now).map_err(|e| bad(&e))?;
    Ok(new)
}

fn check_targets(
    root: &Root,
    stored: &RepoState,
    loaded: &mut BTreeMap<RoleName, Signed<Targets>>,
    role: &RoleName,
    doc: &Signed<Targets>,
    now: UnixTime,
    verifier: &dyn Verifier,
) -> Result<(), VerifyError> {
    match role.parent() {
        None => {
            let ring = base_role_ring(root, "targets")?;
            verify_threshold(doc, role, &ring, verifier)?;
        }
        Some(parent) => {
            if !loaded.contains_key(&parent) {
                let stored_parent =
                    stored
                        .targets
                        .get(&parent)
                        .ok_or_else(|| VerifyError::Structure {
                            role: role.clone(),
                            reason: format!("parent role {parent} does not exist"),
                        })?;
                loaded.insert(parent.clone(), stored_parent.clone());
                // Ancestors of the parent are loaded too, so snapshot covers them.
                let mut up = parent.parent();
                while let Some(anc) = up {
                    if let (false, Some(d)) = (loaded.contains_key(&anc), stored.targets.get(&anc))
                    {
                        loaded.insert(anc.clone(), d.clone());
                    }
                    up = anc.parent();
                }
            }
            let parent_doc = &loaded[&parent];
            let ring = delegation_ring(&parent_doc.signed, role).ok_or_else(|| {
                VerifyError::Structure {
                    role: role.clone(),
                    reason: "delegation does not exist".to_owned(),
                }
            })?;
            verify_threshold(doc, role, &ring, verifier)?;
        }
    }
    check_delegations(&doc.signed, role)?;
    check_expiry(doc, role, now)
}

fn check_snapshot(
    root: &Signed<Root>,
    loaded: &BTreeMap<RoleName, Signed<Targets>>,
    bytes: &[u8],
    now: UnixTime,
    verifier: &dyn Verifier,
) -> Result<Signed<Snapshot>, String> {
    let doc = Signed::<Snapshot>::from_bytes(bytes).map_err(|e| e.to_string())?;
    let role = RoleName::snapshot();
    let ring = base_role_ring(&root.signed, "snapshot").map_err(|e| e.to_string())?;
    verify_threshold(&doc, &role, &ring, verifier).map_err(|e| e.to_string())?;
    check_expiry(&doc, &role, now).map_err(|e| e.to_string())?;
    let files = std::iter::once((RoleName::root(), root.bytes()))
        .chain(loaded.iter().map(|(r, d)| (r.clone(), d.bytes())));
    for (name, file) in files {
        let meta = doc
            .signed
            .meta
            .get(name.as_str())
            .ok_or_else(|| format!("snapshot missing metadata for {name}"))?;
        meta.check(file)
            .map_err(|e| format!("snapshot entry for {name}: {e}"))?;
    }
    Ok(doc)
}

/// A new snapshot: the previous one (if any) with fresh entries for `roles`, version + 1
/// (or 1), expiring in [`SNAPSHOT_LIFETIME_YEARS`], to be signed by root's snapshot keys.
pub fn snapshot_for<'a>(
    root: &Root,
    prev: Option<&Snapshot>,
    roles: impl IntoIterator<Item = (RoleName, &'a [u8])>,
    now: UnixTime,
) -> Result<Unsigned<Snapshot>, MetadataError> {
    let mut snap = match prev {
        Some(p) => p.clone(),
        None => Snapshot {
            ty: Snapshot::TYPE.to_owned(),
            expires: Expires::at(now),
            meta: BTreeMap::new(),
            version: 0,
            extra: Map::new(),
        },
    };
    for (name, bytes) in roles {
        snap.meta
            .insert(name.as_str().to_owned(), FileMeta::of(bytes));
    }
    snap.version = next_version::<Snapshot>(snap.version)?;
    snap.expires = Expires::at(now.add_years(SNAPSHOT_LIFETIME_YEARS));
    let (keyids, threshold) = role_keys(root, "snapshot");
    Unsigned::new(RoleName::snapshot(), snap, keyids, threshold)
}

/// A new timestamp over `snapshot_bytes`: the previous timestamp (if any) with the new
/// snapshot entry, version + 1 (or 1), expiring in [`TIMESTAMP_LIFETIME_DAYS`], to be
/// signed by root's timestamp keys.
pub fn timestamp_for(
    root: &Root,
    prev: Option<&Timestamp>,
    snapshot_bytes: &[u8],
    now: UnixTime,
) -> Result<Unsigned<Timestamp>, MetadataError> {
    let mut ts = match prev {
        Some(p) => p.clone(),
        None => Timestamp {
            ty: Timestamp::TYPE.to_owned(),
            expires: Expires::at(now),
            meta: BTreeMap::new(),
            version: 0,
            extra: Map::new(),
        },
    };
    ts.meta
        .insert("snapshot".to_owned(), FileMeta::of(snapshot_bytes));
    ts.version = next_version::<Timestamp>(ts.version)?;
    ts.expires = Expires::at(now.add_days(TIMESTAMP_LIFETIME_DAYS));
    let (keyids, threshold) = role_keys(root, "timestamp");
    Unsigned::new(RoleName::timestamp(), ts, keyids, threshold)
}

/// Whether the stored timestamp must be replaced: expired at `now`, or not describing
/// `snapshot_bytes`.
pub fn timestamp_is_stale(ts: &Timestamp, snapshot_bytes: &[u8], now: UnixTime) -> bool {
    ts.expires.is_expired(now)
        || ts
            .meta
            .get("snapshot")
            .is_none_or(|m| m.check(snapshot_bytes).is_err())
}

/// `version + 1`; a previous version of `u64::MAX` has no successor (and must not wrap
/// around to 0, which would make versions go backwards).
fn next_version<T: Role>(version: u64) -> Result<u64, MetadataError> {
    version
        .checked_add(1)
        .ok_or_else(|| MetadataError::Malformed {
            expected: T::TYPE,
            reason: format!("version {version} has no successor"),
        })
}

fn role_keys(root: &Root, role: &str) -> (Vec<crate::key::KeyId>, i64) {
    root.roles
        .get(role)
        .map_or((vec![], 1), |r| (r.keyids.clone(), r.threshold))
}
