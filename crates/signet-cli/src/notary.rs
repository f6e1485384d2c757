//! notary's command set as top-level `signet` commands (`alias notary=signet`): the global
//! options, `list`, `lookup`, `verify`, `delegation list`, `add`, `addhash`, `remove`,
//! `status`, `reset`, `version`. The work happens in `signet_client`; this file parses,
//! prints and picks exit codes.
//!
//! Output is notary 0.7's, byte for byte, on stdout; failures print notary's
//! `\n* fatal: <message>` on stdout too (scripts match on it) and exit 1. Warnings (trust on
//! first use, skipped delegations) go to stderr.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::lazy::Lazy;
use signet_client::changelist::{
    ACTION_CREATE, ACTION_DELETE, ACTION_UPDATE, Change, Changelist, DelegationData,
    SCOPE_ALL_DELEGATIONS, TargetMeta,
};
use signet_client::config::{Overrides, Settings};
use signet_client::keys::{KeyStore, PassphraseEnv, Retriever, StoreKeySource};
use signet_client::publish::{KeySource, Publisher};
use signet_client::{
    Client, ClientError, Credentials, Transport, TrustDirCache, VerifiedRepository,
};
use signet_client::{bundle, commands};
use signet_core::RoleName;

/// notary's global options (also accepted after the subcommand).
#[derive(Args, Debug, Default)]
pub(crate) struct GlobalOpts {
    /// Directory where the trust data is persisted to [default: ~/.notary].
    #[arg(
        short = 'd',
        long = "trustDir",
        alias = "trust-dir",
        global = true,
        value_name = "DIR"
    )]
    trust_dir: Option<PathBuf>,
    /// Path to notary's client configuration file [default: ~/.notary/config.json].
    #[arg(
        long = "configFile",
        alias = "config-file",
        global = true,
        value_name = "FILE"
    )]
    config_file: Option<PathBuf>,
    /// Same as --configFile; before the subcommand only (`signet server -c` is the
    /// server's configuration).
    #[arg(short = 'c', value_name = "FILE", conflicts_with = "config_file")]
    config_file_short: Option<PathBuf>,
    /// Remote trust server location [default: https://notary-server:4443].
    #[arg(short = 's', long = "server", global = true, value_name = "URL")]
    server: Option<String>,
    /// Trust certs signed only by this CA.
    #[arg(long = "tlscacert", global = true, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Path to TLS certificate file (client authentication).
    #[arg(long = "tlscert", global = true, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Path to TLS key file (client authentication).
    #[arg(long = "tlskey", global = true, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Pin the root key (TUF or canonical key ID) for every repository: any other root
    /// fails. Repeatable; also SIGNET_ROOT_KEY (comma-separated).
    #[arg(
        long = "pin-root-key",
        global = true,
        value_name = "KEYID",
        env = "SIGNET_ROOT_KEY",
        value_delimiter = ','
    )]
    pin_root_key: Vec<String>,
    /// Verbose output.
    #[arg(short = 'v', long = "verbose", global = true)]
    verbose: bool,
    /// Debug output.
    #[arg(short = 'D', long = "debug", global = true)]
    debug: bool,
}

/// notary's commands.
#[derive(Subcommand, Debug)]
pub(crate) enum NotaryCommand {
    /// Lists targets for a remote trusted collection.
    List(Lazy<ListArgs>),
    /// Looks up a specific target in a remote trusted collection.
    Lookup(Lazy<LookupArgs>),
    /// Verifies that the content on stdin (or --input) is the target in the remote trusted
    /// collection, and echoes it to stdout (or --output).
    Verify(Lazy<VerifyArgs>),
    /// Operates on delegations.
    #[command(subcommand)]
    Delegation(Lazy<DelegationCommand>),
    /// Adds the file as a target to the local trusted collection (staged).
    Add(Lazy<AddArgs>),
    /// Adds the byte size and hash(es) as a target to the local trusted collection (staged).
    Addhash(Lazy<AddHashArgs>),
    /// Removes a target from the local trusted collection (staged).
    Remove(Lazy<RemoveArgs>),
    /// Displays the unpublished changes to the local trusted collection.
    Status(Lazy<GunArg>),
    /// Resets unpublished changes for the local trusted collection.
    Reset(Lazy<ResetArgs>),
    /// Initializes a trusted collection (keys and root; uploaded by publish or -p).
    Init(Lazy<InitArgs>),
    /// Publishes the local trusted collection's staged changes.
    ///
    /// A role whose threshold needs keys held elsewhere (k-of-n): --export FILE signs with
    /// the keys here and writes the update to FILE; the other holders run `bundle sign
    /// FILE`; then `publish GUN --bundle FILE` uploads it once every role has enough
    /// signatures.
    Publish(Lazy<PublishArgs>),
    /// Signs a k-of-n update file (from `publish --export`) with the keys here, or shows
    /// where its roles stand.
    #[command(subcommand)]
    Bundle(Lazy<BundleCommand>),
    /// Marks roles to be re-signed the next time they're pushed.
    Witness(Lazy<WitnessArgs>),
    /// Deletes all content for a trusted collection (local metadata and staged changes;
    /// with --remote, the server's copy too). Keys are kept.
    Delete(Lazy<DeleteArgs>),
    /// Print the version number.
    Version,
}

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    gun: String,
    /// Root key to initialize the repository with.
    #[arg(long = "rootkey")]
    root_key: Option<PathBuf>,
    /// Root certificate (must match the root key).
    #[arg(long = "rootcert")]
    root_cert: Option<PathBuf>,
    /// Publish right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

