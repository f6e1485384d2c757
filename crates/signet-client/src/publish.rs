//! Writing repositories: `init` and `publish` as notary does them (spec §6.7), over a
//! [`KeySource`] that holds the private keys.
//!
//! The key store (notary's encrypted `private/<keyid>.key` files, passphrases) implements
//! [`KeySource`]; this module never sees key material, only [`RoleSigner`]s that sign
//! payloads. Every key notary creates is ECDSA P-256, and so is every key here.
//!
//! * [`Publisher::init`]: a root key (an existing one the key source offers, else a new
//!   one) wrapped in a self-signed certificate whose CN is the GUN (10 years, as notary
//!   makes it), new targets and snapshot keys (or a server-managed snapshot key), the
//!   server's timestamp key (`GET timestamp.key`), root v1 with threshold 1 for each role.
//!   The root is written to the trust directory's cache; nothing is uploaded.
//! * [`Publisher::publish`]: updates with write semantics; if the server has no
//!   `root.json` (404), publishes the cached root as is (the initial publish, and
//!   `publish` of a GUN never initialized initializes it first, as notary does). Applies the
//!   changelist (target additions and removals, in order, to `targets` or a delegation whose
//!   key the key source holds), signs every changed targets role (version + 1, 3-year
//!   expiry; always `targets` on the initial publish), signs the snapshot if its key is held
//!   locally (else the server does), uploads everything in one multipart POST, and clears
//!   the changelist once the server accepted it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Map;
use signet_core::metadata::{Expires, FileMeta, Role, RoleKeys, Signed, Unsigned};
use signet_core::{KeyId, KeyType, PublicKey, RoleName, Root, Signature, Snapshot, Targets};

use crate::apply::Draft;
use crate::changelist::Changelist;
use crate::error::ClientError;
use crate::transport::Fetched;
use crate::{Cache, Client, TrustDirCache};

/// Years a root (and its certificate) is valid, as notary signs it.
pub const ROOT_YEARS: i64 = 10;
/// Years targets, delegations and client-signed snapshots are valid.
pub const TARGETS_YEARS: i64 = 3;

/// Why the key source could not help.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct KeyError {
    /// What went wrong (no key, wrong passphrase, unreadable key file…).
    pub reason: String,
}

/// A private key that signs for a role: an ECDSA P-256 key whose signatures are raw
/// `r‖s` (method `ecdsa`), as notary's are.
pub trait RoleSigner: Send + Sync {
    /// The public key as metadata lists a plain key (`ecdsa`, SubjectPublicKeyInfo DER);
    /// its ID is the canonical key ID.
    fn public(&self) -> &PublicKey;
    /// Signs `payload` with ECDSA P-256 / SHA-256, returning raw `r‖s` (64 bytes), or as
    /// [`RoleSigner::method`] says.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// The TUF signature method of [`RoleSigner::sign`]'s signatures: `ecdsa` unless the
    /// key is another type (`rsapss` for an RSA key on a PKCS#11 token).
    fn method(&self) -> &'static str {
        "ecdsa"
    }
}

/// Where signing keys come from: the private key store.
pub trait KeySource: Send + Sync {
    /// A key the store holds for `role` of `gun` whose canonical ID is one of `allowed`
    /// (empty: any key the store holds for the role, e.g. an existing root key for `init`).
    fn find(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Option<Arc<dyn RoleSigner>>, KeyError>;
    /// Every key the store holds among `allowed` (canonical IDs), in that order: what a
    /// role with a threshold above 1 signs with.
    fn find_all(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Vec<Arc<dyn RoleSigner>>, KeyError> {
        Ok(self.find(gun, role, allowed)?.into_iter().collect())
    }
    /// Creates and stores a new key for `role` of `gun`.
    fn generate(&self, gun: &str, role: &RoleName) -> Result<Arc<dyn RoleSigner>, KeyError>;
    /// A key made beforehand for exactly `role` of `gun`, for `init` to use instead of
    /// generating one (a token key from `key generate --pkcs11 --role R -g GUN`). None by
    /// default: notary's `init` always makes new targets and snapshot keys.
    fn prepared(
        &self,
        _gun: &str,
        _role: &RoleName,
    ) -> Result<Option<Arc<dyn RoleSigner>>, KeyError> {
        Ok(None)
    }
}

/// What a publish did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The roles uploaded, in upload order.
    pub roles: Vec<String>,
    /// Whether this was the repository's first publish.
    pub initial: bool,
    /// Changes applied from the changelist.
    pub applied: usize,
    /// What the user should hear about (e.g. a delegation left below its threshold).
    pub warnings: Vec<String>,
}

/// The (first) key a rotation change installs.
fn rotated_key(entry: &crate::changelist::Entry) -> PublicKey {
    entry
        .change
        .data
        .as_deref()
        .and_then(|d| crate::changelist::RootRoleData::from_bytes(d).ok())
        .and_then(|d| d.keys.into_iter().next())
        // The rotation was built from a key just above: the payload always holds one.
        .unwrap_or_else(|| PublicKey::new(KeyType::Ecdsa, Vec::new()))
}

/// How [`Publisher::build`] signs the roles that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signing {
    /// Every role must meet its threshold with the keys here.
    Threshold,
    /// Each role is signed by whichever of its keys are here (maybe none).
    Partial,
}

