//! The `signet` CLI behind a hostile proxy in front of the real Go notary-server: the proxy
//! replays an old timestamp (rollback), tampers with targets in transit, serves an old
//! snapshot under the new one's name (mix and match), streams an endless timestamp, and
//! serves a root signed by another key to a client pinned to the real one. Each attack is
//! refused with an error that names it, exit code 1, and afterwards, through an honest
//! proxy, the same trust directory still lists the good data (its cache survived).
//!
//! Frozen (expired) metadata is refused by the library's hostile-server test, which moves
//! the client's clock; the CLI reads the real clock.
//!
//! Needs the peers (`scripts/peers/up.sh`: the Go notary-server) and a built `signet`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util;

/// What the proxy does to a file instead of forwarding it.
#[derive(Clone)]
enum Attack {
    /// These bytes.
    Bytes(Vec<u8>),
    /// The real file with `Targets` changed to `targets` (same length, other hash).
    Tamper,
    /// A chunked body that never ends.
    Endless,
}

#[derive(Default)]
struct State {
    /// Attacks by the file name after `/_trust/tuf/`; a name ending in `*` matches a prefix.
    attacks: HashMap<String, Attack>,
    /// The last honest body of every file forwarded.
    seen: HashMap<String, Vec<u8>>,
}

struct Proxy {
    url: String,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(upstream: String, ca: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let http = util::https_client(ca).expect("client for the upstream server");
        let state: Arc<Mutex<State>> = Arc::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(serve(sock, http.clone(), upstream.clone(), shared.clone()));
            }
        });
        Self {
            url,
            state,
            _rt: rt,
        }
    }

    fn attack(&self, name: &str, attack: Attack) {
        let mut s = self.state.lock().expect("state");
        s.attacks.clear();
        s.attacks.insert(name.to_owned(), attack);
    }

    fn honest(&self) {
        self.state.lock().expect("state").attacks.clear();
    }

    /// The last honest bytes of the file whose name starts with `prefix`.
    fn seen(&self, prefix: &str) -> (String, Vec<u8>) {
        let s = self.state.lock().expect("state");
        let mut hits: Vec<_> = s
            .seen
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .collect();
        hits.sort();
        let (n, b) = hits
            .first()
            .unwrap_or_else(|| panic!("the proxy never forwarded {prefix}*"));
        ((*n).clone(), (*b).clone())
    }

    fn forget_seen(&self) {
        self.state.lock().expect("state").seen.clear();
    }
}

/// One request per connection: GET only, forwarded unless an attack matches.
async fn serve(
    mut sock: tokio::net::TcpStream,
    http: reqwest::Client,
    upstream: String,
    state: Arc<Mutex<State>>,
) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&req).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let name = path.split("/_trust/tuf/").nth(1).unwrap_or("").to_owned();
    let attack = {
        let s = state.lock().expect("state");
        s.attacks
            .iter()
            .find(|(pat, _)| match pat.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => **pat == name,
            })
            .map(|(_, a)| a.clone())
    };
    if let Some(Attack::Endless) = attack {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
        return;
    }
    let tamper = matches!(attack, Some(Attack::Tamper));
    let (status, body) = match attack {
        Some(Attack::Bytes(b)) => (200, b),
        _ => match http.get(format!("{upstream}{path}")).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                if status == 200 && !name.is_empty() {
                    state
                        .lock()
                        .expect("state")
                        .seen
                        .insert(name.clone(), body.clone());
                }
                (status, body)
            }
            Err(_) => (502, Vec::new()),
        },
    };
    let body = if tamper {
        String::from_utf8_lossy(&body)
            .replacen("\"Targets\"", "\"targets\"", 1)
            .into_bytes()
    } else {
        body
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
}

