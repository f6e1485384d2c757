//! A small, honest TUF *publisher* for Signet's tests and benchmarks.
//!
//! [`TestRepo`] holds what a Notary client holds for one GUN: a root key wrapped in a
//! self-signed X.509 certificate whose CN is the GUN, a targets key, optionally a snapshot
//! key, keys of delegated roles, and the server's timestamp (and snapshot) public keys as
//! fetched from `GET …/{role}.key`. It builds role files through the same
//! [`signet_core::metadata`] types and [`Unsigned::assemble`] the server verifies with, and
//! signs them with real ECDSA P-256 keys (*ring*, raw `r‖s`, method `ecdsa`).
//!
//! Building blocks for attacks are public: every role's body can be built, edited (wrong
//! expiry, version, keys…) and signed by any set of [`Signer`]s ([`TestRepo::sign`]), with a
//! key that claims another key's ID ([`Impostor`]), with no signature at all, or changed
//! after signing ([`tamper`]). [`multipart`] lays out an upload exactly as the Go notary
//! client does.
//!
//! ```
//! use signet_core::{RingVerifier, RoleName, UnixTime, Upload, validate_update, RepoState};
//! use signet_test_support::{EcdsaKey, TestRepo};
//!
//! let now = UnixTime::from_unix(1_900_000_000, 0);
//! let mut repo = TestRepo::new("example.com/app", now);
//! // What the server would answer to GET timestamp.key / snapshot.key.
//! let (timestamp, snapshot) = (EcdsaKey::generate(), EcdsaKey::generate());
//! repo.set_timestamp_key(timestamp.public().clone());
//! repo.set_server_snapshot_key(snapshot.public().clone());
//! let uploads = repo
//!     .initial_upload()
//!     .into_iter()
//!     .map(|(role, bytes)| Upload { role: RoleName::parse(&role).unwrap(), bytes })
//!     .collect();
//! validate_update(repo.gun(), &RepoState::default(), uploads, now, &RingVerifier).unwrap();
//! ```

pub mod pki;
pub mod postgres;
pub mod smallfs;
pub mod softhsm;

use std::collections::BTreeMap;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Map, Value};
use signet_core::metadata::{
    Base64Bytes, DelegatedRole, Delegations, Expires, FileMeta, Role, RoleKeys, Root, Snapshot,
    Targets, Unsigned,
};
use signet_core::{KeyId, KeyType, PublicKey, RoleName, Signature, UnixTime};

/// Lifetime of a root the publisher signs, and of its certificate (Notary: 10 years).
pub const ROOT_LIFETIME_YEARS: i64 = 10;
/// Lifetime of targets, delegations and publisher-signed snapshots (Notary: 3 years).
pub const TARGETS_LIFETIME_YEARS: i64 = 3;

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Something that signs metadata payloads: returns the signature entry it would add.
pub trait Signer {
    /// The key ID the signature entry names.
    fn key_id(&self) -> &KeyId;
    /// Signs `payload` (canonical JSON of `signed`).
    fn sign(&self, payload: &[u8]) -> Signature;
}

/// An ECDSA P-256 key pair, published as an `ecdsa` key (PKIX SubjectPublicKeyInfo DER).
pub struct EcdsaKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl EcdsaKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate an ECDSA P-256 key");
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A key from its PKCS#8 DER.
    ///
    /// # Panics
    ///
    /// If `pkcs8` is not a P-256 PKCS#8 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Self {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .expect("a P-256 PKCS#8 key");
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        Self {
            pair,
            pkcs8: pkcs8.to_vec(),
            public: PublicKey::new(KeyType::Ecdsa, spki),
        }
    }

    /// The public key as metadata lists it (`ecdsa`, SPKI DER).
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Its key ID.
    pub fn id(&self) -> &KeyId {
        self.public.id()
    }

    /// The private key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A raw `r‖s` ECDSA P-256 / SHA-256 signature over `message` (also what JWT `ES256`
    /// uses).
    pub fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }
}

impl Signer for EcdsaKey {
    fn key_id(&self) -> &KeyId {
        self.id()
    }
    fn sign(&self, payload: &[u8]) -> Signature {
        signature(self.id(), self.sign_raw(payload))
    }
}

