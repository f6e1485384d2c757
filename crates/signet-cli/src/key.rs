//! `signet key …`: notary's key commands. Parsing only; the work is in
//! `signet_client::keys::commands`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use signet_client::keys::{ExportFilter, KeyStore, PassphraseEnv, Retriever, commands};

/// notary's `-d` and `-c` before the subcommand (`signet -d DIR key list`).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct TopDirArgs {
    /// Trust directory for client commands. [default: trust_dir from the config file, else
    /// ~/.notary]
    #[arg(
        short = 'd',
        long = "trust-dir",
        visible_alias = "trustDir",
        value_name = "DIR"
    )]
    pub(crate) trust_dir: Option<PathBuf>,
    /// notary client config file for client commands. [default: ~/.notary/config.json]
    #[arg(
        short = 'c',
        long = "config-file",
        visible_alias = "configFile",
        value_name = "FILE"
    )]
    pub(crate) config_file: Option<PathBuf>,
}

/// Where the trust directory is (notary's `-d` and `-c`), anywhere after `key`.
#[derive(Args, Clone, Debug, Default)]
struct TrustDirArgs {
    /// Trust directory (keys, cached metadata). [default: trust_dir from the config file,
    /// else ~/.notary]
    #[arg(
        short = 'd',
        long = "trust-dir",
        visible_alias = "trustDir",
        value_name = "DIR",
        global = true
    )]
    trust_dir: Option<PathBuf>,
    /// notary client config file (JSON; its trust_dir is used). [default:
    /// ~/.notary/config.json, if present]
    #[arg(
        short = 'c',
        long = "config-file",
        visible_alias = "configFile",
        value_name = "FILE",
        global = true
    )]
    config_file: Option<PathBuf>,
}

/// Operates on the private keys of a notary or docker trust directory.
#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    dirs: TrustDirArgs,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Lists keys (ROLE, GUN, KEY ID, LOCATION), as notary prints them.
    List,
    /// Generates a new key. With -o, writes PREFIX-key.pem (encrypted) and PREFIX.pem
    /// (public key) instead of storing it.
    Generate {
        /// ecdsa (default, P-256) or ed25519.
        #[arg(default_value = "ecdsa")]
        algorithm: String,
        /// Role to generate the key for.
        #[arg(short = 'r', long, default_value = "root")]
        role: String,
        /// File name prefix to write the key pair to.
        #[arg(short = 'o', long = "output", value_name = "PREFIX")]
        output: Option<PathBuf>,
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
    /// Removes the key with the given ID, after confirmation.
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
}

/// Runs `signet key …`. `top` holds -d/-c given before the subcommand.
pub(crate) fn run(args: KeyArgs, top: &TopDirArgs) -> anyhow::Result<()> {
    let flag = args.dirs.trust_dir.as_ref().or(top.trust_dir.as_ref());
    let config = args.dirs.config_file.as_ref().or(top.config_file.as_ref());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().context("current directory")?;
    let trust_dir = commands::resolve_trust_dir(
        flag.map(PathBuf::as_path),
        config.map(PathBuf::as_path),
        home.as_deref(),
        &cwd,
    )?;
    let store = KeyStore::new(&trust_dir);
    let retriever = || Retriever::from_process(PassphraseEnv::notary());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        KeyCommand::List => commands::list(&store, &mut out)?,
        KeyCommand::Generate {
            algorithm,
            role,
            output,
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
            commands::remove(&store, &key_id, yes, &mut stdin.lock(), &mut out)?;
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
