//! notary's client `config.json` as `signet` reads it: resolving the settings and the trust
//! pinning for a few GUNs never panics, whatever the file holds. (The file is written to a
//! per-process temporary path: `Settings::resolve` reads the file itself.)
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_client::config::{Overrides, Settings};

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("signet-fuzz-config-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let file = path();
    if std::fs::write(file, data).is_err() {
        return;
    }
    let o = Overrides {
        config_file: Some(file.clone()),
        ..Overrides::default()
    };
    let home = PathBuf::from("/home/fuzz");
    let Ok(settings) = Settings::resolve(&o, Some(&home), &PathBuf::from("/work")) else {
        return;
    };
    let _ = settings.transport_config();
    for gun in ["example.com/app", "docker.io/library/alpine", "a", "example.com/app/sub"] {
        let _ = settings.pinning_for(gun);
    }
});
