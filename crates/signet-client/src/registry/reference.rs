//! Image references as the docker CLI reads them (`distribution/reference`'s
//! `ParseNormalizedNamed`): `alpine`, `alpine:3.20`, `example.com:5000/team/app@sha256:…`.
//!
//! Normalisation: a first path component without `.` or `:` that is not `localhost` (and is
//! lower case) is not a registry, so the image is on Docker Hub (`docker.io`);
//! `index.docker.io` is `docker.io`; a one-component Docker Hub name gets `library/`. The
//! normalized name (`docker.io/library/alpine`) is the GUN docker uses for its trust data.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use signet_core::encoding::hex_encode;

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy domain (normalized to [`DOCKER_HUB`]).
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// Docker Hub's registry endpoint.
const DOCKER_HUB_REGISTRY: &str = "https://registry-1.docker.io";
/// Docker Hub's Notary service.
pub const DOCKER_HUB_NOTARY: &str = "https://notary.docker.io";
/// The key of Docker Hub's credentials in `config.json` (`auths`).
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// The longest repository path (`distribution/reference`).
const MAX_PATH_LEN: usize = 255;
/// The longest tag.
const MAX_TAG_LEN: usize = 128;

/// Why a reference was refused. The messages are docker's where docker has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ReferenceError {
    /// The input.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

/// A `sha256:<hex>` content digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:` and 64 lower-case hex digits (the only digest Notary v1 trust data
    /// records for images).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| err("invalid digest format"))?;
        match alg {
            "sha256" => {}
            "sha384" | "sha512" => {
                return Err(err(
                    "only sha256 digests can be checked against Notary trust data",
                ));
            }
            _ => return Err(err("unsupported digest algorithm")),
        }
        if hex.len() != 64 {
            return Err(err("invalid checksum digest length"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let nibble = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(err("invalid checksum digest format"));
            };
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(signet_core::encoding::sha256(bytes))
    }

    /// The digest from raw hash bytes (e.g. a target's `hashes.sha256`); `None` unless 32
    /// bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw hash.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lower-case hex (what `docker trust inspect` shows).
    pub fn hex(&self) -> String {
        hex_encode(&self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalizes `s` as `docker` does (`ParseNormalizedNamed`).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let err = |reason: String| ReferenceError {
            input: s.to_owned(),
            reason,
        };
        if is_image_id(s) {
            return Err(err(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(err(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }
        parse_full(&domain, &remainder).map_err(err)
    }

    /// The registry part: `docker.io`, `example.com:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on the registry: `library/alpine`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The normalized name, `<domain>/<path>`: the GUN of the image's trust data.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The short name docker shows: `alpine` for `docker.io/library/alpine`,
    /// `team/app` for `docker.io/team/app`, the full name elsewhere.
    pub fn familiar_name(&self) -> String {
        if self.domain != DOCKER_HUB {
            return self.name();
        }
        // A first path component that reads as a registry (`a.b`, `host:port`,
        // `localhost`) would be taken for one: keep the full name then, so the familiar
        // name always parses back to this image.
        let first = self.path.split('/').next().unwrap_or("");
        if self.path.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost")
        {
            return self.name();
        }
        match self.path.strip_prefix("library/") {
            // A bare 64-hex name would be refused as an image ID (docker accepts
            // `<64 hex>:tag` but not its own familiar name for it): keep `library/` then.
            Some(rest) if !rest.contains('/') && !is_image_id(rest) => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// Whether the image is on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB
    }

    /// Whether the registry is on a loopback address (`localhost`, 127.0.0.0/8, `::1`):
    /// the only registries docker reaches over plain HTTP without configuration, and the
    /// only ones Signet does.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.domain)
    }

    /// The registry's base URL: `https://registry-1.docker.io` for Docker Hub,
    /// `http://<domain>` for a loopback registry, `https://<domain>` otherwise.
    pub fn registry_url(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_REGISTRY.to_owned()
        } else if self.is_loopback() {
            format!("http://{}", self.domain)
        } else {
            format!("https://{}", self.domain)
        }
    }

    /// docker's default trust server: `https://notary.docker.io` for Docker Hub,
    /// `https://<domain>` otherwise.
    pub fn default_trust_server(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_NOTARY.to_owned()
        } else {
            format!("https://{}", self.domain)
        }
    }

    /// The key of this registry's credentials in docker's `config.json`:
    /// `https://index.docker.io/v1/` for Docker Hub, the domain otherwise.
    pub fn auth_key(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_AUTH_KEY
        } else {
            &self.domain
        }
    }

    /// The same image with `tag` (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError {
                input: tag.to_owned(),
                reason: "invalid tag format".to_owned(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }
}

/// `name[:tag][@digest]` with the normalized name; parses back to the same reference.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `host[:port]` names a loopback address: `localhost`, 127.0.0.0/8 or `::1`
/// (literal addresses only; names are not resolved).
pub fn is_loopback_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.is_loopback();
    }
    host.parse::<Ipv6Addr>()
        .is_ok_and(|ip| IpAddr::V6(ip).is_loopback())
}

