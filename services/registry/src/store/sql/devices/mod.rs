//! [`DeviceRepository`] in SQL.
//!
//! The endpoint, the PSK identity and the bootstrap PSK identity each have
//! a unique index across all tenants; a violation becomes
//! [`Error::AlreadyExists`] naming the one that was taken.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Sql;
use super::tenants::{tenant_from, JOINED_PREFIX, JOINED_TENANT_COLUMNS};
use super::{
    foreign_key_violation, json_column, like_pattern, limit_i64, to_json, unique_violation,
    SqlStore,
};
use crate::device::{Device, DeviceFilter};
use crate::error::Error;
use crate::ids::{DeviceId, ProfileId, TenantId};
use crate::store::{DeviceRepository, ImportOutcome, Result};
use crate::tenant::Tenant;

mod import;

pub(super) const COLUMNS: &str = "d.id, d.tenant_id, d.endpoint, d.name, d.profile_id, d.credentials_json, \
                       d.bootstrap_json, d.settings_json, d.revision, d.created_at_ms, d.updated_at_ms";

/// Devices imported per transaction (and per multi-row INSERT: 14
/// parameters each, far below both databases' limits): a 10 MB CSV is a
/// few hundred commits, and SQLite readers are not held off long.
const IMPORT_CHUNK: usize = 250;

