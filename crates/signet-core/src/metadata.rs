//! Notary's TUF metadata: role names, the signed envelope, and the four role types.
//!
//! Every parsed document keeps the exact bytes it came from and the canonical bytes its
//! signatures cover; every role type keeps fields it does not know in `extra`, so nothing
//! a publisher signed is lost when the core handles it.
//!
//! # `null`, absent and empty
//!
//! Go encodes a nil slice or map as `null` and leaves a nil byte slice `null` too, so the
//! Go notary client writes e.g. `"keyids":null` for a delegation whose last key was removed
//! and `"roles":null` once the last delegation is gone. Go's decoder also takes a missing
//! field as nil. So every field that is a slice or map in Go's `tuf/data` types reads the
//! same whether it is `null`, absent, or empty: `signatures`, root `keys` and `roles`, every
//! `keyids`, `delegations` and its `keys` and `roles`, `targets`, snapshot and timestamp
//! `meta`, file `hashes`; and the byte strings `sig` and hash values read `null` as no
//! bytes (such a signature never verifies, such a hash never matches). The `omitempty`
//! fields `paths` and `custom` read `null` as absent. `consistent_snapshot` (a Go `bool`)
//! reads `null` or absent as `false`. Every other field (`_type`, `version`, `expires`,
//! `threshold`, `length`, `name`, `keyid`, `method`, `keytype`, `keyval.public`) is always
//! written by Go and must be present with its type.
//!
//! Signatures are checked over the canonical form of the `signed` part *as uploaded*, where
//! a `null` stays `null`, as in Go's own canonical form; only a typed re-encoding (a role
//! the server builds from a parsed one) writes the empty value instead.

use core::fmt;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::canonical::{go_html_escape, to_canonical, to_canonical_sized};
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

