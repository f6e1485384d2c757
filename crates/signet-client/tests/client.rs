//! signet-client against the real Go notary-server (https://127.0.0.1:4443, started by
//! `scripts/peers/notary.sh start memory`), publishing with the Go `notary` CLI, and against an
//! in-process hostile server that replays, rolls back, tampers, mixes, freezes and streams
//! endless data derived from that real metadata.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use signet_client::{
    Cache, Client, ClientError, MemoryCache, Pinning, TransportConfig, TrustDirCache,
    VerifiedRepository,
};
use signet_core::encoding::{hex_encode, sha256};
use signet_core::{RoleName, VerifyError};
use signet_test_support::{EcdsaKey, TestRepo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NOTARY: &str = "https://127.0.0.1:4443";

fn ca() -> PathBuf {
    let ca = std::env::var_os("PEERS_ROOT")
        .map_or_else(|| PathBuf::from("/tmp/peers"), PathBuf::from)
        .join("certs/ca.crt");
    assert!(
        ca.is_file(),
        "{} is missing: run scripts/peers/up.sh",
        ca.display()
    );
    ca
}

#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn unique(prefix: &str) -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!(
        "example.com/signet-client/{prefix}-{}-{}",
        d.as_nanos(),
        std::process::id()
    )
}

/// Runs the Go notary CLI against the Go notary-server with its own trust dir.
fn notary(trust: &Path, args: &[&str]) -> String {
    let out = Command::new("notary")
        .args(["-s", NOTARY, "--tlscacert"])
        .arg(ca())
        .arg("-d")
        .arg(trust)
        .args(args)
        .env("NOTARY_ROOT_PASSPHRASE", "root-pass-123")
        .env("NOTARY_TARGETS_PASSPHRASE", "targets-pass-123")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass-123")
        .stdin(Stdio::null())
        .output()
        .expect("run the Go `notary` CLI (Debian package notary)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "notary {args:?} failed (is the Go notary-server up at {NOTARY}? \
         scripts/peers/notary.sh start local):\n{text}"
    );
    text
}

/// `notary list` rows as (name, sha256 hex, size, role).
fn notary_list(trust: &Path, gun: &str) -> BTreeSet<(String, String, u64, String)> {
    notary(trust, &["list", gun])
        .lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| {
                (
                    f[0].to_owned(),
                    f[1].to_owned(),
                    f[2].parse().unwrap(),
                    f[3].to_owned(),
                )
            })
        })
        .collect()
}

fn ours(repo: &VerifiedRepository) -> BTreeSet<(String, String, u64, String)> {
    repo.targets()
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.sha256_hex().unwrap(),
                t.length,
                t.role.to_string(),
            )
        })
        .collect()
}

fn client(server: &str, pinning: Pinning, cache: Arc<dyn Cache>) -> Client {
    let ca = server.starts_with("https").then(ca);
    let transport = signet_client::Transport::new(&TransportConfig::new(server, ca)).unwrap();
    Client::new(transport, pinning, cache)
}

/// A repository published with the Go CLI: (trust dir, gun, payload files).
struct Published {
    _dir: tempfile::TempDir,
    trust: PathBuf,
    gun: String,
    work: PathBuf,
}

impl Published {
    fn new(prefix: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let trust = dir.path().join("trust");
        let gun = unique(prefix);
        notary(&trust, &["init", &gun, "-p"]);
        let work = dir.path().to_owned();
        Self {
            _dir: dir,
            trust,
            gun,
            work,
        }
    }

