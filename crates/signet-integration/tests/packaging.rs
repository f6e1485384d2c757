//! The deployment files in `deploy/`, checked with the real tools by `deploy/check.sh`: the
//! systemd units with `systemd-analyze verify`; the Kubernetes kustomize base and example
//! overlay with `kubectl kustomize` and `kubernetes-validate --strict`; the container image,
//! built from the workspace's `signet` binary with umoci, pushed to the local registry and
//! pulled back with skopeo, unpacked, and run from its root filesystem until health answers.
//! `scripts/packaging-tools.sh` installs the tools; a missing one fails with its name.

use std::process::{Command, Stdio};

use crate::util::{signet_binary, workspace_root};

/// Runs `deploy/check.sh CHECK <signet binary>` and fails with its output unless it passes.
fn check(what: &str) {
    let script = workspace_root().join("deploy/check.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(what)
        .arg(signet_binary())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "deploy/check.sh {what} failed ({}); if a tool is missing, run \
         scripts/packaging-tools.sh:\n{text}",
        out.status
    );
    eprintln!("{}", text.trim());
}

#[test]
fn systemd_units_verify() {
    check("systemd");
}

#[test]
fn kustomize_base_builds_and_validates() {
    check("kubernetes");
}

#[test]
fn container_image_pushes_pulls_and_runs_from_its_root_filesystem() {
    check("image");
}