/// `splitDockerDomain`: the registry and the rest (path, tag, digest).
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, mut remote) = match name.split_once('/') {
        None => return (DOCKER_HUB.to_owned(), format!("library/{name}")),
        Some(("localhost", rest)) => ("localhost".to_owned(), rest.to_owned()),
        Some((LEGACY_DOCKER_HUB, rest)) => (DOCKER_HUB.to_owned(), rest.to_owned()),
        Some((d, rest)) if d.contains(['.', ':']) || d.to_lowercase() != d => {
            (d.to_owned(), rest.to_owned())
        }
        Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if domain == DOCKER_HUB && !remote.contains('/') {
        remote = format!("library/{remote}");
    }
    (domain, remote)
}

/// `reference.Parse("<domain>/<remainder>")` for a remainder `path[:tag][@digest]`.
/// Whether `s` reads as an image ID (64 lower-case hex digits), which docker refuses as a
/// repository name.
fn is_image_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn parse_full(domain: &str, remainder: &str) -> Result<ImageRef, String> {
    let invalid = || "invalid reference format".to_owned();
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (remainder, None),
    };
    let (path, tag) = match name_tag.rsplit_once('/') {
        Some((dir, last)) => match last.split_once(':') {
            Some((base, tag)) => (format!("{dir}/{base}"), Some(tag)),
            None => (name_tag.to_owned(), None),
        },
        None => match name_tag.split_once(':') {
            Some((base, tag)) => (base.to_owned(), Some(tag)),
            None => (name_tag.to_owned(), None),
        },
    };
    if !is_domain(domain) || !is_remote_name(&path) {
        let lower = path.to_ascii_lowercase();
        return Err(if lower != path && is_remote_name(&lower) {
            "invalid reference format: repository name must be lowercase".to_owned()
        } else {
            invalid()
        });
    }
    if path.len() > MAX_PATH_LEN {
        return Err(format!(
            "repository name must not be more than {MAX_PATH_LEN} characters"
        ));
    }
    if let Some(t) = tag
        && !is_tag(t)
    {
        return Err(invalid());
    }
    let digest = match digest {
        Some(d) if !is_digest_syntax(d) => return Err(invalid()),
        Some(d) => Some(Digest::parse(d).map_err(|e| e.reason)?),
        None => None,
    };
    Ok(ImageRef {
        domain: domain.to_owned(),
        path,
        tag: tag.map(str::to_owned),
        digest,
    })
}

