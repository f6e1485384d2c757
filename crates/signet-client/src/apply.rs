//! Applying staged changes (spec §6.4) to a draft of a repository's metadata, as notary's
//! client does before it signs: target additions and removals, delegation creation,
//! updates, removal and key purges, witnesses, and base-role key replacement in root.
//!
//! A [`Draft`] starts from the verified repository (or a new one) and records which roles
//! the changes touched; [`crate::publish`] signs exactly those. Applying is all in memory:
//! a change that fails leaves the trust directory and the server untouched.
//!
//! Rules kept from notary, so that either client can apply what the other staged:
//! * a delegation is created by its first `create` change, with that change's threshold;
//!   a later `create` only adds keys and paths (notary always writes threshold 1 there);
//! * key IDs to remove are canonical IDs, translated to the IDs the role lists;
//! * keys no delegation uses any more are dropped from the delegating role;
//! * new paths must lie inside the delegating role's own paths;
//! * a target is added only where every delegation on the way allows its path.
//!
//! One extension: an `update` change's non-zero `threshold` sets the threshold of an
//! existing delegation (notary never writes one there), which is how `signet delegation
//! add --threshold` raises a role to k-of-n.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;
use signet_core::metadata::{DelegatedRole, Delegations, Expires, Role as _, Signed};
use signet_core::{KeyId, PublicKey, RoleName, Root, Targets, UnixTime};

use crate::changelist::{
    self, Change, DelegationData, RootRoleData, SCOPE_ALL_DELEGATIONS, TargetMeta,
};

/// The metadata being edited.
#[derive(Clone, Debug)]
pub struct Draft {
    /// root.json's body as it will be signed.
    pub root: Root,
    /// root.json's body before any change: its root keys co-sign a rotated root.
    pub base_root: Root,
    /// Whether root must be re-signed.
    pub root_dirty: bool,
    /// Bodies of `targets` and every delegation known, including new ones.
    pub targets: BTreeMap<RoleName, Targets>,
    /// Versions of the roles as published (absent: never published).
    pub versions: BTreeMap<RoleName, u64>,
    /// Roles to sign.
    pub dirty: BTreeSet<RoleName>,
    /// Delegations removed (their metadata leaves the snapshot).
    pub removed: BTreeSet<RoleName>,
    /// Things a user should hear about (e.g. a role left below its threshold).
    pub warnings: Vec<String>,
    /// Delegations whose metadata no longer verifies (signatures below threshold,
    /// expired), with their versions: `witness` brings them back.
    pub invalid: BTreeMap<RoleName, (Targets, u64)>,
}

/// Whether the keys that sign a role are at hand: `(role, canonical IDs allowed)`.
pub type CanSign<'a> = dyn FnMut(&RoleName, &[KeyId]) -> bool + 'a;

impl Draft {
    /// A draft of `root` and the published targets roles.
    pub fn new(root: &Root, roles: &BTreeMap<RoleName, Signed<Targets>>) -> Self {
        Self {
            root: root.clone(),
            base_root: root.clone(),
            root_dirty: false,
            targets: roles
                .iter()
                .map(|(r, d)| (r.clone(), d.signed.clone()))
                .collect(),
            versions: roles
                .iter()
                .map(|(r, d)| (r.clone(), d.version()))
                .collect(),
            dirty: BTreeSet::new(),
            removed: BTreeSet::new(),
            warnings: Vec::new(),
            invalid: BTreeMap::new(),
        }
    }

    /// Adds the delegations that were skipped as invalid, for `witness`.
    #[must_use]
    pub fn with_invalid(mut self, invalid: &BTreeMap<RoleName, Signed<Targets>>) -> Self {
        self.invalid = invalid
            .iter()
            .map(|(r, d)| (r.clone(), (d.signed.clone(), d.version())))
            .collect();
        self
    }