    fn add(&self, name: &str, content: &[u8]) {
        let file = self.work.join(format!("payload-{name}"));
        std::fs::write(&file, content).unwrap();
        notary(
            &self.trust,
            &["add", &self.gun, name, file.to_str().unwrap(), "-p"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_looks_up_what_the_go_client_published() {
    let p = Published::new("list");
    p.add("v1", b"first payload\n");
    p.add("v2", b"second, longer payload\n");

    let tofu = client(NOTARY, Pinning::Tofu, Arc::new(MemoryCache::new()));
    let repo = tofu.verify_gun(&p.gun).await.unwrap();
    assert_eq!(ours(&repo), notary_list(&p.trust, &p.gun));
    assert_eq!(repo.targets().len(), 2);
    // TOFU reports the root key it accepted: the one root.json lists.
    assert_eq!(
        repo.first_use_key_ids.as_deref(),
        Some(&repo.root_key_ids()[..])
    );

    let t = tofu.lookup(&p.gun, "v2").await.unwrap();
    assert_eq!(
        t.sha256_hex().unwrap(),
        hex_encode(&sha256(b"second, longer payload\n"))
    );
    assert_eq!(t.length, 23);
    assert_eq!(t.role, RoleName::targets());
    assert!(matches!(
        tofu.lookup(&p.gun, "v3").await,
        Err(ClientError::TargetNotFound { .. })
    ));
    assert!(matches!(
        tofu.verify_gun(&unique("missing")).await,
        Err(ClientError::RepositoryNotFound { .. })
    ));

    // The root key pinned: accepted, and nothing is reported as trusted on first use.
    let pinned = Pinning::Keys(repo.root_key_ids().into_iter().collect());
    let c = client(NOTARY, pinned, Arc::new(MemoryCache::new()));
    let again = c.verify_gun(&p.gun).await.unwrap();
    assert_eq!(ours(&again), ours(&repo));
    assert!(again.first_use_key_ids.is_none());

    // Another key pinned: refused, and the cache stays empty.
    let cache = Arc::new(MemoryCache::new());
    let c = client(
        NOTARY,
        Pinning::public_keys([EcdsaKey::generate().public()]),
        cache.clone(),
    );
    let err = c.verify_gun(&p.gun).await.unwrap_err();
    assert!(
        matches!(err.verify_error(), Some(VerifyError::Pinning { .. })),
        "{err}"
    );
    assert_eq!(cache.load(&p.gun, &RoleName::root()).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_the_go_clients_trust_dir() {
    let p = Published::new("trustdir");
    p.add("v1", b"payload\n");
    notary_list(&p.trust, &p.gun); // the Go client caches what it verified

    // The Go client's cache is the anchor: TOFU disabled still works from it.
    let c = client(
        NOTARY,
        Pinning::DisableTofu,
        Arc::new(TrustDirCache::new(&p.trust)),
    );
    let repo = c.verify_gun(&p.gun).await.unwrap();
    assert_eq!(ours(&repo), notary_list(&p.trust, &p.gun));

    // Without a cached root and with TOFU disabled: refused.
    let empty = tempfile::tempdir().unwrap();
    let c = client(
        NOTARY,
        Pinning::DisableTofu,
        Arc::new(TrustDirCache::new(empty.path())),
    );
    let err = c.verify_gun(&p.gun).await.unwrap_err();
    assert!(
        matches!(err.verify_error(), Some(VerifyError::Pinning { .. })),
        "{err}"
    );

    // What signet caches, the Go client reads: a fresh dir filled by signet, then
    // `notary list` against it after a new publish.
    let ours_dir = tempfile::tempdir().unwrap();
    let c = client(
        NOTARY,
        Pinning::Tofu,
        Arc::new(TrustDirCache::new(ours_dir.path())),
    );
    c.verify_gun(&p.gun).await.unwrap();
    for f in [
        "root.json",
        "timestamp.json",
        "snapshot.json",
        "targets.json",
    ] {
        let path = ours_dir
            .path()
            .join("tuf")
            .join(&p.gun)
            .join("metadata")
            .join(f);
        assert!(path.is_file(), "{} not written", path.display());
    }
    p.add("v2", b"payload two\n");
    assert_eq!(
        notary_list(ours_dir.path(), &p.gun).len(),
        2,
        "the Go client reads signet's cache and updates from it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_cache_follows_root_rotations_on_the_server() {
    let p = Published::new("rotate");
    p.add("v1", b"one\n");
    let c = client(NOTARY, Pinning::Tofu, Arc::new(MemoryCache::new()));
    let first = c.verify_gun(&p.gun).await.unwrap();
    let version = first.chain.root().version();

    // The timestamp key moves to a new server key: the next timestamp is signed by a key
    // the cached root does not list, so the update has to read the new root.
    notary(&p.trust, &["key", "rotate", &p.gun, "timestamp", "-r"]);
    p.add("v2", b"two\n");
    let second = c.verify_gun(&p.gun).await.unwrap();
    assert_eq!(second.chain.root().version(), version + 1);
    assert_eq!(ours(&second), notary_list(&p.trust, &p.gun));

    // A new targets key: the timestamp key is unchanged, and the new snapshot lists a root
    // other than the cached one.
    notary(&p.trust, &["key", "rotate", &p.gun, "targets"]);
    p.add("v3", b"three\n");
    let third = c.verify_gun(&p.gun).await.unwrap();
    assert_eq!(third.chain.root().version(), version + 2);
    assert_eq!(ours(&third), notary_list(&p.trust, &p.gun));
    assert_eq!(third.targets().len(), 3);
}

// ---------------------------------------------------------------------------------------
// Hostile server
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
enum Reply {
    Bytes(Vec<u8>),
    /// A chunked body that never ends.
    Endless,
}

/// A minimal HTTP/1.1 server: serves `files` by the name after `/_trust/tuf/`, 404
/// otherwise; one request per connection. It records the names asked for.
struct Hostile {
    url: String,
    files: Arc<Mutex<HashMap<String, Reply>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, log) = (files.clone(), asked.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    // A transient accept error (e.g. out of descriptors) must not stop
                    // the server for the rest of the test.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let (files, log) = (served.clone(), log.clone());
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req);
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let name = path.split("/_trust/tuf/").nth(1).unwrap_or("").to_owned();
                    log.lock().unwrap().push(name.clone());
                    let reply = files.lock().unwrap().get(&name).cloned();
                    match reply {
                        Some(Reply::Bytes(b)) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                b.len()
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                            let _ = sock.write_all(&b).await;
                        }
                        Some(Reply::Endless) => {
                            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
                            while sock.write_all(chunk.as_bytes()).await.is_ok() {}
                        }
                        None => {
                            let _ = sock
                                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .await;
                        }
                    }
                });
            }
        });
        Self { url, files, asked }
    }

    /// The names asked for since the last call, in order.
    fn take_asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }

    /// Serves exactly the chain of `repo`, under the names a Notary server uses.
    fn serve(&self, repo: &VerifiedRepository) {
        let mut files = self.files.lock().unwrap();
        files.clear();
        let chain = &repo.chain;
        let root = chain.root();
        files.insert("root.json".into(), Reply::Bytes(root.bytes().to_vec()));
        files.insert(
            format!("{}.root.json", root.version()),
            Reply::Bytes(root.bytes().to_vec()),
        );
        let ts = chain.trusted_snapshot().trusted_timestamp().timestamp();
        files.insert("timestamp.json".into(), Reply::Bytes(ts.bytes().to_vec()));
        let snap = chain.trusted_snapshot().snapshot();
        files.insert(
            by_hash("snapshot", snap.bytes()),
            Reply::Bytes(snap.bytes().to_vec()),
        );
        for (role, doc) in chain.roles() {
            files.insert(
                by_hash(role.as_str(), doc.bytes()),
                Reply::Bytes(doc.bytes().to_vec()),
            );
        }
    }

    fn set(&self, name: &str, reply: Reply) {
        self.files.lock().unwrap().insert(name.to_owned(), reply);
    }
}

