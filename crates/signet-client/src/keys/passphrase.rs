//! Passphrases (spec §6.3): from environment variables, else from a prompt on a terminal,
//! else a clear error at once.
//!
//! The retriever is asked as notary's is: `(key name, alias = role, create new, attempt)`.
//! An environment value is used for attempts 0 and 1 and then given up, as notary's CLI does;
//! a prompt re-asks up to three times on a wrong passphrase ("Passphrase incorrect. Please
//! retry."), and for a new key requires at least 8 characters and a matching confirmation.
//! Prompts go to standard error (notary writes them to standard output; Signet keeps standard
//! output for results).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};

use zeroize::Zeroizing;

use super::KeyError;

const ID_CHARS_TO_DISPLAY: usize = 7;
const ROOT_KEY_GENERATION_WARNING: &str =
    "You are about to create a new root signing key passphrase. This passphrase
will be used to protect the most sensitive key in your signing system. Please
choose a long, complex passphrase and be careful to keep the password and the
key file itself secure and backed up. It is highly recommended that you use a
password manager to generate the passphrase and keep it safe. There will be no
way to recover this key. You can find the key in your config directory.";

/// Which environment variables supply passphrases, and how prompts name the roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseEnv {
    /// Alias (role) → variable name.
    by_alias: BTreeMap<String, String>,
    /// Variable for aliases not in `by_alias`, and which aliases it must not cover.
    fallback: Option<(String, Fallback)>,
    /// Alias → the name prompts show (docker says "repository" for targets and snapshot).
    display: BTreeMap<String, String>,
}

/// Which aliases a fallback variable covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fallback {
    /// Every alias but the base roles (root, targets, snapshot, timestamp): notary's
    /// `NOTARY_DELEGATION_PASSPHRASE`.
    NonBaseRoles,
    /// Every alias but root: docker's `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE`.
    NonRoot,
}

impl PassphraseEnv {
    /// notary's variables: `NOTARY_{ROOT,TARGETS,SNAPSHOT}_PASSPHRASE`, and
    /// `NOTARY_DELEGATION_PASSPHRASE` for every other role.
    pub fn notary() -> Self {
        let by_alias = [
            ("root", "NOTARY_ROOT_PASSPHRASE"),
            ("targets", "NOTARY_TARGETS_PASSPHRASE"),
            ("snapshot", "NOTARY_SNAPSHOT_PASSPHRASE"),
            ("delegation", "NOTARY_DELEGATION_PASSPHRASE"),
        ];
        Self {
            by_alias: by_alias
                .iter()
                .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
                .collect(),
            fallback: Some((
                "NOTARY_DELEGATION_PASSPHRASE".to_owned(),
                Fallback::NonBaseRoles,
            )),
            display: BTreeMap::new(),
        }
    }

    /// docker's variables: `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE` for root and
    /// `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE` for everything else; prompts say
    /// "repository" for targets and snapshot keys.
    pub fn docker() -> Self {
        let repo = "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE";
        Self {
            by_alias: [
                ("root", "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"),
                ("snapshot", repo),
                ("targets", repo),
            ]
            .iter()
            .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
            .collect(),
            fallback: Some((repo.to_owned(), Fallback::NonRoot)),
            display: [("snapshot", "repository"), ("targets", "repository")]
                .iter()
                .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The variable that supplies the passphrase for `alias`, if any.
    pub fn variable_for(&self, alias: &str) -> Option<&str> {
        if let Some(v) = self.by_alias.get(alias) {
            return Some(v);
        }
        match &self.fallback {
            Some((v, Fallback::NonBaseRoles))
                if !matches!(alias, "root" | "targets" | "snapshot" | "timestamp") =>
            {
                Some(v)
            }
            Some((v, Fallback::NonRoot)) if alias != "root" => Some(v),
            _ => None,
        }
    }

    fn display<'a>(&'a self, alias: &'a str) -> &'a str {
        self.display.get(alias).map_or(alias, String::as_str)
    }
}

/// One request for a passphrase.
#[derive(Clone, Copy, Debug)]
pub struct PassphraseRequest<'a> {
    /// The key ID (or a file name) the passphrase is for.
    pub key_name: &'a str,
    /// The role alias (`root`, `targets`, a delegation name, or empty).
    pub alias: &'a str,
    /// Whether a new passphrase is being chosen (confirm it, at least 8 characters).
    pub create_new: bool,
    /// 0 for the first try; more after a wrong passphrase.
    pub attempt: u32,
}

/// What a passphrase source answered.
#[derive(Debug)]
pub enum PassphraseAnswer {
    /// Try this passphrase.
    Passphrase(Zeroizing<String>),
    /// The entry was unusable (too short, did not match); ask again.
    Retry,
}

/// Supplies passphrases. Implementations decide how (environment, terminal, a test's fixed
/// value); the key store decides how often to ask.
pub trait PassphraseSource {
    /// Answers one request. An `Err` stops the operation at once.
    fn passphrase(&mut self, request: &PassphraseRequest<'_>)
    -> Result<PassphraseAnswer, KeyError>;
}

/// The most times a new passphrase is asked for before giving up (notary: 10).
pub const MAX_NEW_PASSPHRASE_ATTEMPTS: u32 = 10;
/// The most wrong passphrases a prompt accepts before giving up (notary: 3 retries).
pub const MAX_PROMPT_RETRIES: u32 = 3;

/// notary's retriever: environment variables first, then a prompt when standard input is a
/// terminal, otherwise [`KeyError::NoPassphrase`] immediately.
pub struct Retriever {
    env: PassphraseEnv,
    values: BTreeMap<String, Zeroizing<String>>,
    interactive: bool,
    cache: BTreeMap<String, Zeroizing<String>>,
}

impl core::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Retriever")
            .field("env", &self.env)
            .field("interactive", &self.interactive)
            .finish_non_exhaustive()
    }
}

