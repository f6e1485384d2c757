//! `RoleName::parse`: accepted names satisfy the documented rules, the serde path agrees,
//! and `parent()` chains step up one level at a time and end at `targets`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_core::RoleName;

fuzz_target!(|data: &[u8]| {
    let Ok(name) = core::str::from_utf8(data) else {
        return;
    };
    let parsed = RoleName::parse(name);
    // The serde path is the same check.
    let via_serde = serde_json::from_value::<RoleName>(serde_json::Value::String(name.to_owned()));
    assert_eq!(parsed.is_ok(), via_serde.is_ok());
    let Ok(role) = parsed else {
        assert!(!matches!(
            name,
            "root" | "targets" | "snapshot" | "timestamp"
        ));
        return;
    };
    assert_eq!(role.as_str(), name);
    assert_eq!(via_serde.unwrap(), role);
    assert_eq!(role.to_string(), name);

    if matches!(name, "root" | "targets" | "snapshot" | "timestamp") {
        assert!(!role.is_delegation());
        assert_eq!(role.parent(), None);
        assert_eq!(role.depth(), 0);
        assert_eq!(role.is_targets_like(), name == "targets");
        return;
    }
    // Documented rules for delegations.
    let rest = name
        .strip_prefix("targets/")
        .expect("delegations start with targets/");
    assert!(name.len() < 256, "too long: {}", name.len());
    assert!(
        name.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'/')),
        "bad character in {name:?}"
    );
    for seg in rest.split('/') {
        assert!(
            !seg.is_empty() && seg != "." && seg != "..",
            "bad segment in {name:?}"
        );
    }
    assert!(role.is_delegation() && role.is_targets_like());
    assert_eq!(role.depth(), rest.split('/').count());

    // parent() chain: every ancestor is a valid role one level up, ending at targets.
    let mut cur = role.clone();
    let mut steps = 0;
    while let Some(p) = cur.parent() {
        assert_eq!(p.depth() + 1, cur.depth());
        assert!(cur.as_str().starts_with(&format!("{}/", p.as_str())));
        assert_eq!(RoleName::parse(p.as_str()).as_ref(), Ok(&p));
        cur = p;
        steps += 1;
    }
    assert_eq!(cur, RoleName::targets());
    assert_eq!(steps, role.depth());
});
