//! `signet server` with `trust_service.type = "remote"`: its timestamp and snapshot keys on a
//! signer speaking notary-signer's gRPC API over mutual TLS.
//!
//! - with `signet signer`, and with the Go notary-signer, the notary CLI scenario
//!   (`tests/interop/notary-cli.sh`: init, publish, delegations, `key rotate … -r`, root
//!   rotation, deletes, list) prints the same normalized transcript as the Go notary-server
//!   (the peers' one, which uses the Go notary-signer);
//! - a signer outage: with the signer killed, reads (the Go `notary list` and `signet list`,
//!   the raw files) are answered from stored metadata and a publish fails at once with
//!   notary-server's error; with the signer stopped (SIGSTOP, a signer that accepts and never
//!   answers), a publish fails after the configured timeouts instead of hanging; each time,
//!   publishing works again once the signer is back; health names the signer meanwhile;
//! - a server without a client certificate from the signer's client CA gets nothing.
//!
//! Everything except the reference is started here on free ports with a test PKI. Needs the
//! peers' Go notary-server on 127.0.0.1:4443 (the reference), the `notary` and
//! `notary-signer` binaries (Debian package `notary`), and a built `signet`.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use signet_test_support::pki::{PemPair, TestCa};
use signet_test_support::softhsm::{self, SoftHsm, USER_PIN};

use crate::notary_cli::{check_go_reference, fresh_artifact_dir, scenario};
use crate::signer::{ALIAS, Proc, free_port, start_signer, start_signer_with_env};
use crate::util::{self, Db, SignetServer};

const PASS: [(&str, &str); 3] = [
    ("NOTARY_ROOT_PASSPHRASE", "remote-root-passphrase"),
    ("NOTARY_TARGETS_PASSPHRASE", "remote-targets-passphrase"),
    ("NOTARY_SNAPSHOT_PASSPHRASE", "remote-snapshot-passphrase"),
];
/// Longest a client command may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(120);

/// The test PKI: one CA for the signer's certificate and the server's client certificate.
struct Pki {
    ca: TestCa,
    signer: PemPair,
    server_client: PemPair,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca = TestCa::new(dir, "remote");
        let signer = ca.server("signer");
        let server_client = ca.client("signet-server");
        Pki {
            ca,
            signer,
            server_client,
        }
    }
}

/// notary-signer's JSON configuration for a signer on `port` (0: any).
fn signer_config(pki: &Pki, port: u16, storage: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "server": {
            "grpc_addr": format!("127.0.0.1:{port}"),
            "tls_cert_file": pki.signer.cert,
            "tls_key_file": pki.signer.key,
            "client_ca_file": pki.ca.cert,
        },
        "logging": { "level": "info" },
        "storage": storage,
    })
}

/// Starts `signet signer` (SQLite in `dir`) on `port` (0: any); returns it and its port.
fn start_signet_signer(dir: &Path, pki: &Pki, port: u16) -> (Proc, u16) {
    fs::create_dir_all(dir).expect("signer dir");
    let db = dir.join("signer.db");
    let config = dir.join("signer.json");
    let storage = serde_json::json!({
        "backend": "sqlite3", "db_url": db, "default_alias": ALIAS,
    });
    fs::write(&config, signer_config(pki, port, storage).to_string()).expect("signer config");
    start_signer(dir, &config)
}

/// Starts the Go notary-signer (memory storage) on a free port and waits until it accepts
/// connections.
fn start_go_signer(dir: &Path, pki: &Pki) -> (Proc, u16) {
    fs::create_dir_all(dir).expect("signer dir");
    let port = free_port();
    let config = dir.join("notary-signer.json");
    let storage = serde_json::json!({ "backend": "memory" });
    fs::write(&config, signer_config(pki, port, storage).to_string()).expect("signer config");
    let log = dir.join("notary-signer.log");
    let child = Command::new("notary-signer")
        .arg("-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("signer log"))
        .spawn()
        .expect("spawn notary-signer (Debian package `notary`)");
    let mut proc = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("notary-signer exited with {status}:\n{}", proc.log_tail());
        }
        assert!(
            Instant::now() < deadline,
            "notary-signer does not listen on 127.0.0.1:{port}:\n{}",
            proc.log_tail()
        );
        thread::sleep(Duration::from_millis(50));
    }
    (proc, port)
}

