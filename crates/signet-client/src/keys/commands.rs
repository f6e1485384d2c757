//! `notary key …` (and `signet key …`) as library functions: the binary parses flags and
//! calls these with its standard streams; tests call them with buffers.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use signet_core::PublicKey;
use signet_core::encoding::{PemBlock, pem_encode};

use super::passphrase::new_passphrase;
use super::store::write_private;
use super::{
    ExportFilter, KeyAlgorithm, KeyError, KeyPem, KeyStore, ListedKey, PassphraseSource,
    PrivateKey, format_listed_keys,
};

fn out_err(e: std::io::Error) -> KeyError {
    KeyError::io("<output>", e)
}

/// Where the trust directory is, as notary decides: `-d` (relative to the working
/// directory), else `trust_dir` from the config file (`-c`, which must then exist, or
/// `~/.notary/config.json` if present), else `~/.notary`. A leading `~` is the home
/// directory.
pub fn resolve_trust_dir(
    flag: Option<&Path>,
    config_file: Option<&Path>,
    home: Option<&Path>,
    cwd: &Path,
) -> Result<PathBuf, KeyError> {
    let default_dir = home.map_or_else(|| cwd.join(".notary"), |h| h.join(".notary"));
    let expand = |p: &str| -> PathBuf {
        match (p.strip_prefix('~'), home) {
            (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                h.join(rest.trim_start_matches('/'))
            }
            _ => PathBuf::from(p),
        }
    };
    let absolute = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    if let Some(dir) = flag {
        return Ok(absolute(expand(&dir.to_string_lossy())));
    }
    let (file, required) = match config_file {
        Some(f) => (absolute(expand(&f.to_string_lossy())), true),
        None => (default_dir.join("config.json"), false),
    };
    let text = match std::fs::read(&file) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(default_dir);
        }
        Err(e) => {
            return Err(KeyError::Invalid(format!(
                "error opening config file: {}: {e}",
                file.display()
            )));
        }
    };
    let json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        KeyError::Invalid(format!(
            "error opening config file: {}: {e}",
            file.display()
        ))
    })?;
    Ok(match json.get("trust_dir").and_then(|v| v.as_str()) {
        Some(dir) if !dir.is_empty() => absolute(expand(dir)),
        _ => default_dir,
    })
}

/// `key list`: notary's table on `out`.
pub fn list(store: &KeyStore, out: &mut dyn Write) -> Result<(), KeyError> {
    list_with(store, Vec::new(), out)
}

/// `key list` with keys held elsewhere (on a PKCS#11 token) in the same table.
pub fn list_with(
    store: &KeyStore,
    elsewhere: Vec<ListedKey>,
    out: &mut dyn Write,
) -> Result<(), KeyError> {
    let location = store.location().to_string_lossy().into_owned();
    let mut keys: Vec<ListedKey> = store
        .list()?
        .into_iter()
        .map(|e| ListedKey {
            role: e.role,
            gun: e.gun,
            id: e.id,
            location: location.clone(),
        })
        .collect();
    keys.extend(elsewhere);
    out.write_all(format_listed_keys(&keys).as_bytes())
        .map_err(out_err)
}

/// Writes `PREFIX.pem`: `public` as a `PUBLIC KEY` PEM with a `role:` header, as `key
/// generate -o` writes it (what `delegation add` reads).
///
/// # Errors
///
/// [`KeyError`] when the file cannot be written.
pub fn write_public(prefix: &Path, role: &str, public: &PublicKey) -> Result<PathBuf, KeyError> {
    let pem = pem_encode(&PemBlock {
        label: "PUBLIC KEY".to_owned(),
        headers: vec![("role".to_owned(), role.to_owned())],
        contents: public.public_bytes().to_vec(),
    });
    let path = PathBuf::from(format!("{}.pem", prefix.to_string_lossy()));
    write_private(&path, pem.as_bytes())?;
    Ok(path)
}

