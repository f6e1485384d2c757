//! `signet`: one binary for Signet's services and client commands.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
#![forbid(unsafe_code)]
// The subcommands' doc comments are clap's --help text, verbatim: `<state-dir>` and
// `SIGNET_SERVER_<SECTION>_<KEY>` there are placeholders for the terminal, not HTML;
// `IMAGE[:TAG]` is usage syntax, not a link, and URLs are examples for the terminal.
#![allow(
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls
)]

mod key;
mod lazy;
mod notary;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use lazy::Lazy;
use signet_server::Config;
use zeroize::Zeroizing;

/// Container content trust: a Notary v1-compatible trust server and tools.
#[derive(Parser)]
#[command(name = "signet", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    notary: notary::GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

/// The client's subcommands build their arguments only when run (see `lazy`); `server` and
/// `signer` are built at once because their own `--tls-cert`/`--tls-key` share IDs with
/// notary's global `--tlscert`/`--tlskey`.
#[derive(Subcommand)]
enum Command {
    /// Run the trust server (Notary v1 HTTP API).
    ///
    /// Configuration comes from, in increasing priority: defaults, the JSON file given with
    /// --config (notary-server's layout: server, storage, trust_service, auth, caching,
    /// repositories), SIGNET_SERVER_<SECTION>_<KEY> environment variables (for example
    /// SIGNET_SERVER_STORAGE_DB_URL), and these flags.
    ///
    /// The key-encryption passphrase that protects the server's timestamp and snapshot keys
    /// at rest comes from SIGNET_KEY_PASSPHRASE or --key-passphrase-file. Keep it: without it
    /// the server cannot sign for existing repositories. With trust_service.type "remote" a
    /// signer holds those keys instead (signet signer or notary-signer: trust_service.hostname,
    /// port, tls_ca_file, tls_client_cert, tls_client_key, as notary-server takes them) and no
    /// passphrase is needed.
    ///
    /// Without --tls-cert/--tls-key the server makes a local CA and server certificate in
    /// <state-dir>/tls on first run and prints where the CA is, for clients to trust.
    #[command(verbatim_doc_comment)]
    Server(ServerArgs),
    /// Run the signer: a drop-in for notary-signer (its gRPC API over mutual TLS).
    ///
    /// Configuration is notary-signer's JSON file: server.grpc_addr, server.tls_cert_file,
    /// server.tls_key_file, server.client_ca_file (required: only clients with a certificate
    /// from that CA are served), storage.backend (sqlite3, postgres or memory),
    /// storage.db_url and storage.default_alias.
    ///
    /// Keys are sealed at rest under the passphrase of their alias, read from
    /// NOTARY_SIGNER_<ALIAS> (or SIGNET_SIGNER_<ALIAS>), alias upper-cased. With a
    /// "pkcs11" section (module, token_label, pin_file; or the PIN in
    /// SIGNET_SIGNER_PKCS11_PIN) new keys are generated on that PKCS#11 token instead and
    /// never leave it.
    #[command(verbatim_doc_comment)]
    Signer(SignerArgs),
    /// Operates on private keys (notary's `key` commands).
    Key(Lazy<key::KeyArgs>),
    /// Docker content trust: docker's `docker trust` commands (no daemon needed), plus
    /// resolve, root-key and verify.
    ///
    /// Works on docker's trust directory, $DOCKER_CONFIG/trust, so docker and signet share keys
    /// and trust data.
    ///
    /// Environment, as the docker CLI reads it:
    ///   DOCKER_CONFIG                        docker's configuration directory [default: ~/.docker];
    ///                                        keys and trust data live in its trust/ directory,
    ///                                        registry credentials in config.json
    ///   DOCKER_CONTENT_TRUST_SERVER          the Notary server (https://) [default: https://<registry>,
    ///                                        https://notary.docker.io for Docker Hub]
    ///   DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE        passphrase of root keys
    ///   DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE  passphrase of every other key
    ///
    /// The trust server's CA certificates are read from $DOCKER_CONFIG/tls/<host:port>/*.crt (and
    /// a client certificate from <name>.cert + <name>.key there), in addition to the system's.
    /// Unlike docker, the server's certificate is verified for loopback registries too.
    ///
    /// A repository's root key is trusted on first use (with a warning naming it) unless pinned
    /// with --pin-root-key or SIGNET_ROOT_KEY (see `signet trust root-key`).
    #[command(verbatim_doc_comment)]
    Trust(Lazy<trust::TrustArgs>),
    #[command(flatten)]
    Notary(notary::NotaryCommand),
}

