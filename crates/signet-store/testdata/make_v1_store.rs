//! Writes the version-1 upgrade fixtures (see README.md). Run at the last commit before
//! the migration runner, as an example of signet-server:
//!   cp crates/signet-store/testdata/make_v1_store.rs crates/signet-server/examples/
//!   cargo run -p signet-server --example make_v1_store -- <database url>
use std::sync::Arc;

use signet_server::keys::{KeyAlgorithm, KeyService, LocalKeys};
use signet_store::{NewRecord, Store};

/// The passphrase the fixture's server keys are sealed under.
const PASSPHRASE: &[u8] = b"signet v1 fixture passphrase";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1).expect("database url");
    let store = Store::connect(&url).await.expect("connect");
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/../signet-core/testdata");
    // Two GUNs with the Go notary vectors' files, in the order a server stores them.
    for (case, uploads) in [
        (
            "initial-publish",
            &[
                &["1.root.json", "2.targets.json", "2.snapshot.json", "1.timestamp.json"][..],
            ][..],
        ),
        (
            "rotated-root",
            &[
                &["1.root.json", "2.targets.json", "2.snapshot.json", "1.timestamp.json"][..],
                &["3.targets.json", "3.snapshot.json", "2.timestamp.json"][..],
                &["2.root.json", "4.snapshot.json", "3.timestamp.json"][..],
            ][..],
        ),
    ] {
        let dir = format!("{testdata}/{case}");
        let gun = format!("example.com/fixture/{case}");
        for batch in uploads {
            let records: Vec<NewRecord> = batch
                .iter()
                .map(|file| {
                    let (version, role) = file.trim_end_matches(".json").split_once('.').unwrap();
                    NewRecord {
                        role: role.to_owned(),
                        version: version.parse().unwrap(),
                        data: std::fs::read(format!("{dir}/{file}")).unwrap(),
                    }
                })
                .collect();
            store.update(&gun, &records).await.expect("update");
        }
    }
    // A third GUN, published and deleted: a deletion row in the changefeed.
    let gone = "example.com/fixture/deleted";
    let ts = std::fs::read(format!("{testdata}/initial-publish/1.timestamp.json")).unwrap();
    store
        .update(gone, &[NewRecord { role: "timestamp".into(), version: 1, data: ts }])
        .await
        .expect("update");
    store.delete(gone).await.expect("delete");
    // Real sealed server keys (kek.salt and kek.check settings come with them); one used.
    let keys = KeyService::Local(Arc::new(
        LocalKeys::open(store.clone(), PASSPHRASE, KeyAlgorithm::Ecdsa)
            .await
            .expect("open keys"),
    ));
    let used = keys
        .create("example.com/fixture/rotated-root", "timestamp")
        .await
        .expect("create key");
    keys.sign_with_held(
        "example.com/fixture/rotated-root",
        "timestamp",
        &[used.id().clone()],
        b"payload",
    )
    .await
    .expect("sign");
    keys.create("example.com/fixture/initial-publish", "snapshot")
        .await
        .expect("create key");
    store.close().await;
}