/// Starts `signet signer` (SQLite store under `setup/signer/`) with its keys on `hsm`.
fn start_softhsm_signer(setup: &Path, pki: &Pki, hsm: &SoftHsm) -> (Proc, u16) {
    let signer_dir = setup.join("signer");
    fs::create_dir_all(&signer_dir).expect("signer dir");
    let config = signer_dir.join("signer.json");
    let mut json = signer_config(
        pki,
        0,
        serde_json::json!({ "backend": "sqlite3", "db_url": signer_dir.join("signer.db") }),
    );
    json["pkcs11"] = serde_json::json!({
        "module": softhsm::module(),
        "token_label": hsm.label(),
    });
    fs::write(&config, json.to_string()).expect("signer config");
    start_signer_with_env(
        &signer_dir,
        &config,
        &[
            ("SOFTHSM2_CONF", hsm.conf().as_os_str()),
            ("SIGNET_SIGNER_PKCS11_PIN", USER_PIN.as_ref()),
        ],
    )
}

/// Starts `signet server` (SQLite) whose keys are on the signer at `port`; `client` is the
/// client certificate it shows (none: `None`).
fn start_remote_server(
    dir: &Path,
    pki: &Pki,
    port: u16,
    client: Option<&PemPair>,
    extra: serde_json::Value,
) -> SignetServer {
    let mut trust = serde_json::json!({
        "type": "remote",
        "hostname": "127.0.0.1",
        "port": port.to_string(),
        "key_algorithm": "ecdsa",
        "tls_ca_file": pki.ca.cert,
    });
    if let Some(c) = client {
        trust["tls_client_cert"] = serde_json::json!(c.cert);
        trust["tls_client_key"] = serde_json::json!(c.key);
    }
    if let (Some(t), Some(extra)) = (trust.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    let config = dir.join("server.json");
    fs::write(
        &config,
        serde_json::json!({ "trust_service": trust }).to_string(),
    )
    .expect("server config");
    SignetServer::start_with_config(Db::Sqlite, Some(&config))
}

/// Runs the notary CLI scenario against the Go reference and `server`; they must match.
fn assert_scenario_matches_go(test_dir: &Path, label: &str, server: &SignetServer, signer: &Proc) {
    let go_url = util::go_notary_url();
    let go_ca = util::peer_certs().ca;
    let (go, ours) = util::in_parallel(
        || scenario("go", &go_url, &go_ca, test_dir),
        || scenario(label, server.url(), server.ca(), test_dir),
    );
    check_go_reference(&go, test_dir);
    if go != ours {
        let diff = util::unified_diff(test_dir, "go.txt", &go, &format!("{label}.txt"), &ours);
        panic!(
            "notary CLI transcripts differ between the Go notary-server + notary-signer (---) \
             and signet server + {label} (+++).\nArtifacts: {}\n\n{diff}\n\
             signer log (tail):\n{}\nsignet server log (tail):\n{}",
            test_dir.display(),
            signer.log_tail(),
            server.stderr_tail(6000)
        );
    }
}

#[test]
fn signet_server_with_signet_signer_matches_go_notary_server() {
    util::go_notary_url(); // the reference; fail fast
    let dir = fresh_artifact_dir("signet_server_with_signet_signer_matches_go_notary_server");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let (signer, port) = start_signet_signer(&setup.join("signer"), &pki, 0);
    let server = start_remote_server(
        &setup,
        &pki,
        port,
        Some(&pki.server_client),
        serde_json::json!({}),
    );
    assert_scenario_matches_go(&dir, "signet-signer", &server, &signer);

    // The keys really are on the signer: it created them and signed with them.
    let log = fs::read_to_string(&signer.log).expect("signer log");
    for rpc in ["CreateKey", "Sign"] {
        assert!(
            log.contains(rpc),
            "signet signer never served {rpc}:\n{}",
            signer.log_tail()
        );
    }
    let (status, body) = util::https_get(
        &format!("{}/_notary_server/health", server.url()),
        server.ca(),
    )
    .expect("health");
    assert_eq!((status, body.as_str()), (200, "{}"), "health");
}

/// The same with the signer's keys generated on a SoftHSM2 token.
#[test]
fn signet_server_with_signet_signer_on_softhsm_matches_go_notary_server() {
    util::go_notary_url();
    let dir =
        fresh_artifact_dir("signet_server_with_signet_signer_on_softhsm_matches_go_notary_server");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let hsm = SoftHsm::create("signet-signer");
    let (signer, port) = start_softhsm_signer(&setup, &pki, &hsm);
    let server = start_remote_server(
        &setup,
        &pki,
        port,
        Some(&pki.server_client),
        serde_json::json!({}),
    );
    assert_scenario_matches_go(&dir, "signet-signer-softhsm", &server, &signer);

    // The keys were made on the token: it holds their objects.
    let log = fs::read_to_string(&signer.log).expect("signer log");
    assert!(
        log.contains("generated on the PKCS#11 token"),
        "{}",
        signer.log_tail()
    );
    let objects = count_files(hsm.dir(), "object");
    assert!(
        objects >= 4,
        "the token holds {objects} objects after the scenario; its keys are not there"
    );

    // The token's store disappears under the running signer: its health turns NOT_SERVING
    // (probed every 10 s), which the server reports.
    assert_eq!(health(&server), (200, "{}".to_owned()));
    fs::remove_dir_all(hsm.dir().join("tokens")).expect("remove the token directory");
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, body) = health(&server);
        if status == 503 {
            assert!(body.contains("Trust operational"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health still {status} {body} after the token went away:\n{}",
            signer.log_tail()
        );
        thread::sleep(Duration::from_millis(500));
    }
    let log = fs::read_to_string(&signer.log).expect("signer log");
    assert!(
        log.contains("PKCS#11 token unusable"),
        "{}",
        signer.log_tail()
    );
}

/// `signet server` with `key_algorithm: "rsa"` (as notary-server accepts it) and `signet
/// signer` on a SoftHSM2 token: timestamp keys are RSA keys made on the token, timestamps
/// are RSASSA-PSS (`rsapss`) signatures, and the Go `notary` client publishes and lists.
#[test]
fn signet_server_with_rsa_keys_on_a_softhsm_signet_signer_serves_the_go_client() {
    let dir = fresh_artifact_dir(
        "signet_server_with_rsa_keys_on_a_softhsm_signet_signer_serves_the_go_client",
    );
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let hsm = SoftHsm::create("signet-rsa-server");
    let (signer, port) = start_softhsm_signer(&setup, &pki, &hsm);
    let server = start_remote_server(
        &setup,
        &pki,
        port,
        Some(&pki.server_client),
        serde_json::json!({ "key_algorithm": "rsa" }),
    );
    let trust = dir.join("trust");
    let gun = format!("example.com/rsa-remote-{}/app", util::random_hex(4));
    notary_ok(&server, &trust, &["init", &gun, "-p"]);
    let first = publish(&server, &trust, &gun, "v1");
    assert!(first.ok, "{first:?}\nsigner log:\n{}", signer.log_tail());
    assert_reads_served(&server, &trust, &gun, &["v1"]);

    let get = |role: &str| -> serde_json::Value {
        let (status, body) = util::https_get(
            &format!("{}/v2/{gun}/_trust/tuf/{role}.json", server.url()),
            server.ca(),
        )
        .expect(role);
        assert_eq!(status, 200, "{role}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let root = get("root");
    let ts_id = root["signed"]["roles"]["timestamp"]["keyids"][0]
        .as_str()
        .expect("timestamp key ID")
        .to_owned();
    assert_eq!(root["signed"]["keys"][&ts_id]["keytype"], "rsa", "{root}");
    let timestamp = get("timestamp");
    assert_eq!(timestamp["signatures"][0]["keyid"], ts_id.as_str());
    assert_eq!(timestamp["signatures"][0]["method"], "rsapss");
}

/// Files under `dir` (recursively) whose extension is `ext`.
fn count_files(dir: &Path, ext: &str) -> usize {
    let mut n = 0;
    for entry in fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += count_files(&path, ext);
        } else if path.extension().is_some_and(|e| e == ext) {
            n += 1;
        }
    }
    n
}

#[test]
fn signet_server_with_go_notary_signer_matches_go_notary_server() {
    util::go_notary_url();
    let dir = fresh_artifact_dir("signet_server_with_go_notary_signer_matches_go_notary_server");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let (signer, port) = start_go_signer(&setup.join("signer"), &pki);
    let server = start_remote_server(
        &setup,
        &pki,
        port,
        Some(&pki.server_client),
        serde_json::json!({}),
    );
    assert_scenario_matches_go(&dir, "go-notary-signer", &server, &signer);
    let (status, body) = util::https_get(
        &format!("{}/_notary_server/health", server.url()),
        server.ca(),
    )
    .expect("health");
    assert_eq!(
        (status, body.as_str()),
        (200, "{}"),
        "health with the Go notary-signer"
    );
}

/// A client command's outcome.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={}\nstdout:\n{}\nstderr:\n{}",
            self.ok, self.stdout, self.stderr
        )
    }
}