/// `key generate [algorithm] [--role R] [-o PREFIX]`. Without `output`, the key goes into
/// the store and `Generated new <alg> <role> key with keyID: <id>` is printed; with it,
/// `PREFIX-key.pem` (encrypted, `role:` header) and `PREFIX.pem` (`PUBLIC KEY`, `role:`
/// header) are written and the store is untouched. Returns the key ID.
pub fn generate(
    store: &KeyStore,
    algorithm: &str,
    role: &str,
    output: Option<&Path>,
    source: &mut dyn PassphraseSource,
    out: &mut dyn Write,
) -> Result<String, KeyError> {
    let Some(alg @ (KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Ed25519)) =
        KeyAlgorithm::parse(algorithm)
    else {
        return Err(KeyError::Invalid(
            "Algorithm not allowed, possible values are: ECDSA, ED25519".to_owned(),
        ));
    };
    let key = PrivateKey::generate(alg)?;
    let id = key.id().to_string();
    let Some(prefix) = output else {
        store.add(&key, role, "", source)?;
        writeln!(
            out,
            "Generated new {} {role} key with keyID: {id}",
            algorithm.to_ascii_lowercase()
        )
        .map_err(out_err)?;
        return Ok(id);
    };
    let passphrase = new_passphrase(source, &id, role)?;
    let private = KeyPem::encrypt(&key, role, "", &passphrase)?;
    let prefix = prefix.to_string_lossy();
    write_private(
        Path::new(&format!("{prefix}-key.pem")),
        private.to_pem().as_bytes(),
    )?;
    let public = pem_encode(&PemBlock {
        label: "PUBLIC KEY".to_owned(),
        headers: vec![("role".to_owned(), role.to_owned())],
        contents: key.public().public_bytes().to_vec(),
    });
    write_private(Path::new(&format!("{prefix}.pem")), public.as_bytes())?;
    Ok(id)
}

/// `key import FILE…`: see [`KeyStore::import`]. Returns the imported key IDs.
pub fn import(
    store: &KeyStore,
    files: &[PathBuf],
    role: &str,
    gun: &str,
    source: &mut dyn PassphraseSource,
) -> Result<Vec<String>, KeyError> {
    let mut ids = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| KeyError::io(file, e))?;
        let entries = store
            .import(&bytes, role, gun, source)
            .map_err(|e| match e {
                KeyError::NoPem { .. } => KeyError::NoPem {
                    file: Some(file.clone()),
                },
                KeyError::UnsupportedPemType { label, .. } => KeyError::UnsupportedPemType {
                    label,
                    file: Some(file.clone()),
                },
                other => other,
            })?;
        ids.extend(entries.into_iter().map(|e| e.id));
    }
    Ok(ids)
}

/// `key export [--key ID…|--gun G…] [-o FILE]`: the encrypted keys with `path:` headers,
/// to `output` (0600) or `out`.
pub fn export(
    store: &KeyStore,
    filter: &ExportFilter,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), KeyError> {
    let bundle = store.export(filter)?;
    match output {
        Some(path) => write_private(path, bundle.as_bytes()),
        None => out.write_all(bundle.as_bytes()).map_err(out_err),
    }
}

