//! A small, real filesystem for tests that need a disk to fill up: a `tmpfs` of a given
//! size mounted on a fresh temporary directory, unmounted (and the directory removed) on
//! drop, also while a failing test unwinds.
//!
//! Mounting needs root (or `CAP_SYS_ADMIN`). When the mount fails the test fails with the
//! reason; it is never skipped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted `tmpfs`; unmounted on drop.
#[derive(Debug)]
pub struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    /// Mounts a `tmpfs` of `bytes` bytes on a new directory under the system temp dir.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created or `mount` fails (the message says why).
    pub fn mount(bytes: u64) -> Self {
        let mut suffix = [0_u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix)
            .expect("system randomness");
        let dir = std::env::temp_dir().join(format!(
            "signet-smallfs-{}",
            signet_core::encoding::hex_encode(&suffix)
        ));
        std::fs::create_dir(&dir).expect("create the mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Self { dir },
            Ok(o) => {
                let _ = std::fs::remove_dir(&dir);
                panic!(
                    "cannot mount a {bytes}-byte tmpfs on {} ({}): this test needs root \
                     (or CAP_SYS_ADMIN) to make a filesystem it can fill",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                )
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                panic!("cannot run mount: {e}")
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes a file named `name` until the filesystem is full; returns its path and how
    /// many bytes it took. Removing the file frees the space again.
    ///
    /// # Panics
    ///
    /// If the file cannot be created, or a write fails with anything but "no space".
    pub fn fill(&self, name: &str) -> (PathBuf, u64) {
        let path = self.dir.join(name);
        let mut file = std::fs::File::create(&path).expect("create the filler file");
        let chunk = vec![0x5a_u8; 4096];
        let mut written = 0_u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        // Whatever fits in less than a page, too.
        while let Ok(1) = file.write(&[0x5a]) {
            written += 1;
        }
        (path, written)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
        if unmounted {
            let _ = std::fs::remove_dir(&self.dir);
        } else {
            eprintln!("warning: could not unmount {}", self.dir.display());
        }
    }
}
