//! The HTTP API: one dispatcher over [`Route`], so tests can drive [`app`] without a
//! socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signet_core::shape::{ShapeError, ShapeLimits, check_shape};
use signet_core::{Limits, RoleName, Upload};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Access, TokenAuth};
use crate::error::ApiError;
use signet_service::health::Health;
use signet_service::metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Registry};

use crate::metrics::Metrics;
use crate::routes::Route;
use crate::service::{Served, TrustService};

/// Longest GUN accepted (Notary's column is `varchar(255)`).
const MAX_GUN_LEN: usize = 255;

/// What the HTTP layer needs besides the service.
pub struct HttpSettings {
    /// `Cache-Control` max-age for current metadata, seconds.
    pub current_max_age: u32,
    /// `Cache-Control` max-age for checksum/version addressed metadata, seconds.
    pub consistent_max_age: u32,
    /// Allowed GUN prefixes; empty = all.
    pub gun_prefixes: Vec<String>,
    /// Largest request body.
    pub max_upload_bytes: usize,
    /// How long an upload's body may take to arrive (including any wait for an
    /// [`UploadLimiter`] permit).
    pub body_timeout: std::time::Duration,
    /// Caps the large uploads read and validated at once.
    pub uploads: UploadLimiter,
    /// Token authentication, if enabled.
    pub auth: Option<TokenAuth>,
}

/// Uploads declaring a `Content-Length` up to this many bytes are small: Notary clients'
/// ordinary publishes are a few KiB.
pub const SMALL_UPLOAD_BYTES: u64 = 1 << 20;
/// Small uploads checked and validated at once.
pub const SMALL_UPLOAD_CHECKS: usize = 16;

/// Bounds the memory and CPU that uploads can take, however many clients send them.
///
/// Each upload's work is bounded: the body by `max_upload_bytes`, each part by the size
/// limit of its role ([`Limits::default`]: root and timestamp 1 MiB, snapshot 32 MiB,
/// targets and delegations up to the body limit), and each part's JSON by
/// [`ShapeLimits::default`] (nesting depth and number of values), checked without building
/// it before anything is parsed. The checks and the validation run on blocking threads,
/// never on the async workers that answer other requests.
///
/// What remains is proportional to the size of what is uploaded: a file that passes the
/// checks is held as received, parsed, canonicalised and copied, about four times its size
/// at the peak. So uploads are admitted by permit:
///
/// * A large upload (a declared `Content-Length` above [`SMALL_UPLOAD_BYTES`], or none)
///   takes one of `max_concurrent` permits before its body is read, and keeps it until
///   the update is stored: at most `max_concurrent` × about 4 × `max_upload_bytes` (some
///   260 MiB each at the 64 MiB default) is spent on them. It waits for a permit within its
///   body timeout and is answered 503 if none frees up in time.
/// * A small upload is read without a permit (at most 1 MiB per connection), then takes one
///   of [`SMALL_UPLOAD_CHECKS`] permits for its checks and validation, so a slow client
///   never holds one.
#[derive(Debug)]
pub struct UploadLimiter {
    large: Arc<Semaphore>,
    small: Arc<Semaphore>,
    max: usize,
}

/// A permit to check and validate one upload; held until the update is stored.
#[derive(Debug)]
struct UploadPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl UploadLimiter {
    /// At most `max_concurrent` large uploads at once (at least 1).
    pub fn new(max_concurrent: usize) -> Self {
        let max = max_concurrent.max(1);
        Self {
            large: Arc::new(Semaphore::new(max)),
            small: Arc::new(Semaphore::new(SMALL_UPLOAD_CHECKS)),
            max,
        }
    }

    /// How many large uploads may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// The declared body size, if small.
    fn small_size(headers: &HeaderMap) -> Option<u64> {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n <= SMALL_UPLOAD_BYTES)
    }

    /// Before the body is read: a permit for a large upload, waiting until `deadline`;
    /// nothing for a small one.
    async fn before_body(
        &self,
        small: bool,
        deadline: tokio::time::Instant,
    ) -> Result<UploadPermit, ApiError> {
        if small {
            return Ok(UploadPermit(None));
        }
        self.wait(&self.large, deadline, "large uploads").await
    }

    /// After the body is read: for a small upload, a permit to check and validate it.
    async fn after_body(
        &self,
        permit: UploadPermit,
        deadline: tokio::time::Instant,
    ) -> Result<UploadPermit, ApiError> {
        if permit.0.is_some() {
            return Ok(permit);
        }
        self.wait(&self.small, deadline, "uploads").await
    }

    async fn wait(
        &self,
        semaphore: &Arc<Semaphore>,
        deadline: tokio::time::Instant,
        what: &str,
    ) -> Result<UploadPermit, ApiError> {
        match tokio::time::timeout_at(deadline, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(UploadPermit(Some(permit))),
            Ok(Err(_)) | Err(_) => Err(ApiError::Busy(format!(
                "too many {what} in progress; try again later"
            ))),
        }
    }
}

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The service.
    pub service: TrustService,
    /// Settings.
    pub settings: HttpSettings,
    /// The server's request and update metrics.
    pub metrics: Arc<Metrics>,
    /// Everything `/metrics` exposes (the server's metrics, TLS certificate expiry).
    pub registry: Registry,
    /// The probes behind `/_notary_server/health`.
    pub health: Health,
    /// The exclusive lock on a SQLite database file, held while the state lives so that a
    /// second server cannot open the same file.
    pub database_lock: Option<std::fs::File>,
}

