//! k-of-n signing across machines: a partly signed update in a file ("bundle") that key
//! holders pass around, each adding signatures with their own keys, until every role meets
//! its threshold of distinct keys and someone publishes it.
//!
//! 1. [`Publisher::export`] applies the staged changes as `publish` would, signs each
//!    changed role with whichever of its keys this machine holds (maybe none), and returns
//!    the bundle; the staged changes move into it.
//! 2. [`Publisher::cosign`] (on another machine, same GUN and server) adds the signatures
//!    of the keys held there that have not signed yet.
//! 3. [`Publisher::publish_bundle`] checks that every role meets its threshold (a rotated
//!    root: the new root keys' threshold and the old ones') and that the repository has not
//!    moved since the export, signs the snapshot if its key is here, and uploads.
//!
//! A bundle carries no private data: the signed files, the versions it builds on, and
//! the delegations it removes. Everything in it is checked against the repository the
//! server serves, verified as usual, before a signature is added or anything uploaded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use signet_core::crypto::RingVerifier;
use signet_core::key::KeyRing;
use signet_core::metadata::{Base64Bytes, Signature};
use signet_core::{KeyId, PublicKey, RoleName, Root, Signed, Targets, VerifyError};

use crate::changelist::Changelist;
use crate::error::ClientError;
use crate::publish::{Built, Published, Publisher, Signing, key_err, publish_err};

/// The `format` of the bundles this version writes and reads.
pub const FORMAT: &str = "signet-bundle/1";

/// A partly signed update (see the module documentation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The repository.
    pub gun: String,
    /// Versions the update builds on: `root`, `snapshot` and every targets role.
    pub base: BTreeMap<String, u64>,
    /// The signed files, root first if it changes, then targets roles, parents first.
    pub files: Vec<BundleFile>,
    /// Delegations the update removes.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// One signed file of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleFile {
    /// The role.
    pub role: String,
    /// The file's bytes.
    pub data: Base64Bytes,
}

/// Where one role of a bundle stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleStatus {
    /// The role.
    pub role: RoleName,
    /// What signs it: `None` for the role's keys, `Some("previous root keys")` for the
    /// keys of the root being replaced.
    pub keys: Option<&'static str>,
    /// Distinct keys with a valid signature.
    pub valid: usize,
    /// Signatures required.
    pub threshold: u64,
}

impl RoleStatus {
    /// Whether the threshold is met.
    pub fn met(&self) -> bool {
        self.valid as u64 >= self.threshold
    }
}

/// The statuses as lines for a terminal: `ROLE  SIGNED/THRESHOLD  state`.
pub fn render_status(statuses: &[RoleStatus]) -> String {
    let mut out = String::new();
    for s in statuses {
        let who = s.keys.map(|k| format!(" ({k})")).unwrap_or_default();
        let state = if s.met() {
            "ready".to_owned()
        } else {
            format!("needs {} more", s.threshold - s.valid as u64)
        };
        out.push_str(&format!(
            "{}{who}: {} of {} signatures, {state}\n",
            s.role, s.valid, s.threshold
        ));
    }
    out
}

enum Doc {
    Root(Signed<Root>),
    Targets(Signed<Targets>),
}

impl Doc {
    fn signatures(&self) -> &[Signature] {
        match self {
            Self::Root(d) => &d.signatures,
            Self::Targets(d) => &d.signatures,
        }
    }

    fn canonical(&self) -> &[u8] {
        match self {
            Self::Root(d) => d.canonical(),
            Self::Targets(d) => d.canonical(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Root(d) => d.bytes(),
            Self::Targets(d) => d.bytes(),
        }
    }

    fn with_signatures(&self, more: &[Signature]) -> Self {
        match self {
            Self::Root(d) => Self::Root(d.with_signatures(more)),
            Self::Targets(d) => Self::Targets(d.with_signatures(more)),
        }
    }

    fn count(&self, role: &RoleName, ring: &KeyRing<'_>) -> Result<usize, VerifyError> {
        let verifier = RingVerifier;
        let r = match self {
            Self::Root(d) => signet_core::verify::verify_threshold(d, role, ring, &verifier),
            Self::Targets(d) => signet_core::verify::verify_threshold(d, role, ring, &verifier),
        };
        match r {
            Ok(n) => Ok(n),
            Err(VerifyError::ThresholdNotMet { valid, .. }) => Ok(valid),
            Err(e) => Err(e),
        }
    }
}

/// A ring a file must meet: listed keys, threshold, and what to call it.
struct Ring {
    keys: Vec<(KeyId, PublicKey)>,
    threshold: u64,
    label: Option<&'static str>,
}

impl Ring {
    fn key_ring(&self) -> KeyRing<'_> {
        KeyRing {
            keys: self.keys.iter().map(|(id, k)| (id, k)).collect(),
            threshold: i64::try_from(self.threshold).unwrap_or(i64::MAX),
        }
    }
}

