//! Schema migrations: `migrations/postgres` and `migrations/sqlite` at the
//! workspace root, embedded in the binary with `sqlx::migrate!`.
//!
//! On PostgreSQL, migrating holds a session advisory lock
//! ([`MIGRATION_LOCK_KEY`]) so replicas starting together take turns: the
//! first applies what is missing, the others then find nothing to do.
//! (sqlx's migrator takes a lock of its own too; ours is explicit so the
//! guarantee does not rest on a library default.) SQLite databases are
//! single-process (standalone), and migrating creates the file and its
//! directory.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::Connection;

use super::Backend;
use crate::error::Error;

static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The versions of the PostgreSQL migration stream, in order.
pub fn postgres_versions() -> impl Iterator<Item = i64> {
    POSTGRES.iter().map(|m| m.version)
}

/// Key of the PostgreSQL advisory lock held while migrating ("lwm2mreg").
pub const MIGRATION_LOCK_KEY: i64 = 0x6c77_6d32_6d72_6567;

/// What a migration run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    pub backend: Backend,
    /// Versions applied by this run.
    pub applied: Vec<i64>,
    /// The newest version now in the database.
    pub current: Option<i64>,
}

/// Brings the schema at `url` up to date.
pub async fn run(url: &str) -> Result<MigrationReport, Error> {
    match Backend::of_url(url)? {
        Backend::Postgres => run_postgres(url).await,
        Backend::Sqlite => run_sqlite(url).await,
    }
}

async fn run_postgres(url: &str) -> Result<MigrationReport, Error> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    let result = apply(&POSTGRES, &mut conn, Backend::Postgres).await;
    // Unlock even when migrating failed; closing the session would too.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn run_sqlite(url: &str) -> Result<MigrationReport, Error> {
    if let Some(dir) = sqlite_path(url).as_deref().and_then(Path::parent) {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // Readers do not wait for the writer; the mode is stored in the file.
        .journal_mode(SqliteJournalMode::Wal);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let result = apply(&SQLITE, &mut conn, Backend::Sqlite).await;
    let _ = conn.close().await;
    result
}

async fn apply<C: Migrate + Send>(
    migrator: &Migrator,
    conn: &mut C,
    backend: Backend,
) -> Result<MigrationReport, Error> {
    conn.ensure_migrations_table().await?;
    let before = applied_versions(conn).await?;
    migrator.run_direct(conn).await?;
    let after = applied_versions(conn).await?;
    Ok(MigrationReport {
        backend,
        applied: after
            .iter()
            .copied()
            .filter(|v| !before.contains(v))
            .collect(),
        current: after.iter().copied().max(),
    })
}

async fn applied_versions<C: Migrate + Send>(conn: &mut C) -> Result<Vec<i64>, Error> {
    Ok(conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}

/// The file of a `sqlite:` URL (`None` for in-memory databases).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_come_out_of_urls() {
        assert_eq!(
            sqlite_path("sqlite://./data/lwm2m.db?mode=rwc"),
            Some(PathBuf::from("./data/lwm2m.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/lwm2m/r.db"),
            Some(PathBuf::from("/var/lib/lwm2m/r.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn both_streams_hold_the_same_versions() {
        let versions = |m: &Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(&POSTGRES), versions(&SQLITE));
        assert!(!versions(&POSTGRES).is_empty());
    }
}
