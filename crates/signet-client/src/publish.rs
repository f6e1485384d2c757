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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Map;
use signet_core::metadata::{Expires, FileMeta, Role, RoleKeys, Signed, Unsigned};
use signet_core::{KeyId, KeyType, PublicKey, RoleName, Root, Signature, Snapshot, Targets};

use crate::changelist::{Changelist, TargetMeta};
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
    /// Signs `payload` with ECDSA P-256 / SHA-256, returning raw `r‖s` (64 bytes).
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError>;
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
    /// Creates and stores a new key for `role` of `gun`.
    fn generate(&self, gun: &str, role: &RoleName) -> Result<Arc<dyn RoleSigner>, KeyError>;
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
}

/// Writes repositories for one server.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    keys: Arc<dyn KeySource>,
    trust: TrustDirCache,
    changelists: std::path::PathBuf,
}

fn key_err(gun: &str, role: &RoleName, e: &KeyError) -> ClientError {
    ClientError::Publish {
        gun: gun.to_owned(),
        reason: format!("{role} key: {e}"),
    }
}

fn publish_err(gun: &str, reason: impl Into<String>) -> ClientError {
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
        let now = self.client.clock.now();
        let root_role = RoleName::root();
        let root_signer = match self
            .keys
            .find(gun, &root_role, &[])
            .map_err(|e| key_err(gun, &root_role, &e))?
        {
            Some(k) => k,
            None => self
                .keys
                .generate(gun, &root_role)
                .map_err(|e| key_err(gun, &root_role, &e))?,
        };
        let cert = root_certificate(gun, root_signer.as_ref(), now)
            .map_err(|e| publish_err(gun, format!("root certificate: {e}")))?;
        let root_key = PublicKey::from_cert_chain(&[cert]);
        let targets = self
            .keys
            .generate(gun, &RoleName::targets())
            .map_err(|e| key_err(gun, &RoleName::targets(), &e))?;
        let snapshot_key = if server_snapshot {
            self.server_key(gun, "snapshot").await?
        } else {
            self.keys
                .generate(gun, &RoleName::snapshot())
                .map_err(|e| key_err(gun, &RoleName::snapshot(), &e))?
                .public()
                .clone()
        };
        let timestamp_key = self.server_key(gun, "timestamp").await?;
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
        let root = sign(gun, root_role.clone(), body, &[(&root_signer, true)])?;
        self.trust.store(gun, &[(root_role, root.bytes())])?;
        Ok(root)
    }

    /// The server-managed public key of `role` (`GET <role>.key`).
    async fn server_key(&self, gun: &str, role: &str) -> Result<PublicKey, ClientError> {
        let url = self.client.transport.url(gun, &format!("{role}.key"));
        match self.client.transport.get_key(gun, role).await {
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
        let now = self.client.clock.now();
        let changelist = Changelist::new(&self.changelists, gun)?;
        let (entries, bad) = changelist.list()?;
        if let Some((file, e)) = bad.first() {
            return Err(publish_err(gun, format!("unreadable change {file}: {e}")));
        }

        // The base state: the verified remote repository, or the cached root (initial).
        let (root, mut roles, snapshot_version, initial) = match self.client.verify_gun(gun).await {
            Ok(repo) => {
                let roles: BTreeMap<RoleName, Signed<Targets>> = repo
                    .chain
                    .roles()
                    .map(|(r, d)| (r.clone(), d.clone()))
                    .collect();
                let sv = repo.chain.trusted_snapshot().snapshot().version();
                (repo.chain.root().clone(), roles, sv, false)
            }
            Err(ClientError::RepositoryNotFound { .. }) => {
                let root = match self.trust.load(gun, &RoleName::root())? {
                    Some(bytes) => Signed::<Root>::from_bytes(&bytes)
                        .map_err(|e| publish_err(gun, format!("cached root: {e}")))?,
                    None => self.init(gun, false).await?,
                };
                (root, BTreeMap::new(), 0, true)
            }
            Err(e) => return Err(e),
        };

        // Apply the changelist to the targets roles.
        let mut bodies: BTreeMap<RoleName, Targets> = roles
            .iter()
            .map(|(r, d)| (r.clone(), d.signed.clone()))
            .collect();
        let mut dirty = BTreeSet::new();
        if initial {
            bodies
                .entry(RoleName::targets())
                .or_insert_with(|| empty_targets(now));
            dirty.insert(RoleName::targets());
        }
        for e in &entries {
            let c = &e.change;
            if c.change_type != crate::changelist::TYPE_TARGET {
                return Err(publish_err(
                    gun,
                    format!(
                        "change {}: {} changes are not supported yet",
                        e.file, c.change_type
                    ),
                ));
            }
            let role = RoleName::parse(&c.role)
                .ok()
                .filter(RoleName::is_targets_like)
                .ok_or_else(|| {
                    publish_err(gun, format!("change {}: invalid role {}", e.file, c.role))
                })?;
            let body = bodies.get_mut(&role).ok_or_else(|| {
                publish_err(
                    gun,
                    format!("change {}: role {role} does not exist", e.file),
                )
            })?;
            match c.action.as_str() {
                crate::changelist::ACTION_CREATE | crate::changelist::ACTION_UPDATE => {
                    let data = c.data.as_deref().ok_or_else(|| {
                        publish_err(gun, format!("change {}: no target data", e.file))
                    })?;
                    let meta = TargetMeta::from_change_data(data)
                        .map_err(|err| publish_err(gun, format!("change {}: {err}", e.file)))?;
                    body.targets.insert(c.path.clone(), meta.to_file_meta());
                }
                crate::changelist::ACTION_DELETE => {
                    body.targets.remove(&c.path);
                }
                other => {
                    return Err(publish_err(
                        gun,
                        format!("change {}: unknown action {other}", e.file),
                    ));
                }
            }
            dirty.insert(role);
        }

        // Sign the changed targets roles.
        let mut upload: Vec<(String, Vec<u8>)> = Vec::new();
        if initial {
            upload.push(("root".to_owned(), root.bytes().to_vec()));
        }
        for role in &dirty {
            let Some(mut body) = bodies.remove(role) else {
                continue;
            };
            let allowed = self.allowed_keys(&root, &roles, role);
            let signer = self
                .keys
                .find(gun, role, &allowed)
                .map_err(|e| key_err(gun, role, &e))?
                .ok_or_else(|| publish_err(gun, format!("no signing key for {role}")))?;
            body.version = roles.get(role).map_or(1, |d| d.version() + 1);
            body.expires = Expires::at(now.add_years(TARGETS_YEARS));
            let signed = sign(gun, role.clone(), body, &[(&signer, false)])?;
            upload.push((role.to_string(), signed.bytes().to_vec()));
            roles.insert(role.clone(), signed);
        }

        // The snapshot, if its key is held here.
        let snap_ids = canonical_ids(&root, "snapshot");
        if let Some(signer) = self
            .keys
            .find(gun, &RoleName::snapshot(), &snap_ids)
            .map_err(|e| key_err(gun, &RoleName::snapshot(), &e))?
        {
            let mut meta = BTreeMap::new();
            meta.insert("root".to_owned(), FileMeta::of(root.bytes()));
            for (role, doc) in &roles {
                meta.insert(role.to_string(), FileMeta::of(doc.bytes()));
            }
            let body = Snapshot {
                ty: Snapshot::TYPE.to_owned(),
                expires: Expires::at(now.add_years(TARGETS_YEARS)),
                meta,
                version: snapshot_version + 1,
                extra: Map::new(),
            };
            let signed = sign(gun, RoleName::snapshot(), body, &[(&signer, false)])?;
            upload.push(("snapshot".to_owned(), signed.bytes().to_vec()));
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
            return Err(publish_err(
                gun,
                format!(
                    "the server refused the update (HTTP {}): {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            ));
        }
        changelist.clear()?;
        // Refresh the cache from what the server now serves.
        self.client.verify_gun(gun).await?;
        Ok(Published {
            roles: upload.into_iter().map(|(r, _)| r).collect(),
            initial,
            applied: entries.len(),
        })
    }

    /// Canonical IDs of the keys that may sign `role`: from root for `targets`, from the
    /// delegating role for a delegation.
    fn allowed_keys(
        &self,
        root: &Signed<Root>,
        roles: &BTreeMap<RoleName, Signed<Targets>>,
        role: &RoleName,
    ) -> Vec<KeyId> {
        match role.parent() {
            None => canonical_ids(root, role.as_str()),
            Some(parent) => roles
                .get(&parent)
                .and_then(|p| {
                    let d = &p.signed.delegations;
                    d.roles.iter().find(|r| r.name == role.as_str()).map(|r| {
                        r.keyids
                            .iter()
                            .map(|id| {
                                d.keys
                                    .get(id)
                                    .map_or_else(|| id.clone(), |k| k.canonical_id().clone())
                            })
                            .collect()
                    })
                })
                .unwrap_or_default(),
        }
    }
}

/// Canonical IDs of the keys root lists for `role`.
fn canonical_ids(root: &Signed<Root>, role: &str) -> Vec<KeyId> {
    root.signed
        .roles
        .get(role)
        .map(|r| {
            r.keyids
                .iter()
                .map(|id| {
                    root.signed
                        .keys
                        .get(id)
                        .map_or_else(|| id.clone(), |k| k.canonical_id().clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn empty_targets(now: signet_core::UnixTime) -> Targets {
    Targets {
        ty: Targets::TYPE.to_owned(),
        delegations: signet_core::metadata::Delegations::default(),
        expires: Expires::at(now.add_years(TARGETS_YEARS)),
        targets: BTreeMap::new(),
        version: 1,
        extra: Map::new(),
    }
}

/// Signs `body` as `role` with each signer. For the root, the signature names the
/// certificate key's (x509) ID, which root lists; else the plain key's ID.
fn sign<T: Role>(
    gun: &str,
    role: RoleName,
    body: T,
    signers: &[(&Arc<dyn RoleSigner>, bool)],
) -> Result<Signed<T>, ClientError> {
    let x509_ids: BTreeMap<KeyId, KeyId> = match serde_json::to_value(&body) {
        Ok(v) => v
            .get("keys")
            .and_then(|k| serde_json::from_value::<BTreeMap<KeyId, PublicKey>>(k.clone()).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(id, k)| (k.canonical_id().clone(), id))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    let unsigned = Unsigned::new(role.clone(), body, vec![], 1)
        .map_err(|e| publish_err(gun, format!("encoding {role}: {e}")))?;
    let mut sigs = Vec::new();
    for (signer, via_cert) in signers {
        let plain = signer.public().id().clone();
        let keyid = if *via_cert {
            x509_ids.get(&plain).cloned().unwrap_or(plain)
        } else {
            plain
        };
        let sig = signer
            .sign(unsigned.payload())
            .map_err(|e| key_err(gun, &role, &e))?;
        sigs.push(Signature {
            keyid,
            method: "ecdsa".to_owned(),
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