/// A bundle read against the repository as the server now serves it.
struct View {
    files: Vec<(RoleName, Doc, Vec<Ring>)>,
    built: Built,
}

impl Bundle {
    /// The file bytes (indented JSON).
    #[allow(clippy::disallowed_methods)] // a transfer file of already signed bytes, never signed itself
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads a bundle file: the format must be [`FORMAT`], every file must parse as its
    /// role's metadata, each role at most once.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::Bundle { reason };
        let bundle: Self =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a bundle: {e}")))?;
        if bundle.format != FORMAT {
            return Err(bad(format!(
                "format {:?} is not {FORMAT:?}: made by another version?",
                bundle.format
            )));
        }
        crate::cache::check_gun(&bundle.gun)?;
        let mut seen = std::collections::BTreeSet::new();
        for f in &bundle.files {
            let role = RoleName::parse(&f.role)
                .ok()
                .filter(|r| *r == RoleName::root() || r.is_targets_like())
                .ok_or_else(|| bad(format!("role {:?} cannot be in a bundle", f.role)))?;
            if !seen.insert(role.clone()) {
                return Err(bad(format!("{role} appears twice")));
            }
            parse_doc(&role, &f.data.0).map_err(|e| bad(format!("{role}: {e}")))?;
        }
        if bundle.files.is_empty() {
            return Err(bad("no files".to_owned()));
        }
        Ok(bundle)
    }
}

fn parse_doc(role: &RoleName, bytes: &[u8]) -> Result<Doc, String> {
    if *role == RoleName::root() {
        Signed::<Root>::from_bytes(bytes)
            .map(Doc::Root)
            .map_err(|e| e.to_string())
    } else {
        Signed::<Targets>::from_bytes(bytes)
            .map(Doc::Targets)
            .map_err(|e| e.to_string())
    }
}

impl Publisher {
    /// Applies the staged changes of `gun`, signs them with the keys held here and returns
    /// them as a bundle for the other key holders, with where each role stands. The
    /// staged changes move into the bundle (the changelist is cleared).
    pub async fn export(&self, gun: &str) -> Result<(Bundle, Vec<RoleStatus>), ClientError> {
        let changelist = Changelist::new(&self.changelists, gun)?;
        let (entries, bad) = changelist.list()?;
        if let Some((file, e)) = bad.first() {
            return Err(publish_err(gun, format!("unreadable change {file}: {e}")));
        }
        let exported = self.export_changes(gun, &entries).await?;
        changelist.clear()?;
        Ok(exported)
    }

    /// [`Publisher::export`] of `entries` (e.g. a key rotation), leaving the changelist
    /// alone.
    pub async fn export_changes(
        &self,
        gun: &str,
        entries: &[crate::changelist::Entry],
    ) -> Result<(Bundle, Vec<RoleStatus>), ClientError> {
        let built = self.build(gun, entries, Signing::Partial).await?;
        if built.initial {
            return Err(publish_err(
                gun,
                "the repository is not published yet: publish it before signing updates with several keys",
            ));
        }
        if built.files.is_empty() {
            return Err(publish_err(gun, "no staged change needs a signature"));
        }
        let bundle = Bundle {
            format: FORMAT.to_owned(),
            gun: gun.to_owned(),
            base: built.base.clone(),
            files: built
                .files
                .iter()
                .map(|(r, b)| BundleFile {
                    role: r.to_string(),
                    data: Base64Bytes(b.clone()),
                })
                .collect(),
            removed: built.removed.clone(),
        };
        let status = self.bundle_status(&bundle).await?;
        Ok((bundle, status))
    }

    /// Where each role of `bundle` stands against the repository the server serves.
    pub async fn bundle_status(&self, bundle: &Bundle) -> Result<Vec<RoleStatus>, ClientError> {
        let view = self.view(bundle).await?;
        status(&bundle.gun, &view)
    }

