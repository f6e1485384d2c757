//! The `signet` binary as an operator meets it: exit codes and messages, the generated
//! local CA, and server keys that survive a restart (Notary's "local" trust service loses
//! them).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// Starts `signet server` in `dir` with extra args; returns the child and its URL.
fn start(dir: &Path, passphrase: &str, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(util::signet_binary())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite://signet.db",
        ])
        .args(extra)
        .env("SIGNET_KEY_PASSPHRASE", passphrase)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signet");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read listening line");
    let url = line
        .trim()
        .strip_prefix("signet server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs to completion (bounded) and returns exit code and stderr.
fn run_to_exit(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(util::signet_binary());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("SIGNET_KEY_PASSPHRASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
                .expect("stderr");
            return (status.code().unwrap_or(-1), err);
        }
        assert!(Instant::now() < deadline, "signet {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn configuration_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = run_to_exit(dir.path(), &[], &["server", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SIGNET_KEY_PASSPHRASE"), "{err}");
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "x")],
        &["server", "--database", "mysql://h/db"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unsupported scheme"), "{err}");
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "x"), ("SIGNET_SERVER_NOPE", "1")],
        &["server"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SIGNET_SERVER_NOPE"), "{err}");
    let (code, _) = run_to_exit(dir.path(), &[], &["server", "--tls-cert", "only-cert.pem"]);
    assert_eq!(code, 2, "--tls-cert without --tls-key is a usage error");
    let (code, out) = run_to_exit(dir.path(), &[], &["--help"]);
    assert_eq!(code, 0, "{out}");

    // A passphrase file that does not exist.
    let (code, err) = run_to_exit(
        dir.path(),
        &[],
        &["server", "--key-passphrase-file", "missing.txt"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.txt"), "{err}");

    // A certificate with the key of another certificate.
    let (certs, _) = signet_service::tls::ensure_local_ca(
        &dir.path().join("state"),
        &[],
        signet_core::UnixTime::from_unix(now_secs(), 0),
    )
    .expect("certificates");
    let cert = certs.cert.display().to_string();
    let wrong_key = certs.ca_key.display().to_string();
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "x")],
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &wrong_key,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&cert), "{err}");

    // An unreachable PostgreSQL is named with its address and the reason.
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "x")],
        &[
            "server",
            "--database",
            "postgres://postgres@127.0.0.1:1/test",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("PostgreSQL 127.0.0.1:1/test"), "{err}");
    assert!(err.contains("refused"), "the reason: {err}");

    // A port in use: exit 2, and the OS's reason said once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "x")],
        &["server", "--listen", &addr, "--plain-http"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&addr), "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}

fn now_secs() -> i64 {
    #[allow(clippy::disallowed_methods)] // the test needs the machine's time, as the server does
    let now = std::time::SystemTime::now();
    i64::try_from(
        now.duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

#[test]
fn server_keys_survive_restart_and_need_the_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = util::peer_certs();
    let tls: [&str; 4] = [
        "--tls-cert",
        certs.server_cert.to_str().expect("utf-8 path"),
        "--tls-key",
        certs.server_key.to_str().expect("utf-8 path"),
    ];
    let key_url = |base: &str| format!("{base}/v2/example.com/restart/_trust/tuf/timestamp.key");

    let (child, url) = start(dir.path(), "first passphrase", &tls);
    let (status, first) = util::https_get(&key_url(&url), &certs.ca).expect("GET timestamp.key");
    assert_eq!(status, 200, "{first}");
    stop(child);

    let (child, url) = start(dir.path(), "first passphrase", &tls);
    let (_, again) = util::https_get(&key_url(&url), &certs.ca).expect("GET timestamp.key");
    stop(child);
    assert_eq!(
        first, again,
        "the unused timestamp key must survive a restart"
    );

    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "wrong passphrase")],
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite://signet.db",
            tls[0],
            tls[1],
            tls[2],
            tls[3],
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("passphrase does not match"), "{err}");
    // Keys are sealed: the database file never holds the private key in the clear.
    let db = std::fs::read(dir.path().join("signet.db")).expect("db");
    assert!(
        !db.windows(16).any(|w| w == b"-----BEGIN PRIVA"),
        "plaintext PEM in database"
    );
}

