//! Notary's TUF metadata: role names, the signed envelope, and the four role types.
//!
//! Every parsed document keeps the exact bytes it came from and the canonical bytes its
//! signatures cover; every role type keeps fields it does not know in `extra`, so nothing
//! a publisher signed is lost when the core handles it.

use core::fmt;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::canonical::{go_html_escape, to_canonical};
use crate::encoding::{b64_decode, b64_encode, sha256, sha512};
use crate::error::MetadataError;
use crate::key::{KeyId, PublicKey};
use crate::time::UnixTime;

/// A role name: `root`, `targets`, `snapshot`, `timestamp`, or a delegation
/// `targets/<name>[/<name>…]` (characters `a-z 0-9 - _ /`, shorter than 256 bytes, no
/// empty, `.` or `..` segments).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    /// Parses and validates a role name.
    pub fn parse(name: &str) -> Result<Self, MetadataError> {
        let invalid = || MetadataError::InvalidRole(name.to_owned());
        match name {
            "root" | "targets" | "snapshot" | "timestamp" => return Ok(Self(name.to_owned())),
            _ => {}
        }
        let rest = name.strip_prefix("targets/").ok_or_else(invalid)?;
        let charset_ok = name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'/'));
        let clean = rest
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if name.len() >= 256 || !charset_ok || !clean {
            return Err(invalid());
        }
        Ok(Self(name.to_owned()))
    }

    /// `root`.
    pub fn root() -> Self {
        Self("root".to_owned())
    }
    /// `targets`.
    pub fn targets() -> Self {
        Self("targets".to_owned())
    }
    /// `snapshot`.
    pub fn snapshot() -> Self {
        Self("snapshot".to_owned())
    }
    /// `timestamp`.
    pub fn timestamp() -> Self {
        Self("timestamp".to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `targets` or a delegation of it.
    pub fn is_targets_like(&self) -> bool {
        self.0 == "targets" || self.is_delegation()
    }

    /// Whether this is a delegated role (`targets/…`).
    pub fn is_delegation(&self) -> bool {
        self.0.starts_with("targets/")
    }

    /// The delegating role: `targets/a/b` → `targets/a`, `targets/a` → `targets`.
    pub fn parent(&self) -> Option<Self> {
        if !self.is_delegation() {
            return None;
        }
        self.0.rsplit_once('/').map(|(p, _)| Self(p.to_owned()))
    }

    /// Number of `/` separators: 0 for base roles.
    pub fn depth(&self) -> usize {
        self.0.bytes().filter(|b| *b == b'/').count()
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RoleName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Bytes written as standard base64 in JSON.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Base64Bytes(pub Vec<u8>);

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        b64_decode(&s)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }
}

/// One signature entry: `{"keyid":…,"method":…,"sig":…}`. `method` is lower-cased on
/// parse, as Go does.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's ID.
    pub keyid: KeyId,
    /// The signature method.
    #[serde(deserialize_with = "lowercase")]
    pub method: String,
    /// The signature bytes.
    pub sig: Base64Bytes,
}

fn lowercase<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(String::deserialize(d)?.to_ascii_lowercase())
}

/// An `expires` value: the text as written (never reformatted) and the instant it names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Expires {
    text: String,
    at: UnixTime,
}

impl Expires {
    /// An expiry at `at`, written in Go's RFC 3339 UTC form.
    pub fn at(at: UnixTime) -> Self {
        Self {
            text: at.to_rfc3339(),
            at,
        }
    }

    /// The instant.
    pub fn instant(&self) -> UnixTime {
        self.at
    }

    /// Whether the metadata is expired at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.at
    }
}

impl Serialize for Expires {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Expires {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let at = UnixTime::parse_rfc3339(&text).map_err(serde::de::Error::custom)?;
        Ok(Self { text, at })
    }
}

/// What every role's `signed` part has.
pub trait Role: Serialize + DeserializeOwned {
    /// The `_type` value (`Root`, `Targets`, …).
    const TYPE: &'static str;
    /// `version`.
    fn version(&self) -> u64;
    /// `expires`.
    fn expires(&self) -> &Expires;
    /// `_type` as found in the document.
    fn type_field(&self) -> &str;
}