/// An ECDSA P-256 key in a self-signed X.509 certificate, published as an `ecdsa-x509` key
/// whose `public` is Go's PEM encoding of the certificate: what Notary root keys are.
pub struct CertKey {
    key: EcdsaKey,
    cert_der: Vec<u8>,
    public: PublicKey,
}

impl CertKey {
    /// A fresh key and certificate for `cn`, valid from `now` − 1 h to `now` + 10 years.
    pub fn generate(cn: &str, now: UnixTime) -> Self {
        Self::with_validity(cn, now.add_secs(-3600), now.add_years(ROOT_LIFETIME_YEARS))
    }

    /// A fresh key and a certificate for `cn` valid from `not_before` to `not_after`
    /// (whole seconds; times before the epoch are clamped to it). The certificate is what the
    /// notary client makes: CA:FALSE, digitalSignature|keyEncipherment, codeSigning,
    /// ecdsa-with-SHA256, a random 128-bit serial.
    pub fn with_validity(cn: &str, not_before: UnixTime, not_after: UnixTime) -> Self {
        let key = EcdsaKey::generate();
        // rcgen takes `time::OffsetDateTime`, reachable without naming the `time` crate.
        let offset_date_time = |t: UnixTime| {
            rcgen::date_time_ymd(1970, 1, 1)
                + Duration::from_secs(u64::try_from(t.secs()).unwrap_or(0))
        };
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.not_before = offset_date_time(not_before);
        params.not_after = offset_date_time(not_after);
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        let mut serial = [0u8; 16];
        SystemRandom::new().fill(&mut serial).expect("randomness");
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let signing = rcgen::KeyPair::try_from(key.pkcs8_der()).expect("rcgen accepts the key");
        let cert = params
            .self_signed(&signing)
            .expect("self-sign the certificate");
        let cert_der = cert.der().to_vec();
        let public = PublicKey::from_cert_chain(std::slice::from_ref(&cert_der));
        Self {
            key,
            cert_der,
            public,
        }
    }

    /// The public key as root lists it (`ecdsa-x509`, PEM certificate).
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Its (X.509) key ID, the one root metadata uses.
    pub fn id(&self) -> &KeyId {
        self.public.id()
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.public.public_bytes().to_vec()).expect("PEM is ASCII")
    }

    /// The bare key inside (its `ecdsa` ID is the canonical ID).
    pub fn key(&self) -> &EcdsaKey {
        &self.key
    }
}

impl Signer for CertKey {
    fn key_id(&self) -> &KeyId {
        self.id()
    }
    fn sign(&self, payload: &[u8]) -> Signature {
        signature(self.id(), self.key.sign_raw(payload))
    }
}

/// Signs with `key` but names `claimed` as the signing key: a forged signature for a key
/// the attacker does not hold.
pub struct Impostor<'a> {
    /// The key ID the signature claims.
    pub claimed: &'a KeyId,
    /// The key that actually signs.
    pub key: &'a EcdsaKey,
}

impl Signer for Impostor<'_> {
    fn key_id(&self) -> &KeyId {
        self.claimed
    }
    fn sign(&self, payload: &[u8]) -> Signature {
        signature(self.claimed, self.key.sign_raw(payload))
    }
}

fn signature(id: &KeyId, sig: Vec<u8>) -> Signature {
    Signature {
        keyid: id.clone(),
        method: "ecdsa".to_owned(),
        sig: Base64Bytes(sig),
    }
}

/// Parses the body of `GET /v2/<gun>/_trust/tuf/{timestamp,snapshot}.key`
/// (`{"keytype":…,"keyval":{"public":…,"private":null}}`).
pub fn parse_server_key(body: &[u8]) -> Result<PublicKey, serde_json::Error> {
    serde_json::from_slice(body)
}

/// A delegated role the publisher holds the key of.
pub struct Delegation {
    /// Its name (`targets/…`).
    pub name: RoleName,
    /// Its signing key.
    pub key: EcdsaKey,
    /// Path prefixes it may sign (`[""]` = everything).
    pub paths: Vec<String>,
}