#[test]
fn without_certificates_a_local_ca_is_made_and_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = start(dir.path(), "pw", &["--state-dir", "state"]);
    let ca = dir.path().join("state/tls/ca.crt");
    assert!(ca.exists(), "CA not written to {}", ca.display());
    let (status, body) =
        util::https_get(&format!("{url}/_notary_server/health"), &ca).expect("health over TLS");
    stop(child);
    assert_eq!((status, body.as_str()), (200, "{}"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.path().join("state/tls/server.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "server key must be private, mode {mode:o}");
    // A second start reuses the same CA.
    let before = std::fs::read(&ca).expect("ca");
    let (child, _) = start(dir.path(), "pw", &["--state-dir", "state"]);
    stop(child);
    assert_eq!(before, std::fs::read(&ca).expect("ca"));
}

#[test]
fn generated_certificate_near_expiry_is_renewed_at_start_and_exported() {
    use signet_service::tls::{SERVER_VALIDITY_DAYS, ensure_local_ca};
    const DAY: i64 = 86_400;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let now = now_secs();
    // Material made 360 days ago: the server certificate has 5 days left, the CA years.
    let made = signet_core::UnixTime::from_unix(now - 360 * DAY, 0);
    let (paths, _) = ensure_local_ca(&state, &[], made).expect("old material");
    let ca_before = std::fs::read(&paths.ca_cert).expect("ca");
    let cert_before = std::fs::read(&paths.cert).expect("cert");

    let (child, url) = start(dir.path(), "pw", &["--state-dir", "state"]);
    let health = util::https_get(&format!("{url}/_notary_server/health"), &paths.ca_cert);
    let metrics = util::https_get(&format!("{url}/metrics"), &paths.ca_cert);
    stop(child);
    assert_eq!(health.expect("health over TLS"), (200, "{}".to_owned()));
    assert_eq!(
        std::fs::read(&paths.ca_cert).expect("ca"),
        ca_before,
        "CA kept"
    );
    assert_ne!(
        std::fs::read(&paths.cert).expect("cert"),
        cert_before,
        "renewed"
    );

    let renewed = signet_core::key::parse_cert_chain(&std::fs::read(&paths.cert).expect("cert"))
        .expect("parses")[0]
        .not_after
        .secs();
    let expected = now + SERVER_VALIDITY_DAYS * DAY;
    assert!(
        (expected - 120..=expected + 120).contains(&renewed),
        "renewed certificate valid for {SERVER_VALIDITY_DAYS} days from now: {renewed} vs {expected}"
    );
    let (status, text) = metrics.expect("metrics over TLS");
    assert_eq!(status, 200);
    let line = format!(
        "signet_tls_certificate_expiry_timestamp_seconds{{role=\"server\",source=\"generated\",path=\"{}\"}} {renewed}\n",
        paths.cert.display()
    );
    assert!(text.contains(&line), "missing {line:?} in\n{text}");
}

#[test]
fn a_removed_sqlite_database_fails_health_and_is_not_silently_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("state/tls/ca.crt");
    let (child, url) = start(dir.path(), "pw", &["--state-dir", "state"]);
    let health = format!("{url}/_notary_server/health");
    let before = util::https_get(&health, &ca);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("signet.db{suffix}")));
    }
    let after = util::https_get(&health, &ca);
    stop(child);
    assert_eq!(before.expect("health"), (200, "{}".to_owned()));
    let (status, body) = after.expect("health after removal");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("DB operational") && body.contains("was removed"),
        "{body}"
    );

    // A restart refuses to make an empty database in its place.
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "pw")],
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite://signet.db",
            "--state-dir",
            "state",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("existed but is gone"), "{err}");
    assert!(!dir.path().join("signet.db").exists(), "nothing created");

    // The operator decides to start empty: remove the marker.
    std::fs::remove_file(dir.path().join("state/databases")).expect("marker");
    let (child, _) = start(dir.path(), "pw", &["--state-dir", "state"]);
    stop(child);
    assert!(dir.path().join("signet.db").exists());
}

