//! Tenants.

use lwm2m_proto::registry::v1 as pb;

use crate::tenant::Tenant;

pub fn tenant_to_proto(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        id: t.id.to_string(),
        name: t.name.clone(),
        auto_provision: t.auto_provision,
        auto_provision_profile_id: t
            .auto_provision_profile_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        created_at_ms: t.created_at_ms,
        updated_at_ms: t.updated_at_ms,
    }
}

/// A tenant as a remote registry sent it.
pub fn tenant_from_proto(t: &pb::Tenant) -> Result<Tenant, crate::error::Error> {
    Ok(Tenant {
        id: crate::ids::TenantId::parse(&t.id, "tenant.id")?,
        name: t.name.clone(),
        auto_provision: t.auto_provision,
        auto_provision_profile_id: super::non_empty(&t.auto_provision_profile_id)
            .map(|p| crate::ids::ProfileId::parse(p, "tenant.auto_provision_profile_id"))
            .transpose()?,
        created_at_ms: t.created_at_ms,
        updated_at_ms: t.updated_at_ms,
    })
}
