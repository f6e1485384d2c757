//! Prometheus text exposition (format 0.0.4) and a registry of collectors.
//!
//! No global state: each service owns a [`Registry`], registers [`Collector`]s on it (its
//! own request metrics, the TLS certificate expiry gauge, ...), and serves
//! [`Registry::render`] at `/metrics` with [`CONTENT_TYPE`].

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

/// The `Content-Type` of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Something that writes metric families.
pub trait Collector: Send + Sync {
    /// Writes this collector's families.
    fn collect(&self, out: &mut Exposition);
}

/// Text being written in the exposition format. Label values are escaped here, so a
/// value taken from a request (a GUN, a path) cannot break the format.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of an integer value.
    pub fn sample_u64(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.name_and_labels(name, labels);
        let _ = writeln!(self.text, " {value}");
    }

    /// One sample of a floating-point value.
    pub fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.name_and_labels(name, labels);
        if value.is_nan() {
            self.text.push_str(" NaN\n");
        } else if value.is_infinite() {
            self.text
                .push_str(if value > 0.0 { " +Inf\n" } else { " -Inf\n" });
        } else {
            let _ = writeln!(self.text, " {value}");
        }
    }

    /// One histogram series: cumulative `buckets` (upper bound, count), then sum and count.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let bucket = format!("{name}_bucket");
        for (bound, n) in buckets {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample_u64(&bucket, &with_le, *n);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample_u64(&bucket, &with_le, count);
        self.sample_f64(&format!("{name}_sum"), labels, sum);
        self.sample_u64(&format!("{name}_count"), labels, count);
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.text
    }

    fn name_and_labels(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.text.push_str(name);
        if labels.is_empty() {
            return;
        }
        self.text.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(k);
            self.text.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.text.push_str("\\\\"),
                    '"' => self.text.push_str("\\\""),
                    '\n' => self.text.push_str("\\n"),
                    c => self.text.push(c),
                }
            }
            self.text.push('"');
        }
        self.text.push('}');
    }
}

/// The collectors one service exposes.
#[derive(Default)]
pub struct Registry {
    collectors: RwLock<Vec<Arc<dyn Collector>>>,
}

impl Registry {
    /// Adds a collector; families render in registration order.
    pub fn register(&self, collector: Arc<dyn Collector>) {
        self.collectors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(collector);
    }

    /// Renders every collector.
    pub fn render(&self) -> String {
        let mut out = Exposition {
            text: String::with_capacity(8192),
        };
        let collectors = self
            .collectors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for c in collectors {
            c.collect(&mut out);
        }
        out.finish()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Collector for Fixed {
        fn collect(&self, out: &mut Exposition) {
            out.family("t_total", "A test\ncounter.", Kind::Counter);
            out.sample_u64("t_total", &[("gun", "a\"b\\c\nd")], 3);
            out.family("t_seconds", "Latency.", Kind::Histogram);
            out.histogram(
                "t_seconds",
                &[("route", "x")],
                &[(0.5, 1), (1.0, 2)],
                1.25,
                3,
            );
            out.family("t_gauge", "Gauge.", Kind::Gauge);
            out.sample_f64("t_gauge", &[], f64::INFINITY);
        }
    }

    #[test]
    fn renders_escaped_families_in_order() {
        let r = Registry::default();
        r.register(Arc::new(Fixed));
        assert_eq!(
            r.render(),
            "# HELP t_total A test\\ncounter.\n# TYPE t_total counter\n\
             t_total{gun=\"a\\\"b\\\\c\\nd\"} 3\n\
             # HELP t_seconds Latency.\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{route=\"x\",le=\"0.5\"} 1\n\
             t_seconds_bucket{route=\"x\",le=\"1\"} 2\n\
             t_seconds_bucket{route=\"x\",le=\"+Inf\"} 3\n\
             t_seconds_sum{route=\"x\"} 1.25\n\
             t_seconds_count{route=\"x\"} 3\n\
             # HELP t_gauge Gauge.\n# TYPE t_gauge gauge\nt_gauge +Inf\n"
        );
    }
}