/// The router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let start = Instant::now();
    let path = percent_decode(req.uri().path());
    let route = Route::parse(req.method(), &path);
    let label = route.label();
    // The access log: one line per request, target `signet::access` (turn it off with
    // SIGNET_LOG=info,signet::access=off). The GUN is copied only when the line is written.
    let access = tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO)
        .then(|| (req.method().clone(), route.gun().map(str::to_owned)));
    let resp = match respond(&state, route, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    state.metrics.observe(label, status, elapsed);
    if let Some((method, gun)) = access {
        tracing::info!(
            target: ACCESS_LOG,
            method = %method,
            route = label,
            gun = gun.as_deref().unwrap_or(""),
            status,
            micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    }
    resp
}

/// The `tracing` target of the access log.
pub const ACCESS_LOG: &str = "signet::access";

// Only for the 503 health body below, a plain response (signed data is never encoded here).
#[allow(clippy::disallowed_methods)]
async fn respond(state: &AppState, route: Route, req: Request) -> Result<Response, ApiError> {
    let s = &state.settings;
    // GUN filter first, as Notary does (before auth).
    if let Some(gun) = route.gun() {
        let allowed =
            s.gun_prefixes.is_empty() || s.gun_prefixes.iter().any(|p| gun.starts_with(p.as_str()));
        // Control characters (NUL above all, which PostgreSQL text cannot hold) name no
        // repository on any backend.
        let control = gun.chars().any(char::is_control);
        if !allowed || gun.len() > MAX_GUN_LEN || control {
            return Err(match route {
                Route::Update { .. } if !allowed => ApiError::InvalidGun(format!(
                    "Require GUNs with prefix: [{}]",
                    s.gun_prefixes.join(" ")
                )),
                Route::Update { .. } if control => {
                    ApiError::InvalidGun("GUNs cannot contain control characters".to_owned())
                }
                Route::Update { .. } => {
                    ApiError::InvalidGun(format!("GUNs are at most {MAX_GUN_LEN} bytes"))
                }
                _ => ApiError::NotFound,
            });
        }
    }
    if let Some(auth) = &s.auth {
        auth.check(req.headers(), &required_access(&route), state.service.now())?;
    }
    let svc = &state.service;
    match route {
        Route::Ping => Ok(json_body(StatusCode::OK, b"{}".to_vec())),
        Route::Health => {
            let report = state.health.check().await;
            if report.is_healthy() {
                Ok(json_body(StatusCode::OK, b"{}".to_vec()))
            } else {
                // Notary's shape: probe name → reason.
                Ok(json_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::to_vec(&report.failures).unwrap_or_default(),
                ))
            }
        }
        Route::Metrics => {
            let mut r = state.registry.render().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(METRICS_CONTENT_TYPE),
            );
            Ok(r)
        }
        Route::Current { gun, role } => {
            let served = svc.current(&gun, &role).await?.ok_or(ApiError::NotFound)?;
            Ok(metadata_response(served, s.current_max_age, true))
        }
        Route::ByChecksum {
            gun,
            role,
            checksum,
        } => {
            let served = svc
                .by_checksum(&gun, &role, &checksum)
                .await?
                .ok_or(ApiError::NotFound)?;
            Ok(metadata_response(served, s.consistent_max_age, false))
        }
        Route::ByVersion { gun, role, version } => {
            let served = svc
                .by_version(&gun, &role, version)
                .await?
                .ok_or(ApiError::NotFound)?;
            Ok(metadata_response(served, s.consistent_max_age, false))
        }
        Route::Update { gun } => {
            let deadline = tokio::time::Instant::now() + s.body_timeout;
            let declared = UploadLimiter::small_size(req.headers());
            let permit = s.uploads.before_body(declared.is_some(), deadline).await?;
            let parts =
                read_upload_parts(req, s.max_upload_bytes, deadline, s.body_timeout).await?;
            // Held until the update is validated and stored.
            let _permit = s.uploads.after_body(permit, deadline).await?;
            // The JSON checks walk up to the whole body: off the async workers.
            let uploads = tokio::task::spawn_blocking(move || check_parts(parts))
                .await
                .map_err(|e| ApiError::Internal(format!("upload check task failed: {e}")))??;
            let result = svc.update(&gun, uploads).await;
            state.metrics.update_outcome(result.is_ok());
            if let Err(e) = &result {
                tracing::info!(gun, error = %e, "update rejected");
            }
            result.map(|()| StatusCode::OK.into_response())
        }
        Route::Delete { gun } => {
            svc.delete(&gun).await?;
            Ok(StatusCode::OK.into_response())
        }
        Route::GetKey { gun, role } => Ok(key_response(&svc.key(&gun, &role).await?)),
        Route::RotateKey { gun, role } => Ok(key_response(&svc.rotate_key(&gun, &role).await?)),
        Route::GunChangefeed { gun } => changefeed(svc, Some(&gun), req.uri().query()).await,
        Route::Changefeed => changefeed(svc, None, req.uri().query()).await,
        Route::NotFound => Err(ApiError::NoRoute),
    }
}

