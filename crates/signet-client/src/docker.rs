//! Docker content trust over a [`VerifiedRepository`]: what `docker trust inspect`
//! computes and prints (its JSON and its `--pretty` tables, byte for byte as the docker CLI
//! 28 prints them), docker's pull rule (a tag is signed only if `targets/releases` or
//! `targets` signs it), what `docker trust sign`, `revoke` and `signer add/remove` stage
//! (as changelist entries for [`crate::publish::Publisher::publish_changes`], in notary's
//! format), signer keys, and `verify` against a registry.
//!
//! Inspect, as docker computes it from the notary client:
//! - signed tags: every (tag, sha256) that `targets` or `targets/releases` signs, found by
//!   notary's walk (breadth first, paths restricted); its signers are the other roles that
//!   sign the same pair (names without `targets/`), or "Repo Admin" when there are none;
//!   rows in natural order of the tag;
//! - signers: every delegation that a verified role lists, except `targets/releases`,
//!   with canonical key IDs, sorted by name descending (JSON) or naturally (table);
//! - administrative keys: the root and targets key IDs as root.json lists them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use serde::Serialize;
use signet_core::encoding::{PemBlock, hex_encode, pem_encode};
use signet_core::{KeyType, PublicKey, RoleName};

use crate::changelist::{
    ACTION_CREATE, ACTION_DELETE, ACTION_UPDATE, Change, DelegationData, Entry, TargetMeta,
};
use crate::commands::{lookup_target, walk};
use crate::keys::{
    KeyAlgorithm, KeyEntry, KeyError, KeyPem, KeyStore, PassphraseSource, PrivateKey, write_private,
};
use crate::registry::{Digest, ImageRef, Manifest, MediaType, Registry, RegistryError};
use crate::{VerifiedRepository, VerifiedTarget, tabwriter};

/// The delegation docker signs releases into.
pub const RELEASES: &str = "targets/releases";
/// The signer name docker shows for `targets` and `targets/releases`.
pub const REPO_ADMIN: &str = "Repo Admin";

/// One signed tag as `docker trust inspect` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTag {
    /// The tag.
    pub tag: String,
    /// The manifest's sha256, hex.
    pub digest: String,
    /// The delegations (other than `targets/releases`) that sign the same tag and digest,
    /// in walk order, names without `targets/`; empty when only the repository admin does.
    pub signers: Vec<String>,
}

/// A signer: a delegation and its canonical key IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The name (`targets/` removed).
    pub name: String,
    /// Canonical key IDs, as the delegation lists them.
    pub key_ids: Vec<String>,
}

/// What `docker trust inspect` reports for one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustInfo {
    /// Released tags, in natural tag order.
    pub signed_tags: Vec<SignedTag>,
    /// Signers, by name descending (as docker's JSON lists them).
    pub signers: Vec<Signer>,
    /// Root key IDs, as root.json lists them.
    pub root_key_ids: Vec<String>,
    /// Targets ("Repository") key IDs, as root.json lists them.
    pub repository_key_ids: Vec<String>,
}

fn is_released(role: &RoleName) -> bool {
    role.as_str() == "targets" || role.as_str() == RELEASES
}

/// docker's `notaryRoleToSigner`.
fn signer_name(role: &RoleName) -> String {
    if is_released(role) {
        REPO_ADMIN.to_owned()
    } else {
        role.as_str()
            .strip_prefix("targets/")
            .unwrap_or(role.as_str())
            .to_owned()
    }
}

