//! The private-key store of a notary or docker trust directory (spec §6.1):
//! `private/<key ID>.key`, and the older `private/root_keys/<id>[_role].key` and
//! `private/tuf_keys/[<gun>/]<id>[_role].key` layouts, read in place.
//!
//! notary 0.7 moves legacy files into the flat layout whenever it opens the store; Signet
//! reads them where they are (listing them as notary lists them after moving) and never
//! rewrites a file it only reads. New and re-encrypted keys go to the flat layout. Files
//! are written 0600 through a temporary file and a rename; directories are made 0700.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use signet_core::encoding::is_lower_hex;

use super::passphrase::{PassphraseSource, new_passphrase, unlock};
use super::{KeyError, KeyPem, PrivateKey};

/// The key file extension.
pub const KEY_EXTENSION: &str = "key";
/// The role notary gives imported keys that have none.
pub const DEFAULT_IMPORT_ROLE: &str = "delegation";
const LEGACY_ROOT_DIR: &str = "root_keys";
const LEGACY_NON_ROOT_DIR: &str = "tuf_keys";

/// One key file in the store, as `notary key list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key ID (the file's base name, without a legacy `_<role>` suffix).
    pub id: String,
    /// The role (`role:` header, or a legacy file name's suffix).
    pub role: String,
    /// The GUN (`gun:` header, or a legacy `tuf_keys/<gun>/` directory).
    pub gun: String,
    /// The file.
    pub path: PathBuf,
}

/// The store under `<trust dir>/private`.
#[derive(Clone, Debug)]
pub struct KeyStore {
    dir: PathBuf,
}

/// Which keys an export writes.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// Only keys with these IDs.
    pub key_ids: Vec<String>,
    /// Only keys whose GUN is exactly one of these.
    pub guns: Vec<String>,
}

impl KeyStore {
    /// The store of the trust directory `trust_dir` (nothing is read or created yet).
    pub fn new(trust_dir: impl AsRef<Path>) -> Self {
        Self {
            dir: trust_dir.as_ref().join("private"),
        }
    }

    /// `<trust dir>/private`, which `notary key list` shows as the LOCATION.
    pub fn location(&self) -> &Path {
        &self.dir
    }

    /// Every readable key file, sorted by path. Files that are not key PEM are skipped, as
    /// notary skips them; symlinks are ignored, as notary ignores them.
    pub fn list(&self) -> Result<Vec<KeyEntry>, KeyError> {
        let mut files = Vec::new();
        walk(&self.dir, &mut files)?;
        files.sort();
        let mut out: Vec<KeyEntry> = Vec::new();
        for path in files {
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(pem) = KeyPem::parse(&bytes) else {
                continue;
            };
            let rel = path.strip_prefix(&self.dir).unwrap_or(&path);
            let entry = self.entry_for(rel, &pem, path.clone());
            // notary keeps one entry per ID (a map); the flat file wins over a legacy copy.
            if let Some(existing) = out.iter_mut().find(|e| e.id == entry.id) {
                if is_flat(&self.dir, &entry.path) {
                    *existing = entry;
                }
            } else {
                out.push(entry);
            }
        }
        Ok(out)
    }

    fn entry_for(&self, rel: &Path, pem: &KeyPem, path: PathBuf) -> KeyEntry {
        let stem = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut id = stem.clone();
        let mut role = pem.role().to_owned();
        let mut gun = pem.gun().to_owned();
        let mut components = rel.components();
        let top = components
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let legacy = matches!(top.as_deref(), Some(LEGACY_ROOT_DIR | LEGACY_NON_ROOT_DIR))
            && rel.components().count() > 1;
        if legacy {
            // As notary's migration: the role from an `_<role>` suffix, the GUN from the
            // directories under tuf_keys/.
            if let Some((key, suffix)) = stem.split_once('_') {
                role = suffix.split('_').next().unwrap_or_default().to_owned();
                id = key.to_owned();
            }
            if top.as_deref() == Some(LEGACY_NON_ROOT_DIR)
                && let Some(parent) = rel.parent()
                && let Ok(dir) = parent.strip_prefix(LEGACY_NON_ROOT_DIR)
                && !dir.as_os_str().is_empty()
            {
                gun = dir.to_string_lossy().replace('\\', "/");
            }
        }
        KeyEntry {
            id,
            role,
            gun,
            path,
        }
    }

    /// The entry for `key_id`, if the store has it.
    pub fn find(&self, key_id: &str) -> Result<Option<KeyEntry>, KeyError> {
        Ok(self.list()?.into_iter().find(|e| e.id == key_id))
    }

    /// Reads and decrypts a key, asking `source` for the passphrase (under the key's role)
    /// as often as notary would.
    pub fn load(
        &self,
        key_id: &str,
        source: &mut dyn PassphraseSource,
    ) -> Result<(PrivateKey, KeyEntry), KeyError> {
        check_id(key_id)?;
        let entry = self.find(key_id)?.ok_or_else(|| KeyError::NotFound {
            key_id: key_id.to_owned(),
        })?;
        let key = self.load_entry(&entry, source)?;
        Ok((key, entry))
    }

