//! The HTTP API, driven in-process through the real router (`tower::ServiceExt::oneshot`),
//! once per backend: a temporary SQLite file and a scratch PostgreSQL database.
//!
//! Metadata comes from `signet-test-support`, a publisher with real keys, so every accepted
//! upload is one a Notary client could have made and every rejected one is a specific attack.
//! Rejections are checked for Notary's error code, message and detail, and for leaving every
//! stored version of every role, the changefeed and the served current metadata unchanged.
//!
//! PostgreSQL: the admin URL comes from `SIGNET_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates `signet_api_<random hex>` and
//! drops it afterwards, also after a panic. If PostgreSQL cannot be reached the PostgreSQL tests
//! fail; they never skip.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use signet_core::encoding::{hex_encode, sha256};
use signet_core::verify::{base_role_ring, check_expiry, verify_root_signed_by, verify_threshold};
use signet_core::{
    PublicKey, RingVerifier, RoleName, Root, Signed, Snapshot, Targets, Timestamp, UnixTime,
};
use signet_server::Config;
use signet_server::config::{AuthSection, TokenOptions};
use signet_server::http::AppState;
use signet_service::Clock;
use signet_test_support::postgres::ScratchDatabase;
use signet_test_support::smallfs::SmallFs;
use signet_test_support::{
    CertKey, EcdsaKey, Impostor, Signer, TestRepo, multipart, parse_server_key, tamper,
};
use tower::ServiceExt as _;
use zeroize::Zeroizing;

/// The test clock starts here (2030-03-17), whole seconds.
const START: i64 = 1_900_000_000;
const DAY: i64 = 86_400;

const GUN: &str = "example.com/org/app";

// ---------------------------------------------------------------------------------------------
// Backend instantiation
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Instantiates each listed test (an `async fn(Backend)`) once for one backend.
macro_rules! backend_suite {
    ($module:ident, $backend:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($backend).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ([$($test:ident),* $(,)?], postgres_only: [$($pg:ident),* $(,)?]) => {
        backend_suite!(sqlite, super::Backend::Sqlite, [$($test),*]);
        backend_suite!(postgres, super::Backend::Postgres, [$($test,)* $($pg),*]);
    };
}

all_backends!(
    [
        // Happy path.
        server_keys_are_stable_before_init,
        initial_publish_serves_exact_bytes,
        cache_headers_for_current_and_consistent_metadata,
        max_age_zero_disables_caching,
        changefeed_global_and_per_gun,
        changefeed_parameters_are_validated,
        changefeed_records_zero_means_one_hundred,
        delete_removes_repository_and_records_deletion,
        health_ping_metrics_and_catch_all,
        delegation_publish_is_served,
        uploaded_timestamp_is_ignored,
        // Bad input.
        non_multipart_body_is_malformed_upload,
        malformed_multipart_is_malformed_upload,
        part_without_filename_is_no_filename,
        invalid_role_names_are_invalid_role,
        non_json_part_is_malformed_json,
        tampered_targets_is_bad_targets,
        targets_signed_by_wrong_key_is_bad_targets,
        unsigned_targets_is_bad_targets,
        root_signed_by_wrong_key_is_bad_root,
        tampered_root_is_bad_root,
        root_cn_not_matching_gun_is_bad_root,
        expired_targets_is_bad_targets,
        expired_root_is_bad_root,
        replayed_version_is_version_error,
        lower_version_is_version_error,
        duplicate_role_in_one_upload_is_version_error,
        root_version_jump_is_bad_root,
        update_without_root_on_new_gun_is_err_validation,
        first_update_without_targets_is_bad_hierarchy,
        oversized_body_is_malformed_upload,
        stalled_body_times_out,
        overlong_gun_is_invalid_gun_or_not_found,
        gun_with_star_is_not_found,
        dot_dot_gun_is_its_own_repository,
        percent_encoded_slash_is_a_slash,
        nul_and_control_bytes_in_gun_are_refused,
        unicode_gun_round_trips,
        gun_prefix_filter,
        delegation_not_delegated_by_parent_is_bad_targets,
        delegation_signed_by_wrong_key_is_bad_targets,
        snapshot_with_wrong_targets_hash_is_bad_snapshot,
        snapshot_signed_by_wrong_key_is_bad_snapshot,
        // Rotation.
        timestamp_key_rotation,
        root_key_rotation_needs_old_and_new_signatures,
        // Expiry.
        expired_timestamp_is_resigned_on_read,
        expired_snapshot_is_resigned_on_read,
        expired_publisher_snapshot_is_unknown_error,
        // Remote signer.
        remote_signer_outage_serves_reads_and_fails_writes,
        // Concurrency.
        concurrent_publishes_of_one_version_have_one_winner,
        readers_racing_a_publish_never_see_stale_metadata,
        // Auth.
        auth_missing_token_is_challenged,
        auth_pull_token_reads_but_cannot_push,
        auth_bad_tokens_are_invalid_token,
        auth_star_grants_every_action,
        auth_not_needed_for_health_and_metrics,
        auth_ca_issued_leaf_is_accepted,
    ],
    postgres_only: [
        replicas_share_one_consistent_view,
        replicas_racing_publish_one_wins_and_loser_retries,
    ]
);

// ---------------------------------------------------------------------------------------------
// Scratch databases
// ---------------------------------------------------------------------------------------------

/// A scratch database; removed again on drop.
struct TestDb {
    url: String,
    /// Held for its `Drop`: removes the database.
    _scratch: Scratch,
}

enum Scratch {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] ScratchDatabase),
    /// A small tmpfs the test can fill.
    Mounted(SmallFs),
}

impl TestDb {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("signet.db").display());
                Self {
                    url,
                    _scratch: Scratch::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let db = ScratchDatabase::create("signet_api").await;
                Self {
                    url: db.url().to_owned(),
                    _scratch: Scratch::Postgres(db),
                }
            }
        }
    }
}

fn random_hex() -> String {
    let mut bytes = [0_u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    hex_encode(&bytes)
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// One server (an `AppState` and its router) on a scratch database, with a movable clock.
struct Server {
    app: Router,
    state: Arc<AppState>,
    clock: Arc<AtomicI64>,
    cfg: Config,
    db: Arc<TestDb>,
}

/// A response, fully read.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Server {
    async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = Arc::new(TestDb::new(backend).await);
        let mut cfg = Config::default();
        cfg.storage.db_url = db.url.clone();
        tweak(&mut cfg);
        Self::open(db, cfg, Arc::new(AtomicI64::new(START))).await
    }

    async fn open(db: Arc<TestDb>, mut cfg: Config, clock: Arc<AtomicI64>) -> Self {
        // Server state (the SQLite marker) beside the scratch database, never in the crate.
        if let Some(path) = cfg.storage.db_url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
        {
            cfg.server.state_dir = dir.join("state");
        }
        let c = clock.clone();
        let state = signet_server::build(
            &cfg,
            Zeroizing::new("api test passphrase".to_owned()),
            Clock::from_fn(move || UnixTime::from_unix(c.load(Ordering::SeqCst), 0)),
        )
        .await
        .expect("build the server");
        Self {
            app: signet_server::http::app(state.clone()),
            state,
            clock,
            cfg,
            db,
        }
    }

    /// A second server process on the same database and clock.
    async fn replica(&self) -> Self {
        Self::open(self.db.clone(), self.cfg.clone(), self.clock.clone()).await
    }

    fn now(&self) -> UnixTime {
        UnixTime::from_unix(self.clock.load(Ordering::SeqCst), 0)
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    async fn get(&self, uri: &str) -> Resp {
        self.request(Method::GET, uri, None, None, vec![]).await
    }

    async fn get_meta(&self, gun: &str, file: &str) -> Resp {
        self.get(&tuf_url(gun, file)).await
    }

    /// POSTs `parts` as the Go client does.
    async fn post(&self, gun: &str, parts: &[(String, Vec<u8>)]) -> Resp {
        self.post_as(gun, parts, None).await
    }

    async fn post_as(&self, gun: &str, parts: &[(String, Vec<u8>)], token: Option<&str>) -> Resp {
        let refs: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(r, b)| (r.as_str(), b.as_slice()))
            .collect();
        let (ct, body) = multipart(&refs);
        self.request(Method::POST, &tuf_url(gun, ""), token, Some(&ct), body)
            .await
    }

    async fn server_key(&self, gun: &str, role: &str) -> PublicKey {
        let r = self.get_meta(gun, &format!("{role}.key")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        parse_server_key(&r.body).expect("a key body")
    }

    /// A publisher for `gun` that knows this server's timestamp and snapshot keys.
    async fn new_repo(&self, gun: &str) -> TestRepo {
        let mut repo = TestRepo::new(gun, self.now());
        repo.set_timestamp_key(self.server_key(gun, "timestamp").await);
        repo.set_server_snapshot_key(self.server_key(gun, "snapshot").await);
        repo
    }

    /// A repository initialised with root v1 and targets v1 (server-managed snapshot).
    async fn published(&self, gun: &str) -> (TestRepo, Vec<(String, Vec<u8>)>) {
        let repo = self.new_repo(gun).await;
        let parts = repo.initial_upload();
        self.post(gun, &parts).await.ok_empty();
        (repo, parts)
    }

    /// Every stored version of every role of `gun`, the global changefeed, and the current
    /// metadata as served.
    async fn dump(&self, gun: &str) -> Dump {
        let store = self.state.service.store();
        let mut files = Vec::new();
        for role in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/releases",
            "targets/other",
        ] {
            let mut v = 1;
            while let Some(rec) = store.by_version(gun, role, v).await.expect("store read") {
                files.push((role.to_owned(), v, rec.data));
                v += 1;
            }
        }
        let feed = self.get("/v2/_trust/changefeed?records=1000").await;
        assert_eq!(feed.status, StatusCode::OK);
        let mut current = Vec::new();
        for role in ["root", "targets", "snapshot", "timestamp"] {
            let r = self.get_meta(gun, &format!("{role}.json")).await;
            current.push((role, r.status, r.body));
        }
        Dump {
            files,
            changefeed: feed.json(),
            current,
        }
    }

    async fn assert_healthy(&self) {
        let r = self.get("/_notary_server/health").await;
        assert_eq!(r.status, StatusCode::OK, "health: {}", r.text());
        assert_eq!(r.body, b"{}");
    }

    /// Sends `req` and checks that it changed nothing about `gun` and left the server healthy.
    async fn attempt(&self, gun: &str, req: Request<Body>) -> Resp {
        let before = self.dump(gun).await;
        let r = self.send(req).await;
        let after = self.dump(gun).await;
        assert!(
            before == after,
            "a rejected request changed the repository\nbefore: {before:?}\nafter: {after:?}"
        );
        self.assert_healthy().await;
        r
    }

    /// [`Server::attempt`] for a multipart upload of `parts`.
    async fn attempt_post(&self, gun: &str, parts: &[(String, Vec<u8>)]) -> Resp {
        let refs: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(r, b)| (r.as_str(), b.as_slice()))
            .collect();
        let (ct, body) = multipart(&refs);
        self.attempt(gun, raw_post(&tuf_url(gun, ""), &ct, body))
            .await
    }

    /// Fetches the current metadata and checks the whole chain as a client would: root
    /// self-signed for the GUN, timestamp → snapshot → root/targets by hash, every role
    /// signed by the keys root lists, timestamp and snapshot unexpired.
    async fn verify_chain(&self, gun: &str) -> Chain {
        let now = self.now();
        let fetch = |file: &'static str| async move {
            let r = self.get_meta(gun, file).await;
            assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.text());
            r.body
        };
        let root = Signed::<Root>::from_bytes(&fetch("root.json").await).expect("root");
        verify_root_signed_by(&root, &root.signed, gun, Some(now), &RingVerifier)
            .expect("root is signed by its own root keys");
        let timestamp =
            Signed::<Timestamp>::from_bytes(&fetch("timestamp.json").await).expect("timestamp");
        let snapshot =
            Signed::<Snapshot>::from_bytes(&fetch("snapshot.json").await).expect("snapshot");
        let targets = Signed::<Targets>::from_bytes(&fetch("targets.json").await).expect("targets");
        for (role, name) in [
            (&timestamp as &dyn Check, "timestamp"),
            (&snapshot, "snapshot"),
        ] {
            role.verify(&root.signed, name);
            role.unexpired(name, now);
        }
        targets.verify(&root.signed, "targets");
        timestamp.signed.meta["snapshot"]
            .check(snapshot.bytes())
            .expect("timestamp names the served snapshot");
        snapshot.signed.meta["root"]
            .check(root.bytes())
            .expect("snapshot names the served root");
        snapshot.signed.meta["targets"]
            .check(targets.bytes())
            .expect("snapshot names the served targets");
        Chain {
            root,
            targets,
            snapshot,
            timestamp,
        }
    }
}

