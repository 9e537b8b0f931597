//! [`OperationStore`] over sqlx's `Any` driver: one set of statements for
//! PostgreSQL and SQLite (`$n` placeholders, TEXT/BIGINT columns, RETURNING).
//! The schema is `migrations/*/0002_dispatch.sql`, applied by the shared
//! migrator (`lwm2m_registry::migrate`, advisory lock on PostgreSQL).
//!
//! SQLite allows one writer at a time: writes take a process-local mutex
//! instead of failing with "database is locked" (standalone is one process).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};
use tokio::sync::{Mutex, MutexGuard};

use super::{
    Created, DeviceKey, ListFilter, NewOperation, OperationRecord, OperationStore, Page,
    StoredAction,
};
use crate::error::{Error, Result};
use crate::lifecycle::{State, Transition};
use crate::render::Outcome;

const COLUMNS: &str = "seq, id, tenant, endpoint, method, params_json, action_json, state, owner, \
    attempts, timeout_ms, post_registration, result_json, created_at_ms, updated_at_ms, expires_at_ms";

pub struct SqlOperationStore {
    pool: AnyPool,
    sqlite: bool,
    writer: Mutex<()>,
}

impl std::fmt::Debug for SqlOperationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlOperationStore")
            .field("sqlite", &self.sqlite)
            .finish_non_exhaustive()
    }
}

fn corrupt(why: impl std::fmt::Display) -> Error {
    Error::Store(format!("corrupt row: {why}"))
}

fn int(row: &AnyRow, column: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(column)?)
}

fn record(row: &AnyRow) -> Result<OperationRecord> {
    let state: String = row.try_get("state")?;
    let outcome: Option<String> = row.try_get("result_json")?;
    let outcome = outcome
        .map(|t| serde_json::from_str::<Outcome>(&t))
        .transpose()
        .map_err(corrupt)?;
    Ok(OperationRecord {
        seq: int(row, "seq")?,
        id: row.try_get("id")?,
        device: DeviceKey::new(
            row.try_get::<String, _>("tenant")?,
            row.try_get::<String, _>("endpoint")?,
        ),
        method: row.try_get("method")?,
        params_json: row.try_get("params_json")?,
        action_json: row.try_get("action_json")?,
        state: State::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        owner: row.try_get("owner")?,
        attempts: u32::try_from(int(row, "attempts")?).map_err(corrupt)?,
        timeout_ms: u32::try_from(int(row, "timeout_ms")?).map_err(corrupt)?,
        post_registration: int(row, "post_registration")? != 0,
        outcome,
        created_at_ms: int(row, "created_at_ms")?,
        updated_at_ms: int(row, "updated_at_ms")?,
        expires_at_ms: int(row, "expires_at_ms")?,
    })
}

fn outcome_text(outcome: Option<&Outcome>) -> Result<Option<String>> {
    outcome
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Store(format!("cannot encode result: {e}")))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n.clamp(1, 10_000)).unwrap_or(10_000)
}

impl SqlOperationStore {
    /// Connects to `url` (`postgres://…` or `sqlite:…`); the schema must be
    /// migrated (see [`crate::migrate`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let sqlite = url.starts_with("sqlite:");
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(Error::Config(format!(
                "dispatch database URL {:?} is neither postgres:// nor sqlite:",
                lwm2m_registry::redact_url(url)
            )));
        }
        sqlx::any::install_default_drivers();
        let options = sqlx::any::AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(SqlOperationStore {
            pool,
            sqlite,
            writer: Mutex::new(()),
        })
    }

    async fn write_lock(&self) -> Option<MutexGuard<'_, ()>> {
        if self.sqlite {
            Some(self.writer.lock().await)
        } else {
            None
        }
    }

    async fn fetch_all<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<Vec<OperationRecord>> {
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
    }

    async fn fetch_optional<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<Option<OperationRecord>> {
        query
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }
}

