//! The key store with a PKCS#11 token (a real SoftHSM2 token per test, in a child process
//! that has its `SOFTHSM2_CONF`): keys are made on the token and sign there; a row edited to
//! claim another repository or role does not load; a deleted key leaves the token.

use std::sync::Arc;

use signet_core::{KeyType, PublicKey, RingVerifier, Verifier as _};
use signet_pkcs11::{Token, TokenSpec};
use signet_signer::keys::{KeyError, KeyStore, Passphrases, TOKEN_ALIAS};
use signet_store::Store;
use signet_test_support::softhsm::{self, USER_PIN};
use sqlx::Connection as _;
use zeroize::Zeroizing;

const GUN: &str = "example.com/org/hsm";
const TIMESTAMP: &[u8] =
    br#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{},"version":2}"#;

fn token(label: &str) -> Arc<Token> {
    Arc::new(
        Token::open(&TokenSpec {
            module: softhsm::module(),
            token_label: label.to_owned(),
            pin: Zeroizing::new(USER_PIN.to_owned()),
        })
        .expect("open the token"),
    )
}

#[test]
fn token_keys_sign_only_for_their_repository_and_role() {
    softhsm::run_with_token(
        "token_keys_sign_only_for_their_repository_and_role",
        |label| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(scenario(label));
        },
    );
}

async fn scenario(label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let store = Store::connect(&url).await.expect("store");
    let token = token(label);
    let keys = KeyStore::open_with_token(store.clone(), token.clone(), Passphrases::new())
        .await
        .expect("open");

    // RSA keys, which notary-signer cannot make, are made on the token (RSASSA-PSS,
    // notary's `rsapss`).
    for (algorithm, method, role, content) in [
        ("ecdsa", "ecdsa", "timestamp", TIMESTAMP),
        (
            "ed25519",
            "eddsa",
            "snapshot",
            br#"{"_type":"Snapshot","meta":{},"version":1}"#.as_slice(),
        ),
        (
            "rsa",
            "rsapss",
            "targets/releases",
            br#"{"_type":"Targets","targets":{},"version":1}"#.as_slice(),
        ),
    ] {
        let created = keys.create(algorithm, GUN, role).await.expect("create");
        // Handed out again while unused, as notary-signer does.
        assert_eq!(
            keys.create(algorithm, GUN, role).await.expect("again"),
            created
        );
        let row = store
            .signer_key(&created.key_id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.passphrase_alias, TOKEN_ALIAS);
        assert_eq!(
            row.private,
            label.as_bytes(),
            "the row names the token, holds no key"
        );
        let on_token = token
            .find(&created.key_id)
            .expect("find")
            .expect("the token holds the key");
        assert!(token.keeps_private(&on_token).expect("attributes"));

        let public = PublicKey::new(KeyType::parse(algorithm), created.public.clone());
        assert_eq!(public.id().as_str(), created.key_id, "{algorithm}: key ID");
        let signed = keys.sign(&created.key_id, content).await.expect("sign");
        assert_eq!(signed.algorithm.signature_method(), method);
        RingVerifier
            .verify(&public, method, content, &signed.signature)
            .expect("the token's signature verifies");
    }

    // Someone with write access to the database re-assigns a token key to another
    // repository: a key store that reads the row again refuses it.
    let id = keys
        .create("ecdsa", GUN, "timestamp")
        .await
        .expect("create")
        .key_id;
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query("UPDATE signer_keys SET gun = 'example.com/org/other' WHERE key_id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .expect("update");
    conn.close().await.expect("close");
    let fresh = KeyStore::open_with_token(store.clone(), token.clone(), Passphrases::new())
        .await
        .expect("open");
    match fresh.sign(&id, TIMESTAMP).await {
        Err(KeyError::CorruptKey { key_id, reason }) => {
            assert_eq!(key_id, id);
            assert!(reason.contains("another repository"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Deleting a key removes it from the token as well.
    assert!(fresh.delete(&id).await.expect("delete"));
    assert!(token.find(&id).expect("find").is_none());

    // The health probe passes while the token answers, and fails once the token's store
    // is gone from under the running signer.
    assert_eq!(signet_signer::server::probe(&fresh).await, None);
    std::fs::remove_dir_all(token_dir()).expect("remove the token directory");
    let problem = signet_signer::server::probe(&fresh)
        .await
        .expect("a token without its store is reported");
    assert!(problem.contains("PKCS#11 token unusable"), "{problem}");
}

/// The SoftHSM2 token directory of this (child) process, from its `SOFTHSM2_CONF`.
fn token_dir() -> std::path::PathBuf {
    let conf = std::env::var("SOFTHSM2_CONF").expect("SOFTHSM2_CONF");
    let text = std::fs::read_to_string(conf).expect("softhsm2.conf");
    text.lines()
        .find_map(|l| l.strip_prefix("directories.tokendir = "))
        .map(std::path::PathBuf::from)
        .expect("directories.tokendir")
}