impl Retriever {
    /// Reads the variables `env` names from the process environment, and prompts only if
    /// standard input is a terminal.
    pub fn from_process(env: PassphraseEnv) -> Self {
        let names: Vec<String> = env
            .by_alias
            .values()
            .chain(env.fallback.iter().map(|(v, _)| v))
            .cloned()
            .collect();
        let values = names
            .into_iter()
            .filter_map(|name| {
                let value = std::env::var(&name).ok().filter(|v| !v.is_empty())?;
                Some((name, Zeroizing::new(value)))
            })
            .collect();
        Self {
            env,
            values,
            interactive: std::io::stdin().is_terminal(),
            cache: BTreeMap::new(),
        }
    }

    /// A retriever with explicit variable values and no terminal (for tests and embedding).
    pub fn with_values<'a>(
        env: PassphraseEnv,
        values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        Self {
            env,
            values: values
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.to_owned())))
                .collect(),
            interactive: false,
            cache: BTreeMap::new(),
        }
    }

    fn prompt(&mut self, req: &PassphraseRequest<'_>) -> Result<PassphraseAnswer, KeyError> {
        let mut err = std::io::stderr().lock();
        if req.attempt == 0 {
            if req.alias == "root" && req.create_new {
                let _ = writeln!(err, "{ROOT_KEY_GENERATION_WARNING}");
            }
            if let Some(p) = self.cache.get(req.alias) {
                return Ok(PassphraseAnswer::Passphrase(p.clone()));
            }
        } else if !req.create_new {
            if req.attempt > MAX_PROMPT_RETRIES {
                return Err(KeyError::WrongPassphrase {
                    key: req.key_name.to_owned(),
                });
            }
            let _ = writeln!(err, "Passphrase incorrect. Please retry.");
        }
        let display = self.env.display(req.alias).to_owned();
        let with_id = short_name(req.key_name)
            .map(|s| format!(" with ID {s}"))
            .unwrap_or_default();
        if req.create_new {
            let _ = write!(err, "Enter passphrase for new {display} key{with_id}: ");
        } else {
            let _ = write!(err, "Enter passphrase for {display} key{with_id}: ");
        }
        let _ = err.flush();
        // The terminal echoes the newline (rpassword keeps ECHONL), as notary's prompt ends.
        let entered = read_hidden()?;
        if req.create_new {
            if entered.chars().count() < 8 {
                let _ = writeln!(
                    err,
                    "Passphrase is too short. Please use a password manager to generate and store a good random passphrase."
                );
                return Ok(PassphraseAnswer::Retry);
            }
            let _ = write!(err, "Repeat passphrase for new {display} key{with_id}: ");
            let _ = err.flush();
            let confirm = read_hidden()?;
            if *confirm != *entered {
                let _ = writeln!(err, "Passphrases do not match. Please retry.");
                return Ok(PassphraseAnswer::Retry);
            }
        }
        self.cache.insert(req.alias.to_owned(), entered.clone());
        Ok(PassphraseAnswer::Passphrase(entered))
    }
}

fn read_hidden() -> Result<Zeroizing<String>, KeyError> {
    let s = Zeroizing::new(rpassword::read_password().map_err(KeyError::Prompt)?);
    Ok(Zeroizing::new(s.trim().to_owned()))
}

/// notary's short display of a key name: the first 7 characters of the ID, with a path
/// prefix in parentheses.
fn short_name(key_name: &str) -> Option<String> {
    let (prefix, id) = match key_name.rfind('/') {
        Some(i) => (Some(&key_name[..i]), &key_name[i + 1..]),
        None => (None, key_name),
    };
    let id = id.get(..ID_CHARS_TO_DISPLAY)?;
    if id.len() < ID_CHARS_TO_DISPLAY || key_name.len() <= ID_CHARS_TO_DISPLAY {
        return None;
    }
    Some(match prefix {
        Some(p) if !p.is_empty() => format!("{id} ({p})"),
        _ => id.to_owned(),
    })
}