#[derive(Args)]
struct SignerArgs {
    /// JSON configuration file (notary-signer layout).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Address to listen on instead of server.grpc_addr; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Args)]
struct ServerArgs {
    /// JSON configuration file (notary-server layout).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port. [default: 127.0.0.1:4443]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Database URL: sqlite:///abs/path.db, sqlite://relative.db, or
    /// postgres://user@host:port/db. [default: sqlite://signet-data/signet.db]
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// TLS certificate chain (PEM). Requires --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM). Requires --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP, for use behind a TLS-terminating proxy.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    plain_http: bool,
    /// Directory for generated state (the local CA). [default: signet-data]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// File holding the key-encryption passphrase (instead of SIGNET_KEY_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// Largest accepted upload, bytes. [default: 67108864]
    #[arg(long, value_name = "BYTES")]
    max_upload_bytes: Option<usize>,
    /// Only serve GUNs starting with this prefix (ends in '/'); repeatable.
    #[arg(long = "gun-prefix", value_name = "PREFIX")]
    gun_prefixes: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    action: Option<ServerAction>,
}

#[derive(Subcommand)]
enum ServerAction {
    /// Write a consistent copy of the SQLite database to DEST, safely while the server
    /// runs (SQLite's VACUUM INTO). Restore by stopping the server and putting the copy in
    /// place of the database file. PostgreSQL: use pg_dump.
    ///
    /// Takes the same --config/--database as the server, before `backup`.
    Backup {
        /// Where to write the copy; must not exist.
        dest: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// A configuration problem: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = match &cli.command {
        Command::Server(args) => matches!(args.log_format, LogFormat::Json),
        Command::Signer(args) => matches!(args.log_format, LogFormat::Json),
        Command::Notary(_) | Command::Key(_) | Command::Trust(_) => false,
    };
    let result = match cli.command {
        Command::Notary(cmd) => {
            return match notary::run(&cli.notary, cmd) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    e.print();
                    ExitCode::from(1)
                }
            };
        }
        Command::Trust(Lazy(args)) => return trust::run(&cli.notary, args),
        Command::Server(args) => server(args),
        Command::Signer(args) => signer(args),
        Command::Key(Lazy(args)) => {
            if let Some(rotation) = args.rotation() {
                return match notary::rotate(&cli.notary, &rotation) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        e.print();
                        ExitCode::from(1)
                    }
                };
            }
            key::run(args, cli.notary.trust_dir(), cli.notary.config_file())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json_logs {
                // Every line JSON, including a failure before logging was set up.
                signet_service::logging::init(signet_service::logging::LogFormat::Json, None);
                tracing::error!(error = %format!("{e:#}"), "signet failed");
            } else {
                eprintln!("signet: error: {e:#}");
            }
            if e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<signet_server::ServerError>()
                    .is_some_and(signet_server::ServerError::is_configuration)
                || e.downcast_ref::<signet_signer::SignerError>()
                    .is_some_and(signet_signer::SignerError::is_configuration)
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn signer(args: SignerArgs) -> anyhow::Result<()> {
    let mut cfg =
        signet_signer::config::SignerConfig::load(&args.config, |k| std::env::var(k).ok())
            .map_err(|e| UsageError(e.to_string()))?;
    if let Some(addr) = args.listen {
        cfg.grpc_addr = addr;
    }
    signet_service::logging::init(
        match args.log_format {
            LogFormat::Text => signet_service::logging::LogFormat::Text,
            LogFormat::Json => signet_service::logging::LogFormat::Json,
        },
        cfg.log_level.as_deref(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let signer = signet_signer::Signer::start(&cfg).await?;
        // The one line on stdout: scripts and tests read the address from it.
        println!("signet signer listening on {}", signer.local_addr());
        let shutdown = signet_service::shutdown::Shutdown::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            signet_service::shutdown::signal().await;
            trigger.trigger();
        });
        signer.run(shutdown).await
    })?;
    Ok(())
}

