//! Staged changes in notary's on-disk format (spec §6.4), so the Go `notary` client and
//! `signet` pick up each other's staged work.
//!
//! A changelist is the directory `<trust dir>/tuf/<gun>/changelist/` (0700); each change is
//! one file `%020d(UnixNano)_<uuid>.change` (0600) holding the JSON notary's Go
//! `json.Marshal` writes:
//!
//! ```json
//! {"action":"create","role":"targets","type":"target","path":"v1","data":"<base64>"}
//! ```
//!
//! `data` is base64 of a target's file meta (`{"length":…,"hashes":{…},"custom":…}`) for
//! targets, `null` for removals. Changes apply in file-name order; `status` numbers them
//! from 0 in that order; files that do not parse are skipped (with a warning), as notary
//! does.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use signet_core::encoding::{b64_decode, b64_encode};
use signet_core::metadata::{Base64Bytes, FileMeta};

use crate::error::ClientError;

/// `create`: add or replace.
pub const ACTION_CREATE: &str = "create";
/// `update`.
pub const ACTION_UPDATE: &str = "update";
/// `delete`.
pub const ACTION_DELETE: &str = "delete";
/// A target change.
pub const TYPE_TARGET: &str = "target";
/// A delegation change.
pub const TYPE_DELEGATION: &str = "delegation";
/// A base role change (root key rotation).
pub const TYPE_ROLE: &str = "role";
/// A witness (re-sign) change.
pub const TYPE_WITNESS: &str = "witness";

/// One staged change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The scope: `targets`, a delegation, `targets/*` or `root`.
    pub role: String,
    /// `target`, `delegation`, `role` or `witness`.
    #[serde(rename = "type")]
    pub change_type: String,
    /// The target name (or role, for delegation changes).
    pub path: String,
    /// The payload (base64 in the file); `None` is written as `null`.
    #[serde(with = "opt_b64")]
    pub data: Option<Vec<u8>>,
}

mod opt_b64 {
    use super::{b64_decode, b64_encode};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&b64_encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => b64_decode(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("invalid base64 in change data")),
        }
    }
}

/// A target's entry as staged: length, hashes, optional custom JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetMeta {
    /// Length in bytes.
    pub length: i64,
    /// Hashes by algorithm.
    pub hashes: BTreeMap<String, Vec<u8>>,
    /// Custom data.
    pub custom: Option<serde_json::Value>,
}

impl TargetMeta {
    /// The meta of a file's contents: length, sha256 and sha512 (what `notary add` stages).
    pub fn of(bytes: &[u8], custom: Option<serde_json::Value>) -> Self {
        let m = FileMeta::of(bytes);
        Self {
            length: m.length,
            hashes: m.hashes.into_iter().map(|(k, v)| (k, v.0)).collect(),
            custom,
        }
    }

    /// The JSON notary stages: Go's `json.Marshal` of `FileMeta` (`length`, `hashes`,
    /// then `custom` if any).
    pub fn to_change_data(&self) -> Vec<u8> {
        let mut out = format!("{{\"length\":{},\"hashes\":{{", self.length);
        for (i, (alg, h)) in self.hashes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::String(alg.clone()).to_string());
            out.push_str(":\"");
            out.push_str(&b64_encode(h));
            out.push('"');
        }
        out.push('}');
        if let Some(c) = &self.custom {
            out.push_str(",\"custom\":");
            out.push_str(&c.to_string());
        }
        out.push('}');
        out.into_bytes()
    }

    /// Reads a staged target's data back.
    pub fn from_change_data(data: &[u8]) -> Result<Self, String> {
        let m: FileMeta = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        Ok(Self {
            length: m.length,
            hashes: m
                .hashes
                .into_iter()
                .map(|(k, Base64Bytes(v))| (k, v))
                .collect(),
            custom: m.custom,
        })
    }

    /// As metadata lists it.
    pub fn to_file_meta(&self) -> FileMeta {
        FileMeta {
            custom: self.custom.clone(),
            hashes: self
                .hashes
                .iter()
                .map(|(k, v)| (k.clone(), Base64Bytes(v.clone())))
                .collect(),
            length: self.length,
            extra: serde_json::Map::new(),
        }
    }
}

/// The payload of a `delegation` change: notary's `TUFDelegation`, fields in Go's order,
/// empty ones omitted. Key IDs to remove are canonical IDs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationData {
    /// Renames the role (notary defines it; nothing uses it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_name: String,
    /// The role's threshold: used when the role is created, and (an extension notary never
    /// writes) to change an existing role's threshold in an `update`.
    #[serde(rename = "threshold", default, skip_serializing_if = "is_zero")]
    pub new_threshold: i64,
    /// Keys to add (the role lists their TUF IDs).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_vec"
    )]
    pub add_keys: Vec<signet_core::PublicKey>,
    /// Canonical IDs of keys to remove.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_vec"
    )]
    pub remove_keys: Vec<String>,
    /// Path prefixes to add.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_vec"
    )]
    pub add_paths: Vec<String>,
    /// Path prefixes to remove.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_vec"
    )]
    pub remove_paths: Vec<String>,
    /// Removes every path before adding.
    #[serde(
        rename = "clear_paths",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub clear_all_paths: bool,
}

