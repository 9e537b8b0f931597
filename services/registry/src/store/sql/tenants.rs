//! [`TenantRepository`] in SQL.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Sql;
use super::{foreign_key_violation, limit_i64, unique_violation, SqlStore};
use crate::error::Error;
use crate::ids::{ProfileId, TenantId};
use crate::store::{Result, TenantRepository};
use crate::tenant::Tenant;

const TENANT_COLUMNS: &str =
    "t.id, t.name, t.auto_provision, t.auto_provision_profile_id, t.created_at_ms, t.updated_at_ms";

/// The tenant columns when joined to another table, prefixed `t_` so they
/// do not clash with that table's (`tenant_id`, `name`, …).
pub(super) const JOINED_TENANT_COLUMNS: &str = "t.id AS t_id, t.name AS t_name, \
    t.auto_provision AS t_auto_provision, t.auto_provision_profile_id AS t_auto_provision_profile_id, \
    t.created_at_ms AS t_created_at_ms, t.updated_at_ms AS t_updated_at_ms";
pub(super) const JOINED_PREFIX: &str = "t_";

fn tenant_of(row: &AnyRow) -> Result<Tenant> {
    tenant_from(row, "")
}

/// A tenant from columns named `{prefix}id`, `{prefix}name`, ….
pub(super) fn tenant_from(row: &AnyRow, prefix: &str) -> Result<Tenant> {
    let col = |name: &str| format!("{prefix}{name}");
    let profile: Option<String> = row.try_get(col("auto_provision_profile_id").as_str())?;
    Ok(Tenant {
        id: TenantId::parse(&row.try_get::<String, _>(col("id").as_str())?, "tenants.id")
            .map_err(Error::corrupt)?,
        name: row.try_get(col("name").as_str())?,
        auto_provision: row.try_get::<i64, _>(col("auto_provision").as_str())? != 0,
        auto_provision_profile_id: profile
            .map(|p| ProfileId::parse(&p, "tenants.auto_provision_profile_id"))
            .transpose()
            .map_err(Error::corrupt)?,
        created_at_ms: row.try_get(col("created_at_ms").as_str())?,
        updated_at_ms: row.try_get(col("updated_at_ms").as_str())?,
    })
}

fn profile_arg(t: &Tenant) -> Option<String> {
    t.auto_provision_profile_id
        .as_ref()
        .map(|p| p.as_str().to_owned())
}

#[async_trait]
impl TenantRepository for SqlStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let _writer = self.writer().await;
        let mut sql = Sql::new(
            "INSERT INTO tenants (id, name, auto_provision, auto_provision_profile_id, created_at_ms, updated_at_ms) VALUES (",
        );
        sql.bind(tenant.id.as_str())
            .push(", ")
            .bind(tenant.name.as_str())
            .push(", ")
            .bind(i64::from(tenant.auto_provision))
            .push(", ")
            .bind(profile_arg(tenant))
            .push(", ")
            .bind(tenant.created_at_ms)
            .push(", ")
            .bind(tenant.updated_at_ms)
            .push(")");
        match sql.query().execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(Error::already_exists(format!(
                "tenant {:?}",
                tenant.id.as_str()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let mut sql = Sql::new(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = "
        ));
        sql.bind(id.as_str());
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(tenant_of).transpose()
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        let mut sql = Sql::new(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id > "
        ));
        sql.bind(after.map(TenantId::as_str).unwrap_or(""))
            .push(" ORDER BY t.id LIMIT ")
            .bind(limit_i64(limit));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(tenant_of).collect()
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        let _writer = self.writer().await;
        let mut sql = Sql::new("UPDATE tenants SET name = ");
        sql.bind(tenant.name.as_str())
            .push(", auto_provision = ")
            .bind(i64::from(tenant.auto_provision))
            .push(", auto_provision_profile_id = ")
            .bind(profile_arg(tenant))
            .push(", updated_at_ms = ")
            .bind(tenant.updated_at_ms)
            .push(" WHERE id = ")
            .bind(tenant.id.as_str());
        let done = sql.query().execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("tenant {:?}", tenant.id.as_str())));
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<()> {
        let _writer = self.writer().await;
        let mut tx = self.pool.begin().await?;
        let mut models = Sql::new("DELETE FROM object_models WHERE tenant_id = ");
        models.bind(id.as_str());
        models.query().execute(&mut *tx).await?;
        let mut tenant = Sql::new("DELETE FROM tenants WHERE id = ");
        tenant.bind(id.as_str());
        let done = match tenant.query().execute(&mut *tx).await {
            Ok(done) => done,
            Err(e) if foreign_key_violation(&e) => {
                return Err(Error::FailedPrecondition(format!(
                    "tenant {:?} still has device profiles or devices: delete them first",
                    id.as_str()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("tenant {:?}", id.as_str())));
        }
        tx.commit().await?;
        Ok(())
    }
}