/// `bin -s URL --tlscacert CA -d TRUST args…` with the passphrases set; a command still
/// running after [`HANG`] is killed and fails the test.
fn client(bin: &Path, server: &SignetServer, trust: &Path, args: &[&str]) -> Run {
    let child = Command::new(bin)
        .arg("-s")
        .arg(server.url())
        .arg("--tlscacert")
        .arg(server.ca())
        .arg("-d")
        .arg(trust)
        .args(args)
        .envs(PASS)
        .env_remove("NOTARY_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out: Output = match rx.recv_timeout(HANG) {
        Ok(out) => out.expect("wait for the client"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "`{} {}` hung for {HANG:?}.\nsignet server log (tail):\n{}",
                bin.display(),
                args.join(" "),
                server.stderr_tail(4000)
            );
        }
    };
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn notary(server: &SignetServer, trust: &Path, args: &[&str]) -> Run {
    client(Path::new("notary"), server, trust, args)
}

fn notary_ok(server: &SignetServer, trust: &Path, args: &[&str]) -> Run {
    let run = notary(server, trust, args);
    assert!(
        run.ok,
        "notary {args:?} failed: {run:?}\nsignet server log (tail):\n{}",
        server.stderr_tail(4000)
    );
    run
}

/// Stages `tag` (a new file) and publishes.
fn publish(server: &SignetServer, trust: &Path, gun: &str, tag: &str) -> Run {
    let file = trust.with_file_name(format!("{tag}.txt"));
    fs::write(&file, format!("content of {tag}\n")).expect("target file");
    let file = file.to_str().expect("UTF-8 path");
    notary_ok(server, trust, &["add", gun, tag, file]);
    notary(server, trust, &["publish", gun])
}