fn server(args: ServerArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(p) => Config::from_file(p).map_err(|e| UsageError(e.to_string()))?,
        None => Config::default(),
    };
    cfg.apply_env(std::env::vars())
        .map_err(|e| UsageError(e.to_string()))?;
    if let Some(v) = args.listen {
        cfg.server.http_addr = v;
    }
    if let Some(v) = args.database {
        cfg.storage.db_url = v;
    }
    if let (Some(c), Some(k)) = (args.tls_cert, args.tls_key) {
        cfg.server.tls_cert_file = Some(c);
        cfg.server.tls_key_file = Some(k);
    }
    if args.plain_http {
        cfg.server.plain_http = true;
    }
    if let Some(v) = args.state_dir {
        cfg.server.state_dir = v;
    }
    if let Some(v) = args.key_passphrase_file {
        cfg.trust_service.key_passphrase_file = Some(v);
    }
    if let Some(v) = args.max_upload_bytes {
        cfg.server.max_upload_bytes = v;
    }
    if !args.gun_prefixes.is_empty() {
        cfg.repositories.gun_prefixes = args.gun_prefixes;
    }
    cfg.validate().map_err(|e| UsageError(e.to_string()))?;
    signet_service::logging::init(
        match args.log_format {
            LogFormat::Text => signet_service::logging::LogFormat::Text,
            LogFormat::Json => signet_service::logging::LogFormat::Json,
        },
        cfg.logging.level.as_deref(),
    );
    for warning in &cfg.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(ServerAction::Backup { dest }) = &args.action {
        runtime.block_on(signet_server::backup(&cfg, dest))?;
        tracing::info!(backup = %dest.display(), "backup written");
        return Ok(());
    }
    // A remote signer holds the keys: there is nothing to unseal here.
    let passphrase = if cfg.trust_service.is_remote() {
        Zeroizing::new(String::new())
    } else {
        passphrase(&cfg)?
    };

    runtime.block_on(async move {
        signet_server::run(
            cfg,
            passphrase,
            |l| {
                tracing::info!(database = %l.database, "serving the database");
                if let Some(g) = &l.generated_ca {
                    tracing::info!(
                        ca = %g.ca_cert.display(),
                        "TLS certificate from the local CA: trust it in clients (e.g. notary --tlscacert {})",
                        g.ca_cert.display()
                    );
                }
                tracing::info!(addr = %l.addr, scheme = l.scheme, "listening");
                // The one line on stdout: scripts and tests read the address from it.
                println!("signet server listening on {}://{}", l.scheme, l.addr);
            },
            signet_service::shutdown::signal(),
        )
        .await
    })?;
    Ok(())
}

fn passphrase(cfg: &Config) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = &cfg.trust_service.key_passphrase_file {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read the passphrase file {}: {e}",
                path.display()
            ))
        })?);
        return Ok(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    match std::env::var("SIGNET_KEY_PASSPHRASE") {
        Ok(v) if !v.is_empty() => Ok(Zeroizing::new(v)),
        _ => Err(UsageError(
            "no key-encryption passphrase: set SIGNET_KEY_PASSPHRASE or pass --key-passphrase-file \
             (it protects the server's timestamp and snapshot keys at rest)"
                .to_owned(),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_tree_is_valid_with_every_deferred_subcommand_built() {
        // clap's own consistency checks (unique IDs, conflicts, requirements), over the
        // whole tree: `debug_assert` builds every subcommand, the deferred ones included.
        Cli::command().debug_assert();
    }

    #[test]
    fn a_deferred_subcommand_keeps_the_help_text_written_on_it() {
        let mut cmd = Cli::command();
        cmd.build();
        let about = |path: &[&str]| {
            let mut c = &cmd;
            for name in path {
                c = c.find_subcommand(name).expect("subcommand");
            }
            c.get_about().map(ToString::to_string).unwrap_or_default()
        };
        // Each of these types has a doc comment of its own that must not win.
        assert!(
            about(&["trust"]).starts_with("Docker content trust"),
            "{}",
            about(&["trust"])
        );
        assert_eq!(
            about(&["key"]),
            "Operates on private keys (notary's `key` commands)"
        );
        assert_eq!(about(&["delegation"]), "Operates on delegations");
        assert!(about(&["bundle"]).starts_with("Signs a k-of-n update file"));
        assert_eq!(
            about(&["list"]),
            "Lists targets for a remote trusted collection"
        );
    }
}