    /// Applies one change. `can_sign` answers for `delegation purge`, which skips the
    /// roles it could not re-sign (as notary does).
    pub fn apply(
        &mut self,
        change: &Change,
        now: UnixTime,
        can_sign: &mut CanSign<'_>,
    ) -> Result<(), String> {
        match (change.role.as_str(), change.change_type.as_str()) {
            ("root", changelist::TYPE_ROLE) => self.apply_root_role(change),
            (SCOPE_ALL_DELEGATIONS, changelist::TYPE_DELEGATION) => {
                if change.action != changelist::ACTION_UPDATE {
                    return Err(format!(
                        "{SCOPE_ALL_DELEGATIONS} only takes update changes, not {}",
                        change.action
                    ));
                }
                let data = DelegationData::from_bytes(change.data.as_deref().unwrap_or(b"{}"))?;
                self.purge(&data.remove_keys, can_sign);
                Ok(())
            }
            (scope, kind) => {
                let role = RoleName::parse(scope)
                    .ok()
                    .filter(RoleName::is_targets_like)
                    .ok_or_else(|| format!("invalid scope {scope} for a {kind} change"))?;
                match kind {
                    changelist::TYPE_TARGET => self.apply_target(&role, change, now),
                    changelist::TYPE_DELEGATION => self.apply_delegation(&role, change, now),
                    changelist::TYPE_WITNESS => self.witness(&role),
                    other => Err(format!("unknown change type {other}")),
                }
            }
        }
    }

    /// The keys that may sign `role` in the draft as it stands, by the ID the role lists
    /// (an x509 ID for a certificate).
    pub fn listed_keys(&self, role: &RoleName) -> Vec<(KeyId, PublicKey)> {
        match role.parent() {
            None => role_keys(&self.root, role.as_str()),
            Some(parent) => self
                .targets
                .get(&parent)
                .and_then(|p| {
                    let d = &p.delegations;
                    d.roles.iter().find(|r| r.name == role.as_str()).map(|r| {
                        r.keyids
                            .iter()
                            .filter_map(|id| d.keys.get(id).map(|k| (id.clone(), k.clone())))
                            .collect()
                    })
                })
                .unwrap_or_default(),
        }
    }

    /// The canonical IDs of the keys that may sign `role`, in the draft as it stands.
    pub fn allowed_keys(&self, role: &RoleName) -> Vec<KeyId> {
        self.listed_keys(role)
            .into_iter()
            .map(|(_, k)| k.canonical_id().clone())
            .collect()
    }

    /// The threshold of `role` in the draft (1 if it is not found).
    pub fn threshold(&self, role: &RoleName) -> u64 {
        let t = match role.parent() {
            None => self.root.roles.get(role.as_str()).map(|r| r.threshold),
            Some(parent) => self.targets.get(&parent).and_then(|p| {
                p.delegations
                    .roles
                    .iter()
                    .find(|r| r.name == role.as_str())
                    .map(|r| r.threshold)
            }),
        };
        t.and_then(|t| u64::try_from(t).ok()).unwrap_or(1).max(1)
    }

    /// The definition of delegation `role` in its parent, if both exist.
    fn definition(&self, role: &RoleName) -> Option<&DelegatedRole> {
        let parent = role.parent()?;
        self.targets
            .get(&parent)?
            .delegations
            .roles
            .iter()
            .find(|r| r.name == role.as_str())
    }

    /// Whether `path` may be signed by `role`: every delegation from `targets` down to it
    /// must allow it.
    fn path_allowed(&self, role: &RoleName, path: &str) -> bool {
        let mut current = role.clone();
        while current.parent().is_some() {
            let Some(def) = self.definition(&current) else {
                return false;
            };
            let paths = def.paths.as_deref().unwrap_or_default();
            if !paths.iter().any(|p| path.starts_with(p.as_str())) {
                return false;
            }
            match current.parent() {
                Some(p) => current = p,
                None => break,
            }
        }
        true
    }

    /// The body of targets role `role`, created empty (version 0) for a delegation its
    /// parent defines but that has no metadata yet.
    fn body_mut(&mut self, role: &RoleName, now: UnixTime) -> Result<&mut Targets, String> {
        if !self.targets.contains_key(role) {
            if role.parent().is_none() || self.definition(role).is_none() {
                return Err(format!("role {role} does not exist"));
            }
            self.targets.insert(role.clone(), empty_targets(now));
            self.removed.remove(role);
        }
        self.targets
            .get_mut(role)
            .ok_or_else(|| format!("role {role} does not exist"))
    }