/// An update applied and signed, before the snapshot and the upload.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    /// The server had no repository: this creates it.
    pub(crate) initial: bool,
    /// root.json as it will be after the update.
    pub(crate) root_bytes: Vec<u8>,
    /// The files to upload (root first if it changed, then targets roles, parents first).
    pub(crate) files: Vec<(RoleName, Vec<u8>)>,
    /// Every targets role after the update (for the snapshot).
    pub(crate) docs: BTreeMap<RoleName, Vec<u8>>,
    /// The snapshot's version before the update.
    pub(crate) snapshot_version: u64,
    /// Keys that sign the snapshot and their threshold.
    pub(crate) snapshot_keys: Vec<(KeyId, PublicKey)>,
    pub(crate) snapshot_threshold: u64,
    /// Versions the update builds on (root, snapshot, each targets role).
    pub(crate) base: BTreeMap<String, u64>,
    /// Delegations removed.
    pub(crate) removed: Vec<String>,
    /// Changes applied.
    pub(crate) applied: usize,
    /// Warnings from applying them.
    pub(crate) warnings: Vec<String>,
}

/// Writes repositories for one server.
#[derive(Clone)]
pub struct Publisher {
    pub(crate) client: Client,
    pub(crate) keys: Arc<dyn KeySource>,
    trust: TrustDirCache,
    pub(crate) changelists: std::path::PathBuf,
}

pub(crate) fn key_err(gun: &str, role: &RoleName, e: &KeyError) -> ClientError {
    ClientError::Publish {
        gun: gun.to_owned(),
        reason: format!("{role} key: {e}"),
    }
}

pub(crate) fn publish_err(gun: &str, reason: impl Into<String>) -> ClientError {
    ClientError::Publish {
        gun: gun.to_owned(),
        reason: reason.into(),
    }
}

impl Publisher {
    /// A publisher using `client`'s server and pinning, keys from `keys`, and the trust
    /// directory `trust_dir` (cache and changelists; the client should cache there too).
    pub fn new(client: Client, keys: Arc<dyn KeySource>, trust_dir: &std::path::Path) -> Self {
        Self {
            client,
            keys,
            trust: TrustDirCache::new(trust_dir),
            changelists: trust_dir.to_path_buf(),
        }
    }

    /// notary's `init GUN`: makes the keys and root v1 and caches the root (see the module
    /// documentation). `server_snapshot`: let the server manage the snapshot key.
    pub async fn init(
        &self,
        gun: &str,
        server_snapshot: bool,
    ) -> Result<Signed<Root>, ClientError> {
        self.init_with(gun, server_snapshot, None, None).await
    }