/// `delegation ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum DelegationCommand {
    /// Lists delegations for the Global Unique Name.
    List(GunArg),
    /// Adds keys and/or paths to a delegation, creating it if needed (staged).
    ///
    /// Keys are PEM files: X.509 certificates (valid now) or PUBLIC KEY blocks. A new
    /// delegation needs --threshold signatures of its keys (default 1); on an existing one,
    /// --threshold changes it (k-of-n signing; notary cannot do this).
    Add(DelegationAddArgs),
    /// Removes keys and/or paths from a delegation, or (with neither) the whole
    /// delegation after confirmation (staged).
    Remove(DelegationRemoveArgs),
    /// Removes keys (canonical IDs) from every delegation this trust directory can sign
    /// (staged); delegations it cannot sign are left with a warning.
    Purge(DelegationPurgeArgs),
}

#[derive(Args, Debug)]
pub(crate) struct DelegationAddArgs {
    gun: String,
    /// The delegation, e.g. targets/releases.
    role: String,
    /// PEM files holding the public keys (certificates or PUBLIC KEY blocks) to add.
    #[arg(value_name = "PEMFILE")]
    keys: Vec<PathBuf>,
    /// Path prefixes the delegation may sign ("" for all).
    #[arg(long, value_delimiter = ',')]
    paths: Option<Vec<String>>,
    /// Let the delegation sign every path.
    #[arg(long = "all-paths")]
    all_paths: bool,
    /// Signatures of distinct keys the delegation needs (Signet extension).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threshold: Option<u32>,
    /// Publish right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DelegationRemoveArgs {
    gun: String,
    /// The delegation.
    role: String,
    /// Canonical IDs of the keys to remove.
    #[arg(value_name = "KEYID")]
    key_ids: Vec<String>,
    /// Path prefixes to remove.
    #[arg(long, value_delimiter = ',')]
    paths: Option<Vec<String>>,
    /// Remove every path.
    #[arg(long = "all-paths")]
    all_paths: bool,
    /// Answer yes to the removal question (no confirmation).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Publish right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DelegationPurgeArgs {
    gun: String,
    /// Canonical key IDs to remove from every delegation (comma-separated or repeated).
    #[arg(long = "key", value_delimiter = ',')]
    keys: Vec<String>,
    /// Publish right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    gun: String,
    /// Write the signed update to FILE for other key holders instead of publishing it
    /// (the staged changes move into the file).
    #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
    export: Option<PathBuf>,
    /// Publish the update in FILE (from --export, signed by enough holders).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
}

/// `bundle ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum BundleCommand {
    /// Adds the signatures of the keys here to the update in FILE (rewritten in place).
    Sign(BundleFileArg),
    /// Shows how many signatures each role of the update in FILE has and needs.
    Status(BundleFileArg),
}

#[derive(Args, Debug)]
pub(crate) struct BundleFileArg {
    /// The update file (from `publish --export` or `key rotate --export`).
    file: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct WitnessArgs {
    gun: String,
    /// Roles to re-sign (targets or delegations).
    #[arg(required = true)]
    roles: Vec<String>,
    /// Publish right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DeleteArgs {
    gun: String,
    /// Delete the server's trust data for the collection too (needs admin access).
    #[arg(long)]
    remote: bool,
}

#[derive(Args, Debug)]
pub(crate) struct GunArg {
    /// The Globally Unique Name of the collection.
    gun: String,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    gun: String,
    /// Delegation roles to list targets for (will shadow the targets role).
    #[arg(short = 'r', long = "roles", value_delimiter = ',')]
    roles: Vec<String>,
    /// Print JSON instead of the table (Signet extension).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct LookupArgs {
    gun: String,
    target: String,
    /// Print JSON instead of notary's line (Signet extension).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    gun: String,
    target: String,
    /// Read from a file, instead of STDIN.
    #[arg(short = 'i', long = "input")]
    input: Option<PathBuf>,
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// No output except for errors.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AddArgs {
    gun: String,
    target: String,
    file: PathBuf,
    /// Delegation roles to add this target to.
    #[arg(short = 'r', long = "roles", value_delimiter = ',')]
    roles: Vec<String>,
    /// Path to the file containing custom data (JSON) for this target.
    #[arg(long)]
    custom: Option<PathBuf>,
    /// Publish the staged changes right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AddHashArgs {
    gun: String,
    target: String,
    /// Byte size of the target.
    size: String,
    /// Hex encoded sha256 of the target.
    #[arg(long)]
    sha256: Option<String>,
    /// Hex encoded sha512 of the target.
    #[arg(long)]
    sha512: Option<String>,
    /// Delegation roles to add this target to.
    #[arg(short = 'r', long = "roles", value_delimiter = ',')]
    roles: Vec<String>,
    /// Path to the file containing custom data (JSON) for this target.
    #[arg(long)]
    custom: Option<PathBuf>,
    /// Publish the staged changes right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct RemoveArgs {
    gun: String,
    target: String,
    /// Delegation roles to remove this target from.
    #[arg(short = 'r', long = "roles", value_delimiter = ',')]
    roles: Vec<String>,
    /// Publish the staged changes right away.
    #[arg(short = 'p', long = "publish")]
    publish: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ResetArgs {
    gun: String,
    /// Numbers of specific changes to exclusively reset, as shown in status list.
    #[arg(short = 'n', long = "number", value_delimiter = ',')]
    number: Vec<usize>,
    /// Reset all changes shown in the status list.
    #[arg(long)]
    all: bool,
}

/// A failure, printed the way notary prints it.
#[derive(Debug)]
pub(crate) struct Fatal(pub(crate) String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

impl Fatal {
    /// notary's error output: a blank line and `* fatal: <message>` on stdout.
    pub(crate) fn print(&self) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\n* fatal: {}\n", self.0);
        let _ = out.flush();
    }
}

/// notary's wording for the errors scripts look for.
fn fatal(settings: &Settings, e: ClientError) -> Fatal {
    Fatal(match e {
        ClientError::RepositoryNotFound { gun, .. } => {
            // notary names the server by host[:port]
            let host = settings
                .server
                .split_once("://")
                .map_or(settings.server.as_str(), |(_, r)| r);
            let host = host.split('/').next().unwrap_or(host);
            format!("{host} does not have trust data for {gun}")
        }
        ClientError::TargetNotFound { name, .. } => format!("No valid trust data for {name}"),
        ClientError::Refused { message, .. } => message,
        other => {
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(&other);
            while let Some(e) = src {
                let text = e.to_string();
                if !msg.contains(&text) {
                    msg = format!("{msg}: {text}");
                }
                src = e.source();
            }
            msg
        }
    })
}

type Result<T> = std::result::Result<T, Fatal>;

/// Runs a notary command.
impl GlobalOpts {
    /// `-d/--trustDir`, for the other client commands (`signet key`).
    pub(crate) fn trust_dir(&self) -> Option<&Path> {
        self.trust_dir.as_deref()
    }