fn required_access(route: &Route) -> Access {
    const PULL: &[&str] = &["pull"];
    const PUSH_PULL: &[&str] = &["push", "pull"];
    const ALL: &[&str] = &["*"];
    let repo = |gun: &str, actions| Access::Repository {
        gun: gun.to_owned(),
        actions,
    };
    match route {
        Route::Health | Route::Metrics => Access::None,
        Route::Ping | Route::Changefeed | Route::NotFound => Access::Catalog,
        Route::Update { gun } | Route::GetKey { gun, .. } => repo(gun, PUSH_PULL),
        Route::RotateKey { gun, .. } | Route::Delete { gun } => repo(gun, ALL),
        Route::ByChecksum { gun, .. }
        | Route::ByVersion { gun, .. }
        | Route::Current { gun, .. }
        | Route::GunChangefeed { gun } => repo(gun, PULL),
    }
}

fn json_body(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn metadata_response(served: Served, max_age: u32, current: bool) -> Response {
    let mut r = Response::new(Body::from(served.bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let cache = match (max_age, current) {
        (0, _) => {
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            "max-age=0, no-cache, no-store".to_owned()
        }
        (n, true) => format!("public, max-age={n}, s-maxage={n}, must-revalidate"),
        (n, false) => format!("public, max-age={n}, s-maxage={n}"),
    };
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    let micros = served.modified.0;
    let modified = signet_core::UnixTime::from_unix(micros.div_euclid(1_000_000), 0);
    if let Ok(v) = HeaderValue::from_str(&modified.to_rfc1123_utc()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    r
}

/// Go's `json.Marshal` of a public key: `keytype`, then `keyval` with `public` before
/// `private`.
fn key_response(key: &signet_core::PublicKey) -> Response {
    let body = format!(
        r#"{{"keytype":"{}","keyval":{{"public":"{}","private":null}}}}"#,
        key.keytype().as_str(),
        signet_core::encoding::b64_encode(key.public_bytes())
    );
    json_body(StatusCode::OK, body.into_bytes())
}

// The changefeed listing is a plain response, not signed data.
#[allow(clippy::disallowed_methods)]
async fn changefeed(
    svc: &TrustService,
    gun: Option<&str>,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let mut records = String::new();
    let mut change_id = String::from("0");
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "records" => records = percent_decode(v),
            "change_id" => change_id = percent_decode(v),
            _ => {}
        }
    }
    let records: i64 = match records.parse::<i32>() {
        Ok(0) => 100,
        Ok(n) => i64::from(n),
        Err(_) => {
            return Err(ApiError::InvalidParameters(format!(
                "invalid records parameter: strconv.ParseInt: parsing {records:?}: invalid syntax"
            )));
        }
    };
    let change_id: i64 = if change_id.is_empty() {
        0
    } else {
        change_id.parse::<i32>().map(i64::from).map_err(|_| {
            ApiError::InvalidParameters(format!(
                "change ID expected to be integer, provided ID was: {change_id}"
            ))
        })?
    };
    let changes = svc.changefeed(gun, change_id, records).await?;
    let out: Vec<_> = changes
        .iter()
        .map(|c| {
            let t = signet_core::UnixTime::from_unix(
                c.created_at.0.div_euclid(1_000_000),
                u32::try_from(c.created_at.0.rem_euclid(1_000_000) * 1000).unwrap_or(0),
            );
            json!({
                "ID": c.id.to_string(),
                "CreatedAt": t.to_rfc3339(),
                "GUN": c.gun,
                "Version": c.version,
                "SHA256": c.sha256,
                "Category": c.category.as_str(),
            })
        })
        .collect();
    let body = json!({"count": out.len(), "records": out});
    Ok(json_body(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// One part as read, before its JSON is looked at.
struct Part {
    role: RoleName,
    bytes: Vec<u8>,
}

/// Reads the multipart body as it arrives: one part per role, file name = role name
/// (`.json` optional). The body is never held whole; each part is held once, within its
/// role's size limit. The whole read ends by `deadline`.
async fn read_upload_parts(
    req: Request,
    limit: usize,
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
) -> Result<Vec<Part>, ApiError> {
    let boundary = content_type_boundary(req.headers()).ok_or_else(not_multipart)?;
    let too_large = Arc::new(AtomicBool::new(false));
    // A declared length is a bound on every part: reserving it up front spares a large
    // part the copies of a growing buffer (pages never written cost no memory).
    let hint = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(limit);
    let stream = stream_with_limit(req, limit, too_large.clone());
    match tokio::time::timeout_at(deadline, read_parts(boundary, stream, hint)).await {
        Err(_) => Err(ApiError::MalformedUpload(format!(
            "request body not received within {} s",
            timeout.as_secs()
        ))),
        Ok(Err(_)) if too_large.load(Ordering::SeqCst) => Err(ApiError::MalformedUpload(format!(
            "request body is larger than {limit} bytes"
        ))),
        Ok(parts) => parts,
    }
}

/// The body's data, failing (and setting `too_large`) once more than `limit` bytes came.
fn stream_with_limit(
    req: Request,
    limit: usize,
    too_large: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use futures_util::StreamExt as _;
    let mut received = 0_usize;
    req.into_body().into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        received = received.saturating_add(chunk.len());
        if received > limit {
            too_large.store(true, Ordering::SeqCst);
            return Err(std::io::Error::other("request body too large"));
        }
        Ok(chunk)
    })
}

/// Parses an update's multipart body given its `Content-Type`: what `POST
/// /v2/{gun}/_trust/tuf/` does once the body is read. A seam for the fuzz harness.
pub async fn parse_uploads(content_type: &str, body: Bytes) -> Result<Vec<Upload>, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| not_multipart())?;
    let hint = body.len();
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    check_parts(read_parts(boundary, stream, hint).await?)
}

fn not_multipart() -> ApiError {
    ApiError::MalformedUpload("request body is not multipart/form-data".to_owned())
}

/// Splits the body into parts, refusing a part without a file name, one not named after a
/// role, and one larger than its role's limit as soon as it is seen. `hint`: an upper bound
/// on a part's size, if known (else 0).
async fn read_parts<S>(boundary: String, stream: S, hint: usize) -> Result<Vec<Part>, ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let limits = Limits::default();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts: Vec<Part> = Vec::new();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::MalformedUpload(e.to_string())),
        };
        let name = field.file_name().unwrap_or("").to_owned();
        let name = name.strip_suffix(".json").unwrap_or(&name).to_owned();
        if name.is_empty() {
            return Err(ApiError::NoFilename);
        }
        let role = RoleName::parse(&name).map_err(|_| ApiError::InvalidRole(name.clone()))?;
        let max = usize::try_from(limits.for_role(&role)).unwrap_or(usize::MAX);
        let mut bytes = Vec::with_capacity(hint.min(max));
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len().saturating_add(chunk.len()) > max {
                        return Err(ApiError::MalformedUpload(format!(
                            "{role} is larger than {max} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(ApiError::MalformedUpload(e.to_string())),
            }
        }
        bytes.shrink_to_fit();
        parts.push(Part { role, bytes });
    }
    Ok(parts)
}

/// Checks each part in order: metadata-shaped JSON within [`ShapeLimits::default`]
/// (without building it), and no role twice.
fn check_parts(parts: Vec<Part>) -> Result<Vec<Upload>, ApiError> {
    let limits = ShapeLimits::default();
    let mut uploads: Vec<Upload> = Vec::with_capacity(parts.len());
    for Part { role, bytes } in parts {
        match check_shape(&bytes, &limits) {
            Ok(()) => {}
            Err(ShapeError::NotMetadata(_)) => return Err(ApiError::MalformedJson),
            Err(limit) => return Err(ApiError::MalformedUpload(format!("{role}: {limit}"))),
        }
        if uploads.iter().any(|u| u.role == role) {
            return Err(ApiError::Version);
        }
        uploads.push(Upload { role, bytes });
    }
    Ok(uploads)
}

fn content_type_boundary(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(ct).ok()
}

/// Decodes `%XX` escapes (invalid escapes are kept verbatim).
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(core::str::from_utf8(h).ok()?, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Methods the API serves; used by tests.
pub const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::DELETE, Method::HEAD];
