//! `ObjectModelService`.

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::object_model_service_server::ObjectModelService;
use tonic::{Request, Response, Status};

use super::convert::models::{model_to_proto, ref_to_proto, refs_from_proto, unknown_to_proto};
use super::convert::{non_empty, u16_of, version_of};
use crate::error::Error;
use crate::ids::{Scope, TenantId};
use crate::models::import::DdfFile;
use crate::models::{ModelFilter, ModelKey, ModelView};
use crate::service::Registry;

pub struct ModelApi(pub Registry);

fn field_error((field, reason): (String, String)) -> Error {
    Error::invalid(field, reason)
}

fn optional_tenant(id: &str) -> Result<Option<TenantId>, Error> {
    non_empty(id)
        .map(|t| TenantId::parse(t, "tenant_id"))
        .transpose()
}

#[tonic::async_trait]
impl ObjectModelService for ModelApi {
    async fn import_object_models(
        &self,
        request: Request<pb::ImportObjectModelsRequest>,
    ) -> Result<Response<pb::ImportObjectModelsResponse>, Status> {
        let req = request.into_inner();
        let scope = Scope::parse(&req.tenant_id, "tenant_id")?;
        let files = req
            .files
            .into_iter()
            .map(|f| DdfFile {
                name: f.name,
                content: f.content,
            })
            .collect();
        let report = self
            .0
            .import_models(scope, files, req.skip_non_definitions)
            .await?;
        Ok(Response::new(pb::ImportObjectModelsResponse {
            models: report
                .models
                .iter()
                .map(|m| pb::ImportedModel {
                    object_id: u32::from(m.key.object_id),
                    version: m.key.version.to_string(),
                    name: m.name.clone(),
                    source_name: m.source_name.clone(),
                    replaced: m.replaced,
                })
                .collect(),
            skipped: report
                .skipped
                .into_iter()
                .map(|s| pb::SkippedFile {
                    name: s.file,
                    reason: s.reason,
                })
                .collect(),
            superseded_in_upload: u32::try_from(report.superseded_in_upload).unwrap_or(u32::MAX),
        }))
    }

    async fn list_object_models(
        &self,
        request: Request<pb::ListObjectModelsRequest>,
    ) -> Result<Response<pb::ListObjectModelsResponse>, Status> {
        let req = request.into_inner();
        let view = match pb::ModelView::try_from(req.view) {
            Ok(pb::ModelView::Visible) => ModelView::Visible,
            Ok(pb::ModelView::SystemOnly) => ModelView::SystemOnly,
            Ok(pb::ModelView::TenantOnly) => ModelView::TenantOnly,
            Err(_) => return Err(Error::invalid("view", "unknown value").into()),
        };
        let filter = ModelFilter {
            tenant: optional_tenant(&req.tenant_id)?,
            view,
            object_id: req
                .object_id
                .map(|id| u16_of(id, "object_id"))
                .transpose()
                .map_err(field_error)?,
            version: non_empty(&req.version)
                .map(|v| version_of(v, "version", None))
                .transpose()
                .map_err(field_error)?,
            name_contains: non_empty(&req.name_contains).map(str::to_owned),
        };
        let page = self
            .0
            .list_models(&filter, &req.page_token, req.page_size)
            .await?;
        Ok(Response::new(pb::ListObjectModelsResponse {
            models: page
                .items
                .iter()
                .map(|m| model_to_proto(m, req.include_resources))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_object_model(
        &self,
        request: Request<pb::GetObjectModelRequest>,
    ) -> Result<Response<pb::ObjectModel>, Status> {
        let req = request.into_inner();
        let tenant = optional_tenant(&req.tenant_id)?;
        let object_id = u16_of(req.object_id, "object_id").map_err(field_error)?;
        let version = non_empty(&req.version)
            .map(|v| version_of(v, "version", None))
            .transpose()
            .map_err(field_error)?;
        let record = self
            .0
            .get_model(tenant.as_ref(), object_id, version)
            .await?;
        Ok(Response::new(model_to_proto(&record, true)))
    }

    async fn delete_object_model(
        &self,
        request: Request<pb::DeleteObjectModelRequest>,
    ) -> Result<Response<pb::DeleteObjectModelResponse>, Status> {
        let req = request.into_inner();
        let scope = Scope::parse(&req.tenant_id, "tenant_id")?;
        let key = ModelKey {
            object_id: u16_of(req.object_id, "object_id").map_err(field_error)?,
            version: version_of(&req.version, "version", None).map_err(field_error)?,
        };
        self.0.delete_model(&scope, key).await?;
        Ok(Response::new(pb::DeleteObjectModelResponse {}))
    }

    async fn record_announced_objects(
        &self,
        request: Request<pb::RecordAnnouncedObjectsRequest>,
    ) -> Result<Response<pb::RecordAnnouncedObjectsResponse>, Status> {
        let req = request.into_inner();
        let tenant = TenantId::parse(&req.tenant_id, "tenant_id")?;
        let announced = refs_from_proto(&req.objects, "objects")?;
        let unknown = self
            .0
            .record_announced_objects(&tenant, &req.endpoint, &announced)
            .await?;
        Ok(Response::new(pb::RecordAnnouncedObjectsResponse {
            unknown: unknown.iter().map(ref_to_proto).collect(),
        }))
    }

    async fn list_unknown_objects(
        &self,
        request: Request<pb::ListUnknownObjectsRequest>,
    ) -> Result<Response<pb::ListUnknownObjectsResponse>, Status> {
        let tenant = TenantId::parse(&request.get_ref().tenant_id, "tenant_id")?;
        let objects = self.0.list_unknown_objects(&tenant).await?;
        Ok(Response::new(pb::ListUnknownObjectsResponse {
            objects: objects.iter().map(unknown_to_proto).collect(),
        }))
    }
}
