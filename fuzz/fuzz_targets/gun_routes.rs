//! `Route::parse` over `"<METHOD> <path>"`: never panics, GUNs are non-empty and free of
//! `*`, roles and checksums have the shapes the route table allows, and rendering a
//! parsed route's path and parsing again gives the same route.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use signet_server::routes::Route;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (method, path) = text.split_once(' ').unwrap_or(("GET", text));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let route = Route::parse(&method, path);
    if let Some(gun) = route.gun() {
        assert!(!gun.is_empty(), "empty GUN from {path:?}");
        assert!(!gun.contains('*'), "GUN with * from {path:?}");
        assert!(path.starts_with("/v2/"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    match &route {
        Route::ByChecksum { role, checksum, .. } => {
            assert!(get);
            assert!(matches!(checksum.len(), 64 | 96 | 128));
            assert!(checksum.bytes().all(|b| b.is_ascii_hexdigit()));
            check_role(role);
        }
        Route::ByVersion { role, .. } | Route::Current { role, .. } => {
            assert!(get);
            check_role(role);
        }
        Route::GetKey { role, .. } | Route::RotateKey { role, .. } => {
            assert!(role == "timestamp" || role == "snapshot");
        }
        Route::Update { .. } => assert_eq!(method, Method::POST),
        Route::Delete { .. } => assert_eq!(method, Method::DELETE),
        Route::Ping | Route::Health | Route::Metrics | Route::Changefeed => assert!(get),
        Route::GunChangefeed { .. } => assert!(get),
        Route::NotFound => {}
    }
    assert!(Route::LABELS.contains(&route.label()));
    if let Some(rendered) = signet_fuzz::render_route(&route) {
        let again = Route::parse(&method, &rendered);
        assert_eq!(
            again, route,
            "{path:?} → {route:?} → {rendered:?} → {again:?}"
        );
    }
});

/// `root|targets(/[^/\s]+)*|snapshot|timestamp`.
fn check_role(role: &str) {
    let ok = matches!(role, "root" | "targets" | "snapshot" | "timestamp")
        || role.strip_prefix("targets/").is_some_and(|rest| {
            rest.split('/')
                .all(|s| !s.is_empty() && !s.chars().any(char::is_whitespace))
        });
    assert!(ok, "role {role:?} is not in the route table's language");
}