    /// Adds the signatures of the keys held here that the bundle still lacks. Returns the
    /// new bundle, where each role stands, and how many signatures were added.
    pub async fn cosign(
        &self,
        bundle: &Bundle,
    ) -> Result<(Bundle, Vec<RoleStatus>, usize), ClientError> {
        let gun = bundle.gun.as_str();
        let view = self.view(bundle).await?;
        let mut out = bundle.clone();
        let mut added = 0;
        let mut files = Vec::new();
        for (role, doc, rings) in view.files {
            let mut doc = doc;
            for ring in &rings {
                let kr = ring.key_ring();
                // Keys of the ring without a valid signature yet.
                let signed_by: Vec<&KeyId> = doc
                    .signatures()
                    .iter()
                    .filter_map(|s| {
                        kr.keys
                            .iter()
                            .find(|(id, _)| **id == s.keyid)
                            .and_then(|(_, k)| {
                                signet_core::crypto::Verifier::verify(
                                    &RingVerifier,
                                    k,
                                    &s.method,
                                    doc.canonical(),
                                    &s.sig.0,
                                )
                                .ok()
                                .map(|()| k.canonical_id())
                            })
                    })
                    .collect();
                let missing: Vec<KeyId> = ring
                    .keys
                    .iter()
                    .map(|(_, k)| k.canonical_id().clone())
                    .filter(|c| !signed_by.contains(&c))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let signers = self
                    .keys
                    .find_all(gun, &role, &missing)
                    .map_err(|e| key_err(gun, &role, &e))?;
                let mut sigs = Vec::new();
                for signer in signers {
                    let Some((listed, _)) = ring
                        .keys
                        .iter()
                        .find(|(_, k)| k.canonical_id() == signer.public().canonical_id())
                    else {
                        continue;
                    };
                    let sig = signer
                        .sign(doc.canonical())
                        .map_err(|e| key_err(gun, &role, &e))?;
                    sigs.push(Signature {
                        keyid: listed.clone(),
                        method: signer.method().to_owned(),
                        sig: Base64Bytes(sig),
                    });
                }
                added += sigs.len();
                doc = doc.with_signatures(&sigs);
            }
            files.push(BundleFile {
                role: role.to_string(),
                data: Base64Bytes(doc.bytes().to_vec()),
            });
        }
        out.files = files;
        let status = self.bundle_status(&out).await?;
        Ok((out, status, added))
    }

    /// Publishes `bundle` once every role meets its threshold (see the module
    /// documentation).
    pub async fn publish_bundle(&self, bundle: &Bundle) -> Result<Published, ClientError> {
        let gun = bundle.gun.as_str();
        let view = self.view(bundle).await?;
        let short: Vec<String> = status(gun, &view)?
            .iter()
            .filter(|s| !s.met())
            .map(|s| {
                format!(
                    "{}{} has {} of {} signatures",
                    s.role,
                    s.keys.map(|k| format!(" ({k})")).unwrap_or_default(),
                    s.valid,
                    s.threshold
                )
            })
            .collect();
        if !short.is_empty() {
            return Err(publish_err(
                gun,
                format!(
                    "the bundle is not signed enough: {}; collect the other signatures with `bundle sign`",
                    short.join("; ")
                ),
            ));
        }
        self.finish(gun, view.built).await
    }