#[async_trait]
impl OperationStore for SqlOperationStore {
    async fn create(&self, op: NewOperation, cap: usize) -> Result<Created> {
        let sql = format!(
            "INSERT INTO operations (id, tenant, endpoint, method, params_json, action_json, state, \
               attempts, timeout_ms, post_registration, created_at_ms, updated_at_ms, expires_at_ms) \
             SELECT $1, $2, $3, $4, $5, $6, 'PENDING', 0, $7, $8, $9, $9, $10 \
             WHERE (SELECT COUNT(*) FROM operations WHERE tenant = $2 AND endpoint = $3 \
                    AND state IN ('PENDING', 'EXECUTING')) < $11 \
             ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        let mut tx = self.pool.begin().await?;
        if !self.sqlite {
            // Under READ COMMITTED two inserts can both count cap-1 and both
            // go in; a lock per device (held until commit) makes count and
            // insert one step. SQLite is already serialised by the writer
            // mutex above.
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!(
                    "lwm2m-dispatch/{}/{}",
                    op.device.tenant, op.device.endpoint
                ))
                .execute(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(&sql)
            .bind(op.id.clone())
            .bind(op.device.tenant.clone())
            .bind(op.device.endpoint.clone())
            .bind(op.method)
            .bind(op.params_json)
            .bind(op.action_json)
            .bind(i64::from(op.timeout_ms))
            .bind(i64::from(op.post_registration))
            .bind(op.created_at_ms)
            .bind(op.expires_at_ms)
            .bind(limit(cap))
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(record)
            .transpose()?;
        tx.commit().await?;
        if let Some(record) = inserted {
            return Ok(Created::New(record));
        }
        match self.get(&op.id).await? {
            Some(existing) => Ok(Created::Existing(existing)),
            None => Err(Error::TooManyPending {
                endpoint: op.device.endpoint,
                cap,
            }),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<OperationRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = $1");
        self.fetch_optional(sqlx::query(&sql).bind(id.to_owned()))
            .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Page> {
        let before: i64 = match filter.page_token.as_deref() {
            None | Some("") => i64::MAX,
            Some(t) => t
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("page_token {t:?} is not valid")))?,
        };
        let page = match filter.page_size {
            0 => 100,
            n => n.min(1000),
        };
        // States are our own constant names, never caller text.
        let states = if filter.states.is_empty() {
            String::new()
        } else {
            let names: Vec<_> = filter
                .states
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            format!(" AND state IN ({})", names.join(", "))
        };
        let endpoint = if filter.endpoint.is_some() {
            " AND endpoint = $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM operations WHERE tenant = $1 AND seq < $2{endpoint}{states} \
             ORDER BY seq DESC LIMIT $3"
        );
        let mut query = sqlx::query(&sql)
            .bind(filter.tenant.clone())
            .bind(before)
            .bind(limit(page + 1));
        if let Some(endpoint) = &filter.endpoint {
            query = query.bind(endpoint.clone());
        }
        let mut operations = self.fetch_all(query).await?;
        let next = if operations.len() > page {
            operations.truncate(page);
            operations.last().map(|o| o.seq.to_string())
        } else {
            None
        };
        Ok(Page { operations, next })
    }

    async fn next_pending(&self, device: &DeviceKey) -> Result<Option<OperationRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM operations WHERE tenant = $1 AND endpoint = $2 \
             AND state = 'PENDING' ORDER BY seq LIMIT 1"
        );
        self.fetch_optional(
            sqlx::query(&sql)
                .bind(device.tenant.clone())
                .bind(device.endpoint.clone()),
        )
        .await
    }

