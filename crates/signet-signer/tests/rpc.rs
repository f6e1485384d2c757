//! The gRPC API end to end over mutual TLS: each RPC's answers and error codes (compared
//! with notary-signer's `signer/api/rpc_api.go`), the health service, and refusal of
//! clients without a certificate from the client CA.

use std::sync::Arc;
use std::time::Duration;

use signet_core::{KeyType, PublicKey, RingVerifier, Verifier as _};
use signet_service::shutdown::Shutdown;
use signet_signer::Signer;
use signet_signer::keys::{KeyStore, Passphrases};
use signet_signer::proto::key_management::key_management_client::KeyManagementClient;
use signet_signer::proto::signer::signer_client::SignerClient;
use signet_signer::proto::{CreateKeyRequest, KeyId, SignatureRequest};
use signet_store::Store;
use signet_test_support::pki::{PemPair, TestCa};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const GUN: &str = "example.com/org/app";
const TIMESTAMP: &[u8] =
    br#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":2}"#;

struct Harness {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    ca: TestCa,
    client: PemPair,
    store: Store,
    shutdown: Shutdown,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "signer");
    let server = ca.server("signer");
    let client = ca.client("notary-server");
    let tls = signet_service::tls::mtls_server_config(&server.cert, &server.key, &ca.cert).unwrap();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let mut passphrases = Passphrases::new();
    passphrases.insert("alias", "test passphrase");
    let keys = KeyStore::open(store.clone(), "alias", passphrases)
        .await
        .unwrap();
    let signer = Signer::with_keys("127.0.0.1:0".parse().unwrap(), tls, Arc::new(keys))
        .await
        .unwrap();
    let addr = signer.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(signer.run(shutdown.clone()));
    Harness {
        _dir: dir,
        addr,
        ca,
        client,
        store,
        shutdown,
    }
}

