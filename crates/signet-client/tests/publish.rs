//! `signet_client::publish` against the real Go notary-server (https://127.0.0.1:4443):
//! init and publish with an in-memory key source (real ECDSA P-256 keys from *ring*), then
//! the Go `notary` CLI lists what signet published, and a second publish (changes staged in
//! notary's changelist format) shows up in Go's listing too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use signet_client::changelist::{Change, Changelist, TargetMeta};
use signet_client::publish::{KeyError, KeySource, Publisher, RoleSigner};
use signet_client::{Client, Pinning, Transport, TransportConfig, TrustDirCache};
use signet_core::{KeyId, PublicKey, RoleName};
use signet_test_support::EcdsaKey;

const NOTARY: &str = "https://127.0.0.1:4443";

fn ca() -> PathBuf {
    let ca = std::env::var_os("PEERS_ROOT")
        .map_or_else(|| PathBuf::from("/tmp/peers"), PathBuf::from)
        .join("certs/ca.crt");
    assert!(
        ca.is_file(),
        "{} is missing: start the peers with scripts/peers/up.sh",
        ca.display()
    );
    ca
}

struct MemKey(EcdsaKey);

impl RoleSigner for MemKey {
    fn public(&self) -> &PublicKey {
        self.0.public()
    }
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.0.sign_raw(payload))
    }
}

/// (gun, role) → keys.
type Slots = BTreeMap<(String, String), Vec<Arc<MemKey>>>;

/// Keys in memory, by (gun, role); root keys are shared across GUNs as notary's are.
#[derive(Default)]
struct MemKeys {
    keys: Mutex<Slots>,
}

impl MemKeys {
    fn slot(gun: &str, role: &RoleName) -> (String, String) {
        let gun = if *role == RoleName::root() { "" } else { gun };
        (gun.to_owned(), role.to_string())
    }
}

impl KeySource for MemKeys {
    fn find(
        &self,
        gun: &str,
        role: &RoleName,
        allowed: &[KeyId],
    ) -> Result<Option<Arc<dyn RoleSigner>>, KeyError> {
        let keys = self.keys.lock().unwrap();
        Ok(keys.get(&Self::slot(gun, role)).and_then(|v| {
            v.iter()
                .find(|k| allowed.is_empty() || allowed.contains(k.0.id()))
                .map(|k| Arc::clone(k) as Arc<dyn RoleSigner>)
        }))
    }

    fn generate(&self, gun: &str, role: &RoleName) -> Result<Arc<dyn RoleSigner>, KeyError> {
        let k = Arc::new(MemKey(EcdsaKey::generate()));
        self.keys
            .lock()
            .unwrap()
            .entry(Self::slot(gun, role))
            .or_default()
            .push(Arc::clone(&k));
        Ok(k)
    }
}

#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn unique(name: &str) -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("example.com/signet-publish/{name}-{}", d.as_nanos())
}

fn publisher(trust: &Path, keys: Arc<MemKeys>) -> Publisher {
    let transport = Transport::new(&TransportConfig::new(NOTARY, Some(ca()))).unwrap();
    let client = Client::new(
        transport,
        Pinning::Tofu,
        Arc::new(TrustDirCache::new(trust)),
    );
    Publisher::new(client, keys, trust)
}

/// `notary list GUN` (Go CLI, its own fresh trust dir): the stdout.
fn go_list(gun: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("notary")
        .args(["-s", NOTARY, "--tlscacert"])
        .arg(ca())
        .arg("-d")
        .arg(dir.path())
        .args(["list", gun])
        .stdin(Stdio::null())
        .output()
        .expect("run the Go notary CLI");
    assert!(
        out.status.success(),
        "notary list {gun} failed on what signet published:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn stage(trust: &Path, gun: &str, change: &Change) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Changelist::new(trust, gun)
        .unwrap()
        .add(change, nanos)
        .unwrap();
}

async fn publish_and_list(server_snapshot: bool) {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path();
    let keys = Arc::new(MemKeys::default());
    let p = publisher(trust, Arc::clone(&keys));
    let gun = unique(if server_snapshot {
        "server-snap"
    } else {
        "local-snap"
    });

    p.init(&gun, server_snapshot).await.expect("init");
    let one = b"published by signet\n";
    stage(
        trust,
        &gun,
        &Change::add_target("targets", "v1", &TargetMeta::of(one, None)),
    );
    let done = p.publish(&gun).await.expect("initial publish");
    assert!(done.initial);
    let want: &[&str] = if server_snapshot {
        &["root", "targets"]
    } else {
        &["root", "targets", "snapshot"]
    };
    assert_eq!(done.roles, want);
    assert!(
        Changelist::new(trust, &gun)
            .unwrap()
            .list()
            .unwrap()
            .0
            .is_empty()
    );

    let listed = go_list(&gun);
    let sha = signet_core::encoding::hex_encode(&signet_core::encoding::sha256(one));
    assert!(
        listed.contains(&format!("v1      {sha}    {}", one.len())),
        "Go notary does not list v1:\n{listed}"
    );

    // a second publish on the existing repository: add v2 (custom data), remove v1
    let two = b"second target\n";
    stage(
        trust,
        &gun,
        &Change::add_target(
            "targets",
            "v2",
            &TargetMeta::of(two, Some(serde_json::json!({"note": "custom"}))),
        ),
    );
    stage(trust, &gun, &Change::remove_target("targets", "v1"));
    let done = p.publish(&gun).await.expect("second publish");
    assert!(!done.initial);
    assert_eq!(done.applied, 2);
    let listed = go_list(&gun);
    assert!(
        listed.contains("v2 ") && !listed.contains("v1 "),
        "{listed}"
    );

    // and a fresh signet client agrees (verified from scratch)
    let fresh = tempfile::tempdir().unwrap();
    let client = Client::new(
        Transport::new(&TransportConfig::new(NOTARY, Some(ca()))).unwrap(),
        Pinning::Tofu,
        Arc::new(TrustDirCache::new(fresh.path())),
    );
    let repo = client.verify_gun(&gun).await.unwrap();
    let targets = repo.targets();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["v2"]);
    assert_eq!(
        targets[0].custom,
        Some(serde_json::json!({"note": "custom"}))
    );
    assert_eq!(repo.chain.role(&RoleName::targets()).unwrap().version(), 2);
}

#[tokio::test]
async fn signet_publishes_what_go_notary_lists_with_a_local_snapshot_key() {
    publish_and_list(false).await;
}

#[tokio::test]
async fn signet_publishes_what_go_notary_lists_with_a_server_snapshot_key() {
    publish_and_list(true).await;
}

/// Publishing a GUN never initialized initializes it (notary's auto-init); a change to a
/// role that does not exist aborts the publish and keeps the changelist.
#[tokio::test]
async fn publish_initializes_and_refuses_unknown_roles() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemKeys::default());
    let p = publisher(dir.path(), keys);
    let gun = unique("autoinit");
    let done = p.publish(&gun).await.expect("auto-init publish");
    assert!(done.initial);
    assert!(go_list(&gun).contains("No targets present"));

    stage(
        dir.path(),
        &gun,
        &Change::add_target("targets/nope", "x", &TargetMeta::of(b"x", None)),
    );
    let err = p.publish(&gun).await.expect_err("unknown role");
    assert!(err.to_string().contains("targets/nope"), "{err}");
    assert_eq!(
        Changelist::new(dir.path(), &gun)
            .unwrap()
            .list()
            .unwrap()
            .0
            .len(),
        1
    );
}