/// What `docker trust inspect IMAGE[:TAG]` computes (`tag` `None`: every tag).
pub fn trust_info(repo: &VerifiedRepository, tag: Option<&str>) -> TrustInfo {
    let name = tag.unwrap_or("");
    // notary's GetAllTargetMetadataByName: (role, tag, sha256 hex) in walk order.
    let mut found: Vec<(RoleName, String, String)> = Vec::new();
    for v in walk(repo, name, None, &[]) {
        let sha = |m: &signet_core::metadata::FileMeta| {
            m.hashes
                .get("sha256")
                .map(|h| hex_encode(&h.0))
                .unwrap_or_default()
        };
        if name.is_empty() {
            for (t, m) in &v.doc.targets {
                found.push((v.role.clone(), t.clone(), sha(m)));
            }
        } else if let Some(m) = v.doc.targets.get(name) {
            found.push((v.role.clone(), name.to_owned(), sha(m)));
        }
    }
    let mut released: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (role, t, d) in &found {
        if is_released(role) {
            released.entry((t.clone(), d.clone())).or_default();
        }
    }
    for (role, t, d) in &found {
        if !is_released(role)
            && let Some(signers) = released.get_mut(&(t.clone(), d.clone()))
        {
            signers.push(signer_name(role));
        }
    }
    let mut signed_tags: Vec<SignedTag> = released
        .into_iter()
        .map(|((tag, digest), signers)| SignedTag {
            tag,
            digest,
            signers,
        })
        .collect();
    signed_tags.sort_by(|a, b| natural_cmp(&a.tag, &b.tag).then_with(|| a.digest.cmp(&b.digest)));

    TrustInfo {
        signed_tags,
        signers: signers(repo),
        root_key_ids: root_role_keys(repo, "root"),
        repository_key_ids: root_role_keys(repo, "targets"),
    }
}

/// One delegation as notary's `GetDelegationRoles` returns it: key IDs canonical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    /// The role.
    pub role: String,
    /// Canonical key IDs, in the order the role lists them.
    pub key_ids: Vec<String>,
    /// Path prefixes (`None`: the role lists none).
    pub paths: Option<Vec<String>>,
    /// Threshold.
    pub threshold: i64,
}

/// notary's `GetDelegationRoles`: every delegation listed by a role the walk reaches, in
/// walk order, key IDs made canonical. `None` when a delegation lists a key its parent
/// does not define (notary then fails the whole call).
pub fn delegations(repo: &VerifiedRepository) -> Option<Vec<Delegation>> {
    let mut out = Vec::new();
    for v in walk(repo, "", None, &[]) {
        for d in &v.doc.delegations.roles {
            let key_ids = d
                .keyids
                .iter()
                .map(|id| {
                    v.doc
                        .delegations
                        .keys
                        .get(id)
                        .map(|k| k.canonical_id().to_string())
                })
                .collect::<Option<Vec<_>>>()?;
            out.push(Delegation {
                role: d.name.clone(),
                key_ids,
                paths: d.paths.clone(),
                threshold: d.threshold,
            });
        }
    }
    Some(out)
}

/// docker's signers: [`delegations`] but `targets/releases` (docker shows no signers when
/// notary's call fails).
fn signers(repo: &VerifiedRepository) -> Vec<Signer> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in delegations(repo).unwrap_or_default() {
        if matches!(
            d.role.as_str(),
            RELEASES | "root" | "targets" | "snapshot" | "timestamp"
        ) {
            continue;
        }
        let name = d.role.strip_prefix("targets/").unwrap_or(&d.role);
        by_name.insert(name.to_owned(), d.key_ids);
    }
    // docker sorts by name, descending
    by_name
        .into_iter()
        .rev()
        .map(|(name, key_ids)| Signer { name, key_ids })
        .collect()
}