/// The payload of a root `role` change: notary's `TUFRootData`, the keys that replace a
/// base role's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRoleData {
    /// The new keys.
    #[serde(default, deserialize_with = "null_vec")]
    pub keys: Vec<signet_core::PublicKey>,
    /// The base role (`root`, `targets`, `snapshot` or `timestamp`).
    pub role: String,
    /// The role's new threshold (a Signet extension; absent or 0: unchanged).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub threshold: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn null_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// JSON of a change payload as Go's `json.Marshal` lays it out (struct field order,
/// `<`, `>`, `&` escaped).
#[allow(clippy::disallowed_methods)] // a changelist payload: Go's json.Marshal order, never signed
fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    let json = serde_json::to_vec(value).unwrap_or_default();
    signet_core::canonical::go_html_escape(&json)
}

impl DelegationData {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        go_json(self)
    }

    /// Reads a staged payload.
    pub fn from_bytes(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| format!("invalid delegation change: {e}"))
    }
}

impl RootRoleData {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        go_json(self)
    }

    /// Reads a staged payload.
    pub fn from_bytes(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| format!("invalid root role change: {e}"))
    }
}

/// The scope of a change that applies to every delegation (`delegation purge`).
pub const SCOPE_ALL_DELEGATIONS: &str = "targets/*";

impl Change {
    /// A `delegation` change of `role` (path empty, as notary writes it).
    pub fn delegation(action: &str, role: &str, data: Option<&DelegationData>) -> Self {
        Self {
            action: action.to_owned(),
            role: role.to_owned(),
            change_type: TYPE_DELEGATION.to_owned(),
            path: String::new(),
            data: data.map(DelegationData::to_bytes),
        }
    }

    /// A root change replacing the keys of base role `role` (and, if not 0, its
    /// threshold).
    pub fn root_role_keys(role: &str, keys: Vec<signet_core::PublicKey>, threshold: i64) -> Self {
        let data = RootRoleData {
            keys,
            role: role.to_owned(),
            threshold,
        };
        Self {
            action: ACTION_CREATE.to_owned(),
            role: "root".to_owned(),
            change_type: TYPE_ROLE.to_owned(),
            path: String::new(),
            data: Some(data.to_bytes()),
        }
    }

    /// `witness`: re-sign `role` as it is.
    pub fn witness(role: &str) -> Self {
        Self {
            action: ACTION_UPDATE.to_owned(),
            role: role.to_owned(),
            change_type: TYPE_WITNESS.to_owned(),
            path: String::new(),
            data: None,
        }
    }

    /// `add`/`addhash`: create `name` in `role`.
    pub fn add_target(role: &str, name: &str, meta: &TargetMeta) -> Self {
        Self {
            action: ACTION_CREATE.to_owned(),
            role: role.to_owned(),
            change_type: TYPE_TARGET.to_owned(),
            path: name.to_owned(),
            data: Some(meta.to_change_data()),
        }
    }

    /// `remove`: delete `name` from `role`.
    pub fn remove_target(role: &str, name: &str) -> Self {
        Self {
            action: ACTION_DELETE.to_owned(),
            role: role.to_owned(),
            change_type: TYPE_TARGET.to_owned(),
            path: name.to_owned(),
            data: None,
        }
    }

    /// The file bytes, laid out as Go's `json.Marshal` of notary's `TUFChange` (field order
    /// `action, role, type, path, data`; `<`, `>`, `&` escaped as Go does).
    #[allow(clippy::disallowed_methods)] // a changelist file: Go's json.Marshal order, never signed
    pub fn to_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        signet_core::canonical::go_html_escape(&json)
    }
}

/// One change file as listed.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The file name.
    pub file: String,
    /// The change.
    pub change: Change,
}

/// A change file that could not be read: file name and why.
pub type Unreadable = (String, String);

/// A GUN's changelist directory.
#[derive(Clone, Debug)]
pub struct Changelist {
    dir: PathBuf,
}

