//! [`RegistryLookup`] over gRPC, for transport nodes in a cluster: the same
//! questions as the in-process [`Registry`](crate::service::Registry)
//! answers, asked of a registry replica's `RegistryLookupService`.

use std::sync::Arc;

use async_trait::async_trait;
use futures::{stream, StreamExt};
use lwm2m_core::ModelRegistry;
use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::device_profile_service_client::DeviceProfileServiceClient;
use lwm2m_proto::registry::v1::object_model_service_client::ObjectModelServiceClient;
use lwm2m_proto::registry::v1::registry_lookup_service_client::RegistryLookupServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use crate::change_feed::{ChangeStream, FeedError};
use crate::device::SecretKey;
use crate::error::Error;
use crate::grpc::convert::devices::device_from_proto;
use crate::grpc::convert::models::{model_from_proto, ref_to_proto, refs_from_proto};
use crate::grpc::convert::profiles::config_from_proto;
use crate::grpc::convert::tenants::tenant_from_proto;
use crate::ids::{DeviceId, ProfileId, TenantId};
use crate::lookup::{EndpointRecord, PskRecord, RegistryLookup};
use crate::models::ModelKey;
use crate::profile::DeviceProfile;

/// Largest answer accepted (a tenant's models with their resources).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct GrpcLookup {
    lookup: RegistryLookupServiceClient<Channel>,
    profiles: DeviceProfileServiceClient<Channel>,
    models: ObjectModelServiceClient<Channel>,
    /// Where changes come from instead of the registry's `WatchChanges`
    /// stream (Kafka in a cluster: every replica's changes, not one's).
    feed: Option<std::sync::Arc<dyn crate::change_feed::ChangeFeed>>,
}

impl std::fmt::Debug for GrpcLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcLookup")
            .field(
                "changes",
                &if self.feed.is_some() {
                    "feed"
                } else {
                    "WatchChanges"
                },
            )
            .finish_non_exhaustive()
    }
}

impl GrpcLookup {
    /// Connects to `url` (`http://registry:50052`).
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        let url = url.into();
        let channel = Channel::from_shared(url.clone())
            .map_err(|e| Error::Config(format!("registry address {url:?}: {e}")))?
            .connect()
            .await?;
        Ok(Self::new(channel))
    }

    pub fn new(channel: Channel) -> Self {
        GrpcLookup {
            lookup: RegistryLookupServiceClient::new(channel.clone()),
            profiles: DeviceProfileServiceClient::new(channel.clone()),
            models: ObjectModelServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER),
            feed: None,
        }
    }

    /// Takes changes from `feed` (e.g. [`crate::KafkaFeed`]) rather than
    /// from the registry's `WatchChanges` stream.
    pub fn with_changes_from(
        mut self,
        feed: std::sync::Arc<dyn crate::change_feed::ChangeFeed>,
    ) -> Self {
        self.feed = Some(feed);
        self
    }
}

fn endpoint_record(r: pb::LookupEndpointResponse) -> Result<Option<EndpointRecord>, Error> {
    match (r.found, r.device, r.tenant) {
        (true, Some(device), Some(tenant)) => Ok(Some(EndpointRecord {
            device: device_from_proto(&device)?,
            tenant: tenant_from_proto(&tenant)?,
        })),
        _ => Ok(None),
    }
}

fn psk_record(r: pb::LookupPskIdentityResponse) -> Result<Option<PskRecord>, Error> {
    if !r.found {
        return Ok(None);
    }
    Ok(Some(PskRecord {
        device_id: DeviceId::parse(&r.device_id, "device_id")?,
        tenant_id: TenantId::parse(&r.tenant_id, "tenant_id")?,
        endpoint: r.endpoint,
        key: SecretKey::from_bytes(r.key),
    }))
}