fn root_role_keys(repo: &VerifiedRepository, role: &str) -> Vec<String> {
    repo.chain
        .root()
        .signed
        .roles
        .get(role)
        .map(|r| r.keyids.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// The signed target for `tag` under docker's pull rule: looked up in `targets/releases`
/// (and its subtree), then `targets`, and accepted only if the role that signs it is
/// `targets/releases` or `targets`.
pub fn released_target(repo: &VerifiedRepository, tag: &str) -> Option<VerifiedTarget> {
    let roles = released_roles();
    lookup_target(repo, tag, &roles).filter(|t| is_released(&t.role))
}

/// Every tag docker would pull with content trust (`docker pull -a`): listed from
/// `targets/releases`, then `targets`, kept only if one of those two signs it.
pub fn released_targets(repo: &VerifiedRepository) -> Vec<VerifiedTarget> {
    crate::commands::list_targets(repo, &released_roles())
        .into_iter()
        .filter(|t| is_released(&t.role))
        .collect()
}

fn released_roles() -> [RoleName; 2] {
    // invariant: both are valid role names
    [
        RoleName::parse(RELEASES).unwrap_or_else(|_| RoleName::targets()),
        RoleName::targets(),
    ]
}

/// One root key as it is pinned: its IDs and its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootKey {
    /// The ID root.json lists (for a certificate, the certificate's ID).
    pub tuf_id: String,
    /// The ID of the bare public key (what `--pin-root-key` and notary's `trust_pinning`
    /// accept, and what stays the same when the root certificate is renewed).
    pub canonical_id: String,
    /// The public key as a `PUBLIC KEY` PEM (SubjectPublicKeyInfo): what Connaisseur's
    /// and other verifiers' trust roots take.
    pub pem: String,
}

/// The verified root's keys, in root.json's order.
pub fn root_keys(repo: &VerifiedRepository) -> Vec<RootKey> {
    let root = &repo.chain.root().signed;
    let ids = root
        .roles
        .get("root")
        .map(|r| r.keyids.clone())
        .unwrap_or_default();
    ids.iter()
        .filter_map(|id| {
            let key = root.keys.get(id)?;
            let spki = match key.keytype() {
                KeyType::EcdsaX509 | KeyType::RsaX509 => {
                    key.certificates().first()?.spki_der.clone()
                }
                KeyType::Ecdsa | KeyType::Rsa => key.public_bytes().to_vec(),
                KeyType::Ed25519 => {
                    // SubjectPublicKeyInfo { id-Ed25519 (1.3.101.112), BIT STRING key }
                    let mut der = vec![
                        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
                    ];
                    der.extend_from_slice(key.public_bytes());
                    der
                }
                _ => return None,
            };
            Some(RootKey {
                tuf_id: id.to_string(),
                canonical_id: key.canonical_id().to_string(),
                pem: pem_encode(&PemBlock {
                    label: "PUBLIC KEY".to_owned(),
                    headers: vec![],
                    contents: spki,
                }),
            })
        })
        .collect()
}

/// docker's rule for signer and key names: `^[a-z0-9][a-z0-9_-]*$`.
pub fn is_valid_signer_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn invalid_name(name: &str) -> KeyError {
    KeyError::Invalid(format!(
        "key name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character"
    ))
}

/// The checks `docker trust key generate NAME --dir DIR` makes before it generates
/// anything: a valid name, an existing directory, no `NAME.pub` there yet. Returns the
/// public key file's path (`DIR` joined as docker joins it).
pub fn signer_key_path(name: &str, dir: &Path) -> Result<PathBuf, KeyError> {
    if !is_valid_signer_name(name) {
        return Err(invalid_name(name));
    }
    if !dir.exists() {
        return Err(KeyError::Invalid(format!(
            "public key path does not exist: \"{}\"",
            dir.display()
        )));
    }
    let pub_path = clean_join(dir, &format!("{name}.pub"));
    if pub_path.exists() {
        return Err(KeyError::Invalid(format!(
            "public key file already exists: \"{}\"",
            pub_path.display()
        )));
    }
    Ok(pub_path)
}

/// `docker trust key generate NAME`: a new P-256 key stored in `store` with the `role:
/// NAME` header (no GUN), encrypted under a new passphrase from `source` (alias NAME), and
/// its public key written to `pub_path` (from [`signer_key_path`]) as a `PUBLIC KEY` PEM
/// with the same header, mode 0600. Returns the key ID.
pub fn generate_signer_key(
    store: &KeyStore,
    name: &str,
    pub_path: &Path,
    source: &mut dyn PassphraseSource,
) -> Result<String, KeyError> {
    if !is_valid_signer_name(name) {
        return Err(invalid_name(name));
    }
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    store.add(&key, name, "", source)?;
    let public = pem_encode(&PemBlock {
        label: "PUBLIC KEY".to_owned(),
        headers: vec![("role".to_owned(), name.to_owned())],
        contents: key.public().public_bytes().to_vec(),
    });
    write_private(pub_path, public.as_bytes())?;
    Ok(key.id().to_string())
}

/// The key a new signer `name` signs with, as docker's `getOrGenerateNotaryKey`: the
/// first (by ID) key in `store` whose role header is `name`, else a new P-256 key stored
/// with that header (no GUN) under a new passphrase from `source`. Returns its public key.
pub fn signer_public_key(
    store: &KeyStore,
    name: &str,
    source: &mut dyn PassphraseSource,
) -> Result<PublicKey, KeyError> {
    let mut ids: Vec<String> = store
        .list()?
        .into_iter()
        .filter(|e| e.role == name)
        .map(|e| e.id)
        .collect();
    ids.sort();
    if let Some(id) = ids.first() {
        let (key, _) = store.load(id, source)?;
        return Ok(key.public().clone());
    }
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    store.add(&key, name, "", source)?;
    Ok(key.public().clone())
}

/// Go's `filepath.Join(dir, file)` for a plain file name: the directory cleaned of `.`
/// components, doubled and trailing slashes.
fn clean_join(dir: &Path, file: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.components() {
        if c != std::path::Component::CurDir {
            out.push(c);
        }
    }
    out.join(file)
}

/// `docker trust key load FILE --name NAME`: imports the private key(s) in `file` into
/// `store`, with role NAME where the PEM names none. As docker, the file must not be
/// readable or writable by group or others, and must hold a private key. An encrypted key
/// is decrypted with a passphrase from `source` to learn its ID; an unencrypted one is
/// encrypted under a new passphrase.
pub fn load_signer_key(
    store: &KeyStore,
    file: &Path,
    name: &str,
    source: &mut dyn PassphraseSource,
) -> Result<Vec<KeyEntry>, KeyError> {
    if !is_valid_signer_name(name) {
        return Err(invalid_name(name));
    }
    let shown = file.display();
    let refuse =
        |reason: String| KeyError::Invalid(format!("refusing to load key from {shown}: {reason}"));
    let meta = std::fs::metadata(file).map_err(|e| refuse(go_io_error("stat", file, &e)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "private key file {shown} must not be readable or writable by others"
            )));
        }
    }
    if meta.len() > 1 << 20 {
        return Err(refuse("larger than 1 MiB".to_owned()));
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(file).map_err(|e| refuse(go_io_error("open", file, &e)))?,
    );
    let import_err =
        |reason: String| KeyError::Invalid(format!("error importing key from {shown}: {reason}"));
    if KeyPem::parse(&bytes).is_err() {
        return Err(import_err(format!(
            "provided file {shown} is not a supported private key - to add a signer's public key use docker trust signer add"
        )));
    }
    store
        .import(&bytes, name, "", source)
        .map_err(|e| import_err(e.to_string()))
}

