//! End to end (issue 15): a server Observe that carries notification
//! attributes of its own (LwM2M 1.2, `GET /3/0/9?pmax=1` with Observe = 0)
//! reaches a simulated 1.2 device, which notifies by them; a 1.1 device
//! is refused before anything is sent (Write-Attributes is its way), and an
//! already observed path is not silently joined with other attributes.

// Helper fns unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lwm2m_core::{ModelRegistry, Version};
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_proto::transport::v1::{DownlinkRequest, DownlinkResponse, ObserveOperation};
use lwm2m_sim::{Device, DeviceConfig};
use lwm2m_transport::testing::{Backend, TestNode, PATIENCE};

async fn device(node: &TestNode, endpoint: &str, version: Version) -> Device {
    let device = Device::start(DeviceConfig {
        server: node.handle.coap_addr,
        endpoint: endpoint.into(),
        lwm2m_version: version,
        value_change_interval: None,
        ack_timeout: Duration::from_millis(500),
        register_retry: Duration::from_millis(300),
        ..DeviceConfig::default()
    })
    .await
    .unwrap();
    device.wait_registered(PATIENCE).await.unwrap();
    device
}

async fn observe(
    node: &TestNode,
    endpoint: &str,
    pmax: Option<u32>,
) -> Result<DownlinkResponse, tonic::Status> {
    node.grpc()
        .await
        .downlink(DownlinkRequest {
            endpoint: endpoint.into(),
            tenant: String::new(),
            timeout_ms: 10_000,
            operation: Some(Op::Observe(ObserveOperation {
                path: "/3/0/9".into(),
                pmax,
                ..Default::default()
            })),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn an_observe_with_its_own_attributes_drives_a_1_2_devices_notifications() {
    let node = TestNode::start_on(Backend::Memory, ModelRegistry::with_core_objects()).await;
    let mut v12 = device(&node, "sim-attrs-12", Version::V1_2).await;
    let mut v11 = device(&node, "sim-attrs-11", Version::V1_1).await;

    let started = observe(&node, "sim-attrs-12", Some(1)).await.unwrap();
    assert_eq!(started.code, "2.05", "{started:?}");
    // The value never changes (no simulation): only pmax = 1, which the
    // device got in the Observe itself, makes it notify.
    v12.wait_for(PATIENCE, |s| s.notifications_for("/3/0/9") >= 2)
        .await
        .unwrap();

    let again = observe(&node, "sim-attrs-12", Some(5)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");
    assert!(again.message().contains("already observed"), "{again:?}");

    let older = observe(&node, "sim-attrs-11", Some(1)).await.unwrap_err();
    assert_eq!(older.code(), tonic::Code::InvalidArgument, "{older:?}");
    assert!(older.message().contains("LwM2M 1.2"), "{older:?}");
    assert!(
        !v11.status().is_observed("/3/0/9"),
        "nothing was sent to the 1.1 device"
    );

    v12.shutdown(true).await;
    v11.shutdown(true).await;
    node.stop().await;
}
