//! [`ObjectModelRepository`] in SQL.
//!
//! The tenant's view of the models is computed in the query: its own rows,
//! plus system rows (`tenant_id = ''`) it has no override for.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use lwm2m_core::{ObjectModel, Version};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Sql;
use super::{json_column, like_pattern, limit_i64, to_json, u16_column, u8_column, SqlStore};
use crate::error::Error;
use crate::ids::{Scope, TenantId};
use crate::models::{
    ModelFilter, ModelKey, ModelRecord, ModelView, NewModel, PutOutcome, UnknownObject,
};
use crate::store::{ObjectModelRepository, Result};

const COLUMNS: &str = "m.tenant_id, m.object_id, m.version_major, m.version_minor, m.source_name, m.model_json, m.created_at_ms, m.updated_at_ms";

/// Rows per multi-row INSERT: 10 parameters each, far below both databases'
/// parameter limits, few round trips for a whole registry.
const INSERT_BATCH: usize = 100;

fn record_of(row: &AnyRow, with_xml: bool) -> Result<ModelRecord> {
    let scope =
        Scope::from_db_key(&row.try_get::<String, _>("tenant_id")?).map_err(Error::corrupt)?;
    Ok(ModelRecord {
        scope,
        model: json_column(row, "model_json")?,
        source_name: row.try_get("source_name")?,
        ddf_xml: if with_xml {
            Some(row.try_get("ddf_xml")?)
        } else {
            None
        },
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn key_of(row: &AnyRow) -> Result<ModelKey> {
    Ok(ModelKey {
        object_id: u16_column(row, "object_id")?,
        version: Version::new(
            u8_column(row, "version_major")?,
            u8_column(row, "version_minor")?,
        ),
    })
}

/// `AND <m's row is visible to tenant>`.
fn push_visible(sql: &mut Sql, tenant: Option<&TenantId>) {
    match tenant {
        None => {
            sql.push(" AND m.tenant_id = ''");
        }
        Some(t) => {
            sql.push(" AND (m.tenant_id = ")
                .bind(t.as_str())
                .push(
                    " OR (m.tenant_id = '' AND NOT EXISTS (SELECT 1 FROM object_models o \
                     WHERE o.object_id = m.object_id AND o.version_major = m.version_major \
                     AND o.version_minor = m.version_minor AND o.tenant_id = ",
                )
                .bind(t.as_str())
                .push(")))");
        }
    }
}

fn push_key(sql: &mut Sql, alias: &str, key: ModelKey) {
    sql.push(&format!(" AND {alias}.object_id = "))
        .bind(i64::from(key.object_id))
        .push(&format!(" AND {alias}.version_major = "))
        .bind(i64::from(key.version.major))
        .push(&format!(" AND {alias}.version_minor = "))
        .bind(i64::from(key.version.minor));
}

impl SqlStore {
    async fn insert_models(
        &self,
        scope: &Scope,
        models: &[NewModel],
        now_ms: i64,
        on_conflict: &str,
    ) -> Result<u64> {
        // One row per key: a statement may not upsert the same row twice.
        let mut unique: BTreeMap<ModelKey, &NewModel> = BTreeMap::new();
        for m in models {
            let key = ModelKey {
                object_id: m.model.id,
                version: m.model.version,
            };
            unique.insert(key, m);
        }
        let models: Vec<&NewModel> = unique.into_values().collect();
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for batch in models.chunks(INSERT_BATCH) {
            let mut sql = Sql::new(
                "INSERT INTO object_models (tenant_id, object_id, version_major, version_minor, \
                 name, source_name, ddf_xml, model_json, created_at_ms, updated_at_ms) VALUES ",
            );
            for (i, m) in batch.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(scope.db_key())
                    .push(", ")
                    .bind(i64::from(m.model.id))
                    .push(", ")
                    .bind(i64::from(m.model.version.major))
                    .push(", ")
                    .bind(i64::from(m.model.version.minor))
                    .push(", ")
                    .bind(m.model.name.as_str())
                    .push(", ")
                    .bind(m.source_name.as_str())
                    .push(", ")
                    .bind(m.ddf_xml.as_str())
                    .push(", ")
                    .bind(to_json(&m.model)?)
                    .push(", ")
                    .bind(now_ms)
                    .push(", ")
                    .bind(now_ms)
                    .push(")");
            }
            sql.push(on_conflict);
            written += sql.query().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }
}

#[async_trait]
impl ObjectModelRepository for SqlStore {
    async fn put_models(
        &self,
        scope: &Scope,
        models: &[NewModel],
        now_ms: i64,
    ) -> Result<Vec<PutOutcome>> {
        let _writer = self.writer().await;
        let mut existing_sql = Sql::new(
            "SELECT m.object_id, m.version_major, m.version_minor FROM object_models m WHERE m.tenant_id = ",
        );
        existing_sql.bind(scope.db_key());
        let existing: BTreeSet<ModelKey> = existing_sql
            .query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_of)
            .collect::<Result<_>>()?;
        self.insert_models(
            scope,
            models,
            now_ms,
            " ON CONFLICT (tenant_id, object_id, version_major, version_minor) DO UPDATE SET \
             name = excluded.name, source_name = excluded.source_name, ddf_xml = excluded.ddf_xml, \
             model_json = excluded.model_json, updated_at_ms = excluded.updated_at_ms",
        )
        .await?;
        Ok(models
            .iter()
            .map(|m| {
                let key = ModelKey {
                    object_id: m.model.id,
                    version: m.model.version,
                };
                PutOutcome {
                    key,
                    replaced: existing.contains(&key),
                }
            })
            .collect())
    }

    async fn insert_missing_models(
        &self,
        scope: &Scope,
        models: &[NewModel],
        now_ms: i64,
    ) -> Result<usize> {
        let _writer = self.writer().await;
        let written = self
            .insert_models(scope, models, now_ms, " ON CONFLICT DO NOTHING")
            .await?;
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }

    async fn get_model(&self, scope: &Scope, key: ModelKey) -> Result<Option<ModelRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS}, m.ddf_xml FROM object_models m WHERE m.tenant_id = "
        ));
        sql.bind(scope.db_key());
        push_key(&mut sql, "m", key);
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.map(|r| record_of(&r, true)).transpose()
    }

    async fn visible_model(
        &self,
        tenant: Option<&TenantId>,
        object_id: u16,
        version: Option<Version>,
    ) -> Result<Option<ModelRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS}, m.ddf_xml FROM object_models m WHERE m.object_id = "
        ));
        sql.bind(i64::from(object_id));
        push_visible(&mut sql, tenant);
        if let Some(v) = version {
            sql.push(" AND m.version_major = ")
                .bind(i64::from(v.major))
                .push(" AND m.version_minor = ")
                .bind(i64::from(v.minor));
        }
        sql.push(" ORDER BY m.version_major DESC, m.version_minor DESC LIMIT 1");
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.map(|r| record_of(&r, true)).transpose()
    }

    async fn list_models(
        &self,
        filter: &ModelFilter,
        after: Option<ModelKey>,
        limit: usize,
    ) -> Result<Vec<ModelRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM object_models m WHERE 1 = 1"
        ));
        let tenant = filter.tenant.as_ref();
        match (filter.view, tenant) {
            (ModelView::Visible, _) | (ModelView::SystemOnly, None) => {
                push_visible(&mut sql, tenant)
            }
            (ModelView::SystemOnly, Some(_)) => {
                sql.push(" AND m.tenant_id = ''");
            }
            (ModelView::TenantOnly, Some(t)) => {
                sql.push(" AND m.tenant_id = ").bind(t.as_str());
            }
            (ModelView::TenantOnly, None) => return Ok(Vec::new()),
        }
        if let Some(id) = filter.object_id {
            sql.push(" AND m.object_id = ").bind(i64::from(id));
        }
        if let Some(v) = filter.version {
            sql.push(" AND m.version_major = ")
                .bind(i64::from(v.major))
                .push(" AND m.version_minor = ")
                .bind(i64::from(v.minor));
        }
        if let Some(name) = filter.name_contains.as_deref().filter(|n| !n.is_empty()) {
            sql.push(" AND lower(m.name) LIKE ")
                .bind(like_pattern(name))
                .push(" ESCAPE '\\'");
        }
        if let Some(k) = after {
            let (id, major, minor) = (
                i64::from(k.object_id),
                i64::from(k.version.major),
                i64::from(k.version.minor),
            );
            sql.push(" AND (m.object_id > ")
                .bind(id)
                .push(" OR (m.object_id = ")
                .bind(id)
                .push(" AND (m.version_major > ")
                .bind(major)
                .push(" OR (m.version_major = ")
                .bind(major)
                .push(" AND m.version_minor > ")
                .bind(minor)
                .push("))))");
        }
        sql.push(" ORDER BY m.object_id, m.version_major, m.version_minor LIMIT ")
            .bind(limit_i64(limit));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(|r| record_of(r, false)).collect()
    }

    async fn visible_models(
        &self,
        tenant: Option<&TenantId>,
        object_ids: &[u16],
    ) -> Result<Vec<ObjectModel>> {
        let mut sql = Sql::new("SELECT m.model_json FROM object_models m WHERE 1 = 1");
        push_visible(&mut sql, tenant);
        if !object_ids.is_empty() {
            sql.push(" AND m.object_id IN (")
                .bind_list(object_ids.iter().map(|id| i64::from(*id)))
                .push(")");
        }
        sql.push(" ORDER BY m.object_id, m.version_major, m.version_minor");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(|r| json_column(r, "model_json")).collect()
    }

    async fn delete_model(&self, scope: &Scope, key: ModelKey) -> Result<bool> {
        let _writer = self.writer().await;
        let mut sql = Sql::new("DELETE FROM object_models WHERE tenant_id = ");
        sql.bind(scope.db_key());
        push_key(&mut sql, "object_models", key);
        Ok(sql.query().execute(&self.pool).await?.rows_affected() > 0)
    }

    async fn record_unknown_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
        now_ms: i64,
    ) -> Result<Vec<ModelKey>> {
        if announced.is_empty() {
            return Ok(Vec::new());
        }
        let ids: BTreeSet<u16> = announced.iter().map(|k| k.object_id).collect();
        let mut known_sql = Sql::new(
            "SELECT m.object_id, m.version_major, m.version_minor FROM object_models m WHERE m.object_id IN (",
        );
        known_sql
            .bind_list(ids.iter().map(|id| i64::from(*id)))
            .push(") AND m.tenant_id IN ('', ")
            .bind(tenant.as_str())
            .push(")");
        let known: BTreeSet<ModelKey> = known_sql
            .query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_of)
            .collect::<Result<_>>()?;
        let unknown: Vec<ModelKey> = announced
            .iter()
            .copied()
            .filter(|k| !known.contains(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if unknown.is_empty() {
            return Ok(unknown);
        }
        let _writer = self.writer().await;
        let mut sql = Sql::new(
            "INSERT INTO unknown_objects (tenant_id, object_id, version_major, version_minor, \
             first_seen_ms, last_seen_ms, last_endpoint, seen_count) VALUES ",
        );
        for (i, k) in unknown.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(tenant.as_str())
                .push(", ")
                .bind(i64::from(k.object_id))
                .push(", ")
                .bind(i64::from(k.version.major))
                .push(", ")
                .bind(i64::from(k.version.minor))
                .push(", ")
                .bind(now_ms)
                .push(", ")
                .bind(now_ms)
                .push(", ")
                .bind(endpoint)
                .push(", 1)");
        }
        sql.push(
            " ON CONFLICT (tenant_id, object_id, version_major, version_minor) DO UPDATE SET \
             last_seen_ms = excluded.last_seen_ms, last_endpoint = excluded.last_endpoint, \
             seen_count = unknown_objects.seen_count + 1",
        );
        sql.query().execute(&self.pool).await?;
        Ok(unknown)
    }

    async fn list_unknown_objects(&self, tenant: &TenantId) -> Result<Vec<UnknownObject>> {
        let mut sql = Sql::new(
            "SELECT u.object_id, u.version_major, u.version_minor, u.first_seen_ms, u.last_seen_ms, \
             u.last_endpoint, u.seen_count FROM unknown_objects u WHERE u.tenant_id = ",
        );
        sql.bind(tenant.as_str())
            .push(
                " AND NOT EXISTS (SELECT 1 FROM object_models m WHERE m.object_id = u.object_id \
                 AND m.version_major = u.version_major AND m.version_minor = u.version_minor \
                 AND m.tenant_id IN ('', ",
            )
            .bind(tenant.as_str())
            .push(")) ORDER BY u.object_id, u.version_major, u.version_minor");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(UnknownObject {
                    tenant: tenant.clone(),
                    key: key_of(row)?,
                    first_seen_ms: row.try_get("first_seen_ms")?,
                    last_seen_ms: row.try_get("last_seen_ms")?,
                    last_endpoint: row.try_get("last_endpoint")?,
                    seen_count: row.try_get("seen_count")?,
                })
            })
            .collect()
    }
}
