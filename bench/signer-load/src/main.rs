//! `signet-bench-signer`: Sign RPCs per second against a signer speaking notary-signer's gRPC
//! API (`signet signer` or the Go notary-signer), over mutual TLS, the way notary-server
//! calls it: one HTTP/2 connection, N calls in flight on it.
//!
//! 1. `CreateKey` (`--algorithm`, GUN `bench.example/signer`, role `timestamp`), then one
//!    `Sign` whose signature is verified here (untimed);
//! 2. a warm-up of `--warmup-secs` at the first concurrency;
//! 3. **timed**, for each concurrency in `--concurrency` (e.g. `1,32`): that many tasks each
//!    send `Sign` requests back to back for `--seconds`, over the one channel. The content is
//!    a timestamp's `signed` part (~350 bytes), which `signet signer` requires for a
//!    timestamp key.
//!
//! Prints one JSON line per concurrency on stdout: signatures, failures, signs/s (successes
//! / elapsed wall time), latency percentiles of successful calls, and with `--server-pid`
//! the signer's CPU time per signature (user + system time of that process from
//! `/proc/<pid>/stat` before and after the timed run, divided by the signatures): a cost
//! that does not depend on how much CPU the load generator itself takes from the machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use signet_core::{RingVerifier, Verifier as _};
use signet_signer_proto::client::{RemoteSigner, SignerEndpoint};

/// Sign RPCs per second at the given concurrencies.
#[derive(Parser)]
#[command(name = "signet-bench-signer")]
struct Args {
    /// Signer host (its certificate must name it).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Signer port.
    #[arg(long)]
    port: u16,
    /// CA (PEM) the signer's certificate chains to.
    #[arg(long)]
    ca: PathBuf,
    /// Client certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Client key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Key algorithm: ecdsa, ed25519 (or rsa, with a signer on a PKCS#11 token).
    #[arg(long, default_value = "ecdsa")]
    algorithm: String,
    /// Calls in flight, comma-separated; one timed run each.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    concurrency: Vec<usize>,
    /// Seconds per timed run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before the first run.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// A label for the output (e.g. the signer's name).
    #[arg(long, default_value = "")]
    label: String,
    /// The signer's process ID: report its CPU µs per signature (Linux `/proc`).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// User + system CPU time of process `pid` so far, in µs (`/proc/<pid>/stat` fields 14 and
/// 15, in clock ticks of 1/100 s as Linux reports them to user space).
fn cpu_us(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i - 3)
            .context("short /proc stat")?
            .parse::<u64>()
            .context("/proc stat field")
    };
    Ok((ticks(14)? + ticks(15)?) * 10_000)
}

/// A timestamp's `signed` part, as notary-server sends it to be signed.
const CONTENT: &[u8] = br#"{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{"snapshot":{"hashes":{"sha256":"nSrTWFWymjJtIA6Cyq6sLxbvFCOVLhVRJZm4uaOm9T8=","sha512":"7rRrHqg3H9UBzGBaj/vIZ5YG4LOGrOu5Pm4jiMaFJsNnm0/2fGzNDe9RMMdk9aU4QeTRJ0pOWbQ4ODqTY/rDpg=="},"length":683}},"version":2}"#;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let endpoint = SignerEndpoint::from_files(
        &args.host,
        args.port,
        &args.ca,
        Some((args.cert.as_path(), args.key.as_path())),
    )?
    .with_timeouts(Duration::from_secs(5), Duration::from_secs(30));
    let signer = RemoteSigner::connect_lazy(&endpoint)?;
    let key = signer
        .create_key(&args.algorithm, "bench.example/signer", "timestamp")
        .await
        .context("CreateKey")?;
    let id = key.id().as_str().to_owned();
    let method = match args.algorithm.as_str() {
        "ed25519" => "eddsa",
        "rsa" => "rsapss",
        _ => "ecdsa",
    };
    let first = signer.sign(&id, CONTENT).await.context("Sign")?;
    RingVerifier
        .verify(&key, method, CONTENT, &first.signature)
        .map_err(|e| anyhow::anyhow!("the signer's signature does not verify: {e}"))?;

    let Some(&first_concurrency) = args.concurrency.first() else {
        bail!("--concurrency names no run");
    };
    run(
        &signer,
        &id,
        first_concurrency,
        Duration::from_secs(args.warmup_secs),
    )
    .await;
    for &c in &args.concurrency {
        let cpu_before = args.server_pid.map(cpu_us).transpose()?;
        let r = run(&signer, &id, c, Duration::from_secs(args.seconds)).await;
        let cpu_after = args.server_pid.map(cpu_us).transpose()?;
        let mut lat = r.latencies;
        lat.sort_unstable();
        let ok = lat.len();
        let cpu_per_sign = match (cpu_before, cpu_after) {
            (Some(b), Some(a)) if ok > 0 => round3(a.saturating_sub(b) as f64 / ok as f64),
            _ => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::json!({
                "label": args.label,
                "algorithm": args.algorithm,
                "concurrency": c,
                "ok": ok,
                "failed": r.failed,
                "first_error": r.first_error,
                "elapsed_s": round3(r.elapsed.as_secs_f64()),
                "signs_per_sec": round3(ok as f64 / r.elapsed.as_secs_f64()),
                "p50_ms": round3(percentile(&lat, 50.0)),
                "p99_ms": round3(percentile(&lat, 99.0)),
                "max_ms": round3(lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)),
                "server_cpu_us_per_sign": cpu_per_sign,
            })
        );
    }
    Ok(())
}

struct RunResult {
    latencies: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// `concurrency` tasks signing back to back until `length` has passed.
async fn run(signer: &RemoteSigner, id: &str, concurrency: usize, length: Duration) -> RunResult {
    let start = Instant::now();
    let deadline = start + length;
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let signer = signer.clone();
        let id = id.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0;
            let mut first_error = None;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match signer.sign(&id, CONTENT).await {
                    Ok(_) => latencies.push(t0.elapsed()),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (latencies, failed, first_error)
        }));
    }
    let mut out = RunResult {
        latencies: Vec::new(),
        failed: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        match t.await {
            Ok((lat, failed, err)) => {
                out.latencies.extend(lat);
                out.failed += failed;
                if out.first_error.is_none() {
                    out.first_error = err;
                }
            }
            Err(e) => {
                out.failed += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // a rank within the slice
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
