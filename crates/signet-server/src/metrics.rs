//! The server's Prometheus metrics: request counts and latency by route and status class,
//! and update outcomes. A [`Collector`] on the service's registry (`signet-service`), which
//! writes the exposition format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signet_service::metrics::{Collector, Exposition, Kind};

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

impl Collector for Metrics {
    fn collect(&self, out: &mut Exposition) {
        const REQUESTS: &str = "signet_http_requests_total";
        const LATENCY: &str = "signet_http_request_duration_seconds";
        const UPDATES: &str = "signet_updates_total";
        out.family(
            REQUESTS,
            "HTTP requests by route and status class.",
            Kind::Counter,
        );
        self.each(|route, class, cell| {
            out.sample_u64(
                REQUESTS,
                &[("route", route), ("status", class)],
                cell.count.load(Ordering::Relaxed),
            );
        });
        out.family(LATENCY, "HTTP request latency.", Kind::Histogram);
        self.each(|route, class, cell| {
            let buckets: Vec<(f64, u64)> = BUCKETS
                .iter()
                .zip(&cell.buckets)
                .map(|(bound, n)| (*bound, n.load(Ordering::Relaxed)))
                .collect();
            #[allow(clippy::cast_precision_loss)]
            // a sum of microseconds; f64 is what Prometheus takes
            let sum = cell.micros.load(Ordering::Relaxed) as f64 / 1e6;
            out.histogram(
                LATENCY,
                &[("route", route), ("status", class)],
                &buckets,
                sum,
                cell.count.load(Ordering::Relaxed),
            );
        });
        out.family(UPDATES, "Metadata updates by outcome.", Kind::Counter);
        for (outcome, counter) in [
            ("accepted", &self.updates_accepted),
            ("rejected", &self.updates_rejected),
        ] {
            out.sample_u64(
                UPDATES,
                &[("outcome", outcome)],
                counter.load(Ordering::Relaxed),
            );
        }
    }
}