struct Chain {
    root: Signed<Root>,
    targets: Signed<Targets>,
    snapshot: Signed<Snapshot>,
    timestamp: Signed<Timestamp>,
}

/// Signature and expiry checks over any role.
trait Check {
    fn verify(&self, root: &Root, role: &str);
    fn unexpired(&self, role: &str, now: UnixTime);
}

impl<T: signet_core::metadata::Role> Check for Signed<T> {
    fn verify(&self, root: &Root, role: &str) {
        let ring = base_role_ring(root, role).expect("root defines the role");
        verify_threshold(self, &RoleName::parse(role).unwrap(), &ring, &RingVerifier)
            .unwrap_or_else(|e| panic!("{role} does not verify: {e}"));
    }
    fn unexpired(&self, role: &str, now: UnixTime) {
        check_expiry(self, &RoleName::parse(role).unwrap(), now)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
    }
}

#[derive(PartialEq, Eq)]
struct Dump {
    files: Vec<(String, u64, Vec<u8>)>,
    changefeed: Value,
    current: Vec<(&'static str, StatusCode, Vec<u8>)>,
}

impl std::fmt::Debug for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<_> = self
            .files
            .iter()
            .map(|(r, v, b)| format!("{r} v{v} {}", hex_encode(&sha256(b))))
            .collect();
        let current: Vec<_> = self
            .current
            .iter()
            .map(|(r, s, b)| format!("{r} {s} {}", hex_encode(&sha256(b))))
            .collect();
        f.debug_struct("Dump")
            .field("files", &files)
            .field("changefeed", &self.changefeed)
            .field("current", &current)
            .finish()
    }
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ASCII header")
    }

    /// A 200 with an empty body, as POST and DELETE answer.
    fn ok_empty(&self) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert!(self.body.is_empty(), "{}", self.text());
    }

    /// Checks Notary's error envelope and returns the detail, if any.
    fn error(&self, status: u16, code: &str) -> Option<Value> {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            "application/json; charset=utf-8"
        );
        assert!(self.body.ends_with(b"\n"), "trailing newline");
        let v = self.json();
        let errors = v["errors"].as_array().expect("errors array");
        assert_eq!(errors.len(), 1, "{v}");
        assert_eq!(errors[0]["code"], code, "{v}");
        assert_eq!(errors[0]["message"], notary_message(code), "{v}");
        errors[0].get("detail").cloned()
    }

    /// An `INVALID_UPDATE` answer: the typed error's name and message.
    fn invalid_update(&self) -> (String, String) {
        let detail = self.error(400, "INVALID_UPDATE").expect("a detail");
        let name = detail["Name"].as_str().expect("Name").to_owned();
        let msg = detail["Error"]["Msg"]
            .as_str()
            .expect("Error.Msg")
            .to_owned();
        (name, msg)
    }

    /// A `VERSION` answer (detail `{}`).
    fn version_error(&self) {
        assert_eq!(self.error(400, "VERSION"), Some(json!({})));
    }
}

/// Notary's message for each error code (spec §1.8).
fn notary_message(code: &str) -> &'static str {
    match code {
        "NO_FILENAME" => "No file/role name provided.",
        "INVALID_ROLE" => "The role you are attempting to operate on is invalid.",
        "MALFORMED_JSON" => "JSON sent by the client could not be parsed by the server",
        "UPDATING" => "An error has occurred while updating the TUF repository.",
        "VERSION" => "A newer version of metadata is already available.",
        "METADATA_NOT_FOUND" => "You have requested metadata that does not exist.",
        "INVALID_UPDATE" => "Update sent by the client is invalid.",
        "MALFORMED_UPLOAD" => "The body of your request is malformed.",
        "INVALID_GUN" => "The server does not support actions on images of this name.",
        "INVALID_PARAMETERS" => "The parameters provided are not valid.",
        "UNKNOWN" => "unknown error",
        "UNAUTHORIZED" => "authentication required",
        other => panic!("unexpected code {other}"),
    }
}

/// Percent-encodes what a client would in a path, keeping `/` and `:`.
fn path_escape(gun: &str) -> String {
    gun.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn tuf_url(gun: &str, file: &str) -> String {
    format!("/v2/{}/_trust/tuf/{file}", path_escape(gun))
}

fn raw_post(uri: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request")
}

fn part(role: &str, bytes: Vec<u8>) -> (String, Vec<u8>) {
    (role.to_owned(), bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex_encode(&sha256(bytes))
}

// ---------------------------------------------------------------------------------------------
// Happy path
// ---------------------------------------------------------------------------------------------

async fn server_keys_are_stable_before_init(b: Backend) {
    let srv = Server::start(b).await;
    for role in ["timestamp", "snapshot"] {
        let first = srv.get_meta(GUN, &format!("{role}.key")).await;
        let second = srv.get_meta(GUN, &format!("{role}.key")).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.body, second.body, "{role}.key changed before init");
        // Go's json.Marshal order: keytype, keyval{public, private}.
        let text = first.text();
        assert!(
            text.starts_with(r#"{"keytype":"ecdsa","keyval":{"public":""#)
                && text.ends_with(r#"","private":null}}"#),
            "{text}"
        );
    }
    let ts = srv.server_key(GUN, "timestamp").await;
    let snap = srv.server_key(GUN, "snapshot").await;
    assert_ne!(ts.id(), snap.id());
    // Another GUN gets its own keys.
    assert_ne!(
        srv.server_key("example.com/other", "timestamp").await.id(),
        ts.id()
    );
    // Once a root lists the keys they stay the answer.
    let repo = srv.new_repo(GUN).await;
    srv.post(GUN, &repo.initial_upload()).await.ok_empty();
    assert_eq!(srv.server_key(GUN, "timestamp").await.id(), ts.id());
    assert_eq!(srv.server_key(GUN, "snapshot").await.id(), snap.id());
}

async fn initial_publish_serves_exact_bytes(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, parts) = srv.published(GUN).await;
    let (root, targets) = (&parts[0].1, &parts[1].1);

    let r = srv.get_meta(GUN, "root.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body, root, "root served byte for byte");
    assert_eq!(&srv.get_meta(GUN, "targets.json").await.body, targets);

    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.root.bytes(), root.as_slice());
    assert_eq!(chain.snapshot.version(), 1);
    assert_eq!(chain.timestamp.version(), 1);
    assert_eq!(
        chain.snapshot.signatures[0].keyid,
        *srv.server_key(GUN, "snapshot").await.id()
    );
    assert_eq!(
        chain.timestamp.signatures[0].keyid,
        *srv.server_key(GUN, "timestamp").await.id()
    );
    assert_eq!(
        chain.timestamp.expires().instant(),
        srv.now().add_days(14),
        "timestamp lifetime"
    );
    assert_eq!(
        chain.snapshot.expires().instant(),
        srv.now().add_years(3),
        "snapshot lifetime"
    );
    assert_eq!(
        chain.root.signed.keys[repo.root_key().id()]
            .keytype()
            .as_str(),
        "ecdsa-x509"
    );

    // By checksum and by version: the same bytes.
    for (role, bytes) in [
        ("root", chain.root.bytes()),
        ("targets", chain.targets.bytes()),
        ("snapshot", chain.snapshot.bytes()),
        ("timestamp", chain.timestamp.bytes()),
    ] {
        let by_sum = srv
            .get_meta(GUN, &format!("{role}.{}.json", sha256_hex(bytes)))
            .await;
        assert_eq!(by_sum.status, StatusCode::OK, "{role} by checksum");
        assert_eq!(by_sum.body, bytes, "{role} by checksum");
        let by_version = srv.get_meta(GUN, &format!("1.{role}.json")).await;
        assert_eq!(by_version.status, StatusCode::OK, "{role} by version");
        assert_eq!(by_version.body, bytes, "{role} by version");
    }

    // What is not there.
    let missing = srv.get_meta(GUN, "2.root.json").await;
    assert_eq!(
        missing.error(404, "METADATA_NOT_FOUND"),
        Some(json!({})),
        "detail is an empty object"
    );
    srv.get_meta(GUN, &format!("root.{}.json", "ab".repeat(64)))
        .await
        .error(404, "METADATA_NOT_FOUND");
    srv.get_meta(GUN, &format!("root.{}.json", sha256_hex(targets)))
        .await
        .error(404, "METADATA_NOT_FOUND");
    srv.get_meta(GUN, "targets/releases.json")
        .await
        .error(404, "METADATA_NOT_FOUND");
    srv.get_meta("example.com/none", "root.json")
        .await
        .error(404, "METADATA_NOT_FOUND");
    srv.get_meta("example.com/none", "timestamp.json")
        .await
        .error(404, "METADATA_NOT_FOUND");

    // A second publish: targets v2 with a target, snapshot and timestamp v2.
    let t2 = repo.targets(2, &[("v1.0", b"image bytes")]);
    srv.post(GUN, &[part("targets", t2.clone())])
        .await
        .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.targets.bytes(), t2.as_slice());
    assert_eq!(chain.root.bytes(), root.as_slice());
    assert_eq!(
        (chain.snapshot.version(), chain.timestamp.version()),
        (2, 2)
    );
    assert_eq!(srv.get_meta(GUN, "1.targets.json").await.body, *targets);
    assert_eq!(srv.get_meta(GUN, "2.targets.json").await.body, t2);
}

async fn cache_headers_for_current_and_consistent_metadata(b: Backend) {
    let srv = Server::start(b).await;
    let (_repo, parts) = srv.published(GUN).await;
    for file in [
        "root.json",
        "targets.json",
        "snapshot.json",
        "timestamp.json",
    ] {
        let r = srv.get_meta(GUN, file).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header(header::CACHE_CONTROL),
            "public, max-age=300, s-maxage=300, must-revalidate",
            "{file}"
        );
        assert!(r.headers.get(header::PRAGMA).is_none());
        assert!(
            r.headers.get(header::ETAG).is_none(),
            "Notary sends no ETag"
        );
        let modified = r.header(header::LAST_MODIFIED);
        assert!(modified.ends_with(" UTC"), "{file}: {modified}");
        assert_eq!(modified.len(), "Sat, 21 Nov 2026 20:24:27 UTC".len());
    }
    for file in [
        "1.root.json".to_owned(),
        format!("root.{}.json", sha256_hex(&parts[0].1)),
        "1.timestamp.json".to_owned(),
    ] {
        let r = srv.get_meta(GUN, &file).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header(header::CACHE_CONTROL),
            "public, max-age=2592000, s-maxage=2592000",
            "{file}"
        );
        assert!(r.header(header::LAST_MODIFIED).ends_with(" UTC"));
    }
    // Errors and non-metadata routes carry no caching headers.
    let r = srv.get_meta(GUN, "9.root.json").await;
    assert!(r.headers.get(header::CACHE_CONTROL).is_none());
    assert!(r.headers.get(header::LAST_MODIFIED).is_none());
    let r = srv.get_meta(GUN, "timestamp.key").await;
    assert!(r.headers.get(header::CACHE_CONTROL).is_none());
}

async fn max_age_zero_disables_caching(b: Backend) {
    let srv = Server::start_with(b, |c| {
        c.caching.max_age.current_metadata = 0;
        c.caching.max_age.consistent_metadata = 0;
    })
    .await;
    srv.published(GUN).await;
    for file in ["root.json", "timestamp.json", "1.root.json"] {
        let r = srv.get_meta(GUN, file).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header(header::CACHE_CONTROL),
            "max-age=0, no-cache, no-store"
        );
        assert_eq!(r.header(header::PRAGMA), "no-cache");
    }
}