/// `/_notary_server/health` of `server`: status and body.
fn health(server: &SignetServer) -> (u16, String) {
    util::https_get(
        &format!("{}/_notary_server/health", server.url()),
        server.ca(),
    )
    .expect("health answers")
}

/// Reads that need no signature: `notary list`, `signet list` in a fresh trust directory,
/// and the current files.
fn assert_reads_served(server: &SignetServer, trust: &Path, gun: &str, tags: &[&str]) {
    let listed = notary_ok(server, trust, &["list", gun]);
    let fresh = trust.with_file_name(format!("fresh-{}", util::random_hex(4)));
    let ours = client(&util::signet_binary(), server, &fresh, &["list", gun]);
    assert!(ours.ok, "signet list {gun}: {ours:?}");
    assert_eq!(
        ours.stdout, listed.stdout,
        "signet list and notary list differ"
    );
    for tag in tags {
        assert!(
            listed.stdout.contains(tag),
            "{tag} missing:\n{}",
            listed.stdout
        );
    }
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let url = format!("{}/v2/{gun}/_trust/tuf/{role}.json", server.url());
        let (status, body) = util::https_get(&url, server.ca()).expect("GET");
        assert_eq!(status, 200, "{url}: {body}");
    }
}

/// A publish that needs the signer fails with notary-server's error for it, and the
/// repository is unchanged.
fn assert_publish_refused(server: &SignetServer, trust: &Path, gun: &str, tag: &str, code: &str) {
    let reported = || {
        server
            .stderr_tail(usize::MAX)
            .matches("cannot sign the update")
            .count()
    };
    let before = reported();
    let run = publish(server, trust, gun, tag);
    assert!(!run.ok, "publish succeeded without the signer: {run:?}");
    assert!(
        // notary's rendering of the ErrValidation notary-server answers with (on stdout).
        format!("{}{}", run.stdout, run.stderr).contains(&format!(
            "An error occurred during validation: rpc error: code = {code} desc = "
        )),
        "notary did not get notary-server's error for it: {run:?}"
    );
    assert!(
        reported() > before,
        "the server did not report the signing failure:\n{}",
        server.stderr_tail(6000)
    );
    let listed = notary_ok(server, trust, &["list", gun]);
    assert!(
        !listed.stdout.contains(tag),
        "the refused publish is listed:\n{}",
        listed.stdout
    );
    // The change stays staged for the next publish.
    let status = notary_ok(server, trust, &["status", gun]);
    assert!(status.stdout.contains(tag), "{}", status.stdout);
}