fn cl_err(dir: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Changelist {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Changelist {
    /// The changelist of `gun` in `trust_dir` (`tuf/<gun>/changelist/`; not created until
    /// something is staged).
    pub fn new(trust_dir: &Path, gun: &str) -> Result<Self, ClientError> {
        crate::cache::check_gun(gun)?;
        let mut dir = trust_dir.join("tuf");
        dir.extend(gun.split('/'));
        dir.push("changelist");
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// File names of the changes, sorted (directories are ignored).
    fn files(&self) -> Result<Vec<String>, ClientError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(cl_err(&self.dir, e)),
        };
        let mut names = Vec::new();
        for e in rd {
            let e = e.map_err(|e| cl_err(&self.dir, e))?;
            if e.file_type().map_err(|e| cl_err(&self.dir, e))?.is_dir() {
                continue;
            }
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// The changes in order. Files that cannot be read as changes are reported in the
    /// second list (notary skips them with a warning).
    pub fn list(&self) -> Result<(Vec<Entry>, Vec<Unreadable>), ClientError> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for file in self.files()? {
            let path = self.dir.join(&file);
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Change>(&b).map_err(|e| e.to_string()))
            {
                Ok(change) => ok.push(Entry { file, change }),
                Err(e) => bad.push((file, e)),
            }
        }
        Ok((ok, bad))
    }

    /// Stages `change` in a new file named after `now_nanos` (Unix time in nanoseconds)
    /// and a random UUID, written 0600 through a temporary file.
    pub fn add(&self, change: &Change, now_nanos: u128) -> Result<PathBuf, ClientError> {
        create_private_dir(&self.dir).map_err(|e| cl_err(&self.dir, e))?;
        let name = format!("{now_nanos:020}_{}.change", uuid_v4());
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        write_private(&tmp, &change.to_bytes()).map_err(|e| cl_err(&self.dir, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| cl_err(&self.dir, e))?;
        Ok(path)
    }

    /// Removes the changes with these indices (as `status` numbers them); indices out of
    /// range are ignored, as notary does.
    pub fn remove(&self, indices: &[usize]) -> Result<(), ClientError> {
        for (i, file) in self.files()?.iter().enumerate() {
            if indices.contains(&i) {
                std::fs::remove_file(self.dir.join(file)).map_err(|e| cl_err(&self.dir, e))?;
            }
        }
        Ok(())
    }

    /// Removes every change.
    pub fn clear(&self) -> Result<(), ClientError> {
        for file in self.files()? {
            std::fs::remove_file(self.dir.join(file)).map_err(|e| cl_err(&self.dir, e))?;
        }
        Ok(())
    }

    /// `notary status` output.
    pub fn render_status(gun: &str, entries: &[Entry]) -> String {
        if entries.is_empty() {
            return format!("No unpublished changes for {gun}\n");
        }
        let mut t = String::from("#\tACTION\tSCOPE\tTYPE\tPATH\n-\t------\t-----\t----\t----\n");
        for (i, e) in entries.iter().enumerate() {
            let c = &e.change;
            t.push_str(&format!(
                "{i}\t{}\t{}\t{}\t{}\n",
                c.action, c.role, c.change_type, c.path
            ));
        }
        format!(
            "Unpublished changes for {gun}:\n\n{}",
            crate::tabwriter::format(&t)
        )
    }
}

/// A random (version 4) UUID, as docker's `uuid.Generate` writes it.
fn uuid_v4() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    // The system RNG does not fail on supported platforms; a zero UUID still names a file
    // uniquely together with the nanosecond time stamp.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = signet_core::encoding::hex_encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `mkdir -p` with 0700 for the directories it creates.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Writes a new file with mode 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_bytes_match_go() {
        let meta = TargetMeta {
            length: 25,
            hashes: BTreeMap::from([("sha256".to_owned(), vec![0xde, 0xad])]),
            custom: None,
        };
        let c = Change::add_target("targets", "v<1>", &meta);
        let data = br#"{"length":25,"hashes":{"sha256":"3q0="}}"#;
        assert_eq!(c.data.as_deref(), Some(&data[..]));
        let expected = format!(
            r#"{{"action":"create","role":"targets","type":"target","path":"v\u003c1\u003e","data":"{}"}}"#,
            b64_encode(data)
        );
        assert_eq!(String::from_utf8(c.to_bytes()).unwrap(), expected);
        let r = Change::remove_target("targets/releases", "v1");
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            r#"{"action":"delete","role":"targets/releases","type":"target","path":"v1","data":null}"#
        );
        assert_eq!(TargetMeta::from_change_data(data).unwrap(), meta);
    }

    #[test]
    fn staged_files_list_in_order_and_reset() {
        let d = tempfile::tempdir().unwrap();
        let cl = Changelist::new(d.path(), "example.com/app").unwrap();
        assert!(cl.list().unwrap().0.is_empty());
        let m = TargetMeta::of(b"x", None);
        cl.add(&Change::add_target("targets", "b", &m), 2).unwrap();
        cl.add(&Change::add_target("targets", "a", &m), 1).unwrap();
        cl.add(&Change::remove_target("targets", "c"), 3).unwrap();
        std::fs::write(cl.dir().join("zz_garbage.change"), b"{not json").unwrap();
        let (entries, bad) = cl.list().unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.change.path.as_str()).collect();
        assert_eq!(paths, ["a", "b", "c"]);
        assert_eq!(bad.len(), 1);
        assert!(entries[0].file.starts_with("00000000000000000001_"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let f = cl.dir().join(&entries[0].file);
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(cl.dir()).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        cl.remove(&[1, 99]).unwrap();
        let paths: Vec<String> = cl
            .list()
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.change.path)
            .collect();
        assert_eq!(paths, ["a", "c"]);
        cl.clear().unwrap();
        assert!(cl.list().unwrap().0.is_empty() && cl.list().unwrap().1.is_empty());
    }
}
