//! Nothing here: see `tests/preserve_order.rs`. This crate exists to build signet-core
//! with serde_json's `preserve_order` feature on.
#![forbid(unsafe_code)]
