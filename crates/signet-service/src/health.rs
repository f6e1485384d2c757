//! Health checks: named probes run concurrently, each bounded by a timeout, so a load
//! balancer always gets an answer quickly, with the reason when something is wrong.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What a probe returns: `Err` carries a short, operator-readable reason (no secrets).
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

type Probe = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;

/// A set of named probes.
#[derive(Clone)]
pub struct Health {
    probes: Vec<(String, Probe)>,
    timeout: Duration,
}

/// The outcome of [`Health::check`]: the failing probes and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Probe name → reason, for each probe that failed or timed out.
    pub failures: BTreeMap<String, String>,
}

impl HealthReport {
    /// Whether every probe passed.
    pub fn is_healthy(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Health {
    /// No probes yet; each will be given at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            probes: Vec::new(),
            timeout,
        }
    }

    /// Adds a probe under `name` (the name is what a failure is reported under).
    #[must_use]
    pub fn with<F, Fut>(mut self, name: impl Into<String>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.probes.push((
            name.into(),
            Arc::new(move || Box::pin(probe()) as ProbeFuture),
        ));
        self
    }

    /// Runs every probe concurrently; a probe that does not answer within the timeout
    /// fails with "no answer within …".
    pub async fn check(&self) -> HealthReport {
        let mut set = tokio::task::JoinSet::new();
        for (name, probe) in &self.probes {
            let (name, fut, timeout) = (name.clone(), probe(), self.timeout);
            set.spawn(async move {
                let outcome = match tokio::time::timeout(timeout, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                (name, outcome)
            });
        }
        let mut report = HealthReport::default();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(reason))) => {
                    report.failures.insert(name, reason);
                }
                Err(e) => {
                    report
                        .failures
                        .insert("health probe".to_owned(), format!("probe failed: {e}"));
                }
            }
        }
        report
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field(
                "probes",
                &self.probes.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_failures_and_timeouts_quickly() {
        let h = Health::new(Duration::from_millis(100))
            .with("ok", || async { Ok(()) })
            .with("DB operational", || async {
                Err("database is unavailable".to_owned())
            })
            .with("hangs", || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            });
        let started = tokio::time::Instant::now();
        let r = h.check().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!r.is_healthy());
        assert_eq!(
            r.failures.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "DB operational".to_owned(),
                    "database is unavailable".to_owned()
                ),
                ("hangs".to_owned(), "no answer within 100 ms".to_owned()),
            ]
        );
        assert!(
            Health::new(Duration::from_secs(1))
                .check()
                .await
                .is_healthy()
        );
    }
}
