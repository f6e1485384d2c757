//! Canonical JSON: idempotence, Go's HTML escaping is transparent, and `is_canonical` accepts
//! only text that is its own canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_core::canonical::{canonicalize, go_html_escape, is_canonical};
use signet_fuzz::escape_controls;

fuzz_target!(|data: &[u8]| {
    // The client's fast path verifies signatures over text `is_canonical` accepts, as is:
    // such text must be exactly its own canonical form.
    if let Ok(text) = core::str::from_utf8(data)
        && is_canonical(text)
    {
        assert_eq!(
            canonicalize(data).expect("text is_canonical accepts must parse").as_slice(),
            data,
            "is_canonical accepted a text that is not its canonical form"
        );
    }
    let Ok(out) = canonicalize(data) else {
        return;
    };
    // Canonical output is UTF-8 with no whitespace outside strings.
    let text = core::str::from_utf8(&out).expect("canonical output is UTF-8");
    assert!(!text.starts_with(char::is_whitespace) && !text.ends_with(char::is_whitespace));

    let has_controls = out.iter().any(|b| *b < 0x20);
    match canonicalize(&out) {
        Ok(again) => assert_eq!(again, out, "canonicalize is not idempotent"),
        Err(e) => assert!(
            has_controls,
            "canonical output does not re-parse ({e}) and has no raw control characters: {text:?}"
        ),
    }
    // With control characters escaped it always re-parses, to the same canonical bytes.
    let reparsable = escape_controls(&out);
    assert_eq!(
        canonicalize(&reparsable).expect("escaped canonical output must parse"),
        out
    );
    // Go's json.Marshal HTML escaping (how the `signed` part is embedded in a file)
    // yields JSON that parses back to the same canonical bytes, control characters or not.
    let escaped = go_html_escape(&out);
    assert!(!escaped.iter().any(|b| matches!(b, b'<' | b'>' | b'&')));
    match canonicalize(&escaped) {
        Ok(back) => assert_eq!(back, out, "go_html_escape changed the value"),
        Err(e) => panic!("go_html_escape output does not parse ({e}): {text:?}"),
    }
});
