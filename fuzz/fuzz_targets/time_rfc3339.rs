//! `UnixTime::parse_rfc3339`: whatever parses formats (`to_rfc3339`, Go's RFC3339Nano in
//! UTC) to text that parses back to the same instant, and formatting is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_core::UnixTime;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = UnixTime::parse_rfc3339(text) else {
        return;
    };
    assert!(t.subsec_nanos() < 1_000_000_000);
    let out = t.to_rfc3339();
    match UnixTime::parse_rfc3339(&out) {
        Ok(back) => assert_eq!(back, t, "{text:?} → {out:?} → {back:?}"),
        Err(e) => panic!("{text:?} parsed to {t:?} but its RFC 3339 form does not parse: {e}"),
    }
    assert!(out.ends_with('Z'));
    // The UTC form of a UTC form is itself.
    assert_eq!(UnixTime::parse_rfc3339(&out).unwrap().to_rfc3339(), out);
    let _ = t.to_rfc1123_utc();
});