async fn changefeed_global_and_per_gun(b: Backend) {
    let srv = Server::start(b).await;
    const OTHER: &str = "example.com/other";
    let (repo, _) = srv.published(GUN).await;
    srv.published(OTHER).await;
    srv.post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await
        .ok_empty();

    let feed = srv.get("/v2/_trust/changefeed?records=10").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(
        feed.header(header::CONTENT_TYPE),
        "application/json; charset=utf-8"
    );
    let feed = feed.json();
    assert_eq!(feed["count"], 3);
    let records = feed["records"].as_array().unwrap();
    let expected = [(GUN, 1), (OTHER, 1), (GUN, 2)];
    let mut last_id = 0;
    for (rec, (gun, version)) in records.iter().zip(expected) {
        assert_eq!(rec["GUN"], gun);
        assert_eq!(rec["Version"], version);
        assert_eq!(rec["Category"], "update");
        let id: i64 = rec["ID"].as_str().expect("ID is a string").parse().unwrap();
        assert!(id > last_id, "ids increase");
        last_id = id;
        let created = rec["CreatedAt"].as_str().unwrap();
        UnixTime::parse_rfc3339(created).expect("RFC 3339 CreatedAt");
        // SHA256 names the stored timestamp.
        let ts = srv
            .get_meta(gun, &format!("{version}.timestamp.json"))
            .await;
        assert_eq!(rec["SHA256"], sha256_hex(&ts.body));
    }

    let per_gun = srv
        .get(&format!("/v2/{GUN}/_trust/changefeed?records=10"))
        .await
        .json();
    assert_eq!(per_gun["count"], 2);
    assert!(
        per_gun["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["GUN"] == GUN)
    );

    // Paging: after the first id; from the end, backwards (still ascending).
    let first = records[0]["ID"].as_str().unwrap();
    let after = srv
        .get(&format!(
            "/v2/_trust/changefeed?records=10&change_id={first}"
        ))
        .await
        .json();
    assert_eq!(after["count"], 2);
    assert_eq!(after["records"][0], records[1]);
    let last_two = srv
        .get("/v2/_trust/changefeed?records=-2&change_id=-1")
        .await
        .json();
    assert_eq!(last_two["records"], json!([records[1], records[2]]));
    let limited = srv.get("/v2/_trust/changefeed?records=1").await.json();
    assert_eq!(limited["records"], json!([records[0]]));

    // A GUN with no changes: empty, not an error.
    let none = srv
        .get("/v2/example.com/none/_trust/changefeed?records=10")
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json(), json!({"count": 0, "records": []}));
}

async fn changefeed_parameters_are_validated(b: Backend) {
    let srv = Server::start(b).await;
    srv.published(GUN).await;
    for uri in [
        "/v2/_trust/changefeed".to_owned(),
        "/v2/_trust/changefeed?records=".to_owned(),
        "/v2/_trust/changefeed?records=ten".to_owned(),
        format!("/v2/{GUN}/_trust/changefeed"),
    ] {
        let detail = srv
            .get(&uri)
            .await
            .error(400, "INVALID_PARAMETERS")
            .expect("detail");
        assert!(
            detail
                .as_str()
                .unwrap()
                .starts_with("invalid records parameter"),
            "{uri}: {detail}"
        );
    }
    for uri in [
        "/v2/_trust/changefeed?records=10&change_id=abc".to_owned(),
        format!("/v2/{GUN}/_trust/changefeed?records=10&change_id=1.5"),
    ] {
        let detail = srv
            .get(&uri)
            .await
            .error(400, "INVALID_PARAMETERS")
            .expect("detail");
        assert!(
            detail
                .as_str()
                .unwrap()
                .starts_with("change ID expected to be integer"),
            "{uri}: {detail}"
        );
    }
    let ok = srv
        .get("/v2/_trust/changefeed?records=10&change_id=0")
        .await;
    assert_eq!(ok.json()["count"], 1);
}

async fn changefeed_records_zero_means_one_hundred(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    for v in 2..=101 {
        srv.post(GUN, &[part("targets", repo.targets(v, &[]))])
            .await
            .ok_empty();
    }
    let all = srv.get("/v2/_trust/changefeed?records=1000").await.json();
    assert_eq!(all["count"], 101);
    let zero = srv.get("/v2/_trust/changefeed?records=0").await.json();
    assert_eq!(zero["count"], 100);
    assert_eq!(zero["records"][0], all["records"][0]);
    assert_eq!(zero["records"][99], all["records"][99]);
}

async fn delete_removes_repository_and_records_deletion(b: Backend) {
    let srv = Server::start(b).await;
    const OTHER: &str = "example.com/org/app2";
    srv.published(GUN).await;
    let (_, other_parts) = srv.published(OTHER).await;
    let other_before = srv.dump(OTHER).await;

    let r = srv
        .request(Method::DELETE, &tuf_url(GUN, ""), None, None, vec![])
        .await;
    r.ok_empty();
    for file in ["root.json", "targets.json", "timestamp.json", "1.root.json"] {
        srv.get_meta(GUN, file)
            .await
            .error(404, "METADATA_NOT_FOUND");
    }
    // Exactly GUN: a GUN it is a prefix of keeps everything but the changefeed entry.
    let other_after = srv.dump(OTHER).await;
    assert_eq!(other_before.files, other_after.files);
    assert_eq!(other_before.current, other_after.current);
    assert_eq!(
        srv.get_meta(OTHER, "root.json").await.body,
        other_parts[0].1
    );

    let feed = srv.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 3);
    let deletion = &feed["records"][2];
    assert_eq!(deletion["GUN"], GUN);
    assert_eq!(deletion["Category"], "deletion");
    assert_eq!(deletion["Version"], 0);
    assert_eq!(deletion["SHA256"], "");

    // Deleting what does not exist: 200, no changefeed entry.
    srv.request(Method::DELETE, &tuf_url(GUN, ""), None, None, vec![])
        .await
        .ok_empty();
    assert_eq!(
        srv.get("/v2/_trust/changefeed?records=10").await.json()["count"],
        3
    );

    // The GUN can be initialised again.
    let (_, parts) = srv.published(GUN).await;
    assert_eq!(srv.get_meta(GUN, "root.json").await.body, parts[0].1);
    srv.verify_chain(GUN).await;
}

async fn health_ping_metrics_and_catch_all(b: Backend) {
    let srv = Server::start(b).await;
    let health = srv.get("/_notary_server/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, b"{}");
    assert_eq!(
        health.header(header::CONTENT_TYPE),
        "application/json; charset=utf-8"
    );
    let ping = srv.get("/v2/").await;
    assert_eq!(ping.status, StatusCode::OK);
    assert_eq!(ping.body, b"{}");

    let expected_404 = concat!(
        r#"{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist."}]}"#,
        "\n"
    );
    for (method, uri) in [
        (Method::GET, "/nope"),
        (Method::GET, "/v2"),
        (Method::GET, "/v2/x/_trust/tuf/foo.json"),
        (Method::GET, "/v2/x/_trust/tuf/targets.key"),
        (Method::PUT, "/v2/x/_trust/tuf/"),
        (Method::POST, "/v2/x/_trust/tuf/root.json"),
        (Method::DELETE, "/v2/x/_trust/tuf/root.json"),
        (Method::POST, "/_notary_server/health"),
    ] {
        let r = srv.request(method.clone(), uri, None, None, vec![]).await;
        assert_eq!(r.error(404, "METADATA_NOT_FOUND"), None, "{method} {uri}");
        assert_eq!(r.text(), expected_404, "{method} {uri}");
    }

    let metrics = srv.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header(header::CONTENT_TYPE)
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for line in [
        r#"signet_http_requests_total{route="health",status="2xx"} 1"#,
        r#"signet_http_requests_total{route="ping",status="2xx"} 1"#,
        r#"signet_http_requests_total{route="not_found",status="4xx"} 8"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("signet_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"signet_updates_total{outcome="accepted"} 0"#));
}

async fn delegation_publish_is_served(b: Backend) {
    let srv = Server::start(b).await;
    let (mut repo, _) = srv.published(GUN).await;
    repo.add_delegation("targets/releases");
    let targets = repo.targets(2, &[]);
    let releases = repo.delegation("targets/releases", 1, &[("v1", b"image")]);
    srv.post(
        GUN,
        &[
            part("targets", targets.clone()),
            part("targets/releases", releases.clone()),
        ],
    )
    .await
    .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.targets.bytes(), targets.as_slice());
    chain.snapshot.signed.meta["targets/releases"]
        .check(&releases)
        .expect("snapshot lists the delegation");
    let r = srv.get_meta(GUN, "targets/releases.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, releases);
    let by_sum = srv
        .get_meta(
            GUN,
            &format!("targets/releases.{}.json", sha256_hex(&releases)),
        )
        .await;
    assert_eq!(by_sum.body, releases);
    assert_eq!(
        srv.get_meta(GUN, "1.targets/releases.json").await.body,
        releases
    );

    // The delegation alone can be updated later; its parent comes from the store.
    let releases2 = repo.delegation("targets/releases", 2, &[("v2", b"image 2")]);
    srv.post(GUN, &[part("targets/releases", releases2.clone())])
        .await
        .ok_empty();
    assert_eq!(
        srv.get_meta(GUN, "targets/releases.json").await.body,
        releases2
    );
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.targets.bytes(), targets.as_slice());
}

async fn uploaded_timestamp_is_ignored(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    // Whatever a client sends as timestamp is dropped; the server makes its own.
    let forged_ts = TestRepo::sign(
        "timestamp",
        repo.snapshot_body(99, &[]),
        &[repo.targets_key()],
    );
    srv.post(
        GUN,
        &[
            part("targets", repo.targets(2, &[])),
            part("timestamp", forged_ts.clone()),
        ],
    )
    .await
    .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.timestamp.version(), 2);
    assert_ne!(chain.timestamp.bytes(), forged_ts.as_slice());
}

// ---------------------------------------------------------------------------------------------
// Bad input: each answered with Notary's code, nothing stored, server healthy
// ---------------------------------------------------------------------------------------------

async fn non_multipart_body_is_malformed_upload(b: Backend) {
    let srv = Server::start(b).await;
    let (_, parts) = srv.published(GUN).await;
    for ct in [
        "application/json",
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=",
    ] {
        let r = srv
            .attempt(GUN, raw_post(&tuf_url(GUN, ""), ct, parts[1].1.clone()))
            .await;
        r.error(400, "MALFORMED_UPLOAD");
    }
    let no_ct = Request::builder()
        .method(Method::POST)
        .uri(tuf_url(GUN, ""))
        .body(Body::from(parts[1].1.clone()))
        .unwrap();
    srv.attempt(GUN, no_ct).await.error(400, "MALFORMED_UPLOAD");
}

async fn malformed_multipart_is_malformed_upload(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let (ct, body) = multipart(&[("targets", &repo.targets(2, &[]))]);
    // Cut before the closing boundary.
    let truncated = body[..body.len() - 40].to_vec();
    srv.attempt(GUN, raw_post(&tuf_url(GUN, ""), &ct, truncated))
        .await
        .error(400, "MALFORMED_UPLOAD");
    // A body that never mentions the boundary.
    srv.attempt(GUN, raw_post(&tuf_url(GUN, ""), &ct, b"garbage".to_vec()))
        .await
        .error(400, "MALFORMED_UPLOAD");
    // Part headers that never end.
    let boundary = ct.split("boundary=").nth(1).unwrap();
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets\""
    );
    srv.attempt(GUN, raw_post(&tuf_url(GUN, ""), &ct, body.into_bytes()))
        .await
        .error(400, "MALFORMED_UPLOAD");
}

async fn part_without_filename_is_no_filename(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let targets = repo.targets(2, &[]);
    for disposition in [
        "form-data; name=\"files\"",
        "form-data; name=\"files\"; filename=\"\"",
        "form-data; name=\"files\"; filename=\".json\"",
    ] {
        let boundary = "b0undary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&targets);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let r = srv
            .attempt(GUN, raw_post(&tuf_url(GUN, ""), &ct, body))
            .await;
        assert_eq!(r.error(400, "NO_FILENAME"), None, "{disposition}");
    }
}