/// An IO error worded as Go's `*PathError` (`stat /x: no such file or directory`), as
/// docker prints them.
fn go_io_error(op: &str, path: &Path, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    format!("{op} {}: {what}", path.display())
}

/// Why `trust resolve` or `trust verify` refused an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyImageError {
    /// No released signature for the tag.
    #[error(
        "{name}: tag {tag:?} is not signed (docker trusts only tags signed into targets/releases or targets)"
    )]
    NotSigned {
        /// The repository.
        name: String,
        /// The tag.
        tag: String,
    },
    /// The signed target has no usable sha256.
    #[error("{name}:{tag}: the signed target has no sha256 digest")]
    NoDigest {
        /// The repository.
        name: String,
        /// The tag.
        tag: String,
    },
    /// The digest given with the tag is not the one signed for it.
    #[error("{name}:{tag} is signed as {signed}, not {given}")]
    OtherDigest {
        /// The repository.
        name: String,
        /// The tag.
        tag: String,
        /// What is signed.
        signed: Digest,
        /// What was given.
        given: Digest,
    },
    /// The registry serves something else for the tag than what is signed.
    #[error(
        "{reference}: the registry serves {served} ({served_size} bytes) but {signed} ({signed_size} bytes) is signed"
    )]
    RegistryDiffers {
        /// `name:tag`.
        reference: String,
        /// What the registry serves.
        served: Digest,
        /// Its size.
        served_size: u64,
        /// What is signed.
        signed: Digest,
        /// Its signed length.
        signed_size: u64,
    },
    /// A digest that is neither signed nor listed by a signed index.
    #[error(
        "{name}@{digest}: no signed tag is this manifest, and none of the {indexes} signed multi-arch index(es) lists it"
    )]
    NotListed {
        /// The repository.
        name: String,
        /// The digest.
        digest: Digest,
        /// How many signed indexes were read.
        indexes: usize,
    },
    /// Reading from the registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The signed digest and length of `tag` under docker's pull rule.
pub fn signed_digest(
    repo: &VerifiedRepository,
    name: &str,
    tag: &str,
) -> Result<(Digest, u64, RoleName), VerifyImageError> {
    let t = released_target(repo, tag).ok_or_else(|| VerifyImageError::NotSigned {
        name: name.to_owned(),
        tag: tag.to_owned(),
    })?;
    let digest = t
        .hashes
        .get("sha256")
        .and_then(|h| Digest::from_bytes(h))
        .ok_or_else(|| VerifyImageError::NoDigest {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })?;
    Ok((digest, t.length, t.role))
}