    /// Reads `bundle` against the repository the server serves now: which keys must sign
    /// each file, and the update as [`Publisher::finish`] uploads it.
    async fn view(&self, bundle: &Bundle) -> Result<View, ClientError> {
        let gun = bundle.gun.as_str();
        let stale = |what: String| {
            publish_err(
                gun,
                format!(
                    "the repository changed since the bundle was made ({what}): stage and export the update again"
                ),
            )
        };
        let repo = self.client.verify_gun(gun).await?;
        let root = repo.chain.root().clone();
        let snapshot_version = repo.chain.trusted_snapshot().snapshot().version();
        let roles: BTreeMap<RoleName, Signed<Targets>> = repo
            .chain
            .roles()
            .map(|(r, d)| (r.clone(), d.clone()))
            .collect();
        let mut current: BTreeMap<String, u64> = roles
            .iter()
            .map(|(r, d)| (r.to_string(), d.version()))
            .collect();
        current.insert("root".to_owned(), root.version());
        current.insert("snapshot".to_owned(), snapshot_version);
        for (name, v) in &current {
            match bundle.base.get(name) {
                Some(b) if b == v => {}
                Some(b) => {
                    return Err(stale(format!(
                        "{name} is at version {v}, the bundle builds on {b}"
                    )));
                }
                None => return Err(stale(format!("{name} appeared"))),
            }
        }
        if let Some(gone) = bundle.base.keys().find(|n| !current.contains_key(*n)) {
            return Err(stale(format!("{gone} is gone")));
        }

        // The repository after the update.
        let mut files = Vec::new();
        let mut new_root = root.clone();
        let mut new_targets: BTreeMap<RoleName, Targets> = roles
            .iter()
            .map(|(r, d)| (r.clone(), d.signed.clone()))
            .collect();
        let mut docs: BTreeMap<RoleName, Vec<u8>> = roles
            .iter()
            .map(|(r, d)| (r.clone(), d.bytes().to_vec()))
            .collect();
        for name in &bundle.removed {
            if let Ok(r) = RoleName::parse(name) {
                new_targets.remove(&r);
                docs.remove(&r);
            }
        }
        for f in &bundle.files {
            let role = RoleName::parse(&f.role).map_err(|e| ClientError::Bundle {
                reason: e.to_string(),
            })?;
            let doc = parse_doc(&role, &f.data.0).map_err(|e| ClientError::Bundle {
                reason: format!("{role}: {e}"),
            })?;
            match &doc {
                Doc::Root(d) => {
                    if d.version() != root.version() + 1 {
                        return Err(ClientError::Bundle {
                            reason: format!(
                                "root version {} does not follow {}",
                                d.version(),
                                root.version()
                            ),
                        });
                    }
                    new_root = d.clone();
                }
                Doc::Targets(d) => {
                    let expected = roles.get(&role).map_or(1, |p| p.version() + 1);
                    if d.version() != expected {
                        return Err(ClientError::Bundle {
                            reason: format!("{role} version {} is not {expected}", d.version()),
                        });
                    }
                    new_targets.insert(role.clone(), d.signed.clone());
                    docs.insert(role.clone(), d.bytes().to_vec());
                }
            }
            files.push((role, doc));
        }

        let base_ring = |r: &Root, role: &str, label| Ring {
            keys: crate::apply::role_keys(r, role),
            threshold: r
                .roles
                .get(role)
                .and_then(|k| u64::try_from(k.threshold).ok())
                .unwrap_or(1)
                .max(1),
            label,
        };
        let mut with_rings = Vec::new();
        for (role, doc) in files {
            let rings = if role == RoleName::root() {
                let new = base_ring(&new_root.signed, "root", None);
                let old = base_ring(&root.signed, "root", Some("previous root keys"));
                if old.keys == new.keys {
                    vec![new]
                } else {
                    vec![new, old]
                }
            } else if role == RoleName::targets() {
                vec![base_ring(&new_root.signed, "targets", None)]
            } else {
                let parent = role
                    .parent()
                    .and_then(|p| new_targets.get(&p))
                    .ok_or_else(|| ClientError::Bundle {
                        reason: format!("{role}: its delegating role is not in the repository"),
                    })?;
                let def = parent
                    .delegations
                    .roles
                    .iter()
                    .find(|d| d.name == role.as_str())
                    .ok_or_else(|| ClientError::Bundle {
                        reason: format!("{role} is not delegated"),
                    })?;
                vec![Ring {
                    keys: def
                        .keyids
                        .iter()
                        .filter_map(|id| {
                            parent
                                .delegations
                                .keys
                                .get(id)
                                .map(|k| (id.clone(), k.clone()))
                        })
                        .collect(),
                    threshold: u64::try_from(def.threshold).unwrap_or(1).max(1),
                    label: None,
                }]
            };
            with_rings.push((role, doc, rings));
        }
        let root_changed = with_rings.iter().any(|(r, _, _)| *r == RoleName::root());
        let built = Built {
            initial: false,
            root_bytes: if root_changed {
                new_root.bytes().to_vec()
            } else {
                root.bytes().to_vec()
            },
            files: with_rings
                .iter()
                .map(|(r, d, _)| (r.clone(), d.bytes().to_vec()))
                .collect(),
            docs,
            snapshot_version,
            snapshot_keys: crate::apply::role_keys(&new_root.signed, "snapshot"),
            snapshot_threshold: base_ring(&new_root.signed, "snapshot", None).threshold,
            base: bundle.base.clone(),
            removed: bundle.removed.clone(),
            applied: 0,
            warnings: Vec::new(),
        };
        Ok(View {
            files: with_rings,
            built,
        })
    }
}

fn status(gun: &str, view: &View) -> Result<Vec<RoleStatus>, ClientError> {
    let mut out = Vec::new();
    for (role, doc, rings) in &view.files {
        for ring in rings {
            let valid = doc
                .count(role, &ring.key_ring())
                .map_err(|e| publish_err(gun, format!("{role}: {e}")))?;
            out.push(RoleStatus {
                role: role.clone(),
                keys: ring.label,
                valid,
                threshold: ring.threshold,
            });
        }
    }
    Ok(out)
}