async fn invalid_role_names_are_invalid_role(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let targets = repo.targets(2, &[]);
    for role in [
        "foo",
        "targets/../x",
        "targets/../../root",
        "Targets",
        "targets/",
        "targets//x",
        "targets/A",
        "../targets",
        "root/x",
        "timestamp.key",
    ] {
        let r = srv.attempt_post(GUN, &[part(role, targets.clone())]).await;
        assert_eq!(r.error(400, "INVALID_ROLE"), Some(json!(role)), "{role}");
    }
    // A valid part followed by an invalid one: nothing of the upload is kept.
    let r = srv
        .attempt_post(
            GUN,
            &[part("targets", targets), part("foo", b"{}".to_vec())],
        )
        .await;
    r.error(400, "INVALID_ROLE");
}

async fn non_json_part_is_malformed_json(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let targets = repo.targets(2, &[]);
    for junk in [
        b"not json".to_vec(),
        b"".to_vec(),
        b"[]".to_vec(),
        b"{\"signatures\":[]}".to_vec(),
        targets[..targets.len() - 1].to_vec(),
    ] {
        let r = srv.attempt_post(GUN, &[part("targets", junk)]).await;
        assert_eq!(r.error(400, "MALFORMED_JSON"), None);
    }
}

async fn tampered_targets_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let r = srv
        .attempt_post(
            GUN,
            &[part("targets", tamper(&repo.targets(2, &[("a", b"x")])))],
        )
        .await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadTargets".to_owned(),
            "valid signatures did not meet threshold for targets".to_owned()
        )
    );
}

async fn targets_signed_by_wrong_key_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let stranger = EcdsaKey::generate();
    let impostor = Impostor {
        claimed: repo.targets_key().id(),
        key: &stranger,
    };
    let signers: [&[&dyn Signer]; 3] = [
        &[&stranger],
        &[&impostor],
        &[repo.root_key()], // a real key of the repository, but not the targets key
    ];
    for signers in signers {
        let forged = TestRepo::sign("targets", repo.targets_body(2, &[]), signers);
        let r = srv.attempt_post(GUN, &[part("targets", forged)]).await;
        assert_eq!(
            r.invalid_update(),
            (
                "ErrBadTargets".to_owned(),
                "valid signatures did not meet threshold for targets".to_owned()
            )
        );
    }
}

async fn unsigned_targets_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let unsigned = TestRepo::sign("targets", repo.targets_body(2, &[]), &[]);
    let r = srv.attempt_post(GUN, &[part("targets", unsigned)]).await;
    assert_eq!(r.invalid_update().0, "ErrBadTargets");
}

async fn root_signed_by_wrong_key_is_bad_root(b: Backend) {
    let srv = Server::start(b).await;
    let repo = srv.new_repo(GUN).await;
    let stranger = CertKey::generate(GUN, srv.now());
    // A new GUN: root listing the repo's root key but signed by another certificate key.
    let root = repo.root_signed_by(1, &[&stranger]);
    let r = srv
        .attempt_post(
            GUN,
            &[part("root", root), part("targets", repo.targets(1, &[]))],
        )
        .await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadRoot".to_owned(),
            "valid signatures did not meet threshold for root".to_owned()
        )
    );
    // An existing GUN: a root v2 signed by an impostor claiming the root key's ID.
    let parts = repo.initial_upload();
    srv.post(GUN, &parts).await.ok_empty();
    let impostor = Impostor {
        claimed: repo.root_key().id(),
        key: stranger.key(),
    };
    let r = srv
        .attempt_post(GUN, &[part("root", repo.root_signed_by(2, &[&impostor]))])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");
}

async fn tampered_root_is_bad_root(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let r = srv
        .attempt_post(GUN, &[part("root", tamper(&repo.root(2)))])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");
}

async fn root_cn_not_matching_gun_is_bad_root(b: Backend) {
    let srv = Server::start(b).await;
    // The other GUN's publisher, with this GUN's server keys, uploads to this GUN.
    let mut other = TestRepo::new("example.com/org/other", srv.now());
    other.set_timestamp_key(srv.server_key(GUN, "timestamp").await);
    other.set_server_snapshot_key(srv.server_key(GUN, "snapshot").await);
    let r = srv.attempt_post(GUN, &other.initial_upload()).await;
    let (name, msg) = r.invalid_update();
    assert_eq!(name, "ErrBadRoot");
    assert!(
        msg.contains("unable to retrieve valid leaf certificates"),
        "{msg}"
    );
    // A prefix of the GUN is not the GUN either.
    let mut prefix = TestRepo::new("example.com/org", srv.now());
    prefix.set_timestamp_key(srv.server_key(GUN, "timestamp").await);
    prefix.set_server_snapshot_key(srv.server_key(GUN, "snapshot").await);
    let r = srv.attempt_post(GUN, &prefix.initial_upload()).await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");
}

async fn expired_targets_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let mut body = repo.targets_body(2, &[]);
    body.expires = signet_core::metadata::Expires::at(srv.now().add_secs(-1));
    let expired = TestRepo::sign("targets", body, &[repo.targets_key()]);
    let r = srv.attempt_post(GUN, &[part("targets", expired)]).await;
    let (name, msg) = r.invalid_update();
    assert_eq!(name, "ErrBadTargets");
    assert!(msg.starts_with("targets expired at"), "{msg}");
    // Expiring exactly now is expired too.
    let mut body = repo.targets_body(2, &[]);
    body.expires = signet_core::metadata::Expires::at(srv.now());
    let expired = TestRepo::sign("targets", body, &[repo.targets_key()]);
    let r = srv.attempt_post(GUN, &[part("targets", expired)]).await;
    assert_eq!(r.invalid_update().0, "ErrBadTargets");
}

async fn expired_root_is_bad_root(b: Backend) {
    let srv = Server::start(b).await;
    let repo = srv.new_repo(GUN).await;
    let mut body = repo.root_body(1);
    body.expires = signet_core::metadata::Expires::at(srv.now().add_secs(-1));
    let expired = TestRepo::sign("root", body, &[repo.root_key()]);
    let r = srv
        .attempt_post(
            GUN,
            &[part("root", expired), part("targets", repo.targets(1, &[]))],
        )
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");
    // A root key whose certificate expired.
    let mut stale = TestRepo::new(GUN, srv.now());
    stale.set_timestamp_key(srv.server_key(GUN, "timestamp").await);
    stale.set_server_snapshot_key(srv.server_key(GUN, "snapshot").await);
    let old_cert = CertKey::with_validity(GUN, srv.now().add_days(-400), srv.now().add_days(-1));
    let root = TestRepo::sign(
        "root",
        {
            let mut body = stale.root_body(1);
            let keyids = body.roles.get_mut("root").unwrap();
            body.keys.remove(&keyids.keyids[0]);
            keyids.keyids = vec![old_cert.id().clone()];
            body.keys
                .insert(old_cert.id().clone(), old_cert.public().clone());
            body
        },
        &[&old_cert],
    );
    let r = srv
        .attempt_post(
            GUN,
            &[part("root", root), part("targets", stale.targets(1, &[]))],
        )
        .await;
    let (name, msg) = r.invalid_update();
    assert_eq!(name, "ErrBadRoot");
    assert!(
        msg.contains("unable to retrieve valid leaf certificates"),
        "{msg}"
    );
}

async fn replayed_version_is_version_error(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, parts) = srv.published(GUN).await;
    // The very same bytes again.
    srv.attempt_post(GUN, &parts).await.version_error();
    srv.attempt_post(GUN, &parts[1..]).await.version_error();
    // A fresh, valid file with the stored version.
    srv.attempt_post(GUN, &[part("targets", repo.targets(1, &[("new", b"x")]))])
        .await
        .version_error();
    // Root with the current version is allowed by validation but not by storage.
    srv.attempt_post(GUN, &[part("root", repo.root(1))])
        .await
        .version_error();
}

async fn lower_version_is_version_error(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    srv.post(GUN, &[part("targets", repo.targets(3, &[]))])
        .await
        .ok_empty();
    for v in [1, 2, 3] {
        srv.attempt_post(GUN, &[part("targets", repo.targets(v, &[]))])
            .await
            .version_error();
    }
}

async fn duplicate_role_in_one_upload_is_version_error(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    srv.attempt_post(
        GUN,
        &[
            part("targets", repo.targets(2, &[])),
            part("targets", repo.targets(3, &[])),
        ],
    )
    .await
    .version_error();
    // `targets` and `targets.json` name the same role.
    srv.attempt_post(
        GUN,
        &[
            part("targets", repo.targets(2, &[])),
            part("targets.json", repo.targets(3, &[])),
        ],
    )
    .await
    .version_error();
}

async fn root_version_jump_is_bad_root(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let r = srv.attempt_post(GUN, &[part("root", repo.root(3))]).await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadRoot".to_owned(),
            "Root modifications must increment the version. Current 1, new 3".to_owned()
        )
    );
    // On a new GUN, root must be version 1 (or 2).
    let fresh = srv.new_repo("example.com/fresh").await;
    let r = srv
        .attempt_post(
            "example.com/fresh",
            &[
                part("root", fresh.root(5)),
                part("targets", fresh.targets(1, &[])),
            ],
        )
        .await;
    assert_eq!(
        r.invalid_update().1,
        "Root modifications must increment the version. Current 1, new 5"
    );
}

async fn update_without_root_on_new_gun_is_err_validation(b: Backend) {
    let srv = Server::start(b).await;
    let repo = srv.new_repo(GUN).await;
    let r = srv
        .attempt_post(GUN, &[part("targets", repo.targets(1, &[]))])
        .await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrValidation".to_owned(),
            "no pre-existing root and no root provided in update.".to_owned()
        )
    );
    // An empty form is an update without root too.
    let r = srv.attempt_post(GUN, &[]).await;
    assert_eq!(r.invalid_update().0, "ErrValidation");
}

async fn first_update_without_targets_is_bad_hierarchy(b: Backend) {
    let srv = Server::start(b).await;
    let repo = srv.new_repo(GUN).await;
    let r = srv.attempt_post(GUN, &[part("root", repo.root(1))]).await;
    let detail = r.error(400, "INVALID_UPDATE").unwrap();
    assert_eq!(detail["Name"], "ErrBadHierarchy");
    assert_eq!(detail["Error"]["Missing"], "targets");
}

async fn oversized_body_is_malformed_upload(b: Backend) {
    let srv = Server::start_with(b, |c| c.server.max_upload_bytes = 16 * 1024).await;
    let (repo, _) = srv.published(GUN).await;
    let names: Vec<String> = (0..200).map(|i| format!("target-{i:04}")).collect();
    let targets: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let big = repo.targets(2, &targets);
    assert!(big.len() > 16 * 1024);
    let r = srv.attempt_post(GUN, &[part("targets", big)]).await;
    assert_eq!(
        r.error(400, "MALFORMED_UPLOAD"),
        Some(json!("request body is larger than 16384 bytes"))
    );
    // Just under the limit is fine.
    srv.post(GUN, &[part("targets", repo.targets(2, &targets[..20]))])
        .await
        .ok_empty();
}