/// Bytes written as standard base64 in JSON. `null` (Go's nil `[]byte`) reads as no bytes;
/// it is written back as `""`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Base64Bytes(pub Vec<u8>);

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Decoded straight from the parser's text: no intermediate `String` per hash or
        // signature (a 10,000-target file has 20,000 of them).
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Base64Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string or null")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Base64Bytes, E> {
                b64_decode(s)
                    .map(Base64Bytes)
                    .ok_or_else(|| E::custom("invalid base64"))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Base64Bytes, E> {
                Ok(Base64Bytes(Vec::new()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Base64Bytes, E> {
                Ok(Base64Bytes(Vec::new()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Base64Bytes, D::Error> {
                d.deserialize_str(self)
            }
        }
        d.deserialize_option(Visitor)
    }
}

/// The hashes of a file by algorithm name (`sha256`, `sha512`), kept sorted by name.
///
/// A file lists one or two, so this is a short sorted list rather than a tree: a tree
/// allocates a node of eleven slots per file, which for a 10,000-target repository is
/// most of the memory a parse touches. It reads and writes as a JSON object, in name order;
/// a name given twice keeps its last value, as a map would.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Hashes(Vec<(String, Base64Bytes)>);

impl Hashes {
    /// No hashes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The digest listed for `alg`.
    pub fn get(&self, alg: &str) -> Option<&Base64Bytes> {
        self.find(alg).ok().map(|i| &self.0[i].1)
    }

    /// Lists `digest` for `alg`, returning what was listed before.
    pub fn insert(&mut self, alg: String, digest: Base64Bytes) -> Option<Base64Bytes> {
        match self.find(&alg) {
            Ok(i) => Some(core::mem::replace(&mut self.0[i].1, digest)),
            Err(i) => {
                self.0.insert(i, (alg, digest));
                None
            }
        }
    }

    /// Removes every hash.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// How many are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The hashes in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Base64Bytes)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn find(&self, alg: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(alg))
    }
}

impl core::ops::Index<&str> for Hashes {
    type Output = Base64Bytes;
    /// Panics if `alg` is not listed, as a map's index does.
    fn index(&self, alg: &str) -> &Base64Bytes {
        self.get(alg)
            .unwrap_or_else(|| panic!("no {alg} hash listed"))
    }
}

impl FromIterator<(String, Base64Bytes)> for Hashes {
    fn from_iter<I: IntoIterator<Item = (String, Base64Bytes)>>(iter: I) -> Self {
        let mut h = Self::new();
        for (alg, digest) in iter {
            h.insert(alg, digest);
        }
        h
    }
}

impl<const N: usize> From<[(String, Base64Bytes); N]> for Hashes {
    fn from(entries: [(String, Base64Bytes); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl IntoIterator for Hashes {
    type Item = (String, Base64Bytes);
    type IntoIter = std::vec::IntoIter<(String, Base64Bytes)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Hashes {
    type Item = (&'a String, &'a Base64Bytes);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (String, Base64Bytes)>,
        fn(&'a (String, Base64Bytes)) -> (&'a String, &'a Base64Bytes),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Hashes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Hashes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of hashes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Hashes, A::Error> {
                let mut h = Hashes(Vec::with_capacity(m.size_hint().unwrap_or(2).min(8)));
                while let Some((alg, digest)) = m.next_entry::<String, Base64Bytes>()? {
                    h.insert(alg, digest);
                }
                Ok(h)
            }
        }
        d.deserialize_map(Visitor)
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
    /// Key IDs that may sign the role (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Always false in Notary (`null` or absent: false).
    #[serde(default, deserialize_with = "null_as_default")]
    pub consistent_snapshot: bool,
    /// Expiry.
    pub expires: Expires,
    /// All keys any base role uses, by ID (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// `root`, `targets`, `snapshot`, `timestamp` (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Key IDs, found in the delegating file's `delegations.keys`. `null` (what Go writes
    /// once the last key is removed) or absent: none, so the role cannot sign.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keyids: Vec<KeyId>,
    /// The delegated role's name.
    pub name: String,
    /// Target path prefixes the role may sign (`""` = everything). `null`, absent and
    /// empty all allow nothing; `null` reads as absent (Go omits an empty list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Threshold.
    pub threshold: i64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `delegations` of a targets role. `null` or absent members read as empty.
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

/// Reads `null` as `T::default()` (with `#[serde(default)]`, absent does too).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a map that may be `null` (as [`null_as_default`]) by collecting its entries and
/// building the tree once. Metadata lists its keys in order (canonical JSON sorts them), and
/// a tree built from sorted entries is packed full, where inserting them one by one searches
/// from the root each time and leaves every node half empty. A key given twice keeps its
/// last value, as inserting would.
fn null_as_default_map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Ord + Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(Vec<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor<K, V>(core::marker::PhantomData<(K, V)>);
            impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<K, V> {
                type Value = Entries<K, V>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Entries<K, V>, A::Error> {
                    // The size hint comes from the input: trust it only so far.
                    let mut entries = Vec::with_capacity(m.size_hint().unwrap_or(0).min(4096));
                    while let Some(entry) = m.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visitor(core::marker::PhantomData))
        }
    }
    Ok(Option::<Entries<K, V>>::deserialize(d)?
        .map(|e| e.0.into_iter().collect())
        .unwrap_or_default())
}

/// Length, hashes and optional custom data of a file: a target, or a metadata file in
/// snapshot/timestamp `meta`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileMeta {
    /// Free-form custom data (`null` reads as absent, as in Go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    /// Hashes by algorithm (`sha256`, `sha512`); `null` or absent: none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hashes: Hashes,
    /// Length in bytes.
    pub length: i64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileMeta {
    /// The sha256 and sha512 entry for `bytes`, as Notary writes for metadata files.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hashes = Hashes::new();
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
    /// Delegations (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub delegations: Delegations,
    /// Expiry.
    pub expires: Expires,
    /// Targets by name (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default_map")]
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
    /// Metadata files by role name (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// `snapshot` entry (`null` or absent: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// The signatures (`null` or absent: none).
    pub signatures: Vec<Signature>,
    canonical: Canonical,
    bytes: Vec<u8>,
}

/// Where a parsed document's canonical `signed` bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Canonical {
    /// In the file itself, as written (notary writes its `signed` part canonically): not
    /// copied, which for a large targets file saves a copy of most of it.
    Within(core::ops::Range<usize>),
    /// Encoded apart from the file.
    Owned(Vec<u8>),
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
        let text = env.signed.get();
        let (signed, canonical): (T, Canonical) = if crate::canonical::is_canonical(text) {
            // Already canonical (what notary writes): the text is the signed bytes, and
            // with unique keys parsing it directly gives what the generic value would.
            let signed = serde_json::from_str(text).map_err(|e| malformed(&e))?;
            (signed, within(bytes, text.as_bytes()))
        } else {
            let value: Value = serde_json::from_str(text).map_err(|e| malformed(&e))?;
            let canonical = to_canonical_sized(&value, text.len()).map_err(|e| malformed(&e))?;
            (
                serde_json::from_value(value).map_err(|e| malformed(&e))?,
                Canonical::Owned(canonical),
            )
        };
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
        match &self.canonical {
            Canonical::Within(range) => &self.bytes[range.clone()],
            Canonical::Owned(bytes) => bytes,
        }
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

    /// This document with `more` signatures after its own, the signed part unchanged (what
    /// a co-signer of a role with a threshold above 1 adds). The bytes are laid out as
    /// [`Unsigned::assemble`] lays them out.
    #[must_use]
    pub fn with_signatures(&self, more: &[Signature]) -> Self
    where
        T: Clone,
    {
        let mut signatures = self.signatures.clone();
        signatures.extend_from_slice(more);
        Self {
            signed: self.signed.clone(),
            bytes: assemble_bytes(self.canonical(), &signatures),
            signatures,
            canonical: Canonical::Owned(self.canonical().to_vec()),
        }
    }
}

/// `part`, a slice of `whole`, as its place in `whole`; a copy if it is not one.
fn within(whole: &[u8], part: &[u8]) -> Canonical {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match whole.get(start..start.wrapping_add(part.len())) {
        Some(found) if core::ptr::eq(found, part) => Canonical::Within(start..start + part.len()),
        _ => Canonical::Owned(part.to_vec()),
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
        Signed {
            signed: self.signed,
            signatures: signatures.to_vec(),
            bytes: assemble_bytes(&self.canonical, signatures),
            canonical: Canonical::Owned(self.canonical),
        }
    }
}

/// `{"signed":<canonical>,"signatures":[…]}` as Go Notary lays it out.
fn assemble_bytes(canonical: &[u8], signatures: &[Signature]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical.len() + 128 * (signatures.len() + 1));
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(&go_html_escape(canonical));
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
    out
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

    /// A minimal valid `signed` part of each role type, with every nil-able field filled.
    fn base_signed(ty: &str) -> Value {
        let key = serde_json::json!({"keytype": "ed25519", "keyval": {"private": null, "public": "AAAA"}});
        let id = PublicKey::deserialize(&key)
            .unwrap()
            .id()
            .as_str()
            .to_owned();
        let file =
            serde_json::json!({"custom": {"a": 1}, "hashes": {"sha256": "AAAA"}, "length": 3});
        match ty {
            "Root" => serde_json::json!({
                "_type": "Root", "consistent_snapshot": false,
                "expires": "2030-01-01T00:00:00Z", "keys": {id.clone(): key},
                "roles": {"root": {"keyids": [id], "threshold": 1}}, "version": 1}),
            "Targets" => serde_json::json!({
                "_type": "Targets",
                "delegations": {"keys": {id.clone(): key}, "roles": [
                    {"keyids": [id], "name": "targets/a", "paths": [""], "threshold": 1}]},
                "expires": "2030-01-01T00:00:00Z", "targets": {"t": file}, "version": 1}),
            _ => serde_json::json!({
                "_type": ty, "expires": "2030-01-01T00:00:00Z",
                "meta": {"targets": file}, "version": 1}),
        }
    }

    #[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
    fn doc(signed: &Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"signed": signed, "signatures": []})).unwrap()
    }

    /// Parses `signed` as a `ty` document: its canonical bytes, and the canonical bytes of
    /// the typed value re-encoded (what the field means to us).
    fn parse_as(ty: &str, signed: &Value) -> Result<(Vec<u8>, Vec<u8>), MetadataError> {
        fn go<T: Role + Clone>(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), MetadataError> {
            let d = Signed::<T>::from_bytes(bytes)?;
            assert_eq!(d.bytes(), bytes, "exact bytes kept");
            let retyped = Unsigned::new(RoleName::root(), d.signed.clone(), vec![], 1)?;
            Ok((d.canonical().to_vec(), retyped.payload().to_vec()))
        }
        let bytes = doc(signed);
        match ty {
            "Root" => go::<Root>(&bytes),
            "Targets" => go::<Targets>(&bytes),
            "Snapshot" => go::<Snapshot>(&bytes),
            _ => go::<Timestamp>(&bytes),
        }
    }

    /// `signed` with the value at JSON pointer `at` replaced (`Some`) or removed (`None`).
    fn with(signed: &Value, at: &str, value: Option<Value>) -> Value {
        let mut out = signed.clone();
        let (parent, last) = at.rsplit_once('/').unwrap();
        let slot = out.pointer_mut(parent).unwrap();
        match (slot, value) {
            (Value::Object(o), Some(v)) => {
                o.insert(last.to_owned(), v);
            }
            (Value::Object(o), None) => {
                o.remove(last);
            }
            (Value::Array(a), Some(v)) => a[last.parse::<usize>().unwrap()] = v,
            _ => panic!("{at}: cannot remove an array element"),
        }
        out
    }

    /// Every field that is a slice or map in Go's `tuf/data` types (so Go writes `null` for
    /// nil) means the same `null`, absent or empty; the canonical form a signature covers
    /// keeps the `null` as Go's does. `(type, JSON pointer, empty value)`.
    const NIL_IS_EMPTY: &[(&str, &str, &str)] = &[
        ("Root", "/keys", "{}"),
        ("Root", "/roles", "{}"),
        ("Root", "/roles/root/keyids", "[]"),
        ("Root", "/consistent_snapshot", "false"),
        ("Targets", "/targets", "{}"),
        ("Targets", "/targets/t/hashes", "{}"),
        ("Targets", "/delegations", r#"{"keys":{},"roles":[]}"#),
        ("Targets", "/delegations/keys", "{}"),
        ("Targets", "/delegations/roles", "[]"),
        ("Targets", "/delegations/roles/0/keyids", "[]"),
        ("Snapshot", "/meta", "{}"),
        ("Snapshot", "/meta/targets/hashes", "{}"),
        ("Timestamp", "/meta", "{}"),
        ("Timestamp", "/meta/targets/hashes", "{}"),
    ];

    #[test]
    fn go_nil_fields_read_the_same_null_absent_or_empty() {
        for (ty, at, empty) in NIL_IS_EMPTY {
            let base = base_signed(ty);
            let empty: Value = serde_json::from_str(empty).unwrap();
            let null_doc = with(&base, at, Some(Value::Null));
            let (null_canon, null_typed) =
                parse_as(ty, &null_doc).unwrap_or_else(|e| panic!("{ty} {at}: null: {e}"));
            let (_, absent_typed) = parse_as(ty, &with(&base, at, None))
                .unwrap_or_else(|e| panic!("{ty} {at}: absent: {e}"));
            let (_, empty_typed) = parse_as(ty, &with(&base, at, Some(empty)))
                .unwrap_or_else(|e| panic!("{ty} {at}: empty: {e}"));
            assert_eq!(null_typed, empty_typed, "{ty} {at}: null == empty");
            assert_eq!(absent_typed, empty_typed, "{ty} {at}: absent == empty");
            // Signatures cover the document as sent: the null stays null.
            assert_eq!(
                null_canon,
                to_canonical(&null_doc).unwrap(),
                "{ty} {at}: canonical form keeps null"
            );
            assert!(
                core::str::from_utf8(&null_canon).unwrap().contains(":null"),
                "{ty} {at}"
            );
        }
    }

    /// Go's `omitempty` fields: `null` reads as absent (Go omits them when empty).
    #[test]
    fn omitempty_fields_read_null_as_absent() {
        let t = base_signed("Targets");
        for (at, check) in [
            (
                "/delegations/roles/0/paths",
                (|t: &Targets| t.delegations.roles[0].paths.is_none()) as fn(&Targets) -> bool,
            ),
            ("/targets/t/custom", |t: &Targets| {
                t.targets["t"].custom.is_none()
            }),
        ] {
            for v in [Some(Value::Null), None] {
                let d = Signed::<Targets>::from_bytes(&doc(&with(&t, at, v.clone()))).unwrap();
                assert!(check(&d.signed), "{at} {v:?}");
            }
        }
        // An empty path list is kept as written and allows nothing, like no list at all.
        let d = Signed::<Targets>::from_bytes(&doc(&with(
            &t,
            "/delegations/roles/0/paths",
            Some(serde_json::json!([])),
        )))
        .unwrap();
        assert_eq!(d.signed.delegations.roles[0].paths, Some(vec![]));
    }

    /// Go's nil `[]byte` is `null`: a `sig` or hash value of `null` reads as no bytes, so the
    /// signature never verifies and the hash never matches, but the document still parses.
    #[test]
    #[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
    fn null_byte_strings_read_as_no_bytes() {
        let mut signed = base_signed("Snapshot");
        signed["meta"]["targets"]["hashes"]["sha256"] = Value::Null;
        let bytes = serde_json::to_vec(&serde_json::json!({
            "signed": signed,
            "signatures": [{"keyid": "ab", "method": "ecdsa", "sig": null}],
        }))
        .unwrap();
        let d = Signed::<Snapshot>::from_bytes(&bytes).unwrap();
        assert!(d.signatures[0].sig.0.is_empty());
        assert_eq!(
            d.signed.meta["targets"].hashes["sha256"].0,
            Vec::<u8>::new()
        );
        assert!(d.signed.meta["targets"].check(b"abc").is_err());
    }

    /// Fields Go always writes (scalars, strings, and the key bytes whose ID would change)
    /// must be present and typed: `null` or absent is a clear error, never a panic.
    #[test]
    #[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
    fn always_present_fields_reject_null_and_absent() {
        let cases: &[(&str, &str)] = &[
            ("Root", "/_type"),
            ("Root", "/version"),
            ("Root", "/expires"),
            ("Root", "/roles/root/threshold"),
            ("Root", "/keys/KEY/keytype"),
            ("Root", "/keys/KEY/keyval/public"),
            ("Targets", "/delegations/roles/0/name"),
            ("Targets", "/delegations/roles/0/threshold"),
            ("Targets", "/targets/t/length"),
            ("Snapshot", "/meta/targets/length"),
            ("Timestamp", "/version"),
        ];
        for (ty, at) in cases {
            let base = base_signed(ty);
            let key_id = base["keys"]
                .as_object()
                .and_then(|k| k.keys().next().cloned())
                .unwrap_or_default();
            let at = at.replace("KEY", &key_id);
            for v in [Some(Value::Null), None] {
                let err = parse_as(ty, &with(&base, &at, v.clone()))
                    .expect_err(&format!("{ty} {at} {v:?}"));
                assert!(matches!(err, MetadataError::Malformed { .. }), "{err}");
            }
        }
        // The envelope's `signed` itself.
        for bad in [
            &br#"{"signed":null,"signatures":[]}"#[..],
            br#"{"signatures":[]}"#,
        ] {
            assert!(Signed::<Targets>::from_bytes(bad).is_err());
        }
        // `signatures` is a Go slice: null or absent is no signatures.
        for ok in [
            r#"{"signed":SIGNED,"signatures":null}"#,
            r#"{"signed":SIGNED}"#,
        ] {
            let text = ok.replace(
                "SIGNED",
                &serde_json::to_string(&base_signed("Timestamp")).unwrap(),
            );
            let d = Signed::<Timestamp>::from_bytes(text.as_bytes()).unwrap();
            assert!(d.signatures.is_empty());
        }
    }

    /// The bytes the Go client uploads when `docker trust signer remove` takes the last key
    /// of `targets/releases` (a real upload to the Go notary-server, shape kept, key IDs
    /// shortened): parses, and the delegation has no keys.
    #[test]
    fn go_last_signer_removal_upload_parses() {
        let doc = br#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[{"keyids":null,"name":"targets/releases","paths":[""],"threshold":1}]},"expires":"2029-11-28T13:44:04.186926855Z","targets":{},"version":4},"signatures":[{"keyid":"1518","method":"ecdsa","sig":"6gYd"}]}"#;
        let t = Signed::<Targets>::from_bytes(doc).unwrap();
        assert!(t.signed.delegations.roles[0].keyids.is_empty());
        assert!(
            core::str::from_utf8(t.canonical())
                .unwrap()
                .contains(r#"{"keyids":null,"name":"targets/releases""#)
        );
        let releases = RoleName::parse("targets/releases").unwrap();
        assert!(crate::verify::check_delegations(&t.signed, &RoleName::targets()).is_ok());
        let ring = crate::verify::delegation_ring(&t.signed, &releases).unwrap();
        assert!(ring.keys.is_empty());
        let roles_null = br#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":null},"expires":"2029-11-28T13:44:04.269327922Z","targets":{},"version":5},"signatures":[]}"#;
        let t = Signed::<Targets>::from_bytes(roles_null).unwrap();
        assert!(t.signed.delegations.roles.is_empty());
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

    #[test]
    fn hashes_read_and_write_as_a_sorted_map_last_duplicate_wins() {
        let h: Hashes =
            serde_json::from_str(r#"{"sha512":"AQ==","sha256":"Ag==","sha512":"Aw=="}"#).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("sha512"), Some(&Base64Bytes(vec![3])));
        assert_eq!(h["sha256"].0, vec![2]);
        assert!(h.get("md5").is_none());
        assert_eq!(
            to_canonical(&serde_json::to_value(&h).unwrap()).unwrap(),
            br#"{"sha256":"Ag==","sha512":"Aw=="}"#
        );
        let mut built = Hashes::new();
        assert!(
            built
                .insert("sha512".to_owned(), Base64Bytes(vec![3]))
                .is_none()
        );
        assert!(
            built
                .insert("sha256".to_owned(), Base64Bytes(vec![9]))
                .is_none()
        );
        assert_eq!(
            built.insert("sha256".to_owned(), Base64Bytes(vec![2])),
            Some(Base64Bytes(vec![9]))
        );
        assert_eq!(built, h);
        assert!(serde_json::from_str::<Hashes>(r#"{"sha256":"not base64!"}"#).is_err());
        assert!(serde_json::from_str::<Hashes>(r#"["sha256"]"#).is_err());
    }

    #[test]
    fn targets_map_keeps_order_and_the_last_of_a_repeated_name() {
        let t: Targets = serde_json::from_str(
            r#"{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":1,"targets":{
                "b":{"length":2,"hashes":{"sha256":"AA=="}},
                "a":{"length":1,"hashes":{"sha256":"AA=="}},
                "b":{"length":3,"hashes":{"sha256":"AA=="}}}}"#,
        )
        .unwrap();
        let got: Vec<(&str, i64)> = t
            .targets
            .iter()
            .map(|(k, m)| (k.as_str(), m.length))
            .collect();
        assert_eq!(got, [("a", 1), ("b", 3)]);
        let null: Targets = serde_json::from_str(
            r#"{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":1,"targets":null}"#,
        )
        .unwrap();
        assert!(null.targets.is_empty());
    }

    #[test]
    fn canonical_bytes_of_a_canonical_file_are_the_signed_text_itself() {
        let file = br#"{"signed":{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1},"signatures":[]}"#;
        let d = Signed::<Timestamp>::from_bytes(file).unwrap();
        let text =
            &br#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":1}"#[..];
        assert_eq!(d.canonical(), text);
        assert!(matches!(d.canonical, Canonical::Within(_)));
        // Not canonical as written (spaces): encoded apart, to the same canonical text.
        let spaced = br#"{"signed": {"version":1, "meta":{}, "expires":"2030-01-01T00:00:00Z", "_type":"Timestamp"}, "signatures":[]}"#;
        let d = Signed::<Timestamp>::from_bytes(spaced).unwrap();
        assert_eq!(d.canonical(), text);
        assert!(matches!(d.canonical, Canonical::Owned(_)));
        // Adding signatures re-lays the file out; the canonical bytes stay the same.
        let signed = d.with_signatures(&[]);
        assert_eq!(signed.canonical(), text);
        assert_eq!(within(b"abc", b"abc"), Canonical::Within(0..3));
    }
}
