//! The server's one source of "now", replaceable in tests.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use signet_core::UnixTime;

/// A clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> UnixTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(|| {
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

    /// Now.
    pub fn now(&self) -> UnixTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}