/// A TCP relay to PostgreSQL that can be made to swallow traffic (a database that stops
/// answering without closing connections, as behind a dead network path).
struct Blackhole {
    addr: std::net::SocketAddr,
    swallow: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Blackhole {
    fn to_postgres() -> Blackhole {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let swallow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = swallow.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect("127.0.0.1:5432") else {
                    continue;
                };
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = match std::io::Read::read(&mut from, &mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if s.load(Ordering::SeqCst) {
                                continue; // swallowed: the other side waits forever
                            }
                            if std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Blackhole { addr, swallow }
    }
}

#[test]
fn health_answers_within_seconds_when_postgres_stops_answering() {
    let db = util::PgDatabase::create();
    let relay = Blackhole::to_postgres();
    let url = db
        .url()
        .replacen("127.0.0.1:5432", &relay.addr.to_string(), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("state/tls/ca.crt");
    let mut child = Command::new(util::signet_binary())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &url,
            "--state-dir",
            "state",
        ])
        .env("SIGNET_KEY_PASSPHRASE", "pw")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn signet");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("signet server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let health = format!("{base}/_notary_server/health");
    let healthy = util::https_get(&health, &ca);
    relay
        .swallow
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let down = util::https_get(&health, &ca);
    let took = started.elapsed();
    stop(child);
    assert_eq!(healthy.expect("health"), (200, "{}".to_owned()));
    let (status, body) = down.expect("health while PostgreSQL is silent");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("DB operational"), "{body}");
    assert!(took < Duration::from_secs(5), "health took {took:?}");
}

#[test]
fn each_request_writes_one_access_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, url) = start(dir.path(), "pw", &["--plain-http"]);
    let addr = url.strip_prefix("http://").expect("plain http");
    for path in [
        "/v2/example.com/app/_trust/tuf/root.json",
        "/_notary_server/health",
    ] {
        let mut conn = std::net::TcpStream::connect(addr).expect("connect");
        std::io::Write::write_all(
            &mut conn,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("send");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut conn, &mut answer).expect("answer");
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    let access: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("signet::access"))
        .collect();
    assert_eq!(access.len(), 2, "{err}");
    assert!(
        access[0].contains(r#"method=GET route="get_current" gun="example.com/app" status=404"#),
        "{}",
        access[0]
    );
    assert!(
        access[1].contains(r#"route="health" gun="" status=200"#),
        "{}",
        access[1]
    );
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI colours when stderr is not a terminal"
    );
}

/// `GET {gun}/_trust/tuf/timestamp.key` over plain HTTP: the server's public key for it.
fn timestamp_key(addr: &str, gun: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    std::io::Write::write_all(
        &mut conn,
        format!(
            "GET /v2/{gun}/_trust/tuf/timestamp.key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect("send");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .expect("body")
}

#[test]
fn one_server_per_sqlite_file_online_backup_restores_and_shutdown_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = start(dir.path(), "pw", &["--plain-http"]);
    let addr = url.strip_prefix("http://").expect("plain").to_owned();
    let key = timestamp_key(&addr, "example.com/app");

    // A second server on the same file is refused.
    let (code, err) = run_to_exit(
        dir.path(),
        &[("SIGNET_KEY_PASSPHRASE", "pw")],
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--database",
            "sqlite://signet.db",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another signet server is using"), "{err}");

    // An online backup while the first one runs.
    let (code, err) = run_to_exit(
        dir.path(),
        &[],
        &[
            "server",
            "--database",
            "sqlite://signet.db",
            "backup",
            "copy.db",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = run_to_exit(
        dir.path(),
        &[],
        &[
            "server",
            "--database",
            "sqlite://signet.db",
            "backup",
            "copy.db",
        ],
    );
    assert_eq!(code, 1, "an existing destination is not overwritten: {err}");

    // Graceful stop: the write-ahead log is folded into the database file.
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let wal = dir.path().join("signet.db-wal");
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(wal_len, 0, "WAL checkpointed on shutdown");

    // The copy serves the same repository state.
    let restored = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        dir.path().join("copy.db"),
        restored.path().join("signet.db"),
    )
    .expect("copy");
    let (child, url) = start(restored.path(), "pw", &["--plain-http"]);
    let again = timestamp_key(
        url.strip_prefix("http://").expect("plain"),
        "example.com/app",
    );
    stop(child);
    assert_eq!(
        again, key,
        "the restored database holds the same server key"
    );
}
