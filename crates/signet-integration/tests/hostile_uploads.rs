//! Hostile uploads against the real `signet server` binary: uploads at the 64 MiB body limit
//! built to cost the server as much memory and CPU as possible, two at a time, while a
//! monitor polls the process's resident memory (`/proc/<pid>/status`) and times health
//! checks. The bounds are behaviour, not benchmarks: the server stays under 512 MiB and
//! keeps answering health checks within 500 ms, with margin on a loaded 2-core machine.
//!
//! The attacks:
//! * a part that is a bare JSON array of zeros (32 million values);
//! * the same array inside a `signed` object, so it looks like metadata;
//! * a well-formed targets file carrying one 64 MiB string, behind a valid root for a new
//!   repository (anyone may create one), so that it is fully parsed before its missing
//!   signatures are noticed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signet_core::UnixTime;
use signet_test_support::{TestRepo, multipart, parse_server_key};

use crate::util::{Db, SignetServer, https_client};

const MIB: usize = 1 << 20;
/// The server's default `max_upload_bytes`.
const MAX_UPLOAD: usize = 64 * MIB;
/// Peak resident memory allowed while under attack.
const RSS_LIMIT_KIB: u64 = 512 * 1024;
/// Slowest health answer allowed while under attack.
const HEALTH_LIMIT: Duration = Duration::from_millis(500);

/// `[0,0,…,0]` of exactly `len` bytes (`len` odd, at least 3).
fn zeros(len: usize) -> Vec<u8> {
    assert!(len >= 3 && !len.is_multiple_of(2));
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for _ in 0..(len - 3) / 2 {
        out.extend_from_slice(b"0,");
    }
    out.extend_from_slice(b"0]");
    assert_eq!(out.len(), len);
    out
}

/// `prefix` + a filler made by `fill` + `suffix`, `total` bytes (or one less).
fn sized(total: usize, prefix: &str, fill: impl Fn(usize) -> Vec<u8>, suffix: &str) -> Vec<u8> {
    let mut len = total - prefix.len() - suffix.len();
    if len.is_multiple_of(2) {
        len -= 1;
    }
    let mut out = Vec::with_capacity(MAX_UPLOAD);
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&fill(len));
    out.extend_from_slice(suffix.as_bytes());
    out
}

/// [`sized`] so that a one-part multipart body is just under the limit (the framing of a
/// part is well under 1 KiB).
fn at_limit(prefix: &str, fill: impl Fn(usize) -> Vec<u8>, suffix: &str) -> Vec<u8> {
    sized(MAX_UPLOAD - 1024, prefix, fill, suffix)
}

fn giant_string(len: usize) -> Vec<u8> {
    let mut out = vec![b'a'; len];
    out[0] = b'"';
    out[len - 1] = b'"';
    out
}

#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn now() -> UnixTime {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    UnixTime::from_unix(i64::try_from(since.as_secs()).unwrap(), 0)
}

/// `VmHWM` and `VmRSS` of `pid`, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// What the monitor saw during one round.
#[derive(Debug, Default)]
struct Observed {
    peak_rss_kib: u64,
    hwm_kib: u64,
    health_checks: usize,
    slowest_health: Duration,
    failed_health: Vec<String>,
    /// Per upload: name, expected (status, code), status, body.
    answers: Vec<(&'static str, (u16, &'static str), u16, String)>,
}

