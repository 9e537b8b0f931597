//! Device operations, including bulk registration from CSV.

use std::collections::HashMap;

use super::{Page, Registry, DEFAULT_PAGE, MAX_PAGE};
use crate::change_feed::event;
use crate::clock::now_ms;
use crate::cursor;
use crate::device::csv_import::{self, CsvDevice};
use crate::device::{Credentials, Device, DeviceFilter, DeviceSettings};
use crate::error::Error;
use crate::ids::{DeviceId, ProfileId, TenantId};
use crate::store::{ImportOutcome, Result};

/// A device to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDevice {
    pub tenant_id: TenantId,
    pub endpoint: String,
    /// Empty: the endpoint.
    pub name: String,
    pub profile_id: Option<ProfileId>,
    pub credentials: Credentials,
    pub bootstrap_credentials: Option<Credentials>,
    pub settings: DeviceSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvRowStatus {
    Created,
    Updated,
    Unchanged,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRowResult {
    /// Line in the file; the header is line 1.
    pub line: u64,
    pub endpoint: String,
    pub status: CsvRowStatus,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvReport {
    pub rows: Vec<CsvRowResult>,
}

impl CsvReport {
    pub fn count(&self, status: CsvRowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

impl Registry {
    /// A device's profile must exist and belong to the device's tenant.
    async fn check_profile(&self, tenant: &TenantId, profile: Option<&ProfileId>) -> Result<()> {
        let Some(id) = profile else { return Ok(()) };
        match self.store.get_profile(id).await? {
            Some(p) if &p.tenant_id == tenant => Ok(()),
            _ => Err(Error::invalid(
                "device.profile_id",
                format!("tenant {:?} has no device profile {id}", tenant.as_str()),
            )),
        }
    }

    pub async fn create_device(&self, new: NewDevice) -> Result<Device> {
        self.get_tenant(&new.tenant_id).await?;
        let now = now_ms();
        let name = if new.name.is_empty() {
            new.endpoint.clone()
        } else {
            new.name
        };
        let device = Device {
            id: DeviceId::generate(),
            tenant_id: new.tenant_id,
            endpoint: new.endpoint,
            name,
            profile_id: new.profile_id,
            credentials: new.credentials,
            bootstrap_credentials: new.bootstrap_credentials,
            settings: new.settings,
            revision: 1,
            created_at_ms: now,
            updated_at_ms: now,
        };
        device.validate()?;
        self.check_profile(&device.tenant_id, device.profile_id.as_ref())
            .await?;
        self.store.create_device(&device).await?;
        self.publish(event::device_changed(&device, None)).await;
        Ok(device)
    }

    pub async fn get_device(&self, id: &DeviceId) -> Result<Device> {
        self.store
            .get_device(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("device {id}")))
    }

    pub async fn device_by_endpoint(&self, endpoint: &str) -> Result<Device> {
        self.store
            .device_by_endpoint(endpoint)
            .await?
            .ok_or_else(|| Error::not_found(format!("device with endpoint {endpoint:?}")))
    }

    pub async fn list_devices(
        &self,
        filter: &DeviceFilter,
        page_token: &str,
        page_size: u32,
    ) -> Result<Page<Device>> {
        let limit = cursor::page_size(page_size, DEFAULT_PAGE, MAX_PAGE);
        let after = if page_token.is_empty() {
            None
        } else {
            Some(cursor::decode(page_token, 1)?.concat())
        };
        let items = self
            .store
            .list_devices(filter, after.as_deref(), limit + 1)
            .await?;
        Ok(Page::from_overfetch(items, limit, |d| {
            cursor::encode(&[&d.endpoint])
        }))
    }

    /// Applies `change` to the stored device and stores the result as the
    /// next revision. The tenant, id and timestamps cannot be changed.
    pub async fn update_device(
        &self,
        id: &DeviceId,
        expected_revision: Option<i64>,
        change: impl FnOnce(&mut Device) -> Result<()> + Send,
    ) -> Result<Device> {
        let before = self.get_device(id).await?;
        if let Some(expected) = expected_revision.filter(|r| *r != before.revision) {
            return Err(Error::RevisionMismatch {
                what: format!("device {:?}", before.endpoint),
                expected,
                found: before.revision,
            });
        }
        let mut device = before.clone();
        change(&mut device)?;
        if device.name.is_empty() {
            device.name = device.endpoint.clone();
        }
        device.id = before.id.clone();
        device.tenant_id = before.tenant_id.clone();
        device.created_at_ms = before.created_at_ms;
        device.revision = before.revision + 1;
        device.updated_at_ms = now_ms();
        device.validate()?;
        self.check_profile(&device.tenant_id, device.profile_id.as_ref())
            .await?;
        self.store.update_device(&device).await?;
        self.publish(event::device_changed(&device, Some(&before)))
            .await;
        Ok(device)
    }

    pub async fn delete_device(&self, id: &DeviceId) -> Result<Device> {
        let device = self
            .store
            .delete_device(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("device {id}")))?;
        self.publish(event::device_deleted(&device)).await;
        Ok(device)
    }

    /// Bulk registration: every row is validated on its own and reported;
    /// valid rows are stored (see [`crate::store::DeviceRepository::import_devices`]).
    pub async fn import_devices_csv(
        &self,
        tenant: &TenantId,
        csv: &[u8],
        default_profile: Option<&ProfileId>,
        update_existing: bool,
    ) -> Result<CsvReport> {
        if csv.len() > self.limits.max_csv_bytes {
            return Err(Error::TooLarge {
                what: "the CSV file",
                size: csv.len(),
                limit: self.limits.max_csv_bytes,
            });
        }
        self.get_tenant(tenant).await?;
        if let Some(p) = default_profile {
            self.check_profile(tenant, Some(p)).await?;
        }
        let owned = csv.to_vec();
        let rows = tokio::task::spawn_blocking(move || csv_import::parse(&owned))
            .await
            .map_err(|e| Error::Config(format!("CSV parser task failed: {e}")))??;
        let profiles = self.profile_names(tenant).await?;
        let now = now_ms();
        let mut results: Vec<CsvRowResult> = Vec::with_capacity(rows.len());
        let mut pending: Vec<(usize, Device)> = Vec::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        for row in rows {
            let index = results.len();
            let mut result = CsvRowResult {
                line: row.line,
                endpoint: row.endpoint.clone(),
                status: CsvRowStatus::Failed,
                message: String::new(),
            };
            let device = row
                .parsed
                .and_then(|parsed| to_device(parsed, tenant, default_profile, &profiles, now));
            match device {
                Err(message) => result.message = message,
                Ok(device) => match duplicate_in_file(&device, &mut first_line, row.line) {
                    Some(message) => result.message = message,
                    None => pending.push((index, device)),
                },
            }
            results.push(result);
        }
        let devices: Vec<Device> = pending.iter().map(|(_, d)| d.clone()).collect();
        let outcomes = self.store.import_devices(&devices, update_existing).await?;
        for ((index, device), outcome) in pending.into_iter().zip(outcomes) {
            let Some(result) = results.get_mut(index) else {
                continue;
            };
            match outcome {
                ImportOutcome::Created => {
                    result.status = CsvRowStatus::Created;
                    self.publish(event::device_changed(&device, None)).await;
                }
                ImportOutcome::Updated { previous } => {
                    result.status = CsvRowStatus::Updated;
                    let stored = Device {
                        id: previous.id.clone(),
                        revision: previous.revision + 1,
                        created_at_ms: previous.created_at_ms,
                        ..device
                    };
                    self.publish(event::device_changed(&stored, Some(&previous)))
                        .await;
                }
                ImportOutcome::Unchanged => result.status = CsvRowStatus::Unchanged,
                ImportOutcome::Rejected { reason, .. } => result.message = reason,
            }
        }
        Ok(CsvReport { rows: results })
    }

    /// The tenant's profiles by name and by id, for the CSV `profile` column.
    async fn profile_names(&self, tenant: &TenantId) -> Result<HashMap<String, ProfileId>> {
        let mut names = HashMap::new();
        let mut token = String::new();
        loop {
            let page = self.list_profiles(Some(tenant), &token, 1000).await?;
            for p in page.items {
                names.insert(p.id.to_string(), p.id.clone());
                names.insert(p.name.clone(), p.id);
            }
            if page.next_page_token.is_empty() {
                return Ok(names);
            }
            token = page.next_page_token;
        }
    }
}

fn to_device(
    parsed: CsvDevice,
    tenant: &TenantId,
    default_profile: Option<&ProfileId>,
    profiles: &HashMap<String, ProfileId>,
    now: i64,
) -> std::result::Result<Device, String> {
    let profile_id = match parsed.profile.as_deref() {
        Some(reference) => Some(profiles.get(reference).cloned().ok_or_else(|| {
            format!("column \"profile\": the tenant has no device profile {reference:?}")
        })?),
        None => default_profile.cloned(),
    };
    let device = Device {
        id: DeviceId::generate(),
        tenant_id: tenant.clone(),
        name: parsed.name.unwrap_or_else(|| parsed.endpoint.clone()),
        endpoint: parsed.endpoint,
        profile_id,
        credentials: parsed.credentials,
        bootstrap_credentials: parsed.bootstrap_credentials,
        settings: parsed.settings,
        revision: 1,
        created_at_ms: now,
        updated_at_ms: now,
    };
    device.validate().map_err(|e| e.to_string())?;
    Ok(device)
}

/// The same endpoint or PSK identity twice in one file: the later row fails.
fn duplicate_in_file(
    device: &Device,
    first_line: &mut HashMap<String, u64>,
    line: u64,
) -> Option<String> {
    let names = [
        Some(("endpoint", device.endpoint.as_str())),
        device
            .credentials
            .psk_identity()
            .map(|i| ("PSK identity", i)),
        device
            .bootstrap_psk_identity()
            .map(|i| ("bootstrap PSK identity", i)),
    ];
    for (what, value) in names.into_iter().flatten() {
        if let Some(first) = first_line.get(&format!("{what}\0{value}")) {
            return Some(format!("{what} {value:?} already appears on line {first}"));
        }
    }
    for (what, value) in names.into_iter().flatten() {
        first_line.insert(format!("{what}\0{value}"), line);
    }
    None
}
