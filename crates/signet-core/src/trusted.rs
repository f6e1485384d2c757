//! The consumer's side: verifying a repository from a trusted root down to its targets,
//! one stage at a time, with bytes in and decisions out (TUF client workflow as Notary's
//! client runs it, spec §6.6).
//!
//! Each stage is its own type, so stages cannot be taken out of order:
//!
//! ```text
//! TrustedRoot::{first_use, from_cache} ──update_root*──▶ TrustedRoot
//!   ──update_timestamp──▶ TrustedTimestamp ──update_snapshot──▶ TrustedSnapshot
//!   ──update_targets──▶ TrustedTargets ──add_delegation*
//! ```
//!
//! Every step takes `&self` (or `&mut self` for [`TrustedTargets::add_delegation`]) and
//! returns the next stage or an error, leaving the caller with the stage it had: a
//! rejected step never costs the last trusted state. Stages share the documents below them
//! (reference counted), so taking a step never copies the state.
//!
//! The caller fetches: after `update_timestamp`, `snapshot_meta()` says which snapshot
//! (length and checksum) to fetch; after `update_snapshot`, `meta(role)` does the same for
//! targets and delegations. Every stage checks the size against the caller's [`Limits`],
//! signatures against the root (or the delegating role), expiry against the reference
//! time, hashes against the referring metadata, and versions against those the caller
//! trusted before (rollback). Every verified document keeps its exact bytes
//! ([`Signed::bytes`]) for the caller's cache.
//!
//! Trust in the first root is an explicit input, [`Pinning`]: pinned root keys, pinned CA
//! certificates, trust on first use (which reports the key IDs it accepted), or none.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::crypto::Verifier;
use crate::error::VerifyError;
use crate::key::{KeyId, KeyRing, PublicKey, parse_cert_chain};
use crate::metadata::{FileMeta, Role, RoleName, Root, Signed, Snapshot, Targets, Timestamp};
use crate::time::UnixTime;
use crate::verify::{
    base_role_ring, chains_to_ca, check_delegations, check_expiry, check_root_structure,
    delegation_ring, root_cert_keys, verify_root_signed_by, verify_threshold,
};

/// How roots are trusted. Key and CA pinning apply to **every** root accepted (the first
/// one and each rotation), as in Notary's `trust_pinning`; the TOFU modes only decide
/// whether a first root may come from the network.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pinning {
    /// Trust on first use: a first root signed to its threshold by its own keys is
    /// accepted; [`TrustedRoot::first_use_key_ids`] reports which keys were accepted.
    Tofu,
    /// Notary's `disable_tofu`: a root is trusted only from the caller's cache
    /// ([`TrustedRoot::from_cache`]); [`TrustedRoot::first_use`] fails.
    DisableTofu,
    /// Pinned root keys, by TUF key ID (the X.509 ID root.json lists) or canonical key ID
    /// (the ID of the bare public key): only root keys in this set count, and every root
    /// must be signed to its threshold by them.
    Keys(BTreeSet<KeyId>),
    /// Pinned CA certificates (DER), Notary's `trust_pinning.ca`: only root keys whose leaf
    /// certificate chains to one of them (through the intermediates bundled in the root
    /// key) count, and every root must be signed to its threshold by them.
    Ca(Vec<Vec<u8>>),
}

