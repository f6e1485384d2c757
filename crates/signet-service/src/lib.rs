//! Plumbing every Signet service shares, so that the trust server, the signer and the
//! admission webhook behave alike and none depends on another:
//!
//! - [`clock`]: the one source of "now", replaceable in tests;
//! - [`tls`]: the operator's certificate files or a generated local CA, renewed before
//!   expiry, with expiry exported as a metric;
//! - [`metrics`]: a registry of collectors and the Prometheus text exposition;
//! - [`health`]: named probes with a timeout;
//! - [`logging`]: `tracing` set-up (text or JSON); [`errors`]: an error with its causes;
//! - [`shutdown`] and [`serve`]: signals, graceful shutdown and serving an axum app, with
//!   [`guard`]: a connection cap and timeouts for slow or silent clients.
#![forbid(unsafe_code)]

pub mod clock;
pub mod errors;
pub mod guard;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod serve;
pub mod shutdown;
pub mod tls;

pub use clock::{Clock, ManualClock};