/// The keys and threshold of one role, as listed in root.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RoleKeys {
    /// Key IDs that may sign the role.
    pub keyids: Vec<KeyId>,
    /// Distinct valid signatures required.
    pub threshold: i64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `root.json`'s signed part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Root {
    /// `Root`.
    #[serde(rename = "_type")]
    pub ty: String,
    /// Always false in Notary.
    #[serde(default)]
    pub consistent_snapshot: bool,
    /// Expiry.
    pub expires: Expires,
    /// All keys any base role uses, by ID.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// `root`, `targets`, `snapshot`, `timestamp`.
    pub roles: BTreeMap<String, RoleKeys>,
    /// Version.
    pub version: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A delegation entry in a targets role.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DelegatedRole {
    /// Key IDs, found in the delegating file's `delegations.keys`.
    pub keyids: Vec<KeyId>,
    /// The delegated role's name.
    pub name: String,
    /// Target path prefixes the role may sign (`""` = everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Threshold.
    pub threshold: i64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `delegations` of a targets role. `null` members read as empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Delegations {
    /// Delegation keys by ID.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// Delegated roles, in priority order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<DelegatedRole>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Length, hashes and optional custom data of a file: a target, or a metadata file in
/// snapshot/timestamp `meta`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileMeta {
    /// Free-form custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    /// Hashes by algorithm (`sha256`, `sha512`).
    pub hashes: BTreeMap<String, Base64Bytes>,
    /// Length in bytes.
    pub length: i64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileMeta {
    /// The sha256 and sha512 entry for `bytes`, as Notary writes for metadata files.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), Base64Bytes(sha256(bytes).to_vec()));
        hashes.insert("sha512".to_owned(), Base64Bytes(sha512(bytes).to_vec()));
        Self {
            custom: None,
            hashes,
            length: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            extra: Map::new(),
        }
    }

    /// Checks `bytes` against every listed hash this implementation knows and the length.
    /// Fails if no known hash is listed.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        if usize::try_from(self.length).ok() != Some(bytes.len()) {
            return Err(format!(
                "length mismatch: expected {}, got {}",
                self.length,
                bytes.len()
            ));
        }
        let mut known = 0;
        for (alg, expected) in &self.hashes {
            let actual: Vec<u8> = match alg.as_str() {
                "sha256" => sha256(bytes).to_vec(),
                "sha512" => sha512(bytes).to_vec(),
                _ => continue,
            };
            known += 1;
            if actual != expected.0 {
                return Err(format!("{alg} checksum mismatch"));
            }
        }
        if known == 0 {
            return Err("no supported checksum".to_owned());
        }
        Ok(())
    }

    /// The sha256 hash, if listed.
    pub fn sha256(&self) -> Option<&[u8]> {
        self.hashes.get("sha256").map(|h| h.0.as_slice())
    }
}

/// `targets.json` (and delegated roles') signed part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Targets {
    /// `Targets`.
    #[serde(rename = "_type")]
    pub ty: String,
    /// Delegations.
    #[serde(default)]
    pub delegations: Delegations,
    /// Expiry.
    pub expires: Expires,
    /// Targets by name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub targets: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `snapshot.json`'s signed part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// `Snapshot`.
    #[serde(rename = "_type")]
    pub ty: String,
    /// Expiry.
    pub expires: Expires,
    /// Metadata files by role name.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `timestamp.json`'s signed part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timestamp {
    /// `Timestamp`.
    #[serde(rename = "_type")]
    pub ty: String,
    /// Expiry.
    pub expires: Expires,
    /// `snapshot` entry.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

macro_rules! impl_role {
    ($t:ty, $name:literal) => {
        impl Role for $t {
            const TYPE: &'static str = $name;
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> &Expires {
                &self.expires
            }
            fn type_field(&self) -> &str {
                &self.ty
            }
        }
    };
}
impl_role!(Root, "Root");
impl_role!(Targets, "Targets");
impl_role!(Snapshot, "Snapshot");
impl_role!(Timestamp, "Timestamp");

/// A parsed metadata file: the role data, its signatures, the exact bytes it came from,
/// and the canonical bytes the signatures cover.
#[derive(Clone, Debug)]
pub struct Signed<T> {
    /// The role data.
    pub signed: T,
    /// The signatures.
    pub signatures: Vec<Signature>,
    canonical: Vec<u8>,
    bytes: Vec<u8>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    signed: &'a serde_json::value::RawValue,
    #[serde(default, deserialize_with = "null_as_default")]
    signatures: Vec<Signature>,
}

