//! Shared helpers for the integration tests: locating the `signet` binary, starting and stopping
//! a `signet server`, the Go notary-server peer, throw-away PostgreSQL databases and the
//! `tests/interop/notary-cli.sh` scenario script.
//!
//! Peers (the Go notary stack, certificates) come from `scripts/peers/*.sh`; their files live in
//! `$PEERS_ROOT` (default `/tmp/peers`).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub(crate) mod docker_world;
pub(crate) mod registry;

/// How long `signet server` may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The line prefix `signet server` prints on stdout once it serves requests.
const LISTENING_PREFIX: &str = "signet server listening on ";
/// Passphrase for the server's private key store.
const KEY_PASSPHRASE: &str = "signet-integration-test-passphrase";
/// The Go notary-server started by `scripts/peers/notary.sh start`.
pub(crate) const GO_NOTARY_URL: &str = "https://127.0.0.1:4443";
/// PostgreSQL used for `Db::Postgres` tests (the machine's cluster, trust auth).
const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Existing database psql connects to for CREATE/DROP DATABASE.
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The workspace root (`/work/main`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// A directory that survives the test (for transcripts and diffs to look at after a failure).
pub(crate) fn artifact_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("signet-integration")
        .join(test);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create artifact dir {}: {e}", dir.display()));
    dir
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("system random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------------------------ peers

/// The directory the peers scripts write to (`$PEERS_ROOT`, default `/tmp/peers`).
pub(crate) fn peers_root() -> PathBuf {
    std::env::var_os("PEERS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

/// TLS material made by `scripts/peers/configure.sh`: the CA and the notary-server leaf
/// (valid for 127.0.0.1), which signet reuses.
pub(crate) struct PeerCerts {
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

pub(crate) fn peer_certs() -> PeerCerts {
    let dir = peers_root().join("certs");
    let certs = PeerCerts {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("notary-server.crt"),
        server_key: dir.join("notary-server.key"),
    };
    for f in [&certs.ca, &certs.server_cert, &certs.server_key] {
        assert!(
            f.is_file(),
            "{} is missing: run scripts/peers/configure.sh first (it creates the CA and the \
             127.0.0.1 server certificate the integration tests use)",
            f.display()
        );
    }
    certs
}

/// A reqwest client that trusts exactly the CA in `ca_pem`.
pub(crate) fn https_client(ca_pem: &Path) -> Result<reqwest::Client, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .map_err(|e| format!("cannot read CA {}: {e}", ca_pem.display()))?
    {
        let cert = cert.map_err(|e| format!("bad PEM in {}: {e}", ca_pem.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", ca_pem.display()))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("rustls config: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("reqwest client: {e}"))
}

/// Runs `a` and `b` on two threads and returns both results (a panic in either is resumed).
pub(crate) fn in_parallel<A, B>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B)
where
    A: Send,
    B: Send,
{
    thread::scope(|s| {
        let a = s.spawn(a);
        let b = s.spawn(b);
        let a = a.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        let b = b.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (a, b)
    })
}

/// GET `url` over HTTPS (trusting `ca_pem`), returning status and body.
pub(crate) fn https_get(url: &str, ca_pem: &Path) -> Result<(u16, String), String> {
    let client = https_client(ca_pem)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async {
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("GET {url}: reading body: {e}"))?;
        Ok((status, body))
    })
}

/// The URL of the Go notary-server peer, after checking that it is healthy.
pub(crate) fn go_notary_url() -> String {
    let certs = peer_certs();
    let health = format!("{GO_NOTARY_URL}/_notary_server/health");
    match https_get(&health, &certs.ca) {
        Ok((200, _)) => GO_NOTARY_URL.to_owned(),
        Ok((status, body)) => panic!(
            "the Go notary-server at {GO_NOTARY_URL} is not healthy ({health} -> {status} \
             {body}); restart it with scripts/peers/notary.sh start"
        ),
        Err(e) => panic!(
            "the Go notary-server is not reachable at {GO_NOTARY_URL} ({e}); start it with \
             scripts/peers/notary.sh start"
        ),
    }
}

// ------------------------------------------------------------------------------------ signet

/// Path of the `signet` binary: `target/<profile>/signet`, next to the `deps/` directory that
/// holds this test executable (cargo sets `CARGO_BIN_EXE_*` only for bins of the same package).
/// `$SIGNET_BIN` overrides.
pub(crate) fn signet_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SIGNET_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "SIGNET_BIN={} does not exist", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("signet{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the signet binary is missing at {}: build it first with `cargo build -p signet-cli` \
         (same profile as the tests), or point SIGNET_BIN at it",
        bin.display()
    );
    bin
}

/// Storage for a `signet server`.
pub(crate) enum Db {
    /// A fresh SQLite file in the server's own state directory (removed with it).
    Sqlite,
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Db {
    fn url(&self, state_dir: &Path) -> String {
        match self {
            Db::Sqlite => format!("sqlite://{}", state_dir.join("signet.db").display()),
            Db::Postgres(url) => url.clone(),
        }
    }
}

/// A running `signet server`, killed on drop.
pub(crate) struct SignetServer {
    child: Child,
    url: String,
    ca: PathBuf,
    stderr_path: PathBuf,
    _state: tempfile::TempDir,
}

impl SignetServer {
    /// Spawns `signet server` on 127.0.0.1 (random port) with the peers' TLS certificate and
    /// waits until it prints its listening line.
    pub(crate) fn start(db: Db) -> SignetServer {
        Self::start_with_config(db, None)
    }

    /// [`SignetServer::start`] with a notary-server style configuration file (the flags
    /// for the address, database and TLS certificate override it).
    pub(crate) fn start_with_config(db: Db, config: Option<&Path>) -> SignetServer {
        let certs = peer_certs();
        let bin = signet_binary();
        let state = tempfile::Builder::new()
            .prefix("signet-server-")
            .tempdir()
            .expect("tempdir");
        let stderr_path = state.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path).expect("create stderr log");
        let db_url = db.url(state.path());

        let mut cmd = Command::new(&bin);
        cmd.arg("server");
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(["--database", &db_url])
            .arg("--tls-cert")
            .arg(&certs.server_cert)
            .arg("--tls-key")
            .arg(&certs.server_key)
            .env("SIGNET_KEY_PASSPHRASE", KEY_PASSPHRASE)
            .current_dir(state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));

        // Read stdout on a thread (keeps draining it after the first line).
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // once nobody listens any more, keep draining so the server never blocks
                let _ = tx.send(line);
            }
        });

        let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
        let mut seen = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix(LISTENING_PREFIX) {
                        break url.trim_end_matches('/').to_owned();
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: give the process a moment to exit to report its status
                    let status = wait_briefly(&mut child);
                    panic!(
                        "`{}` closed stdout without printing \"{LISTENING_PREFIX}https://...\" \
                         ({status}).\ncommand: {cmd:?}\nstdout:\n{}\nstderr:\n{}",
                        bin.display(),
                        seen.join("\n"),
                        read_tail(&stderr_path, 8000)
                    );
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "signet server exited with {status} before it was listening.\ncommand: \
                     {cmd:?}\nstdout:\n{}\nstderr:\n{}",
                    seen.join("\n"),
                    read_tail(&stderr_path, 8000)
                );
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "signet server did not print \"{LISTENING_PREFIX}https://...\" within \
                     {STARTUP_TIMEOUT:?}.\ncommand: {cmd:?}\nstdout:\n{}\nstderr:\n{}",
                    seen.join("\n"),
                    read_tail(&stderr_path, 8000)
                );
            }
        };
        assert!(
            url.starts_with("https://127.0.0.1:"),
            "unexpected listening URL {url:?} (want https://127.0.0.1:<port>)"
        );

        SignetServer {
            child,
            url,
            ca: certs.ca,
            stderr_path,
            _state: state,
        }
    }

    /// `https://127.0.0.1:<port>`
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The CA that signed the server's certificate.
    pub(crate) fn ca(&self) -> &Path {
        &self.ca
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `max` bytes the server wrote to stderr (its log).
    pub(crate) fn stderr_tail(&self, max: usize) -> String {
        read_tail(&self.stderr_path, max)
    }
}

