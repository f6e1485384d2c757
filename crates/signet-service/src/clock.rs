//! The one source of "now" for every service, replaceable in tests.
//!
//! Nothing else in a service reads the system clock: code that needs the time takes a
//! [`Clock`] (or a time computed from one), so tests can move time forward and watch
//! expiry, renewal and re-signing happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use signet_core::UnixTime;

/// A clock: a cheap, cloneable handle to a function returning the current time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> UnixTime + Send + Sync>);

impl Clock {
    /// The system clock. Times before 1970 read as the epoch.
    pub fn system() -> Self {
        Self(Arc::new(|| {
            #[allow(clippy::disallowed_methods)] // the one place a service reads the wall clock
            let d = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            UnixTime::from_unix(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            )
        }))
    }

    /// A clock that calls `f`.
    pub fn from_fn(f: impl Fn() -> UnixTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// A clock that always reads `t`.
    pub fn fixed(t: UnixTime) -> Self {
        Self::from_fn(move || t)
    }

    /// Now.
    pub fn now(&self) -> UnixTime {
        (self.0)()
    }

    /// Now, as whole microseconds since the epoch (what the stores write), saturating.
    pub fn now_micros(&self) -> i64 {
        let t = self.now();
        t.secs()
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(t.subsec_nanos() / 1_000))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// A clock for tests that moves only when told to, in whole seconds.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: UnixTime) -> Self {
        Self(Arc::new(AtomicI64::new(start.secs())))
    }

    /// A [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        let secs = self.0.clone();
        Clock::from_fn(move || UnixTime::from_unix(secs.load(Ordering::SeqCst), 0))
    }

    /// Moves the clock forward (or back, with a negative count).
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t.secs(), Ordering::SeqCst);
    }

    /// The time it reads.
    pub fn now(&self) -> UnixTime {
        UnixTime::from_unix(self.0.load(Ordering::SeqCst), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let m = ManualClock::new(UnixTime::from_unix(1_000, 0));
        let c = m.clock();
        assert_eq!(c.now().secs(), 1_000);
        m.advance_secs(86_400);
        assert_eq!(c.now().secs(), 87_400);
        assert_eq!(c.now_micros(), 87_400_000_000);
        m.set(UnixTime::from_unix(5, 0));
        assert_eq!(c.now().secs(), 5);
    }

    #[test]
    fn system_clock_is_after_2025() {
        assert!(Clock::system().now().secs() > 1_735_689_600);
    }

    #[test]
    fn micros_saturate() {
        assert_eq!(
            Clock::fixed(UnixTime::from_unix(i64::MAX, 0)).now_micros(),
            i64::MAX
        );
    }
}