async fn channel(
    h: &Harness,
    identity: Option<&PemPair>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&h.ca.cert).unwrap()))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&id.cert).unwrap(),
            std::fs::read(&id.key).unwrap(),
        ));
    }
    Channel::from_shared(format!("https://{}", h.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

async fn clients(h: &Harness) -> (KeyManagementClient<Channel>, SignerClient<Channel>) {
    let ch = channel(h, Some(&h.client)).await.unwrap();
    (KeyManagementClient::new(ch.clone()), SignerClient::new(ch))
}

fn create(algorithm: &str, role: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        algorithm: algorithm.to_owned(),
        gun: GUN.to_owned(),
        role: role.to_owned(),
    }
}

fn key_id(id: &str) -> KeyId {
    KeyId { id: id.to_owned() }
}

#[tokio::test]
async fn create_get_sign_delete_round_trip() {
    let h = start().await;
    let (mut km, mut signer) = clients(&h).await;
    for (algorithm, method) in [("ecdsa", "ecdsa"), ("ed25519", "eddsa")] {
        let created = km
            .create_key(create(algorithm, "timestamp"))
            .await
            .unwrap()
            .into_inner();
        let info = created.key_info.clone().unwrap();
        let id = info.key_id.unwrap().id;
        assert_eq!(info.algorithm.unwrap().algorithm, algorithm);
        let public = PublicKey::new(KeyType::parse(algorithm), created.public_key.clone());
        assert_eq!(public.id().as_str(), id, "key ID is the TUF key ID");

        // Unused: CreateKey hands the same key out again (notary-signer's SQL store).
        let again = km
            .create_key(create(algorithm, "timestamp"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again, created);

        let got = km.get_key_info(key_id(&id)).await.unwrap().into_inner();
        assert_eq!(got.role, "timestamp");
        assert_eq!(got.public_key, created.public_key);
        assert_eq!(got.key_info, created.key_info);

        let sig = signer
            .sign(SignatureRequest {
                key_id: Some(key_id(&id)),
                content: TIMESTAMP.to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sig.algorithm.unwrap().algorithm, method);
        assert_eq!(sig.key_info, created.key_info);
        RingVerifier
            .verify(&public, method, TIMESTAMP, &sig.content)
            .unwrap();

        // Used now: the next CreateKey makes a new key.
        let third = km
            .create_key(create(algorithm, "timestamp"))
            .await
            .unwrap()
            .into_inner();
        assert_ne!(third.key_info, created.key_info);

        km.delete_key(key_id(&id)).await.unwrap();
        let status = km.get_key_info(key_id(&id)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert!(h.store.signer_key(&id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn error_paths_use_notary_signers_codes() {
    let h = start().await;
    let (mut km, mut signer) = clients(&h).await;
    let missing = "0".repeat(64);

    // CreateKey: unsupported algorithm is a plain error in Go, i.e. Unknown.
    for algorithm in ["rsa", "ECDSA", "", "ecdsa-x509"] {
        let status = km
            .create_key(create(algorithm, "timestamp"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unknown, "{algorithm}");
        assert_eq!(
            status.message(),
            format!("algorithm {algorithm} not supported for create key")
        );
    }
    // Empty GUN or role: refused (notary-signer would store such a key).
    for req in [
        CreateKeyRequest {
            gun: String::new(),
            ..create("ecdsa", "timestamp")
        },
        create("ecdsa", ""),
    ] {
        let status = km.create_key(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    assert!(
        h.store.signer_keys().await.unwrap().is_empty(),
        "nothing stored"
    );

    // GetKeyInfo: unknown key.
    let status = km.get_key_info(key_id(&missing)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), format!("key {missing} not found"));

    // DeleteKey of an unknown key succeeds, as in notary-signer.
    km.delete_key(key_id(&missing)).await.unwrap();

    // Sign: unknown key, no key, content of another role.
    let status = signer
        .sign(SignatureRequest {
            key_id: Some(key_id(&missing)),
            content: TIMESTAMP.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.message(),
        format!("signing key not found: {missing}")
    );
    let status = signer
        .sign(SignatureRequest {
            key_id: None,
            content: TIMESTAMP.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let snapshot_key = km
        .create_key(create("ecdsa", "snapshot"))
        .await
        .unwrap()
        .into_inner();
    let snapshot_id = snapshot_key.key_info.unwrap().key_id.unwrap().id;
    let status = signer
        .sign(SignatureRequest {
            key_id: Some(key_id(&snapshot_id)),
            content: TIMESTAMP.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        h.store
            .signer_key(&snapshot_id)
            .await
            .unwrap()
            .unwrap()
            .last_used
            .is_none(),
        "a refused signature does not mark the key used"
    );
}

#[tokio::test]
async fn storage_failures_are_internal() {
    let h = start().await;
    let (mut km, mut signer) = clients(&h).await;
    h.store.close().await;

    let status = km
        .create_key(create("ecdsa", "timestamp"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "Key creation failed");

    let id = "1".repeat(64);
    let status = km.delete_key(key_id(&id)).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        status.message(),
        format!("Key deletion for KeyID {id} failed")
    );

    let status = km.get_key_info(key_id(&id)).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);

    let status = signer
        .sign(SignatureRequest {
            key_id: Some(key_id(&id)),
            content: TIMESTAMP.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
}

#[tokio::test]
async fn health_answers_for_the_names_notary_server_checks() {
    let h = start().await;
    let ch = channel(&h, Some(&h.client)).await.unwrap();
    let mut health = HealthClient::new(ch);
    for service in [
        "grpc.health.v1.Health.KeyManagement",
        "grpc.health.v1.Health.Signer",
        "",
    ] {
        let resp = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.status, ServingStatus::Serving as i32, "{service}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "grpc.health.v1.Health.Overall".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

/// A client must present a certificate from the client CA: no certificate, or one from
/// another CA, and the handshake fails before any RPC runs.
#[tokio::test]
async fn clients_without_a_certificate_from_the_client_ca_are_refused() {
    let h = start().await;
    let other = TestCa::new(h._dir.path(), "rogue");
    let rogue = other.client("notary-server");
    // The rogue CA's *server* certificate also fails (it is still not from the client CA).
    let rogue_server = other.server("signer");
    for identity in [None, Some(&rogue), Some(&rogue_server)] {
        let outcome = match channel(&h, identity).await {
            Err(e) => Err(e.to_string()),
            Ok(ch) => KeyManagementClient::new(ch)
                .create_key(create("ecdsa", "timestamp"))
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        };
        assert!(
            outcome.is_err(),
            "a client with {:?} was served",
            identity.map(|p| &p.cert)
        );
    }
    assert!(
        h.store.signer_keys().await.unwrap().is_empty(),
        "no refused client created a key"
    );
    // The right client still works.
    let (mut km, _) = clients(&h).await;
    km.create_key(create("ecdsa", "timestamp")).await.unwrap();
}