fn signal(proc: &Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &proc.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -{sig} failed");
}

#[test]
fn signer_outage_reads_are_served_and_writes_fail_without_hanging() {
    let dir = fresh_artifact_dir("signer_outage_reads_are_served_and_writes_fail_without_hanging");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let port = free_port();
    let (signer, _) = start_signet_signer(&setup.join("signer-1"), &pki, port);
    // Short timeouts keep the stopped-signer step short; the behaviour is the same.
    let server = start_remote_server(
        &setup,
        &pki,
        port,
        Some(&pki.server_client),
        serde_json::json!({ "connect_timeout_secs": 1, "rpc_timeout_secs": 2 }),
    );
    let trust = dir.join("trust");
    let gun = format!("example.com/outage-{}/app", util::random_hex(4));
    notary_ok(&server, &trust, &["init", &gun, "-p"]);
    let first = publish(&server, &trust, &gun, "v1");
    assert!(first.ok, "publish with the signer up: {first:?}");
    assert_eq!(health(&server), (200, "{}".to_owned()));

    // Killed: reads go on, writes fail at once, health names the signer.
    drop(signer);
    assert_reads_served(&server, &trust, &gun, &["v1"]);
    assert_publish_refused(&server, &trust, &gun, "v2", "Unavailable");
    let (status, body) = health(&server);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Trust operational"), "{body}");

    // Back (same database, same port): the staged change publishes.
    let (signer, _) = start_signet_signer(&setup.join("signer-1"), &pki, port);
    notary_ok(&server, &trust, &["publish", &gun]);
    assert_reads_served(&server, &trust, &gun, &["v1", "v2"]);
    assert_eq!(health(&server), (200, "{}".to_owned()));

    // Stopped: it accepts connections and never answers; a write fails after the
    // timeouts, reads go on.
    signal(&signer, "STOP");
    assert_publish_refused(&server, &trust, &gun, "v3", "DeadlineExceeded");
    assert_reads_served(&server, &trust, &gun, &["v1", "v2"]);
    signal(&signer, "CONT");
    notary_ok(&server, &trust, &["publish", &gun]);
    assert_reads_served(&server, &trust, &gun, &["v1", "v2", "v3"]);
}

#[test]
fn server_without_a_client_certificate_is_refused_by_the_signer() {
    let dir = fresh_artifact_dir("server_without_a_client_certificate_is_refused_by_the_signer");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let pki = Pki::new(&setup);
    let (signer, port) = start_signet_signer(&setup.join("signer"), &pki, 0);
    let server = start_remote_server(&setup, &pki, port, None, serde_json::json!({}));

    let trust = dir.join("trust");
    let gun = "example.com/no-client-cert/app";
    let run = notary(&server, &trust, &["init", gun, "-p"]);
    assert!(
        !run.ok,
        "init succeeded through a server the signer must refuse: {run:?}"
    );
    let (status, body) = health(&server);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Trust operational"), "{body}");
    let key_url = format!("{}/v2/{gun}/_trust/tuf/timestamp.key", server.url());
    let (status, body) = util::https_get(&key_url, server.ca()).expect("GET timestamp.key");
    assert_eq!(status, 500, "{body}");

    let log = fs::read_to_string(&signer.log).expect("signer log");
    assert!(
        log.contains("TLS handshake refused"),
        "the signer did not refuse the client without a certificate:\n{}",
        signer.log_tail()
    );
    assert!(
        !log.contains("CreateKey"),
        "the signer served a client without a certificate:\n{}",
        signer.log_tail()
    );
}