fn by_hash(role: &str, bytes: &[u8]) -> String {
    format!("{role}.{}.json", hex_encode(&sha256(bytes)))
}

/// Two real states of one repository published with the Go CLI: after v1, and after v2.
async fn two_states() -> (Published, VerifiedRepository, VerifiedRepository) {
    let p = Published::new("hostile");
    p.add("v1", b"one\n");
    let go = client(NOTARY, Pinning::Tofu, Arc::new(MemoryCache::new()));
    let a = go.verify_gun(&p.gun).await.unwrap();
    p.add("v2", b"two\n");
    let b = go.verify_gun(&p.gun).await.unwrap();
    assert!(
        b.chain.trusted_snapshot().snapshot().version()
            > a.chain.trusted_snapshot().snapshot().version()
    );
    (p, a, b)
}

/// A client of `server` with a cache primed by verifying `state` through it.
async fn primed(server: &Hostile, state: &VerifiedRepository) -> (Client, Arc<MemoryCache>) {
    let cache = Arc::new(MemoryCache::new());
    let c = client(&server.url, Pinning::Tofu, cache.clone());
    server.serve(state);
    let got = c.verify_gun(&state.gun).await.unwrap();
    assert_eq!(ours(&got), ours(state));
    (c, cache)
}

/// The error of a rejected update: the role it names and the core's verdict.
fn rejected(err: &ClientError) -> (RoleName, &VerifyError) {
    match err {
        ClientError::Rejected { role, source, .. } => (role.clone(), source),
        other => panic!("expected a verification failure, got {other} ({other:?})"),
    }
}