    /// Decrypts the key of `entry`, an entry [`KeyStore::list`] returned (its file is read
    /// again; the directory is not).
    pub fn load_entry(
        &self,
        entry: &KeyEntry,
        source: &mut dyn PassphraseSource,
    ) -> Result<PrivateKey, KeyError> {
        let bytes = read_private(&entry.path)?;
        let pem = KeyPem::parse(&bytes).map_err(|e| with_file(e, &entry.path))?;
        if pem.is_encrypted() {
            unlock(source, &entry.id, &entry.role, |p| pem.decrypt(Some(p)))
        } else {
            pem.decrypt(None)
        }
    }

    /// Encrypts `key` under a new passphrase from `source` and stores it as
    /// `private/<id>.key` with `role` and `gun` headers. As notary, the GUN is dropped for
    /// root and delegation keys.
    pub fn add(
        &self,
        key: &PrivateKey,
        role: &str,
        gun: &str,
        source: &mut dyn PassphraseSource,
    ) -> Result<KeyEntry, KeyError> {
        let gun = gun_for_role(role, gun);
        let id = key.id().to_string();
        let passphrase = new_passphrase(source, &id, role)?;
        let pem = KeyPem::encrypt(key, role, gun, &passphrase)?;
        let path = self.dir.join(format!("{id}.{KEY_EXTENSION}"));
        write_private(&path, pem.to_pem().as_bytes())?;
        Ok(KeyEntry {
            id,
            role: role.to_owned(),
            gun: gun.to_owned(),
            path,
        })
    }

    /// Removes a key file (the legacy copies of the ID too).
    pub fn remove(&self, key_id: &str) -> Result<KeyEntry, KeyError> {
        check_id(key_id)?;
        let mut files = Vec::new();
        walk(&self.dir, &mut files)?;
        let mut removed = None;
        for path in files {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if stem == key_id || stem.split_once('_').is_some_and(|(k, _)| k == key_id) {
                if removed.is_none() {
                    removed = self.find(key_id)?;
                }
                fs::remove_file(&path).map_err(|e| KeyError::io(&path, e))?;
            }
        }
        removed.ok_or_else(|| KeyError::NotFound {
            key_id: key_id.to_owned(),
        })
    }

    /// Decrypts a key with its current passphrase and stores it under a new one.
    pub fn change_passphrase(
        &self,
        key_id: &str,
        old: &mut dyn PassphraseSource,
        new: &mut dyn PassphraseSource,
    ) -> Result<KeyEntry, KeyError> {
        let (key, entry) = self.load(key_id, old)?;
        let added = self.add(&key, &entry.role, &entry.gun, new)?;
        if entry.path != added.path {
            fs::remove_file(&entry.path).map_err(|e| KeyError::io(&entry.path, e))?;
        }
        Ok(added)
    }

    /// The PEM bundle `notary key export` writes: each selected file's blocks with a
    /// `path: <key ID>` header, in file-name order. Keys stay encrypted.
    pub fn export(&self, filter: &ExportFilter) -> Result<String, KeyError> {
        if !filter.key_ids.is_empty() && !filter.guns.is_empty() {
            return Err(KeyError::Invalid(
                "Only the --gun or --key flag may be provided, not a mix of the two flags"
                    .to_owned(),
            ));
        }
        let mut entries = self.list()?;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = String::new();
        for entry in entries {
            if !filter.key_ids.is_empty() && !filter.key_ids.contains(&entry.id) {
                continue;
            }
            if !filter.guns.is_empty() && !filter.guns.contains(&entry.gun) {
                continue;
            }
            let bytes = read_private(&entry.path)?;
            for mut pem in KeyPem::parse_all(&bytes).map_err(|e| with_file(e, &entry.path))? {
                if !entry.role.is_empty() && pem.role().is_empty() {
                    pem.set_header("role", &entry.role);
                }
                if !entry.gun.is_empty() && pem.gun().is_empty() {
                    pem.set_header("gun", &entry.gun);
                }
                pem.set_header("path", &entry.id);
                out.push_str(&pem.to_pem());
            }
        }
        if !filter.key_ids.is_empty() && out.is_empty() {
            return Err(KeyError::NotFound {
                key_id: filter.key_ids.join(", "),
            });
        }
        Ok(out)
    }

