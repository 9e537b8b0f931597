//! Tenant operations.

use super::{Page, Registry, DEFAULT_PAGE, MAX_PAGE};
use crate::change_feed::event;
use crate::clock::now_ms;
use crate::cursor;
use crate::error::Error;
use crate::ids::{ProfileId, TenantId};
use crate::store::Result;
use crate::tenant::{validate_name, Tenant};

impl Registry {
    pub async fn create_tenant(
        &self,
        id: TenantId,
        name: String,
        auto_provision: bool,
    ) -> Result<Tenant> {
        validate_name(&name, "tenant.name")?;
        let now = now_ms();
        let tenant = Tenant {
            id,
            name,
            auto_provision,
            auto_provision_profile_id: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.store.create_tenant(&tenant).await?;
        self.publish(event::tenant_changed(&tenant.id)).await;
        Ok(tenant)
    }

    /// Creates the tenant unless it exists (the standalone default tenant).
    pub async fn ensure_tenant(&self, id: TenantId, name: String) -> Result<Tenant> {
        if let Some(t) = self.store.get_tenant(&id).await? {
            return Ok(t);
        }
        match self.create_tenant(id.clone(), name, false).await {
            Err(Error::AlreadyExists { .. }) => self.get_tenant(&id).await,
            other => other,
        }
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Tenant> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("tenant {:?}", id.as_str())))
    }

    pub async fn list_tenants(&self, page_token: &str, page_size: u32) -> Result<Page<Tenant>> {
        let limit = cursor::page_size(page_size, DEFAULT_PAGE, MAX_PAGE);
        let after = if page_token.is_empty() {
            None
        } else {
            let parts = cursor::decode(page_token, 1)?;
            Some(TenantId::parse(&parts.concat(), "page_token")?)
        };
        let items = self.store.list_tenants(after.as_ref(), limit + 1).await?;
        Ok(Page::from_overfetch(items, limit, |t| {
            cursor::encode(&[t.id.as_str()])
        }))
    }

    /// Replaces name and auto-provisioning; the profile must be the tenant's.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        name: String,
        auto_provision: bool,
        auto_provision_profile_id: Option<ProfileId>,
    ) -> Result<Tenant> {
        validate_name(&name, "tenant.name")?;
        let existing = self.get_tenant(id).await?;
        if let Some(profile_id) = &auto_provision_profile_id {
            let profile = self.store.get_profile(profile_id).await?;
            if profile.is_none_or(|p| &p.tenant_id != id) {
                return Err(Error::invalid(
                    "tenant.auto_provision_profile_id",
                    format!(
                        "tenant {:?} has no device profile {profile_id}",
                        id.as_str()
                    ),
                ));
            }
        }
        let tenant = Tenant {
            name,
            auto_provision,
            auto_provision_profile_id,
            updated_at_ms: now_ms(),
            ..existing
        };
        self.store.update_tenant(&tenant).await?;
        self.publish(event::tenant_changed(&tenant.id)).await;
        Ok(tenant)
    }

    pub async fn delete_tenant(&self, id: &TenantId) -> Result<()> {
        self.store.delete_tenant(id).await?;
        self.publish(event::tenant_deleted(id)).await;
        Ok(())
    }
}