impl PassphraseSource for Retriever {
    fn passphrase(&mut self, req: &PassphraseRequest<'_>) -> Result<PassphraseAnswer, KeyError> {
        if let Some(var) = self.env.variable_for(req.alias)
            && let Some(value) = self.values.get(var)
        {
            if req.attempt > 1 {
                return Err(KeyError::WrongPassphrase {
                    key: format!("{} (from {var})", req.key_name),
                });
            }
            // As notary, any non-empty value is accepted (the 8-character minimum is the
            // prompt's), so existing scripts keep working.
            return Ok(PassphraseAnswer::Passphrase(value.clone()));
        }
        if !self.interactive {
            return Err(KeyError::NoPassphrase {
                key: req.key_name.to_owned(),
                role: if req.alias.is_empty() {
                    "new".to_owned()
                } else {
                    req.alias.to_owned()
                },
                env: self
                    .env
                    .variable_for(req.alias)
                    .unwrap_or("a passphrase variable")
                    .to_owned(),
            });
        }
        self.prompt(req)
    }
}

/// Asks `source` for a new passphrase until it gives one (at most
/// [`MAX_NEW_PASSPHRASE_ATTEMPTS`] tries).
pub fn new_passphrase(
    source: &mut dyn PassphraseSource,
    key_name: &str,
    alias: &str,
) -> Result<Zeroizing<String>, KeyError> {
    for attempt in 0..MAX_NEW_PASSPHRASE_ATTEMPTS {
        let req = PassphraseRequest {
            key_name,
            alias,
            create_new: true,
            attempt,
        };
        if let PassphraseAnswer::Passphrase(p) = source.passphrase(&req)?
            && !p.is_empty()
        {
            return Ok(p);
        }
    }
    Err(KeyError::AttemptsExceeded)
}

/// Tries passphrases from `source` on `decrypt` until one works, the source gives up, or
/// notary's limit of attempts is reached.
pub fn unlock<T>(
    source: &mut dyn PassphraseSource,
    key_name: &str,
    alias: &str,
    mut decrypt: impl FnMut(&str) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    for attempt in 0..=MAX_NEW_PASSPHRASE_ATTEMPTS {
        let req = PassphraseRequest {
            key_name,
            alias,
            create_new: false,
            attempt,
        };
        match source.passphrase(&req)? {
            PassphraseAnswer::Retry => continue,
            PassphraseAnswer::Passphrase(p) => match decrypt(&p) {
                Err(KeyError::WrongPassphrase { .. }) => continue,
                other => return other,
            },
        }
    }
    Err(KeyError::WrongPassphrase {
        key: key_name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notary_env_mapping() {
        let env = PassphraseEnv::notary();
        assert_eq!(env.variable_for("root"), Some("NOTARY_ROOT_PASSPHRASE"));
        assert_eq!(
            env.variable_for("targets"),
            Some("NOTARY_TARGETS_PASSPHRASE")
        );
        assert_eq!(env.variable_for("timestamp"), None);
        assert_eq!(
            env.variable_for("targets/releases"),
            Some("NOTARY_DELEGATION_PASSPHRASE")
        );
        assert_eq!(
            env.variable_for("alice"),
            Some("NOTARY_DELEGATION_PASSPHRASE")
        );
    }

    #[test]
    fn docker_env_mapping() {
        let env = PassphraseEnv::docker();
        assert_eq!(
            env.variable_for("root"),
            Some("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE")
        );
        for alias in ["targets", "snapshot", "alice", "targets/releases"] {
            assert_eq!(
                env.variable_for(alias),
                Some("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE")
            );
        }
        assert_eq!(env.display("targets"), "repository");
    }

    #[test]
    fn env_value_is_tried_twice_then_given_up() {
        let mut r = Retriever::with_values(
            PassphraseEnv::notary(),
            [("NOTARY_ROOT_PASSPHRASE", "wrongwrong")],
        );
        let mut tries = 0;
        let err = unlock(&mut r, "abc", "root", |_| -> Result<(), KeyError> {
            tries += 1;
            Err(KeyError::WrongPassphrase { key: "abc".into() })
        })
        .expect_err("wrong passphrase");
        assert!(matches!(err, KeyError::WrongPassphrase { .. }), "{err}");
        assert_eq!(tries, 2);
    }

    #[test]
    fn no_variable_and_no_terminal_fails_at_once() {
        let mut r = Retriever::with_values(PassphraseEnv::notary(), []);
        let err = new_passphrase(&mut r, "abcdef0123", "targets").expect_err("no source");
        let msg = err.to_string();
        assert!(msg.contains("NOTARY_TARGETS_PASSPHRASE"), "{msg}");
        assert!(msg.contains("not a terminal"), "{msg}");
    }

    #[test]
    fn short_names_match_notary() {
        assert_eq!(short_name("0123456789abcdef").as_deref(), Some("0123456"));
        assert_eq!(
            short_name("docker.com/x/0123456789").as_deref(),
            Some("0123456 (docker.com/x)")
        );
        assert_eq!(short_name("abc"), None);
    }
}
