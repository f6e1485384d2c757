//! Notary's routes, parsed by hand because GUNs contain `/` and `:`.
//!
//! Matching follows notary-server's gorilla/mux table in order: `{gun}` is `[^*]+`
//! (greedy, so the last `/_trust/` split that fits wins), `{role}` is
//! `root|targets(/[^/\s]+)*|snapshot|timestamp`, checksums are 64, 96 or 128 hex digits,
//! versions `[1-9]*[0-9]+`.

use axum::http::Method;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`.
    Ping,
    /// `POST /v2/{gun}/_trust/tuf/`.
    Update { gun: String },
    /// `DELETE /v2/{gun}/_trust/tuf/`.
    Delete { gun: String },
    /// `GET /v2/{gun}/_trust/tuf/{role}.{checksum}.json`.
    ByChecksum {
        gun: String,
        role: String,
        checksum: String,
    },
    /// `GET /v2/{gun}/_trust/tuf/{version}.{role}.json`.
    ByVersion {
        gun: String,
        role: String,
        version: u64,
    },
    /// `GET /v2/{gun}/_trust/tuf/{role}.json`.
    Current { gun: String, role: String },
    /// `GET /v2/{gun}/_trust/tuf/{timestamp|snapshot}.key`.
    GetKey { gun: String, role: String },
    /// `POST /v2/{gun}/_trust/tuf/{timestamp|snapshot}.key`.
    RotateKey { gun: String, role: String },
    /// `GET /v2/{gun}/_trust/changefeed`.
    GunChangefeed { gun: String },
    /// `GET /v2/_trust/changefeed`.
    Changefeed,
    /// `GET /_notary_server/health`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Parses a (percent-decoded) path.
    pub fn parse(method: &Method, path: &str) -> Self {
        let get = method == Method::GET || method == Method::HEAD;
        match path {
            "/v2/" if get => return Self::Ping,
            "/_notary_server/health" if get => return Self::Health,
            "/metrics" if get => return Self::Metrics,
            "/v2/_trust/changefeed" if get => return Self::Changefeed,
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Self::NotFound;
        };
        if get
            && let Some(gun) = rest
                .strip_suffix("/_trust/changefeed")
                .filter(|g| valid_gun(g))
        {
            return Self::GunChangefeed {
                gun: gun.to_owned(),
            };
        }
        // Greedy {gun}: try the split points from the right.
        const SEP: &str = "/_trust/tuf/";
        let mut end = rest.len();
        while let Some(pos) = rest[..end].rfind(SEP) {
            let gun = &rest[..pos];
            let tail = &rest[pos + SEP.len()..];
            if valid_gun(gun)
                && let Some(route) = Self::tuf(method, gun, tail)
            {
                return route;
            }
            end = pos;
        }
        Self::NotFound
    }

    fn tuf(method: &Method, gun: &str, tail: &str) -> Option<Self> {
        let gun = gun.to_owned();
        let get = method == Method::GET || method == Method::HEAD;
        if tail.is_empty() {
            return match *method {
                Method::POST => Some(Self::Update { gun }),
                Method::DELETE => Some(Self::Delete { gun }),
                _ => None,
            };
        }
        if let Some(role) = tail
            .strip_suffix(".key")
            .filter(|r| matches!(*r, "timestamp" | "snapshot"))
        {
            let role = role.to_owned();
            return match *method {
                Method::GET | Method::HEAD => Some(Self::GetKey { gun, role }),
                Method::POST => Some(Self::RotateKey { gun, role }),
                _ => None,
            };
        }
        if !get {
            return None;
        }
        let stem = tail.strip_suffix(".json")?;
        // {role}.{checksum}.json
        if let Some((role, checksum)) = stem.rsplit_once('.')
            && matches!(checksum.len(), 64 | 96 | 128)
            && checksum.bytes().all(|b| b.is_ascii_hexdigit())
            && route_role(role)
        {
            return Some(Self::ByChecksum {
                gun,
                role: role.to_owned(),
                checksum: checksum.to_owned(),
            });
        }
        // {version}.{role}.json
        if let Some((version, role)) = stem.split_once('.')
            && !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && route_role(role)
        {
            // Digits only; beyond u64 nothing can be stored under it.
            let version = version.parse().unwrap_or(u64::MAX);
            return Some(Self::ByVersion {
                gun,
                role: role.to_owned(),
                version,
            });
        }
        route_role(stem).then(|| Self::Current {
            gun,
            role: stem.to_owned(),
        })
    }

    /// The GUN the route is about, if any.
    pub fn gun(&self) -> Option<&str> {
        match self {
            Self::Update { gun }
            | Self::Delete { gun }
            | Self::ByChecksum { gun, .. }
            | Self::ByVersion { gun, .. }
            | Self::Current { gun, .. }
            | Self::GetKey { gun, .. }
            | Self::RotateKey { gun, .. }
            | Self::GunChangefeed { gun } => Some(gun),
            _ => None,
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Update { .. } => "update",
            Self::Delete { .. } => "delete",
            Self::ByChecksum { .. } => "get_by_checksum",
            Self::ByVersion { .. } => "get_by_version",
            Self::Current { .. } => "get_current",
            Self::GetKey { .. } => "get_key",
            Self::RotateKey { .. } => "rotate_key",
            Self::GunChangefeed { .. } => "gun_changefeed",
            Self::Changefeed => "changefeed",
            Self::Health => "health",
            Self::Metrics => "metrics",
            Self::NotFound => "not_found",
        }
    }

    /// All labels, for metrics export.
    pub const LABELS: [&'static str; 13] = [
        "ping",
        "update",
        "delete",
        "get_by_checksum",
        "get_by_version",
        "get_current",
        "get_key",
        "rotate_key",
        "gun_changefeed",
        "changefeed",
        "health",
        "metrics",
        "not_found",
    ];
}

/// `[^*]+`.
fn valid_gun(gun: &str) -> bool {
    !gun.is_empty() && !gun.contains('*')
}

/// `root|targets(?:/[^/\s]+)*|snapshot|timestamp`.
fn route_role(role: &str) -> bool {
    match role {
        "root" | "targets" | "snapshot" | "timestamp" => true,
        _ => role.strip_prefix("targets/").is_some_and(|rest| {
            rest.split('/')
                .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(p: &str) -> Route {
        Route::parse(&Method::GET, p)
    }

    #[test]
    fn notary_routes() {
        let sum = "a".repeat(64);
        assert_eq!(get("/v2/"), Route::Ping);
        assert_eq!(
            get("/v2/docker.io/library/alpine/_trust/tuf/targets/releases.json"),
            Route::Current {
                gun: "docker.io/library/alpine".into(),
                role: "targets/releases".into()
            }
        );
        assert_eq!(
            get(&format!("/v2/reg:5000/a/_trust/tuf/snapshot.{sum}.json")),
            Route::ByChecksum {
                gun: "reg:5000/a".into(),
                role: "snapshot".into(),
                checksum: sum
            }
        );
        assert_eq!(
            get("/v2/a/_trust/tuf/3.root.json"),
            Route::ByVersion {
                gun: "a".into(),
                role: "root".into(),
                version: 3
            }
        );
        assert_eq!(
            Route::parse(&Method::POST, "/v2/a/b/_trust/tuf/"),
            Route::Update { gun: "a/b".into() }
        );
        assert_eq!(
            Route::parse(&Method::POST, "/v2/a/_trust/tuf/timestamp.key"),
            Route::RotateKey {
                gun: "a".into(),
                role: "timestamp".into()
            }
        );
        assert_eq!(get("/v2/a/_trust/tuf/targets.key"), Route::NotFound);
        assert_eq!(get("/v2/a/_trust/tuf/foo.json"), Route::NotFound);
        assert_eq!(get("/v2/a*b/_trust/tuf/root.json"), Route::NotFound);
        assert_eq!(get("/v2/_trust/changefeed"), Route::Changefeed);
        assert_eq!(
            get("/v2/x/y/_trust/changefeed"),
            Route::GunChangefeed { gun: "x/y".into() }
        );
        // A GUN that itself contains the separator: the greedy match wins.
        assert_eq!(
            get("/v2/a/_trust/tuf/b/_trust/tuf/root.json"),
            Route::Current {
                gun: "a/_trust/tuf/b".into(),
                role: "root".into()
            }
        );
        assert_eq!(
            Route::parse(&Method::PUT, "/v2/a/_trust/tuf/"),
            Route::NotFound
        );
    }
}
