//! Interop: the Go notary-server with `trust_service.type = "remote"` pointing at
//! `signet signer` runs the whole notary CLI scenario (`tests/interop/notary-cli.sh`: init,
//! publish, delegations, `key rotate <gun> snapshot -r` and `timestamp -r`, root rotation,
//! deletes, list) with the same normalized transcript as the peers' Go notary-server, which
//! uses the Go notary-signer.
//!
//! Everything on the signet side is started here: a test PKI (its own CA, the signer's
//! certificate, notary-server's client certificate and HTTPS certificate), `signet signer` on
//! SQLite with a passphrase alias, and a Go notary-server of its own on a free port (memory
//! storage). Needs the peers' Go notary-server on 127.0.0.1:4443 as the reference, the
//! `notary` and `notary-server` binaries, and a built `signet` (`cargo build -p signet-cli`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use signet_test_support::pki::{PemPair, TestCa};

use crate::notary_cli::{check_go_reference, fresh_artifact_dir, scenario};
use crate::util;

const LISTENING_PREFIX: &str = "signet signer listening on ";
pub(crate) const ALIAS: &str = "timestamp_1";

/// A child process killed on drop, with its log file.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
}

impl Proc {
    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        text.get(start..).unwrap_or(&text).to_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `signet signer -c config` and returns it with its port.
pub(crate) fn start_signer(dir: &Path, config: &Path) -> (Proc, u16) {
    start_signer_with_env(dir, config, &[])
}

/// [`start_signer`] with more environment variables (a token's `SOFTHSM2_CONF`, a PIN).
pub(crate) fn start_signer_with_env(
    dir: &Path,
    config: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> (Proc, u16) {
    let log = dir.join("signet-signer.log");
    let mut child = Command::new(util::signet_binary())
        .args(["signer", "-c"])
        .arg(config)
        .env(
            format!("NOTARY_SIGNER_{}", ALIAS.to_uppercase()),
            "signer-alias-passphrase",
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).expect("signer log"))
        .spawn()
        .expect("spawn signet signer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let proc = Proc { child, log };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => {
            let addr = line
                .strip_prefix(LISTENING_PREFIX)
                .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            (proc, port)
        }
        Err(e) => panic!("signet signer did not start ({e}):\n{}", proc.log_tail()),
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts a Go notary-server with `config` and waits until it is healthy.
pub(crate) fn start_go_server(dir: &Path, config: &Path, url: &str, ca: &Path) -> Proc {
    let log = dir.join("notary-server.log");
    let child = Command::new("notary-server")
        .arg("-config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("server log"))
        .spawn()
        .expect("spawn notary-server (Debian package `notary`)");
    let mut proc = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = util::https_get(&format!("{url}/_notary_server/health"), ca) {
            return proc;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("notary-server exited with {status}:\n{}", proc.log_tail());
        }
        assert!(
            Instant::now() < deadline,
            "notary-server not healthy at {url}:\n{}",
            proc.log_tail()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a Go notary-server on a free port (HTTPS with `https`) that asks the signer on
/// 127.0.0.1:`signer_port` (authenticating with `client`) for keys of `key_algorithm`, and
/// keeps its metadata in `storage`; `ca` issued all three certificates. Returns the server
/// and its URL once it is healthy.
pub(crate) fn start_go_server_on_signer(
    dir: &Path,
    https: &PemPair,
    ca: &Path,
    client: &PemPair,
    signer_port: &str,
    key_algorithm: &str,
    storage: serde_json::Value,
) -> (Proc, String) {
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let config = serde_json::json!({
        "server": {
            "http_addr": format!("127.0.0.1:{port}"),
            "tls_cert_file": https.cert,
            "tls_key_file": https.key,
        },
        "trust_service": {
            "type": "remote",
            "hostname": "127.0.0.1",
            "port": signer_port,
            "key_algorithm": key_algorithm,
            "tls_ca_file": ca,
            "tls_client_cert": client.cert,
            "tls_client_key": client.key,
        },
        "logging": { "level": "info" },
        "storage": storage,
    });
    let server_config = dir.join("server.json");
    fs::write(&server_config, config.to_string()).expect("write server config");
    let server = start_go_server(dir, &server_config, &url, ca);
    (server, url)
}

#[test]
fn go_notary_server_with_signet_signer_matches_go_notary_signer() {
    let go_url = util::go_notary_url(); // the reference; fail fast
    let test = "go_notary_server_with_signet_signer_matches_go_notary_signer";
    let dir = fresh_artifact_dir(test);
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");

    let ca = TestCa::new(&setup, "it");
    let signer_tls = ca.server("signer");
    let server_client = ca.client("notary-server");
    let server_https = ca.server("notary-server-https");

    let signer_config = setup.join("signer.json");
    let config = serde_json::json!({
        "server": {
            "grpc_addr": "127.0.0.1:0",
            "tls_cert_file": signer_tls.cert,
            "tls_key_file": signer_tls.key,
            "client_ca_file": ca.cert,
        },
        "logging": { "level": "info" },
        "storage": { "backend": "sqlite3", "db_url": "signer.db", "default_alias": ALIAS },
    });
    fs::write(&signer_config, config.to_string()).expect("write signer config");
    let (signer, signer_port) = start_signer(&setup, &signer_config);

    let (server, url) = start_go_server_on_signer(
        &setup,
        &server_https,
        &ca.cert,
        &server_client,
        &signer_port.to_string(),
        "ecdsa",
        serde_json::json!({ "backend": "memory" }),
    );

    let go_ca = util::peer_certs().ca;
    let (go, ours) = util::in_parallel(
        || scenario("go", &go_url, &go_ca, &dir),
        || scenario("signet-signer", &url, &ca.cert, &dir),
    );
    check_go_reference(&go, &dir);
    if go != ours {
        let diff = util::unified_diff(&dir, "go.txt", &go, "signet-signer.txt", &ours);
        panic!(
            "notary CLI transcripts differ between Go notary-server + notary-signer (---) and \
             Go notary-server + signet signer (+++).\nArtifacts: {}\n\n{diff}\n\
             signet signer log (tail):\n{}\nnotary-server log (tail):\n{}",
            dir.display(),
            signer.log_tail(),
            server.log_tail()
        );
    }

    // The keys really came from signet signer: it created and signed.
    let log = fs::read_to_string(&signer.log).expect("signer log");
    for rpc in ["CreateKey", "Sign"] {
        assert!(
            log.contains(rpc),
            "signet signer never served {rpc}:\n{}",
            signer.log_tail()
        );
    }
    assert!(
        !log.contains("Sign refused"),
        "signet signer refused a signature notary-server asked for:\n{}",
        signer.log_tail()
    );
    // notary-server with a client certificate from another CA gets nothing from the signer:
    // it cannot create a repository's timestamp key, so `notary init -p` fails.
    let rogue = TestCa::new(&setup, "rogue").client("notary-server");
    let rogue_setup = setup.join("rogue");
    fs::create_dir_all(&rogue_setup).expect("rogue dir");
    let (rogue_server, rogue_url) = start_go_server_on_signer(
        &rogue_setup,
        &server_https,
        &ca.cert,
        &rogue,
        &signer_port.to_string(),
        "ecdsa",
        serde_json::json!({ "backend": "memory" }),
    );
    let out = Command::new("notary")
        .args(["-s", &rogue_url, "--tlscacert"])
        .arg(&ca.cert)
        .arg("-d")
        .arg(rogue_setup.join("trust"))
        .args(["init", "example.com/rogue/app", "-p"])
        .env("NOTARY_ROOT_PASSPHRASE", "rogue-root-pass")
        .env("NOTARY_TARGETS_PASSPHRASE", "rogue-targets-pass")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "rogue-snapshot-pass")
        .stdin(Stdio::null())
        .output()
        .expect("run notary");
    assert!(
        !out.status.success(),
        "notary init through a notary-server with a foreign client certificate succeeded:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = fs::read_to_string(&signer.log).expect("signer log");
    assert!(
        log.contains("TLS handshake refused"),
        "the signer did not refuse the foreign client:\n{}\nnotary-server log:\n{}",
        signer.log_tail(),
        rogue_server.log_tail()
    );
    assert!(
        !log.contains("example.com/rogue/app"),
        "the signer served the foreign client"
    );

    // Sealed at rest: the database is private.
    let db = setup.join("signer.db");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(&db).expect("signer.db").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "signer database mode {mode:o}");
}

/// The Go notary-server with `key_algorithm = "rsa"` and `signet signer` whose keys are on a
/// SoftHSM2 token: each repository's timestamp key is an RSA key made on the token
/// (notary-signer cannot make one), the server's timestamps are RSASSA-PSS signatures
/// (`rsapss`) made there, and the Go `notary` client publishes and, from a fresh trust
/// directory, lists the repository.
#[test]
fn go_notary_server_with_rsa_timestamp_keys_on_a_softhsm_signet_signer() {
    use signet_test_support::softhsm::{self, SoftHsm, USER_PIN};

    let dir =
        fresh_artifact_dir("go_notary_server_with_rsa_timestamp_keys_on_a_softhsm_signet_signer");
    let setup = dir.join("setup");
    fs::create_dir_all(&setup).expect("setup dir");
    let ca = TestCa::new(&setup, "rsa");
    let signer_tls = ca.server("signer");
    let server_client = ca.client("notary-server");
    let server_https = ca.server("notary-server-https");
    let hsm = SoftHsm::create("signet-rsa-signer");

    let signer_config = setup.join("signer.json");
    let config = serde_json::json!({
        "server": {
            "grpc_addr": "127.0.0.1:0",
            "tls_cert_file": signer_tls.cert,
            "tls_key_file": signer_tls.key,
            "client_ca_file": ca.cert,
        },
        "logging": { "level": "info" },
        "storage": { "backend": "sqlite3", "db_url": "signer.db" },
        "pkcs11": { "module": softhsm::module(), "token_label": hsm.label() },
    });
    fs::write(&signer_config, config.to_string()).expect("write signer config");
    let (signer, signer_port) = start_signer_with_env(
        &setup,
        &signer_config,
        &[
            ("SOFTHSM2_CONF", hsm.conf().as_os_str()),
            ("SIGNET_SIGNER_PKCS11_PIN", USER_PIN.as_ref()),
        ],
    );

    let (server, url) = start_go_server_on_signer(
        &setup,
        &server_https,
        &ca.cert,
        &server_client,
        &signer_port.to_string(),
        "rsa",
        serde_json::json!({ "backend": "memory" }),
    );

    let notary = |trust: &Path, args: &[&str]| {
        let out = Command::new("notary")
            .args(["-s", &url, "--tlscacert"])
            .arg(&ca.cert)
            .arg("-d")
            .arg(trust)
            .args(args)
            .env("NOTARY_ROOT_PASSPHRASE", "rsa-root-pass")
            .env("NOTARY_TARGETS_PASSPHRASE", "rsa-targets-pass")
            .env("NOTARY_SNAPSHOT_PASSPHRASE", "rsa-snapshot-pass")
            .env_remove("NOTARY_AUTH")
            .stdin(Stdio::null())
            .output()
            .expect("run notary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "notary {args:?} failed:\n{text}\nsigner log:\n{}\nnotary-server log:\n{}",
            signer.log_tail(),
            server.log_tail()
        );
        text
    };
    let gun = format!("example.com/rsa-{}/app", util::random_hex(4));
    let trust = setup.join("trust");
    let file = setup.join("v1.txt");
    fs::write(&file, b"timestamped with RSA-PSS on a token\n").expect("write");
    notary(&trust, &["init", &gun, "-p"]);
    notary(
        &trust,
        &["add", &gun, "v1", file.to_str().expect("utf-8"), "-p"],
    );
    let listed = notary(&setup.join("fresh"), &["list", &gun]);
    assert!(listed.contains("v1"), "{listed}");

    // The timestamp key in root is RSA, and the timestamp is signed with it by `rsapss`.
    let get = |role: &str| -> serde_json::Value {
        let (status, body) =
            util::https_get(&format!("{url}/v2/{gun}/_trust/tuf/{role}.json"), &ca.cert)
                .expect(role);
        assert_eq!(status, 200, "{role}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let root = get("root");
    let ts_ids = root["signed"]["roles"]["timestamp"]["keyids"]
        .as_array()
        .expect("timestamp key IDs");
    assert_eq!(ts_ids.len(), 1, "{root}");
    let ts_id = ts_ids[0].as_str().expect("key ID");
    assert_eq!(root["signed"]["keys"][ts_id]["keytype"], "rsa", "{root}");
    let timestamp = get("timestamp");
    let sigs = timestamp["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1, "{timestamp}");
    assert_eq!(sigs[0]["keyid"], ts_id);
    assert_eq!(sigs[0]["method"], "rsapss");

    // Made and signed on the token.
    let log = fs::read_to_string(&signer.log).expect("signer log");
    assert!(
        log.contains("generated on the PKCS#11 token") && log.contains("Sign"),
        "{}",
        signer.log_tail()
    );
}

/// `signet signer` configured with a token whose PIN is wrong does not start: it exits with
/// the configuration exit code (2) and says the PIN was refused, rather than serving with
/// keys it cannot use.
#[test]
fn signer_with_a_wrong_token_pin_does_not_start() {
    use signet_test_support::softhsm::{self, SoftHsm};

    let dir = fresh_artifact_dir("signer_with_a_wrong_token_pin_does_not_start");
    let ca = TestCa::new(&dir, "pin");
    let signer_tls = ca.server("signer");
    let hsm = SoftHsm::create("signet-wrong-pin");
    let config = dir.join("signer.json");
    let json = serde_json::json!({
        "server": {
            "grpc_addr": "127.0.0.1:0",
            "tls_cert_file": signer_tls.cert,
            "tls_key_file": signer_tls.key,
            "client_ca_file": ca.cert,
        },
        "storage": { "backend": "sqlite3", "db_url": "signer.db" },
        "pkcs11": { "module": softhsm::module(), "token_label": hsm.label() },
    });
    fs::write(&config, json.to_string()).expect("write signer config");
    let mut child = Command::new(util::signet_binary())
        .args(["signer", "-c"])
        .arg(&config)
        .current_dir(&dir)
        .envs(hsm.env())
        .env("SIGNET_SIGNER_PKCS11_PIN", "not-the-pin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signet signer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("signet signer with a wrong PIN is still running");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("PIN") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(LISTENING_PREFIX),
        "it listened"
    );
}
