//! `signet_client::parse_challenge` (a `WWW-Authenticate` header from a registry or trust
//! server): never panics; an accepted challenge has a lower-case scheme and lower-case
//! parameter names, and rendering it back (values quoted, `"` and `\` escaped) parses to
//! the same challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_client::parse_challenge;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = core::str::from_utf8(data) else {
        return;
    };
    let Some(c) = parse_challenge(header) else {
        return;
    };
    assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    assert!(!c.scheme.chars().any(char::is_whitespace), "{:?}", c.scheme);
    for k in c.params.keys() {
        assert_eq!(*k, k.to_ascii_lowercase());
    }
    // Parameter names that survive a round trip: no separators or quotes in them.
    if c.scheme.is_empty()
        || c.scheme.contains(['=', ',', '"'])
        || c.params.keys().any(|k| {
            k.is_empty() || k.contains(['=', ',', '"', '\\']) || k.chars().any(char::is_whitespace)
        })
    {
        return;
    }
    let mut keys: Vec<&String> = c.params.keys().collect();
    keys.sort();
    let rendered: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = c.params[*k].replace('\\', "\\\\").replace('"', "\\\"");
            format!("{k}=\"{v}\"")
        })
        .collect();
    let text = format!("{} {}", c.scheme, rendered.join(", "));
    let back = parse_challenge(&text).unwrap_or_else(|| panic!("{text:?} does not parse"));
    assert_eq!(back, c, "{header:?} -> {text:?}");
});
