//! Device profile operations: validated against the tenant's models.

use super::{Page, Registry, DEFAULT_PAGE, MAX_PAGE};
use crate::change_feed::event;
use crate::clock::now_ms;
use crate::cursor;
use crate::error::Error;
use crate::ids::{ProfileId, TenantId};
use crate::profile::validate::validate;
use crate::profile::{DeviceProfile, ProfileConfig};
use crate::store::Result;
use crate::tenant::validate_name;

/// Object 19: checked by the OTA settings whether or not the profile lists it.
const BINARY_APP_DATA_CONTAINER: u16 = 19;

impl Registry {
    /// Validates and normalises `config` for `tenant` (see [`validate`]).
    async fn checked_config(
        &self,
        tenant: &TenantId,
        mut config: ProfileConfig,
    ) -> Result<ProfileConfig> {
        let mut ids: Vec<u16> = config.objects.iter().map(|o| o.object_id).collect();
        ids.push(BINARY_APP_DATA_CONTAINER);
        let models = self.models_of(Some(tenant), &ids).await?;
        validate(&mut config, &models)?;
        Ok(config)
    }

    pub async fn create_profile(
        &self,
        tenant: TenantId,
        name: String,
        description: String,
        config: ProfileConfig,
    ) -> Result<DeviceProfile> {
        validate_name(&name, "profile.name")?;
        self.get_tenant(&tenant).await?;
        let config = self.checked_config(&tenant, config).await?;
        let now = now_ms();
        let profile = DeviceProfile {
            id: ProfileId::generate(),
            tenant_id: tenant,
            name,
            description,
            config,
            revision: 1,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.store.create_profile(&profile).await?;
        self.publish(event::profile_changed(&profile)).await;
        Ok(profile)
    }

    pub async fn get_profile(&self, id: &ProfileId) -> Result<DeviceProfile> {
        self.store
            .get_profile(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("device profile {id}")))
    }

    pub async fn list_profiles(
        &self,
        tenant: Option<&TenantId>,
        page_token: &str,
        page_size: u32,
    ) -> Result<Page<DeviceProfile>> {
        let limit = cursor::page_size(page_size, DEFAULT_PAGE, MAX_PAGE);
        let after = if page_token.is_empty() {
            None
        } else {
            let mut parts = cursor::decode(page_token, 2)?;
            let id = ProfileId::parse(&parts.pop().unwrap_or_default(), "page_token")?;
            Some((parts.pop().unwrap_or_default(), id))
        };
        let items = self.store.list_profiles(tenant, after, limit + 1).await?;
        Ok(Page::from_overfetch(items, limit, |p| {
            cursor::encode(&[&p.name, p.id.as_str()])
        }))
    }

    /// Replaces name, description and settings; `expected_revision` guards
    /// against overwriting a change the caller has not seen.
    pub async fn update_profile(
        &self,
        id: &ProfileId,
        name: String,
        description: String,
        config: ProfileConfig,
        expected_revision: Option<i64>,
    ) -> Result<DeviceProfile> {
        validate_name(&name, "profile.name")?;
        let existing = self.get_profile(id).await?;
        if let Some(expected) = expected_revision.filter(|r| *r != existing.revision) {
            return Err(Error::RevisionMismatch {
                what: format!("device profile {id}"),
                expected,
                found: existing.revision,
            });
        }
        let config = self.checked_config(&existing.tenant_id, config).await?;
        let profile = DeviceProfile {
            name,
            description,
            config,
            revision: existing.revision + 1,
            updated_at_ms: now_ms(),
            ..existing
        };
        self.store.update_profile(&profile).await?;
        self.publish(event::profile_changed(&profile)).await;
        Ok(profile)
    }

    pub async fn delete_profile(&self, id: &ProfileId) -> Result<()> {
        let profile = self.get_profile(id).await?;
        let tenant = self.get_tenant(&profile.tenant_id).await?;
        if tenant.auto_provision_profile_id.as_ref() == Some(id) {
            return Err(Error::FailedPrecondition(format!(
                "device profile {id} is tenant {:?}'s auto-provisioning profile: change that first",
                tenant.id.as_str()
            )));
        }
        self.store.delete_profile(id).await?;
        self.publish(event::profile_deleted(&profile)).await;
        Ok(())
    }
}
