//! The consumer's side: verifying a repository from a trusted root down to its targets,
//! one stage at a time, with bytes in and decisions out (TUF client workflow as Notary's
//! client runs it, spec §6.6).
//!
//! Each stage is its own type, consumed by value, so stages cannot be taken out of order:
//!
//! ```text
//! TrustedRoot ──update_root*──▶ TrustedRoot ──update_timestamp──▶ TrustedTimestamp
//!   ──update_snapshot──▶ TrustedSnapshot ──update_targets──▶ TrustedTargets ──add_delegation*
//! ```
//!
//! The caller fetches: after `update_timestamp`, `snapshot_meta()` says which snapshot
//! (length and checksum) to fetch; after `update_snapshot`, `meta(role)` does the same for
//! targets and delegations. Every stage checks signatures against the root (or the
//! delegating role), expiry against the reference time, hashes against the referring
//! metadata, and versions against those the caller trusted before (rollback).

use std::collections::BTreeMap;

use crate::crypto::Verifier;
use crate::error::VerifyError;
use crate::metadata::{FileMeta, Role, RoleName, Root, Signed, Snapshot, Targets, Timestamp};
use crate::time::UnixTime;
use crate::verify::{
    base_role_ring, check_delegations, check_expiry, check_root_structure, delegation_ring,
    verify_root_signed_by, verify_threshold,
};

/// Versions the caller trusted before (from its cache); offers below them are rollbacks.
#[derive(Clone, Debug, Default)]
pub struct KnownVersions(BTreeMap<RoleName, u64>);

impl KnownVersions {
    /// Records that `version` of `role` was trusted.
    pub fn insert(&mut self, role: RoleName, version: u64) {
        let v = self.0.entry(role).or_insert(0);
        *v = (*v).max(version);
    }

    fn check<T: Role>(&self, role: &RoleName, doc: &Signed<T>) -> Result<(), VerifyError> {
        match self.0.get(role) {
            Some(&trusted) if doc.version() < trusted => Err(VerifyError::Rollback {
                role: role.clone(),
                trusted,
                offered: doc.version(),
            }),
            _ => Ok(()),
        }
    }
}

/// A root the caller trusts for one GUN.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    gun: String,
    root: Signed<Root>,
    known: KnownVersions,
}