    /// Imports every key PEM block of `bytes` as `notary key import` does: the `role` and
    /// `gun` headers win over the fallbacks (default role `delegation`); base-role keys
    /// other than root need a GUN; root and delegation keys lose theirs; unencrypted keys are
    /// encrypted under a new passphrase. Beyond notary 0.7, an encrypted block without a
    /// `path:` header (what `key generate -o` writes) is decrypted with a passphrase from
    /// `source` to learn its ID, and stored as it was (still encrypted).
    pub fn import(
        &self,
        bytes: &[u8],
        fallback_role: &str,
        fallback_gun: &str,
        source: &mut dyn PassphraseSource,
    ) -> Result<Vec<KeyEntry>, KeyError> {
        let blocks = KeyPem::parse_all(bytes)?;
        if blocks.is_empty() {
            return Err(KeyError::NoPem { file: None });
        }
        let mut imported = Vec::new();
        for mut pem in blocks {
            // A legacy export path (tuf_keys/<gun>/<id>) names the GUN.
            if let Some(path) = pem.header("path").map(str::to_owned)
                && path.contains('/')
            {
                let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
                if let Some(g) = dir
                    .strip_prefix(LEGACY_NON_ROOT_DIR)
                    .map(|g| g.trim_matches('/'))
                    .filter(|g| !g.is_empty())
                {
                    pem.set_header("gun", g);
                }
                pem.set_header("path", base);
            }
            if pem.gun().is_empty() && !fallback_gun.is_empty() {
                pem.set_header("gun", fallback_gun);
            }
            if pem.role().is_empty() {
                let role = if fallback_role.is_empty() {
                    DEFAULT_IMPORT_ROLE
                } else {
                    fallback_role
                };
                pem.set_header("role", role);
            }
            let role = pem.role().to_owned();
            if matches!(role.as_str(), "targets" | "snapshot" | "timestamp") {
                if pem.gun().is_empty() {
                    return Err(KeyError::Invalid(format!(
                        "failed to import key: a {role} key needs a GUN (--gun)"
                    )));
                }
            } else {
                pem.set_header("gun", "");
            }
            let gun = pem.gun().to_owned();
            let path_header = pem.header("path").map(str::to_owned);
            pem.set_header("path", "");
            let entry = match (pem.is_encrypted(), path_header) {
                // An export bundle entry: stored as it is, still encrypted, as notary does.
                (true, Some(id)) if pem.encoding() == super::KeyEncoding::EncryptedPkcs8 => {
                    check_id(&id)?;
                    let path = self.dir.join(format!("{id}.{KEY_EXTENSION}"));
                    write_private(&path, pem.to_pem().as_bytes())?;
                    KeyEntry {
                        id,
                        role,
                        gun,
                        path,
                    }
                }
                (true, path_header) => {
                    // What `key generate -o` writes (notary 0.7 refuses it): decrypt to learn
                    // the key ID. Legacy encryption is replaced by notary's current format.
                    let key_name = path_header.unwrap_or_else(|| "being imported".to_owned());
                    let (key, passphrase) = unlock(source, &key_name, &role, |p| {
                        pem.decrypt(Some(p))
                            .map(|k| (k, zeroize::Zeroizing::new(p.to_owned())))
                    })?;
                    let id = key.id().to_string();
                    let out = if pem.encoding() == super::KeyEncoding::EncryptedPkcs8 {
                        pem.to_pem()
                    } else {
                        KeyPem::encrypt(&key, &role, &gun, &passphrase)?.to_pem()
                    };
                    let path = self.dir.join(format!("{id}.{KEY_EXTENSION}"));
                    write_private(&path, out.as_bytes())?;
                    KeyEntry {
                        id,
                        role,
                        gun,
                        path,
                    }
                }
                (false, _) => {
                    let key = pem.decrypt(None)?;
                    self.add(&key, &role, &gun, source)?
                }
            };
            imported.push(entry);
        }
        Ok(imported)
    }
}

/// notary drops the GUN of root keys, delegation keys and keys of unknown roles.
fn gun_for_role<'a>(role: &str, gun: &'a str) -> &'a str {
    if matches!(role, "targets" | "snapshot" | "timestamp") {
        gun
    } else {
        ""
    }
}

fn check_id(key_id: &str) -> Result<(), KeyError> {
    if key_id.len() == 64 && is_lower_hex(key_id, 64) {
        Ok(())
    } else {
        Err(KeyError::InvalidKeyId {
            key_id: key_id.to_owned(),
        })
    }
}

fn is_flat(dir: &Path, path: &Path) -> bool {
    path.parent() == Some(dir)
}

fn with_file(e: KeyError, path: &Path) -> KeyError {
    match e {
        KeyError::NoPem { .. } => KeyError::NoPem {
            file: Some(path.to_owned()),
        },
        KeyError::UnsupportedPemType { label, .. } => KeyError::UnsupportedPemType {
            label,
            file: Some(path.to_owned()),
        },
        other => other,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(KeyError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| KeyError::io(dir, e))?;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == KEY_EXTENSION) {
            out.push(path);
        }
    }
    Ok(())
}

/// The most a key file may hold (a key PEM is under 4 KiB; an RSA-8192 one under 8 KiB).
const MAX_KEY_FILE: u64 = 1 << 20;

fn read_private(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
    let meta = fs::metadata(path).map_err(|e| KeyError::io(path, e))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::malformed(format!(
            "{} is larger than {MAX_KEY_FILE} bytes",
            path.display()
        )));
    }
    Ok(zeroize::Zeroizing::new(
        fs::read(path).map_err(|e| KeyError::io(path, e))?,
    ))
}

/// Makes `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| KeyError::io(dir, e))
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file in the same directory
/// and a rename, so a reader sees the old file or the new one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let parent = path
        .parent()
        .ok_or_else(|| KeyError::Invalid(format!("{} has no directory", path.display())))?;
    create_private_dir(parent)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(KeyError::io(path, e));
    }
    Ok(())
}
