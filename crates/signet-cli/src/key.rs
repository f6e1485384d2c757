//! `signet key …`: notary's key commands. Parsing only; the work is in
//! `signet_client::keys::commands`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use signet_client::keys::{ExportFilter, KeyStore, PassphraseEnv, Retriever, commands, pkcs11};

/// Operates on the private keys of a notary or docker trust directory.
#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Lists keys (ROLE, GUN, KEY ID, LOCATION), as notary prints them; with
    /// SIGNET_PKCS11_* set, the keys on that PKCS#11 token too (location
    /// `pkcs11:token=<label>`).
    List,
    /// Generates a new key. With -o, writes PREFIX-key.pem (encrypted) and PREFIX.pem
    /// (public key) instead of storing it.
    Generate {
        /// ecdsa (default, P-256) or ed25519; with --pkcs11 also rsa (2048 bits,
        /// RSASSA-PSS signatures). Root keys on a token are ecdsa; a targets or snapshot
        /// key made on the token with -g GUN is the one `init GUN` uses.
        #[arg(default_value = "ecdsa")]
        algorithm: String,
        /// Role to generate the key for.
        #[arg(short = 'r', long, default_value = "root")]
        role: String,
        /// File name prefix to write the key pair to (with --pkcs11: only PREFIX.pem, the
        /// public key, e.g. for `delegation add`).
        #[arg(short = 'o', long = "output", value_name = "PREFIX")]
        output: Option<PathBuf>,
        /// Generate the key on the PKCS#11 token SIGNET_PKCS11_MODULE, SIGNET_PKCS11_TOKEN
        /// and SIGNET_PKCS11_PIN name (it never leaves the token) (Signet extension).
        #[arg(long)]
        pkcs11: bool,
        /// With --pkcs11: the repository a targets or snapshot key is for.
        #[arg(short = 'g', long, requires = "pkcs11", default_value = "")]
        gun: String,
    },
    /// Imports keys from PEM files (also the encrypted files `key generate -o` and
    /// `key export` write).
    Import {
        /// PEM files.
        #[arg(required = true, value_name = "PEMFILE")]
        files: Vec<PathBuf>,
        /// Role for keys whose PEM has no role header. [default: delegation]
        #[arg(short = 'r', long, default_value = "")]
        role: String,
        /// GUN for keys whose PEM has no gun header.
        #[arg(short = 'g', long, default_value = "")]
        gun: String,
    },
    /// Exports keys (still encrypted) with a path header, for `key import`.
    Export {
        /// Key IDs to export.
        #[arg(long = "key", value_delimiter = ',', conflicts_with = "gun")]
        keys: Vec<String>,
        /// GUNs whose keys to export.
        #[arg(long = "gun", value_delimiter = ',')]
        gun: Vec<String>,
        /// File to write (mode 0600) instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Removes the key with the given ID, after confirmation (from the trust directory, or
    /// from the PKCS#11 token SIGNET_PKCS11_* name).
    Remove {
        /// The key ID.
        key_id: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Changes the passphrase of the key with the given ID.
    Passwd {
        /// The key ID.
        key_id: String,
    },
    /// Rotates a base role's key and publishes the new root at once: root (asks for
    /// confirmation; signed by the old and the new root key), targets, snapshot (local, or
    /// -r for a server-managed key) and timestamp (-r only). Staged changes stay staged.
    Rotate {
        /// The Globally Unique Name of the collection.
        gun: String,
        /// root, targets, snapshot or timestamp.
        role: String,
        /// Let the server make and hold the new key (snapshot, timestamp).
        #[arg(short = 'r', long = "server-managed")]
        server_managed: bool,
        /// Do not ask for confirmation (root).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Instead of a new key made here, these public keys (PEM: PUBLIC KEY or
        /// certificate; root: certificates for the GUN), held by others (Signet
        /// extension). Repeatable.
        #[arg(long = "pubkey", value_name = "PEMFILE")]
        pubkeys: Vec<PathBuf>,
        /// Signatures of distinct keys the role needs from now on (Signet extension).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        threshold: Option<u32>,
        /// Write the rotation, signed with the keys here, to FILE for the other key holders
        /// (`bundle sign FILE`, then `publish GUN --bundle FILE`) instead of publishing it.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
}

/// `key rotate`'s arguments.
pub(crate) struct Rotation<'a> {
    pub(crate) gun: &'a str,
    pub(crate) role: &'a str,
    pub(crate) server_managed: bool,
    pub(crate) yes: bool,
    pub(crate) pubkeys: &'a [PathBuf],
    pub(crate) threshold: Option<u32>,
    pub(crate) export: Option<&'a std::path::Path>,
}

impl KeyArgs {
    /// `key rotate`'s arguments, which the notary commands run (they need the server).
    pub(crate) fn rotation(&self) -> Option<Rotation<'_>> {
        match &self.command {
            KeyCommand::Rotate {
                gun,
                role,
                server_managed,
                yes,
                pubkeys,
                threshold,
                export,
            } => Some(Rotation {
                gun,
                role,
                server_managed: *server_managed,
                yes: *yes,
                pubkeys,
                threshold: *threshold,
                export: export.as_deref(),
            }),
            _ => None,
        }
    }
}

