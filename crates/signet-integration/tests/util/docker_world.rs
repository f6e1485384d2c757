//! A throw-away docker environment for the `signet trust` tests: docker configuration
//! directories (`$DOCKER_CONFIG`, each with the trust server's CA in `tls/<host:port>/`),
//! and the docker CLI, the Go notary CLI and `signet` run in them with nothing inherited
//! that could change their behaviour.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::signet_binary;

pub(crate) const ROOT_PASS: &str = "root-passphrase-123";
pub(crate) const REPO_PASS: &str = "repo-passphrase-123";

/// What a command did.
#[derive(Clone, Debug)]
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    /// stderr without warning lines (docker's logrus warnings, signet's warnings), which
    /// the two clients word differently.
    pub(crate) fn stderr_without_warnings(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| {
                !(l.contains("level=warning")
                    || l.starts_with("signet: warning:")
                    || l.contains(" WARN "))
            })
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

/// Docker configuration directories for one trust server.
pub(crate) struct World {
    dir: tempfile::TempDir,
    server: String,
    ca: PathBuf,
}

impl World {
    pub(crate) fn new(server: &str, ca: &Path) -> World {
        World {
            dir: tempfile::Builder::new()
                .prefix("signet-trust-")
                .tempdir()
                .expect("tempdir"),
            server: server.trim_end_matches('/').to_owned(),
            ca: ca.to_owned(),
        }
    }

    /// A directory for files (keys, images) under the world.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// `$DOCKER_CONFIG` named `who`, with the server's CA installed as docker expects.
    pub(crate) fn config(&self, who: &str) -> PathBuf {
        let dir = self.dir.path().join("configs").join(who);
        let host = self.server.trim_start_matches("https://");
        let tls = dir.join("tls").join(host);
        std::fs::create_dir_all(&tls).expect("tls dir");
        std::fs::copy(&self.ca, tls.join("ca.crt")).expect("install CA");
        dir
    }

    /// Runs `program args` in the configuration `who` (stdin from `input`).
    pub(crate) fn run(&self, program: &Path, who: &str, args: &[&str], input: &str) -> Out {
        let config = self.config(who);
        let home = self.path("home");
        let mut cmd = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("DOCKER_") || k.starts_with("NOTARY_") || k.starts_with("SIGNET_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("HOME", &home)
            .env("DOCKER_CONFIG", &config)
            .env("DOCKER_CONTENT_TRUST_SERVER", &self.server)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASS)
            .env("NOTARY_TARGETS_PASSPHRASE", REPO_PASS)
            .env("NOTARY_SNAPSHOT_PASSPHRASE", REPO_PASS)
            .env("NOTARY_DELEGATION_PASSPHRASE", REPO_PASS)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("LC_ALL", "C")
            .current_dir(&home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("wait");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) fn docker(&self, who: &str, args: &[&str]) -> Out {
        self.run(Path::new("docker"), who, args, "")
    }

    pub(crate) fn signet(&self, who: &str, args: &[&str]) -> Out {
        self.run(&signet_binary(), who, args, "")
    }

    /// The Go notary CLI on `who`'s docker trust directory; must succeed.
    pub(crate) fn notary(&self, who: &str, args: &[&str]) -> Out {
        let trust = self.config(who).join("trust");
        let trust = trust.to_string_lossy().into_owned();
        let ca = self.ca.to_string_lossy().into_owned();
        let mut full = vec!["-s", &self.server, "--tlscacert", &ca, "-d", &trust];
        full.extend_from_slice(args);
        let out = self.run(Path::new("notary"), who, &full, "");
        assert_eq!(
            out.code, 0,
            "notary {args:?} failed:\n{}{}",
            out.stdout, out.stderr
        );
        out
    }

    /// Asserts success and returns stdout.
    pub(crate) fn ok(out: Out, what: &str) -> String {
        assert_eq!(
            out.code, 0,
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }
}