impl Pinning {
    /// Pins the given public keys (by canonical key ID, so an X.509 root key matches the
    /// bare public key inside its certificate).
    pub fn public_keys<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        Self::Keys(keys.into_iter().map(|k| k.canonical_id().clone()).collect())
    }

    /// Pins the CA certificates in a PEM bundle.
    pub fn ca_pem(pem: &[u8]) -> Result<Self, String> {
        let certs = parse_cert_chain(pem)?;
        Ok(Self::Ca(certs.into_iter().map(|c| c.der).collect()))
    }

    /// The root keys of `root` for `gun` that this pinning accepts, under Notary's
    /// certificate rules (certificate expiry checked only when `cert_time` is given; CA
    /// chains are always checked at `now`).
    fn ring(
        &self,
        root: &Root,
        gun: &str,
        cert_time: Option<UnixTime>,
        now: UnixTime,
    ) -> Vec<(KeyId, PublicKey)> {
        let mut keys = root_cert_keys(root, gun, cert_time);
        match self {
            Self::Tofu | Self::DisableTofu => {}
            Self::Keys(pinned) => {
                keys.retain(|(id, k)| pinned.contains(id) || pinned.contains(k.canonical_id()));
            }
            Self::Ca(cas) => keys.retain(|(_, k)| {
                let certs = k.certificates();
                let ints: Vec<Vec<u8>> = certs.iter().skip(1).map(|c| c.der.clone()).collect();
                certs
                    .first()
                    .is_some_and(|leaf| chains_to_ca(&leaf.der, &ints, cas, now))
            }),
        }
        keys
    }

    fn is_pinned(&self) -> bool {
        matches!(self, Self::Keys(_) | Self::Ca(_))
    }
}

/// Size limits per role, in bytes: a file over its limit is refused before it is parsed
/// (and a client stops reading at the limit). Snapshot, targets and delegations must also
/// have exactly the length their referring metadata lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `root.json` and every `<v>.root.json`.
    pub root: u64,
    /// `timestamp.json` (Notary: 1 MiB).
    pub timestamp: u64,
    /// `snapshot.json`.
    pub snapshot: u64,
    /// `targets.json` and each delegation.
    pub targets: u64,
}

impl Default for Limits {
    /// root 1 MiB, timestamp 1 MiB, snapshot 32 MiB, targets and each delegation 128 MiB.
    fn default() -> Self {
        const MIB: u64 = 1 << 20;
        Self {
            root: MIB,
            timestamp: MIB,
            snapshot: 32 * MIB,
            targets: 128 * MIB,
        }
    }
}

impl Limits {
    /// The limit for `role`.
    pub fn for_role(&self, role: &RoleName) -> u64 {
        match role.as_str() {
            "root" => self.root,
            "timestamp" => self.timestamp,
            "snapshot" => self.snapshot,
            _ => self.targets,
        }
    }

    /// Fails if `size` is over the limit for `role`.
    pub fn check(&self, role: &RoleName, size: u64) -> Result<(), VerifyError> {
        let limit = self.for_role(role);
        if size > limit {
            return Err(VerifyError::TooLarge {
                role: role.clone(),
                limit,
                size,
            });
        }
        Ok(())
    }

    /// The number of bytes to accept for `role` when its referring metadata lists `meta`:
    /// the listed length, if it is within the limit.
    pub fn expected(&self, role: &RoleName, meta: &FileMeta) -> Result<u64, VerifyError> {
        let size = u64::try_from(meta.length).map_err(|_| VerifyError::Structure {
            role: role.clone(),
            reason: format!("negative length {}", meta.length),
        })?;
        self.check(role, size)?;
        Ok(size)
    }
}

/// Versions the caller trusted before (from its cache); offers below them are rollbacks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownVersions(BTreeMap<RoleName, u64>);

impl KnownVersions {
    /// Records that `version` of `role` was trusted.
    pub fn insert(&mut self, role: RoleName, version: u64) {
        let v = self.0.entry(role).or_insert(0);
        *v = (*v).max(version);
    }