    /// `init` with a chosen root key (its canonical ID; the key source must hold it) and
    /// optionally the certificate (DER) to list for it, which must be for that key and
    /// valid now (notary's `--rootkey`/`--rootcert`).
    pub async fn init_with(
        &self,
        gun: &str,
        server_snapshot: bool,
        root_key: Option<&KeyId>,
        root_cert: Option<&[u8]>,
    ) -> Result<Signed<Root>, ClientError> {
        let now = self.client.clock.now();
        let root_role = RoleName::root();
        let from_cert = match (root_key, root_cert) {
            (None, Some(der)) => Some(
                signet_core::key::parse_cert(der)
                    .map(|facts| {
                        PublicKey::new(KeyType::Ecdsa, facts.spki_der)
                            .canonical_id()
                            .clone()
                    })
                    .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?,
            ),
            _ => None,
        };
        let found = match root_key.or(from_cert.as_ref()) {
            Some(id) => Some(
                self.keys
                    .find(gun, &root_role, std::slice::from_ref(id))
                    .map_err(|e| key_err(gun, &root_role, &e))?
                    .ok_or_else(|| {
                        publish_err(gun, format!("root key {id} is not in the key store"))
                    })?,
            ),
            None => self
                .keys
                .find(gun, &root_role, &[])
                .map_err(|e| key_err(gun, &root_role, &e))?,
        };
        let root_signer = match found {
            Some(k) => k,
            None => self
                .keys
                .generate(gun, &root_role)
                .map_err(|e| key_err(gun, &root_role, &e))?,
        };
        let cert = match root_cert {
            Some(der) => {
                let facts = signet_core::key::parse_cert(der)
                    .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?;
                facts
                    .validate(Some(now))
                    .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?;
                if facts.is_ca {
                    return Err(publish_err(
                        gun,
                        "the root certificate is a CA certificate: a root key needs a leaf certificate",
                    ));
                }
                let cn = facts.common_name.as_deref().unwrap_or("");
                let cn_fits = cn == gun
                    || cn
                        .strip_suffix('*')
                        .is_some_and(|prefix| gun.starts_with(prefix));
                if !cn_fits {
                    return Err(publish_err(
                        gun,
                        format!("the root certificate's common name {cn:?} is not the GUN"),
                    ));
                }
                if facts.spki_der != root_signer.public().public_bytes() {
                    return Err(publish_err(
                        gun,
                        "the root certificate is not for the root key",
                    ));
                }
                der.to_vec()
            }
            None => root_certificate(gun, root_signer.as_ref(), now)
                .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?,
        };
        let root_key = PublicKey::from_cert_chain(&[cert]);
        let root_key_id = root_key.id().clone();
        let prepared_or_new = |role: &RoleName| -> Result<Arc<dyn RoleSigner>, ClientError> {
            self.keys
                .prepared(gun, role)
                .and_then(|key| key.map_or_else(|| self.keys.generate(gun, role), Ok))
                .map_err(|e| key_err(gun, role, &e))
        };
        let targets = prepared_or_new(&RoleName::targets())?;
        let snapshot_key = if server_snapshot {
            self.remote_key(gun, "snapshot", false).await?
        } else {
            prepared_or_new(&RoleName::snapshot())?.public().clone()
        };
        let timestamp_key = self.remote_key(gun, "timestamp", false).await?;
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, key) in [
            ("root", root_key),
            ("targets", targets.public().clone()),
            ("snapshot", snapshot_key),
            ("timestamp", timestamp_key),
        ] {
            roles.insert(
                role.to_owned(),
                RoleKeys {
                    keyids: vec![key.id().clone()],
                    threshold: 1,
                    extra: Map::new(),
                },
            );
            keys.insert(key.id().clone(), key);
        }
        let body = Root {
            ty: Root::TYPE.to_owned(),
            consistent_snapshot: false,
            expires: Expires::at(now.add_years(ROOT_YEARS)),
            keys,
            roles,
            version: 1,
            extra: Map::new(),
        };
        let signers = [(root_signer, root_key_id)];
        let root = sign(gun, root_role.clone(), body, &signers)?;
        self.trust.store(gun, &[(root_role, root.bytes())])?;
        Ok(root)
    }

    /// The server-managed public key of `role`: the current one (`GET <role>.key`) or,
    /// with `rotate`, a new one (`POST <role>.key`).
    async fn remote_key(
        &self,
        gun: &str,
        role: &str,
        rotate: bool,
    ) -> Result<PublicKey, ClientError> {
        let url = self.client.transport.url(gun, &format!("{role}.key"));
        let answer = if rotate {
            self.client.transport.rotate_key(gun, role).await
        } else {
            self.client.transport.get_key(gun, role).await
        };
        match answer {
            Ok(Fetched::Body(b)) => serde_json::from_slice::<PublicKey>(&b)
                .map_err(|e| publish_err(gun, format!("{url}: not a public key: {e}"))),
            Ok(Fetched::Status(status)) => Err(ClientError::Status {
                gun: gun.to_owned(),
                role: RoleName::parse(role).unwrap_or_else(|_| RoleName::timestamp()),
                url,
                status,
            }),
            Ok(Fetched::TooLarge) => {
                Err(publish_err(gun, format!("{url}: key response too large")))
            }
            Err(source) => Err(ClientError::Network {
                gun: gun.to_owned(),
                url,
                source,
            }),
        }
    }

    /// notary's `publish GUN` (see the module documentation).
    pub async fn publish(&self, gun: &str) -> Result<Published, ClientError> {
        let changelist = Changelist::new(&self.changelists, gun)?;
        let (entries, bad) = changelist.list()?;
        if let Some((file, e)) = bad.first() {
            return Err(publish_err(gun, format!("unreadable change {file}: {e}")));
        }
        let published = self.publish_changes(gun, &entries).await?;
        changelist.clear()?;
        Ok(published)
    }

    /// notary's `key rotate GUN ROLE [-r]`: a new key for a base role, published at once
    /// (root re-signed by the old and new root keys). `remote`: the server makes the key
    /// (required for timestamp, allowed for snapshot). Staged changes stay staged.
    /// Returns the new public key.
    pub async fn rotate(
        &self,
        gun: &str,
        role: &RoleName,
        remote: bool,
    ) -> Result<PublicKey, ClientError> {
        let entry = self.rotation(gun, role, remote, Vec::new(), 0).await?;
        self.publish_changes(gun, std::slice::from_ref(&entry))
            .await?;
        Ok(rotated_key(&entry))
    }

    /// The change a key rotation publishes: a new key for `role` (made here, or by the
    /// server with `remote`), or with `keys` given, exactly those public keys (keys other
    /// people hold; certificates for root) and, if not 0, a new threshold.
    pub async fn rotation(
        &self,
        gun: &str,
        role: &RoleName,
        remote: bool,
        keys: Vec<PublicKey>,
        threshold: i64,
    ) -> Result<crate::changelist::Entry, ClientError> {
        if !keys.is_empty() {
            if remote {
                return Err(publish_err(gun, "public keys and -r exclude each other"));
            }
            if !["root", "targets", "snapshot"].contains(&role.as_str()) {
                return Err(publish_err(
                    gun,
                    format!("{role} keys are held by the server"),
                ));
            }
            if *role == RoleName::root() && keys.iter().any(|k| !k.keytype().is_x509()) {
                return Err(publish_err(
                    gun,
                    format!("root keys must be certificates whose common name is {gun}"),
                ));
            }
            let change = crate::changelist::Change::root_role_keys(role.as_str(), keys, threshold);
            return Ok(crate::changelist::Entry {
                file: format!("rotation of the {role} keys"),
                change,
            });
        }
        let key = match (role.as_str(), remote) {
            ("timestamp" | "snapshot", true) => self.remote_key(gun, role.as_str(), true).await?,
            ("timestamp", false) => {
                return Err(publish_err(
                    gun,
                    "the timestamp key is always held by the server: rotate it with -r",
                ));
            }
            ("targets" | "snapshot", false) => self
                .keys
                .generate(gun, role)
                .map_err(|e| key_err(gun, role, &e))?
                .public()
                .clone(),
            ("root", false) => {
                let signer = self
                    .keys
                    .generate(gun, role)
                    .map_err(|e| key_err(gun, role, &e))?;
                let cert = root_certificate(gun, signer.as_ref(), self.client.clock.now())
                    .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?;
                PublicKey::from_cert_chain(&[cert])
            }
            (other, true) => {
                return Err(publish_err(
                    gun,
                    format!(
                        "only timestamp and snapshot keys can be managed by the server, not {other}"
                    ),
                ));
            }
            (other, false) => {
                return Err(publish_err(
                    gun,
                    format!(
                        "{other} is not a base role: rotate delegation keys with `delegation add`/`remove`"
                    ),
                ));
            }
        };
        let change = crate::changelist::Change::root_role_keys(role.as_str(), vec![key], threshold);
        Ok(crate::changelist::Entry {
            file: format!("rotation of the {role} key"),
            change,
        })
    }

    /// notary's `delete GUN [--remote]`: the server's copy (with `remote`; needs `*`
    /// access), then the local metadata and staged changes. Keys are kept.
    pub async fn delete(&self, gun: &str, remote: bool) -> Result<(), ClientError> {
        crate::cache::check_gun(gun)?;
        if remote {
            let url = format!("{}/v2/{gun}/_trust/tuf/", self.client.transport.base());
            let answer = self
                .client
                .transport
                .delete_gun(gun)
                .await
                .map_err(|source| ClientError::Network {
                    gun: gun.to_owned(),
                    url: url.clone(),
                    source,
                })?;
            if answer.status != 200 {
                return Err(refused(gun, answer.status, &answer.body));
            }
        }
        let mut dir = self.changelists.join("tuf");
        dir.extend(gun.split('/'));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::Cache {
                gun: gun.to_owned(),
                role: "*".to_owned(),
                reason: format!("removing {}: {e}", dir.display()),
            }),
        }
    }

    /// Applies `entries` to the repository and publishes the result (the work of
    /// [`Publisher::publish`], without touching the on-disk changelist).
    pub async fn publish_changes(
        &self,
        gun: &str,
        entries: &[crate::changelist::Entry],
    ) -> Result<Published, ClientError> {
        let built = self.build(gun, entries, Signing::Threshold).await?;
        self.finish(gun, built).await
    }

    /// Applies `entries` to the verified repository (or, if the server has none, to the
    /// cached root) and signs what changed: with [`Signing::Threshold`] every role must
    /// meet its threshold here; with [`Signing::Partial`] it is signed by whichever of its
    /// keys are here (maybe none), for other holders to add theirs.
    pub(crate) async fn build(
        &self,
        gun: &str,
        entries: &[crate::changelist::Entry],
        signing: Signing,
    ) -> Result<Built, ClientError> {
        let now = self.client.clock.now();

        // The base state: the verified remote repository, or the cached root (initial).
        let (root, roles, invalid, snapshot_version, initial) =
            match self.client.verify_gun(gun).await {
                Ok(repo) => {
                    let roles: BTreeMap<RoleName, Signed<Targets>> = repo
                        .chain
                        .roles()
                        .map(|(r, d)| (r.clone(), d.clone()))
                        .collect();
                    let sv = repo.chain.trusted_snapshot().snapshot().version();
                    (repo.chain.root().clone(), roles, repo.invalid, sv, false)
                }
                Err(ClientError::RepositoryNotFound { .. }) => {
                    let root = match self.trust.load(gun, &RoleName::root())? {
                        Some(bytes) => Signed::<Root>::from_bytes(&bytes)
                            .map_err(|e| publish_err(gun, format!("cached root: {e}")))?,
                        None => self.init(gun, false).await?,
                    };
                    (root, BTreeMap::new(), BTreeMap::new(), 0, true)
                }
                Err(e) => return Err(e),
            };

        // Apply the changelist to a draft of the metadata.
        let mut draft = Draft::new(&root.signed, &roles).with_invalid(&invalid);
        if initial {
            draft
                .targets
                .entry(RoleName::targets())
                .or_insert_with(|| crate::apply::empty_targets(now));
            draft.dirty.insert(RoleName::targets());
        }
        for e in entries {
            let keys = &self.keys;
            let mut can_sign = |role: &RoleName, allowed: &[KeyId]| {
                matches!(keys.find(gun, role, allowed), Ok(Some(_)))
            };
            draft
                .apply(&e.change, now, &mut can_sign)
                .map_err(|err| publish_err(gun, format!("change {}: {err}", e.file)))?;
        }

        let mut files: Vec<(RoleName, Vec<u8>)> = Vec::new();
        // Root: as cached on the initial publish; re-signed when a change touched it or it
        // expires within six months, by the new root keys and the old ones.
        let root_bytes = if initial {
            if draft.root_dirty {
                return Err(publish_err(
                    gun,
                    "root key changes need a published repository: publish it first",
                ));
            }
            files.push((RoleName::root(), root.bytes().to_vec()));
            root.bytes().to_vec()
        } else if draft.root_dirty || near_expiry(root.expires(), now) {
            let signed = self.sign_root(gun, &draft, root.version() + 1, now, signing)?;
            files.push((RoleName::root(), signed.bytes().to_vec()));
            signed.bytes().to_vec()
        } else {
            root.bytes().to_vec()
        };

        // The changed targets roles, parents before children.
        let mut docs: BTreeMap<RoleName, Vec<u8>> = roles
            .iter()
            .filter(|(r, _)| !draft.removed.contains(*r))
            .map(|(r, d)| (r.clone(), d.bytes().to_vec()))
            .collect();
        let dirty: Vec<RoleName> = draft.dirty.iter().cloned().collect();
        for role in &dirty {
            let Some(mut body) = draft.targets.get(role).cloned() else {
                continue;
            };
            body.version = draft.versions.get(role).map_or(1, |v| v + 1);
            body.expires = Expires::at(now.add_years(TARGETS_YEARS));
            let signers = self.signers(
                gun,
                role,
                &draft.listed_keys(role),
                draft.threshold(role),
                signing,
            )?;
            let signed = sign(gun, role.clone(), body, &signers)?;
            files.push((role.clone(), signed.bytes().to_vec()));
            docs.insert(role.clone(), signed.bytes().to_vec());
        }

        let mut base: BTreeMap<String, u64> = roles
            .iter()
            .map(|(r, d)| (r.to_string(), d.version()))
            .collect();
        base.insert("root".to_owned(), if initial { 0 } else { root.version() });
        base.insert("snapshot".to_owned(), snapshot_version);
        Ok(Built {
            initial,
            root_bytes,
            files,
            docs,
            snapshot_version,
            snapshot_keys: draft.listed_keys(&RoleName::snapshot()),
            snapshot_threshold: draft.threshold(&RoleName::snapshot()),
            base,
            removed: draft.removed.iter().map(ToString::to_string).collect(),
            applied: entries.len(),
            warnings: draft.warnings,
        })
    }

    /// Signs the snapshot if its key is here and uploads `built` in one request.
    pub(crate) async fn finish(&self, gun: &str, built: Built) -> Result<Published, ClientError> {
        let now = self.client.clock.now();
        let mut upload: Vec<(String, Vec<u8>)> = built
            .files
            .iter()
            .map(|(r, b)| (r.to_string(), b.clone()))
            .collect();
        let snapshot_ids: Vec<KeyId> = built
            .snapshot_keys
            .iter()
            .map(|(_, k)| k.canonical_id().clone())
            .collect();
        let local_snapshot = self
            .keys
            .find(gun, &RoleName::snapshot(), &snapshot_ids)
            .map_err(|e| key_err(gun, &RoleName::snapshot(), &e))?
            .is_some();
        if local_snapshot {
            let mut meta = BTreeMap::new();
            meta.insert("root".to_owned(), FileMeta::of(&built.root_bytes));
            for (role, bytes) in &built.docs {
                meta.insert(role.to_string(), FileMeta::of(bytes));
            }
            let body = Snapshot {
                ty: Snapshot::TYPE.to_owned(),
                expires: Expires::at(now.add_years(TARGETS_YEARS)),
                meta,
                version: built.snapshot_version + 1,
                extra: Map::new(),
            };
            let signers = self.signers(
                gun,
                &RoleName::snapshot(),
                &built.snapshot_keys,
                built.snapshot_threshold,
                Signing::Threshold,
            )?;
            let signed = sign(gun, RoleName::snapshot(), body, &signers)?;
            upload.push(("snapshot".to_owned(), signed.bytes().to_vec()));
        }
        if upload.is_empty() {
            // Nothing changed and the server signs the snapshot: nothing to send.
            return Ok(Published {
                roles: Vec::new(),
                initial: built.initial,
                applied: built.applied,
                warnings: built.warnings,
            });
        }
        let answer = self
            .client
            .transport
            .post_update(gun, &upload)
            .await
            .map_err(|source| ClientError::Network {
                gun: gun.to_owned(),
                url: format!("{}/v2/{gun}/_trust/tuf/", self.client.transport.base()),
                source,
            })?;
        if answer.status != 200 {
            return Err(refused(gun, answer.status, &answer.body));
        }
        if built.initial {
            // The server had no such repository: whatever else the cache holds for it is
            // from an earlier incarnation (deleted on the server) and must not pin versions.
            self.trust.forget_all_but_root(gun)?;
        }
        // The cache is not refreshed here (notary does not either): the next update
        // fetches and verifies what the server now serves, and until then the cache
        // keeps the last verified state, which is still a valid rollback floor.
        // Caching the uploaded targets and snapshot would save the next update two
        // downloads, but the new timestamp exists only on the server: the trust directory
        // would hold a timestamp older than its snapshot, which the Go client, falling
        // back to its cache when the server has no data, refuses (tried and reverted:
        // tests/notary_cli.rs `go_and_signet_clients_take_turns_on_shared_trust_dirs`).
        Ok(Published {
            roles: upload.into_iter().map(|(r, _)| r).collect(),
            initial: built.initial,
            applied: built.applied,
            warnings: built.warnings,
        })
    }

    /// Every local key among `listed` (the role's keys by the IDs it lists them under),
    /// paired with that ID; fails unless they meet `threshold`.
    fn signers(
        &self,
        gun: &str,
        role: &RoleName,
        listed: &[(KeyId, PublicKey)],
        threshold: u64,
        signing: Signing,
    ) -> Result<Vec<KeyedSigner>, ClientError> {
        let allowed: Vec<KeyId> = listed
            .iter()
            .map(|(_, k)| k.canonical_id().clone())
            .collect();
        let found = self
            .keys
            .find_all(gun, role, &allowed)
            .map_err(|e| key_err(gun, role, &e))?;
        let mut out: Vec<KeyedSigner> = Vec::new();
        for signer in found {
            let canonical = signer.public().canonical_id().clone();
            if let Some((id, _)) = listed.iter().find(|(_, k)| *k.canonical_id() == canonical)
                && !out.iter().any(|(_, have)| have == id)
            {
                out.push((signer, id.clone()));
            }
        }
        if signing == Signing::Partial {
            return Ok(out);
        }
        if out.is_empty() {
            return Err(publish_err(gun, format!("no signing key for {role}")));
        }
        if (out.len() as u64) < threshold {
            return Err(publish_err(
                gun,
                format!(
                    "{role} needs signatures from {threshold} of its keys and {} of them are here: \
                     export the update with `publish --export FILE` for the other key holders to sign",
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    /// Root version `version`: 10 more years, signed by the draft's root keys and, when
    /// they changed, by the previous root keys too (each set up to its threshold).
    fn sign_root(
        &self,
        gun: &str,
        draft: &Draft,
        version: u64,
        now: signet_core::UnixTime,
        signing: Signing,
    ) -> Result<Signed<Root>, ClientError> {
        let mut body = draft.root.clone();
        body.version = version;
        body.expires = Expires::at(now.add_years(ROOT_YEARS));
        let role = RoleName::root();
        let threshold = |r: &Root| {
            r.roles
                .get("root")
                .and_then(|k| u64::try_from(k.threshold).ok())
                .unwrap_or(1)
                .max(1)
        };
        let mut signers = self.signers(
            gun,
            &role,
            &crate::apply::role_keys(&draft.root, "root"),
            threshold(&draft.root),
            signing,
        )?;
        let old = crate::apply::role_keys(&draft.base_root, "root");
        if old != crate::apply::role_keys(&draft.root, "root") {
            for s in self.signers(gun, &role, &old, threshold(&draft.base_root), signing)? {
                if !signers.iter().any(|(_, id)| *id == s.1) {
                    signers.push(s);
                }
            }
        }
        sign(gun, role, body, &signers)
    }
}

/// The server's refusal of a write, worded as notary's client words it: a 400 carrying
/// one validation error names it (`The root metadata is invalid: …`), a 401 says so, and
/// anything else is "unable to reach trust server".
fn refused(gun: &str, status: u16, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        detail: Option<Detail>,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Error")]
        error: Option<Msg>,
    }
    #[derive(serde::Deserialize)]
    struct Msg {
        #[serde(rename = "Msg", default)]
        msg: String,
    }
    let validation = || -> Option<String> {
        let parsed: Body = serde_json::from_slice(body).ok()?;
        let [entry] = parsed.errors.as_slice() else {
            return None;
        };
        let detail = entry.detail.as_ref()?;
        let msg = &detail.error.as_ref()?.msg;
        let prefix = match detail.name.as_str() {
            "ErrValidation" => "An error occurred during validation",
            "ErrBadHierarchy" => "Metadata hierarchy is incomplete",
            "ErrBadRoot" => "The root metadata is invalid",
            "ErrBadTargets" => "The targets metadata is invalid",
            "ErrBadSnapshot" => "The snapshot metadata is invalid",
            _ => return None,
        };
        Some(format!("{prefix}: {msg}"))
    };
    let message = match status {
        400 => validation().unwrap_or_else(|| "trust server rejected operation.".to_owned()),
        401 => "you are not authorized to perform this operation: server returned 401.".to_owned(),
        other => format!("unable to reach trust server at this time: {other}."),
    };
    ClientError::Refused {
        gun: gun.to_owned(),
        status,
        message,
    }
}

/// Whether `expires` is within six months (183 days) of `now`: notary re-signs root then.
fn near_expiry(expires: &Expires, now: signet_core::UnixTime) -> bool {
    expires.instant() < now.add_days(183)
}

/// A signer and the ID its key is listed under in the role it signs.
type KeyedSigner = (Arc<dyn RoleSigner>, KeyId);

/// Signs `body` as `role` with each signer, each signature naming the ID the role lists
/// the key under.
fn sign<T: Role>(
    gun: &str,
    role: RoleName,
    body: T,
    signers: &[KeyedSigner],
) -> Result<Signed<T>, ClientError> {
    let unsigned = Unsigned::new(role.clone(), body, vec![], 1)
        .map_err(|e| publish_err(gun, format!("encoding {role}: {e}")))?;
    let mut sigs = Vec::new();
    for (signer, keyid) in signers {
        let sig = signer
            .sign(unsigned.payload())
            .map_err(|e| key_err(gun, &role, &e))?;
        sigs.push(Signature {
            keyid: keyid.clone(),
            method: signer.method().to_owned(),
            sig: signet_core::metadata::Base64Bytes(sig),
        });
    }
    Ok(unsigned.assemble(&sigs))
}

/// A self-signed certificate for the root key, as notary makes it: CN = GUN, valid from
/// now for 10 years, not a CA, digitalSignature|keyEncipherment, codeSigning,
/// ecdsa-with-SHA256. Returns the DER.
pub fn root_certificate(
    gun: &str,
    signer: &dyn RoleSigner,
    now: signet_core::UnixTime,
) -> Result<Vec<u8>, String> {
    if *signer.public().keytype() != KeyType::Ecdsa {
        return Err("root keys must be ECDSA P-256".to_owned());
    }
    let spki = signer.public().public_bytes();
    // A P-256 SPKI ends in the 65-byte uncompressed point.
    let point = spki
        .get(spki.len().saturating_sub(65)..)
        .filter(|p| spki.len() == 91 && p.first() == Some(&4))
        .ok_or("root key is not a P-256 SubjectPublicKeyInfo")?
        .to_vec();
    let at = |t: signet_core::UnixTime| {
        rcgen::date_time_ymd(1970, 1, 1)
            + std::time::Duration::from_secs(u64::try_from(t.secs()).unwrap_or(0))
    };
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, gun);
    params.distinguished_name = dn;
    params.not_before = at(now);
    params.not_after = at(now.add_years(ROOT_YEARS));
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| "no randomness for the serial number")?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let key = CertSigner { signer, point };
    params
        .self_signed(&key)
        .map(|c| c.der().to_vec())
        .map_err(|e| e.to_string())
}

/// Adapts a [`RoleSigner`] to rcgen (which wants DER ECDSA signatures).
struct CertSigner<'a> {
    signer: &'a dyn RoleSigner,
    point: Vec<u8>,
}

impl rcgen::PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let raw = self
            .signer
            .sign(msg)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        raw_to_der(&raw).ok_or(rcgen::Error::RingUnspecified)
    }
}

/// `r‖s` (64 bytes) → DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let int = |x: &[u8]| {
        let x = &x[x.iter().take_while(|b| **b == 0).count().min(31)..];
        let mut v = vec![0x02];
        if x[0] & 0x80 != 0 {
            v.push(u8::try_from(x.len() + 1).unwrap_or(0));
            v.push(0);
        } else {
            v.push(u8::try_from(x.len()).unwrap_or(0));
        }
        v.extend_from_slice(x);
        v
    };
    let (r, s) = (int(&raw[..32]), int(&raw[32..]));
    let mut out = vec![0x30, u8::try_from(r.len() + s.len()).ok()?];
    out.extend(r);
    out.extend(s);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::raw_to_der;

    #[test]
    fn der_signatures() {
        let mut raw = [0u8; 64];
        raw[31] = 1;
        raw[32] = 0x80;
        let der = raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 1, 1]);
        assert_eq!(&der[5..9], &[0x02, 33, 0x00, 0x80]);
        assert!(raw_to_der(&raw[..63]).is_none());
    }
}
