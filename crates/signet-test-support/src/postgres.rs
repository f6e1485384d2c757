//! Scratch PostgreSQL databases for tests: one fresh database per test, dropped again when
//! the guard goes out of scope (also while a failing test unwinds).
//!
//! The admin URL comes from `SIGNET_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the machine's cluster with trust auth). When
//! PostgreSQL is unreachable, creation panics with what to start: a test that needs it fails,
//! it is never skipped.

use ring::rand::{SecureRandom as _, SystemRandom};
use signet_core::encoding::hex_encode;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// Environment variable naming the admin URL.
pub const POSTGRES_ENV: &str = "SIGNET_TEST_POSTGRES";
/// The admin URL used when [`POSTGRES_ENV`] is unset.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database created for one test; dropped (`WITH (FORCE)`) on drop.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<random hex>` on the admin server.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is unreachable (the message says how to start it) or the database
    /// cannot be created.
    pub async fn create(prefix: &str) -> Self {
        let admin = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(err) => panic!(
                "PostgreSQL is not reachable at {admin} ({err}). Start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
                 or set {POSTGRES_ENV} to an admin URL of a server where the user may CREATE DATABASE."
            ),
        };
        let mut bytes = [0_u8; 8];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("system randomness");
        let name = format!("{prefix}_{}", hex_encode(&bytes));
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create scratch database");
        conn.close().await.expect("close admin connection");
        let url = database_url(&admin, &name);
        Self { admin, name, url }
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    /// Best effort, from a plain thread, so it also works while a panicking test unwinds
    /// inside a tokio runtime.
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .map_err(|err| err.to_string())?;
                sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .map_err(|err| err.to_string())?;
                conn.close().await.map_err(|err| err.to_string())
            })
        })
        .join();
        if let Ok(Err(err)) = outcome {
            eprintln!("warning: could not drop scratch database {name}: {err}");
        }
    }
}

/// `admin` with its database path replaced by `name` (query parameters kept).
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