impl<T: Role> Signed<T> {
    /// Parses a metadata file. Checks `_type` and that `version` is at least 1.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MetadataError> {
        let malformed = |e: &dyn fmt::Display| MetadataError::Malformed {
            expected: T::TYPE,
            reason: e.to_string(),
        };
        let env: Envelope<'_> = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
        let value: Value = serde_json::from_str(env.signed.get()).map_err(|e| malformed(&e))?;
        let canonical = to_canonical(&value).map_err(|e| malformed(&e))?;
        let signed: T = serde_json::from_value(value).map_err(|e| malformed(&e))?;
        if signed.type_field() != T::TYPE {
            return Err(malformed(&format_args!(
                "_type is {:?}, expected {:?}",
                signed.type_field(),
                T::TYPE
            )));
        }
        if signed.version() < 1 {
            return Err(malformed(&"version must be at least 1"));
        }
        Ok(Self {
            signed,
            signatures: env.signatures,
            canonical,
            bytes: bytes.to_vec(),
        })
    }

    /// The bytes the signatures cover.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The exact bytes this was parsed from.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `version`.
    pub fn version(&self) -> u64 {
        self.signed.version()
    }

    /// `expires`.
    pub fn expires(&self) -> &Expires {
        self.signed.expires()
    }
}

/// A role's `signed` part, encoded canonically and awaiting signatures: payload out,
/// signatures in. Whoever holds the keys signs [`Unsigned::payload`]; the result goes
/// back through [`Unsigned::assemble`].
#[derive(Clone, Debug)]
pub struct Unsigned<T> {
    /// The role data.
    pub signed: T,
    /// The role this is for.
    pub role: RoleName,
    /// Key IDs root lists for the role (which keys may sign).
    pub keyids: Vec<KeyId>,
    /// Signatures required.
    pub threshold: i64,
    canonical: Vec<u8>,
}

impl<T: Role> Unsigned<T> {
    /// Encodes `signed` canonically.
    pub fn new(
        role: RoleName,
        signed: T,
        keyids: Vec<KeyId>,
        threshold: i64,
    ) -> Result<Self, MetadataError> {
        let value = serde_json::to_value(&signed).map_err(|e| MetadataError::Malformed {
            expected: T::TYPE,
            reason: e.to_string(),
        })?;
        let canonical = to_canonical(&value).map_err(|e| MetadataError::Malformed {
            expected: T::TYPE,
            reason: e.to_string(),
        })?;
        Ok(Self {
            signed,
            role,
            keyids,
            threshold,
            canonical,
        })
    }

    /// The bytes to sign.
    pub fn payload(&self) -> &[u8] {
        &self.canonical
    }

    /// The file bytes: `{"signed":…,"signatures":[…]}` exactly as Go Notary lays them out.
    pub fn assemble(self, signatures: &[Signature]) -> Signed<T> {
        let mut out = Vec::with_capacity(self.canonical.len() + 128 * (signatures.len() + 1));
        out.extend_from_slice(b"{\"signed\":");
        out.extend_from_slice(&go_html_escape(&self.canonical));
        out.extend_from_slice(b",\"signatures\":[");
        for (i, s) in signatures.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Key IDs, methods and base64 need no escaping beyond serde_json's.
            out.extend_from_slice(b"{\"keyid\":");
            out.extend_from_slice(&json_string(s.keyid.as_str()));
            out.extend_from_slice(b",\"method\":");
            out.extend_from_slice(&json_string(&s.method));
            out.extend_from_slice(b",\"sig\":\"");
            out.extend_from_slice(b64_encode(&s.sig.0).as_bytes());
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b"]}");
        Signed {
            signed: self.signed,
            signatures: signatures.to_vec(),
            canonical: self.canonical,
            bytes: out,
        }
    }
}

