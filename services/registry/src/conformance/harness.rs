//! Fresh databases for conformance cases: a temporary SQLite file, or a
//! uniquely named PostgreSQL database created for the case and dropped
//! after it (`WITH (FORCE)`: the case's pool may still hold connections).

use async_trait::async_trait;
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::Harness;

/// PostgreSQL server the tests use: `$LWM2M_TEST_POSTGRES_URL`, else
/// `postgres://postgres@127.0.0.1:5432/postgres` (trust authentication). It
/// must be reachable: a missing database is a failure, not a skip.
pub const POSTGRES_URL_VAR: &str = "LWM2M_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A SQLite database file in a directory removed with the harness.
pub struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    pub async fn new() -> Self {
        SqliteHarness {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    fn database_url(&self) -> String {
        // A subdirectory that does not exist yet: migrating must create it.
        format!("sqlite://{}/data/registry.db", self.dir.path().display())
    }

    async fn cleanup(&self) {}
}

/// A database of its own on the test PostgreSQL server.
pub struct PostgresHarness {
    admin_url: String,
    name: String,
}

impl PostgresHarness {
    pub async fn new() -> Self {
        let admin_url =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("lwm2m_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin_url} (set {POSTGRES_URL_VAR}) is needed by this test: {e}")
        });
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        PostgresHarness { admin_url, name }
    }
}

#[async_trait]
impl Harness for PostgresHarness {
    fn database_url(&self) -> String {
        let base = self.admin_url.split('?').next().unwrap_or_default();
        let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
        format!("{server}/{}", self.name)
    }

    async fn cleanup(&self) {
        // A pool of the case may still be closing its connections; FORCE
        // ends them, and a retry covers one that connects in between.
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let mut last_error = String::new();
        for _ in 0..5 {
            match PgConnection::connect(&self.admin_url).await {
                Ok(mut admin) => {
                    let result = sqlx::query(&drop).execute(&mut admin).await;
                    let _ = admin.close().await;
                    match result {
                        Ok(_) => return,
                        Err(e) => last_error = e.to_string(),
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        eprintln!("could not drop test database {}: {last_error}", self.name);
    }
}