/// `signet -d <trust> -s <server> [--tlscacert ca] args…` → (exit code, stdout + stderr).
fn signet(trust: &Path, server: &str, ca: Option<&Path>, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(util::signet_binary());
    cmd.arg("-d").arg(trust).arg("-s").arg(server);
    if let Some(ca) = ca {
        cmd.arg("--tlscacert").arg(ca);
    }
    let out = cmd
        .args(args)
        .env("HOME", trust)
        .env("NOTARY_ROOT_PASSPHRASE", "proxy-root-passphrase")
        .env("NOTARY_TARGETS_PASSPHRASE", "proxy-targets-passphrase")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "proxy-snapshot-passphrase")
        .env_remove("NOTARY_AUTH")
        .env_remove("SIGNET_ROOT_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("run signet");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn hostile_proxy_attacks_are_refused_by_the_cli_and_the_cache_survives() {
    let upstream = util::go_notary_url();
    let ca = util::peer_certs().ca;
    let proxy = Proxy::start(upstream.clone(), &ca);
    let root = util::artifact_dir("hostile_proxy_cli");
    let _ = std::fs::remove_dir_all(&root);
    let (publisher, victim): (PathBuf, PathBuf) = (root.join("publisher"), root.join("victim"));
    let gun = format!("example.com/proxy-{}", util::random_hex(4));
    let gun = gun.as_str();
    let publish = |name: &str| {
        let f = root.join(format!("{name}.txt"));
        std::fs::create_dir_all(&root).expect("dir");
        std::fs::write(&f, format!("target {name}\n")).expect("write");
        let (code, out) = signet(
            &publisher,
            &upstream,
            Some(&ca),
            &["add", gun, name, f.to_str().expect("utf-8"), "-p"],
        );
        assert_eq!(code, 0, "publishing {name} failed:\n{out}");
    };
    let list = || signet(&victim, &proxy.url, None, &["list", gun]);
    // Through the honest proxy, the victim lists `names` (so its cache holds them).
    let lists = |names: &[&str], after: &str| {
        proxy.honest();
        let (code, out) = list();
        assert_eq!(code, 0, "after {after}, the honest list failed:\n{out}");
        for n in names {
            assert!(
                out.lines().any(|l| l.starts_with(&format!("{n} "))),
                "after {after}, {n} is not listed:\n{out}"
            );
        }
    };
    let refused = |what: &str, expect: &str| {
        let (code, out) = list();
        assert_eq!(code, 1, "{what} was not refused:\n{out}");
        assert!(
            out.contains(expect),
            "{what}: the error does not say {expect:?}:\n{out}"
        );
    };

    let (code, out) = signet(&publisher, &upstream, Some(&ca), &["init", gun, "-p"]);
    assert_eq!(code, 0, "{out}");
    publish("v1");
    lists(&["v1"], "the first publish");
    let (_, old_timestamp) = proxy.seen("timestamp.json");
    let (_, old_snapshot) = proxy.seen("snapshot.");
    proxy.forget_seen();
    publish("v2");
    lists(&["v1", "v2"], "the second publish");

    // Rollback: the old (validly signed) timestamp replayed.
    proxy.attack("timestamp.json", Attack::Bytes(old_timestamp));
    refused("a replayed timestamp", "timestamp rejected");
    refused("a replayed timestamp", "lower than trusted version");
    lists(&["v1", "v2"], "the replay");

    // Tampered targets and mix-and-match need new metadata to fetch.
    publish("v3");
    proxy.attack("targets.*", Attack::Tamper);
    refused("tampered targets", "targets rejected");
    refused("tampered targets", "sha256 checksum mismatch");
    lists(&["v1", "v2", "v3"], "the tampering");
    publish("v4");
    proxy.attack("snapshot.*", Attack::Bytes(old_snapshot));
    refused("an old snapshot under the new name", "snapshot rejected");
    lists(&["v1", "v2", "v3", "v4"], "the mix and match");

    // Endless data.
    proxy.attack("timestamp.json", Attack::Endless);
    refused("an endless timestamp", "exceeds 1048576 bytes");
    lists(&["v4"], "the endless timestamp");

    // A root signed by another key, to a new client pinned to the real root key.
    let (_, real_root) = proxy.seen("root.json");
    let real: serde_json::Value = serde_json::from_slice(&real_root).expect("root JSON");
    let root_ids: Vec<String> = real["signed"]["roles"]["root"]["keyids"]
        .as_array()
        .expect("root key IDs")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let now = signet_service::Clock::system().now();
    let mut impostor = signet_test_support::TestRepo::new(gun, now);
    impostor.set_timestamp_key(signet_test_support::EcdsaKey::generate().public().clone());
    impostor.set_server_snapshot_key(signet_test_support::EcdsaKey::generate().public().clone());
    proxy.attack("root.json", Attack::Bytes(impostor.root(1)));
    let pinned = root.join("pinned");
    let (code, out) = signet(
        &pinned,
        &proxy.url,
        None,
        &["--pin-root-key", &root_ids.join(","), "list", gun],
    );
    assert_eq!(code, 1, "a foreign root was accepted:\n{out}");
    assert!(
        out.contains("root rejected")
            && out.contains("could not validate the path to a trusted root"),
        "{out}"
    );
    proxy.honest();
    let (code, out) = signet(
        &pinned,
        &proxy.url,
        None,
        &["--pin-root-key", &root_ids.join(","), "list", gun],
    );
    assert_eq!(code, 0, "the pinned client refuses the real root:\n{out}");
    assert!(out.contains("v4"), "{out}");
}
