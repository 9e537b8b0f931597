//! Connections to the cluster's gRPC services, each with an error naming
//! the service and the address that could not be reached.

use std::time::Duration;

use lwm2m_proto::dispatch::v1::dispatch_client::DispatchClient;
use lwm2m_proto::registry::v1::device_profile_service_client::DeviceProfileServiceClient;
use lwm2m_proto::registry::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::registry::v1::object_model_service_client::ObjectModelServiceClient;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use tonic::transport::Channel;

use crate::error::Error;

/// Model listings with resources and DDF files can be large; the default
/// 4 MiB answer limit would cut them.
const MAX_ANSWER_BYTES: usize = 64 << 20;

async fn channel(service: &'static str, address: &str) -> Result<Channel, Error> {
    let endpoint = Channel::from_shared(address.to_owned())
        .map_err(|e| Error::Usage(format!("bad {service} address {address:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|source| Error::Connect {
        service,
        address: address.to_owned(),
        source,
    })
}

pub type Transport = TransportClient<Channel>;
pub type Dispatch = DispatchClient<Channel>;

pub async fn transport(address: &str) -> Result<Transport, Error> {
    Ok(TransportClient::new(channel("transport", address).await?))
}

/// The registry's services over one connection.
pub struct Registry {
    pub models: ObjectModelServiceClient<Channel>,
    pub profiles: DeviceProfileServiceClient<Channel>,
    pub devices: DeviceServiceClient<Channel>,
}

pub async fn registry(address: &str) -> Result<Registry, Error> {
    let channel = channel("registry", address).await?;
    Ok(Registry {
        models: ObjectModelServiceClient::new(channel.clone())
            .max_decoding_message_size(MAX_ANSWER_BYTES)
            .max_encoding_message_size(MAX_ANSWER_BYTES),
        profiles: DeviceProfileServiceClient::new(channel.clone()),
        devices: DeviceServiceClient::new(channel).max_encoding_message_size(MAX_ANSWER_BYTES),
    })
}

pub async fn dispatch(address: &str) -> Result<Dispatch, Error> {
    Ok(DispatchClient::new(
        channel("dispatch service", address).await?,
    ))
}
