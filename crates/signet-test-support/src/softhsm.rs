//! Throw-away SoftHSM2 tokens: a token directory and configuration under a temporary
//! directory, a token initialised in it with `softhsm2-util`, removed on drop.
//!
//! SoftHSM finds its configuration through `SOFTHSM2_CONF`, read when the module is loaded,
//! so a process using a token needs that variable in its environment from the start:
//! give [`SoftHsm::env`] to the processes a test spawns, or run a test body in a child
//! process of the test binary with [`run_with_token`].
//!
//! Needs Debian's `softhsm2` (installed by `scripts/peers/install.sh`); without it the test
//! fails saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user PIN of the tokens made here.
pub const USER_PIN: &str = "signet-test-pin";
const SO_PIN: &str = "signet-test-so-pin";
/// Where Debian's `libsofthsm2` installs the module.
const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];
/// Set in a child process run by [`run_with_token`]: the token's label.
const CHILD_LABEL: &str = "SIGNET_TEST_SOFTHSM_LABEL";

/// The SoftHSM2 PKCS#11 module.
///
/// # Panics
///
/// If `softhsm2` is not installed.
pub fn module() -> PathBuf {
    MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the SoftHSM2 PKCS#11 module is missing (looked in {MODULE_PATHS:?}): install \
                 Debian's softhsm2 (scripts/peers/install.sh does)"
            )
        })
}

/// A SoftHSM2 token in a temporary directory.
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    label: String,
}

impl SoftHsm {
    /// A new, initialised token labelled `label`, with [`USER_PIN`].
    ///
    /// # Panics
    ///
    /// If `softhsm2-util` is missing or fails (the message says why).
    pub fn create(label: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("signet-softhsm-")
            .tempdir()
            .expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", USER_PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run softhsm2-util ({e}): install Debian's softhsm2 \
                     (scripts/peers/install.sh does)"
                )
            });
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            conf,
            label: label.to_owned(),
        }
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The configuration file (`SOFTHSM2_CONF`).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The directory the token lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a process needs to see this token.
    pub fn env(&self) -> [(&'static str, PathBuf); 1] {
        [("SOFTHSM2_CONF", self.conf.clone())]
    }
}

/// Runs `body` with a fresh token (its label), in a child process of the test binary that
/// has the token's `SOFTHSM2_CONF`: `test` is the test's full path as libtest names it
/// (`module::test_name`). In the parent, this makes the token, runs the child and fails
/// if the child failed; in the child, it runs `body`.
///
/// # Panics
///
/// If the child fails (its output is in the message), or the token cannot be made.
pub fn run_with_token(test: &str, body: impl FnOnce(&str)) {
    if let Ok(label) = std::env::var(CHILD_LABEL) {
        body(&label);
        return;
    }
    let hsm = SoftHsm::create("signet-test");
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .envs(hsm.env())
        .env(CHILD_LABEL, hsm.label())
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed with the token:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
