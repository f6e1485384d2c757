//! `signet_client::registry::ImageRef::parse` (docker's `ParseNormalizedNamed`): never
//! panics; an accepted reference has a valid domain and a lower-case path, renders to a
//! string that parses back to the same reference (a fixed point), and its derived names
//! (GUN, familiar name, registry and trust-server URLs) are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_client::registry::{Digest, ImageRef};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = ImageRef::parse(input) else {
        return;
    };
    let rendered = r.to_string();
    let again = ImageRef::parse(&rendered)
        .unwrap_or_else(|e| panic!("{input:?} -> {rendered:?} does not parse: {e}"));
    assert_eq!(again, r, "{input:?} -> {rendered:?}");
    assert_eq!(again.to_string(), rendered);

    let name = r.name();
    assert_eq!(name, format!("{}/{}", r.domain(), r.path()));
    assert!(!r.domain().is_empty() && !r.path().is_empty());
    assert!(r.path().len() <= 255);
    assert!(
        r.path()
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/')),
        "path {:?}",
        r.path()
    );
    assert!(!r.domain().contains('/') && r.domain() != "index.docker.io");
    if r.is_docker_hub() {
        assert!(r.path().contains('/'), "hub names have a namespace: {name}");
    }
    // The familiar name normalizes back to the same name.
    let familiar = ImageRef::parse(&r.familiar_name())
        .unwrap_or_else(|e| panic!("familiar name of {name}: {e}"));
    assert_eq!(familiar.name(), name);
    if let Some(t) = r.tag() {
        assert!(!t.is_empty() && t.len() <= 128 && !t.contains([':', '/', '@']));
        assert_eq!(r.with_tag(t).map(|x| x.tag().map(str::to_owned)), Ok(Some(t.to_owned())));
    }
    if let Some(d) = r.digest() {
        assert_eq!(Digest::parse(&d.to_string()), Ok(*d));
    }
    for url in [r.registry_url(), r.default_trust_server()] {
        assert!(url.starts_with("https://") || url.starts_with("http://"));
    }
    if r.registry_url().starts_with("http://") {
        assert!(r.is_loopback(), "plain HTTP only for loopback: {name}");
    }
});
