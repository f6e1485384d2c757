//! Prometheus metrics: request counts and latency by route and status class, written by
//! hand into the text exposition format (no registry, no global state).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::routes::Route;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Latency bucket bounds, seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Counters for one (route, class).
#[derive(Default)]
struct Cell {
    count: AtomicU64,
    micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// The server's metrics.
pub struct Metrics {
    cells: Vec<Cell>,
    updates_accepted: AtomicU64,
    updates_rejected: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            cells: (0..Route::LABELS.len() * CLASSES.len())
                .map(|_| Cell::default())
                .collect(),
            updates_accepted: AtomicU64::new(0),
            updates_rejected: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        let r = Route::LABELS
            .iter()
            .position(|l| *l == route)
            .unwrap_or(Route::LABELS.len() - 1);
        let c = usize::from(status / 100).clamp(1, 5) - 1;
        let cell = &self.cells[r * CLASSES.len() + c];
        cell.count.fetch_add(1, Ordering::Relaxed);
        cell.micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                cell.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records the outcome of an update.
    pub fn update_outcome(&self, accepted: bool) {
        let c = if accepted {
            &self.updates_accepted
        } else {
            &self.updates_rejected
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str(
            "# HELP signet_http_requests_total HTTP requests by route and status class.\n",
        );
        out.push_str("# TYPE signet_http_requests_total counter\n");
        self.each(|route, class, cell| {
            let _ = writeln!(
                out,
                "signet_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {}",
                cell.count.load(Ordering::Relaxed)
            );
        });
        out.push_str("# HELP signet_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE signet_http_request_duration_seconds histogram\n");
        self.each(|route, class, cell| {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "signet_http_request_duration_seconds_bucket{{route=\"{route}\",status=\"{class}\",le=\"{bound}\"}} {}",
                    cell.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = cell.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "signet_http_request_duration_seconds_bucket{{route=\"{route}\",status=\"{class}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "signet_http_request_duration_seconds_sum{{route=\"{route}\",status=\"{class}\"}} {}",
                cell.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "signet_http_request_duration_seconds_count{{route=\"{route}\",status=\"{class}\"}} {count}"
            );
        });
        out.push_str("# HELP signet_updates_total Metadata updates by outcome.\n");
        out.push_str("# TYPE signet_updates_total counter\n");
        let _ = writeln!(
            out,
            "signet_updates_total{{outcome=\"accepted\"}} {}",
            self.updates_accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "signet_updates_total{{outcome=\"rejected\"}} {}",
            self.updates_rejected.load(Ordering::Relaxed)
        );
        out
    }

    /// Visits cells that saw traffic.
    fn each(&self, mut f: impl FnMut(&str, &str, &Cell)) {
        for (r, route) in Route::LABELS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let cell = &self.cells[r * CLASSES.len() + c];
                if cell.count.load(Ordering::Relaxed) > 0 {
                    f(route, class, cell);
                }
            }
        }
    }
}