    async fn claim_next(
        &self,
        device: &DeviceKey,
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<OperationRecord>> {
        // The oldest PENDING row is picked in a sub-select and claimed only
        // if it is still PENDING when the update runs (a racing replica's
        // update re-checks the row and finds it EXECUTING), and only while
        // none of the device's operations is in flight.
        let sql = format!(
            "UPDATE operations SET state = 'EXECUTING', owner = $1, attempts = attempts + 1, \
               updated_at_ms = $2 \
             WHERE seq = (SELECT MIN(seq) FROM operations \
                          WHERE tenant = $3 AND endpoint = $4 AND state = 'PENDING') \
               AND state = 'PENDING' \
               AND NOT EXISTS (SELECT 1 FROM operations \
                               WHERE tenant = $3 AND endpoint = $4 AND state = 'EXECUTING') \
             RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        self.fetch_optional(
            sqlx::query(&sql)
                .bind(owner.to_owned())
                .bind(now_ms)
                .bind(device.tenant.clone())
                .bind(device.endpoint.clone()),
        )
        .await
    }

    async fn finish(
        &self,
        id: &str,
        owner: &str,
        transition: Transition,
        outcome: Option<&Outcome>,
        now_ms: i64,
    ) -> Result<Option<OperationRecord>> {
        let (from, to) = transition.states();
        if from != State::Executing {
            return Err(Error::Store(format!("finish cannot apply {transition:?}")));
        }
        let sql = format!(
            "UPDATE operations SET state = $1, result_json = $2, updated_at_ms = $3 \
             WHERE id = $4 AND state = 'EXECUTING' AND owner = $5 RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        self.fetch_optional(
            sqlx::query(&sql)
                .bind(to.as_str())
                .bind(outcome_text(outcome)?)
                .bind(now_ms)
                .bind(id.to_owned())
                .bind(owner.to_owned()),
        )
        .await
    }

    async fn cancel(&self, id: &str, now_ms: i64) -> Result<Option<OperationRecord>> {
        let outcome = Outcome::failure("CANCELLED", "cancelled before it was sent");
        let sql = format!(
            "UPDATE operations SET state = 'CANCELLED', result_json = $1, updated_at_ms = $2 \
             WHERE id = $3 AND state = 'PENDING' RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        self.fetch_optional(
            sqlx::query(&sql)
                .bind(outcome_text(Some(&outcome))?)
                .bind(now_ms)
                .bind(id.to_owned()),
        )
        .await
    }

    async fn expire(&self, now_ms: i64, max: usize) -> Result<Vec<OperationRecord>> {
        let outcome = Outcome::failure(
            "EXPIRED",
            "the device was not reachable before the operation expired",
        );
        let sql = format!(
            "UPDATE operations SET state = 'FAILED', result_json = $1, updated_at_ms = $2 \
             WHERE seq IN (SELECT seq FROM operations WHERE state = 'PENDING' \
                           AND expires_at_ms <= $2 ORDER BY seq LIMIT $3) \
               AND state = 'PENDING' RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        self.fetch_all(
            sqlx::query(&sql)
                .bind(outcome_text(Some(&outcome))?)
                .bind(now_ms)
                .bind(limit(max)),
        )
        .await
    }

    async fn unstick(
        &self,
        now_ms: i64,
        grace_ms: i64,
        max: usize,
    ) -> Result<Vec<OperationRecord>> {
        let outcome = Outcome::failure(
            "STUCK",
            "no outcome long after the request timeout (the dispatch replica sending it stopped?)",
        );
        let sql = format!(
            "UPDATE operations SET state = 'FAILED', result_json = $1, updated_at_ms = $2 \
             WHERE seq IN (SELECT seq FROM operations WHERE state = 'EXECUTING' \
                           AND updated_at_ms + timeout_ms + $3 <= $2 ORDER BY seq LIMIT $4) \
               AND state = 'EXECUTING' RETURNING {COLUMNS}"
        );
        let _guard = self.write_lock().await;
        self.fetch_all(
            sqlx::query(&sql)
                .bind(outcome_text(Some(&outcome))?)
                .bind(now_ms)
                .bind(grace_ms)
                .bind(limit(max)),
        )
        .await
    }

    async fn devices_with_pending(&self, max: usize) -> Result<Vec<DeviceKey>> {
        let rows = sqlx::query(
            "SELECT tenant, endpoint, MIN(seq) AS first FROM operations WHERE state = 'PENDING' \
             GROUP BY tenant, endpoint ORDER BY first LIMIT $1",
        )
        .bind(limit(max))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeviceKey::new(
                    r.try_get::<String, _>("tenant")?,
                    r.try_get::<String, _>("endpoint")?,
                ))
            })
            .collect()
    }

    async fn set_actions(&self, tenant: &str, actions: &[StoredAction], now_ms: i64) -> Result<()> {
        let json = serde_json::to_string(actions)
            .map_err(|e| Error::Store(format!("cannot encode actions: {e}")))?;
        let _guard = self.write_lock().await;
        sqlx::query(
            "INSERT INTO post_registration_actions (tenant, actions_json, updated_at_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (tenant) \
             DO UPDATE SET actions_json = excluded.actions_json, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.to_owned())
        .bind(json)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn actions(&self, tenant: &str) -> Result<Vec<StoredAction>> {
        let row =
            sqlx::query("SELECT actions_json FROM post_registration_actions WHERE tenant = $1")
                .bind(tenant.to_owned())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Ok(Vec::new()),
            Some(row) => {
                let text: String = row.try_get("actions_json")?;
                serde_json::from_str(&text).map_err(corrupt)
            }
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
