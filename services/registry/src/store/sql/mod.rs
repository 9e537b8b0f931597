//! The repositories in SQL, for PostgreSQL and SQLite alike.
//!
//! One implementation serves both databases through sqlx's `Any` driver:
//! the statements use only what both understand (`$n` parameters, `ON
//! CONFLICT`, `RETURNING`, `LIKE … ESCAPE`) and the columns only `TEXT` and
//! `BIGINT` (flags are 0/1), the types `Any` maps the same way for both. What differs — connecting, migrating, the advisory
//! lock — lives in [`migrate`] and [`SqlStore::connect`]. Queries are
//! checked at run time (by the conformance suite, against both databases),
//! so building needs no database.

#[cfg(test)]
mod conformance_runs;
mod devices;
pub mod migrate;
mod models;
mod profiles;
mod query;
mod tenants;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::Error;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://…`/`postgresql://…` or `sqlite:…`.
    pub fn of_url(url: &str) -> Result<Self, Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(Error::Config(format!(
                "database URL {:?} is neither postgres:// nor sqlite:",
                redact(url)
            )))
        }
    }
}

/// Pool settings.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// All repositories over one connection pool.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time, and a transaction that read
    /// before writing fails at once (SQLITE_BUSY, no waiting) when another
    /// connection wrote in between. Serialising this process's writers
    /// avoids that; PostgreSQL needs no such lock.
    sqlite_writer: Mutex<()>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens a pool on `url`. The schema must be migrated
    /// ([`migrate::run`]) first; for SQLite that also creates the file.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<Self, Error> {
        let backend = Backend::of_url(url)?;
        sqlx::any::install_default_drivers();
        let options = sqlx::any::AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(SqlStore {
            pool,
            backend,
            sqlite_writer: Mutex::new(()),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Held for the duration of a write (see `sqlite_writer`).
    async fn writer(&self) -> Option<MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().await),
            Backend::Postgres => None,
        }
    }
}

#[async_trait::async_trait]
impl crate::store::Store for SqlStore {
    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let (head, tail) = (
                url.get(..scheme).unwrap_or(""),
                url.get(at + 1..).unwrap_or(""),
            );
            format!("{head}://***@{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The unique index or constraint a statement violated, if that is why it failed.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(
            db.constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned()),
        ),
        _ => None,
    }
}

fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// Decodes a JSON column.
fn json_column<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| Error::corrupt(format!("column {column}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::corrupt(format!("cannot encode: {e}")))
}

/// A stored id or number that does not fit its type is damage, not a panic.
fn u16_column(row: &AnyRow, column: &str) -> Result<u16, Error> {
    let n: i64 = row.try_get(column)?;
    u16::try_from(n).map_err(|_| Error::corrupt(format!("column {column}: {n} is not a u16")))
}

fn u8_column(row: &AnyRow, column: &str) -> Result<u8, Error> {
    let n: i64 = row.try_get(column)?;
    u8::try_from(n).map_err(|_| Error::corrupt(format!("column {column}: {n} is not a u8")))
}

/// `%needle%` for `lower(column) LIKE … ESCAPE '\'`, with the wildcards of
/// `needle` escaped and ASCII lower-cased like the column.
fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            Backend::of_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::of_url("sqlite://./data/lwm2m.db").unwrap(),
            Backend::Sqlite
        );
        let err = Backend::of_url("mysql://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Temp_1%"), "%temp\\_1\\%%");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://lwm2m:secret@db:5432/reg"),
            "postgres://***@db:5432/reg"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