/// `domainAndPort`: a DNS name or `[IPv6]`, then an optional `:port`.
fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        (None, after)
    } else {
        match s.split_once(':') {
            Some((h, _)) => (Some(h), &s[h.len()..]),
            None => (Some(s), ""),
        }
    };
    if let Some(host) = host
        && !host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
    {
        return false;
    }
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `remoteName`: path components joined by `/`.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,}`.
fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:419132bc79f6a8d087ae80c43fe490df6f1109b50958746a5059ad2464b07a02";

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn familiar_names_normalize_as_docker() {
        for (input, name, tag) in [
            ("alpine", "docker.io/library/alpine", None),
            ("alpine:3.20", "docker.io/library/alpine", Some("3.20")),
            ("team/app", "docker.io/team/app", None),
            ("docker.io/alpine", "docker.io/library/alpine", None),
            (
                "index.docker.io/team/app:v1",
                "docker.io/team/app",
                Some("v1"),
            ),
            ("localhost/app", "localhost/app", None),
            ("localhost:5000/a/b:x", "localhost:5000/a/b", Some("x")),
            (
                "127.0.0.1:5000/it-1/app:v1",
                "127.0.0.1:5000/it-1/app",
                Some("v1"),
            ),
            ("[::1]:5000/app", "[::1]:5000/app", None),
            ("Example.com/app", "Example.com/app", None),
            (
                "example.com/a__b/c--d/e.f_g",
                "example.com/a__b/c--d/e.f_g",
                None,
            ),
            // a bare host:port is a Docker Hub image with a tag, as in docker
            (
                "localhost:5000",
                "docker.io/library/localhost",
                Some("5000"),
            ),
        ] {
            let r = parse(input);
            assert_eq!(r.name(), name, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r, "{input}");
        }
        let r = parse(&format!("alpine:3@{D}"));
        assert_eq!(r.tag(), Some("3"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.familiar_name(), "alpine");
        assert_eq!(parse("team/app").familiar_name(), "team/app");
        assert_eq!(
            parse("docker.io/library/a/b").familiar_name(),
            "library/a/b"
        );
        assert_eq!(
            parse("localhost:5000/a").familiar_name(),
            "localhost:5000/a"
        );
        // A Hub path whose first part reads as a registry keeps its domain (found by the
        // image_reference fuzz target): the familiar name must parse back to the image.
        let r = parse("index.docker.io/reg.example.com/a/b");
        assert_eq!(r.familiar_name(), "docker.io/reg.example.com/a/b");
        assert_eq!(parse(&r.familiar_name()).name(), r.name());
        // `<64 hex>:tag` is accepted (as docker does) but the bare hex would be refused as
        // an image ID, so its familiar name keeps `library/` (also found by the fuzz target).
        let hex = format!("a0000b{}", "0".repeat(58));
        let r = parse(&format!("{hex}:_0"));
        assert_eq!(r.familiar_name(), format!("library/{hex}"));
        assert_eq!(parse(&r.familiar_name()).name(), r.name());
        assert!(ImageRef::parse(&hex).is_err());
    }

    #[test]
    fn endpoints_follow_docker() {
        let hub = parse("alpine");
        assert_eq!(hub.registry_url(), "https://registry-1.docker.io");
        assert_eq!(hub.default_trust_server(), "https://notary.docker.io");
        assert_eq!(hub.auth_key(), "https://index.docker.io/v1/");
        let local = parse("127.0.0.1:5000/x/app");
        assert!(local.is_loopback());
        assert_eq!(local.registry_url(), "http://127.0.0.1:5000");
        assert_eq!(local.default_trust_server(), "https://127.0.0.1:5000");
        assert_eq!(local.auth_key(), "127.0.0.1:5000");
        for host in ["localhost:1", "127.8.9.1", "[::1]:5000", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "128.0.0.1:5000",
            "[::2]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert_eq!(
            parse("registry.example.com/app").registry_url(),
            "https://registry.example.com"
        );
    }

    #[test]
    fn invalid_references_are_refused_with_dockers_words() {
        for (input, want) in [
            ("", "invalid reference format"),
            ("Alpine", "must be lowercase"),
            ("example.com/App", "must be lowercase"),
            ("a b", "invalid reference format"),
            ("alpine:", "invalid reference format"),
            ("alpine:-x", "invalid reference format"),
            ("a..b/c", "invalid reference format"),
            ("example.com:/a", "invalid reference format"),
            ("example.com:50x/a", "invalid reference format"),
            ("a/b_-c", "invalid reference format"),
            ("a/-b", "invalid reference format"),
            ("a@sha256:abc", "invalid reference format"),
            (
                "a@sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
                "invalid checksum digest format",
            ),
            (
                "a@md5:0123456789abcdef0123456789abcdef",
                "unsupported digest algorithm",
            ),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "cannot specify 64-byte hexadecimal strings",
            ),
        ] {
            let e = ImageRef::parse(input).expect_err(input);
            assert!(e.reason.contains(want), "{input}: {e}");
        }
        let long = format!("example.com/{}", "a".repeat(256));
        assert!(ImageRef::parse(&long).unwrap_err().reason.contains("255"));
        let tag = format!("a:{}", "t".repeat(129));
        assert!(ImageRef::parse(&tag).is_err());
        assert!(ImageRef::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn digests_parse_strictly() {
        let d = Digest::parse(D).unwrap();
        assert_eq!(d.to_string(), D);
        assert_eq!(Digest::from_bytes(d.bytes()), Some(d));
        assert_eq!(Digest::of(b"").hex().len(), 64);
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&D.to_uppercase()).is_err());
        assert!(Digest::from_bytes(&[0; 31]).is_none());
    }
}
