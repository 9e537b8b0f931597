//! `TenantService`.

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::tenant_service_server::TenantService;
use tonic::{Request, Response, Status};

use super::convert::tenants::tenant_to_proto;
use super::convert::{non_empty, required};
use crate::ids::{ProfileId, TenantId};
use crate::service::Registry;

pub struct TenantApi(pub Registry);

#[tonic::async_trait]
impl TenantService for TenantApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let req = request.into_inner();
        let t = required(&req.tenant, "tenant")?;
        let id = TenantId::parse(&t.id, "tenant.id")?;
        let mut tenant = self
            .0
            .create_tenant(id.clone(), t.name.clone(), t.auto_provision)
            .await?;
        if let Some(profile) = non_empty(&t.auto_provision_profile_id) {
            // A new tenant has no profiles yet: this always names a stranger's.
            let profile = ProfileId::parse(profile, "tenant.auto_provision_profile_id")?;
            tenant = self
                .0
                .update_tenant(&id, t.name.clone(), t.auto_provision, Some(profile))
                .await?;
        }
        Ok(Response::new(tenant_to_proto(&tenant)))
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let id = TenantId::parse(&request.get_ref().id, "id")?;
        Ok(Response::new(tenant_to_proto(
            &self.0.get_tenant(&id).await?,
        )))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let req = request.into_inner();
        let page = self.0.list_tenants(&req.page_token, req.page_size).await?;
        Ok(Response::new(pb::ListTenantsResponse {
            tenants: page.items.iter().map(tenant_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_tenant(
        &self,
        request: Request<pb::UpdateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let req = request.into_inner();
        let t = required(&req.tenant, "tenant")?;
        let id = TenantId::parse(&t.id, "tenant.id")?;
        let profile = non_empty(&t.auto_provision_profile_id)
            .map(|p| ProfileId::parse(p, "tenant.auto_provision_profile_id"))
            .transpose()?;
        let tenant = self
            .0
            .update_tenant(&id, t.name.clone(), t.auto_provision, profile)
            .await?;
        Ok(Response::new(tenant_to_proto(&tenant)))
    }

    async fn delete_tenant(
        &self,
        request: Request<pb::DeleteTenantRequest>,
    ) -> Result<Response<pb::DeleteTenantResponse>, Status> {
        let id = TenantId::parse(&request.get_ref().id, "id")?;
        self.0.delete_tenant(&id).await?;
        Ok(Response::new(pb::DeleteTenantResponse {}))
    }
}
