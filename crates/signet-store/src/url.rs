//! Parsing of the database URLs accepted by [`Store::connect`](crate::Store::connect).

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::StoreError;

/// A parsed database URL.
#[derive(Debug)]
pub(crate) enum DbUrl {
    /// `sqlite::memory:`
    SqliteMemory,
    /// `sqlite:///abs/path.db`, `sqlite://relative.db` or `sqlite:relative.db`; relative paths are
    /// resolved against the current directory at connect time.
    SqliteFile(PathBuf),
    /// `postgres://…` or `postgresql://…`
    Postgres(Box<PgConnectOptions>),
}

impl DbUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        if let Some(rest) = url.strip_prefix("sqlite:") {
            if rest == ":memory:" {
                return Ok(Self::SqliteMemory);
            }
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.contains('?') {
                return Err(invalid("sqlite urls take no query parameters"));
            }
            if path.is_empty() {
                return Err(invalid("missing sqlite file path"));
            }
            let path = std::path::absolute(path)
                .map_err(|err| invalid(&format!("cannot resolve the sqlite path: {err}")))?;
            return Ok(Self::SqliteFile(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return PgConnectOptions::from_str(url)
                .map(|options| Self::Postgres(Box::new(options)))
                .map_err(|err| invalid(&err.to_string()));
        }
        Err(invalid(
            "unsupported scheme; expected sqlite:, postgres:// or postgresql://",
        ))
    }
}

/// Where a database URL points, for operators: `SQLite /abs/path.db`, `SQLite in memory` or
/// `PostgreSQL host:port/database` (never credentials).
///
/// # Errors
///
/// [`StoreError::InvalidUrl`], as [`crate::Store::connect`] would return.
pub fn describe(url: &str) -> Result<String, StoreError> {
    Ok(match DbUrl::parse(url)? {
        DbUrl::SqliteMemory => "SQLite in memory".to_owned(),
        DbUrl::SqliteFile(path) => format!("SQLite {}", path.display()),
        DbUrl::Postgres(o) => format!(
            "PostgreSQL {}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_else(|| o.get_username())
        ),
    })
}

/// The absolute path of a SQLite file database URL; `None` for other URLs.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    match DbUrl::parse(url) {
        Ok(DbUrl::SqliteFile(path)) => Some(path),
        _ => None,
    }
}

/// Replaces the password of `scheme://user:password@host…` and of a `password=` query parameter
/// with `***`.
pub(crate) fn redact(url: &str) -> String {
    let url = redact_userinfo(url);
    let Some(query_start) = url.find('?') else {
        return url;
    };
    let (base, query) = url.split_at(query_start + 1);
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}{}", query.join("&"))
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |end| authority_start + end);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    format!("{}***{}", &url[..password_start], &url[password_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms() {
        assert!(matches!(
            DbUrl::parse("sqlite::memory:"),
            Ok(DbUrl::SqliteMemory)
        ));
        match DbUrl::parse("sqlite:///var/lib/signet/server.db") {
            Ok(DbUrl::SqliteFile(path)) => {
                assert_eq!(path, PathBuf::from("/var/lib/signet/server.db"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cwd = std::env::current_dir().expect("cwd");
        for url in ["sqlite://relative.db", "sqlite:relative.db"] {
            match DbUrl::parse(url) {
                Ok(DbUrl::SqliteFile(path)) => assert_eq!(path, cwd.join("relative.db")),
                other => panic!("unexpected {other:?} for {url}"),
            }
        }
    }

    #[test]
    fn postgres_forms() {
        for url in [
            "postgres://user@localhost:5432/db",
            "postgresql://user@localhost/db",
            "postgres://user:secret@db.example:6543/notary?sslmode=require",
        ] {
            assert!(matches!(DbUrl::parse(url), Ok(DbUrl::Postgres(_))), "{url}");
        }
    }

    #[test]
    fn rejected_forms() {
        for url in [
            "",
            "mysql://root@localhost/notary",
            "sqlite:",
            "sqlite://",
            "sqlite:///tmp/x.db?mode=ro",
            "server@tcp(mysql:3306)/notaryserver",
        ] {
            match DbUrl::parse(url) {
                Err(StoreError::InvalidUrl { url: shown, .. }) => assert_eq!(shown, url),
                other => panic!("{url} gave {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://user:hunter2@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(
            redact("postgres://user@host/db?sslmode=require&password=x"),
            "postgres://user@host/db?sslmode=require&password=***"
        );
        assert_eq!(redact("postgres://host/db"), "postgres://host/db");
        assert_eq!(redact("sqlite:///a:b@c"), "sqlite:///a:b@c");
        match DbUrl::parse("mysql://u:hunter2@h/db") {
            Err(err) => assert!(!err.to_string().contains("hunter2"), "{err}"),
            Ok(parsed) => panic!("accepted {parsed:?}"),
        }
    }
}