async fn stalled_body_times_out(b: Backend) {
    let srv = Server::start_with(b, |c| c.server.body_timeout_secs = 1).await;
    // Part of a body, then nothing: the stream never ends.
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"--x\r\n"))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(
        first,
        futures_util::stream::pending(),
    ));
    let req = Request::builder()
        .method(Method::POST)
        .uri(tuf_url(GUN, ""))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body(body)
        .expect("request");
    let started = std::time::Instant::now();
    let r = srv.attempt(GUN, req).await;
    assert_eq!(
        r.error(400, "MALFORMED_UPLOAD"),
        Some(json!("request body not received within 1 s"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Nothing was written, and the server still serves.
    assert_eq!(
        srv.get(&tuf_url(GUN, "root.json")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn overlong_gun_is_invalid_gun_or_not_found(b: Backend) {
    let srv = Server::start(b).await;
    let long = format!("example.com/{}", "a".repeat(300));
    let r = srv
        .attempt(
            &long,
            raw_post(
                &tuf_url(&long, ""),
                "multipart/form-data; boundary=x",
                vec![],
            ),
        )
        .await;
    r.error(400, "INVALID_GUN");
    for file in ["root.json", "timestamp.key", "snapshot.key", "1.root.json"] {
        srv.get_meta(&long, file)
            .await
            .error(404, "METADATA_NOT_FOUND");
    }
    srv.get(&format!("/v2/{long}/_trust/changefeed?records=10"))
        .await
        .error(404, "METADATA_NOT_FOUND");
    // 255 bytes is still a GUN.
    let max = format!("example.com/{}", "b".repeat(255 - "example.com/".len()));
    srv.published(&max).await;
    srv.verify_chain(&max).await;
}

async fn gun_with_star_is_not_found(b: Backend) {
    let srv = Server::start(b).await;
    for uri in [
        "/v2/example.com/*/_trust/tuf/root.json",
        "/v2/example.com/a*b/_trust/tuf/timestamp.key",
        "/v2/example.com/a%2Ab/_trust/tuf/root.json",
        "/v2/*/_trust/changefeed?records=1",
    ] {
        let r = srv.get(uri).await;
        assert_eq!(r.error(404, "METADATA_NOT_FOUND"), None, "{uri}");
    }
    let r = srv
        .attempt(
            "example.com/*",
            raw_post(
                "/v2/example.com/*/_trust/tuf/",
                "multipart/form-data; boundary=x",
                b"--x--\r\n".to_vec(),
            ),
        )
        .await;
    assert_eq!(r.error(404, "METADATA_NOT_FOUND"), None);
}

async fn dot_dot_gun_is_its_own_repository(b: Backend) {
    let srv = Server::start(b).await;
    const VICTIM: &str = "example.com/victim";
    const EVIL: &str = "example.com/evil/../victim";
    srv.published(VICTIM).await;
    let victim = srv.dump(VICTIM).await;
    // The evil GUN is just a name: its own keys, its own rows, nothing of the victim's.
    let evil_ts = srv.server_key(EVIL, "timestamp").await;
    assert_ne!(evil_ts.id(), srv.server_key(VICTIM, "timestamp").await.id());
    let (_, parts) = srv.published(EVIL).await;
    assert_eq!(srv.get_meta(EVIL, "root.json").await.body, parts[0].1);
    srv.verify_chain(EVIL).await;
    let after = srv.dump(VICTIM).await;
    assert_eq!(victim.files, after.files);
    assert_eq!(victim.current, after.current);
    // Other spellings of traversal do not reach the victim either.
    for uri in [
        "/v2/example.com/evil/%2E%2E/victim/_trust/tuf/root.json",
        "/v2/example.com/evil/../victim/_trust/tuf/root.json",
    ] {
        assert_eq!(srv.get(uri).await.body, parts[0].1, "{uri}");
    }
    srv.request(Method::DELETE, &tuf_url(EVIL, ""), None, None, vec![])
        .await
        .ok_empty();
    let after = srv.dump(VICTIM).await;
    assert_eq!(victim.files, after.files);
}

async fn percent_encoded_slash_is_a_slash(b: Backend) {
    let srv = Server::start(b).await;
    const SLASHED: &str = "example.com/a/b";
    let repo = srv.new_repo(SLASHED).await;
    let parts = repo.initial_upload();
    let refs: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(r, b)| (r.as_str(), b.as_slice()))
        .collect();
    let (ct, body) = multipart(&refs);
    srv.send(raw_post("/v2/example.com%2Fa%2fb/_trust/tuf/", &ct, body))
        .await
        .ok_empty();
    assert_eq!(srv.get_meta(SLASHED, "root.json").await.body, parts[0].1);
    assert_eq!(
        srv.get("/v2/example.com%2Fa/b/_trust/tuf/root.json")
            .await
            .body,
        parts[0].1
    );
}

async fn nul_and_control_bytes_in_gun_are_refused(b: Backend) {
    let srv = Server::start(b).await;
    srv.published(GUN).await;
    for gun in [
        "example.com/nul\0byte",
        "example.com/\0",
        "example.com/new\nline",
        "example.com/tab\tx",
        "example.com/del\x7f",
    ] {
        let mut repo = TestRepo::new(gun, srv.now());
        repo.set_timestamp_key(EcdsaKey::generate().public().clone());
        repo.set_server_snapshot_key(EcdsaKey::generate().public().clone());
        let parts = repo.initial_upload();
        let refs: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(r, b)| (r.as_str(), b.as_slice()))
            .collect();
        let (ct, body) = multipart(&refs);
        let r = srv
            .attempt(GUN, raw_post(&tuf_url(gun, ""), &ct, body))
            .await;
        r.error(400, "INVALID_GUN");
        for file in ["root.json", "timestamp.key", "1.root.json"] {
            srv.get_meta(gun, file)
                .await
                .error(404, "METADATA_NOT_FOUND");
        }
    }
    srv.assert_healthy().await;
    srv.verify_chain(GUN).await;
}

async fn unicode_gun_round_trips(b: Backend) {
    let srv = Server::start(b).await;
    const UNI: &str = "example.com/ünïcødé/应用/😀";
    let (repo, parts) = srv.published(UNI).await;
    assert_eq!(srv.get_meta(UNI, "root.json").await.body, parts[0].1);
    srv.verify_chain(UNI).await;
    srv.post(UNI, &[part("targets", repo.targets(2, &[("ß", b"x")]))])
        .await
        .ok_empty();
    let feed = srv
        .get(&format!(
            "/v2/{}/_trust/changefeed?records=10",
            path_escape(UNI)
        ))
        .await
        .json();
    assert_eq!(feed["count"], 2);
    assert_eq!(feed["records"][0]["GUN"], UNI);
}

async fn gun_prefix_filter(b: Backend) {
    let srv = Server::start_with(b, |c| {
        c.repositories.gun_prefixes = vec!["p1/".to_owned(), "p2/".to_owned()];
    })
    .await;
    let outside = "other/app";
    let mut repo = TestRepo::new(outside, srv.now());
    repo.set_timestamp_key(EcdsaKey::generate().public().clone());
    repo.set_server_snapshot_key(EcdsaKey::generate().public().clone());
    let r = srv.attempt_post(outside, &repo.initial_upload()).await;
    assert_eq!(
        r.error(400, "INVALID_GUN"),
        Some(json!("Require GUNs with prefix: [p1/ p2/]"))
    );
    for file in ["root.json", "timestamp.key", "snapshot.key", "1.root.json"] {
        srv.get_meta(outside, file)
            .await
            .error(404, "METADATA_NOT_FOUND");
    }
    for (method, file) in [(Method::POST, "timestamp.key"), (Method::DELETE, "")] {
        srv.request(method, &tuf_url(outside, file), None, None, vec![])
            .await
            .error(404, "METADATA_NOT_FOUND");
    }
    srv.get("/v2/other/app/_trust/changefeed?records=1")
        .await
        .error(404, "METADATA_NOT_FOUND");
    // "p1" without the slash is not under "p1/".
    srv.get_meta("p1", "timestamp.key")
        .await
        .error(404, "METADATA_NOT_FOUND");
    // Inside the prefixes everything works.
    for gun in ["p1/app", "p2/team/app"] {
        srv.published(gun).await;
        srv.verify_chain(gun).await;
    }
}

async fn delegation_not_delegated_by_parent_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (mut repo, _) = srv.published(GUN).await;
    let rogue = EcdsaKey::generate();
    let forged = TestRepo::sign(
        "targets/other",
        repo.delegation_body("targets/other", 1, &[("evil", b"x")]),
        &[&rogue],
    );
    let r = srv
        .attempt_post(GUN, &[part("targets/other", forged)])
        .await;
    let (name, msg) = r.invalid_update();
    assert_eq!(name, "ErrBadTargets");
    assert!(msg.contains("delegation does not exist"), "{msg}");

    // A grandchild whose parent does not exist at all.
    let forged = TestRepo::sign(
        "targets/releases/x",
        repo.delegation_body("targets/releases/x", 1, &[]),
        &[&rogue],
    );
    let r = srv
        .attempt_post(GUN, &[part("targets/releases/x", forged)])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadTargets");

    // The stored targets delegates targets/releases only; targets/other stays refused even
    // when uploaded next to it.
    repo.add_delegation("targets/releases");
    srv.post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await
        .ok_empty();
    let forged = TestRepo::sign(
        "targets/other",
        repo.delegation_body("targets/other", 1, &[]),
        &[&repo.delegation_info("targets/releases").unwrap().key],
    );
    let r = srv
        .attempt_post(
            GUN,
            &[
                part(
                    "targets/releases",
                    repo.delegation("targets/releases", 1, &[]),
                ),
                part("targets/other", forged),
            ],
        )
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadTargets");
}

async fn delegation_signed_by_wrong_key_is_bad_targets(b: Backend) {
    let srv = Server::start(b).await;
    let (mut repo, _) = srv.published(GUN).await;
    repo.add_delegation("targets/releases");
    srv.post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await
        .ok_empty();
    // Signed by the (parent) targets key instead of the delegation's key.
    let forged = TestRepo::sign(
        "targets/releases",
        repo.delegation_body("targets/releases", 1, &[("v1", b"x")]),
        &[repo.targets_key()],
    );
    let r = srv
        .attempt_post(GUN, &[part("targets/releases", forged)])
        .await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadTargets".to_owned(),
            "valid signatures did not meet threshold for targets/releases".to_owned()
        )
    );
}

async fn snapshot_with_wrong_targets_hash_is_bad_snapshot(b: Backend) {
    let srv = Server::start(b).await;
    let mut repo = srv.new_repo(GUN).await;
    repo.hold_snapshot_key();
    let parts = repo.initial_upload();
    srv.post(GUN, &parts).await.ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.snapshot.bytes(), parts[2].1.as_slice());

    let targets = repo.targets(2, &[("a", b"x")]);
    let other_targets = repo.targets(2, &[("a", b"y")]);
    let snapshot = repo.snapshot(2, &[("root", &parts[0].1), ("targets", &other_targets)]);
    let r = srv
        .attempt_post(
            GUN,
            &[part("targets", targets.clone()), part("snapshot", snapshot)],
        )
        .await;
    let (name, msg) = r.invalid_update();
    assert_eq!(name, "ErrBadSnapshot");
    assert!(msg.contains("targets"), "{msg}");

    // A snapshot that leaves out root.
    let snapshot = repo.snapshot(2, &[("targets", &targets)]);
    let r = srv
        .attempt_post(
            GUN,
            &[part("targets", targets.clone()), part("snapshot", snapshot)],
        )
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadSnapshot");

    // Without a snapshot the server cannot make one: it does not hold the key.
    let r = srv
        .attempt_post(GUN, &[part("targets", targets.clone())])
        .await;
    let detail = r.error(400, "INVALID_UPDATE").unwrap();
    assert_eq!(
        detail,
        json!({"Name": "ErrBadHierarchy", "Error": {"Missing": "snapshot", "Msg": "no snapshot was included in update and server does not hold current snapshot key for repository"}})
    );

    // The right one is accepted and served as uploaded.
    let snapshot = repo.snapshot(2, &[("root", &parts[0].1), ("targets", &targets)]);
    srv.post(
        GUN,
        &[part("targets", targets), part("snapshot", snapshot.clone())],
    )
    .await
    .ok_empty();
    assert_eq!(srv.get_meta(GUN, "snapshot.json").await.body, snapshot);
    srv.verify_chain(GUN).await;
}

async fn snapshot_signed_by_wrong_key_is_bad_snapshot(b: Backend) {
    let srv = Server::start(b).await;
    let mut repo = srv.new_repo(GUN).await;
    repo.hold_snapshot_key();
    let parts = repo.initial_upload();
    srv.post(GUN, &parts).await.ok_empty();
    let targets = repo.targets(2, &[]);
    let body = repo.snapshot_body(2, &[("root", &parts[0].1), ("targets", &targets)]);
    let forged = TestRepo::sign("snapshot", body, &[repo.targets_key()]);
    let r = srv
        .attempt_post(GUN, &[part("targets", targets), part("snapshot", forged)])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadSnapshot");
}

// ---------------------------------------------------------------------------------------------
// Rotation
// ---------------------------------------------------------------------------------------------

