//! `DeviceProfileService`.

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::device_profile_service_server::DeviceProfileService;
use tonic::{Request, Response, Status};

use super::convert::profiles::{config_from_proto, prefixed, profile_to_proto};
use super::convert::{non_empty, required};
use crate::ids::{ProfileId, TenantId};
use crate::service::Registry;

pub struct ProfileApi(pub Registry);

#[tonic::async_trait]
impl DeviceProfileService for ProfileApi {
    async fn create_device_profile(
        &self,
        request: Request<pb::CreateDeviceProfileRequest>,
    ) -> Result<Response<pb::DeviceProfile>, Status> {
        let req = request.into_inner();
        let p = required(&req.profile, "profile")?;
        let tenant = TenantId::parse(&p.tenant_id, "profile.tenant_id")?;
        let config = config_from_proto(p, "profile")?;
        let profile = self
            .0
            .create_profile(tenant, p.name.clone(), p.description.clone(), config)
            .await
            .map_err(|e| prefixed(e, "profile"))?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    async fn get_device_profile(
        &self,
        request: Request<pb::GetDeviceProfileRequest>,
    ) -> Result<Response<pb::DeviceProfile>, Status> {
        let id = ProfileId::parse(&request.get_ref().id, "id")?;
        Ok(Response::new(profile_to_proto(
            &self.0.get_profile(&id).await?,
        )))
    }

    async fn list_device_profiles(
        &self,
        request: Request<pb::ListDeviceProfilesRequest>,
    ) -> Result<Response<pb::ListDeviceProfilesResponse>, Status> {
        let req = request.into_inner();
        let tenant = non_empty(&req.tenant_id)
            .map(|t| TenantId::parse(t, "tenant_id"))
            .transpose()?;
        let page = self
            .0
            .list_profiles(tenant.as_ref(), &req.page_token, req.page_size)
            .await?;
        Ok(Response::new(pb::ListDeviceProfilesResponse {
            profiles: page.items.iter().map(profile_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_device_profile(
        &self,
        request: Request<pb::UpdateDeviceProfileRequest>,
    ) -> Result<Response<pb::DeviceProfile>, Status> {
        let req = request.into_inner();
        let p = required(&req.profile, "profile")?;
        let id = ProfileId::parse(&p.id, "profile.id")?;
        let config = config_from_proto(p, "profile")?;
        let expected = (p.revision != 0).then_some(p.revision);
        let profile = self
            .0
            .update_profile(&id, p.name.clone(), p.description.clone(), config, expected)
            .await
            .map_err(|e| prefixed(e, "profile"))?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    async fn delete_device_profile(
        &self,
        request: Request<pb::DeleteDeviceProfileRequest>,
    ) -> Result<Response<pb::DeleteDeviceProfileResponse>, Status> {
        let id = ProfileId::parse(&request.get_ref().id, "id")?;
        self.0.delete_profile(&id).await?;
        Ok(Response::new(pb::DeleteDeviceProfileResponse {}))
    }
}