/// Runs `signet key …` with the global `-d/--trustDir` and `--configFile`.
pub(crate) fn run(
    args: KeyArgs,
    flag: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().context("current directory")?;
    let trust_dir = commands::resolve_trust_dir(flag, config, home.as_deref(), &cwd)?;
    let store = KeyStore::new(&trust_dir);
    let retriever = || Retriever::from_process(PassphraseEnv::notary());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        KeyCommand::List => {
            let on_token = match token_settings()? {
                Some(settings) => pkcs11::list(&*settings.open()?)?,
                None => Vec::new(),
            };
            commands::list_with(&store, on_token, &mut out)?;
        }
        KeyCommand::Generate {
            algorithm,
            role,
            pkcs11: true,
            gun,
            output,
        } => {
            generate_on_token(&algorithm, &role, &gun, output.as_deref(), &mut out)?;
        }
        KeyCommand::Generate {
            algorithm,
            role,
            output,
            ..
        } => {
            commands::generate(
                &store,
                &algorithm,
                &role,
                output.as_deref(),
                &mut retriever(),
                &mut out,
            )?;
        }
        KeyCommand::Import { files, role, gun } => {
            commands::import(&store, &files, &role, &gun, &mut retriever())?;
        }
        KeyCommand::Export { keys, gun, output } => {
            let filter = ExportFilter {
                key_ids: keys,
                guns: gun,
            };
            commands::export(&store, &filter, output.as_deref(), &mut out)?;
        }
        KeyCommand::Remove { key_id, yes } => {
            // As notary, the answer is read from standard input (so `echo yes |` works); at
            // the end of input the removal is aborted.
            let stdin = std::io::stdin();
            let token = token_settings()?.map(|s| s.open()).transpose()?;
            commands::remove_from(
                &store,
                token.as_deref(),
                &key_id,
                yes,
                &mut stdin.lock(),
                &mut out,
            )?;
        }
        KeyCommand::Rotate { .. } => {
            anyhow::bail!("key rotate is run by the notary commands");
        }
        KeyCommand::Passwd { key_id } => {
            commands::passwd(
                &store,
                &key_id,
                &mut retriever(),
                &mut retriever(),
                &mut out,
            )?;
        }
    }
    out.flush().context("writing output")?;
    Ok(())
}

/// `key generate --pkcs11`: a key of `algorithm` for `role` on the token; with `output`,
/// its public key is also written to `PREFIX.pem`.
fn generate_on_token(
    algorithm: &str,
    role: &str,
    gun: &str,
    output: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let Some(on_token) = pkcs11::algorithm(algorithm) else {
        anyhow::bail!("keys on a PKCS#11 token are ecdsa (P-256), ed25519 or rsa, not {algorithm}");
    };
    let role = signet_core::RoleName::parse(role)
        .map_err(|e| anyhow::anyhow!("invalid role {role:?}: {e}"))?;
    let token = token_settings()?.ok_or_else(|| {
        anyhow::anyhow!(
            "--pkcs11 needs the token: set {}, {} and {}",
            pkcs11::MODULE_ENV,
            pkcs11::TOKEN_ENV,
            pkcs11::PIN_ENV
        )
    })?;
    let opened = token.open()?;
    let public = pkcs11::generate(&opened, on_token, gun, &role)?;
    writeln!(
        out,
        "Generated new {} {} key with keyID: {} on PKCS#11 token {}",
        public.keytype().as_str(),
        role.as_str(),
        public.id(),
        opened.label()
    )
    .context("writing output")?;
    if let Some(prefix) = output {
        let path = commands::write_public(prefix, role.as_str(), &public)?;
        writeln!(out, "Public key written to {}", path.display()).context("writing output")?;
    }
    Ok(())
}

/// The token `SIGNET_PKCS11_*` names, if any.
fn token_settings() -> anyhow::Result<Option<pkcs11::TokenSettings>> {
    Ok(pkcs11::TokenSettings::from_env(|k| std::env::var(k).ok())?)
}

/// `files`, with the token `SIGNET_PKCS11_*` names in front of it if there is one.
pub(crate) fn with_token(
    files: std::sync::Arc<dyn signet_client::publish::KeySource>,
) -> anyhow::Result<std::sync::Arc<dyn signet_client::publish::KeySource>> {
    match token_settings()? {
        None => Ok(files),
        Some(settings) => Ok(std::sync::Arc::new(pkcs11::TokenKeySource::new(
            settings.open()?,
            files,
        ))),
    }
}