    /// The highest version of `role` trusted so far.
    pub fn get(&self, role: &RoleName) -> Option<u64> {
        self.0.get(role).copied()
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

/// A root the caller trusts for one GUN, with the pinning and limits it was trusted under.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    gun: Arc<str>,
    pinning: Arc<Pinning>,
    limits: Limits,
    root: Arc<Signed<Root>>,
    known: Arc<KnownVersions>,
    first_use: Option<Vec<KeyId>>,
}

impl TrustedRoot {
    /// Accepts a first root fetched from a server. It must be well formed and signed to its
    /// threshold by its own root keys under Notary's certificate rules for `gun`
    /// (certificates unexpired at `now`) and under `pinning`. With [`Pinning::DisableTofu`]
    /// this always fails. Expiry of the root itself is checked by
    /// [`TrustedRoot::update_timestamp`].
    pub fn first_use(
        gun: &str,
        bytes: &[u8],
        pinning: Pinning,
        limits: Limits,
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<Self, VerifyError> {
        if pinning == Pinning::DisableTofu {
            return Err(VerifyError::Pinning {
                reason: format!(
                    "trust on first use is disabled and there is no trusted root for {gun}"
                ),
            });
        }
        let root = parse_root(bytes, &limits)?;
        let accepted = accept_own(&root, gun, &pinning, Some(now), now, verifier)?;
        let first_use = (pinning == Pinning::Tofu).then_some(accepted);
        Ok(Self {
            gun: gun.into(),
            pinning: Arc::new(pinning),
            limits,
            root: Arc::new(root),
            known: Arc::default(),
            first_use,
        })
    }

    /// Accepts a root from the caller's own cache as the trust anchor: well formed and
    /// signed to its threshold by its own keys under `pinning`, with certificate and
    /// metadata expiry ignored (an expired anchor can still authorize its successor; it is
    /// not used to verify anything else until [`TrustedRoot::update_timestamp`] finds it
    /// current).
    pub fn from_cache(
        gun: &str,
        bytes: &[u8],
        pinning: Pinning,
        limits: Limits,
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<Self, VerifyError> {
        let root = parse_root(bytes, &limits)?;
        accept_own(&root, gun, &pinning, None, now, verifier)?;
        Ok(Self {
            gun: gun.into(),
            pinning: Arc::new(pinning),
            limits,
            root: Arc::new(root),
            known: Arc::default(),
            first_use: None,
        })
    }

    /// Sets the versions trusted before, for rollback checks in later stages.
    pub fn with_known_versions(mut self, known: KnownVersions) -> Self {
        self.known = Arc::new(known);
        self
    }

    /// The next root, one rotation step: its version must be this root's version plus one
    /// ([`VerifyError::RootVersionGap`] if further ahead: fetch `<v>.root.json` for each
    /// version in between first). It must be signed by this root's threshold of root keys
    /// (certificate expiry ignored) and by its own threshold under the pinning. Metadata
    /// and certificate expiry of the new root are not checked here (an intermediate root of
    /// a walk may have expired); [`TrustedRoot::update_timestamp`] checks the final one.
    ///
    /// The same version is accepted only with the same signed content (the result is then
    /// this root); a lower version is a rollback.
    pub fn update_root(
        &self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<Self, VerifyError> {
        let role = RoleName::root();
        let new = parse_root(bytes, &self.limits)?;
        let (trusted, offered) = (self.root.version(), new.version());
        if offered < trusted {
            return Err(VerifyError::Rollback {
                role,
                trusted,
                offered,
            });
        }
        if offered == trusted {
            if new.canonical() != self.root.canonical() {
                return Err(VerifyError::RootConflict {
                    expected: trusted,
                    found: offered,
                });
            }
            return Ok(self.clone());
        }
        if offered > trusted + 1 {
            return Err(VerifyError::RootVersionGap { trusted, offered });
        }
        verify_root_signed_by(&new, &self.root.signed, &self.gun, None, verifier).map_err(|e| {
            match e {
                VerifyError::ThresholdNotMet {
                    threshold, valid, ..
                } => VerifyError::RotationNotAuthorized {
                    trusted_version: trusted,
                    offered_version: offered,
                    threshold,
                    valid,
                },
                VerifyError::Structure { .. } => VerifyError::RotationNotAuthorized {
                    trusted_version: trusted,
                    offered_version: offered,
                    threshold: self
                        .root
                        .signed
                        .roles
                        .get("root")
                        .map_or(0, |r| r.threshold),
                    valid: 0,
                },
                other => other,
            }
        })?;
        accept_own(&new, &self.gun, &self.pinning, None, now, verifier)?;
        Ok(Self {
            root: Arc::new(new),
            ..self.clone()
        })
    }

    /// Fails unless this root can be used at `now`: not expired (freeze), and signed to its
    /// threshold by its own keys whose certificates are valid at `now`, under the pinning.
    pub fn check_current(&self, now: UnixTime, verifier: &dyn Verifier) -> Result<(), VerifyError> {
        check_expiry(&self.root, &RoleName::root(), now)?;
        accept_own(
            &self.root,
            &self.gun,
            &self.pinning,
            Some(now),
            now,
            verifier,
        )?;
        Ok(())
    }

    /// The trusted root.
    pub fn root(&self) -> &Signed<Root> {
        &self.root
    }

    /// The GUN.
    pub fn gun(&self) -> &str {
        &self.gun
    }

    /// The pinning this root was trusted under.
    pub fn pinning(&self) -> &Pinning {
        &self.pinning
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The versions trusted before.
    pub fn known_versions(&self) -> &KnownVersions {
        &self.known
    }

    /// When this chain started from a root trusted on first use ([`Pinning::Tofu`]), the
    /// TUF IDs of the root keys that were accepted; `None` otherwise.
    pub fn first_use_key_ids(&self) -> Option<&[KeyId]> {
        self.first_use.as_deref()
    }

    /// Verifies `timestamp.json` after checking that this root is current
    /// ([`TrustedRoot::check_current`]).
    pub fn update_timestamp(
        &self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedTimestamp, VerifyError> {
        self.check_current(now, verifier)?;
        let role = RoleName::timestamp();
        self.limits.check(&role, len(bytes))?;
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
            root: self.clone(),
            timestamp: Arc::new(ts),
        })
    }
}

/// The root keys of `root` accepted under `pinning`, after checking that they sign `root`
/// to its own threshold. Returns their TUF IDs.
fn accept_own(
    root: &Signed<Root>,
    gun: &str,
    pinning: &Pinning,
    cert_time: Option<UnixTime>,
    now: UnixTime,
    verifier: &dyn Verifier,
) -> Result<Vec<KeyId>, VerifyError> {
    check_root_structure(&root.signed)?;
    let keys = pinning.ring(&root.signed, gun, cert_time, now);
    if keys.is_empty() {
        if pinning.is_pinned() && !root_cert_keys(&root.signed, gun, cert_time).is_empty() {
            return Err(VerifyError::Pinning {
                reason: "unable to match any certificates to trust_pinning config".to_owned(),
            });
        }
        return Err(VerifyError::Structure {
            role: RoleName::root(),
            reason: "unable to retrieve valid leaf certificates".to_owned(),
        });
    }
    let threshold = root.signed.roles.get("root").map_or(0, |r| r.threshold);
    let ring = KeyRing {
        keys: keys.iter().map(|(id, k)| (id, k)).collect(),
        threshold,
    };
    verify_threshold(root, &RoleName::root(), &ring, verifier).map_err(|e| match e {
        VerifyError::ThresholdNotMet {
            threshold, valid, ..
        } if pinning.is_pinned() => VerifyError::Pinning {
            reason: format!(
                "root version {} has {valid} valid signatures by pinned keys, threshold {threshold}",
                root.version()
            ),
        },
        other => other,
    })?;
    Ok(keys.into_iter().map(|(id, _)| id).collect())
}

fn parse_root(bytes: &[u8], limits: &Limits) -> Result<Signed<Root>, VerifyError> {
    let role = RoleName::root();
    limits.check(&role, len(bytes))?;
    parse::<Root>(&role, bytes)
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// A verified timestamp.
#[derive(Clone, Debug)]
pub struct TrustedTimestamp {
    root: TrustedRoot,
    timestamp: Arc<Signed<Timestamp>>,
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

    /// The root this timestamp was verified against.
    pub fn trusted_root(&self) -> &TrustedRoot {
        &self.root
    }

    /// Verifies the snapshot named by the timestamp. It must list `root` and `targets`, and
    /// the trusted root must be exactly the root it lists (mix-and-match).
    pub fn update_snapshot(
        &self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedSnapshot, VerifyError> {
        let role = RoleName::snapshot();
        let limits = &self.root.limits;
        limits.expected(&role, self.snapshot_meta())?;
        limits.check(&role, len(bytes))?;
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
        for listed in ["root", "targets"] {
            if !snap.signed.meta.contains_key(listed) {
                return Err(VerifyError::Structure {
                    role,
                    reason: format!("snapshot has no {listed} entry"),
                });
            }
        }
        snap.signed.meta["root"]
            .check(self.root.root.bytes())
            .map_err(|reason| VerifyError::HashMismatch {
                role: RoleName::root(),
                reason: format!("trusted root is not the root the snapshot lists: {reason}"),
            })?;
        Ok(TrustedSnapshot {
            timestamp: self.clone(),
            snapshot: Arc::new(snap),
        })
    }
}

/// A verified snapshot.
#[derive(Clone, Debug)]
pub struct TrustedSnapshot {
    timestamp: TrustedTimestamp,
    snapshot: Arc<Signed<Snapshot>>,
}

impl TrustedSnapshot {
    /// What the file of `role` must be (length, hashes), if the snapshot lists it.
    pub fn meta(&self, role: &RoleName) -> Option<&FileMeta> {
        self.snapshot.signed.meta.get(role.as_str())
    }

    /// The verified snapshot.
    pub fn snapshot(&self) -> &Signed<Snapshot> {
        &self.snapshot
    }

    /// The timestamp stage below.
    pub fn trusted_timestamp(&self) -> &TrustedTimestamp {
        &self.timestamp
    }

    fn root(&self) -> &TrustedRoot {
        &self.timestamp.root
    }

    /// This stage with `version` of `role` recorded as trusted before, for the checks of
    /// later stages: for a caller that learns a floor only once it knows which files it
    /// needs (the version of a cached file it will not use again). Only raises a floor.
    #[must_use]
    pub fn with_known_version(mut self, role: RoleName, version: u64) -> Self {
        Arc::make_mut(&mut self.timestamp.root.known).insert(role, version);
        self
    }

    /// Verifies top-level `targets.json`.
    pub fn update_targets(
        &self,
        bytes: &[u8],
        now: UnixTime,
        verifier: &dyn Verifier,
    ) -> Result<TrustedTargets, VerifyError> {
        let role = RoleName::targets();
        check_listed(self, &role, bytes)?;
        let targets = parse::<Targets>(&role, bytes)?;
        verify_threshold(
            &targets,
            &role,
            &base_role_ring(&self.root().root.signed, "targets")?,
            verifier,
        )?;
        self.root().known.check(&role, &targets)?;
        check_delegations(&targets.signed, &role)?;
        check_expiry(&targets, &role, now)?;
        let mut roles = BTreeMap::new();
        roles.insert(role, Arc::new(targets));
        Ok(TrustedTargets {
            snapshot: self.clone(),
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
    let limits = &snapshot.root().limits;
    limits.expected(role, meta)?;
    limits.check(role, len(bytes))?;
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
    roles: BTreeMap<RoleName, Arc<Signed<Targets>>>,
}

impl TrustedTargets {
    /// What the file of `role` must be, if the snapshot lists it.
    pub fn meta(&self, role: &RoleName) -> Option<&FileMeta> {
        self.snapshot.meta(role)
    }

    /// The snapshot stage below.
    pub fn trusted_snapshot(&self) -> &TrustedSnapshot {
        &self.snapshot
    }

    /// The root stage at the bottom.
    pub fn trusted_root(&self) -> &TrustedRoot {
        self.snapshot.root()
    }

    /// Verifies a delegated role against its (already verified) parent. On error nothing
    /// changes.
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
        self.snapshot.root().known.check(role, &doc)?;
        check_delegations(&doc.signed, role)?;
        check_expiry(&doc, role, now)?;
        self.roles.insert(role.clone(), Arc::new(doc));
        Ok(())
    }

    /// The verified targets roles.
    pub fn roles(&self) -> impl Iterator<Item = (&RoleName, &Signed<Targets>)> {
        self.roles.iter().map(|(r, d)| (r, d.as_ref()))
    }

    /// A verified targets role.
    pub fn role(&self, role: &RoleName) -> Option<&Signed<Targets>> {
        self.roles.get(role).map(Arc::as_ref)
    }

    /// Delegated roles that verified roles delegate to, that the snapshot lists, and that
    /// are not verified yet, in breadth-first order from `targets` (the order Notary walks
    /// them). A role in `skip` is neither returned nor descended into.
    pub fn pending_delegations(&self, skip: &BTreeSet<RoleName>) -> Vec<RoleName> {
        self.walk_order()
            .into_iter()
            .filter(|r| !self.roles.contains_key(r) && !skip.contains(r))
            .filter(|r| self.meta(r).is_some())
            .collect()
    }

    /// Every role reachable through verified parents, breadth first from `targets`, each
    /// parent's delegations in the order it lists them.
    fn walk_order(&self) -> Vec<RoleName> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([RoleName::targets()]);
        let mut seen = BTreeSet::new();
        while let Some(role) = queue.pop_front() {
            if !seen.insert(role.clone()) {
                continue;
            }
            if let Some(doc) = self.roles.get(&role) {
                for d in &doc.signed.delegations.roles {
                    if let Ok(child) = RoleName::parse(&d.name) {
                        queue.push_back(child);
                    }
                }
            }
            out.push(role);
        }
        out
    }

    /// The versions of every role verified in this chain (timestamp, snapshot, targets and
    /// delegations), for rollback checks in the next update.
    pub fn known_versions(&self) -> KnownVersions {
        let mut known = (*self.snapshot.root().known).clone();
        known.insert(
            RoleName::timestamp(),
            self.snapshot.timestamp.timestamp.version(),
        );
        known.insert(RoleName::snapshot(), self.snapshot.snapshot.version());
        for (role, doc) in &self.roles {
            known.insert(role.clone(), doc.version());
        }
        known
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

    /// Looks `name` up breadth first from `targets` through every verified delegation, as
    /// Notary's `lookup` does.
    pub fn find_any(&self, name: &str) -> Option<(&RoleName, &FileMeta)> {
        self.find(name, &self.walk_order())
    }

    /// Every target visible through verified roles: for each name, the entry of the first
    /// role that lists it (breadth first from `targets`, path restrictions applied), as
    /// Notary's `list` does. Sorted by name.
    pub fn all_targets(&self) -> Vec<(&str, &RoleName, &FileMeta)> {
        let mut out: BTreeMap<&str, (&RoleName, &FileMeta)> = BTreeMap::new();
        for r in self.walk_order() {
            let Some((role, doc)) = self.roles.get_key_value(&r) else {
                continue;
            };
            for (name, meta) in &doc.signed.targets {
                if !out.contains_key(name.as_str()) && self.path_allowed(role, name) {
                    out.insert(name, (role, meta));
                }
            }
        }
        out.into_iter().map(|(n, (r, m))| (n, r, m)).collect()
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
        self.snapshot.root().root()
    }
}

fn parse<T: Role>(role: &RoleName, bytes: &[u8]) -> Result<Signed<T>, VerifyError> {
    Signed::<T>::from_bytes(bytes).map_err(|e| VerifyError::Structure {
        role: role.clone(),
        reason: e.to_string(),
    })
}