/// How an image was found trustworthy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verified {
    /// The manifest is the one signed for `tag` (a tag given, or a digest some tag signs).
    Signed {
        /// The tag.
        tag: String,
        /// The manifest digest.
        digest: Digest,
        /// Its type, as the registry serves it (`None` when the registry was not asked).
        media_type: Option<MediaType>,
        /// The role that signs it.
        role: RoleName,
        /// For a multi-arch index: the platforms it lists.
        platforms: Vec<String>,
    },
    /// The manifest is listed by the multi-arch index signed for `tag`.
    ListedBy {
        /// The tag whose signed index lists it.
        tag: String,
        /// The signed index's digest.
        index: Digest,
        /// The child's platform, if the index names it.
        platform: Option<String>,
        /// The child's digest.
        digest: Digest,
    },
}

/// `trust verify IMAGE:TAG`: the tag is signed (docker's rule) and the registry serves
/// exactly the signed manifest for it (for a multi-arch tag: the signed index, by its
/// digest and length).
pub async fn verify_tag(
    repo: &VerifiedRepository,
    registry: &Registry,
    image: &ImageRef,
    tag: &str,
) -> Result<Verified, VerifyImageError> {
    let name = image.name();
    let (signed, length, role) = signed_digest(repo, &name, tag)?;
    let m = registry.manifest(image.path(), tag).await?;
    if m.digest != signed || m.size != length {
        return Err(VerifyImageError::RegistryDiffers {
            reference: format!("{name}:{tag}"),
            served: m.digest,
            served_size: m.size,
            signed,
            signed_size: length,
        });
    }
    let platforms = platforms(&m);
    Ok(Verified::Signed {
        tag: tag.to_owned(),
        digest: signed,
        media_type: Some(m.media_type),
        role,
        platforms,
    })
}

fn platforms(m: &Manifest) -> Vec<String> {
    m.children()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.platform.unwrap_or_else(|| c.digest.clone()))
        .collect()
}

