//! Container registries, as far as content trust needs them: image references normalized
//! as docker normalizes them ([`ImageRef`]), docker's configuration directory
//! ([`DockerConfig`]: credentials, TLS material, the trust directory), and reading a
//! manifest's digest and size from a registry ([`Registry`]) over the client's one HTTP
//! set-up ([`Transport`]: TLS roots, timeouts, proxies, token and basic authentication).
//!
//! ```no_run
//! # async fn run() -> Result<(), signet_client::registry::RegistryError> {
//! use signet_client::registry::{DockerConfig, ImageRef, Registry};
//!
//! let image = ImageRef::parse("127.0.0.1:5000/team/app:v1")?;
//! let docker = DockerConfig::locate(std::env::var_os("DOCKER_CONFIG").as_deref(), None);
//! let registry = Registry::connect(&image, &docker, &[])?;
//! let m = registry.manifest(image.path(), image.tag().unwrap_or("latest")).await?;
//! println!("{} {} {}", m.digest, m.size, m.media_type);
//! # Ok(()) }
//! ```
//!
//! A manifest is read whole (at most [`MANIFEST_LIMIT`] bytes) and its digest computed
//! here: a `Docker-Content-Digest` header that disagrees, or a body that does not hash to
//! the digest it was asked for by, is refused. Registries are reached over HTTPS, except
//! loopback ones (`localhost`, 127.0.0.0/8, `::1`), which docker treats as insecure by
//! default and which are reached over plain HTTP.

mod docker_config;
mod reference;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use docker_config::{DockerConfig, TlsMaterial};
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_AUTH_KEY, DOCKER_HUB_NOTARY, Digest, ImageRef, ReferenceError,
    is_loopback_host,
};

use crate::{Access, ClientError, Transport, TransportConfig};

