//! Where verified metadata is kept between updates.
//!
//! A cache only ever receives a complete chain that verified (root, timestamp, snapshot,
//! targets, delegations), so a rejected update leaves the last good state in place. What
//! it hands back is verified again before use; it is trusted for nothing but the rollback
//! floor (the versions it holds) and as the root rotation anchor.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use signet_core::RoleName;

use crate::error::ClientError;

/// Storage for the metadata of verified repositories.
pub trait Cache: Send + Sync {
    /// The cached bytes of `role` for `gun`, if any.
    fn load(&self, gun: &str, role: &RoleName) -> Result<Option<Vec<u8>>, ClientError>;
    /// Stores a verified chain for `gun`.
    fn store(&self, gun: &str, files: &[(RoleName, &[u8])]) -> Result<(), ClientError>;
}

/// A cache in memory, for services that verify without a trust directory.
#[derive(Debug, Default)]
pub struct MemoryCache {
    files: Mutex<HashMap<String, HashMap<RoleName, Vec<u8>>>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Cache for MemoryCache {
    fn load(&self, gun: &str, role: &RoleName) -> Result<Option<Vec<u8>>, ClientError> {
        let files = self.files.lock().map_err(|_| ClientError::Cache {
            gun: gun.to_owned(),
            role: role.to_string(),
            reason: "cache lock poisoned".to_owned(),
        })?;
        Ok(files.get(gun).and_then(|f| f.get(role)).cloned())
    }

    fn store(&self, gun: &str, new: &[(RoleName, &[u8])]) -> Result<(), ClientError> {
        let mut files = self.files.lock().map_err(|_| ClientError::Cache {
            gun: gun.to_owned(),
            role: String::new(),
            reason: "cache lock poisoned".to_owned(),
        })?;
        let entry = files.entry(gun.to_owned()).or_default();
        for (role, bytes) in new {
            entry.insert(role.clone(), bytes.to_vec());
        }
        Ok(())
    }
}

/// Notary's trust directory: `<dir>/tuf/<gun>/metadata/<role>.json`, the GUN split on `/`
/// into directories and delegations nested (`targets/releases.json`), as the Go notary
/// client and the docker CLI keep it, so either client reads what the other cached.
#[derive(Clone, Debug)]
pub struct TrustDirCache {
    dir: PathBuf,
}

impl TrustDirCache {
    /// A cache in the trust directory `dir` (e.g. `~/.notary`, `~/.docker/trust`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file holding `role` of `gun`.
    pub fn path(&self, gun: &str, role: &RoleName) -> Result<PathBuf, ClientError> {
        check_gun(gun)?;
        let mut path = self.dir.join("tuf");
        path.extend(gun.split('/'));
        path.push("metadata");
        path.extend(role.as_str().split('/'));
        path.set_extension("json");
        Ok(path)
    }

    /// Forgets everything cached for `gun` but its root: what a repository re-created
    /// under the same root (after the server lost or deleted it) starts from, since the old
    /// incarnation's versions no longer apply.
    pub fn forget_all_but_root(&self, gun: &str) -> Result<(), ClientError> {
        let root = self.path(gun, &RoleName::root())?;
        let Some(dir) = root.parent() else {
            return Ok(());
        };
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(cache_err(gun, dir, &e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| cache_err(gun, dir, &e))?;
            let path = entry.path();
            if path == root {
                continue;
            }
            let removed = if entry
                .file_type()
                .map_err(|e| cache_err(gun, &path, &e))?
                .is_dir()
            {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| cache_err(gun, &path, &e))?;
        }
        Ok(())
    }
}

fn cache_err(gun: &str, path: &Path, e: &std::io::Error) -> ClientError {
    ClientError::Cache {
        gun: gun.to_owned(),
        role: "*".to_owned(),
        reason: format!("{}: {e}", path.display()),
    }
}

/// Refuses GUNs that would leave the trust directory or make ambiguous paths.
pub(crate) fn check_gun(gun: &str) -> Result<(), ClientError> {
    let bad = |reason: &str| ClientError::InvalidGun {
        gun: gun.to_owned(),
        reason: reason.to_owned(),
    };
    if gun.is_empty() || gun.len() > 255 {
        return Err(bad("must be 1 to 255 bytes"));
    }
    if gun
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'\\' || b == b' ' || b == b'?' || b == b'#')
    {
        return Err(bad("contains a character not allowed in a GUN"));
    }
    if gun
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(bad("has an empty, '.' or '..' path segment"));
    }
    Ok(())
}

impl Cache for TrustDirCache {
    fn load(&self, gun: &str, role: &RoleName) -> Result<Option<Vec<u8>>, ClientError> {
        let path = self.path(gun, role)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Cache {
                gun: gun.to_owned(),
                role: role.to_string(),
                reason: format!("{}: {e}", path.display()),
            }),
        }
    }

    fn store(&self, gun: &str, files: &[(RoleName, &[u8])]) -> Result<(), ClientError> {
        for (role, bytes) in files {
            let path = self.path(gun, role)?;
            // A file already holding these bytes is left alone: a warm `list` writes (and
            // syncs) nothing, as notary's does not.
            let old = std::fs::read(&path).ok();
            if old.as_deref() == Some(*bytes) {
                continue;
            }
            // Only a root that replaces a trusted one is synced to disk: that root is the
            // trust anchor, and a crash must leave either it or its predecessor, never a
            // torn file in their place. A root trusted on first use replaces nothing: a crash
            // that loses it leaves the directory as it was before that first use (and a torn
            // copy fails verification, closed). Every other file is checked against fresh
            // metadata before use (a torn one is fetched again) and only sets a rollback
            // floor; notary syncs none of them.
            let durable = *role == RoleName::root() && old.is_some();
            write_atomic(&path, bytes, durable).map_err(|e| ClientError::Cache {
                gun: gun.to_owned(),
                role: role.to_string(),
                reason: format!("{}: {e}", path.display()),
            })?;
        }
        Ok(())
    }
}

/// Writes through a temporary file in the same directory and renames it into place,
/// syncing the file to disk first if `durable`.
fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_dir_layout_matches_notary() {
        let c = TrustDirCache::new("/t");
        let role = RoleName::parse("targets/releases").unwrap();
        assert_eq!(
            c.path("docker.io/library/app", &role).unwrap(),
            PathBuf::from("/t/tuf/docker.io/library/app/metadata/targets/releases.json")
        );
        for gun in ["", "a/../b", "/abs", "a//b", "a\\b", "x/."] {
            assert!(c.path(gun, &RoleName::root()).is_err(), "{gun:?}");
        }
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let c = TrustDirCache::new(dir.path());
        let gun = "example.com/app";
        c.store(
            gun,
            &[(RoleName::root(), b"root v1"), (RoleName::targets(), b"t1")],
        )
        .unwrap();
        let root = c.path(gun, &RoleName::root()).unwrap();
        let targets = c.path(gun, &RoleName::targets()).unwrap();
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let (root_ino, targets_ino) = (ino(&root), ino(&targets));
        c.store(
            gun,
            &[(RoleName::root(), b"root v1"), (RoleName::targets(), b"t2")],
        )
        .unwrap();
        assert_eq!(ino(&root), root_ino, "same bytes: the file is left alone");
        assert_ne!(
            ino(&targets),
            targets_ino,
            "new bytes: replaced (atomically)"
        );
        assert_eq!(c.load(gun, &RoleName::targets()).unwrap().unwrap(), b"t2");
    }
}