pub(super) fn device_of(row: &AnyRow) -> Result<Device> {
    let profile: Option<String> = row.try_get("profile_id")?;
    Ok(Device {
        id: DeviceId::parse(&row.try_get::<String, _>("id")?, "devices.id")
            .map_err(Error::corrupt)?,
        tenant_id: TenantId::parse(&row.try_get::<String, _>("tenant_id")?, "devices.tenant_id")
            .map_err(Error::corrupt)?,
        endpoint: row.try_get("endpoint")?,
        name: row.try_get("name")?,
        profile_id: profile
            .map(|p| ProfileId::parse(&p, "devices.profile_id"))
            .transpose()
            .map_err(Error::corrupt)?,
        credentials: json_column(row, "credentials_json")?,
        bootstrap_credentials: json_column(row, "bootstrap_json")?,
        settings: json_column(row, "settings_json")?,
        revision: row.try_get("revision")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// The error for a violated unique index, naming the value that was taken.
pub(super) fn taken(device: &Device, constraint: &str) -> Error {
    if constraint.contains("bootstrap_psk_identity") {
        Error::already_exists(format!(
            "bootstrap PSK identity {:?}",
            device.bootstrap_psk_identity().unwrap_or_default()
        ))
    } else if constraint.contains("psk_identity") {
        Error::already_exists(format!(
            "PSK identity {:?}",
            device.credentials.psk_identity().unwrap_or_default()
        ))
    } else if constraint.contains("endpoint") {
        Error::already_exists(format!("endpoint {:?}", device.endpoint))
    } else {
        Error::already_exists(format!("device {}", device.id))
    }
}

fn write_error(device: &Device, e: sqlx::Error) -> Error {
    if let Some(constraint) = unique_violation(&e) {
        return taken(device, &constraint);
    }
    if foreign_key_violation(&e) {
        return Error::FailedPrecondition(format!(
            "tenant {:?} or device profile {:?} does not exist",
            device.tenant_id.as_str(),
            device
                .profile_id
                .as_ref()
                .map(ProfileId::as_str)
                .unwrap_or("")
        ));
    }
    e.into()
}

/// `INSERT INTO devices (…) VALUES (…)` for `d`.
pub(super) fn insert_sql(d: &Device) -> Result<Sql> {
    let mut sql = Sql::new(
        "INSERT INTO devices (id, tenant_id, endpoint, name, profile_id, security_mode, psk_identity, \
         bootstrap_psk_identity, credentials_json, bootstrap_json, settings_json, revision, \
         created_at_ms, updated_at_ms) VALUES (",
    );
    sql.bind(d.id.as_str())
        .push(", ")
        .bind(d.tenant_id.as_str())
        .push(", ")
        .bind(d.endpoint.as_str())
        .push(", ")
        .bind(d.name.as_str())
        .push(", ")
        .bind(d.profile_id.as_ref().map(|p| p.as_str().to_owned()))
        .push(", ")
        .bind(d.credentials.mode().as_str())
        .push(", ")
        .bind(d.credentials.psk_identity().map(str::to_owned))
        .push(", ")
        .bind(d.bootstrap_psk_identity().map(str::to_owned))
        .push(", ")
        .bind(to_json(&d.credentials)?)
        .push(", ")
        .bind(to_json(&d.bootstrap_credentials)?)
        .push(", ")
        .bind(to_json(&d.settings)?)
        .push(", ")
        .bind(d.revision)
        .push(", ")
        .bind(d.created_at_ms)
        .push(", ")
        .bind(d.updated_at_ms)
        .push(")");
    Ok(sql)
}

/// `UPDATE devices SET … WHERE id = d.id AND revision = d.revision - 1`.
pub(super) fn update_sql(d: &Device) -> Result<Sql> {
    let mut sql = Sql::new("UPDATE devices SET endpoint = ");
    sql.bind(d.endpoint.as_str())
        .push(", name = ")
        .bind(d.name.as_str())
        .push(", profile_id = ")
        .bind(d.profile_id.as_ref().map(|p| p.as_str().to_owned()))
        .push(", security_mode = ")
        .bind(d.credentials.mode().as_str())
        .push(", psk_identity = ")
        .bind(d.credentials.psk_identity().map(str::to_owned))
        .push(", bootstrap_psk_identity = ")
        .bind(d.bootstrap_psk_identity().map(str::to_owned))
        .push(", credentials_json = ")
        .bind(to_json(&d.credentials)?)
        .push(", bootstrap_json = ")
        .bind(to_json(&d.bootstrap_credentials)?)
        .push(", settings_json = ")
        .bind(to_json(&d.settings)?)
        .push(", revision = ")
        .bind(d.revision)
        .push(", updated_at_ms = ")
        .bind(d.updated_at_ms)
        .push(" WHERE id = ")
        .bind(d.id.as_str())
        .push(" AND revision = ")
        .bind(d.revision - 1);
    Ok(sql)
}

async fn one_device(sql: Sql, exec: impl sqlx::AnyExecutor<'_>) -> Result<Option<Device>> {
    let row = sql.query().fetch_optional(exec).await?;
    row.as_ref().map(device_of).transpose()
}

fn by_column(column: &str, value: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM devices d WHERE d.{column} = "
    ));
    sql.bind(value);
    sql
}

#[async_trait]
impl DeviceRepository for SqlStore {
    async fn create_device(&self, device: &Device) -> Result<()> {
        let _writer = self.writer().await;
        insert_sql(device)?
            .query()
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(device, e))?;
        Ok(())
    }

    async fn get_device(&self, id: &DeviceId) -> Result<Option<Device>> {
        one_device(by_column("id", id.as_str()), &self.pool).await
    }

    async fn device_by_endpoint(&self, endpoint: &str) -> Result<Option<Device>> {
        one_device(by_column("endpoint", endpoint), &self.pool).await
    }

    async fn device_by_psk_identity(&self, identity: &str) -> Result<Option<Device>> {
        one_device(by_column("psk_identity", identity), &self.pool).await
    }

    async fn device_by_bootstrap_psk_identity(&self, identity: &str) -> Result<Option<Device>> {
        one_device(by_column("bootstrap_psk_identity", identity), &self.pool).await
    }

    async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<(Device, Tenant)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS}, {JOINED_TENANT_COLUMNS} FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE d.endpoint = "
        ));
        sql.bind(endpoint);
        let Some(row) = sql.query().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let device = device_of(&row)?;
        let tenant = tenant_from(&row, JOINED_PREFIX)?;
        Ok(Some((device, tenant)))
    }

    async fn list_devices(
        &self,
        filter: &DeviceFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Device>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM devices d WHERE d.endpoint > "
        ));
        sql.bind(after.unwrap_or(""));
        if let Some(t) = &filter.tenant {
            sql.push(" AND d.tenant_id = ").bind(t.as_str());
        }
        if let Some(p) = &filter.profile {
            sql.push(" AND d.profile_id = ").bind(p.as_str());
        }
        if let Some(needle) = filter.name_contains.as_deref().filter(|n| !n.is_empty()) {
            let pattern = like_pattern(needle);
            sql.push(" AND (lower(d.name) LIKE ")
                .bind(pattern.as_str())
                .push(" ESCAPE '\\' OR lower(d.endpoint) LIKE ")
                .bind(pattern)
                .push(" ESCAPE '\\')");
        }
        sql.push(" ORDER BY d.endpoint LIMIT ")
            .bind(limit_i64(limit));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(device_of).collect()
    }

    async fn update_device(&self, device: &Device) -> Result<()> {
        let _writer = self.writer().await;
        let done = update_sql(device)?
            .query()
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(device, e))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.get_device(&device.id).await? {
            None => Err(Error::not_found(format!("device {}", device.id))),
            Some(stored) => Err(Error::RevisionMismatch {
                what: format!("device {:?}", stored.endpoint),
                expected: device.revision - 1,
                found: stored.revision,
            }),
        }
    }

    async fn delete_device(&self, id: &DeviceId) -> Result<Option<Device>> {
        let _writer = self.writer().await;
        let mut tx = self.pool.begin().await?;
        let Some(device) = one_device(by_column("id", id.as_str()), &mut *tx).await? else {
            return Ok(None);
        };
        let mut sql = Sql::new("DELETE FROM devices WHERE id = ");
        sql.bind(id.as_str());
        sql.query().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(device))
    }

    async fn import_devices(
        &self,
        devices: &[Device],
        update_existing: bool,
    ) -> Result<Vec<ImportOutcome>> {
        let mut outcomes = Vec::with_capacity(devices.len());
        for chunk in devices.chunks(IMPORT_CHUNK) {
            let _writer = self.writer().await;
            let mut tx = self.pool.begin().await?;
            outcomes.extend(import::chunk(&mut tx, chunk, update_existing).await?);
            tx.commit().await?;
        }
        Ok(outcomes)
    }
}