/// A publisher's view of one repository: its keys and the server's public keys.
pub struct TestRepo {
    gun: String,
    now: UnixTime,
    root_key: CertKey,
    targets_key: EcdsaKey,
    snapshot_key: Option<EcdsaKey>,
    server_snapshot_key: Option<PublicKey>,
    timestamp_key: Option<PublicKey>,
    delegations: Vec<Delegation>,
}

impl TestRepo {
    /// A new repository for `gun` at `now`: a fresh root certificate key (CN = `gun`) and
    /// targets key. The snapshot is left to the server until
    /// [`TestRepo::hold_snapshot_key`]; the server's keys must be set before any root is
    /// built.
    pub fn new(gun: &str, now: UnixTime) -> Self {
        Self {
            gun: gun.to_owned(),
            now,
            root_key: CertKey::generate(gun, now),
            targets_key: EcdsaKey::generate(),
            snapshot_key: None,
            server_snapshot_key: None,
            timestamp_key: None,
            delegations: Vec::new(),
        }
    }

    /// The GUN.
    pub fn gun(&self) -> &str {
        &self.gun
    }

    /// The time expiries are computed from.
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// Moves the publisher's clock (expiries of files built from now on).
    pub fn set_now(&mut self, now: UnixTime) {
        self.now = now;
    }

    /// The current root key.
    pub fn root_key(&self) -> &CertKey {
        &self.root_key
    }

    /// The targets key.
    pub fn targets_key(&self) -> &EcdsaKey {
        &self.targets_key
    }

    /// The publisher's snapshot key, if it holds one.
    pub fn snapshot_key(&self) -> Option<&EcdsaKey> {
        self.snapshot_key.as_ref()
    }

    /// Generates a snapshot key held by the publisher: roots list it, and uploads include a
    /// publisher-signed snapshot.
    pub fn hold_snapshot_key(&mut self) -> &EcdsaKey {
        self.snapshot_key.insert(EcdsaKey::generate())
    }

    /// Sets the server's timestamp key (from `GET timestamp.key`).
    pub fn set_timestamp_key(&mut self, key: PublicKey) {
        self.timestamp_key = Some(key);
    }

    /// Sets the server's snapshot key (from `GET snapshot.key`), used while the publisher
    /// holds none.
    pub fn set_server_snapshot_key(&mut self, key: PublicKey) {
        self.server_snapshot_key = Some(key);
    }

    /// Replaces the root key by a fresh one for the same GUN and returns the old one; a
    /// rotated root must then be signed by both ([`TestRepo::root_signed_by`]).
    pub fn rotate_root_key(&mut self) -> CertKey {
        std::mem::replace(&mut self.root_key, CertKey::generate(&self.gun, self.now))
    }

    /// Adds a delegation `name` (paths `[""]`) with a fresh key; its parent lists it from
    /// now on.
    ///
    /// # Panics
    ///
    /// If `name` is not a delegation role name.
    pub fn add_delegation(&mut self, name: &str) -> &Delegation {
        let name = RoleName::parse(name).expect("a valid role name");
        assert!(name.is_delegation(), "{name} is not a delegation");
        self.delegations.push(Delegation {
            name,
            key: EcdsaKey::generate(),
            paths: vec![String::new()],
        });
        self.delegations.last().expect("just pushed")
    }

    /// The delegation called `name`, if added.
    pub fn delegation_info(&self, name: &str) -> Option<&Delegation> {
        self.delegations.iter().find(|d| d.name.as_str() == name)
    }

    // ---------------------------------------------------------------------------------
    // Bodies: the `signed` part of each role, to sign as is or to edit first.
    // ---------------------------------------------------------------------------------