struct Attack {
    name: &'static str,
    gun: String,
    parts: Vec<(String, Vec<u8>)>,
    /// Expected status and error code.
    expect: (u16, &'static str),
}

/// Sends `attacks` at once; meanwhile polls memory and health until all are answered.
async fn round(server: &SignetServer, attacks: Vec<Attack>) -> Observed {
    let client = https_client(server.ca()).expect("client");
    let done = Arc::new(AtomicBool::new(false));

    let pid = server.pid();
    let memory_done = done.clone();
    let memory = std::thread::spawn(move || {
        let mut peak = 0;
        while !memory_done.load(Ordering::SeqCst) {
            peak = peak.max(memory_kib(pid).1);
            std::thread::sleep(Duration::from_millis(5));
        }
        let (hwm, rss) = memory_kib(pid);
        (peak.max(rss), hwm)
    });

    let health_url = format!("{}/_notary_server/health", server.url());
    let health_client = client.clone();
    let health_done = done.clone();
    let health = tokio::spawn(async move {
        let mut seen = Observed::default();
        while !health_done.load(Ordering::SeqCst) {
            let started = Instant::now();
            let outcome = health_client
                .get(&health_url)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let took = started.elapsed();
            seen.health_checks += 1;
            seen.slowest_health = seen.slowest_health.max(took);
            match outcome {
                Ok(r) if r.status().as_u16() == 200 => {}
                Ok(r) => seen.failed_health.push(format!("status {}", r.status())),
                Err(e) => seen.failed_health.push(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        seen
    });

    let mut uploads = tokio::task::JoinSet::new();
    for attack in attacks {
        let client = client.clone();
        let url = format!("{}/v2/{}/_trust/tuf/", server.url(), attack.gun);
        uploads.spawn(async move {
            let refs: Vec<(&str, &[u8])> = attack
                .parts
                .iter()
                .map(|(r, b)| (r.as_str(), b.as_slice()))
                .collect();
            let (content_type, body) = multipart(&refs);
            assert!(body.len() <= MAX_UPLOAD, "{}: {}", attack.name, body.len());
            let started = Instant::now();
            let resp = client
                .post(&url)
                .header("Content-Type", content_type)
                .body(body)
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", attack.name));
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            eprintln!(
                "{}: {status} in {:?}: {}",
                attack.name,
                started.elapsed(),
                text.trim()
            );
            (attack.name, attack.expect, status, text)
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = uploads.join_next().await {
        answers.push(joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    // One more health check after the storm.
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, Ordering::SeqCst);
    let mut observed = health.await.expect("health task");
    let (peak, hwm) = memory.join().expect("memory thread");
    observed.peak_rss_kib = peak;
    observed.hwm_kib = hwm;
    observed.answers = answers;
    observed
}

fn assert_bounded(what: &str, o: &Observed) {
    eprintln!(
        "{what}: peak VmRSS {} MiB, VmHWM {} MiB, {} health checks, slowest {:?}",
        o.peak_rss_kib / 1024,
        o.hwm_kib / 1024,
        o.health_checks,
        o.slowest_health
    );
    assert!(o.failed_health.is_empty(), "{what}: {:?}", o.failed_health);
    for (name, (want_status, want_code), status, text) in &o.answers {
        assert_eq!(status, want_status, "{name}: {text}");
        assert!(
            text.contains(&format!("\"code\":\"{want_code}\"")),
            "{name}: want {want_code}: {text}"
        );
    }
    assert!(o.health_checks >= 3, "{what}: too few health checks: {o:?}");
    assert!(
        o.slowest_health < HEALTH_LIMIT,
        "{what}: a health check took {:?}",
        o.slowest_health
    );
    assert!(
        o.hwm_kib < RSS_LIMIT_KIB,
        "{what}: peak resident memory {} MiB",
        o.hwm_kib / 1024
    );
}

#[test]
fn two_hostile_uploads_at_the_limit_stay_bounded() {
    let server = SignetServer::start(Db::Sqlite);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (hwm, rss) = memory_kib(server.pid());
        eprintln!("idle: VmHWM {} MiB, VmRSS {} MiB", hwm / 1024, rss / 1024);

        // Round 1: the issue's attack, JSON arrays of zeros at the limit.
        let observed = round(
            &server,
            vec![
                Attack {
                    name: "bare array",
                    gun: "example.com/hostile/bare".to_owned(),
                    parts: vec![("targets".to_owned(), at_limit("", zeros, ""))],
                    expect: (400, "MALFORMED_JSON"),
                },
                Attack {
                    name: "array inside signed",
                    gun: "example.com/hostile/wrapped".to_owned(),
                    parts: vec![(
                        "targets".to_owned(),
                        at_limit(
                            r#"{"signed":{"_type":"Targets","version":1,"x":"#,
                            zeros,
                            "}}",
                        ),
                    )],
                    expect: (400, "MALFORMED_UPLOAD"),
                },
            ],
        )
        .await;
        assert_bounded("arrays of zeros", &observed);

        // Round 2: well-formed files with one giant string, behind a valid root, so each is
        // parsed whole before its (missing) signatures are checked.
        let client = https_client(server.ca()).expect("client");
        let mut attacks = Vec::new();
        for i in 0..2 {
            let gun = format!("example.com/hostile/string-{i}");
            let url = format!("{}/v2/{gun}/_trust/tuf/timestamp.key", server.url());
            let key = client.get(&url).send().await.expect("timestamp.key");
            let key = parse_server_key(&key.bytes().await.expect("key body")).expect("a key");
            let mut repo = TestRepo::new(&gun, now());
            repo.set_timestamp_key(key);
            repo.hold_snapshot_key();
            let root = repo.root(1);
            let targets = sized(
                MAX_UPLOAD - 2048 - root.len(),
                r#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2100-01-01T00:00:00Z","targets":{},"version":1,"x":"#,
                giant_string,
                r#"},"signatures":[]}"#,
            );
            attacks.push(Attack {
                name: if i == 0 { "giant string 1" } else { "giant string 2" },
                gun,
                parts: vec![("root".to_owned(), root), ("targets".to_owned(), targets)],
                expect: (400, "INVALID_UPDATE"),
            });
        }
        let observed = round(&server, attacks).await;
        assert_bounded("giant strings", &observed);

        // The server still works.
        let r = client
            .get(format!("{}/_notary_server/health", server.url()))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status().as_u16(), 200);
    });
    let tail = server.stderr_tail(4000);
    assert!(!tail.contains("panicked"), "{tail}");
}