impl TrustedRoot {
    /// Accepts a root on first use (or from a pinned copy): it must be well formed, signed by
    /// its own root keys under Notary's certificate rules for `gun`, and unexpired.
    pub fn new(
        gun: &str,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<Self, VerifyError> {
        let root = parse::<Root>(&RoleName::root(), bytes)?;
        check_root_structure(&root.signed)?;
        verify_root_signed_by(&root, &root.signed, gun, Some(now), verifier)?;
        check_expiry(&root, &RoleName::root(), now)?;
        Ok(Self {
            gun: gun.to_owned(),
            root,
            known: KnownVersions::default(),
        })
    }

    /// Versions trusted before, for rollback checks in later stages.
    pub fn with_known_versions(mut self, known: KnownVersions) -> Self {
        self.known = known;
        self
    }

    /// A newer root: signed by this root's threshold of root keys (certificate expiry
    /// ignored) and by its own, not older than this one, unexpired.
    pub fn update_root(
        self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<Self, VerifyError> {
        let role = RoleName::root();
        let new = parse::<Root>(&role, bytes)?;
        if new.version() < self.root.version() {
            return Err(VerifyError::Rollback {
                role,
                trusted: self.root.version(),
                offered: new.version(),
            });
        }
        check_root_structure(&new.signed)?;
        verify_root_signed_by(&new, &self.root.signed, &self.gun, None, verifier)?;
        verify_root_signed_by(&new, &new.signed, &self.gun, Some(now), verifier)?;
        check_expiry(&new, &role, now)?;
        Ok(Self { root: new, ..self })
    }

    /// The trusted root.
    pub fn root(&self) -> &Signed<Root> {
        &self.root
    }

    /// Verifies `timestamp.json`.
    pub fn update_timestamp(
        self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedTimestamp, VerifyError> {
        let role = RoleName::timestamp();
        let ts = parse::<Timestamp>(&role, bytes)?;
        verify_threshold(
            &ts,
            &role,
            &base_role_ring(&self.root.signed, "timestamp")?,
            verifier,
        )?;
        self.known.check(&role, &ts)?;
        check_expiry(&ts, &role, now)?;
        if !ts.signed.meta.contains_key("snapshot") {
            return Err(VerifyError::Structure {
                role,
                reason: "timestamp has no snapshot entry".to_owned(),
            });
        }
        Ok(TrustedTimestamp {
            root: self,
            timestamp: ts,
        })
    }
}

/// A verified timestamp.
#[derive(Clone, Debug)]
pub struct TrustedTimestamp {
    root: TrustedRoot,
    timestamp: Signed<Timestamp>,
}

impl TrustedTimestamp {
    /// What the snapshot to fetch must be (length, hashes).
    pub fn snapshot_meta(&self) -> &FileMeta {
        // Checked to exist when this stage was built.
        &self.timestamp.signed.meta["snapshot"]
    }

    /// The verified timestamp.
    pub fn timestamp(&self) -> &Signed<Timestamp> {
        &self.timestamp
    }

    /// Verifies the snapshot named by the timestamp.
    pub fn update_snapshot(
        self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedSnapshot, VerifyError> {
        let role = RoleName::snapshot();
        self.snapshot_meta()
            .check(bytes)
            .map_err(|reason| VerifyError::HashMismatch {
                role: role.clone(),
                reason,
            })?;
        let snap = parse::<Snapshot>(&role, bytes)?;
        verify_threshold(
            &snap,
            &role,
            &base_role_ring(&self.root.root.signed, "snapshot")?,
            verifier,
        )?;
        self.root.known.check(&role, &snap)?;
        check_expiry(&snap, &role, now)?;
        Ok(TrustedSnapshot {
            prev: self,
            snapshot: snap,
        })
    }
}

/// A verified snapshot.
#[derive(Clone, Debug)]
pub struct TrustedSnapshot {
    prev: TrustedTimestamp,
    snapshot: Signed<Snapshot>,
}

impl TrustedSnapshot {
    /// What the file of `role` must be (length, hashes), if the snapshot lists it.
    pub fn meta(&self, role: &RoleName) -> Option<&FileMeta> {
        self.snapshot.signed.meta.get(role.as_str())
    }

    /// Verifies top-level `targets.json`.
    pub fn update_targets(
        self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedTargets, VerifyError> {
        let role = RoleName::targets();
        check_listed(&self, &role, bytes)?;
        let targets = parse::<Targets>(&role, bytes)?;
        verify_threshold(
            &targets,
            &role,
            &base_role_ring(&self.prev.root.root.signed, "targets")?,
            verifier,
        )?;
        self.prev.root.known.check(&role, &targets)?;
        check_delegations(&targets.signed, &role)?;
        check_expiry(&targets, &role, now)?;
        let mut roles = BTreeMap::new();
        roles.insert(role, targets);
        Ok(TrustedTargets {
            snapshot: self,
            roles,
        })
    }
}

fn check_listed(
    snapshot: &TrustedSnapshot,
    role: &RoleName,
    bytes: &[u8],
) -> Result<(), VerifyError> {
    let meta = snapshot.meta(role).ok_or_else(|| VerifyError::Structure {
        role: role.clone(),
        reason: "not listed in snapshot".to_owned(),
    })?;
    meta.check(bytes)
        .map_err(|reason| VerifyError::HashMismatch {
            role: role.clone(),
            reason,
        })
}

/// Verified targets and any delegations added so far.
#[derive(Clone, Debug)]
pub struct TrustedTargets {
    snapshot: TrustedSnapshot,
    roles: BTreeMap<RoleName, Signed<Targets>>,
}

impl TrustedTargets {
    /// What the file of `role` must be, if the snapshot lists it.
    pub fn meta(&self, role: &RoleName) -> Option<&FileMeta> {
        self.snapshot.meta(role)
    }

    /// Verifies a delegated role against its (already verified) parent.
    pub fn add_delegation(
        &mut self,
        role: &RoleName,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<(), VerifyError> {
        let parent = role.parent().ok_or_else(|| VerifyError::Structure {
            role: role.clone(),
            reason: "not a delegated role".to_owned(),
        })?;
        let parent_doc = self
            .roles
            .get(&parent)
            .ok_or_else(|| VerifyError::Structure {
                role: role.clone(),
                reason: format!("parent {parent} is not verified"),
            })?;
        check_listed(&self.snapshot, role, bytes)?;
        let doc = parse::<Targets>(role, bytes)?;
        let ring =
            delegation_ring(&parent_doc.signed, role).ok_or_else(|| VerifyError::Structure {
                role: role.clone(),
                reason: "delegation does not exist".to_owned(),
            })?;
        verify_threshold(&doc, role, &ring, verifier)?;
        self.snapshot.prev.root.known.check(role, &doc)?;
        check_delegations(&doc.signed, role)?;
        check_expiry(&doc, role, now)?;
        self.roles.insert(role.clone(), doc);
        Ok(())
    }

    /// The verified targets roles.
    pub fn roles(&self) -> &BTreeMap<RoleName, Signed<Targets>> {
        &self.roles
    }

    /// Looks `name` up in `roles`, in order, among verified roles; a delegated role only
    /// counts for names under one of the path prefixes its parent allows. Returns the first
    /// role that lists it and its entry.
    pub fn find(&self, name: &str, roles: &[RoleName]) -> Option<(&RoleName, &FileMeta)> {
        roles.iter().find_map(|r| {
            let (role, doc) = self.roles.get_key_value(r)?;
            if !self.path_allowed(role, name) {
                return None;
            }
            doc.signed.targets.get(name).map(|m| (role, m))
        })
    }

    /// Whether every delegation from `targets` down to `role` allows `name`.
    fn path_allowed(&self, role: &RoleName, name: &str) -> bool {
        let mut child = role.clone();
        while let Some(parent) = child.parent() {
            let Some(parent_doc) = self.roles.get(&parent) else {
                return false;
            };
            let allowed = parent_doc
                .signed
                .delegations
                .roles
                .iter()
                .find(|d| d.name == child.as_str())
                .and_then(|d| d.paths.as_ref())
                .is_some_and(|paths| paths.iter().any(|p| name.starts_with(p.as_str())));
            if !allowed {
                return false;
            }
            child = parent;
        }
        true
    }

    /// The verified root.
    pub fn root(&self) -> &Signed<Root> {
        self.snapshot.prev.root.root()
    }
}

fn parse<T: Role>(role: &RoleName, bytes: &[u8]) -> Result<Signed<T>, VerifyError> {
    Signed::<T>::from_bytes(bytes).map_err(|e| VerifyError::Structure {
        role: role.clone(),
        reason: e.to_string(),
    })
}