    /// Root `version`: the root certificate key, targets key, snapshot key (the publisher's,
    /// else the server's) and the server's timestamp key, threshold 1 each; expires in 10
    /// years.
    ///
    /// # Panics
    ///
    /// If the server's timestamp key (or, without a publisher snapshot key, its snapshot key)
    /// has not been set.
    pub fn root_body(&self, version: u64) -> Root {
        let timestamp = self
            .timestamp_key
            .clone()
            .expect("set_timestamp_key before building a root");
        let snapshot = match (&self.snapshot_key, &self.server_snapshot_key) {
            (Some(k), _) => k.public().clone(),
            (None, Some(k)) => k.clone(),
            (None, None) => {
                panic!("hold_snapshot_key or set_server_snapshot_key before building a root")
            }
        };
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, key) in [
            ("root", self.root_key.public().clone()),
            ("targets", self.targets_key.public().clone()),
            ("snapshot", snapshot),
            ("timestamp", timestamp),
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
        Root {
            ty: Root::TYPE.to_owned(),
            consistent_snapshot: false,
            expires: Expires::at(self.now.add_years(ROOT_LIFETIME_YEARS)),
            keys,
            roles,
            version,
            extra: Map::new(),
        }
    }

    /// Targets `version` listing `targets` (name, content) and the delegations added for
    /// `targets`; expires in 3 years. Always writes `delegations` (`{"keys":{},"roles":[]}`
    /// when there are none), as the Go client does.
    pub fn targets_body(&self, version: u64, targets: &[(&str, &[u8])]) -> Targets {
        self.targets_like_body(&RoleName::targets(), version, targets)
    }

    /// The body of delegation `name`, `version`, listing `targets` and the delegations added
    /// below `name`. `name` need not have been added (to forge one).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid role name.
    pub fn delegation_body(&self, name: &str, version: u64, targets: &[(&str, &[u8])]) -> Targets {
        let role = RoleName::parse(name).expect("a valid role name");
        self.targets_like_body(&role, version, targets)
    }

    fn targets_like_body(
        &self,
        role: &RoleName,
        version: u64,
        targets: &[(&str, &[u8])],
    ) -> Targets {
        let mut delegations = Delegations::default();
        for d in self
            .delegations
            .iter()
            .filter(|d| d.name.parent().as_ref() == Some(role))
        {
            delegations
                .keys
                .insert(d.key.id().clone(), d.key.public().clone());
            delegations.roles.push(DelegatedRole {
                keyids: vec![d.key.id().clone()],
                name: d.name.as_str().to_owned(),
                paths: Some(d.paths.clone()),
                threshold: 1,
                extra: Map::new(),
            });
        }
        Targets {
            ty: Targets::TYPE.to_owned(),
            delegations,
            expires: Expires::at(self.now.add_years(TARGETS_LIFETIME_YEARS)),
            targets: targets
                .iter()
                .map(|(name, content)| ((*name).to_owned(), FileMeta::of(content)))
                .collect(),
            version,
            extra: Map::new(),
        }
    }

    /// Snapshot `version` listing `files` (role name, exact file bytes); expires in 3 years.
    pub fn snapshot_body(&self, version: u64, files: &[(&str, &[u8])]) -> Snapshot {
        Snapshot {
            ty: Snapshot::TYPE.to_owned(),
            expires: Expires::at(self.now.add_years(TARGETS_LIFETIME_YEARS)),
            meta: files
                .iter()
                .map(|(role, bytes)| ((*role).to_owned(), FileMeta::of(bytes)))
                .collect(),
            version,
            extra: Map::new(),
        }
    }

    // ---------------------------------------------------------------------------------
    // Signed files.
    // ---------------------------------------------------------------------------------

    /// Signs `body` as role `role` with each of `signers` (none: an unsigned file) and
    /// returns the file bytes, laid out as Go Notary writes them.
    ///
    /// # Panics
    ///
    /// If `role` is not a valid role name or `body` cannot be encoded.
    pub fn sign<T: Role>(role: &str, body: T, signers: &[&dyn Signer]) -> Vec<u8> {
        let role = RoleName::parse(role).expect("a valid role name");
        let unsigned = Unsigned::new(role, body, vec![], 1).expect("canonical encoding");
        let sigs: Vec<Signature> = signers.iter().map(|s| s.sign(unsigned.payload())).collect();
        unsigned.assemble(&sigs).bytes().to_vec()
    }

    /// Root `version`, signed by the root key.
    pub fn root(&self, version: u64) -> Vec<u8> {
        Self::sign("root", self.root_body(version), &[&self.root_key])
    }

