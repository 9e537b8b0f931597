//! `DeviceService`.

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::device_service_server::DeviceService;
use lwm2m_proto::registry::v1::get_device_request::Key;
use tonic::{Request, Response, Status};

use super::convert::devices::{apply_update, device_to_proto, new_device_from_proto, Secrets};
use super::convert::{non_empty, required};
use crate::device::DeviceFilter;
use crate::error::Error;
use crate::ids::{DeviceId, ProfileId, TenantId};
use crate::service::{CsvRowStatus, Registry};

pub struct DeviceApi(pub Registry);

fn prefixed(error: Error) -> Error {
    super::convert::profiles::prefixed(error, "device")
}

#[tonic::async_trait]
impl DeviceService for DeviceApi {
    async fn create_device(
        &self,
        request: Request<pb::CreateDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let req = request.into_inner();
        let new = new_device_from_proto(required(&req.device, "device")?)?;
        let device = self.0.create_device(new).await.map_err(prefixed)?;
        Ok(Response::new(device_to_proto(&device, Secrets::Redact)))
    }

    async fn get_device(
        &self,
        request: Request<pb::GetDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let req = request.into_inner();
        let device = match &req.key {
            Some(Key::Id(id)) => self.0.get_device(&DeviceId::parse(id, "id")?).await?,
            Some(Key::Endpoint(endpoint)) => self.0.device_by_endpoint(endpoint).await?,
            None => return Err(Error::invalid("key", "give an id or an endpoint").into()),
        };
        let secrets = if req.reveal_secrets {
            Secrets::Reveal
        } else {
            Secrets::Redact
        };
        Ok(Response::new(device_to_proto(&device, secrets)))
    }

    async fn list_devices(
        &self,
        request: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let req = request.into_inner();
        let filter = DeviceFilter {
            tenant: non_empty(&req.tenant_id)
                .map(|t| TenantId::parse(t, "tenant_id"))
                .transpose()?,
            profile: non_empty(&req.profile_id)
                .map(|p| ProfileId::parse(p, "profile_id"))
                .transpose()?,
            name_contains: non_empty(&req.name_contains).map(str::to_owned),
        };
        let page = self
            .0
            .list_devices(&filter, &req.page_token, req.page_size)
            .await?;
        Ok(Response::new(pb::ListDevicesResponse {
            devices: page
                .items
                .iter()
                .map(|d| device_to_proto(d, Secrets::Redact))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_device(
        &self,
        request: Request<pb::UpdateDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let req = request.into_inner();
        let d = required(&req.device, "device")?.clone();
        let id = DeviceId::parse(&d.id, "device.id")?;
        let expected = (d.revision != 0).then_some(d.revision);
        let device = self
            .0
            .update_device(&id, expected, move |stored| apply_update(stored, &d))
            .await
            .map_err(prefixed)?;
        Ok(Response::new(device_to_proto(&device, Secrets::Redact)))
    }

    async fn delete_device(
        &self,
        request: Request<pb::DeleteDeviceRequest>,
    ) -> Result<Response<pb::DeleteDeviceResponse>, Status> {
        let id = DeviceId::parse(&request.get_ref().id, "id")?;
        self.0.delete_device(&id).await?;
        Ok(Response::new(pb::DeleteDeviceResponse {}))
    }

    async fn import_devices_csv(
        &self,
        request: Request<pb::ImportDevicesCsvRequest>,
    ) -> Result<Response<pb::ImportDevicesCsvResponse>, Status> {
        let req = request.into_inner();
        let tenant = TenantId::parse(&req.tenant_id, "tenant_id")?;
        let profile = non_empty(&req.default_profile_id)
            .map(|p| ProfileId::parse(p, "default_profile_id"))
            .transpose()?;
        let report = self
            .0
            .import_devices_csv(&tenant, &req.csv, profile.as_ref(), req.update_existing)
            .await?;
        let count = |s| u32::try_from(report.count(s)).unwrap_or(u32::MAX);
        Ok(Response::new(pb::ImportDevicesCsvResponse {
            created: count(CsvRowStatus::Created),
            updated: count(CsvRowStatus::Updated),
            unchanged: count(CsvRowStatus::Unchanged),
            failed: count(CsvRowStatus::Failed),
            rows: report
                .rows
                .into_iter()
                .map(|r| pb::CsvRowResult {
                    line: u32::try_from(r.line).unwrap_or(u32::MAX),
                    endpoint: r.endpoint,
                    status: match r.status {
                        CsvRowStatus::Created => pb::CsvRowStatus::Created,
                        CsvRowStatus::Updated => pb::CsvRowStatus::Updated,
                        CsvRowStatus::Unchanged => pb::CsvRowStatus::Unchanged,
                        CsvRowStatus::Failed => pb::CsvRowStatus::Failed,
                    } as i32,
                    message: r.message,
                })
                .collect(),
        }))
    }
}