impl Drop for SignetServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_briefly(child: &mut Child) -> String {
    for _ in 0..50 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.to_string();
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    "still running; killed".to_owned()
}

fn read_tail(path: &Path, max: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    let start = buf.len().saturating_sub(max);
    let text = String::from_utf8_lossy(&buf[start..]).into_owned();
    if start > 0 {
        format!("[... {start} bytes cut ...]\n{text}")
    } else {
        text
    }
}

// ------------------------------------------------------------------------------------ postgres

/// A fresh database `signet_it_<random>` on the local PostgreSQL, dropped on drop.
pub(crate) struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    pub(crate) fn create() -> PgDatabase {
        let name = format!("signet_it_{}", random_hex(6));
        psql(&format!("CREATE DATABASE {name}"));
        let url = format!("{PG_SERVER}/{name}");
        PgDatabase { name, url }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // the server is killed before (fields/locals drop in reverse order); FORCE covers leftovers
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN_URL, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "warning: could not drop database {}: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("warning: could not run psql to drop {}: {e}", self.name),
        }
    }
}

/// Runs `sql` on the tests' PostgreSQL (database `test`) and returns its output, unaligned
/// and without headers (`psql -tA`).
pub(crate) fn psql_output(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            PG_ADMIN_URL,
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `psql` (install the PostgreSQL client): {e}"));
    assert!(
        out.status.success(),
        "`psql -c {sql:?}` on {PG_ADMIN_URL} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN_URL, "-c", sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `psql` (install the PostgreSQL client): {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL at {PG_ADMIN_URL} is not usable: `psql -c {sql:?}` failed ({}):\n{}{}\n\
         The tests need the local PostgreSQL on 127.0.0.1:5432 with trust auth for user \
         postgres and a database `test`.",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------------------------ scripts

/// Runs `tests/interop/notary-cli.sh SERVER CA WORKDIR PREFIX` and returns its (normalized)
/// transcript. Panics if the script itself failed (exit != 0).
pub(crate) fn run_notary_cli(server: &str, ca: &Path, workdir: &Path, prefix: &str) -> String {
    run_notary_cli_with(None, server, ca, workdir, prefix)
}

/// The client for [`run_notary_cli_with`]: which binaries (taking turns step by step),
/// stdout only.
pub(crate) struct CliClient<'a> {
    /// The binaries driven as `notary` (the Go `notary`, `signet`), step i by binary
    /// i mod n.
    pub(crate) binaries: &'a [&'a Path],
}

