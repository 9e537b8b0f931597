//! End to end: a simulated LwM2M 1.2 device registered with a started
//! transport node is read in LwM2M CBOR (11544), the format it lists, and
//! the transport decodes the answer to the device's values; a 1.1 device
//! beside it is still read in SenML CBOR. A Read-Composite of the 1.2
//! device travels in LwM2M CBOR as well.

// Helper fns unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lwm2m_core::codec::lwm2m_cbor::LwM2mCborCodec;
use lwm2m_core::codec::NodeCodec;
use lwm2m_core::{LwM2mNode, LwM2mPath, ModelRegistry, Version};
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::ResourceValue;
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_proto::transport::v1::{
    DownlinkRequest, DownlinkResponse, ReadCompositeOperation, ReadOperation,
};
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

async fn read(node: &TestNode, endpoint: &str, path: &str) -> DownlinkResponse {
    node.grpc()
        .await
        .downlink(DownlinkRequest {
            endpoint: endpoint.into(),
            tenant: String::new(),
            timeout_ms: 10_000,
            operation: Some(Op::Read(ReadOperation {
                path: path.into(),
                content_format: None,
            })),
        })
        .await
        .unwrap()
        .into_inner()
}

fn value<'a>(r: &'a DownlinkResponse, path: &str) -> &'a Kind {
    r.values
        .iter()
        .find(|v: &&ResourceValue| v.path == path)
        .and_then(|v| v.value.as_ref())
        .and_then(|v| v.kind.as_ref())
        .unwrap_or_else(|| panic!("no value for {path} in {:?}", r.values))
}

#[tokio::test]
async fn a_1_2_device_is_read_in_lwm2m_cbor() {
    let node = TestNode::start_on(Backend::Memory, ModelRegistry::with_core_objects()).await;
    let mut v12 = device(&node, "sim-e2e-12", Version::V1_2).await;
    let mut v11 = device(&node, "sim-e2e-11", Version::V1_1).await;

    let r = read(&node, "sim-e2e-12", "/3/0").await;
    assert_eq!((r.code.as_str(), r.code_name.as_str()), ("2.05", "CONTENT"));
    assert_eq!(r.content_format, Some(11544), "a 1.2 device listing 11544");
    assert_eq!(
        value(&r, "/3/0/0"),
        &Kind::StringValue("lwm2m-cluster".into())
    );
    assert!(matches!(value(&r, "/3/0/9"), Kind::Integer(_)));
    assert!(matches!(value(&r, "/3/0/13"), Kind::Time(_)));
    assert!(matches!(value(&r, "/3/0/11/0"), Kind::Integer(_)));
    // The values are exactly the leaves of the LwM2M CBOR payload.
    let at: LwM2mPath = "/3/0".parse().unwrap();
    let node_read = LwM2mCborCodec
        .decode(&at, r.payload(), &ModelRegistry::with_core_objects())
        .unwrap();
    assert!(matches!(node_read, LwM2mNode::ObjectInstance(_)));
    assert_eq!(node_read.leaves(&at).len(), r.values.len());

    // Read-Composite too: LwM2M CBOR carries composite payloads on 1.2.
    let r = node
        .grpc()
        .await
        .downlink(DownlinkRequest {
            endpoint: "sim-e2e-12".into(),
            tenant: String::new(),
            timeout_ms: 10_000,
            operation: Some(Op::ReadComposite(ReadCompositeOperation {
                paths: vec!["/3/0/0".into(), "/3/0/9".into()],
                content_format: None,
            })),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.05", "{r:?}");
    assert_eq!(r.content_format, Some(11544), "composite in LwM2M CBOR");
    assert_eq!(
        value(&r, "/3/0/0"),
        &Kind::StringValue("lwm2m-cluster".into())
    );
    assert!(matches!(value(&r, "/3/0/9"), Kind::Integer(_)));
    assert_eq!(r.values.len(), 2, "{:?}", r.values);

    let r = read(&node, "sim-e2e-11", "/3/0").await;
    assert_eq!(r.content_format, Some(112), "a 1.1 device: SenML CBOR");
    assert_eq!(
        value(&r, "/3/0/0"),
        &Kind::StringValue("lwm2m-cluster".into())
    );

    v12.shutdown(true).await;
    v11.shutdown(true).await;
    node.stop().await;
}