#[async_trait]
impl RegistryLookup for GrpcLookup {
    async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<EndpointRecord>, Error> {
        let request = pb::LookupEndpointRequest {
            endpoint: endpoint.to_owned(),
        };
        let r = self
            .lookup
            .clone()
            .lookup_endpoint(request)
            .await
            .map_err(Error::Remote)?
            .into_inner();
        endpoint_record(r)
    }

    async fn auto_provision(
        &self,
        tenant: &TenantId,
        endpoint: &str,
    ) -> Result<Option<EndpointRecord>, Error> {
        let request = pb::AutoProvisionRequest {
            tenant_id: tenant.as_str().to_owned(),
            endpoint: endpoint.to_owned(),
        };
        let r = self
            .lookup
            .clone()
            .auto_provision(request)
            .await
            .map_err(Error::Remote)?
            .into_inner();
        endpoint_record(r)
    }

    async fn lookup_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error> {
        let request = pb::LookupPskIdentityRequest {
            identity: identity.to_owned(),
            bootstrap: false,
        };
        let r = self.lookup.clone().lookup_psk_identity(request).await;
        psk_record(r.map_err(Error::Remote)?.into_inner())
    }

    async fn lookup_bootstrap_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error> {
        let request = pb::LookupPskIdentityRequest {
            identity: identity.to_owned(),
            bootstrap: true,
        };
        let r = self.lookup.clone().lookup_psk_identity(request).await;
        psk_record(r.map_err(Error::Remote)?.into_inner())
    }

    async fn profile(&self, id: &ProfileId) -> Result<Option<Arc<DeviceProfile>>, Error> {
        let request = pb::GetDeviceProfileRequest { id: id.to_string() };
        let p = match self.profiles.clone().get_device_profile(request).await {
            Ok(r) => r.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(Error::Remote(status)),
        };
        Ok(Some(Arc::new(DeviceProfile {
            id: ProfileId::parse(&p.id, "profile.id")?,
            tenant_id: TenantId::parse(&p.tenant_id, "profile.tenant_id")?,
            name: p.name.clone(),
            description: p.description.clone(),
            config: config_from_proto(&p, "profile")?,
            revision: p.revision,
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        })))
    }

    async fn models(&self, tenant: &TenantId) -> Result<ModelRegistry, Error> {
        let mut registry = ModelRegistry::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListObjectModelsRequest {
                tenant_id: tenant.to_string(),
                include_resources: true,
                page_size: 1000,
                page_token,
                ..Default::default()
            };
            let page = self
                .models
                .clone()
                .list_object_models(request)
                .await
                .map_err(Error::Remote)?
                .into_inner();
            for m in &page.models {
                registry.insert(model_from_proto(m)?);
            }
            if page.next_page_token.is_empty() {
                return Ok(registry);
            }
            page_token = page.next_page_token;
        }
    }

    async fn record_announced_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
    ) -> Result<Vec<ModelKey>, Error> {
        let request = pb::RecordAnnouncedObjectsRequest {
            tenant_id: tenant.to_string(),
            endpoint: endpoint.to_owned(),
            objects: announced.iter().map(ref_to_proto).collect(),
        };
        let r = self
            .models
            .clone()
            .record_announced_objects(request)
            .await
            .map_err(Error::Remote)?
            .into_inner();
        refs_from_proto(&r.unknown, "unknown")
    }

    fn changes(&self) -> ChangeStream {
        if let Some(feed) = &self.feed {
            return feed.subscribe();
        }
        let mut client = self.lookup.clone();
        let opened =
            stream::once(async move { client.watch_changes(pb::WatchChangesRequest {}).await });
        let changes = opened.flat_map(|opened| match opened {
            Ok(response) => response
                .into_inner()
                .map(|item| item.map_err(feed_error))
                .boxed(),
            Err(status) => stream::iter([Err(feed_error(status))]).boxed(),
        });
        Box::pin(changes)
    }
}

fn feed_error(status: tonic::Status) -> FeedError {
    if status.code() == Code::DataLoss {
        FeedError::Lagged { missed: 0 }
    } else {
        FeedError::Interrupted(status.to_string())
    }
}
