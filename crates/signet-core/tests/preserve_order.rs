//! Builds and tests signet-core with serde_json's `preserve_order` feature on, in the
//! separate workspace `tests/preserve-order` (so the feature cannot leak into this
//! workspace's build through feature unification). Any crate in a build may turn the
//! feature on; signed bytes and key IDs must not change when one does.
//!
//! The first run compiles signet-core's dependencies once more into
//! `target/tmp/preserve-order`; later runs are incremental.

use std::path::Path;
use std::process::Command;

#[test]
fn signet_core_is_correct_with_serde_json_preserve_order() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/preserve-order/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("preserve-order");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(&cargo)
        .arg("test")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .arg("--quiet")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "signet-core fails with serde_json/preserve_order on \
         (rerun: cargo test --manifest-path {}):\n{stdout}\n{stderr}",
        manifest.display()
    );
    // The check crate's own guard proves the feature really was on.
    assert!(
        stdout.contains("5 passed"),
        "expected the 5 preserve_order tests to run:\n{stdout}\n{stderr}"
    );
}
