//! `signet-bench-loadgen`: initial publishes per second to distinct GUNs on a Notary v1 server
//! (Signet or the Go notary-server).
//!
//! For each of N GUNs (`<prefix>/00000` …) it does what `notary init GUN -p` does on the wire:
//!
//! 1. `GET /v2/<gun>/_trust/tuf/timestamp.key` (before the clock starts; `--key-concurrency`);
//! 2. builds the first upload with `signet-test-support`'s `TestRepo`: root v1 (X.509 root
//!    certificate with CN = GUN, ECDSA P-256), targets v1 and snapshot v1 signed by the
//!    publisher's own snapshot key, laid out as the Go client's multipart body. Key generation
//!    and signing happen here, on all cores, before the clock starts;
//! 3. **timed**: `POST /v2/<gun>/_trust/tuf/` for every GUN with `--concurrency` workers over
//!    keep-alive HTTP/1.1 connections, until all are sent or `--max-seconds` has passed.
//!
//! Prints one JSON object on stdout: successes, failures by status, publishes/s (successes /
//! elapsed wall time of step 3), latency percentiles of successful POSTs, and the untimed
//! phases' durations. Progress and errors go to stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use signet_core::UnixTime;
use signet_test_support::{TestRepo, multipart, parse_server_key};

/// Publish the first version of N distinct repositories and measure publishes/s.
#[derive(Parser)]
#[command(name = "signet-bench-loadgen")]
struct Args {
    /// Server base URL, e.g. https://127.0.0.1:4443.
    #[arg(long)]
    url: String,
    /// CA certificate (PEM) the server's TLS certificate chains to.
    #[arg(long)]
    ca: PathBuf,
    /// Number of distinct GUNs to publish.
    #[arg(long, default_value_t = 2000)]
    guns: usize,
    /// Concurrent in-flight requests (= connections).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// GUN prefix; GUN i is `<prefix>/<i:05>`. Use a fresh prefix per run.
    #[arg(long, default_value = "bench.example/pub")]
    gun_prefix: String,
    /// Stop starting new POSTs after this many seconds (the result counts what finished).
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// Concurrent `GET timestamp.key` requests in the untimed setup phase. Keep 1 for the Go
    /// notary-signer with its memory key store: concurrent key creation crashes it ("fatal
    /// error: concurrent map read and map write" in trustmanager.GenericKeyStore).
    #[arg(long, default_value_t = 1)]
    key_concurrency: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// One ready-to-send upload.
struct Prepared {
    gun: String,
    content_type: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct WorkerResult {
    ok_latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
    sent: usize,
}

// The benchmark summary report is not signed data.
#[allow(clippy::disallowed_methods)]
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.guns == 0 {
        bail!("--guns and --concurrency must be positive");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let summary = runtime.block_on(run(args))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn client(ca: &Path, concurrency: usize, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading CA {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("bad PEM in {}", ca.display()))?)
            .with_context(|| format!("bad CA certificate in {}", ca.display()))?;
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .pool_max_idle_per_host(concurrency)
        .timeout(timeout)
        .build()?)
}

fn gun_url(base: &str, gun: &str, rest: &str) -> String {
    format!("{}/v2/{gun}/_trust/tuf/{rest}", base.trim_end_matches('/'))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest-rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn round3(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!((v * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let client = client(
        &args.ca,
        args.concurrency,
        Duration::from_secs(args.timeout),
    )?;
    let guns: Vec<String> = (0..args.guns)
        .map(|i| format!("{}/{i:05}", args.gun_prefix.trim_end_matches('/')))
        .collect();

    // ---- 1. timestamp keys (untimed)
    let t_keys = Instant::now();
    let keys: Arc<Mutex<Vec<Option<Vec<u8>>>>> = Arc::new(Mutex::new(vec![None; guns.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let guns = Arc::new(guns);
    let mut tasks = Vec::new();
    for _ in 0..args.key_concurrency.max(1) {
        let (client, keys, next, guns) = (client.clone(), keys.clone(), next.clone(), guns.clone());
        let base = args.url.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(gun) = guns.get(i) else { break };
                let url = gun_url(&base, gun, "timestamp.key");
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?;
                let status = resp.status();
                let body = resp.bytes().await?;
                if !status.is_success() {
                    bail!(
                        "GET {url}: {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                }
                keys.lock().expect("keys lock")[i] = Some(body.to_vec());
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let key_fetch = t_keys.elapsed();
    eprintln!(
        "loadgen: fetched {} timestamp keys in {:.2}s",
        guns.len(),
        key_fetch.as_secs_f64()
    );

    // ---- 2. build uploads on all cores (untimed)
    let t_prep = Instant::now();
    let keys = std::mem::take(&mut *keys.lock().expect("keys lock"));
    #[allow(clippy::disallowed_methods)] // the benchmark signs at the machine's time
    let since = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let now = UnixTime::from_unix(since.as_secs() as i64, since.subsec_nanos());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = guns.len().div_ceil(threads);
    let mut prepared: Vec<Prepared> = Vec::with_capacity(guns.len());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = guns
            .chunks(chunk)
            .zip(keys.chunks(chunk))
            .map(|(gs, ks)| {
                s.spawn(move || -> anyhow::Result<Vec<Prepared>> {
                    gs.iter()
                        .zip(ks)
                        .map(|(gun, key)| {
                            let key = key.as_deref().context("missing timestamp key")?;
                            let mut repo = TestRepo::new(gun, now);
                            repo.hold_snapshot_key();
                            repo.set_timestamp_key(
                                parse_server_key(key).context("parsing timestamp.key")?,
                            );
                            let parts = repo.initial_upload();
                            let refs: Vec<(&str, &[u8])> = parts
                                .iter()
                                .map(|(r, b)| (r.as_str(), b.as_slice()))
                                .collect();
                            let (content_type, body) = multipart(&refs);
                            Ok(Prepared {
                                gun: gun.clone(),
                                content_type,
                                body,
                            })
                        })
                        .collect()
                })
            })
            .collect();
        for h in handles {
            prepared.extend(h.join().expect("builder thread panicked")?);
        }
        Ok(())
    })?;
    let prepare = t_prep.elapsed();
    let upload_bytes: usize = prepared.iter().map(|p| p.body.len()).sum();
    eprintln!(
        "loadgen: built {} uploads ({} bytes avg) in {:.2}s; publishing with concurrency {}",
        prepared.len(),
        upload_bytes / prepared.len().max(1),
        prepare.as_secs_f64(),
        args.concurrency
    );

    // ---- 3. timed POSTs
    let queue = Arc::new(Mutex::new(prepared.into_iter()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.max_seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, queue) = (client.clone(), queue.clone());
        let base = args.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = WorkerResult::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let Some(p) = queue.lock().expect("queue lock").next() else {
                    break;
                };
                let url = gun_url(&base, &p.gun, "");
                r.sent += 1;
                let t0 = Instant::now();
                let res = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, p.content_type)
                    .body(p.body)
                    .send()
                    .await;
                let outcome = match res {
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.bytes().await;
                        match body {
                            Ok(b) if status.is_success() => Ok(b),
                            Ok(b) => Err(format!(
                                "{}: {}",
                                status.as_u16(),
                                String::from_utf8_lossy(&b[..b.len().min(200)])
                            )),
                            Err(e) => Err(format!("body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("send: {e}")),
                };
                let dt = t0.elapsed();
                match outcome {
                    Ok(_) => r.ok_latencies.push(dt),
                    Err(e) => {
                        let n = r.errors.entry(e.clone()).or_default();
                        if *n == 0 {
                            eprintln!("loadgen: POST {url}: {e}");
                        }
                        *n += 1;
                    }
                }
            }
            r
        }));
    }
    let mut lat = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent = 0;
    for t in tasks {
        let r = t.await?;
        lat.extend(r.ok_latencies);
        sent += r.sent;
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let ok = lat.len();
    let failed: usize = errors.values().sum();
    let mean = lat.iter().map(Duration::as_secs_f64).sum::<f64>() / ok.max(1) as f64 * 1000.0;

    Ok(serde_json::json!({
        "url": args.url,
        "guns": guns.len(),
        "concurrency": args.concurrency,
        "sent": sent,
        "ok": ok,
        "failed": failed,
        "errors": errors,
        "elapsed_s": round3(elapsed.as_secs_f64()),
        "publishes_per_sec": round3(ok as f64 / elapsed.as_secs_f64()),
        "mean_ms": round3(mean),
        "p50_ms": round3(percentile(&lat, 50.0)),
        "p90_ms": round3(percentile(&lat, 90.0)),
        "p99_ms": round3(percentile(&lat, 99.0)),
        "max_ms": round3(lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)),
        "timestamp_key_fetch_s": round3(key_fetch.as_secs_f64()),
        "prepare_s": round3(prepare.as_secs_f64()),
        "upload_bytes_avg": upload_bytes / guns.len().max(1),
    }))
}
