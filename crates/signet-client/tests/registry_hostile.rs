//! `signet_client::registry::Registry` against an in-process registry that lies: content
//! that does not hash to the digest it was asked for, a `Docker-Content-Digest` that
//! disagrees with the bytes, a manifest whose type and body disagree, and endless or
//! oversized bodies. Each is refused with a named error. (The honest cases run against a
//! real docker-registry in signet-integration's `registry` tests.)

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use signet_client::TransportConfig;
use signet_client::registry::{Digest, MANIFEST_LIMIT, Registry, RegistryError};

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

fn manifest(seed: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"digest":"sha256:{seed}"}},"layers":[]}}"#
    )
    .into_bytes()
}

async fn serve(
    axum::extract::Path((_, reference)): axum::extract::Path<(String, String)>,
) -> axum::response::Response {
    let honest = manifest("honest");
    let other = manifest("other");
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI));
    match reference.as_str() {
        // served by digest, but other bytes
        r if r.starts_with("sha256:") => (StatusCode::OK, h, other).into_response(),
        "lying-header" => {
            h.insert(
                "docker-content-digest",
                HeaderValue::from_str(&Digest::of(&other).to_string()).unwrap(),
            );
            (StatusCode::OK, h, honest).into_response()
        }
        "wrong-type" => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
            );
            (StatusCode::OK, h, honest).into_response()
        }
        "huge" => (StatusCode::OK, h, vec![b' '; MANIFEST_LIMIT as usize + 1]).into_response(),
        "endless" => {
            let stream = futures_stream();
            (StatusCode::OK, h, axum::body::Body::from_stream(stream)).into_response()
        }
        _ => (StatusCode::OK, h, honest).into_response(),
    }
}

/// An endless body without a length: 64 KiB chunks forever.
fn futures_stream() -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::repeat_with(|| Ok(vec![b' '; 64 << 10]))
}

async fn registry() -> Registry {
    let app = axum::Router::new().route("/v2/{repo}/manifests/{reference}", get(serve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Registry::new(&TransportConfig::new(base, None), "test").unwrap()
}

#[tokio::test]
async fn lying_registries_are_refused() {
    let reg = registry().await;
    let honest = reg.manifest("app", "v1").await.unwrap();
    assert_eq!(honest.digest, Digest::of(&manifest("honest")));

    let asked = honest.digest.to_string();
    match reg.manifest("app", &asked).await.unwrap_err() {
        RegistryError::DigestMismatch { expected, what, .. } => {
            assert_eq!(expected, honest.digest);
            assert_eq!(what, "requested");
        }
        e => panic!("{e:?}"),
    }
    match reg.manifest("app", "lying-header").await.unwrap_err() {
        RegistryError::DigestMismatch { actual, what, .. } => {
            assert_eq!(actual, honest.digest);
            assert_eq!(what, "announced by the registry");
        }
        e => panic!("{e:?}"),
    }
    let e = reg.manifest("app", "wrong-type").await.unwrap_err();
    assert!(
        matches!(&e, RegistryError::Manifest { reason, .. } if reason.contains("says it is")),
        "{e:?}"
    );
    for reference in ["huge", "endless"] {
        let e = reg.manifest("app", reference).await.unwrap_err();
        assert!(
            matches!(
                e,
                RegistryError::TooLarge {
                    limit: MANIFEST_LIMIT,
                    ..
                }
            ),
            "{reference}: {e:?}"
        );
    }
}