async fn timestamp_key_rotation(b: Backend) {
    let srv = Server::start(b).await;
    let (mut repo, _) = srv.published(GUN).await;
    let old = srv.server_key(GUN, "timestamp").await;

    let rotated = srv
        .request(
            Method::POST,
            &tuf_url(GUN, "timestamp.key"),
            None,
            None,
            vec![],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    let new = parse_server_key(&rotated.body).unwrap();
    assert_ne!(new.id(), old.id());
    // Not in force until a root lists it.
    assert_eq!(srv.server_key(GUN, "timestamp").await.id(), old.id());
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.timestamp.signatures[0].keyid, *old.id());

    repo.set_timestamp_key(new.clone());
    let root2 = repo.root(2);
    srv.post(GUN, &[part("root", root2.clone())])
        .await
        .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.root.bytes(), root2.as_slice());
    assert_eq!(chain.timestamp.version(), 2);
    assert_eq!(chain.timestamp.signatures.len(), 1);
    assert_eq!(chain.timestamp.signatures[0].keyid, *new.id());
    // The old key no longer verifies the timestamp.
    let mut old_only = chain.root.signed.clone();
    old_only.roles.get_mut("timestamp").unwrap().keyids = vec![old.id().clone()];
    old_only.keys.insert(old.id().clone(), old.clone());
    let ring = base_role_ring(&old_only, "timestamp").unwrap();
    assert!(
        verify_threshold(
            &chain.timestamp,
            &RoleName::timestamp(),
            &ring,
            &RingVerifier
        )
        .is_err()
    );
    assert_eq!(srv.server_key(GUN, "timestamp").await.id(), new.id());

    // Rotating the snapshot key works the same way.
    let r = srv
        .request(
            Method::POST,
            &tuf_url(GUN, "snapshot.key"),
            None,
            None,
            vec![],
        )
        .await;
    let new_snap = parse_server_key(&r.body).unwrap();
    repo.set_server_snapshot_key(new_snap.clone());
    srv.post(GUN, &[part("root", repo.root(3))])
        .await
        .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.snapshot.signatures[0].keyid, *new_snap.id());

    // A root listing a timestamp key the server does not hold cannot get a timestamp.
    repo.set_timestamp_key(EcdsaKey::generate().public().clone());
    let r = srv.attempt_post(GUN, &[part("root", repo.root(4))]).await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadRoot".to_owned(),
            "no  timestamp keys exist on the server".to_owned()
        )
    );
}

async fn root_key_rotation_needs_old_and_new_signatures(b: Backend) {
    let srv = Server::start(b).await;
    let (mut repo, _) = srv.published(GUN).await;
    let old = repo.rotate_root_key();

    let r = srv.attempt_post(GUN, &[part("root", repo.root(2))]).await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrBadRoot".to_owned(),
            "valid signatures did not meet threshold for root".to_owned()
        )
    );
    // Signed by the old key only: the new root's own threshold is not met.
    let r = srv
        .attempt_post(GUN, &[part("root", repo.root_signed_by(2, &[&old]))])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");

    let root2 = repo.root_signed_by(2, &[&old, repo.root_key()]);
    srv.post(GUN, &[part("root", root2.clone())])
        .await
        .ok_empty();
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.root.bytes(), root2.as_slice());
    assert!(!chain.root.signed.keys.contains_key(old.id()));

    // From now on the new key alone signs, and the old one alone no longer does.
    let r = srv
        .attempt_post(GUN, &[part("root", repo.root_signed_by(3, &[&old]))])
        .await;
    assert_eq!(r.invalid_update().0, "ErrBadRoot");
    let root3 = repo.root(3);
    srv.post(GUN, &[part("root", root3.clone())])
        .await
        .ok_empty();
    assert_eq!(srv.verify_chain(GUN).await.root.bytes(), root3.as_slice());
    assert_eq!(srv.get_meta(GUN, "2.root.json").await.body, root2);
}

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

async fn expired_timestamp_is_resigned_on_read(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let first = srv.verify_chain(GUN).await;
    assert_eq!(first.timestamp.version(), 1);

    // Still valid one second before expiry: same bytes.
    srv.advance(14 * DAY - 1);
    assert_eq!(
        srv.get_meta(GUN, "timestamp.json").await.body,
        first.timestamp.bytes()
    );
    srv.advance(1);
    let r = srv.get_meta(GUN, "timestamp.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(r.body, chain.timestamp.bytes());
    assert_eq!(chain.timestamp.version(), 2);
    assert_eq!(chain.timestamp.expires().instant(), srv.now().add_days(14));
    assert_eq!(
        chain.snapshot.bytes(),
        first.snapshot.bytes(),
        "same snapshot"
    );
    assert_eq!(
        chain.timestamp.signatures[0].keyid,
        first.timestamp.signatures[0].keyid
    );
    // Re-signed once, then served as stored.
    assert_eq!(
        srv.get_meta(GUN, "timestamp.json").await.body,
        chain.timestamp.bytes()
    );
    assert_eq!(
        srv.get_meta(GUN, "1.timestamp.json").await.body,
        first.timestamp.bytes()
    );
    assert_eq!(
        srv.get_meta(GUN, "2.timestamp.json").await.body,
        chain.timestamp.bytes()
    );
    let feed = srv
        .get(&format!("/v2/{GUN}/_trust/changefeed?records=10"))
        .await
        .json();
    assert_eq!(feed["count"], 2);
    assert_eq!(feed["records"][1]["Version"], 2);
    assert_eq!(
        feed["records"][1]["SHA256"],
        sha256_hex(chain.timestamp.bytes())
    );

    // A publish after the refresh continues from the refreshed version.
    srv.post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await
        .ok_empty();
    let next = srv.verify_chain(GUN).await;
    assert_eq!((next.snapshot.version(), next.timestamp.version()), (2, 3));
}

async fn expired_snapshot_is_resigned_on_read(b: Backend) {
    let srv = Server::start(b).await;
    let (repo, _) = srv.published(GUN).await;
    let first = srv.verify_chain(GUN).await;
    srv.advance(3 * 366 * DAY);
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.snapshot.version(), 2);
    assert_eq!(chain.timestamp.version(), 2);
    assert_eq!(chain.snapshot.expires().instant(), srv.now().add_years(3));
    assert_eq!(chain.snapshot.signed.meta, first.snapshot.signed.meta);
    assert_eq!(
        chain.snapshot.signatures[0].keyid,
        first.snapshot.signatures[0].keyid
    );
    assert_eq!(
        srv.get_meta(GUN, "2.snapshot.json").await.body,
        chain.snapshot.bytes()
    );
    // The next publish builds on the refreshed snapshot.
    let mut repo = repo;
    repo.set_now(srv.now());
    srv.post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await
        .ok_empty();
    let next = srv.verify_chain(GUN).await;
    assert_eq!((next.snapshot.version(), next.timestamp.version()), (3, 3));
}

async fn expired_publisher_snapshot_is_unknown_error(b: Backend) {
    let srv = Server::start(b).await;
    let mut repo = srv.new_repo(GUN).await;
    repo.hold_snapshot_key();
    srv.post(GUN, &repo.initial_upload()).await.ok_empty();
    srv.advance(3 * 366 * DAY);
    for file in ["timestamp.json", "snapshot.json"] {
        let r = srv.get_meta(GUN, file).await;
        assert_eq!(r.error(500, "UNKNOWN"), None, "no internal detail");
    }
    srv.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

async fn concurrent_publishes_of_one_version_have_one_winner(b: Backend) {
    let srv = Arc::new(Server::start(b).await);
    let (repo, _) = srv.published(GUN).await;
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| repo.targets(2, &[(&format!("t{i}"), b"x")]))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let srv = srv.clone();
        let body = body.clone();
        tasks.spawn(async move { (i, srv.post(GUN, &[part("targets", body)]).await) });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done.expect("task");
        if r.status == StatusCode::OK {
            r.ok_empty();
            winners.push(i);
        } else {
            r.version_error();
        }
    }
    assert_eq!(winners.len(), 1, "exactly one publish wins");
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.targets.bytes(), bodies[winners[0]].as_slice());
    assert_eq!(
        (chain.snapshot.version(), chain.timestamp.version()),
        (2, 2)
    );
    let feed = srv.get("/v2/_trust/changefeed?records=100").await.json();
    assert_eq!(
        feed["count"], 2,
        "one changefeed entry per stored timestamp"
    );
    // The next version goes through.
    srv.post(GUN, &[part("targets", repo.targets(3, &[]))])
        .await
        .ok_empty();
    assert_eq!(srv.verify_chain(GUN).await.targets.version(), 3);
}

async fn readers_racing_a_publish_never_see_stale_metadata(b: Backend) {
    let srv = Arc::new(Server::start(b).await);
    let (repo, _) = srv.published(GUN).await;
    for v in 2..=6 {
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let srv = srv.clone();
            readers.spawn(async move {
                for _ in 0..5 {
                    let r = srv.get_meta(GUN, "timestamp.json").await;
                    assert_eq!(r.status, StatusCode::OK);
                    tokio::task::yield_now().await;
                }
            });
        }
        let body = repo.targets(v, &[]);
        srv.post(GUN, &[part("targets", body.clone())])
            .await
            .ok_empty();
        while let Some(done) = readers.join_next().await {
            done.expect("reader");
        }
        // Once the publish answered and the readers are done, everyone sees it.
        let chain = srv.verify_chain(GUN).await;
        assert_eq!(chain.targets.bytes(), body.as_slice(), "version {v}");
        assert_eq!(chain.timestamp.version(), v);
    }
}

async fn replicas_share_one_consistent_view(b: Backend) {
    let a = Server::start(b).await;
    let r = a.replica().await;
    // Keys come from the shared database, whichever replica is asked.
    let ts = a.server_key(GUN, "timestamp").await;
    assert_eq!(r.server_key(GUN, "timestamp").await.id(), ts.id());
    let repo = r.new_repo(GUN).await;
    a.post(GUN, &repo.initial_upload()).await.ok_empty();
    let via_a = a.verify_chain(GUN).await;
    let via_r = r.verify_chain(GUN).await;
    assert_eq!(via_a.timestamp.bytes(), via_r.timestamp.bytes());

    for v in 2..=4 {
        let (writer, reader) = if v % 2 == 0 { (&a, &r) } else { (&r, &a) };
        let body = repo.targets(v, &[]);
        writer
            .post(GUN, &[part("targets", body.clone())])
            .await
            .ok_empty();
        let seen = reader.verify_chain(GUN).await;
        assert_eq!(seen.targets.bytes(), body.as_slice(), "version {v}");
        assert_eq!(seen.timestamp.version(), v);
        assert_eq!(
            writer.get_meta(GUN, "timestamp.json").await.body,
            seen.timestamp.bytes()
        );
    }

    // One replica re-signs an expired timestamp; the other serves that very timestamp.
    a.advance(15 * DAY);
    let refreshed = a.verify_chain(GUN).await;
    assert_eq!(refreshed.timestamp.version(), 5);
    assert_eq!(
        r.get_meta(GUN, "timestamp.json").await.body,
        refreshed.timestamp.bytes()
    );
}

async fn replicas_racing_publish_one_wins_and_loser_retries(b: Backend) {
    let a = Arc::new(Server::start(b).await);
    let r = Arc::new(a.replica().await);
    let repo = a.new_repo(GUN).await;
    a.post(GUN, &repo.initial_upload()).await.ok_empty();
    for round in 0..3u64 {
        let v = 2 + 2 * round;
        let body_a = repo.targets(v, &[("from-a", b"a")]);
        let body_r = repo.targets(v, &[("from-r", b"r")]);
        let (ra, rr) = tokio::join!(
            {
                let a = a.clone();
                let body = body_a.clone();
                async move { a.post(GUN, &[part("targets", body)]).await }
            },
            {
                let r = r.clone();
                let body = body_r.clone();
                async move { r.post(GUN, &[part("targets", body)]).await }
            }
        );
        let (winner_body, loser) = match (ra.status, rr.status) {
            (StatusCode::OK, _) => {
                rr.version_error();
                (body_a, &r)
            }
            (_, StatusCode::OK) => {
                ra.version_error();
                (body_r, &a)
            }
            _ => panic!("nobody won: {} / {}", ra.text(), rr.text()),
        };
        // Both see the winner.
        assert_eq!(a.verify_chain(GUN).await.targets.bytes(), winner_body);
        assert_eq!(r.verify_chain(GUN).await.targets.bytes(), winner_body);
        // The loser retries with the next version and succeeds.
        let retry = repo.targets(v + 1, &[("retry", b"x")]);
        loser
            .post(GUN, &[part("targets", retry.clone())])
            .await
            .ok_empty();
        assert_eq!(a.verify_chain(GUN).await.targets.bytes(), retry);
        assert_eq!(r.verify_chain(GUN).await.targets.bytes(), retry);
    }
    let feed = a.get("/v2/_trust/changefeed?records=100").await.json();
    assert_eq!(feed["count"], 7);
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

const REALM: &str = "https://auth.example.test/token";
const SERVICE: &str = "signet-test";
const ISSUER: &str = "signet-test-issuer";

/// A token service: a certificate the server trusts and a key it does not.
struct Tokens {
    trusted: CertKey,
    untrusted: CertKey,
    _dir: tempfile::TempDir,
}

async fn auth_server(b: Backend) -> (Server, Tokens) {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = UnixTime::from_unix(START, 0);
    let trusted = CertKey::generate("token issuer", now);
    let untrusted = CertKey::generate("token issuer", now);
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, trusted.cert_pem()).expect("write bundle");
    let srv = Server::start_with(b, |c| {
        c.auth = Some(AuthSection {
            kind: "token".to_owned(),
            options: TokenOptions {
                realm: REALM.to_owned(),
                service: SERVICE.to_owned(),
                issuer: ISSUER.to_owned(),
                rootcertbundle: bundle,
            },
        });
    })
    .await;
    (
        srv,
        Tokens {
            trusted,
            untrusted,
            _dir: dir,
        },
    )
}

