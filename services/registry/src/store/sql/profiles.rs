//! [`ProfileRepository`] in SQL. The profile's settings are one JSON
//! document (`config_json`), so new settings need no migration.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Sql;
use super::{foreign_key_violation, json_column, limit_i64, to_json, unique_violation, SqlStore};
use crate::error::Error;
use crate::ids::{ProfileId, TenantId};
use crate::profile::DeviceProfile;
use crate::store::{ProfileRepository, Result};

const COLUMNS: &str =
    "p.id, p.tenant_id, p.name, p.description, p.config_json, p.revision, p.created_at_ms, p.updated_at_ms";

fn profile_of(row: &AnyRow) -> Result<DeviceProfile> {
    Ok(DeviceProfile {
        id: ProfileId::parse(&row.try_get::<String, _>("id")?, "device_profiles.id")
            .map_err(Error::corrupt)?,
        tenant_id: TenantId::parse(
            &row.try_get::<String, _>("tenant_id")?,
            "device_profiles.tenant_id",
        )
        .map_err(Error::corrupt)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        config: json_column(row, "config_json")?,
        revision: row.try_get("revision")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn name_taken(p: &DeviceProfile) -> Error {
    Error::already_exists(format!(
        "device profile named {:?} in tenant {:?}",
        p.name,
        p.tenant_id.as_str()
    ))
}

#[async_trait]
impl ProfileRepository for SqlStore {
    async fn create_profile(&self, p: &DeviceProfile) -> Result<()> {
        let _writer = self.writer().await;
        let mut sql = Sql::new(
            "INSERT INTO device_profiles (id, tenant_id, name, description, config_json, revision, created_at_ms, updated_at_ms) VALUES (",
        );
        sql.bind(p.id.as_str())
            .push(", ")
            .bind(p.tenant_id.as_str())
            .push(", ")
            .bind(p.name.as_str())
            .push(", ")
            .bind(p.description.as_str())
            .push(", ")
            .bind(to_json(&p.config)?)
            .push(", ")
            .bind(p.revision)
            .push(", ")
            .bind(p.created_at_ms)
            .push(", ")
            .bind(p.updated_at_ms)
            .push(")");
        match sql.query().execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(e) => match unique_violation(&e) {
                Some(c) if c.contains("name") => Err(name_taken(p)),
                Some(_) => Err(Error::already_exists(format!("device profile {}", p.id))),
                None if foreign_key_violation(&e) => Err(Error::not_found(format!(
                    "tenant {:?}",
                    p.tenant_id.as_str()
                ))),
                None => Err(e.into()),
            },
        }
    }

    async fn get_profile(&self, id: &ProfileId) -> Result<Option<DeviceProfile>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM device_profiles p WHERE p.id = "
        ));
        sql.bind(id.as_str());
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(profile_of).transpose()
    }

    async fn list_profiles(
        &self,
        tenant: Option<&TenantId>,
        after: Option<(String, ProfileId)>,
        limit: usize,
    ) -> Result<Vec<DeviceProfile>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM device_profiles p WHERE 1 = 1"
        ));
        if let Some(t) = tenant {
            sql.push(" AND p.tenant_id = ").bind(t.as_str());
        }
        if let Some((name, id)) = after {
            sql.push(" AND (p.name > ")
                .bind(name.as_str())
                .push(" OR (p.name = ")
                .bind(name)
                .push(" AND p.id > ")
                .bind(id.as_str())
                .push("))");
        }
        sql.push(" ORDER BY p.name, p.id LIMIT ")
            .bind(limit_i64(limit));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(profile_of).collect()
    }

    async fn update_profile(&self, p: &DeviceProfile) -> Result<()> {
        let _writer = self.writer().await;
        let mut sql = Sql::new("UPDATE device_profiles SET name = ");
        sql.bind(p.name.as_str())
            .push(", description = ")
            .bind(p.description.as_str())
            .push(", config_json = ")
            .bind(to_json(&p.config)?)
            .push(", revision = ")
            .bind(p.revision)
            .push(", updated_at_ms = ")
            .bind(p.updated_at_ms)
            .push(" WHERE id = ")
            .bind(p.id.as_str())
            .push(" AND revision = ")
            .bind(p.revision - 1);
        let done = match sql.query().execute(&self.pool).await {
            Ok(done) => done,
            Err(e) if unique_violation(&e).is_some() => return Err(name_taken(p)),
            Err(e) => return Err(e.into()),
        };
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.get_profile(&p.id).await? {
            None => Err(Error::not_found(format!("device profile {}", p.id))),
            Some(stored) => Err(Error::RevisionMismatch {
                what: format!("device profile {}", p.id),
                expected: p.revision - 1,
                found: stored.revision,
            }),
        }
    }

    async fn delete_profile(&self, id: &ProfileId) -> Result<()> {
        let _writer = self.writer().await;
        let mut sql = Sql::new("DELETE FROM device_profiles WHERE id = ");
        sql.bind(id.as_str());
        match sql.query().execute(&self.pool).await {
            Ok(done) if done.rows_affected() == 0 => {
                Err(Error::not_found(format!("device profile {id}")))
            }
            Ok(_) => Ok(()),
            Err(e) if foreign_key_violation(&e) => Err(Error::FailedPrecondition(format!(
                "device profile {id} is used by devices: move them to another profile first"
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
