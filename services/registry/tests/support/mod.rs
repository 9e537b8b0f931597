//! Shared by the gRPC end-to-end tests: a registry server on 127.0.0.1:0
//! over a fresh database, clients, and a macro that runs a scenario on
//! SQLite and PostgreSQL.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::credentials::Mode;
use lwm2m_proto::registry::v1::object_model_service_client::ObjectModelServiceClient;
use lwm2m_registry::conformance::Harness;
use lwm2m_registry::{RegistryConfig, RegistryDeps, RegistryHandle};
use tonic::transport::Channel;

/// How long any single stream read may take before the test gives up.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Server {
    pub handle: RegistryHandle,
    pub channel: Channel,
}

/// A registry on the harness' database, as `lwm2m run --target registry`
/// starts it, with a client channel to it.
pub async fn start(harness: &dyn Harness) -> Server {
    let config = RegistryConfig {
        grpc_bind: "127.0.0.1:0".parse().unwrap(),
        database_url: harness.database_url(),
        default_tenant: Some("default".into()),
        ..RegistryConfig::default()
    };
    let handle = lwm2m_registry::start(config, RegistryDeps::default(), std::future::pending())
        .await
        .unwrap();
    let channel = Channel::from_shared(format!("http://{}", handle.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server { handle, channel }
}

/// Model uploads and listings are larger than tonic's 4 MB default.
pub fn models_client(channel: &Channel) -> ObjectModelServiceClient<Channel> {
    ObjectModelServiceClient::new(channel.clone())
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20)
}

pub fn psk(identity: &str, key_hex: &str) -> pb::Credentials {
    pb::Credentials {
        mode: Some(Mode::Psk(pb::PskCredentials {
            identity: identity.into(),
            key_hex: key_hex.into(),
            key_redacted: false,
        })),
    }
}

pub fn psk_of(device: &pb::Device) -> pb::PskCredentials {
    match device.credentials.as_ref().and_then(|c| c.mode.clone()) {
        Some(Mode::Psk(p)) => p,
        other => panic!("not PSK: {other:?}"),
    }
}

/// One test per scenario and database; the database is dropped even when
/// the scenario fails.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let harness = lwm2m_registry::conformance::SqliteHarness::new().await;
                    lwm2m_registry::conformance::run(std::sync::Arc::new(harness), super::$scenario).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let harness = lwm2m_registry::conformance::PostgresHarness::new().await;
                    lwm2m_registry::conformance::run(std::sync::Arc::new(harness), super::$scenario).await;
                }
            )*
        }
    };
}
