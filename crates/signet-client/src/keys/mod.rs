//! Private keys as notary 0.7 and the docker CLI keep them in a trust directory.
//!
//! - [`KeyStore`]: `private/<key ID>.key` (and the older layouts, read in place): list,
//!   load, add, remove, import, export, change passphrase.
//! - [`KeyPem`]: one key file's PEM block: notary's encrypted PKCS#8 (PBES2, PBKDF2-SHA1,
//!   AES-256-CBC) with `role:`/`gun:` headers, and the older formats notary still reads.
//! - [`PrivateKey`] and the [`Signer`] trait the publishing code signs through.
//! - [`Retriever`]: passphrases from notary's or docker's environment variables, a prompt
//!   on a terminal, or a clear error at once without one.
//!
//! ```no_run
//! # fn run() -> Result<(), signet_client::keys::KeyError> {
//! use signet_client::keys::{KeyStore, PassphraseEnv, Retriever, Signer as _};
//!
//! let store = KeyStore::new("/home/me/.notary");
//! let mut passphrases = Retriever::from_process(PassphraseEnv::notary());
//! let (key, entry) = store.load(&store.list()?[0].id, &mut passphrases)?;
//! let sig = key.sign(b"canonical bytes")?;
//! println!("{} {} {}", entry.role, key.method(), sig.len());
//! # Ok(()) }
//! ```

pub mod commands;
mod der;
mod error;
mod key;
mod passphrase;
mod pem;
pub mod pkcs11;
mod source;
mod store;
#[cfg(test)]
mod vectors;

pub use error::KeyError;
pub use key::{KeyAlgorithm, PrivateKey, Signer};
pub use passphrase::{
    MAX_NEW_PASSPHRASE_ATTEMPTS, MAX_PROMPT_RETRIES, PassphraseAnswer, PassphraseEnv,
    PassphraseRequest, PassphraseSource, Retriever, new_passphrase, unlock,
};
pub use pem::{
    KeyEncoding, KeyPem, MAX_PBKDF2_ITERATIONS, NOTARY_PBKDF2_ITERATIONS, NOTARY_SALT_LEN,
};
pub use source::StoreKeySource;
pub use store::{
    DEFAULT_IMPORT_ROLE, ExportFilter, KEY_EXTENSION, KeyEntry, KeyStore, write_private,
};

/// `notary key list`'s output for `entries` found at `location`, byte for byte: a blank
/// line, the table (or "No signing keys found."), a blank line. Root keys first, then by
/// GUN, role, key ID; GUNs longer than 25 and locations longer than 40 characters are
/// shortened from the left with "...". Columns as Go's `tabwriter` (min width 4, padding 4).
pub fn format_key_list(entries: &[KeyEntry], location: &str) -> String {
    let keys: Vec<ListedKey> = entries
        .iter()
        .map(|e| ListedKey {
            role: e.role.clone(),
            gun: e.gun.clone(),
            id: e.id.clone(),
            location: location.to_owned(),
        })
        .collect();
    format_listed_keys(&keys)
}

/// One row of `key list`: a key and where it is (the trust directory, or a PKCS#11 token
/// as [`pkcs11::location`] names it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedKey {
    /// The role.
    pub role: String,
    /// The GUN (empty for root and delegation keys).
    pub gun: String,
    /// The key ID.
    pub id: String,
    /// Where the key is.
    pub location: String,
}

/// [`format_key_list`] for keys in several locations (notary lists its file store and its
/// YubiKey in one table): root keys first, then by GUN, role, key ID, location.
pub fn format_listed_keys(keys: &[ListedKey]) -> String {
    if keys.is_empty() {
        return "\nNo signing keys found.\n\n".to_owned();
    }
    let mut sorted: Vec<&ListedKey> = keys.iter().collect();
    // Root first; then GUN, role, key ID, location (notary's keyInfoSorter), on the full GUN.
    sorted.sort_by(|a, b| {
        (a.role != "root", &a.gun, &a.role, &a.id, &a.location).cmp(&(
            b.role != "root",
            &b.gun,
            &b.role,
            &b.id,
            &b.location,
        ))
    });
    let rows = sorted.into_iter().map(|e| {
        [
            e.role.clone(),
            truncate_left(&e.gun, 25),
            e.id.clone(),
            truncate_left(&e.location, 40),
        ]
    });
    let header = ["ROLE", "GUN", "KEY ID", "LOCATION"].map(str::to_owned);
    let rule = header.clone().map(|h| "-".repeat(h.len()));
    let mut all = vec![header, rule];
    all.extend(rows);
    let mut out = String::from("\n");
    out.push_str(&tabwrite(&all));
    out.push('\n');
    out
}

/// Go's `tabwriter.NewWriter(w, 4, 4, 4, ' ', 0)` for rows whose last cell is not
/// tab-terminated: each other column is padded to its widest cell plus 4 (at least 4).
pub fn tabwrite<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [4usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(N.saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + 4);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                out.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

fn truncate_left(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let keep = max - 3;
    let mut start = s.len() - keep;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: &str, gun: &str, id: &str) -> KeyEntry {
        KeyEntry {
            id: id.to_owned(),
            role: role.to_owned(),
            gun: gun.to_owned(),
            path: std::path::PathBuf::new(),
        }
    }

    #[test]
    fn key_list_matches_notary_bytes() {
        // Captured from Go `notary -d /tmp/nk key list`.
        let want = "\nROLE           GUN    KEY ID                                                              LOCATION\n----           ---    ------                                                              --------\nroot                  ecb43399342cf8353f906ec507d9b998109b7f68e9d223bbbdcf75c74533f0c6    /tmp/nk/private\ntargets/foo           9fc3c6b907e97b45a90eddd3f2307166aaefd8f9d462fbad13f47476bb872086    /tmp/nk/private\n\n";
        let got = format_key_list(
            &[
                entry(
                    "targets/foo",
                    "",
                    "9fc3c6b907e97b45a90eddd3f2307166aaefd8f9d462fbad13f47476bb872086",
                ),
                entry(
                    "root",
                    "",
                    "ecb43399342cf8353f906ec507d9b998109b7f68e9d223bbbdcf75c74533f0c6",
                ),
            ],
            "/tmp/nk/private",
        );
        assert_eq!(got, want);
        assert_eq!(format_key_list(&[], "x"), "\nNo signing keys found.\n\n");
    }

    #[test]
    fn long_fields_are_left_truncated() {
        assert_eq!(truncate_left("abc", 25), "abc");
        let long = "a".repeat(30) + "xyz";
        let t = truncate_left(&long, 25);
        assert_eq!(t.len(), 25);
        assert!(t.starts_with("...") && t.ends_with("xyz"));
    }
}
