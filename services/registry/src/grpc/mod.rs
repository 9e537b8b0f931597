//! The gRPC surface: `lwm2m.registry.v1` (tenants, object models, device
//! profiles, devices, lookups), `grpc.health.v1` and server reflection, on
//! one listener. Handlers convert messages (`convert`), call the
//! [`Registry`], and turn its errors into statuses through the one
//! `From<Error> for Status` in `error.rs`.

pub mod convert;
mod devices;
mod lookup;
mod models;
mod profiles;
mod tenants;

use lwm2m_proto::registry::v1::device_profile_service_server::DeviceProfileServiceServer;
use lwm2m_proto::registry::v1::device_service_server::DeviceServiceServer;
use lwm2m_proto::registry::v1::object_model_service_server::ObjectModelServiceServer;
use lwm2m_proto::registry::v1::registry_lookup_service_server::RegistryLookupServiceServer;
use lwm2m_proto::registry::v1::tenant_service_server::TenantServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::error::Error;
use crate::service::Registry;

/// Room for the protobuf framing around an upload of the maximum size.
const FRAMING_ALLOWANCE: usize = 1024 * 1024;

/// Resolves when `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves every registry service on `listener` until `stop` turns true.
pub async fn serve(
    registry: Registry,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DeviceServiceServer<devices::DeviceApi>>()
        .await;
    health
        .set_serving::<ObjectModelServiceServer<models::ModelApi>>()
        .await;
    health
        .set_serving::<DeviceProfileServiceServer<profiles::ProfileApi>>()
        .await;
    health
        .set_serving::<TenantServiceServer<tenants::TenantApi>>()
        .await;
    health
        .set_serving::<RegistryLookupServiceServer<lookup::LookupApi>>()
        .await;
    // Both reflection versions: many installed grpcurl versions and client
    // libraries ask `v1alpha` first and give up on UNIMPLEMENTED.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lwm2m_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| Error::Config(format!("reflection: {e}")))?;
    let reflection = reflection()
        .build_v1()
        .map_err(|e| Error::Config(format!("reflection: {e}")))?;
    let limits = registry.limits().clone();
    let models = ObjectModelServiceServer::new(models::ModelApi(registry.clone()))
        .max_decoding_message_size(limits.max_model_upload_bytes + FRAMING_ALLOWANCE)
        .max_encoding_message_size(usize::MAX);
    let devices = DeviceServiceServer::new(devices::DeviceApi(registry.clone()))
        .max_decoding_message_size(limits.max_csv_bytes + FRAMING_ALLOWANCE);
    let lookups = RegistryLookupServiceServer::new(lookup::LookupApi {
        registry: registry.clone(),
        stop: stop.clone(),
    });
    let mut shutdown = stop;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(TenantServiceServer::new(tenants::TenantApi(
            registry.clone(),
        )))
        .add_service(models)
        .add_service(DeviceProfileServiceServer::new(profiles::ProfileApi(
            registry,
        )))
        .add_service(devices)
        .add_service(lookups)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            stopped(&mut shutdown).await;
        })
        .await?;
    Ok(())
}