/// After a refused update the cache still holds `state`, and it still verifies.
async fn still_good(server: &Hostile, c: &Client, cache: &MemoryCache, state: &VerifiedRepository) {
    let ts = cache
        .load(&state.gun, &RoleName::timestamp())
        .unwrap()
        .unwrap();
    assert_eq!(
        ts,
        state
            .chain
            .trusted_snapshot()
            .trusted_timestamp()
            .timestamp()
            .bytes(),
        "the cache kept its last good timestamp"
    );
    server.serve(state);
    let again = c.verify_gun(&state.gun).await.unwrap();
    assert_eq!(ours(&again), ours(state));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_server_attacks_are_refused_and_the_cache_survives() {
    let (_p, a, b) = two_states().await;
    let server = Hostile::start().await;

    // Rollback: a client that saw B is served A (all of it correctly signed).
    let (c, cache) = primed(&server, &b).await;
    // (A warm update of an unchanged repository asks for the timestamp alone: the cached
    // root is current, and the snapshot and targets it names are cached.)
    server.take_asked();
    c.verify_gun(&b.gun).await.unwrap();
    assert_eq!(server.take_asked(), ["timestamp.json"]);
    server.serve(&a);
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    let (role, why) = rejected(&err);
    assert_eq!(role, RoleName::timestamp(), "{err}");
    assert!(matches!(why, VerifyError::Rollback { .. }), "{err}");
    still_good(&server, &c, &cache, &b).await;

    // Freeze: B replayed two weeks later; its timestamp (14 days) has expired.
    let frozen = c.clone().with_clock({
        let real = signet_client::Clock::system();
        signet_client::Clock::from_fn(move || real.now().add_days(15))
    });
    server.serve(&b);
    let err = frozen.verify_gun(&b.gun).await.unwrap_err();
    let (role, why) = rejected(&err);
    assert_eq!(role, RoleName::timestamp(), "{err}");
    assert!(matches!(why, VerifyError::Expired { .. }), "{err}");
    still_good(&server, &c, &cache, &b).await;

    // Tampered targets: a client at A is served B with targets edited after signing.
    let (c, cache) = primed(&server, &a).await;
    server.serve(&b);
    let targets = b.chain.role(&RoleName::targets()).unwrap().bytes();
    // Same length, edited signed content: v2's length 4 becomes 5.
    let text = String::from_utf8(targets.to_vec()).unwrap();
    assert!(text.contains("\"length\":4"), "{text}");
    let edited = text.replacen("\"length\":4", "\"length\":5", 1);
    server.set(
        &by_hash("targets", targets),
        Reply::Bytes(edited.into_bytes()),
    );
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    let (role, why) = rejected(&err);
    assert_eq!(role, RoleName::targets(), "{err}");
    assert!(matches!(why, VerifyError::HashMismatch { .. }), "{err}");
    still_good(&server, &c, &cache, &a).await;

    // Mix and match: B's timestamp with A's snapshot under B's snapshot name.
    server.serve(&b);
    let b_snap = b.chain.trusted_snapshot().snapshot().bytes();
    let a_snap = a.chain.trusted_snapshot().snapshot().bytes();
    server.set(&by_hash("snapshot", b_snap), Reply::Bytes(a_snap.to_vec()));
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    let (role, why) = rejected(&err);
    assert_eq!(role, RoleName::snapshot(), "{err}");
    assert!(matches!(why, VerifyError::HashMismatch { .. }), "{err}");
    still_good(&server, &c, &cache, &a).await;

    // Endless data: timestamp, then a snapshot that does not stop at its listed length.
    server.serve(&b);
    server.set("timestamp.json", Reply::Endless);
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::TooLarge { role, limit, .. }
            if *role == RoleName::timestamp() && *limit == 1 << 20),
        "{err}"
    );
    server.serve(&b);
    server.set(&by_hash("snapshot", b_snap), Reply::Endless);
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::TooLarge { role, limit, .. }
            if *role == RoleName::snapshot() && *limit == b_snap.len() as u64),
        "{err}"
    );
    still_good(&server, &c, &cache, &a).await;

    // A root signed by another key (same GUN, next version): not a rotation the trusted
    // root authorized. The impostor's timestamp is one the cached root refuses, which is
    // what sends a warm update to root.json (a warm update that verifies never reads it).
    let mut impostor = TestRepo::new(&b.gun, signet_client::Clock::system().now());
    impostor.set_timestamp_key(EcdsaKey::generate().public().clone());
    impostor.set_server_snapshot_key(EcdsaKey::generate().public().clone());
    let version = a.root_version();
    let b_ts = b
        .chain
        .trusted_snapshot()
        .trusted_timestamp()
        .timestamp()
        .bytes();
    let impostor_ts = Reply::Bytes(signet_test_support::tamper(b_ts));
    server.serve(&b);
    server.set("timestamp.json", impostor_ts);
    server.set("root.json", Reply::Bytes(impostor.root(version + 1)));
    server.take_asked();
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    let (role, why) = rejected(&err);
    assert_eq!(role, RoleName::root(), "{err}");
    assert!(
        matches!(why, VerifyError::RotationNotAuthorized { valid: 0, .. }),
        "{err}"
    );
    let asked = server.take_asked();
    assert_eq!(asked[0], "timestamp.json", "{asked:?}");
    assert!(asked[1..].contains(&"root.json".to_owned()), "{asked:?}");
    // Further ahead: the walk fetches the missing version, which is not there.
    server.set("root.json", Reply::Bytes(impostor.root(version + 2)));
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status: 404, role, .. } if *role == RoleName::root()),
        "{err}"
    );
    // Served as the intermediate too: refused at the first step.
    server.set(
        &format!("{}.root.json", version + 1),
        Reply::Bytes(impostor.root(version + 1)),
    );
    let err = c.verify_gun(&b.gun).await.unwrap_err();
    assert!(
        matches!(rejected(&err).1, VerifyError::RotationNotAuthorized { .. }),
        "{err}"
    );
    still_good(&server, &c, &cache, &a).await;
    // A fresh client pinned to the real root key refuses the impostor's root outright.
    let pinned = client(
        &server.url,
        Pinning::Keys(a.root_key_ids().into_iter().collect()),
        Arc::new(MemoryCache::new()),
    );
    server.serve(&b);
    server.set("root.json", Reply::Bytes(impostor.root(1)));
    let err = pinned.verify_gun(&b.gun).await.unwrap_err();
    assert!(
        matches!(rejected(&err).1, VerifyError::Pinning { .. }),
        "{err}"
    );
}
