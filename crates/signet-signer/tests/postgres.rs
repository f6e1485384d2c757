//! The key store on PostgreSQL: keys created, reused while unused, signed with, reopened by
//! a second process-like key store, and deleted. Fails (never skips) when PostgreSQL is down.

use signet_core::{KeyType, PublicKey, RingVerifier, Verifier as _};
use signet_signer::keys::{KeyError, KeyStore, Passphrases};
use signet_store::Store;
use signet_test_support::postgres::ScratchDatabase;

const GUN: &str = "example.com/org/pg";
const SNAPSHOT: &[u8] =
    br#"{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":3}"#;

fn passphrases() -> Passphrases {
    let mut p = Passphrases::new();
    p.insert("pg_alias", "postgres passphrase");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_on_postgres_round_trip() {
    let db = ScratchDatabase::create("signet_signer").await;
    let store = Store::connect(db.url()).await.unwrap();
    let keys = KeyStore::open(store.clone(), "pg_alias", passphrases())
        .await
        .unwrap();
    let created = keys.create("ed25519", GUN, "snapshot").await.unwrap();
    assert_eq!(
        keys.create("ed25519", GUN, "snapshot").await.unwrap(),
        created
    );

    // Another key store on the same database (a second signer process) opens and uses it.
    let other = KeyStore::open(
        Store::connect(db.url()).await.unwrap(),
        "pg_alias",
        passphrases(),
    )
    .await
    .unwrap();
    let signed = other.sign(&created.key_id, SNAPSHOT).await.unwrap();
    let public = PublicKey::new(KeyType::Ed25519, created.public.clone());
    RingVerifier
        .verify(&public, "eddsa", SNAPSHOT, &signed.signature)
        .unwrap();
    let row = store.signer_key(&created.key_id).await.unwrap().unwrap();
    assert!(row.last_used.is_some(), "signing marked the key used");
    assert_eq!(row.passphrase_alias, "pg_alias");
    assert_ne!(
        keys.create("ed25519", GUN, "snapshot")
            .await
            .unwrap()
            .key_id,
        created.key_id,
        "a used key is not handed out again"
    );

    assert!(other.delete(&created.key_id).await.unwrap());
    assert!(!other.delete(&created.key_id).await.unwrap());
    assert!(matches!(
        other.info(&created.key_id).await,
        Err(KeyError::NotFound(_))
    ));
}