/// The largest manifest read (the limit of the distribution registry).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// The `Accept` header of a manifest request: every type a signature can cover.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The image reference is invalid.
    #[error("invalid image reference {:?}: {}", .0.input, .0.reason)]
    Reference(#[from] ReferenceError),
    /// docker's configuration (credentials, TLS directory) could not be used.
    #[error("docker configuration{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Config {
        /// The file or directory involved.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("registry connection")]
    Transport(#[source] Box<ClientError>),
    /// The request did not complete.
    #[error("GET {url}")]
    Network {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The registry refused the credentials (or there were none).
    #[error(
        "GET {url}: HTTP {status}: not authorized (log in with `docker login {registry}`, or \
         check the credentials in $DOCKER_CONFIG/config.json)"
    )]
    Unauthorized {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The registry (config key).
        registry: String,
    },
    /// The registry has no such manifest.
    #[error("GET {url}: manifest unknown (HTTP 404)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// Any other status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The manifest is larger than [`MANIFEST_LIMIT`].
    #[error("GET {url}: manifest larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The bytes served do not hash to the digest they had to have.
    #[error("GET {url}: content is {actual}, but {expected} was {what}")]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The digest expected.
        expected: Digest,
        /// The digest of the bytes served.
        actual: Digest,
        /// Where the expectation came from ("requested", "announced by the registry").
        what: &'static str,
    },
    /// The manifest is not one of the four types content trust signs, or does not parse.
    #[error("GET {url}: {reason}")]
    Manifest {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// The four manifest types a docker trust signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json` (multi-arch).
    DockerManifestList,
    /// `application/vnd.oci.image.manifest.v1+json`.
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json` (multi-arch).
    OciIndex,
}

impl MediaType {
    /// The media type string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            Self::DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
            Self::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            Self::OciIndex => "application/vnd.oci.image.index.v1+json",
        }
    }

    /// Parses one of the four types (parameters after `;` ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.split(';').next().unwrap_or_default().trim();
        [
            Self::DockerManifest,
            Self::DockerManifestList,
            Self::OciManifest,
            Self::OciIndex,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the type lists other manifests (a multi-arch image).
    pub fn is_index(self) -> bool {
        matches!(self, Self::DockerManifestList | Self::OciIndex)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manifest as the registry served it, with its digest computed from its bytes.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The sha256 of [`Manifest::bytes`].
    pub digest: Digest,
    /// The length of [`Manifest::bytes`] (what docker signs as the target's length).
    pub size: u64,
    /// The type.
    pub media_type: MediaType,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

/// One entry of a manifest list or OCI index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The child's media type, as listed.
    pub media_type: String,
    /// The child's digest, as listed (`sha256:…`; other algorithms are kept as text).
    pub digest: String,
    /// The child's size, as listed.
    pub size: u64,
    /// The platform, if listed: `os/architecture[/variant]`.
    pub platform: Option<String>,
}

#[derive(Deserialize)]
struct RawIndex {
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

impl Manifest {
    /// The manifests an index or manifest list lists (empty for an image manifest).
    pub fn children(&self) -> Result<Vec<Descriptor>, String> {
        if !self.media_type.is_index() {
            return Ok(Vec::new());
        }
        let raw: RawIndex =
            serde_json::from_slice(&self.bytes).map_err(|e| format!("bad index: {e}"))?;
        Ok(raw
            .manifests
            .into_iter()
            .map(|d| Descriptor {
                media_type: d.media_type,
                digest: d.digest,
                size: d.size,
                platform: d.platform.map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = p.variant.filter(|v| !v.is_empty()) {
                        s.push('/');
                        s.push_str(&v);
                    }
                    s
                }),
            })
            .collect())
    }
}

/// The media type of `body` served as `content_type`: the header if it names one of the
/// four types, else the body's `mediaType`, else its shape (OCI allows leaving
/// `mediaType` out). A header and a body that name different types are refused.
fn media_type_of(content_type: Option<&str>, body: &[u8]) -> Result<MediaType, String> {
    let peek: Peek =
        serde_json::from_slice(body).map_err(|e| format!("manifest is not JSON: {e}"))?;
    let header = content_type.and_then(MediaType::parse);
    let declared = match peek.media_type.as_deref() {
        Some(s) => Some(
            MediaType::parse(s).ok_or_else(|| format!("unsupported manifest media type {s:?}"))?,
        ),
        None => None,
    };
    match (header, declared) {
        (Some(h), Some(d)) if h != d => {
            Err(format!("served as {h} but the manifest says it is {d}"))
        }
        (Some(t), _) | (None, Some(t)) => Ok(t),
        (None, None) if peek.manifests.is_some() => Ok(MediaType::OciIndex),
        (None, None) if peek.layers.is_some() && peek.config.is_some() => {
            Ok(MediaType::OciManifest)
        }
        (None, None) => Err(format!(
            "unsupported manifest (Content-Type {:?}, no mediaType)",
            content_type.unwrap_or_default()
        )),
    }
}

/// A registry's manifest API, over a [`Transport`] for its base URL.
#[derive(Clone, Debug)]
pub struct Registry {
    transport: Transport,
    registry: String,
}

impl Registry {
    /// The registry of `image` as docker reaches it: [`ImageRef::registry_url`], the
    /// system roots plus the CA certificates (and client certificate) in each of
    /// `tls_dirs` (e.g. `/etc/docker/certs.d/<host>` and `$DOCKER_CONFIG/tls/<host>`;
    /// missing ones are skipped), and docker's credentials for it.
    pub fn connect(
        image: &ImageRef,
        docker: &DockerConfig,
        tls_dirs: &[&Path],
    ) -> Result<Self, RegistryError> {
        let mut config = TransportConfig::new(image.registry_url(), None);
        config.system_roots = true;
        for dir in tls_dirs {
            let m = DockerConfig::tls_material(dir)?;
            if let Some(pem) = m.ca_pem {
                config.ca_pem.get_or_insert_with(Vec::new).extend(pem);
            }
            if config.client_identity.is_none() {
                config.client_identity = m.client_identity;
            }
        }
        config.credentials = docker.credentials(image.auth_key())?;
        Self::new(&config, image.auth_key())
    }

    /// A registry reached with `config`; `registry` names it in errors (the `docker
    /// login` argument).
    pub fn new(config: &TransportConfig, registry: &str) -> Result<Self, RegistryError> {
        let transport =
            Transport::new(config).map_err(|e| RegistryError::Transport(Box::new(e)))?;
        Ok(Self {
            transport,
            registry: registry.to_owned(),
        })
    }

    /// `GET /v2/<repository>/manifests/<reference>` (a tag or `sha256:…`), accepting the
    /// four signable types. The digest is computed from the bytes; a reference that is a
    /// digest must match it, and so must a `Docker-Content-Digest` header.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let url = format!(
            "{}/v2/{repository}/manifests/{reference}",
            self.transport.base()
        );
        let network = |source| RegistryError::Network {
            url: url.clone(),
            source,
        };
        let mut resp = self
            .transport
            .send(repository, Access::Read, || {
                self.transport
                    .http()
                    .get(&url)
                    .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await
            .map_err(network)?;
        match resp.status().as_u16() {
            200 => {}
            status @ (401 | 403) => {
                return Err(RegistryError::Unauthorized {
                    url,
                    status,
                    registry: self.registry.clone(),
                });
            }
            404 => return Err(RegistryError::NotFound { url }),
            status => return Err(RegistryError::Status { url, status }),
        }
        if resp.content_length().is_some_and(|n| n > MANIFEST_LIMIT) {
            return Err(RegistryError::TooLarge {
                url,
                limit: MANIFEST_LIMIT,
            });
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let announced = header("docker-content-digest");
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(network)? {
            if u64::try_from(bytes.len() + chunk.len()).unwrap_or(u64::MAX) > MANIFEST_LIMIT {
                return Err(RegistryError::TooLarge {
                    url,
                    limit: MANIFEST_LIMIT,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let digest = Digest::of(&bytes);
        let mismatch = |expected: Digest, what| RegistryError::DigestMismatch {
            url: url.clone(),
            expected,
            actual: digest,
            what,
        };
        if reference.starts_with("sha256:") {
            let wanted = Digest::parse(reference)?;
            if wanted != digest {
                return Err(mismatch(wanted, "requested"));
            }
        }
        // Only a sha256 announcement can be compared; others are the registry's business.
        if let Some(announced) = announced.as_deref().filter(|a| a.starts_with("sha256:")) {
            let announced = Digest::parse(announced).map_err(|e| RegistryError::Manifest {
                url: url.clone(),
                reason: format!("bad Docker-Content-Digest: {}", e.reason),
            })?;
            if announced != digest {
                return Err(mismatch(announced, "announced by the registry"));
            }
        }
        let media_type = media_type_of(content_type.as_deref(), &bytes)
            .map_err(|reason| RegistryError::Manifest { url, reason })?;
        Ok(Manifest {
            digest,
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            media_type,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_from_header_body_or_shape() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#;
        assert_eq!(
            media_type_of(None, docker).unwrap(),
            MediaType::DockerManifest
        );
        assert_eq!(
            media_type_of(
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                docker
            )
            .unwrap(),
            MediaType::DockerManifest
        );
        let e = media_type_of(Some(MediaType::OciIndex.as_str()), docker).unwrap_err();
        assert!(e.contains("says it is"), "{e}");
        assert_eq!(
            media_type_of(Some("application/json"), br#"{"manifests":[]}"#).unwrap(),
            MediaType::OciIndex
        );
        assert_eq!(
            media_type_of(None, br#"{"config":{},"layers":[]}"#).unwrap(),
            MediaType::OciManifest
        );
        assert!(media_type_of(None, br#"{"schemaVersion":1}"#).is_err());
        assert!(
            media_type_of(
                None,
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#
            )
            .is_err()
        );
        assert!(media_type_of(None, b"nope").is_err());
    }

    #[test]
    fn index_children_with_platforms() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":7,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":9}]}"#;
        let m = Manifest {
            digest: Digest::of(bytes),
            size: 1,
            media_type: MediaType::OciIndex,
            bytes: bytes.to_vec(),
        };
        let c = m.children().unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!((c[1].digest.as_str(), c[1].size), ("sha256:bb", 9));
        assert!(c[1].platform.is_none());
    }
}