    /// The log level `-D`/`-v` ask for (default `warn`).
    pub(crate) fn log_level(&self) -> &'static str {
        if self.debug {
            "debug"
        } else if self.verbose {
            "info"
        } else {
            "warn"
        }
    }

    /// Root keys pinned with `--pin-root-key` / `SIGNET_ROOT_KEY`.
    pub(crate) fn pinned_root_keys(&self) -> Vec<String> {
        self.pin_root_key
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The first notary-only server or trust-directory flag given, if any (`signet trust`
    /// takes docker's environment instead).
    pub(crate) fn notary_server_flag(&self) -> Option<&'static str> {
        [
            (self.trust_dir.is_some(), "-d/--trustDir"),
            (
                self.config_file.is_some() || self.config_file_short.is_some(),
                "-c/--configFile",
            ),
            (self.server.is_some(), "-s/--server"),
            (self.tls_ca.is_some(), "--tlscacert"),
            (self.tls_cert.is_some(), "--tlscert"),
            (self.tls_key.is_some(), "--tlskey"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// `--configFile` (or `-c` before the subcommand), for the other client commands.
    pub(crate) fn config_file(&self) -> Option<&Path> {
        self.config_file
            .as_deref()
            .or(self.config_file_short.as_deref())
    }
}

pub(crate) fn run(global: &GlobalOpts, cmd: NotaryCommand) -> Result<()> {
    signet_service::logging::init(
        signet_service::logging::LogFormat::Text,
        Some(global.log_level()),
    );
    if let NotaryCommand::Version = cmd {
        print!(
            "signet\n Version:    {}\n Git commit: {}\n",
            env!("CARGO_PKG_VERSION"),
            option_env!("SIGNET_GIT_COMMIT").unwrap_or("")
        );
        return Ok(());
    }
    let settings = settings(global)?;
    let mut out = String::new();
    match cmd {
        NotaryCommand::Version => {}
        NotaryCommand::List(a) => {
            let roles = parse_roles(&a.roles)?;
            let repo = verify(&settings, &a.gun)?;
            out = if a.json {
                commands::render_targets_json(&commands::list_targets(&repo, &roles))
            } else {
                commands::render_list(&repo, &roles)
            };
            // The process ends after printing: freeing every parsed target one by one
            // (tens of thousands in a large repository) would only cost time.
            std::mem::forget(repo);
        }
        NotaryCommand::Lookup(a) => {
            let repo = verify(&settings, &a.gun)?;
            let t = commands::lookup_target(&repo, &a.target, &[])
                .ok_or_else(|| Fatal(format!("No valid trust data for {}", a.target)))?;
            out = if a.json {
                format!("{}\n", commands::target_json(&t))
            } else {
                commands::render_lookup(&t)
            };
        }
        NotaryCommand::Verify(a) => return verify_cmd(&settings, &a),
        NotaryCommand::Delegation(Lazy(DelegationCommand::List(a))) => {
            let repo = verify(&settings, &a.gun).map_err(|e| {
                Fatal(format!(
                    "Error retrieving delegation roles for repository {}: {}",
                    a.gun, e.0
                ))
            })?;
            out = commands::render_delegations(&commands::delegations(&repo));
        }
        NotaryCommand::Add(a) => {
            let custom = read_custom(a.custom.as_deref())?;
            let bytes =
                std::fs::read(&a.file).map_err(|e| Fatal(format!("{}: {e}", a.file.display())))?;
            let meta = TargetMeta::of(&bytes, custom);
            stage(&settings, &a.gun, &a.roles, |r| {
                Change::add_target(r, &a.target, &meta)
            })?;
            out = format!(
                "Addition of target \"{}\" to repository \"{}\" staged for next publish.\n",
                a.target, a.gun
            );
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Addhash(a) => {
            let (meta, used) = hash_meta(&a)?;
            stage(&settings, &a.gun, &a.roles, |r| {
                Change::add_target(r, &a.target, &meta)
            })?;
            out = format!(
                "Addition of target \"{}\" by {} hash to repository \"{}\" staged for next publish.\n",
                a.target,
                used.join(", "),
                a.gun
            );
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Remove(a) => {
            stage(&settings, &a.gun, &a.roles, |r| {
                Change::remove_target(r, &a.target)
            })?;
            out = format!(
                "Removal of {} from {} staged for next publish.\n",
                a.target, a.gun
            );
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Init(a) => {
            let root_key = match &a.root_key {
                Some(file) => {
                    let store = KeyStore::new(&settings.trust_dir);
                    let mut retriever = Retriever::from_process(PassphraseEnv::notary());
                    let ids = signet_client::keys::commands::import(
                        &store,
                        std::slice::from_ref(file),
                        "root",
                        "",
                        &mut retriever,
                    )
                    .map_err(|e| Fatal(format!("error importing root key: {e}")))?;
                    match ids.as_slice() {
                        [id] => Some(signet_core::KeyId::new(id.clone())),
                        _ => {
                            return Err(Fatal(format!(
                                "{}: expected one private key, found {}",
                                file.display(),
                                ids.len()
                            )));
                        }
                    }
                }
                None => KeyStore::new(&settings.trust_dir)
                    .list()
                    .map_err(|e| Fatal(e.to_string()))?
                    .into_iter()
                    .find(|e| e.role == "root")
                    .map(|e| signet_core::KeyId::new(e.id)),
            };
            if let Some(id) = &root_key {
                println!("Root key found, using: {id}");
            }
            let root_cert = match &a.root_cert {
                Some(file) => {
                    let pem = std::fs::read(file)
                        .map_err(|e| Fatal(format!("{}: {e}", file.display())))?;
                    let block = signet_core::encoding::pem_decode_all(&pem)
                        .and_then(|b| b.into_iter().find(|b| b.label == "CERTIFICATE"))
                        .ok_or_else(|| {
                            Fatal(format!("{}: no PEM certificate found", file.display()))
                        })?;
                    Some(block.contents)
                }
                None => None,
            };
            let publisher = publisher(&settings, &a.gun)?;
            let rt = runtime()?;
            // With a certificate but no key file, the key is the store's key for it.
            let root_key = root_key.filter(|_| a.root_key.is_some() || a.root_cert.is_none());
            rt.block_on(publisher.init_with(
                &a.gun,
                false,
                root_key.as_ref(),
                root_cert.as_deref(),
            ))
            .map_err(|e| fatal(&settings, e))?;
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Bundle(Lazy(cmd)) => out = bundle_cmd(&settings, cmd)?,
        NotaryCommand::Publish(a) if a.export.is_some() => {
            let file = a.export.as_deref().unwrap_or(Path::new(""));
            let publisher = publisher(&settings, &a.gun)?;
            let (bundle, status) = runtime()?
                .block_on(publisher.export(&a.gun))
                .map_err(|e| fatal(&settings, e))?;
            write_bundle(file, &bundle)?;
            out = format!(
                "Wrote the staged changes of {}, signed with the keys here, to {} for the other key holders:\n{}",
                a.gun,
                file.display(),
                bundle::render_status(&status)
            );
        }
        NotaryCommand::Publish(a) => {
            out = format!("Pushing changes to {}\n", a.gun);
            let publisher = publisher(&settings, &a.gun)?;
            print!("{out}");
            out.clear();
            let published = match &a.bundle {
                Some(file) => {
                    let bundle = read_bundle(file)?;
                    if bundle.gun != a.gun {
                        return Err(Fatal(format!(
                            "{} is an update of {}, not {}",
                            file.display(),
                            bundle.gun,
                            a.gun
                        )));
                    }
                    runtime()?.block_on(publisher.publish_bundle(&bundle))
                }
                None => runtime()?.block_on(publisher.publish(&a.gun)),
            }
            .map_err(|e| fatal(&settings, e))?;
            warn_all(&published.warnings);
            out = format!("Successfully published changes for repository {}\n", a.gun);
        }
        NotaryCommand::Delegation(Lazy(DelegationCommand::Add(a))) => {
            out = delegation_add(&settings, &a)?;
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Delegation(Lazy(DelegationCommand::Remove(a))) => {
            out = delegation_remove(&settings, &a)?;
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Delegation(Lazy(DelegationCommand::Purge(a))) => {
            if a.keys.is_empty() {
                return Err(Fatal(
                    "please provide at least one key ID to be removed using the --key flag"
                        .to_owned(),
                ));
            }
            let data = DelegationData {
                remove_keys: a.keys.clone(),
                ..DelegationData::default()
            };
            stage_one(
                &settings,
                &a.gun,
                &Change::delegation(ACTION_UPDATE, SCOPE_ALL_DELEGATIONS, Some(&data)),
            )?;
            out = format!(
                "Removal of the following keys from all delegations in {} staged for next publish:\n\t- {}\n",
                a.gun,
                a.keys.join("\n\t- ")
            );
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Witness(a) => {
            for r in &a.roles {
                if !RoleName::parse(r).is_ok_and(|r| r.is_targets_like()) {
                    return Err(Fatal(format!(
                        "{r} is not a targets role or delegation: only those can be witnessed"
                    )));
                }
            }
            for r in &a.roles {
                stage_one(&settings, &a.gun, &Change::witness(r))?;
            }
            out = format!(
                "The following roles were successfully marked for witnessing on the next publish:\n\t- {}\n",
                a.roles.join("\n\t- ")
            );
            auto_publish(&settings, a.publish, &a.gun, &mut out)?;
        }
        NotaryCommand::Delete(a) => {
            println!("Deleting trust data for repository {}", a.gun);
            let publisher = publisher(&settings, &a.gun)?;
            runtime()?
                .block_on(publisher.delete(&a.gun, a.remote))
                .map_err(|e| fatal(&settings, e))?;
            out = format!(
                "Successfully deleted local{} trust data for repository {}\n",
                if a.remote { " and remote" } else { "" },
                a.gun
            );
        }
        NotaryCommand::Status(a) => {
            let cl = changelist(&settings, &a.gun)?;
            let (entries, bad) = cl.list().map_err(|e| fatal(&settings, e))?;
            warn_unreadable(&bad);
            out = Changelist::render_status(&a.gun, &entries);
        }
        NotaryCommand::Reset(a) => {
            if !a.all && a.number.is_empty() {
                return Err(Fatal(
                    "Must specify changes to reset with -n or the --all flag".to_owned(),
                ));
            }
            let cl = changelist(&settings, &a.gun)?;
            if a.all {
                cl.clear()
            } else {
                cl.remove(&a.number)
            }
            .map_err(|e| fatal(&settings, e))?;
            out = format!(
                "Successfully reset specified changes for repository {}\n",
                a.gun
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Fatal(format!("writing to stdout: {e}")))
}

fn settings(global: &GlobalOpts) -> Result<Settings> {
    let o = Overrides {
        config_file: global
            .config_file
            .clone()
            .or_else(|| global.config_file_short.clone()),
        trust_dir: global.trust_dir.clone(),
        server: global.server.clone(),
        tls_ca: global.tls_ca.clone(),
        tls_cert: global.tls_cert.clone(),
        tls_key: global.tls_key.clone(),
        pinned_root_keys: global
            .pin_root_key
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().map_err(|e| Fatal(format!("working directory: {e}")))?;
    Settings::resolve(&o, home.as_deref(), &cwd).map_err(|e| Fatal(e.to_string()))
}

/// A client for the configured server, caching into the trust directory.
fn client(settings: &Settings, gun: &str) -> Result<Client> {
    let mut tc = settings.transport_config();
    if settings.skip_tls_verify {
        eprintln!("signet: warning: skipTLSVerify is set: the server's certificate is not checked");
    }
    if let Some(auth) = std::env::var("NOTARY_AUTH").ok().filter(|v| !v.is_empty()) {
        tc.credentials =
            Some(Credentials::from_notary_auth(&auth).map_err(|e| fatal(settings, e))?);
    }
    let transport = Transport::new(&tc).map_err(|e| fatal(settings, e))?;
    let pinning = settings.pinning_for(gun).map_err(|e| fatal(settings, e))?;
    Ok(Client::new(
        transport,
        pinning,
        Arc::new(TrustDirCache::new(&settings.trust_dir)),
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("starting the async runtime: {e}")))
}

/// Updates and verifies `gun`, warning on stderr about trust on first use and skipped
/// delegations.
fn verify(settings: &Settings, gun: &str) -> Result<VerifiedRepository> {
    let client = client(settings, gun)?;
    let repo = runtime()?
        .block_on(client.verify_gun(gun))
        .map_err(|e| fatal(settings, e))?;
    if let Some(ids) = &repo.first_use_key_ids {
        let ids: Vec<&str> = ids.iter().map(|k| k.as_str()).collect();
        eprintln!(
            "signet: warning: trusting {gun} on first use: accepted root key {} (pin it with \
             --pin-root-key or trust_pinning to make this explicit)",
            ids.join(", ")
        );
    }
    for (role, err) in &repo.skipped {
        eprintln!("signet: warning: skipping delegation {role}: {err}");
    }
    Ok(repo)
}

fn verify_cmd(settings: &Settings, a: &VerifyArgs) -> Result<()> {
    let payload = match &a.input {
        Some(p) => std::fs::read(p).map_err(|e| Fatal(format!("{}: {e}", p.display())))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Fatal(format!("Error reading content from STDIN: {e}")))?;
            buf
        }
    };
    let repo = verify(settings, &a.gun).map_err(|e| {
        Fatal(format!(
            "error retrieving target by name:{}, error:{}",
            a.target, e.0
        ))
    })?;
    let target = commands::lookup_target(&repo, &a.target, &[]).ok_or_else(|| {
        Fatal(format!(
            "error retrieving target by name:{}, error:No valid trust data for {}",
            a.target, a.target
        ))
    })?;
    commands::check_payload(&target, &payload)
        .map_err(|e| Fatal(format!("data not present in the trusted collection, {e}")))?;
    if a.quiet {
        return Ok(());
    }
    match &a.output {
        Some(p) => write_private(p, &payload).map_err(|e| Fatal(format!("{}: {e}", p.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&payload)
                .and_then(|()| out.flush())
                .map_err(|e| Fatal(format!("writing to stdout: {e}")))
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}

fn parse_roles(roles: &[String]) -> Result<Vec<RoleName>> {
    roles
        .iter()
        .map(|r| RoleName::parse(r).map_err(|e| Fatal(e.to_string())))
        .collect()
}

fn changelist(settings: &Settings, gun: &str) -> Result<Changelist> {
    Changelist::new(&settings.trust_dir, gun).map_err(|e| fatal(settings, e))
}

fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("signet: warning: {w}");
    }
}

fn warn_unreadable(bad: &[(String, String)]) {
    for (file, err) in bad {
        eprintln!("signet: warning: skipping unreadable change {file}: {err}");
    }
}

/// Stages one change per role (default `targets`); roles must be `targets` or
/// delegations, as notary requires.
fn stage(
    settings: &Settings,
    gun: &str,
    roles: &[String],
    make: impl Fn(&str) -> Change,
) -> Result<()> {
    let default = ["targets".to_owned()];
    let roles = if roles.is_empty() {
        &default[..]
    } else {
        roles
    };
    for r in roles {
        let wildcard = r
            .strip_suffix("/*")
            .is_some_and(|p| RoleName::parse(p).is_ok_and(|p| p.is_targets_like()));
        if !wildcard && !RoleName::parse(r).is_ok_and(|r| r.is_targets_like()) {
            return Err(Fatal(format!(
                "tuf: invalid role {r}. cannot add targets to this role"
            )));
        }
    }
    let cl = changelist(settings, gun)?;
    for r in roles {
        cl.add(&make(r), now_nanos())
            .map_err(|e| fatal(settings, e))?;
    }
    Ok(())
}

#[allow(clippy::disallowed_methods)] // change-file names order staged changes, as notary's do; no trust decision
fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn read_custom(path: Option<&Path>) -> Result<Option<serde_json::Value>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).map_err(|e| Fatal(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Fatal(format!("{}: custom data is not JSON: {e}", path.display())))
}

/// notary's `addhash` inputs: size (Go `ParseInt(s, 0, 64)`), hex hashes of the right
/// length, at least one of them.
fn hash_meta(a: &AddHashArgs) -> Result<(TargetMeta, Vec<&'static str>)> {
    if a.sha256.is_none() && a.sha512.is_none() {
        return Err(Fatal(
            "Must specify a GUN, target, byte size of target data, and at least one hash"
                .to_owned(),
        ));
    }
    let s = a.size.as_str();
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    let parsed = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if let Some(b) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        i64::from_str_radix(b, 2)
    } else if let Some(o) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        i64::from_str_radix(o, 8)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<i64>()
    };
    let length = parsed
        .map(|v| if neg { -v } else { v })
        .map_err(|_| Fatal(format!("strconv.ParseInt: parsing {s:?}: invalid syntax")))?;
    let mut hashes = std::collections::BTreeMap::new();
    let mut used = Vec::new();
    for (alg, value, len) in [("sha256", &a.sha256, 64), ("sha512", &a.sha512, 128)] {
        let Some(hex) = value else { continue };
        let bytes = (hex.len() == len)
            .then(|| decode_hex(hex))
            .flatten()
            .ok_or_else(|| Fatal(format!("invalid {alg} hex contents provided")))?;
        hashes.insert(alg.to_owned(), bytes);
        used.push(alg);
    }
    let custom = read_custom(a.custom.as_deref())?;
    Ok((
        TargetMeta {
            length,
            hashes,
            custom,
        },
        used,
    ))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The private-key store of the trust directory (`<trust dir>/private`), with notary's
/// passphrase retriever (`NOTARY_<ROLE>_PASSPHRASE`, else a prompt on a terminal); in front
/// of it the PKCS#11 token `SIGNET_PKCS11_*` names, if any (new keys go there).
fn key_source(settings: &Settings) -> Result<Arc<dyn KeySource>> {
    let files: Arc<dyn KeySource> = Arc::new(StoreKeySource::new(
        KeyStore::new(&settings.trust_dir),
        Retriever::from_process(PassphraseEnv::notary()),
    ));
    crate::key::with_token(files).map_err(|e| Fatal(format!("{e:#}")))
}

fn publisher(settings: &Settings, gun: &str) -> Result<Publisher> {
    Ok(Publisher::new(
        client(settings, gun)?,
        key_source(settings)?,
        &settings.trust_dir,
    ))
}

/// `-p`: publishes right after staging, as notary's auto-publish does.
fn auto_publish(settings: &Settings, publish: bool, gun: &str, out: &mut String) -> Result<()> {
    if !publish {
        return Ok(());
    }
    // What was staged is printed first: staging succeeded whatever happens next.
    out.push_str(&format!("Auto-publishing changes to {gun}\n"));
    print!("{out}");
    out.clear();
    let publisher = publisher(settings, gun)?;
    let published = runtime()?
        .block_on(publisher.publish(gun))
        .map_err(|e| fatal(settings, e))?;
    warn_all(&published.warnings);
    out.push_str(&format!(
        "Successfully published changes for repository {gun}\n"
    ));
    Ok(())
}

/// Stages one change.
fn stage_one(settings: &Settings, gun: &str, change: &Change) -> Result<()> {
    changelist(settings, gun)?
        .add(change, now_nanos())
        .map(|_| ())
        .map_err(|e| fatal(settings, e))
}

fn delegation_role(role: &str) -> Result<RoleName> {
    RoleName::parse(role)
        .ok()
        .filter(RoleName::is_delegation)
        .ok_or_else(|| Fatal(format!("invalid delegation name {role}")))
}

/// notary's `prettyPaths`: sorted, `""` shown as `"" <all paths>`, joined by newlines.
fn pretty_paths(paths: &[String]) -> String {
    let mut p: Vec<String> = paths
        .iter()
        .map(|p| {
            if p.is_empty() {
                "\"\" <all paths>".to_owned()
            } else {
                p.clone()
            }
        })
        .collect();
    p.sort_by(|a, b| {
        // sort the raw values, as notary does, with "" first
        let raw = |s: &String| {
            if s.starts_with("\"\" <") {
                String::new()
            } else {
                s.clone()
            }
        };
        raw(a).cmp(&raw(b))
    });
    p.join("\n")
}

/// `delegation add`: one `create` change with the keys (and threshold), one with the
/// paths, as notary stages them; `--threshold` on an existing delegation also stages an
/// `update` with the new threshold.
fn delegation_add(settings: &Settings, a: &DelegationAddArgs) -> Result<String> {
    let role = delegation_role(&a.role)?;
    let mut paths = a.paths.clone();
    if a.all_paths
        || paths
            .as_ref()
            .is_some_and(|p| p.iter().any(String::is_empty))
    {
        paths = Some(vec![String::new()]);
    }
    if a.keys.is_empty() && paths.is_none() && a.threshold.is_none() {
        return Err(Fatal("must specify the Global Unique Name and the role of the delegation along with the public key certificate paths and/or a list of paths to add".to_owned()));
    }
    let now = signet_service::Clock::system().now();
    let keys = a
        .keys
        .iter()
        .map(|f| read_public_key(f, now))
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<String> = keys.iter().map(|k| k.canonical_id().to_string()).collect();
    let threshold = a.threshold.map_or(0, i64::from);
    if !keys.is_empty() || threshold > 0 {
        let data = DelegationData {
            new_threshold: threshold.max(1),
            add_keys: keys,
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_CREATE, role.as_str(), Some(&data)),
        )?;
    }
    if let Some(p) = &paths {
        let data = DelegationData {
            add_paths: p.clone(),
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_CREATE, role.as_str(), Some(&data)),
        )?;
    }
    if threshold > 0 {
        let data = DelegationData {
            new_threshold: threshold,
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_UPDATE, role.as_str(), Some(&data)),
        )?;
    }
    let mut items = String::new();
    if !ids.is_empty() {
        items.push_str(&format!("with keys [{}], ", ids.join(" ")));
    }
    if let Some(p) = &paths {
        items.push_str(&format!("with paths [{}], ", pretty_paths(p)));
    }
    if threshold > 0 {
        items.push_str(&format!("with threshold {threshold}, "));
    }
    Ok(format!(
        "\nAddition of delegation role {role} {items}to repository \"{}\" staged for next publish.\n\n",
        a.gun
    ))
}

/// `delegation remove`: keys and/or paths, or the whole delegation after confirmation.
fn delegation_remove(settings: &Settings, a: &DelegationRemoveArgs) -> Result<String> {
    let role = delegation_role(&a.role)?;
    let remove_all = a.key_ids.is_empty() && a.paths.is_none() && !a.all_paths;
    let paths = if a.all_paths { None } else { a.paths.clone() };
    let mut out = String::new();
    if remove_all {
        out.push_str("\nAre you sure you want to remove all data for this delegation? (yes/no)\n");
        if a.yes {
            out.push_str("Confirmed `yes` from flag\n");
        } else {
            print!("{out}");
            out.clear();
            let _ = std::io::stdout().flush();
            if !ask_confirm() {
                return Err(Fatal("Aborting action.".to_owned()));
            }
        }
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_DELETE, role.as_str(), None),
        )?;
        out.push_str(&format!(
            "\nForced removal (including all keys and paths) of delegation role {role} to repository \"{}\" staged for next publish.\n\n",
            a.gun
        ));
        return Ok(out);
    }
    if a.all_paths {
        let data = DelegationData {
            clear_all_paths: true,
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_UPDATE, role.as_str(), Some(&data)),
        )?;
    }
    if let Some(p) = paths.as_ref().filter(|p| !p.is_empty()) {
        let data = DelegationData {
            remove_paths: p.clone(),
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_UPDATE, role.as_str(), Some(&data)),
        )?;
    }
    if !a.key_ids.is_empty() {
        let data = DelegationData {
            remove_keys: a.key_ids.clone(),
            ..DelegationData::default()
        };
        stage_one(
            settings,
            &a.gun,
            &Change::delegation(ACTION_UPDATE, role.as_str(), Some(&data)),
        )?;
    }
    let mut items = String::new();
    if !a.key_ids.is_empty() {
        items.push_str(&format!("with keys [{}], ", a.key_ids.join(" ")));
    }
    if a.all_paths {
        items.push_str("with all paths, ");
    }
    if let Some(p) = &paths {
        items.push_str(&format!("with paths [{}], ", pretty_paths(p)));
    }
    out.push_str(&format!(
        "\nRemoval of delegation role {role} {items}to repository \"{}\" staged for next publish.\n\n",
        a.gun
    ));
    Ok(out)
}

/// notary's `askConfirm`: a line from standard input, `y`/`yes` in any case.
fn ask_confirm() -> bool {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `key rotate GUN ROLE [-r] [-y] [--pubkey F…] [--threshold N] [--export FILE]`.
pub(crate) fn rotate(global: &GlobalOpts, r: &crate::key::Rotation<'_>) -> Result<()> {
    let settings = settings(global)?;
    let gun = r.gun;
    let role = RoleName::parse(r.role)
        .ok()
        .filter(|x| !x.is_delegation())
        .ok_or_else(|| {
            Fatal(format!(
                "{} is not a base role (root, targets, snapshot or timestamp)",
                r.role
            ))
        })?;
    let now = signet_service::Clock::system().now();
    let keys = r
        .pubkeys
        .iter()
        .map(|f| read_public_key(f, now))
        .collect::<Result<Vec<_>>>()?;
    if role == RoleName::root() {
        print!(
            "Warning: you are about to rotate your root key.\n\nYou must use your old key to sign this root rotation.\nAre you sure you want to proceed?  (yes/no)  "
        );
        let _ = std::io::stdout().flush();
        if r.yes {
            println!();
        } else if !ask_confirm() {
            println!("\nAborting action.");
            return Ok(());
        }
    }
    let publisher = publisher(&settings, gun)?;
    let rt = runtime()?;
    let entry = rt
        .block_on(publisher.rotation(
            gun,
            &role,
            r.server_managed,
            keys,
            r.threshold.map_or(0, i64::from),
        ))
        .map_err(|e| fatal(&settings, e))?;
    if let Some(file) = r.export {
        let (bundle, status) = rt
            .block_on(publisher.export_changes(gun, std::slice::from_ref(&entry)))
            .map_err(|e| fatal(&settings, e))?;
        write_bundle(file, &bundle)?;
        print!(
            "Wrote the rotation of the {role} key of {gun} to {} for the other key holders:\n{}",
            file.display(),
            bundle::render_status(&status)
        );
        return Ok(());
    }
    rt.block_on(publisher.publish_changes(gun, std::slice::from_ref(&entry)))
        .map_err(|e| fatal(&settings, e))?;
    println!("Successfully rotated {role} key for repository {gun}");
    Ok(())
}

/// A public key from a PEM file (certificate or PUBLIC KEY), as `delegation add` reads
/// them.
fn read_public_key(f: &Path, now: signet_core::UnixTime) -> Result<signet_core::PublicKey> {
    let bytes = std::fs::read(f).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Fatal(format!(
                "file for public key does not exist: {}",
                f.display()
            ))
        } else {
            Fatal(format!(
                "unable to read public key from file: {}",
                f.display()
            ))
        }
    })?;
    signet_core::PublicKey::from_pem(&bytes, now).map_err(|e| {
        Fatal(format!(
            "unable to parse valid public key certificate from PEM file {}: {e}",
            f.display()
        ))
    })
}

/// Writes a bundle file (0600, through a temporary file).
fn write_bundle(path: &Path, bundle: &bundle::Bundle) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write_private(&tmp, &bundle.to_bytes())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Fatal(format!("{}: {e}", path.display())))
}

fn read_bundle(path: &Path) -> Result<bundle::Bundle> {
    let bytes = std::fs::read(path).map_err(|e| Fatal(format!("{}: {e}", path.display())))?;
    bundle::Bundle::from_bytes(&bytes).map_err(|e| Fatal(format!("{}: {e}", path.display())))
}

/// `bundle sign FILE` / `bundle status FILE`.
fn bundle_cmd(settings: &Settings, cmd: BundleCommand) -> Result<String> {
    let (file, sign) = match &cmd {
        BundleCommand::Sign(a) => (&a.file, true),
        BundleCommand::Status(a) => (&a.file, false),
    };
    let bundle = read_bundle(file)?;
    let publisher = publisher(settings, &bundle.gun)?;
    let rt = runtime()?;
    if !sign {
        let status = rt
            .block_on(publisher.bundle_status(&bundle))
            .map_err(|e| fatal(settings, e))?;
        return Ok(format!(
            "Update of {}:\n{}",
            bundle.gun,
            bundle::render_status(&status)
        ));
    }
    let (signed, status, added) = rt
        .block_on(publisher.cosign(&bundle))
        .map_err(|e| fatal(settings, e))?;
    if added == 0 {
        return Err(Fatal(format!(
            "none of the keys here signs what {} still lacks:\n{}",
            file.display(),
            bundle::render_status(&status)
        )));
    }
    write_bundle(file, &signed)?;
    Ok(format!(
        "Added {added} signature(s) to {}:\n{}",
        file.display(),
        bundle::render_status(&status)
    ))
}