/// `key remove ID`: notary's confirmation ("Are you sure you want to remove … (yes/no)"),
/// read from `input` unless `yes`. Anything but `y`/`yes` aborts, as in notary, and
/// returns `Ok(false)`.
pub fn remove(
    store: &KeyStore,
    key_id: &str,
    yes: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<bool, KeyError> {
    remove_from(store, None, key_id, yes, input, out)
}

/// [`remove`], looking on `token` too: a key that is not in the trust directory but is one
/// of the client's keys on the token (`signet key list` shows it there) is destroyed on
/// the token, after the same confirmation.
///
/// # Errors
///
/// As [`remove`], and [`KeyError::Invalid`] when the token fails.
pub fn remove_from(
    store: &KeyStore,
    token: Option<&signet_pkcs11::Token>,
    key_id: &str,
    yes: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<bool, KeyError> {
    if key_id.len() != 64 {
        return Err(KeyError::InvalidKeyId {
            key_id: key_id.to_owned(),
        });
    }
    let not_found = || KeyError::Invalid(format!("No key with ID {key_id} found"));
    let token_err = |e: signet_pkcs11::TokenError| KeyError::Invalid(e.to_string());
    let (description, on_token) = match (store.find(key_id)?, token) {
        (Some(entry), _) => (
            format!(
                "{} (role {}) from {}",
                entry.id,
                entry.role,
                store.location().display()
            ),
            None,
        ),
        (None, Some(token)) => {
            let listed = super::pkcs11::list(token).map_err(token_err)?;
            let key = listed
                .into_iter()
                .find(|k| k.id == key_id)
                .ok_or_else(not_found)?;
            (
                format!("{} (role {}) from {}", key.id, key.role, key.location),
                Some(token),
            )
        }
        (None, None) => return Err(not_found()),
    };
    writeln!(out).map_err(out_err)?;
    if !yes {
        write!(
            out,
            "Are you sure you want to remove {description}?  (yes/no)  "
        )
        .map_err(out_err)?;
        out.flush().map_err(out_err)?;
        let mut answer = String::new();
        let confirmed = input.read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        if !confirmed {
            writeln!(out, "\nAborting action.\n").map_err(out_err)?;
            return Ok(false);
        }
    }
    match on_token {
        Some(token) => {
            if !token.delete(key_id).map_err(token_err)? {
                return Err(not_found());
            }
        }
        None => {
            store.remove(key_id)?;
        }
    }
    writeln!(out, "\nDeleted {description}.\n").map_err(out_err)?;
    Ok(true)
}

/// `key passwd ID`: decrypts with the current passphrase from `old`, re-encrypts with a new
/// one from `new` (a separate source, so a cached passphrase is not reused).
pub fn passwd(
    store: &KeyStore,
    key_id: &str,
    old: &mut dyn PassphraseSource,
    new: &mut dyn PassphraseSource,
    out: &mut dyn Write,
) -> Result<(), KeyError> {
    store
        .change_passphrase(key_id, old, new)
        .map_err(|e| match e {
            KeyError::NotFound { key_id } => KeyError::Invalid(format!(
                "could not retrieve local key for key ID provided: {key_id}"
            )),
            other => other,
        })?;
    writeln!(
        out,
        "\nSuccessfully updated passphrase for key ID: {key_id}"
    )
    .map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PassphraseEnv, Retriever};

    #[test]
    fn trust_dir_resolution() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let cwd = tmp.path().join("cwd");
        let r = |flag: Option<&Path>, cfg: Option<&Path>| {
            resolve_trust_dir(flag, cfg, Some(&home), &cwd)
        };
        assert_eq!(r(None, None).unwrap(), home.join(".notary"));
        assert_eq!(r(Some(Path::new("td")), None).unwrap(), cwd.join("td"));
        assert_eq!(r(Some(Path::new("~/x")), None).unwrap(), home.join("x"));
        let cfg = tmp.path().join("config.json");
        std::fs::write(&cfg, br#"{"trust_dir":"~/trust"}"#).unwrap();
        assert_eq!(r(None, Some(&cfg)).unwrap(), home.join("trust"));
        assert_eq!(
            r(Some(Path::new("/abs")), Some(&cfg)).unwrap(),
            Path::new("/abs")
        );
        let missing = tmp.path().join("missing.json");
        assert!(r(None, Some(&missing)).is_err());
    }

    #[test]
    fn remove_asks_and_aborts_without_yes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = KeyStore::new(tmp.path());
        let mut pass = Retriever::with_values(
            PassphraseEnv::notary(),
            [("NOTARY_ROOT_PASSPHRASE", "rootpassphrase")],
        );
        let mut out = Vec::new();
        let id = generate(&store, "ecdsa", "root", None, &mut pass, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("Generated new ecdsa root key with keyID: {id}\n")
        );
        let mut out = Vec::new();
        assert!(!remove(&store, &id, false, &mut &b""[..], &mut out).unwrap());
        let loc = store.location().display().to_string();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "\nAre you sure you want to remove {id} (role root) from {loc}?  (yes/no)  \nAborting action.\n\n"
            )
        );
        let mut out = Vec::new();
        assert!(remove(&store, &id, false, &mut &b"yes\n"[..], &mut out).unwrap());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with(&format!("\nDeleted {id} (role root) from {loc}.\n\n"))
        );
        assert!(store.list().unwrap().is_empty());
    }
}
