//! `signet trust …`: docker's content-trust commands (`docker trust`, removed in docker
//! CLI 29), on docker's trust directory and environment, with no docker daemon, plus
//! `resolve`, `root-key` and `verify` for CI and admission. The work is in
//! `signet_client::docker` and `signet_client::registry`; this file reads docker's
//! environment, parses, prints and picks exit codes.
//!
//! Output on stdout and messages on stderr are docker CLI 28's where docker has the
//! command; failures exit 1.

use std::collections::BTreeSet;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use signet_client::changelist::TargetMeta;
use signet_client::docker::{self, TrustInfo, Verified};
use signet_client::keys::{KeyStore, PassphraseEnv, Retriever, StoreKeySource};
use signet_client::publish::Publisher;
use signet_client::registry::{DockerConfig, ImageRef, Registry};
use signet_client::{
    Client, ClientError, Pinning, Transport, TransportConfig, TrustDirCache, VerifiedRepository,
};
use signet_core::{KeyId, PublicKey, RoleName};

use crate::notary::GlobalOpts;

/// `signet trust`'s arguments (the help text is on `Command::Trust` in main.rs).
#[derive(Args, Debug)]
pub(crate) struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Subcommand, Debug)]
enum TrustCommand {
    /// Return low-level information about keys and signatures (docker's JSON, or tables
    /// with --pretty).
    ///
    /// For IMAGE:TAG only that tag's signatures are shown; for IMAGE every signed tag.
    /// Signed tags are those signed into targets/releases or targets (what docker pulls);
    /// signers are the delegations and their keys; administrative keys are the root and
    /// repository (targets) keys.
    Inspect {
        /// Print the information in a human friendly format.
        #[arg(long)]
        pretty: bool,
        /// Images to inspect.
        #[arg(required = true, value_name = "IMAGE[:TAG]")]
        images: Vec<String>,
    },
    /// Manage keys for signing Docker images.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign an image (the tag's manifest, as the registry serves it).
    ///
    /// Signs IMAGE:TAG into targets/releases and your signer's own delegation.
    ///
    /// Reads the digest and size of IMAGE:TAG from the registry (Docker v2 manifest, OCI
    /// manifest, manifest list or OCI index; credentials from $DOCKER_CONFIG/config.json); no
    /// docker daemon is involved and nothing is pushed to the registry. A multi-arch tag is
    /// signed by the digest of its index.
    ///
    /// On a repository with no trust data yet, initializes it (root key: the first one in
    /// the trust dir, else a new one; the server manages the snapshot key) with a signer
    /// named after your registry user (or --signer) in targets/<signer> and
    /// targets/releases. As docker, a tag that is already signed is signed again with the
    /// same digest (adding your signature); --local signs what the registry serves now.
    ///
    /// The target goes to every delegation directly under targets whose key you hold, or to
    /// targets when the repository has no delegations.
    #[command(verbatim_doc_comment)]
    Sign {
        /// Sign the tag as the registry serves it now, even if it is already signed with
        /// another digest (docker: sign the local image).
        #[arg(long)]
        local: bool,
        /// The signer to create on a repository with no trust data [default: your registry
        /// user name] (Signet extension).
        #[arg(long, value_name = "NAME")]
        signer: Option<String>,
        /// The image to sign.
        #[arg(value_name = "IMAGE:TAG")]
        image: String,
    },
    /// Manage entities who can sign Docker images.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Remove trust for an image.
    ///
    /// Removes the tag's signature (or, without a tag, every signed tag's, after
    /// confirmation) from every delegation directly under targets whose key you hold (or
    /// from targets when there are no delegations), and publishes.
    #[command(verbatim_doc_comment)]
    Revoke {
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// The image.
        #[arg(value_name = "IMAGE[:TAG]")]
        image: String,
    },
    /// Print the verified IMAGE:TAG@sha256:<digest> to pull or deploy (fails closed).
    ///
    /// The digest is the one signed for the tag under docker's rule (targets/releases, else
    /// targets), read from the trust server and verified; the registry is not contacted.
    /// With IMAGE:TAG@sha256:<digest>, fails unless that digest is the signed one. Use it
    /// to pin what CI deploys:
    ///
    ///   docker pull "$(signet trust resolve registry.example.com/app:1.2)"
    ///   kubectl set image deploy/app app="$(signet trust resolve registry.example.com/app:1.2)"
    #[command(verbatim_doc_comment)]
    Resolve {
        /// Print a JSON object (image, name, tag, digest, size, role, reference).
        #[arg(long)]
        json: bool,
        /// The image; the tag defaults to latest.
        #[arg(value_name = "IMAGE[:TAG][@DIGEST]")]
        image: String,
    },
    /// Print the public root key of an image's trust data, to pin it.
    ///
    /// Prints the root key as a PEM public key (what Connaisseur's trust roots and other
    /// verifiers take), and on stderr its key ID. With --id, prints only the key ID, for
    /// `signet --pin-root-key <id>` or SIGNET_ROOT_KEY: the ID of the bare public key, which
    /// stays the same when the root certificate is renewed. Check the key out of band the
    /// first time: this command trusts the server on first use, as every TOFU client does.
    #[command(verbatim_doc_comment)]
    RootKey {
        /// Print the key ID(s) only.
        #[arg(long)]
        id: bool,
        /// The image (any tag is ignored).
        #[arg(value_name = "IMAGE")]
        image: String,
    },
    /// Verify an image against its trust data and the registry (fails closed).
    ///
    ///   IMAGE[:TAG]        the tag (default latest) is signed, and the registry serves exactly
    ///                      the signed manifest for it; a multi-arch tag is checked by the
    ///                      digest and length of its index (manifest list / OCI index)
    ///   IMAGE@sha256:D     D is signed for some tag, or is a platform manifest that a signed
    ///                      index lists (the index is read from the registry and must hash to
    ///                      its signed digest)
    ///   IMAGE:TAG@sha256:D D is signed for TAG, or listed by TAG's signed index
    ///
    /// Registry credentials come from $DOCKER_CONFIG/config.json; loopback registries are
    /// reached over plain HTTP, all others over HTTPS.
    #[command(verbatim_doc_comment)]
    Verify {
        /// The image.
        #[arg(value_name = "IMAGE[:TAG|@DIGEST]")]
        image: String,
    },
}