// The signatures list is outside the signed part: a plain JSON string is what Go writes there.
#[allow(clippy::disallowed_methods)]
fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_else(|_| b"\"\"".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/releases",
            "targets/a/b-c_1",
        ] {
            assert_eq!(RoleName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "Root",
            "targets/",
            "targets//a",
            "targets/a/",
            "targets/../x",
            "targets/./x",
            "targets/A",
            "foo",
            "targets/a b",
            "targets/é",
            "timestamp/x",
        ] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
        let long = format!("targets/{}", "a".repeat(250));
        assert!(RoleName::parse(&long).is_err());
        let r = RoleName::parse("targets/a/b").unwrap();
        assert_eq!(r.parent().unwrap().as_str(), "targets/a");
        assert_eq!(r.parent().unwrap().parent().unwrap(), RoleName::targets());
        assert_eq!(RoleName::targets().parent(), None);
        assert_eq!(r.depth(), 2);
    }

    #[test]
    fn envelope_keeps_bytes_and_unknown_fields() {
        let doc = br#"{"signed":{"_type":"Timestamp","expires":"2030-01-01T00:00:00.5-05:00","meta":{"snapshot":{"hashes":{"sha256":"AAAA"},"length":3}},"version":2,"x-new":{"b":1,"a":2}},"signatures":[{"keyid":"ab","method":"ECDSA","sig":"AAAA"}]}"#;
        let t = Signed::<Timestamp>::from_bytes(doc).unwrap();
        assert_eq!(t.bytes(), doc);
        assert_eq!(t.signatures[0].method, "ecdsa");
        assert_eq!(t.version(), 2);
        assert!(t.signed.extra.contains_key("x-new"));
        assert_eq!(
            core::str::from_utf8(t.canonical()).unwrap(),
            r#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00.5-05:00","meta":{"snapshot":{"hashes":{"sha256":"AAAA"},"length":3}},"version":2,"x-new":{"a":2,"b":1}}"#
        );
        // Re-encoding the typed value loses nothing.
        let u = Unsigned::new(RoleName::timestamp(), t.signed.clone(), vec![], 1).unwrap();
        assert_eq!(u.payload(), t.canonical());
    }

    #[test]
    fn rejects_wrong_type_and_version() {
        let wrong = br#"{"signed":{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":1},"signatures":[]}"#;
        assert!(matches!(
            Signed::<Timestamp>::from_bytes(wrong),
            Err(MetadataError::Malformed {
                expected: "Timestamp",
                ..
            })
        ));
        let zero = br#"{"signed":{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":0},"signatures":[]}"#;
        assert!(Signed::<Snapshot>::from_bytes(zero).is_err());
        let neg = br#"{"signed":{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":-1},"signatures":[]}"#;
        assert!(Signed::<Snapshot>::from_bytes(neg).is_err());
        assert!(Signed::<Snapshot>::from_bytes(b"[]").is_err());
    }

    #[test]
    fn assemble_lays_out_like_go() {
        let snap = Snapshot {
            ty: "Snapshot".to_owned(),
            expires: Expires::at(UnixTime::from_unix(0, 5)),
            meta: BTreeMap::new(),
            version: 1,
            extra: Map::new(),
        };
        let u = Unsigned::new(RoleName::snapshot(), snap, vec![], 1).unwrap();
        let s = u.assemble(&[Signature {
            keyid: KeyId::new("k1"),
            method: "ecdsa".to_owned(),
            sig: Base64Bytes(vec![1, 2]),
        }]);
        assert_eq!(
            core::str::from_utf8(s.bytes()).unwrap(),
            r#"{"signed":{"_type":"Snapshot","expires":"1970-01-01T00:00:00.000000005Z","meta":{},"version":1},"signatures":[{"keyid":"k1","method":"ecdsa","sig":"AQI="}]}"#
        );
        let back = Signed::<Snapshot>::from_bytes(s.bytes()).unwrap();
        assert_eq!(back.canonical(), s.canonical());
    }

    #[test]
    fn reencoding_keeps_unknown_delegation_fields() {
        // Found by fuzzing (fuzz/metadata_targets): unknown fields of `delegations` were
        // dropped when a parsed targets role was re-encoded.
        let doc = br#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[],"x-new":{"a":1}},"expires":"2030-01-01T00:00:00Z","targets":{},"version":1},"signatures":[]}"#;
        let t = Signed::<Targets>::from_bytes(doc).unwrap();
        let u = Unsigned::new(RoleName::targets(), t.signed.clone(), vec![], 1).unwrap();
        assert_eq!(u.payload(), t.canonical());
    }

    #[test]
    fn assembled_file_with_control_characters_parses_back() {
        // Found by fuzzing (fuzz/canonical_json, fuzz/metadata_*): a `signed` part whose
        // strings hold control characters (canonical form keeps them raw) was embedded
        // raw, so the server wrote snapshots no client could parse.
        let mut extra = Map::new();
        extra.insert("x-note".to_owned(), Value::String("a\u{1}b\nc".to_owned()));
        let snap = Snapshot {
            ty: "Snapshot".to_owned(),
            expires: Expires::at(UnixTime::from_unix(0, 0)),
            meta: BTreeMap::new(),
            version: 1,
            extra,
        };
        let u = Unsigned::new(RoleName::snapshot(), snap, vec![], 1).unwrap();
        let s = u.assemble(&[]);
        let back = Signed::<Snapshot>::from_bytes(s.bytes()).unwrap();
        assert_eq!(back.canonical(), s.canonical());
    }

    #[test]
    fn file_meta_checks_every_known_hash() {
        let m = FileMeta::of(b"abc");
        assert_eq!(m.check(b"abc"), Ok(()));
        assert!(m.check(b"abd").is_err());
        assert!(m.check(b"abcd").is_err());
        let mut only_unknown = m;
        only_unknown.hashes.clear();
        only_unknown
            .hashes
            .insert("md5".to_owned(), Base64Bytes(vec![0]));
        assert!(only_unknown.check(b"abc").is_err());
    }
}