    /// Root `version`, signed by `signers` (e.g. the old and the new root key on rotation).
    pub fn root_signed_by(&self, version: u64, signers: &[&dyn Signer]) -> Vec<u8> {
        Self::sign("root", self.root_body(version), signers)
    }

    /// Targets `version` listing `targets`, signed by the targets key.
    pub fn targets(&self, version: u64, targets: &[(&str, &[u8])]) -> Vec<u8> {
        Self::sign(
            "targets",
            self.targets_body(version, targets),
            &[&self.targets_key],
        )
    }

    /// Delegation `name`, `version`, listing `targets`, signed by its key.
    ///
    /// # Panics
    ///
    /// If the delegation was not added.
    pub fn delegation(&self, name: &str, version: u64, targets: &[(&str, &[u8])]) -> Vec<u8> {
        let d = self
            .delegation_info(name)
            .unwrap_or_else(|| panic!("no delegation {name}: add_delegation first"));
        Self::sign(
            name,
            self.delegation_body(name, version, targets),
            &[&d.key],
        )
    }

    /// Snapshot `version` listing `files`, signed by the publisher's snapshot key.
    ///
    /// # Panics
    ///
    /// If the publisher holds no snapshot key.
    pub fn snapshot(&self, version: u64, files: &[(&str, &[u8])]) -> Vec<u8> {
        let key = self
            .snapshot_key
            .as_ref()
            .expect("hold_snapshot_key before signing a snapshot");
        Self::sign("snapshot", self.snapshot_body(version, files), &[key])
    }

    /// The first publish: root v1 and targets v1 (no targets), plus snapshot v1 over them
    /// when the publisher holds the snapshot key. Parts as `(role, bytes)`.
    pub fn initial_upload(&self) -> Vec<(String, Vec<u8>)> {
        let root = self.root(1);
        let targets = self.targets(1, &[]);
        let mut parts = vec![
            ("root".to_owned(), root.clone()),
            ("targets".to_owned(), targets.clone()),
        ];
        if self.snapshot_key.is_some() {
            let snapshot = self.snapshot(1, &[("root", &root), ("targets", &targets)]);
            parts.push(("snapshot".to_owned(), snapshot));
        }
        parts
    }
}

/// `bytes` with one field added inside `signed`, signatures untouched: still well-formed
/// metadata of the same role and version, but no longer what was signed.
///
/// # Panics
///
/// If `bytes` is not a JSON object with an object `signed`.
// Tampered on purpose: the result must fail verification, canonical or not.
#[allow(clippy::disallowed_methods)]
pub fn tamper(bytes: &[u8]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(bytes).expect("metadata JSON");
    doc.get_mut("signed")
        .and_then(Value::as_object_mut)
        .expect("a signed object")
        .insert("x-tampered".to_owned(), Value::Bool(true));
    serde_json::to_vec(&doc).expect("re-encode")
}

