//! `signet trust …`: docker's content-trust commands (`docker trust`, removed in docker
//! CLI 29), on docker's trust directory and environment, with no docker daemon, plus
//! `resolve`, `root-key` and `verify` for CI and admission. The work is in
//! `signet_client::docker` and `signet_client::registry`; this file reads docker's
//! environment, parses, prints and picks exit codes.
//!
//! Output on stdout and messages on stderr are docker CLI 28's where docker has the
//! command; failures exit 1.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use signet_client::docker::{self, TrustInfo, Verified};
use signet_client::keys::{KeyStore, PassphraseEnv, Retriever};
use signet_client::registry::{DockerConfig, ImageRef, Registry};
use signet_client::{
    Client, ClientError, Pinning, Transport, TransportConfig, TrustDirCache, VerifiedRepository,
};
use signet_core::KeyId;

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

fn parse_image(input: &str) -> anyhow::Result<ImageRef> {
    Ok(ImageRef::parse(input)?)
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