/// `trust verify IMAGE[:TAG]@sha256:…`: the digest is one a tag (`only_tag`, else any
/// released tag) is signed as, or a manifest that such a tag's signed multi-arch index
/// lists. Each signed target is fetched by its signed digest (the registry's bytes must
/// hash to it and have the signed length) and read as an index.
pub async fn verify_digest(
    repo: &VerifiedRepository,
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    only_tag: Option<&str>,
) -> Result<Verified, VerifyImageError> {
    let name = image.name();
    let signed: Vec<(String, Digest, u64, RoleName)> = match only_tag {
        Some(tag) => {
            let (d, length, role) = signed_digest(repo, &name, tag)?;
            vec![(tag.to_owned(), d, length, role)]
        }
        None => released_targets(repo)
            .iter()
            .filter_map(|t| {
                let d = Digest::from_bytes(t.hashes.get("sha256")?)?;
                Some((t.name.clone(), d, t.length, t.role.clone()))
            })
            .collect(),
    };
    if let Some((tag, d, _, role)) = signed.iter().find(|(_, d, _, _)| d == digest) {
        return Ok(Verified::Signed {
            tag: tag.clone(),
            digest: *d,
            media_type: None,
            role: role.clone(),
            platforms: Vec::new(),
        });
    }
    let mut seen = BTreeSet::new();
    let mut indexes = 0;
    for (tag, d, length, _) in &signed {
        if !seen.insert(*d) {
            continue;
        }
        let m = match registry.manifest(image.path(), &d.to_string()).await {
            Ok(m) => m,
            // a signed tag whose manifest is gone cannot vouch for anything
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if m.size != *length || !m.media_type.is_index() {
            continue;
        }
        indexes += 1;
        let Ok(children) = m.children() else { continue };
        if let Some(child) = children.iter().find(|c| c.digest == digest.to_string()) {
            return Ok(Verified::ListedBy {
                tag: tag.clone(),
                index: *d,
                platform: child.platform.clone(),
                digest: *digest,
            });
        }
    }
    Err(VerifyImageError::NotListed {
        name,
        digest: *digest,
        indexes,
    })
}

/// docker's `GetSignableRoles`: the roles a new or revoked `target` goes to. Without
/// delegations, `targets`; else every direct child of `targets` whose paths allow the name
/// and which lists a key `held` (canonical IDs of the keys in the key store).
pub fn signable_roles(
    repo: &VerifiedRepository,
    held: &BTreeSet<String>,
    target: &str,
) -> Result<Vec<RoleName>, String> {
    let all = delegations(repo)
        .ok_or_else(|| "could not translate canonical key IDs of a delegation".to_owned())?;
    if all.is_empty() {
        return Ok(vec![RoleName::targets()]);
    }
    let mut roles = Vec::new();
    for d in &all {
        let Ok(role) = RoleName::parse(&d.role) else {
            continue;
        };
        if role.parent() != Some(RoleName::targets()) {
            continue;
        }
        let paths_ok = d
            .paths
            .iter()
            .flatten()
            .any(|p| target.starts_with(p.as_str()));
        if paths_ok && d.key_ids.iter().any(|id| held.contains(id)) && !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err("no valid signing keys for delegation roles".to_owned());
    }
    Ok(roles)
}

/// The hashes and length `docker trust sign` re-signs for a tag already released: the
/// first entry `targets` or `targets/releases` holds, in walk order.
pub fn released_meta(repo: &VerifiedRepository, tag: &str) -> Option<TargetMeta> {
    walk(repo, tag, None, &[])
        .into_iter()
        .filter(|v| is_released(&v.role))
        .find_map(|v| v.doc.targets.get(tag))
        .map(|m| TargetMeta {
            length: m.length,
            hashes: m
                .hashes
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            custom: m.custom.clone(),
        })
}

/// The changes that make `signer` (a direct child of `targets`) sign with `keys`, and add
/// the keys to `targets/releases` (both with all paths), as docker's `addStagedSigner`.
pub fn add_signer_changes(signer: &RoleName, keys: &[PublicKey]) -> Vec<Change> {
    let mut out = Vec::new();
    for role in [signer.as_str(), RELEASES] {
        out.push(Change::delegation(
            ACTION_CREATE,
            role,
            Some(&DelegationData {
                new_threshold: 1,
                add_keys: keys.to_vec(),
                ..DelegationData::default()
            }),
        ));
        out.push(Change::delegation(
            ACTION_CREATE,
            role,
            Some(&DelegationData {
                add_paths: vec![String::new()],
                ..DelegationData::default()
            }),
        ));
    }
    out
}

/// The changes that remove `signer`: its keys (canonical IDs) from `targets/releases`, and
/// the role itself.
pub fn remove_signer_changes(signer: &RoleName, key_ids: &[String]) -> Vec<Change> {
    vec![
        Change::delegation(
            ACTION_UPDATE,
            RELEASES,
            Some(&DelegationData {
                remove_keys: key_ids.to_vec(),
                ..DelegationData::default()
            }),
        ),
        Change::delegation(ACTION_DELETE, signer.as_str(), None),
    ]
}

/// docker's `isLastSignerForReleases`: whether the signatures on `targets/releases` that
/// are not by `key_ids` fall below its threshold. An unsigned (or unloaded) releases role
/// is docker's error.
pub fn is_last_signer(repo: &VerifiedRepository, key_ids: &[String]) -> Result<bool, String> {
    let releases = RoleName::parse(RELEASES).unwrap_or_else(|_| RoleName::targets());
    let sigs = repo
        .chain
        .role(&releases)
        .map(|d| d.signatures.clone())
        .unwrap_or_default();
    if sigs.is_empty() {
        return Err(
            "all signed tags are currently revoked, use docker trust sign to fix".to_owned(),
        );
    }
    let threshold = repo
        .chain
        .roles()
        .find_map(|(_, doc)| {
            doc.signed
                .delegations
                .roles
                .iter()
                .find(|d| d.name == RELEASES)
                .map(|d| d.threshold)
        })
        .unwrap_or(0);
    let others = sigs
        .iter()
        .filter(|s| !key_ids.iter().any(|k| k.as_str() == s.keyid.as_str()))
        .count();
    Ok(i64::try_from(others).unwrap_or(i64::MAX) < threshold)
}

/// `changes` as changelist entries for [`crate::publish::Publisher::publish_changes`]
/// (applied in order; never written to the trust directory).
pub fn entries(changes: Vec<Change>) -> Vec<Entry> {
    changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| Entry {
            file: format!("signet-trust-{i}"),
            change,
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RepoJson<'a> {
    name: &'a str,
    signed_tags: Vec<TagJson<'a>>,
    signers: Vec<SignerJson<'a>>,
    administrative_keys: Vec<SignerJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagJson<'a> {
    signed_tag: &'a str,
    digest: &'a str,
    signers: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignerJson<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyJson<'a>>,
}

#[derive(Serialize)]
struct KeyJson<'a> {
    #[serde(rename = "ID", skip_serializing_if = "str::is_empty")]
    id: &'a str,
}

fn signer_json<'a>(name: &'a str, ids: &'a [String]) -> SignerJson<'a> {
    SignerJson {
        name,
        keys: ids.iter().map(|id| KeyJson { id }).collect(),
    }
}

/// `docker trust inspect NAME…` output: the array of every repository that could be
/// inspected (`[]` for none), indented by four spaces as Go's `json.Indent` does, with
/// Go's HTML-safe escaping, and a final newline.
pub fn render_inspect_json(entries: &[(&str, &TrustInfo)]) -> String {
    if entries.is_empty() {
        return "[]\n".to_owned();
    }
    let repos: Vec<RepoJson<'_>> = entries
        .iter()
        .map(|(name, info)| RepoJson {
            name,
            signed_tags: info
                .signed_tags
                .iter()
                .map(|t| TagJson {
                    signed_tag: &t.tag,
                    digest: &t.digest,
                    signers: if t.signers.is_empty() {
                        vec![REPO_ADMIN]
                    } else {
                        t.signers.iter().map(String::as_str).collect()
                    },
                })
                .collect(),
            signers: info
                .signers
                .iter()
                .map(|s| signer_json(&s.name, &s.key_ids))
                .collect(),
            administrative_keys: vec![
                signer_json("Root", &info.root_key_ids),
                signer_json("Repository", &info.repository_key_ids),
            ],
        })
        .collect();
    let mut out = go_indent_json(&repos);
    out.push('\n');
    out
}

/// Go's `json.MarshalIndent(v, "", "    ")`: serde's pretty layout with a four-space
/// indent, then Go's escaping of `<`, `>`, `&`, U+2028 and U+2029 (which JSON only
/// allows inside strings, so escaping them anywhere is escaping them in strings).
fn go_indent_json<T: Serialize>(value: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // invariant: these structs hold only strings and lists, which always serialize
    if value.serialize(&mut ser).is_err() {
        return "[]".to_owned();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `docker trust inspect --pretty NAME` output for one repository.
pub fn render_inspect_pretty(name: &str, info: &TrustInfo) -> String {
    let mut out = String::new();
    if info.signed_tags.is_empty() {
        let _ = write!(out, "\nNo signatures for {name}\n\n");
    } else {
        let _ = write!(out, "\nSignatures for {name}\n\n");
        let mut t = String::from("SIGNED TAG\tDIGEST\tSIGNERS\n");
        for row in &info.signed_tags {
            let signers = if row.signers.is_empty() {
                format!("({REPO_ADMIN})")
            } else {
                let mut s = row.signers.clone();
                s.sort();
                s.join(", ")
            };
            let _ = writeln!(t, "{}\t{}\t{signers}", row.tag, row.digest);
        }
        out.push_str(&tabwriter::format_with(&t, 10, 3));
    }
    if !info.signers.is_empty() {
        let _ = write!(out, "\nList of signers and their keys for {name}\n\n");
        let mut signers: Vec<&Signer> = info.signers.iter().collect();
        signers.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        let mut t = String::from("SIGNER\tKEYS\n");
        for s in signers {
            let mut ids: Vec<&str> = s.key_ids.iter().map(String::as_str).collect();
            ids.sort_unstable();
            let short: Vec<&str> = ids.iter().map(|id| truncate_id(id)).collect();
            let _ = writeln!(t, "{}\t{}", s.name, short.join(", "));
        }
        out.push_str(&tabwriter::format_with(&t, 10, 3));
    }
    let _ = write!(out, "\nAdministrative keys for {name}\n\n");
    for (label, ids) in [
        ("Repository Key", &info.repository_key_ids),
        ("Root Key", &info.root_key_ids),
    ] {
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        let _ = writeln!(out, "  {label}:\t{}", ids.join(", "));
    }
    out
}

/// docker's `stringid.TruncateID`: after any `:`, at most 12 characters.
fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, rest)| rest);
    id.get(..12).unwrap_or(id)
}

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as numbers (fewer
/// leading zeros first on ties), digits sort before other bytes, the rest bytewise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn natural_less(s1: &str, s2: &str) -> bool {
    let (a, b) = (s1.as_bytes(), s2.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (c1, c2) = (a[i], b[j]);
        let (d1, d2) = (c1.is_ascii_digit(), c2.is_ascii_digit());
        if d1 != d2 {
            return d1;
        }
        if !d1 {
            if c1 != c2 {
                return c1 < c2;
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (nz1, nz2) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (l1, l2) = (i - nz1, j - nz2);
        if l1 != l2 {
            return l1 < l2;
        }
        if a[nz1..i] != b[nz2..j] {
            return a[nz1..i] < b[nz2..j];
        }
        if nz1 != nz2 {
            return nz1 < nz2;
        }
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_as_sortorder() {
        let mut v = vec![
            "v10", "v9", "v1.10", "v1.9", "a", "1", "01", "latest", "v1", "",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "", "1", "01", "a", "latest", "v1", "v1.9", "v1.10", "v9", "v10"
            ]
        );
    }

    fn info() -> TrustInfo {
        TrustInfo {
            signed_tags: vec![SignedTag {
                tag: "v1".into(),
                digest: "419132bc79f6a8d087ae80c43fe490df6f1109b50958746a5059ad2464b07a02".into(),
                signers: vec!["alice".into()],
            }],
            signers: vec![
                Signer {
                    name: "bob".into(),
                    key_ids: vec!["b".repeat(64)],
                },
                Signer {
                    name: "alice".into(),
                    key_ids: vec!["a".repeat(64)],
                },
            ],
            root_key_ids: vec!["r".repeat(64)],
            repository_key_ids: vec!["t".repeat(64)],
        }
    }

    #[test]
    fn json_is_dockers() {
        let out = render_inspect_json(&[("127.0.0.1:5000/x/app:v1", &info())]);
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let r = "r".repeat(64);
        let t = "t".repeat(64);
        let want = format!(
            r#"[
    {{
        "Name": "127.0.0.1:5000/x/app:v1",
        "SignedTags": [
            {{
                "SignedTag": "v1",
                "Digest": "419132bc79f6a8d087ae80c43fe490df6f1109b50958746a5059ad2464b07a02",
                "Signers": [
                    "alice"
                ]
            }}
        ],
        "Signers": [
            {{
                "Name": "bob",
                "Keys": [
                    {{
                        "ID": "{b}"
                    }}
                ]
            }},
            {{
                "Name": "alice",
                "Keys": [
                    {{
                        "ID": "{a}"
                    }}
                ]
            }}
        ],
        "AdministrativeKeys": [
            {{
                "Name": "Root",
                "Keys": [
                    {{
                        "ID": "{r}"
                    }}
                ]
            }},
            {{
                "Name": "Repository",
                "Keys": [
                    {{
                        "ID": "{t}"
                    }}
                ]
            }}
        ]
    }}
]
"#
        );
        assert_eq!(out, want);
        assert_eq!(render_inspect_json(&[]), "[]\n");
        let mut empty = info();
        empty.signed_tags.clear();
        empty.signers = vec![Signer {
            name: "x<y".into(),
            key_ids: vec![],
        }];
        let out = render_inspect_json(&[("n", &empty)]);
        assert!(out.contains("\"SignedTags\": [],"), "{out}");
        assert!(
            out.contains("{\n                \"Name\": \"x\\u003cy\"\n            }"),
            "{out}"
        );
    }

    #[test]
    fn pretty_is_dockers() {
        let i = info();
        let want = format!(
            "\nSignatures for n\n\nSIGNED TAG   DIGEST                                                             SIGNERS\nv1           419132bc79f6a8d087ae80c43fe490df6f1109b50958746a5059ad2464b07a02   alice\n\nList of signers and their keys for n\n\nSIGNER    KEYS\nalice     {}\nbob       {}\n\nAdministrative keys for n\n\n  Repository Key:\t{}\n  Root Key:\t{}\n",
            "a".repeat(12),
            "b".repeat(12),
            "t".repeat(64),
            "r".repeat(64)
        );
        assert_eq!(render_inspect_pretty("n", &i), want);
        let mut none = i;
        none.signed_tags.clear();
        none.signers.clear();
        assert!(render_inspect_pretty("n", &none).starts_with(
            "\nNo signatures for n\n\n\nAdministrative keys for n\n\n  Repository Key:"
        ));
    }
}