/// A `multipart/form-data` body as the Go notary client sends an update: one part per file,
/// `Content-Disposition: form-data; name="files"; filename="<role>"` and
/// `Content-Type: application/octet-stream`. Returns the `Content-Type` header value and the
/// body.
pub fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut random = [0u8; 30];
    SystemRandom::new().fill(&mut random).expect("randomness");
    let boundary: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut body = Vec::new();
    for (filename, content) in parts {
        // Go's mime/multipart escapes `\` and `"` in the file name.
        let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"files\"; filename=\"{escaped}\"\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use signet_core::update::SnapshotPlan;
    use signet_core::verify::{base_role_ring, verify_root_signed_by, verify_threshold};
    use signet_core::{RepoState, RingVerifier, Signed, UpdateError, Upload, validate_update};

    use super::*;

    const GUN: &str = "example.com/org/app";

    fn now() -> UnixTime {
        UnixTime::from_unix(1_900_000_000, 0)
    }

    /// A repository whose server keys are emulated by local keys.
    fn repo() -> (TestRepo, EcdsaKey, EcdsaKey) {
        let mut repo = TestRepo::new(GUN, now());
        let (ts, snap) = (EcdsaKey::generate(), EcdsaKey::generate());
        repo.set_timestamp_key(ts.public().clone());
        repo.set_server_snapshot_key(snap.public().clone());
        (repo, ts, snap)
    }

    fn uploads(parts: Vec<(String, Vec<u8>)>) -> Vec<Upload> {
        parts
            .into_iter()
            .map(|(role, bytes)| Upload {
                role: RoleName::parse(&role).unwrap(),
                bytes,
            })
            .collect()
    }

    #[test]
    fn initial_upload_passes_server_validation() {
        let (repo, _ts, snap) = repo();
        let parts = repo.initial_upload();
        let v = validate_update(
            GUN,
            &RepoState::default(),
            uploads(parts.clone()),
            now(),
            &RingVerifier,
        )
        .unwrap();
        assert_eq!(v.files.len(), 2);
        assert_eq!(v.files[0].2, parts[0].1, "root stored byte for byte");
        let SnapshotPlan::Sign(draft) = v.snapshot else {
            panic!("the server signs the snapshot");
        };
        assert_eq!(draft.keyids, vec![snap.id().clone()]);
        // The root verifies as a Notary root for the GUN, and is Go-shaped.
        let root = Signed::<Root>::from_bytes(&parts[0].1).unwrap();
        verify_root_signed_by(&root, &root.signed, GUN, Some(now()), &RingVerifier).unwrap();
        let text = String::from_utf8(parts[1].1.clone()).unwrap();
        assert!(
            text.contains(r#""delegations":{"keys":{},"roles":[]}"#),
            "{text}"
        );
        assert!(text.starts_with(r#"{"signed":{"_type":"Targets","#));
        assert_eq!(
            root.signed.keys[repo.root_key().id()].keytype().as_str(),
            "ecdsa-x509"
        );
    }

    #[test]
    fn publisher_snapshot_and_delegation_pass() {
        let (mut repo, _ts, _snap) = repo();
        repo.hold_snapshot_key();
        let parts = repo.initial_upload();
        assert_eq!(parts.len(), 3);
        let v = validate_update(
            GUN,
            &RepoState::default(),
            uploads(parts.clone()),
            now(),
            &RingVerifier,
        )
        .unwrap();
        assert!(matches!(v.snapshot, SnapshotPlan::Uploaded(_)));

        // Stored state, then a delegation added in targets v2 with its own file.
        let state =
            RepoState::from_files(parts.iter().map(|(r, b)| (r.as_str(), b.as_slice()))).unwrap();
        repo.add_delegation("targets/releases");
        let targets = repo.targets(2, &[]);
        let releases = repo.delegation("targets/releases", 1, &[("v1", b"image")]);
        let snapshot = repo.snapshot(
            2,
            &[
                ("root", &parts[0].1),
                ("targets", &targets),
                ("targets/releases", &releases),
            ],
        );
        let up = vec![
            ("targets".to_owned(), targets),
            ("targets/releases".to_owned(), releases),
            ("snapshot".to_owned(), snapshot),
        ];
        validate_update(GUN, &state, uploads(up), now(), &RingVerifier).unwrap();
    }

    #[test]
    fn tampered_and_forged_uploads_fail() {
        let (repo, _ts, _snap) = repo();
        let parts = repo.initial_upload();

        let mut tampered = parts.clone();
        tampered[1].1 = tamper(&tampered[1].1);
        let err = validate_update(
            GUN,
            &RepoState::default(),
            uploads(tampered),
            now(),
            &RingVerifier,
        )
        .unwrap_err();
        assert_eq!(
            err,
            UpdateError::BadTargets("valid signatures did not meet threshold for targets".into())
        );

        let mut tampered_root = parts.clone();
        tampered_root[0].1 = tamper(&tampered_root[0].1);
        let err = validate_update(
            GUN,
            &RepoState::default(),
            uploads(tampered_root),
            now(),
            &RingVerifier,
        )
        .unwrap_err();
        assert!(matches!(err, UpdateError::BadRoot(_)), "{err:?}");

        // Signed by a stranger claiming to be the targets key.
        let stranger = EcdsaKey::generate();
        let forged = TestRepo::sign(
            "targets",
            repo.targets_body(1, &[]),
            &[&Impostor {
                claimed: repo.targets_key().id(),
                key: &stranger,
            }],
        );
        let mut up = parts.clone();
        up[1].1 = forged;
        let err = validate_update(
            GUN,
            &RepoState::default(),
            uploads(up),
            now(),
            &RingVerifier,
        )
        .unwrap_err();
        assert!(matches!(err, UpdateError::BadTargets(_)), "{err:?}");

        // Unsigned.
        let mut up = parts;
        up[1].1 = TestRepo::sign("targets", repo.targets_body(1, &[]), &[]);
        assert!(
            validate_update(
                GUN,
                &RepoState::default(),
                uploads(up),
                now(),
                &RingVerifier
            )
            .is_err()
        );
    }

    #[test]
    fn root_cn_must_match_the_gun() {
        let (repo, _ts, _snap) = repo();
        let mut other = TestRepo::new("example.com/other", now());
        other.set_timestamp_key(EcdsaKey::generate().public().clone());
        other.set_server_snapshot_key(EcdsaKey::generate().public().clone());
        // Another GUN's root presented for GUN.
        let up = vec![
            ("root".to_owned(), other.root(1)),
            ("targets".to_owned(), repo.targets(1, &[])),
        ];
        let err = validate_update(
            GUN,
            &RepoState::default(),
            uploads(up),
            now(),
            &RingVerifier,
        )
        .unwrap_err();
        assert!(
            matches!(&err, UpdateError::BadRoot(m) if m.contains("unable to retrieve valid leaf certificates")),
            "{err:?}"
        );
    }

    #[test]
    fn rotated_root_needs_old_and_new_keys() {
        let (mut repo, _ts, _snap) = repo();
        let parts = repo.initial_upload();
        let state =
            RepoState::from_files(parts.iter().map(|(r, b)| (r.as_str(), b.as_slice()))).unwrap();
        let old = repo.rotate_root_key();
        let new_only = repo.root(2);
        let err = validate_update(
            GUN,
            &state,
            uploads(vec![("root".to_owned(), new_only)]),
            now(),
            &RingVerifier,
        )
        .unwrap_err();
        assert!(matches!(err, UpdateError::BadRoot(_)), "{err:?}");
        let both = repo.root_signed_by(2, &[&old, repo.root_key()]);
        validate_update(
            GUN,
            &state,
            uploads(vec![("root".to_owned(), both)]),
            now(),
            &RingVerifier,
        )
        .unwrap();
    }

    #[test]
    fn signatures_verify_with_core() {
        let (repo, _ts, _snap) = repo();
        let root = Signed::<Root>::from_bytes(&repo.root(1)).unwrap();
        let targets = Signed::<Targets>::from_bytes(&repo.targets(3, &[("a", b"x")])).unwrap();
        let ring = base_role_ring(&root.signed, "targets").unwrap();
        assert_eq!(
            verify_threshold(&targets, &RoleName::targets(), &ring, &RingVerifier).unwrap(),
            1
        );
        assert_eq!(targets.version(), 3);
        assert_eq!(
            targets.expires().instant(),
            now().add_years(TARGETS_LIFETIME_YEARS)
        );
    }

    #[test]
    fn server_key_bodies_parse() {
        let k = EcdsaKey::generate();
        let body = format!(
            r#"{{"keytype":"ecdsa","keyval":{{"public":"{}","private":null}}}}"#,
            signet_core::encoding::b64_encode(k.public().public_bytes())
        );
        assert_eq!(parse_server_key(body.as_bytes()).unwrap().id(), k.id());
        assert!(parse_server_key(b"{}").is_err());
    }

    #[test]
    fn multipart_is_go_shaped() {
        let (ct, body) = multipart(&[("root", b"{}"), ("targets/a\"b", b"x")]);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert_eq!(boundary.len(), 60);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"root\"\r\nContent-Type: application/octet-stream\r\n\r\n{{}}\r\n"
        )));
        assert!(text.contains(r#"filename="targets/a\"b""#));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
