//! Answers the server cannot read with its models, from a fake device:
//! a vendor object with no model answered in TLV keeps its bytes (with a
//! guess, the missing model named, and the object in the registry's
//! unknown-objects list), and a Discover answered in TLV instead of
//! link-format is the device's error with the payload in hex.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use lwm2m_bus::MemoryBus;
use lwm2m_coap::{Method, Request, Response, ResponseCode};
use lwm2m_core::ModelRegistry;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{ResourceValue, UntypedValue, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_proto::transport::v1::*;
use lwm2m_registry::change_feed::BroadcastFeed;
use lwm2m_registry::conformance::{Harness, SqliteHarness};
use lwm2m_registry::device::{Credentials, DeviceSettings};
use lwm2m_registry::ids::TenantId;
use lwm2m_registry::service::{Limits, NewDevice, Registry};
use lwm2m_registry::store::sql::PoolConfig;
use lwm2m_transport::TransportDeps;

fn req(endpoint: &str, op: Op) -> DownlinkRequest {
    DownlinkRequest {
        endpoint: endpoint.into(),
        tenant: String::new(),
        timeout_ms: 10_000,
        operation: Some(op),
    }
}

fn untyped_of(values: &[ResourceValue], path: &str) -> Option<UntypedValue> {
    values
        .iter()
        .find(|v| v.path == path)
        .and_then(|v| match v.value.as_ref()?.kind.as_ref()? {
            Kind::Untyped(u) => Some(u.clone()),
            _ => None,
        })
}

/// A device whose vendor objects answer in TLV (legacy 1542 for /31024,
/// 11542 for /33605), and whose Discover answers in TLV too.
fn vendor_device(request: &Request) -> Response {
    let path = request.path_string();
    match (request.method, path.as_str()) {
        // Resource 1 = 30.5 as a 4-byte float.
        (Method::Get, "/31024/10/1") => {
            Response::content(1542, vec![0xc4, 0x01, 0x41, 0xf4, 0x00, 0x00])
        }
        // Instance 5: resource 1 = 42 (1 byte), resource 2 = "hello".
        (Method::Get, "/33605/5") if request.options.accept() != Some(40) => Response::content(
            11542,
            vec![0xc1, 0x01, 0x2a, 0xc5, 0x02, b'h', b'e', b'l', b'l', b'o'],
        ),
        // Discover answered in TLV, as a real client did.
        (Method::Get, "/33605/5") => Response::content(11542, vec![0xc1, 0x01, 0x2a]),
        (Method::Get, "/3/0") => Response::content(40, b"</3/0>,</3/0/9>".to_vec()),
        _ => Response::new(ResponseCode::NOT_FOUND),
    }
}

/// A Discover answered in TLV is not printed as links: the answer carries
/// the device's error with the payload in hex, and no link-format.
#[tokio::test]
async fn a_discover_answered_in_tlv_is_a_device_error_with_the_payload_in_hex() {
    let store = Store::new(Backend::Memory).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("disco", &["lt=300", "lwm2m=1.1"], "</3/0>,</33605/5>")
        .await;
    dev.answer(vendor_device);
    let mut grpc = node.grpc().await;

    let r = grpc
        .downlink(req(
            "disco",
            Op::Discover(DiscoverOperation {
                path: "/33605/5".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dev.next_inbound().await.request.options.accept(), Some(40));
    assert_eq!(r.code, "2.05");
    assert_eq!(r.link_format, None, "{r:?}");
    assert_eq!(r.content_format, Some(11542));
    let error = r.decode_error.clone().expect("the mismatch is reported");
    assert!(
        error.contains("11542") && error.contains("0xc1012a"),
        "{error}"
    );

    // A link-format answer is still links.
    let ok = grpc
        .downlink(req(
            "disco",
            Op::Discover(DiscoverOperation {
                path: "/3/0".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.link_format.as_deref(), Some("</3/0>,</3/0/9>"));
    assert_eq!(ok.decode_error, None);
    node.stop().await;
    store.cleanup().await;
}

/// Reads of vendor objects no model describes, answered in TLV: the values
/// come back as raw bytes with guesses and the missing model named, on the
/// gRPC answer and on the bus, and the registry lists the object as
/// unknown for the device's tenant (it was not even announced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlv_reads_of_objects_without_a_model_keep_the_bytes_and_reach_the_registry() {
    let harness = SqliteHarness::new().await;
    let registry = Registry::connect(
        &harness.database_url(),
        &PoolConfig::default(),
        true,
        Arc::new(BroadcastFeed::default()),
        Limits::default(),
    )
    .await
    .unwrap();
    let tenant = TenantId::parse("vendor", "tenant").unwrap();
    registry
        .create_tenant(tenant.clone(), "Vendor".into(), false)
        .await
        .unwrap();
    registry
        .create_device(NewDevice {
            tenant_id: tenant.clone(),
            endpoint: "vendor-dev".into(),
            name: String::new(),
            profile_id: None,
            credentials: Credentials::NoSec,
            bootstrap_credentials: None,
            settings: DeviceSettings::default(),
        })
        .await
        .unwrap();
    let store = Store::new(Backend::Memory).await;
    let node = TestNode::start_deps(
        test_config(),
        TransportDeps {
            sessions: store.sessions.clone(),
            bus: Arc::new(MemoryBus::new(4096)),
            models: Arc::new(ModelRegistry::with_core_objects()),
            registry: Some(Arc::new(registry.clone())),
            cluster: None,
        },
    )
    .await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    // 33605 is announced with version 1.1; 31024 is not announced at all.
    let registered = dev
        .register(
            "vendor-dev",
            &["lt=300", "lwm2m=1.0"],
            "</3/0>,</33605>;ver=1.1,</33605/5>",
        )
        .await;
    assert_eq!(registered.code, ResponseCode::CREATED);
    dev.answer(vendor_device);
    let mut grpc = node.grpc().await;

    // One resource in legacy TLV: a 4-byte value, guessed float first.
    let r = grpc
        .downlink(req(
            "vendor-dev",
            Op::Read(ReadOperation {
                path: "/31024/10/1".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.05");
    let u = untyped_of(&r.values, "/31024/10/1").unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(u.raw, [0x41, 0xf4, 0x00, 0x00]);
    assert_eq!(u.content_format, 1542);
    assert_eq!(u.guesses[0].kind, Some(Kind::Float(30.5)));
    assert!(u.rendering.contains("guess"), "{}", u.rendering);
    let missing = u.missing_model.unwrap();
    assert_eq!(
        (missing.object_id, missing.version.as_str()),
        (31024, "1.0")
    );
    assert_eq!(r.missing_models.len(), 1);
    let published = events.values("vendor-dev", ValueSource::Read).await;
    assert!(untyped_of(&published.values, "/31024/10/1").is_some());

    // An instance in TLV: every resource kept, the announced version named.
    let r = grpc
        .downlink(req(
            "vendor-dev",
            Op::Read(ReadOperation {
                path: "/33605/5".into(),
                content_format: Some(11542),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    let one = untyped_of(&r.values, "/33605/5/1").unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(one.guesses[0].kind, Some(Kind::Integer(42)));
    let two = untyped_of(&r.values, "/33605/5/2").unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(two.guesses[0].kind, Some(Kind::StringValue("hello".into())));
    let versions: Vec<(u32, String)> = r
        .missing_models
        .iter()
        .map(|m| (m.object_id, m.version.clone()))
        .collect();
    assert_eq!(versions, [(33605, "1.1".to_owned())]);

    // The registry lists both for the tenant, 31024 although never announced.
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = registry.list_unknown_objects(&tenant).await.unwrap();
        if listed.iter().any(|u| u.key.object_id == 31024) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let unknown: Vec<(u16, String, String)> = listed
        .iter()
        .map(|u| {
            (
                u.key.object_id,
                u.key.version.to_string(),
                u.last_endpoint.clone(),
            )
        })
        .collect();
    assert!(
        unknown.contains(&(31024, "1.0".into(), "vendor-dev".into())),
        "{unknown:?}"
    );
    assert!(
        unknown.contains(&(33605, "1.1".into(), "vendor-dev".into())),
        "{unknown:?}"
    );
    assert_eq!(node.handle.stats().decode_failures, 0);
    node.stop().await;
    store.cleanup().await;
    registry.close().await;
    harness.cleanup().await;
}

/// A Send (SenML, which carries its own types) of an object without a model
/// reaches the bus with its values, typed by the SenML form.
#[tokio::test]
async fn a_send_of_an_object_without_a_model_reaches_the_bus() {
    let store = Store::new(Backend::Memory).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("sender", &["lt=300", "lwm2m=1.1"], "</>;ct=110,</33605/5>")
        .await;
    let payload = br#"[{"bn":"/33605/5/","n":"1","v":21.5},{"n":"2","vs":"on"}]"#;
    let answer = dev
        .request(
            Request::post("/dp")
                .with_content_format(110)
                .with_payload(payload.to_vec()),
        )
        .await;
    assert_eq!(answer.code, ResponseCode::CHANGED);
    let sent = events.values("sender", ValueSource::Send).await;
    let kinds: Vec<(String, Option<Kind>)> = sent
        .values
        .iter()
        .map(|v| {
            (
                v.path.clone(),
                v.value.as_ref().and_then(|v| v.kind.clone()),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("/33605/5/1".to_owned(), Some(Kind::Float(21.5))),
            (
                "/33605/5/2".to_owned(),
                Some(Kind::StringValue("on".into()))
            ),
        ]
    );
    node.stop().await;
    store.cleanup().await;
}