#[derive(Subcommand, Debug)]
enum SignerCommand {
    /// Add a signer.
    ///
    /// Creates the delegation targets/NAME with the given public keys and adds the keys to
    /// targets/releases (both for all paths), initializing repositories that have no trust
    /// data yet. Publish rights on the trust server are needed; signing keys are not.
    #[command(verbatim_doc_comment)]
    Add {
        /// Path to the signer's public key file (PEM public key or certificate); repeatable.
        #[arg(long = "key", value_name = "PUBKEY")]
        keys: Vec<PathBuf>,
        /// The signer's name.
        name: String,
        /// Repositories to add the signer to.
        #[arg(required = true, value_name = "REPOSITORY")]
        repos: Vec<String>,
    },
    /// Remove a signer.
    ///
    /// Removes the delegation targets/NAME and its keys from targets/releases. Removing the
    /// signer whose signature keeps targets/releases valid makes the repository unpullable:
    /// that asks for confirmation unless -f. (docker CLI 27 and 28 remove nothing unless it
    /// is that last signer; Signet removes the signer asked for, as docker 20.10 did.)
    #[command(verbatim_doc_comment)]
    Remove {
        /// Do not prompt for confirmation before removing the most recent signer.
        #[arg(short = 'f', long)]
        force: bool,
        /// The signer's name.
        name: String,
        /// Repositories to remove the signer from.
        #[arg(required = true, value_name = "REPOSITORY")]
        repos: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Generate and load a signing key-pair.
    ///
    /// The private key (P-256) goes into $DOCKER_CONFIG/trust/private, encrypted with
    /// DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE (or a prompted passphrase); the public key
    /// is written to NAME.pub, for `signet trust signer add --key NAME.pub NAME IMAGE`.
    Generate {
        /// The signer's name: lower-case letters, digits, '-' and '_'.
        name: String,
        /// Directory to generate key in, defaults to current directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Load a private key file for signing.
    ///
    /// The file must not be readable or writable by group or others. The key is stored in
    /// $DOCKER_CONFIG/trust/private under the signer name (unless its PEM names a role).
    Load {
        /// The private key file (PEM, encrypted or not).
        #[arg(value_name = "KEYFILE")]
        file: PathBuf,
        /// Name for the loaded key.
        #[arg(long, default_value = "signer")]
        name: String,
    },
}

/// Runs `signet trust …`; errors are printed as docker prints them (the message alone).
pub(crate) fn run(global: &GlobalOpts, args: TrustArgs) -> ExitCode {
    signet_service::logging::init(
        signet_service::logging::LogFormat::Text,
        Some(global.log_level()),
    );
    match dispatch(global, args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(global: &GlobalOpts, cmd: TrustCommand) -> anyhow::Result<()> {
    if let Some(flag) = global.notary_server_flag() {
        bail!(
            "{flag} does not apply to `signet trust`: it uses docker's environment \
             (DOCKER_CONTENT_TRUST_SERVER, $DOCKER_CONFIG/trust, $DOCKER_CONFIG/tls/<host>/)"
        );
    }
    let env = DockerEnv::from_process(global)?;
    match cmd {
        TrustCommand::Inspect { pretty, images } => inspect(&env, pretty, &images),
        TrustCommand::Key(KeyCommand::Generate { name, dir }) => key_generate(&env, &name, dir),
        TrustCommand::Key(KeyCommand::Load { file, name }) => key_load(&env, &file, &name),
        TrustCommand::Resolve { json, image } => resolve(&env, &image, json),
        TrustCommand::RootKey { id, image } => root_key(&env, &image, id),
        TrustCommand::Verify { image } => verify(&env, &image),
        TrustCommand::Sign {
            local,
            signer,
            image,
        } => sign(&env, &image, local, signer.as_deref()),
        TrustCommand::Signer(SignerCommand::Add { keys, name, repos }) => {
            signer_add(&env, &name, &keys, &repos)
        }
        TrustCommand::Signer(SignerCommand::Remove { force, name, repos }) => {
            signer_remove(&env, &name, &repos, force)
        }
        TrustCommand::Revoke { yes, image } => revoke(&env, &image, yes),
    }
}

/// docker's environment, resolved once.
struct DockerEnv {
    docker: DockerConfig,
    server_override: Option<String>,
    pinned: Vec<String>,
}

impl DockerEnv {
    fn from_process(global: &GlobalOpts) -> anyhow::Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let docker = DockerConfig::locate(
            std::env::var_os("DOCKER_CONFIG").as_deref(),
            home.as_deref(),
        );
        let server_override = std::env::var("DOCKER_CONTENT_TRUST_SERVER")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(s) = &server_override {
            let host = s.strip_prefix("https://").unwrap_or_default();
            if host.is_empty() || host.starts_with('/') {
                bail!("valid https URL required for trust server, got {s}");
            }
        }
        Ok(Self {
            docker,
            server_override,
            pinned: global.pinned_root_keys(),
        })
    }

    fn trust_dir(&self) -> PathBuf {
        self.docker.trust_dir()
    }

    fn key_store(&self) -> KeyStore {
        KeyStore::new(self.trust_dir())
    }

    fn retriever() -> Retriever {
        Retriever::from_process(PassphraseEnv::docker())
    }

    /// The trust server of `image`: `DOCKER_CONTENT_TRUST_SERVER`, else docker's default.
    fn server(&self, image: &ImageRef) -> String {
        self.server_override
            .clone()
            .unwrap_or_else(|| image.default_trust_server())
    }

    /// A verifying client for `image`'s trust data, as docker reaches the server: system
    /// roots plus `$DOCKER_CONFIG/tls/<host:port>/`, the registry's credentials for token
    /// auth, docker's trust directory as the cache.
    fn client(&self, image: &ImageRef) -> anyhow::Result<Client> {
        let server = self.server(image);
        let host = server
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or_default();
        let tls = DockerConfig::tls_material(&self.docker.tls_dir(host))?;
        let mut config = TransportConfig::new(server.clone(), None);
        config.system_roots = true;
        config.ca_pem = tls.ca_pem;
        config.client_identity = tls.client_identity;
        config.credentials = match self.docker.credentials(image.auth_key()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("signet: warning: no registry credentials for the trust server: {e}");
                None
            }
        };
        let transport = Transport::new(&config)?;
        let pinning = if self.pinned.is_empty() {
            Pinning::Tofu
        } else {
            Pinning::Keys(self.pinned.iter().map(KeyId::new).collect())
        };
        Ok(Client::new(
            transport,
            pinning,
            Arc::new(TrustDirCache::new(self.trust_dir())),
        ))
    }

    /// A publisher for `image`'s repository: the verifying client, the trust directory's
    /// keys (docker's passphrase variables), the trust directory as cache.
    fn publisher(&self, image: &ImageRef) -> anyhow::Result<Publisher> {
        Ok(Publisher::new(
            self.client(image)?,
            Arc::new(StoreKeySource::new(self.key_store(), Self::retriever())),
            &self.trust_dir(),
        ))
    }

    /// The canonical IDs of every key in the trust directory.
    fn held_key_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(self.key_store().list()?.into_iter().map(|e| e.id).collect())
    }

    /// The registry of `image`, with TLS material from docker's places for it.
    fn registry(&self, image: &ImageRef) -> anyhow::Result<Registry> {
        let docker_tls = self.docker.tls_dir(image.domain());
        let daemon_tls = Path::new("/etc/docker/certs.d").join(image.domain());
        Ok(Registry::connect(
            image,
            &self.docker,
            &[&docker_tls, &daemon_tls],
        )?)
    }

    /// Updates and verifies the trust data of `image`, warning on stderr about trust on
    /// first use (the client library warns about skipped delegations).
    fn verify_repo(&self, image: &ImageRef) -> Result<VerifiedRepository, anyhow::Error> {
        let client = self.client(image)?;
        let gun = image.name();
        let repo = runtime()?.block_on(client.verify_gun(&gun))?;
        warn_about(&gun, &repo);
        Ok(repo)
    }
}

fn warn_about(gun: &str, repo: &VerifiedRepository) {
    if let Some(ids) = &repo.first_use_key_ids {
        let ids: Vec<&str> = ids.iter().map(|k| k.as_str()).collect();
        eprintln!(
            "signet: warning: trusting {gun} on first use: accepted root key {} (pin it with \
             --pin-root-key; see `signet trust root-key`)",
            ids.join(", ")
        );
    }
    // skipped delegations are reported by the client library's own warning
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn print(out: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

/// The tag docker inspects for a reference: its tag, unless it also has a digest.
fn inspect_tag(image: &ImageRef) -> Option<&str> {
    if image.digest().is_some() {
        None
    } else {
        image.tag()
    }
}

/// One repository's inspect data, or docker's error for it.
fn trust_info(env: &DockerEnv, remote: &str) -> anyhow::Result<TrustInfo> {
    let image = ImageRef::parse(remote).map_err(|e| anyhow!("{}", e.reason))?;
    match env.verify_repo(&image) {
        Ok(repo) => Ok(docker::trust_info(&repo, inspect_tag(&image))),
        Err(e) => {
            let missing = e
                .downcast_ref::<ClientError>()
                .is_some_and(|c| matches!(c, ClientError::RepositoryNotFound { .. }));
            if missing {
                Err(anyhow!("no signatures or cannot access {remote}"))
            } else {
                Err(anyhow!("no signatures or cannot access {remote}: {e:#}"))
            }
        }
    }
}

fn inspect(env: &DockerEnv, pretty: bool, remotes: &[String]) -> anyhow::Result<()> {
    if pretty {
        for (i, remote) in remotes.iter().enumerate() {
            let info = trust_info(env, remote)?;
            print(&docker::render_inspect_pretty(remote, &info))?;
            if i + 1 < remotes.len() {
                print("\n\n")?;
            }
        }
        return Ok(());
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for remote in remotes {
        match trust_info(env, remote) {
            Ok(info) => found.push((remote.as_str(), info)),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let entries: Vec<(&str, &TrustInfo)> = found.iter().map(|(r, i)| (*r, i)).collect();
    print(&docker::render_inspect_json(&entries))?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

fn key_generate(env: &DockerEnv, name: &str, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_dir().context("current directory")?,
    };
    let path = docker::signer_key_path(name, &dir)?;
    print(&format!("Generating key for {name}...\n"))?;
    docker::generate_signer_key(&env.key_store(), name, &path, &mut DockerEnv::retriever())
        .map_err(|e| anyhow!("failed to generate key for {name}: {e}"))?;
    print(&format!(
        "Successfully generated and loaded private key. Corresponding public key available: {}\n",
        path.display()
    ))
}

fn key_load(env: &DockerEnv, file: &Path, name: &str) -> anyhow::Result<()> {
    if docker::is_valid_signer_name(name) {
        print(&format!("Loading key from \"{}\"...\n", file.display()))?;
    }
    docker::load_signer_key(&env.key_store(), file, name, &mut DockerEnv::retriever())?;
    print(&format!(
        "Successfully imported key from {}\n",
        file.display()
    ))
}

/// The repository part of `input` as typed (without `:tag` and `@digest`).
fn typed_repository(input: &str) -> &str {
    let no_digest = input.split('@').next().unwrap_or(input);
    match no_digest.rsplit_once('/') {
        Some((dir, last)) => match last.split_once(':') {
            Some((base, _)) => &no_digest[..dir.len() + 1 + base.len()],
            None => no_digest,
        },
        None => no_digest.split(':').next().unwrap_or(no_digest),
    }
}

/// Parses an image reference; the error is docker's message alone.
fn parse_image(input: &str) -> anyhow::Result<ImageRef> {
    ImageRef::parse(input).map_err(|e| anyhow!(e.reason))
}

fn resolve(env: &DockerEnv, input: &str, json: bool) -> anyhow::Result<()> {
    let image = parse_image(input)?;
    let tag = image.tag().unwrap_or("latest");
    let name = image.name();
    let repo = env.verify_repo(&image).with_context(|| name.clone())?;
    let (digest, size, role) = docker::signed_digest(&repo, &name, tag)?;
    if let Some(given) = image.digest()
        && *given != digest
    {
        return Err(docker::VerifyImageError::OtherDigest {
            name,
            tag: tag.to_owned(),
            signed: digest,
            given: *given,
        }
        .into());
    }
    let reference = format!("{}:{tag}@{digest}", typed_repository(input));
    if json {
        let v = serde_json::json!({
            "image": typed_repository(input),
            "name": name,
            "tag": tag,
            "digest": digest.to_string(),
            "size": size,
            "role": role.as_str(),
            "reference": reference,
        });
        print(&format!("{v}\n"))
    } else {
        print(&format!("{reference}\n"))
    }
}

fn root_key(env: &DockerEnv, input: &str, id_only: bool) -> anyhow::Result<()> {
    let image = parse_image(input)?;
    let name = image.name();
    let repo = env.verify_repo(&image).with_context(|| name.clone())?;
    let keys = docker::root_keys(&repo);
    if keys.is_empty() {
        bail!("{name}: the root role lists no usable key");
    }
    let mut out = String::new();
    for k in &keys {
        if id_only {
            out.push_str(&k.canonical_id);
            out.push('\n');
        } else {
            out.push_str(&k.pem);
            eprintln!(
                "signet: root key of {name}: {} (pin with --pin-root-key {})",
                k.canonical_id, k.canonical_id
            );
        }
    }
    print(&out)
}

fn verify(env: &DockerEnv, input: &str) -> anyhow::Result<()> {
    let image = parse_image(input)?;
    let name = image.name();
    let repo = env.verify_repo(&image).with_context(|| name.clone())?;
    let registry = env.registry(&image)?;
    let rt = runtime()?;
    let verified = match (image.tag(), image.digest()) {
        (tag, None) => rt.block_on(docker::verify_tag(
            &repo,
            &registry,
            &image,
            tag.unwrap_or("latest"),
        ))?,
        (tag, Some(d)) => rt.block_on(docker::verify_digest(&repo, &registry, &image, d, tag))?,
    };
    let repo_text = typed_repository(input);
    let line = match verified {
        Verified::Signed {
            tag,
            digest,
            media_type,
            role,
            platforms,
        } => {
            let mut s = format!("{repo_text}:{tag}@{digest}: signed in {role}");
            if let Some(mt) = media_type {
                s.push_str(&format!("; the registry serves it ({mt}"));
                if !platforms.is_empty() {
                    s.push_str(&format!(", platforms {}", platforms.join(" ")));
                }
                s.push(')');
            }
            s
        }
        Verified::ListedBy {
            tag,
            index,
            platform,
            digest,
        } => format!(
            "{repo_text}@{digest}: listed{} by the signed index {repo_text}:{tag}@{index}",
            platform.map(|p| format!(" for {p}")).unwrap_or_default()
        ),
        _ => format!("{repo_text}: verified"),
    };
    print(&format!("{line}\n"))
}

/// docker's `prompt.Confirm`: the question and " [y/N] " on stdout, one line from stdin;
/// only "y" (any case, spaces around) is yes; end of input is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    print(&format!("{question} [y/N] "))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("signet: warning: {w}");
    }
}

/// notary's message for a repository the server does not have.
fn not_exist(env: &DockerEnv, image: &ImageRef) -> String {
    let server = env.server(image);
    let host = server.trim_start_matches("https://");
    format!("{host} does not have trust data for {}", image.name())
}

/// Verifies `image`'s repository for a write: `None` when the server has no trust data.
fn repo_for_write(
    env: &DockerEnv,
    rt: &tokio::runtime::Runtime,
    image: &ImageRef,
) -> anyhow::Result<Option<VerifiedRepository>> {
    let client = env.client(image)?;
    match rt.block_on(client.verify_gun(&image.name())) {
        Ok(repo) => {
            warn_about(&image.name(), &repo);
            Ok(Some(repo))
        }
        Err(ClientError::RepositoryNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads docker's public key files (`--key`).
fn read_public_keys(files: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    let now = signet_service::Clock::system().now();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| {
                let what = if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".to_owned()
                } else {
                    e.to_string()
                };
                anyhow!(
                    "unable to read public key from file: open {}: {what}",
                    f.display()
                )
            })?;
            PublicKey::from_pem(&bytes, now).map_err(|e| {
                // docker's words when there is no PEM block at all
                let e = if e == "no PEM block found" || e == "malformed PEM" {
                    "no valid public key found".to_owned()
                } else {
                    e
                };
                anyhow!("could not parse public key from file: {}: {e}", f.display())
            })
        })
        .collect()
}

fn signer_role(name: &str) -> anyhow::Result<RoleName> {
    RoleName::parse(&format!("targets/{name}"))
        .map_err(|e| anyhow!("invalid signer name {name:?}: {e}"))
}

fn signer_add(
    env: &DockerEnv,
    name: &str,
    key_files: &[PathBuf],
    repos: &[String],
) -> anyhow::Result<()> {
    if !docker::is_valid_signer_name(name) {
        bail!(
            "signer name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character"
        );
    }
    if name == "releases" {
        bail!("releases is a reserved keyword, use a different signer name");
    }
    if key_files.is_empty() {
        bail!("path to a public key must be provided using the `--key` flag");
    }
    let keys = read_public_keys(key_files)?;
    let role = signer_role(name)?;
    let mut failed = Vec::new();
    for repo in repos {
        print(&format!("Adding signer \"{name}\" to {repo}...\n"))?;
        match add_signer_to_repo(env, &role, repo, &keys) {
            Ok(()) => print(&format!("Successfully added signer: {name} to {repo}\n\n"))?,
            Err(e) => {
                eprintln!("{e:#}\n");
                failed.push(repo.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("failed to add signer to: {}", failed.join(", ")))
    }
}

fn add_signer_to_repo(
    env: &DockerEnv,
    role: &RoleName,
    repo: &str,
    keys: &[PublicKey],
) -> anyhow::Result<()> {
    let image = parse_image(repo)?;
    let gun = image.name();
    let rt = runtime()?;
    let publisher = env.publisher(&image)?;
    if repo_for_write(env, &rt, &image)?.is_none() {
        print(&format!("Initializing signed repository for {repo}...\n"))?;
        rt.block_on(publisher.init(&gun, true))?;
        print(&format!("Successfully initialized \"{repo}\"\n"))?;
    }
    let entries = docker::entries(docker::add_signer_changes(role, keys));
    let published = rt.block_on(publisher.publish_changes(&gun, &entries))?;
    warn_all(&published.warnings);
    Ok(())
}

fn signer_remove(env: &DockerEnv, name: &str, repos: &[String], force: bool) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for repo in repos {
        print(&format!("Removing signer \"{name}\" from {repo}...\n"))?;
        if let Err(e) = remove_signer_from_repo(env, name, repo, force) {
            eprintln!("{e:#}\n");
            failed.push(repo.as_str());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("error removing signer from: {}", failed.join(", ")))
    }
}

fn remove_signer_from_repo(
    env: &DockerEnv,
    name: &str,
    repo_name: &str,
    force: bool,
) -> anyhow::Result<()> {
    let image = parse_image(repo_name)?;
    if name == "releases" {
        bail!("releases is a reserved keyword and cannot be removed");
    }
    let role = signer_role(name)?;
    let gun = image.name();
    let rt = runtime()?;
    let repo = match repo_for_write(env, &rt, &image) {
        Ok(Some(repo)) => repo,
        Ok(None) => bail!(
            "error retrieving signers for {repo_name}: {}",
            not_exist(env, &image)
        ),
        Err(e) => return Err(e.context(format!("error retrieving signers for {repo_name}"))),
    };
    let delegation = docker::delegations(&repo)
        .ok_or_else(|| anyhow!("error retrieving signers for {repo_name}"))?
        .into_iter()
        .find(|d| d.role == role.as_str())
        .ok_or_else(|| anyhow!("no signer {name} for repository {repo_name}"))?;
    let last = docker::is_last_signer(&repo, &delegation.key_ids).map_err(|e| anyhow!(e))?;
    if last && !force {
        let question = format!(
            "The signer \"{name}\" signed the last released version of {repo_name}. Removing \
             this signer will make {repo_name} unpullable. Are you sure you want to continue?"
        );
        if !confirm(&question)? {
            return Ok(());
        }
    }
    let entries = docker::entries(docker::remove_signer_changes(&role, &delegation.key_ids));
    let published = rt.block_on(env.publisher(&image)?.publish_changes(&gun, &entries))?;
    warn_all(&published.warnings);
    print(&format!("Successfully removed {name} from {repo_name}\n\n"))
}

fn revoke(env: &DockerEnv, remote: &str, yes: bool) -> anyhow::Result<()> {
    let image = parse_image(remote)?;
    let tag = match (image.tag(), image.digest()) {
        (_, Some(_)) => bail!("cannot use a digest reference for IMAGE:TAG"),
        (tag, None) => tag,
    };
    if tag.is_none()
        && !yes
        && !confirm(&format!(
            "Confirm you would like to delete all signature data for {remote}?"
        ))?
    {
        bail!("trust revoke has been cancelled");
    }
    revoke_tags(env, &image, tag)
        .with_context(|| format!("could not remove signature for {remote}"))?;
    print(&format!("Successfully deleted signature for {remote}\n"))
}

fn revoke_tags(env: &DockerEnv, image: &ImageRef, tag: Option<&str>) -> anyhow::Result<()> {
    let gun = image.name();
    let rt = runtime()?;
    let repo = repo_for_write(env, &rt, image)?.ok_or_else(|| anyhow!(not_exist(env, image)))?;
    let targets = match tag {
        Some(t) => vec![
            docker::released_target(&repo, t)
                .ok_or_else(|| anyhow!("No valid trust data for {t}"))?,
        ],
        None => {
            let all = docker::released_targets(&repo);
            if all.is_empty() {
                bail!("no signed tags to remove");
            }
            all
        }
    };
    let held = env.held_key_ids()?;
    let mut changes = Vec::new();
    for t in &targets {
        for role in docker::signable_roles(&repo, &held, &t.name).map_err(|e| anyhow!(e))? {
            changes.push(signet_client::changelist::Change::remove_target(
                role.as_str(),
                &t.name,
            ));
        }
    }
    let published = rt.block_on(
        env.publisher(image)?
            .publish_changes(&gun, &docker::entries(changes)),
    )?;
    warn_all(&published.warnings);
    Ok(())
}

fn sign(env: &DockerEnv, input: &str, local: bool, signer: Option<&str>) -> anyhow::Result<()> {
    let image = parse_image(input)?;
    let tag = match (image.tag(), image.digest()) {
        (_, Some(_)) => bail!("cannot use a digest reference for IMAGE:TAG"),
        (None, None) => bail!("no tag specified for {input}"),
        (Some(t), None) => t.to_owned(),
    };
    let gun = image.name();
    let rt = runtime()?;
    let publisher = env.publisher(&image)?;
    let mut served = None;
    let repo = match repo_for_write(env, &rt, &image)? {
        Some(repo) => repo,
        None => {
            // As docker checks the local image first: nothing is written unless the
            // registry has the tag.
            served = Some(rt.block_on(env.registry(&image)?.manifest(image.path(), &tag))?);
            let user = match signer {
                Some(s) => s.to_owned(),
                None => env
                    .docker
                    .credentials(image.auth_key())?
                    .map(|c| c.username)
                    .ok_or_else(|| {
                        anyhow!(
                            "{gun} has no trust data yet and there is no registry user to name \
                             its first signer after: pass --signer NAME (or log in to {})",
                            image.auth_key()
                        )
                    })?,
            };
            let role = signer_role(&user)?;
            rt.block_on(publisher.init(&gun, true))
                .with_context(|| gun.clone())?;
            let key =
                docker::signer_public_key(&env.key_store(), &user, &mut DockerEnv::retriever())?;
            let entries = docker::entries(docker::add_signer_changes(&role, &[key]));
            let published = rt
                .block_on(publisher.publish_changes(&gun, &entries))
                .with_context(|| format!("could not add signer to repo: {user}"))?;
            warn_all(&published.warnings);
            print(&format!(
                "Created signer: {user}\nFinished initializing signed repository for {input}\n"
            ))?;
            repo_for_write(env, &rt, &image)?.ok_or_else(|| anyhow!(not_exist(env, &image)))?
        }
    };
    let failed = |e: &dyn std::fmt::Display| anyhow!("failed to sign {gun}:{tag}: {e}");
    let held = env.held_key_ids()?;
    let released = if local {
        None
    } else {
        docker::released_meta(&repo, &tag)
    };
    let meta = match released {
        Some(meta) => {
            print(&format!("Signing and pushing trust metadata for {input}\n"))?;
            let roles = docker::signable_roles(&repo, &held, &tag).map_err(|e| failed(&e))?;
            let row = docker::trust_info(&repo, Some(&tag))
                .signed_tags
                .into_iter()
                .next();
            let (t, d, mut signers) =
                row.map_or_else(Default::default, |r| (r.tag, r.digest, r.signers));
            signers.sort();
            print(&format!(
                "Existing signatures for tag {t} digest {d} from:\n{}\n",
                signers.join(", ")
            ))?;
            (meta, roles)
        }
        None => {
            let m = match served {
                Some(m) => m,
                None => rt.block_on(env.registry(&image)?.manifest(image.path(), &tag))?,
            };
            eprintln!(
                "Signing and pushing trust data for {input} as the registry serves it: {} \
                 ({} bytes, {}), may overwrite remote trust data",
                m.digest, m.size, m.media_type
            );
            print("Signing and pushing trust metadata\n")?;
            let roles = docker::signable_roles(&repo, &held, &tag).map_err(|e| failed(&e))?;
            let meta = TargetMeta {
                length: i64::try_from(m.size).unwrap_or(i64::MAX),
                hashes: [("sha256".to_owned(), m.digest.bytes().to_vec())]
                    .into_iter()
                    .collect(),
                custom: None,
            };
            (meta, roles)
        }
    };
    let (meta, roles) = meta;
    let changes = roles
        .iter()
        .map(|r| signet_client::changelist::Change::add_target(r.as_str(), &tag, &meta))
        .collect();
    let published = rt
        .block_on(publisher.publish_changes(&gun, &docker::entries(changes)))
        .map_err(|e| failed(&e))?;
    warn_all(&published.warnings);
    print(&format!("Successfully signed {gun}:{tag}\n"))
}

#[cfg(test)]
mod tests {
    use super::typed_repository;

    #[test]
    fn typed_repository_drops_tag_and_digest() {
        for (input, want) in [
            ("alpine", "alpine"),
            ("alpine:3", "alpine"),
            ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b"),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
            ("x/y:t@sha256:ab", "x/y"),
            ("localhost:5000/app@sha256:ab", "localhost:5000/app"),
        ] {
            assert_eq!(typed_repository(input), want, "{input}");
        }
    }
}
