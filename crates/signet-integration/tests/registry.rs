//! `signet_client::registry` against real docker-registry processes: manifests of all four
//! signable types read with their digests and sizes (as pushed), by tag and by digest;
//! credentials from a docker `config.json` used for HTTP basic and for token
//! authentication (the registry's `WWW-Authenticate: Bearer` challenge answered at its
//! token service); refusals named.
//!
//! Needs docker-registry (`scripts/peers/registry.sh start` for 127.0.0.1:5000; the
//! authenticated ones are started here) and perl (bcrypt for htpasswd).

use signet_client::registry::{DockerConfig, ImageRef, MediaType, Registry, RegistryError};

use crate::util::random_hex;
use crate::util::registry::{
    AuthRegistry, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Pushed, Pusher,
    RegistryAuth, blocking, shared_registry, write_docker_auth, write_docker_identity_token,
};

fn connect(image: &ImageRef, docker_dir: &std::path::Path) -> Registry {
    Registry::connect(image, &DockerConfig::new(docker_dir), &[]).expect("registry client")
}

#[test]
fn manifests_of_every_signable_type_are_read_with_their_digest_and_size() {
    let host = shared_registry();
    let repo = format!("reg-{}/app", random_hex(4));
    let docker = tempfile::tempdir().unwrap();
    blocking(async {
        let push = Pusher::new(host, None);
        let d = push.image(&repo, "docker", DOCKER_MANIFEST, "d").await;
        let o = push.image(&repo, "oci", OCI_MANIFEST, "o").await;
        let arm = push.image(&repo, "arm", OCI_MANIFEST, "arm").await;
        let list = push
            .index(&repo, "list", DOCKER_LIST, &[(&d, "linux/amd64")])
            .await;
        let index = push
            .index(
                &repo,
                "index",
                OCI_INDEX,
                &[(&o, "linux/amd64"), (&arm, "linux/arm64/v8")],
            )
            .await;

        let image = ImageRef::parse(&format!("{host}/{repo}")).unwrap();
        assert_eq!(image.registry_url(), format!("http://{host}"));
        let reg = connect(&image, docker.path());
        for (tag, pushed, kind) in [
            ("docker", &d, MediaType::DockerManifest),
            ("oci", &o, MediaType::OciManifest),
            ("list", &list, MediaType::DockerManifestList),
            ("index", &index, MediaType::OciIndex),
        ] {
            for reference in [tag, pushed.digest.as_str()] {
                let m = reg
                    .manifest(image.path(), reference)
                    .await
                    .unwrap_or_else(|e| panic!("{reference}: {e:#?}"));
                assert_eq!(m.digest.to_string(), pushed.digest, "{reference}");
                assert_eq!(m.size, pushed.size, "{reference}");
                assert_eq!(m.media_type, kind, "{reference}");
                assert_eq!(m.bytes, pushed.bytes, "{reference}");
            }
        }
        let m = reg.manifest(image.path(), "index").await.unwrap();
        let children = m.children().unwrap();
        let listed: Vec<(&str, Option<&str>)> = children
            .iter()
            .map(|c| (c.digest.as_str(), c.platform.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                (o.digest.as_str(), Some("linux/amd64")),
                (arm.digest.as_str(), Some("linux/arm64/v8"))
            ]
        );

        let e = reg.manifest(image.path(), "no-such-tag").await.unwrap_err();
        assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");
        let missing = format!("sha256:{}", "0".repeat(64));
        let e = reg.manifest(image.path(), &missing).await.unwrap_err();
        assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");
    });
}

#[test]
fn basic_auth_credentials_come_from_docker_config() {
    let reg = AuthRegistry::start(RegistryAuth::Basic {
        user: "alice".into(),
        password: "s3cret-pw".into(),
    });
    check_authenticated_registry(&reg, "alice", "s3cret-pw");
}

#[test]
fn token_auth_answers_the_registry_bearer_challenge() {
    let reg = AuthRegistry::start(RegistryAuth::Token {
        user: "bob".into(),
        password: "t0ken-pw".into(),
    });
    check_authenticated_registry(&reg, "bob", "t0ken-pw");
}

/// An identity token (what `docker login` stores for an OAuth token service) is exchanged
/// for an access token with docker's `POST` form; a wrong one is refused as unauthorized.
#[test]
fn identity_token_is_exchanged_at_the_token_service() {
    let reg = AuthRegistry::start(RegistryAuth::Token {
        user: "dana".into(),
        password: "oauth-pw".into(),
    });
    let host = reg.host_port();
    let (image, pushed) = push_v1(&reg, "idt", "dana", "oauth-pw");
    let good = tempfile::tempdir().unwrap();
    write_docker_identity_token(good.path(), host, "dana", &reg.identity_token());
    let bad = tempfile::tempdir().unwrap();
    write_docker_identity_token(bad.path(), host, "dana", "refresh-stolen");
    blocking(async {
        let m = connect(&image, good.path())
            .manifest(image.path(), "v1")
            .await
            .unwrap_or_else(|e| panic!("{e:#?}\nregistry log:\n{}", reg.log()));
        assert_eq!(m.digest.to_string(), pushed.digest);
        let e = connect(&image, bad.path())
            .manifest(image.path(), "v1")
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::Unauthorized { status: 401, .. }),
            "{e:#?}"
        );
    });
}

/// Pushes `<prefix>-<random>/app:v1` (an OCI image) to `reg` as `user`; returns its
/// reference and what was pushed.
fn push_v1(reg: &AuthRegistry, prefix: &str, user: &str, password: &str) -> (ImageRef, Pushed) {
    let host = reg.host_port();
    let repo = format!("{prefix}-{}/app", random_hex(4));
    let pushed = blocking(
        Pusher::new(host, Some(reg.push_auth(&repo, user, password))).image(
            &repo,
            "v1",
            OCI_MANIFEST,
            prefix,
        ),
    );
    let image = ImageRef::parse(&format!("{host}/{repo}:v1")).unwrap();
    (image, pushed)
}

/// Pushes an image with the registry's own credentials, then reads it through
/// `Registry::connect` with: the right credentials in config.json (works), none (refused
/// as unauthorized) and wrong ones (refused).
fn check_authenticated_registry(reg: &AuthRegistry, user: &str, password: &str) {
    let host = reg.host_port();
    let (image, pushed) = push_v1(reg, "auth", user, password);
    let good = tempfile::tempdir().unwrap();
    write_docker_auth(good.path(), host, user, password);
    let none = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    write_docker_auth(bad.path(), host, user, "wrong-password");
    blocking(async {
        let m = connect(&image, good.path())
            .manifest(image.path(), "v1")
            .await
            .unwrap_or_else(|e| panic!("{e:#?}\nregistry log:\n{}", reg.log()));
        assert_eq!(m.digest.to_string(), pushed.digest);
        assert_eq!(m.size, pushed.size);
        for dir in [none.path(), bad.path()] {
            let e = connect(&image, dir)
                .manifest(image.path(), "v1")
                .await
                .unwrap_err();
            assert!(
                matches!(e, RegistryError::Unauthorized { status: 401, .. }),
                "{e:#?}"
            );
            assert!(
                e.to_string().contains(&format!("docker login {host}")),
                "{e}"
            );
        }
    });
}