impl Tokens {
    /// A JWT with `header` and `claims`, signed ES256 by `key` (or unsigned for `alg: none`).
    // JWT parts are base64url of plain JSON, not TUF signed data.
    #[allow(clippy::disallowed_methods)]
    fn mint(key: &EcdsaKey, header: &Value, claims: &Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        let signing_input = format!("{h}.{c}");
        let sig = if header["alg"] == "none" {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode(key.sign_raw(signing_input.as_bytes()))
        };
        format!("{signing_input}.{sig}")
    }

    fn header(cert: &CertKey) -> Value {
        json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(cert.cert_der())]})
    }

    fn claims(now: UnixTime, gun: &str, actions: &[&str]) -> Value {
        json!({
            "iss": ISSUER,
            "sub": "tester",
            "aud": SERVICE,
            "exp": now.secs() + 300,
            "nbf": now.secs() - 10,
            "iat": now.secs(),
            "jti": random_hex(),
            "access": [{"type": "repository", "name": gun, "actions": actions}],
        })
    }

    /// A valid token for `actions` on `gun`.
    fn token(&self, now: UnixTime, gun: &str, actions: &[&str]) -> String {
        Self::mint(
            self.trusted.key(),
            &Self::header(&self.trusted),
            &Self::claims(now, gun, actions),
        )
    }
}

/// Checks a 401 challenge: header and body.
fn assert_challenge(r: &Resp, scope: &str, error: Option<&str>) {
    let detail = r.error(401, "UNAUTHORIZED").expect("a detail");
    let mut expected = format!("Bearer realm=\"{REALM}\",service=\"{SERVICE}\",scope=\"{scope}\"");
    if let Some(e) = error {
        expected.push_str(&format!(",error=\"{e}\""));
    }
    assert_eq!(r.header(header::WWW_AUTHENTICATE), expected);
    assert!(detail.is_array(), "{detail}");
}

async fn auth_missing_token_is_challenged(b: Backend) {
    let (srv, _tokens) = auth_server(b).await;
    let r = srv.get_meta(GUN, "root.json").await;
    assert_challenge(&r, &format!("repository:{GUN}:pull"), None);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        json!([{"Type": "repository", "Name": GUN, "Action": "pull"}])
    );
    let r = srv
        .request(
            Method::POST,
            &tuf_url(GUN, ""),
            None,
            Some("multipart/form-data; boundary=x"),
            b"--x--\r\n".to_vec(),
        )
        .await;
    assert_challenge(&r, &format!("repository:{GUN}:push,pull"), None);
    let r = srv.get_meta(GUN, "timestamp.key").await;
    assert_challenge(&r, &format!("repository:{GUN}:push,pull"), None);
    let r = srv
        .request(Method::DELETE, &tuf_url(GUN, ""), None, None, vec![])
        .await;
    assert_challenge(&r, &format!("repository:{GUN}:*"), None);
    for uri in ["/v2/", "/v2/_trust/changefeed?records=1", "/nope"] {
        let r = srv.get(uri).await;
        assert_challenge(&r, "registry:catalog:*", None);
    }
    // Not a bearer token at all.
    let req = Request::builder()
        .uri(tuf_url(GUN, "root.json"))
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    assert_challenge(
        &srv.send(req).await,
        &format!("repository:{GUN}:pull"),
        None,
    );
}

async fn auth_pull_token_reads_but_cannot_push(b: Backend) {
    let (srv, tokens) = auth_server(b).await;
    let now = srv.now();
    let all = tokens.token(now, GUN, &["*"]);
    // Publish with full rights.
    let mut repo = TestRepo::new(GUN, now);
    for role in ["timestamp", "snapshot"] {
        let r = srv
            .request(
                Method::GET,
                &tuf_url(GUN, &format!("{role}.key")),
                Some(&all),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let key = parse_server_key(&r.body).unwrap();
        if role == "timestamp" {
            repo.set_timestamp_key(key);
        } else {
            repo.set_server_snapshot_key(key);
        }
    }
    let parts = repo.initial_upload();
    srv.post_as(GUN, &parts, Some(&all)).await.ok_empty();

    let pull = tokens.token(now, GUN, &["pull"]);
    for file in ["root.json", "timestamp.json", "1.targets.json"] {
        let r = srv
            .request(Method::GET, &tuf_url(GUN, file), Some(&pull), None, vec![])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.text());
    }
    let r = srv
        .request(
            Method::GET,
            &format!("/v2/{GUN}/_trust/changefeed?records=5"),
            Some(&pull),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Writing needs push.
    let r = srv
        .post_as(GUN, &[part("targets", repo.targets(2, &[]))], Some(&pull))
        .await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:push,pull"),
        Some("insufficient_scope"),
    );
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "timestamp.key"),
            Some(&pull),
            None,
            vec![],
        )
        .await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:push,pull"),
        Some("insufficient_scope"),
    );
    // Push and pull together may publish, but not delete or rotate keys.
    let push_pull = tokens.token(now, GUN, &["push", "pull"]);
    srv.post_as(
        GUN,
        &[part("targets", repo.targets(2, &[]))],
        Some(&push_pull),
    )
    .await
    .ok_empty();
    let r = srv
        .request(
            Method::DELETE,
            &tuf_url(GUN, ""),
            Some(&push_pull),
            None,
            vec![],
        )
        .await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:*"),
        Some("insufficient_scope"),
    );
    // A token for another repository grants nothing here; nor does a catalog token.
    let other = tokens.token(now, "example.com/other", &["*"]);
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "root.json"),
            Some(&other),
            None,
            vec![],
        )
        .await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:pull"),
        Some("insufficient_scope"),
    );
    let r = srv
        .request(Method::GET, "/v2/", Some(&pull), None, vec![])
        .await;
    assert_challenge(&r, "registry:catalog:*", Some("insufficient_scope"));
    let catalog = Tokens::mint(
        tokens.trusted.key(),
        &Tokens::header(&tokens.trusted),
        &json!({"iss": ISSUER, "aud": SERVICE, "exp": now.secs() + 60,
                "access": [{"type": "registry", "name": "catalog", "actions": ["*"]}]}),
    );
    let r = srv
        .request(Method::GET, "/v2/", Some(&catalog), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

// JWT parts are base64url of plain JSON, not TUF signed data.
#[allow(clippy::disallowed_methods)]
async fn auth_bad_tokens_are_invalid_token(b: Backend) {
    let (srv, tokens) = auth_server(b).await;
    let now = srv.now();
    let good_claims = Tokens::claims(now, GUN, &["*"]);
    let good_header = Tokens::header(&tokens.trusted);
    let with = |field: &str, value: Value| {
        let mut c = good_claims.clone();
        c[field] = value;
        c
    };
    let mut none_header = good_header.clone();
    none_header["alg"] = json!("none");
    let mut hs_header = good_header.clone();
    hs_header["alg"] = json!("HS256");
    let kid_header = json!({"typ": "JWT", "alg": "ES256", "kid": "ABCD:EFGH"});
    let trusted = tokens.trusted.key();
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            Tokens::mint(trusted, &good_header, &with("exp", json!(now.secs() - 120))),
        ),
        (
            "not yet valid",
            Tokens::mint(trusted, &good_header, &with("nbf", json!(now.secs() + 120))),
        ),
        (
            "wrong issuer",
            Tokens::mint(trusted, &good_header, &with("iss", json!("someone else"))),
        ),
        (
            "wrong audience",
            Tokens::mint(trusted, &good_header, &with("aud", json!("other-service"))),
        ),
        (
            "signed by another key, trusted x5c",
            Tokens::mint(tokens.untrusted.key(), &good_header, &good_claims),
        ),
        (
            "untrusted x5c",
            Tokens::mint(
                tokens.untrusted.key(),
                &Tokens::header(&tokens.untrusted),
                &good_claims,
            ),
        ),
        (
            "alg none",
            Tokens::mint(trusted, &none_header, &good_claims),
        ),
        ("alg HS256", Tokens::mint(trusted, &hs_header, &good_claims)),
        (
            "unknown kid",
            Tokens::mint(trusted, &kid_header, &good_claims),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
        ("claims swapped after signing", {
            let t = Tokens::mint(trusted, &good_header, &with("access", json!([])));
            let mut p: Vec<&str> = t.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims).unwrap());
            p[1] = &forged;
            p.join(".")
        }),
    ];
    // Sanity: the good token works.
    let good = Tokens::mint(trusted, &good_header, &good_claims);
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "timestamp.key"),
            Some(&good),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for (what, token) in cases {
        let r = srv
            .request(
                Method::GET,
                &tuf_url(GUN, "root.json"),
                Some(&token),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_challenge(&r, &format!("repository:{GUN}:pull"), Some("invalid_token"));
    }
    // Within the 60 s leeway an expiry is tolerated.
    let lenient = Tokens::mint(trusted, &good_header, &with("exp", json!(now.secs() - 30)));
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "timestamp.key"),
            Some(&lenient),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The server's clock decides: the good token expires when the clock moves on.
    srv.advance(3600);
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "root.json"),
            Some(&good),
            None,
            vec![],
        )
        .await;
    assert_challenge(&r, &format!("repository:{GUN}:pull"), Some("invalid_token"));
}

async fn auth_star_grants_every_action(b: Backend) {
    let (srv, tokens) = auth_server(b).await;
    let now = srv.now();
    let star = tokens.token(now, GUN, &["*"]);
    let mut repo = TestRepo::new(GUN, now);
    let get_key = |role: &'static str| {
        let srv = &srv;
        let star = star.clone();
        async move {
            let r = srv
                .request(
                    Method::GET,
                    &tuf_url(GUN, &format!("{role}.key")),
                    Some(&star),
                    None,
                    vec![],
                )
                .await;
            parse_server_key(&r.body).unwrap()
        }
    };
    repo.set_timestamp_key(get_key("timestamp").await);
    repo.set_server_snapshot_key(get_key("snapshot").await);
    srv.post_as(GUN, &repo.initial_upload(), Some(&star))
        .await
        .ok_empty();
    let r = srv
        .request(
            Method::POST,
            &tuf_url(GUN, "timestamp.key"),
            Some(&star),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = srv
        .request(
            Method::GET,
            &tuf_url(GUN, "root.json"),
            Some(&star),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = srv
        .request(Method::DELETE, &tuf_url(GUN, ""), Some(&star), None, vec![])
        .await;
    r.ok_empty();
}

/// A certificate's DER and its key's PKCS#8.
type CertAndKey = (Vec<u8>, Vec<u8>);

/// A CA in the bundle (PEM), a leaf it issued and a leaf of a CA not in it; rcgen's
/// default validity (1975–4096) covers the test clock.
fn token_ca_and_leaves() -> (String, CertAndKey, CertAndKey) {
    let make_ca = |cn: &str| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA");
        (params, key, cert)
    };
    let leaf_of = |ca: &(rcgen::CertificateParams, rcgen::KeyPair, rcgen::Certificate)| {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let issuer = rcgen::Issuer::from_params(&ca.0, &ca.1);
        let cert = params.signed_by(&key, &issuer).expect("leaf");
        (cert.der().to_vec(), key.serialize_der())
    };
    let trusted = make_ca("token CA");
    let other = make_ca("other CA");
    (trusted.2.pem(), leaf_of(&trusted), leaf_of(&other))
}