    fn apply_target(&mut self, role: &RoleName, c: &Change, now: UnixTime) -> Result<(), String> {
        match c.action.as_str() {
            changelist::ACTION_CREATE | changelist::ACTION_UPDATE => {
                let data = c.data.as_deref().ok_or("no target data")?;
                let meta = TargetMeta::from_change_data(data)?.to_file_meta();
                if role.parent().is_some() && self.definition(role).is_none() {
                    return Err(format!("role {role} does not exist"));
                }
                if !self.path_allowed(role, &c.path) {
                    return Err(format!(
                        "target {} is outside the paths delegated to {role}",
                        c.path
                    ));
                }
                let body = self.body_mut(role, now)?;
                if body.targets.get(&c.path) != Some(&meta) {
                    body.targets.insert(c.path.clone(), meta);
                    self.dirty.insert(role.clone());
                }
                Ok(())
            }
            changelist::ACTION_DELETE => {
                // Removing from a role without metadata (or a target it does not list) is
                // done already, as notary treats it.
                if let Some(body) = self.targets.get_mut(role)
                    && body.targets.remove(&c.path).is_some()
                {
                    self.dirty.insert(role.clone());
                }
                Ok(())
            }
            other => Err(format!("unknown action {other}")),
        }
    }

    fn apply_delegation(
        &mut self,
        role: &RoleName,
        c: &Change,
        now: UnixTime,
    ) -> Result<(), String> {
        let parent = role
            .parent()
            .ok_or_else(|| format!("{role} is not a delegation"))?;
        if c.action == changelist::ACTION_DELETE {
            return self.delete_delegation(role, &parent);
        }
        let data = DelegationData::from_bytes(c.data.as_deref().unwrap_or(b"{}"))?;
        let create = match c.action.as_str() {
            changelist::ACTION_CREATE => true,
            changelist::ACTION_UPDATE => false,
            other => return Err(format!("unknown action {other}")),
        };
        if data.new_threshold < 0 {
            return Err(format!("threshold {} is not positive", data.new_threshold));
        }
        // New paths must lie inside the parent's own paths.
        if parent.parent().is_some() {
            let parent_paths = self
                .definition(&parent)
                .and_then(|d| d.paths.clone())
                .unwrap_or_default();
            if let Some(p) = data
                .add_paths
                .iter()
                .find(|p| !parent_paths.iter().any(|pp| p.starts_with(pp.as_str())))
            {
                return Err(format!(
                    "path {p:?} is outside the paths delegated to {parent}"
                ));
            }
        }
        let parent_body = self.body_mut(&parent, now)?;
        let d = &mut parent_body.delegations;
        let existing = d.roles.iter().position(|r| r.name == role.as_str());
        let mut def = match existing {
            Some(i) => d.roles[i].clone(),
            None if !create && data.add_keys.is_empty() && data.add_paths.is_empty() => {
                return Err(format!("delegation {role} does not exist"));
            }
            None => DelegatedRole {
                keyids: Vec::new(),
                name: role.as_str().to_owned(),
                paths: None,
                threshold: if data.new_threshold > 0 {
                    data.new_threshold
                } else {
                    1
                },
                extra: Map::new(),
            },
        };
        // Paths: remove, clear, add (notary's order).
        let mut paths = def.paths.take().unwrap_or_default();
        paths.retain(|p| !data.remove_paths.contains(p));
        if data.clear_all_paths {
            paths.clear();
        }
        for p in &data.add_paths {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        def.paths = (!paths.is_empty()).then_some(paths);
        // Keys: remove (canonical IDs -> the IDs the role lists), then add.
        let remove: BTreeSet<&KeyId> = def
            .keyids
            .iter()
            .filter(|id| {
                let canonical = d.keys.get(*id).map_or(*id, |k| k.canonical_id());
                data.remove_keys.iter().any(|r| r == canonical.as_str())
            })
            .collect();
        let remove: BTreeSet<KeyId> = remove.into_iter().cloned().collect();
        def.keyids.retain(|id| !remove.contains(id));
        for k in &data.add_keys {
            if !def.keyids.contains(k.id()) {
                def.keyids.push(k.id().clone());
            }
            d.keys.insert(k.id().clone(), k.clone());
        }
        if !create && data.new_threshold > 0 {
            def.threshold = data.new_threshold;
        }
        let warning = (def.keyids.len() < usize::try_from(def.threshold).unwrap_or(usize::MAX))
            .then(|| {
                format!(
                    "role {role} has fewer keys than its threshold of {}; it will not be usable until keys are added to it",
                    def.threshold
                )
            });
        match existing {
            Some(i) => d.roles[i] = def,
            None => d.roles.push(def),
        }
        remove_unused_keys(d);
        self.warnings.extend(warning);
        self.dirty.insert(parent);
        Ok(())
    }

    fn delete_delegation(&mut self, role: &RoleName, parent: &RoleName) -> Result<(), String> {
        self.targets.remove(role);
        self.dirty.remove(role);
        self.removed.insert(role.clone());
        if let Some(p) = self.targets.get_mut(parent) {
            let d = &mut p.delegations;
            let before = d.roles.len();
            d.roles.retain(|r| r.name != role.as_str());
            if d.roles.len() != before {
                remove_unused_keys(d);
                self.dirty.insert(parent.clone());
            }
        }
        Ok(())
    }

    /// Removes keys (canonical IDs) from every delegation whose delegating role can be
    /// re-signed; the others are skipped with a warning.
    fn purge(&mut self, ids: &[String], can_sign: &mut CanSign<'_>) {
        let roles: Vec<RoleName> = self.targets.keys().cloned().collect();
        for role in roles {
            let Some(body) = self.targets.get(&role) else {
                continue;
            };
            let doomed: BTreeSet<KeyId> = body
                .delegations
                .keys
                .iter()
                .filter(|(_, k)| ids.iter().any(|i| i == k.canonical_id().as_str()))
                .map(|(id, _)| id.clone())
                .collect();
            if doomed.is_empty() {
                continue;
            }
            let allowed = self.allowed_keys(&role);
            if !can_sign(&role, &allowed) {
                self.warnings.push(format!(
                    "role {role} contains keys being purged but the keys to sign it are not here; keys will not be purged from {role} or its immediate children"
                ));
                continue;
            }
            let Some(body) = self.targets.get_mut(&role) else {
                continue;
            };
            let d = &mut body.delegations;
            d.keys.retain(|id, _| !doomed.contains(id));
            let mut warnings = Vec::new();
            for r in &mut d.roles {
                r.keyids.retain(|id| !doomed.contains(id));
                if r.keyids.len() < usize::try_from(r.threshold).unwrap_or(usize::MAX) {
                    warnings.push(format!(
                        "role {} has fewer keys than its threshold of {}; it will not be usable until keys are added to it",
                        r.name, r.threshold
                    ));
                }
            }
            self.warnings.extend(warnings);
            self.dirty.insert(role);
        }
    }

    /// Marks `role` to be re-signed; a delegation skipped as invalid comes back if its
    /// delegating role lists enough keys for its threshold (notary's `witness`).
    fn witness(&mut self, role: &RoleName) -> Result<(), String> {
        if self.targets.contains_key(role) {
            self.dirty.insert(role.clone());
            return Ok(());
        }
        if self.invalid.contains_key(role) {
            let def = self
                .definition(role)
                .ok_or_else(|| format!("role {role} is not known"))?;
            if def.keyids.len() < usize::try_from(def.threshold).unwrap_or(usize::MAX) {
                return Err(format!(
                    "role {role} does not specify enough valid signing keys to meet its required threshold"
                ));
            }
            if let Some((body, version)) = self.invalid.remove(role) {
                self.versions.insert(role.clone(), version);
                self.targets.insert(role.clone(), body);
                self.dirty.insert(role.clone());
            }
            return Ok(());
        }
        Err(format!("role {role} is not known"))
    }

    /// Replaces a base role's keys in root (notary's `ReplaceBaseKeys`).
    fn apply_root_role(&mut self, c: &Change) -> Result<(), String> {
        if c.action != changelist::ACTION_CREATE {
            return Err(format!("unsupported action {} for root changes", c.action));
        }
        let data = RootRoleData::from_bytes(c.data.as_deref().unwrap_or(b"{}"))?;
        if !["root", "targets", "snapshot", "timestamp"].contains(&data.role.as_str()) {
            return Err(format!("{} is not a base role", data.role));
        }
        if data.keys.is_empty() {
            return Err(format!("no keys for {}", data.role));
        }
        let entry = self
            .root
            .roles
            .get_mut(&data.role)
            .ok_or_else(|| format!("root lists no {} role", data.role))?;
        entry.keyids = data.keys.iter().map(|k| k.id().clone()).collect();
        if data.threshold < 0 || usize::try_from(data.threshold).unwrap_or(0) > data.keys.len() {
            return Err(format!(
                "threshold {} for {} is not between 1 and its {} keys",
                data.threshold,
                data.role,
                data.keys.len()
            ));
        }
        if data.threshold > 0 {
            entry.threshold = data.threshold;
        }
        for k in &data.keys {
            self.root.keys.insert(k.id().clone(), k.clone());
        }
        let used: BTreeSet<KeyId> = self
            .root
            .roles
            .values()
            .flat_map(|r| r.keyids.iter().cloned())
            .collect();
        self.root.keys.retain(|id, _| used.contains(id));
        self.root_dirty = true;
        if data.role == "targets" && self.targets.contains_key(&RoleName::targets()) {
            self.dirty.insert(RoleName::targets());
        }
        Ok(())
    }
}

/// Drops keys no delegated role lists.
fn remove_unused_keys(d: &mut Delegations) {
    let used: BTreeSet<KeyId> = d
        .roles
        .iter()
        .flat_map(|r| r.keyids.iter().cloned())
        .collect();
    d.keys.retain(|id, _| used.contains(id));
}

/// Canonical IDs of the keys root lists for `role`.
pub fn canonical_ids(root: &Root, role: &str) -> Vec<KeyId> {
    root.roles
        .get(role)
        .map(|r| {
            r.keyids
                .iter()
                .map(|id| {
                    root.keys
                        .get(id)
                        .map_or_else(|| id.clone(), |k| k.canonical_id().clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The keys root lists for `role`, by the ID root gives them.
pub fn role_keys(root: &Root, role: &str) -> Vec<(KeyId, PublicKey)> {
    root.roles
        .get(role)
        .map(|r| {
            r.keyids
                .iter()
                .filter_map(|id| root.keys.get(id).map(|k| (id.clone(), k.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// An empty targets body (version 0: the first signature makes it 1).
pub fn empty_targets(now: UnixTime) -> Targets {
    Targets {
        ty: Targets::TYPE.to_owned(),
        delegations: Delegations::default(),
        expires: Expires::at(now.add_years(crate::publish::TARGETS_YEARS)),
        targets: BTreeMap::new(),
        version: 0,
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelist::{ACTION_CREATE, ACTION_DELETE, ACTION_UPDATE};
    use signet_core::KeyType;
    use signet_core::metadata::RoleKeys;

    fn now() -> UnixTime {
        UnixTime::from_unix(1_800_000_000, 0)
    }

    fn key(n: u8) -> PublicKey {
        PublicKey::new(KeyType::Ecdsa, vec![n; 91])
    }

    fn role(r: &str) -> RoleName {
        RoleName::parse(r).expect("role")
    }

    /// A draft of a repository with root, targets (keys 1..4 in root) and no delegations.
    fn draft() -> Draft {
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (i, r) in ["root", "targets", "snapshot", "timestamp"]
            .iter()
            .enumerate()
        {
            let k = key(u8::try_from(i).expect("small") + 1);
            roles.insert(
                (*r).to_owned(),
                RoleKeys {
                    keyids: vec![k.id().clone()],
                    threshold: 1,
                    extra: Map::new(),
                },
            );
            keys.insert(k.id().clone(), k);
        }
        let root = Root {
            ty: "Root".to_owned(),
            consistent_snapshot: false,
            expires: Expires::at(now().add_years(10)),
            keys,
            roles,
            version: 1,
            extra: Map::new(),
        };
        let mut d = Draft::new(&root, &BTreeMap::new());
        d.targets.insert(RoleName::targets(), empty_targets(now()));
        d.versions.insert(RoleName::targets(), 1);
        d
    }

    fn delegation(action: &str, r: &str, data: &DelegationData) -> Change {
        Change::delegation(action, r, Some(data))
    }

    fn apply(d: &mut Draft, c: &Change) -> Result<(), String> {
        d.apply(c, now(), &mut |_, _| true)
    }

    fn def<'a>(d: &'a Draft, r: &str) -> &'a DelegatedRole {
        d.definition(&role(r)).expect("delegated")
    }

    #[test]
    fn delegations_are_created_once_then_amended_as_notary_does() {
        let mut d = draft();
        let create = DelegationData {
            new_threshold: 2,
            add_keys: vec![key(10), key(11)],
            add_paths: vec!["app/".to_owned()],
            ..DelegationData::default()
        };
        apply(
            &mut d,
            &delegation(ACTION_CREATE, "targets/releases", &create),
        )
        .expect("create");
        assert_eq!(def(&d, "targets/releases").threshold, 2);
        assert_eq!(def(&d, "targets/releases").keyids.len(), 2);
        assert!(d.dirty.contains(&RoleName::targets()));

        // A later create (notary always writes threshold 1) only adds keys.
        let more = DelegationData {
            new_threshold: 1,
            add_keys: vec![key(12)],
            ..DelegationData::default()
        };
        apply(
            &mut d,
            &delegation(ACTION_CREATE, "targets/releases", &more),
        )
        .expect("add");
        assert_eq!(def(&d, "targets/releases").threshold, 2);
        assert_eq!(def(&d, "targets/releases").keyids.len(), 3);

        // An update's threshold (Signet's extension) changes it; keys go by canonical ID,
        // and keys no role uses leave the parent.
        let update = DelegationData {
            new_threshold: 1,
            remove_keys: vec![key(10).canonical_id().to_string()],
            remove_paths: vec!["app/".to_owned()],
            add_paths: vec!["web/".to_owned()],
            ..DelegationData::default()
        };
        apply(
            &mut d,
            &delegation(ACTION_UPDATE, "targets/releases", &update),
        )
        .expect("update");
        let r = def(&d, "targets/releases");
        assert_eq!(r.threshold, 1);
        assert_eq!(r.paths.as_deref(), Some(&["web/".to_owned()][..]));
        assert!(!r.keyids.contains(key(10).id()));
        let parent = &d.targets[&RoleName::targets()].delegations;
        assert!(!parent.keys.contains_key(key(10).id()));
        assert_eq!(d.allowed_keys(&role("targets/releases")).len(), 2);
        assert_eq!(d.threshold(&role("targets/releases")), 1);

        // Removal takes the role and its unused keys away and drops its metadata.
        apply(
            &mut d,
            &Change::delegation(ACTION_DELETE, "targets/releases", None),
        )
        .expect("delete");
        assert!(d.definition(&role("targets/releases")).is_none());
        assert!(d.targets[&RoleName::targets()].delegations.keys.is_empty());
        assert!(d.removed.contains(&role("targets/releases")));
    }

    #[test]
    fn paths_stay_inside_what_the_parent_delegates() {
        let mut d = draft();
        let create = DelegationData {
            new_threshold: 1,
            add_keys: vec![key(10)],
            add_paths: vec!["app/".to_owned()],
            ..DelegationData::default()
        };
        apply(&mut d, &delegation(ACTION_CREATE, "targets/a", &create)).expect("create");
        // A target outside the role's paths is refused; inside, the role's metadata is made.
        let meta = TargetMeta::of(b"x", None);
        let err = apply(&mut d, &Change::add_target("targets/a", "other/x", &meta)).unwrap_err();
        assert!(err.contains("outside the paths"), "{err}");
        apply(&mut d, &Change::add_target("targets/a", "app/x", &meta)).expect("inside");
        assert!(d.dirty.contains(&role("targets/a")));
        assert_eq!(d.targets[&role("targets/a")].version, 0);
        // A grandchild may not widen its parent's paths.
        let child = DelegationData {
            new_threshold: 1,
            add_keys: vec![key(11)],
            add_paths: vec!["web/".to_owned()],
            ..DelegationData::default()
        };
        let err = apply(&mut d, &delegation(ACTION_CREATE, "targets/a/b", &child)).unwrap_err();
        assert!(
            err.contains("outside the paths delegated to targets/a"),
            "{err}"
        );
        // A target for a role nobody delegates is refused.
        let err = apply(&mut d, &Change::add_target("targets/nobody", "x", &meta)).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn purge_skips_roles_it_cannot_sign() {
        let mut d = draft();
        for r in ["targets/a", "targets/b"] {
            let create = DelegationData {
                new_threshold: 1,
                add_keys: vec![key(10), key(11)],
                add_paths: vec![String::new()],
                ..DelegationData::default()
            };
            apply(&mut d, &delegation(ACTION_CREATE, r, &create)).expect("create");
        }
        d.dirty.clear();
        let purge = DelegationData {
            remove_keys: vec![key(10).canonical_id().to_string()],
            ..DelegationData::default()
        };
        let c = delegation(ACTION_UPDATE, SCOPE_ALL_DELEGATIONS, &purge);
        d.apply(&c, now(), &mut |_, _| false).expect("purge");
        assert!(d.dirty.is_empty());
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("keys will not be purged"))
        );
        d.apply(&c, now(), &mut |_, _| true).expect("purge");
        assert!(d.dirty.contains(&RoleName::targets()));
        for r in ["targets/a", "targets/b"] {
            assert_eq!(def(&d, r).keyids, vec![key(11).id().clone()]);
        }
        // Only updates purge.
        let err = apply(
            &mut d,
            &delegation(ACTION_CREATE, SCOPE_ALL_DELEGATIONS, &purge),
        )
        .unwrap_err();
        assert!(err.contains("only takes update"), "{err}");
    }

    #[test]
    fn base_role_keys_are_replaced_in_root() {
        let mut d = draft();
        let old = d.allowed_keys(&RoleName::targets());
        let c = Change::root_role_keys("targets", vec![key(20), key(21)], 2);
        apply(&mut d, &c).expect("rotate");
        assert!(d.root_dirty);
        assert!(d.dirty.contains(&RoleName::targets()));
        assert_eq!(d.threshold(&RoleName::targets()), 2);
        assert_eq!(d.allowed_keys(&RoleName::targets()).len(), 2);
        assert!(!d.root.keys.contains_key(&old[0]), "the old key left root");
        // More signatures than keys, or a role that is not a base role, is refused.
        let err = apply(&mut d, &Change::root_role_keys("targets", vec![key(22)], 2)).unwrap_err();
        assert!(err.contains("threshold 2"), "{err}");
        let err = apply(
            &mut d,
            &Change::root_role_keys("targets/x", vec![key(22)], 0),
        )
        .unwrap_err();
        assert!(err.contains("not a base role"), "{err}");
    }

    #[test]
    fn witness_marks_known_roles_only() {
        let mut d = draft();
        apply(&mut d, &Change::witness("targets")).expect("witness");
        assert!(d.dirty.contains(&RoleName::targets()));
        let err = apply(&mut d, &Change::witness("targets/unknown")).unwrap_err();
        assert!(err.contains("not known"), "{err}");

        // An invalid delegation comes back with its version, if its keys can meet the
        // threshold.
        let create = DelegationData {
            new_threshold: 2,
            add_keys: vec![key(10)],
            add_paths: vec![String::new()],
            ..DelegationData::default()
        };
        apply(&mut d, &delegation(ACTION_CREATE, "targets/r", &create)).expect("create");
        d.invalid
            .insert(role("targets/r"), (empty_targets(now()), 7));
        let err = apply(&mut d, &Change::witness("targets/r")).unwrap_err();
        assert!(err.contains("enough valid signing keys"), "{err}");
        let more = DelegationData {
            add_keys: vec![key(11)],
            ..DelegationData::default()
        };
        apply(&mut d, &delegation(ACTION_UPDATE, "targets/r", &more)).expect("add key");
        apply(&mut d, &Change::witness("targets/r")).expect("witness");
        assert!(d.dirty.contains(&role("targets/r")));
        assert_eq!(d.versions.get(&role("targets/r")), Some(&7));
        assert!(d.invalid.is_empty());
    }
}