/// `tests/interop/notary-cli.sh` with `client` in place of the Go `notary` (stdout only
/// recorded, stderr kept in `workdir/stderr.txt`), or the Go client as is with `None`.
pub(crate) fn run_notary_cli_with(
    client: Option<CliClient<'_>>,
    server: &str,
    ca: &Path,
    workdir: &Path,
    prefix: &str,
) -> String {
    let script = workspace_root().join("tests/interop/notary-cli.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let mut cmd = Command::new("bash");
    if let Some(c) = client {
        let names: Vec<String> = c
            .binaries
            .iter()
            .map(|b| {
                let s = b.to_string_lossy().into_owned();
                assert!(!s.contains(' '), "client path {s:?} has a space");
                s
            })
            .collect();
        cmd.env("NOTARY_CLI_CLIENT", names.join(" "))
            .env("NOTARY_CLI_STDOUT_ONLY", "1");
    }
    let out = cmd
        .arg(&script)
        .arg(server)
        .arg(ca)
        .arg(workdir)
        .arg(prefix)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {server} failed ({}); the harness broke, not the server:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("transcript is UTF-8")
}

/// `diff -u` of two texts (labels name the sides); empty if equal.
pub(crate) fn unified_diff(dir: &Path, a_label: &str, a: &str, b_label: &str, b: &str) -> String {
    let a_path = dir.join(a_label);
    let b_path = dir.join(b_label);
    fs::write(&a_path, a).expect("write transcript");
    fs::write(&b_path, b).expect("write transcript");
    match Command::new("diff")
        .arg("-u")
        .arg(&a_path)
        .arg(&b_path)
        .output()
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!(
            "(cannot run diff: {e}; compare {} and {})",
            a_path.display(),
            b_path.display()
        ),
    }
}