/// An ES256 token with `x5c: [leaf]`, signed by the leaf's PKCS#8 key.
#[allow(clippy::disallowed_methods)] // a JWT's JSON, not TUF-signed data
fn leaf_token(leaf_der: &[u8], pkcs8: &[u8], claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(leaf_der)]});
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let input = format!("{h}.{c}");
    let rng = SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

async fn auth_ca_issued_leaf_is_accepted(b: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca_pem, (leaf, leaf_key), (stranger, stranger_key)) = token_ca_and_leaves();
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, ca_pem).expect("write bundle");
    let srv = Server::start_with(b, |c| {
        c.auth = Some(AuthSection {
            kind: "token".to_owned(),
            options: TokenOptions {
                realm: REALM.to_owned(),
                service: SERVICE.to_owned(),
                issuer: ISSUER.to_owned(),
                rootcertbundle: bundle,
            },
        });
    })
    .await;
    let claims = Tokens::claims(srv.now(), GUN, &["*"]);
    let get_key = |token: String| {
        let srv = &srv;
        async move {
            srv.request(
                Method::GET,
                &tuf_url(GUN, "timestamp.key"),
                Some(&token),
                None,
                vec![],
            )
            .await
        }
    };
    let r = get_key(leaf_token(&leaf, &leaf_key, &claims)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = get_key(leaf_token(&stranger, &stranger_key, &claims)).await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:push,pull"),
        Some("invalid_token"),
    );
    // The CA-issued leaf's certificate with another key's signature.
    let r = get_key(leaf_token(&leaf, &stranger_key, &claims)).await;
    assert_challenge(
        &r,
        &format!("repository:{GUN}:push,pull"),
        Some("invalid_token"),
    );
}

async fn auth_not_needed_for_health_and_metrics(b: Backend) {
    let (srv, _tokens) = auth_server(b).await;
    srv.assert_healthy().await;
    let r = srv.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("signet_http_requests_total"));
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// SQLite on a real filesystem that fills up: the publish that does not fit fails with
/// Notary's `UPDATING` and changes nothing, health answers 503 while writes fail, and once
/// space is freed the same publish succeeds and health recovers, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_publish_and_health_then_recovers_without_restart() {
    let fs = SmallFs::mount(4 << 20);
    let url = format!("sqlite://{}", fs.path().join("signet.db").display());
    let db = Arc::new(TestDb {
        url: url.clone(),
        _scratch: Scratch::Mounted(fs),
    });
    let mut cfg = Config::default();
    cfg.storage.db_url = url;
    let srv = Server::open(db.clone(), cfg, Arc::new(AtomicI64::new(START))).await;
    let (repo, _) = srv.published(GUN).await;

    let names: Vec<String> = (0..3000)
        .map(|i| format!("release/target-{i:05}"))
        .collect();
    let targets: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let big = repo.targets(2, &targets);
    assert!(big.len() > 256 * 1024, "{}", big.len());

    let Scratch::Mounted(fs) = &db._scratch else {
        unreachable!()
    };
    let (filler, _) = fs.fill("filler");
    let before = srv.dump(GUN).await;
    for _ in 0..2 {
        let r = srv.post(GUN, &[part("targets", big.clone())]).await;
        assert_eq!(r.error(500, "UPDATING"), None, "{}", r.text());
        let health = srv.get("/_notary_server/health").await;
        assert_eq!(
            health.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "health while writes fail: {}",
            health.text()
        );
    }
    assert!(
        srv.dump(GUN).await == before,
        "a failed publish changed the repository"
    );

    std::fs::remove_file(&filler).unwrap();
    srv.assert_healthy().await;
    srv.post(GUN, &[part("targets", big.clone())])
        .await
        .ok_empty();
    assert_eq!(srv.get_meta(GUN, "targets.json").await.body, big);
    let chain = srv.verify_chain(GUN).await;
    assert_eq!(chain.timestamp.version(), 2);
    srv.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------------
// Upload limits
// ---------------------------------------------------------------------------------------------

/// A part over its role's size limit, or whose JSON is deeper or has more values than any
/// metadata needs, is refused with `MALFORMED_UPLOAD` before it is parsed; nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_over_role_size_or_shape_limits_are_refused() {
    let srv = Server::start(Backend::Sqlite).await;
    let (repo, _) = srv.published(GUN).await;
    let mut root = repo.root(2);
    // Padding before the closing brace keeps it JSON: just over root's 1 MiB.
    root.splice(root.len() - 1..root.len() - 1, vec![b' '; 1 << 20]);
    let r = srv.attempt_post(GUN, &[part("root", root)]).await;
    assert_eq!(
        r.error(400, "MALFORMED_UPLOAD"),
        Some(json!("root is larger than 1048576 bytes"))
    );

    let deep = format!(
        r#"{{"signed":{{"_type":"Targets","version":2,"x":{}0{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let r = srv
        .attempt_post(GUN, &[part("targets", deep.into_bytes())])
        .await;
    assert_eq!(
        r.error(400, "MALFORMED_UPLOAD"),
        Some(json!("targets: JSON nested deeper than 32 levels"))
    );

    let mut many = br#"{"signed":{"_type":"Targets","version":2,"x":["#.to_vec();
    many.extend(std::iter::repeat_n(&b"0,"[..], 600_000).flatten());
    many.extend_from_slice(b"0]}}");
    let r = srv.attempt_post(GUN, &[part("targets", many)]).await;
    assert_eq!(
        r.error(400, "MALFORMED_UPLOAD"),
        Some(json!("targets: more than 500000 JSON values"))
    );
    // Within the limits the same repository still publishes.
    srv.post(GUN, &[part("targets", repo.targets(2, &[("a", b"x")]))])
        .await
        .ok_empty();
}

/// Large uploads (no declared length, or over 1 MiB) take one of `max_concurrent_uploads`
/// permits before their body is read: while a stalled one holds the only permit, another
/// waits until it is released (here: when the stalled one's body timeout passes); small
/// uploads are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_beyond_the_cap_wait_for_a_permit() {
    let srv = Server::start_with(Backend::Sqlite, |c| {
        c.server.max_concurrent_uploads = 1;
        c.server.body_timeout_secs = 2;
    })
    .await;
    let (repo, _) = srv.published(GUN).await;
    let stalled = || {
        let first = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"--x\r\n"))
        });
        Request::builder()
            .method(Method::POST)
            .uri(tuf_url(GUN, ""))
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
            .body(Body::from_stream(futures_util::StreamExt::chain(
                first,
                futures_util::stream::pending(),
            )))
            .expect("request")
    };
    // Holds the only permit until its own body timeout.
    let app = srv.app.clone();
    let holder = tokio::spawn(async move { app.oneshot(stalled()).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // A small upload (declared length) is not held up.
    let (ct, body) = multipart(&[("targets", &repo.targets(2, &[]))]);
    let small = Request::builder()
        .method(Method::POST)
        .uri(tuf_url(GUN, ""))
        .header(header::CONTENT_TYPE, ct)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request");
    let started = std::time::Instant::now();
    srv.send(small).await.ok_empty();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));

    // A second large one (complete, but of undeclared length) waits for the permit.
    let (ct, body) = multipart(&[("targets", &repo.targets(3, &[]))]);
    let waiting = Request::builder()
        .method(Method::POST)
        .uri(tuf_url(GUN, ""))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from_stream(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(axum::body::Bytes::from(body))
        })))
        .expect("request");
    let started = std::time::Instant::now();
    srv.send(waiting).await.ok_empty();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1200),
        "the second large upload did not wait: {:?}",
        started.elapsed()
    );
    let held = holder.await.expect("task").expect("infallible");
    assert_eq!(held.status(), StatusCode::BAD_REQUEST);
    assert_eq!(srv.verify_chain(GUN).await.timestamp.version(), 3);
}

// ---------------------------------------------------------------------------------------------
// Remote signer
// ---------------------------------------------------------------------------------------------

/// `trust_service.type = "remote"` with the signer down (nothing listens on its port): reads
/// are answered from stored metadata, also once the timestamp expired and cannot be
/// re-signed; a write that needs a signature fails with notary-server's answer (its signing
/// error as the update's `ErrValidation`) and stores nothing; health names the signer.
/// The keys were made by a local key service and then re-recorded as the signer's, so the
/// repository is one the (absent) signer would sign for.
async fn remote_signer_outage_serves_reads_and_fails_writes(b: Backend) {
    let local = Server::start(b).await;
    let (repo, _) = local.published(GUN).await;
    let first = local.verify_chain(GUN).await;
    {
        let store = local.state.service.store().clone();
        let ids: Vec<String> = ["timestamp", "snapshot"]
            .iter()
            .flat_map(|r| first.root.signed.roles[*r].keyids.clone())
            .map(|k| k.as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 2);
        rerecord_as_remote(&local.db.url, b).await;
        for id in &ids {
            let row = store.key(id).await.expect("read").expect("key row");
            assert!(row.algorithm.starts_with("remote:"), "{}", row.algorithm);
        }
    }
    let (db, clock, mut cfg) = (local.db.clone(), local.clock.clone(), local.cfg.clone());
    drop(local); // one server per SQLite file

    let pki_dir = tempfile::tempdir().expect("temp dir");
    let ca = signet_test_support::pki::TestCa::new(pki_dir.path(), "remote");
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    cfg.trust_service.kind = "remote".to_owned();
    cfg.trust_service.hostname = Some("127.0.0.1".to_owned());
    cfg.trust_service.port = Some(signet_server::config::Port(closed_port));
    cfg.trust_service.tls_ca_file = Some(ca.cert.clone());
    cfg.trust_service.connect_timeout_secs = 1;
    cfg.trust_service.rpc_timeout_secs = 1;
    let srv = Server::open(db, cfg, clock).await;

    // Reads: the stored bytes.
    for (file, bytes) in [
        ("root.json", first.root.bytes()),
        ("targets.json", first.targets.bytes()),
        ("snapshot.json", first.snapshot.bytes()),
        ("timestamp.json", first.timestamp.bytes()),
    ] {
        let r = srv.get_meta(GUN, file).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.text());
        assert_eq!(r.body, bytes, "{file}");
    }
    // The server's keys are known without the signer.
    assert_eq!(
        srv.server_key(GUN, "timestamp").await.id(),
        &first.root.signed.roles["timestamp"].keyids[0]
    );

    // Health names the signer.
    let r = srv.get("/_notary_server/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let health = r.json();
    assert!(
        health["Trust operational"]
            .as_str()
            .is_some_and(|s| s.contains(&closed_port.to_string())),
        "{health}"
    );

    // A write fails as notary-server fails it, and stores nothing.
    let before = srv.dump(GUN).await;
    let r = srv
        .post(GUN, &[part("targets", repo.targets(2, &[]))])
        .await;
    assert_eq!(
        r.invalid_update(),
        (
            "ErrValidation".to_owned(),
            "rpc error: code = Unavailable desc = the signing service is unavailable".to_owned()
        )
    );
    assert!(
        before == srv.dump(GUN).await,
        "a failed write changed the repository"
    );
    // A new repository's key cannot be made: 500, as notary-server answers.
    let r = srv.get_meta("example.com/org/new", "timestamp.key").await;
    r.error(500, "UNKNOWN");

    // Past the timestamp's expiry, the stored (expired) timestamp is still served, and the
    // other roles with it.
    srv.advance(15 * DAY);
    for (file, bytes) in [
        ("timestamp.json", first.timestamp.bytes()),
        ("snapshot.json", first.snapshot.bytes()),
        ("root.json", first.root.bytes()),
        ("targets.json", first.targets.bytes()),
    ] {
        let r = srv.get_meta(GUN, file).await;
        assert_eq!(r.status, StatusCode::OK, "{file}: {}", r.text());
        assert_eq!(r.body, bytes, "{file}");
    }
}

/// Marks every server key of the database as held by a remote signer.
async fn rerecord_as_remote(url: &str, b: Backend) {
    use sqlx::Connection as _;
    const SQL: &str = "UPDATE server_keys SET algorithm = 'remote:' || algorithm";
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query(SQL).execute(&mut conn).await.expect("update");
            conn.close().await.expect("close");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(SQL).execute(&mut conn).await.expect("update");
            conn.close().await.expect("close");
        }
    }
}
