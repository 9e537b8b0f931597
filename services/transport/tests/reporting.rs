//! Information reporting (Observe, Observe-Composite notifications) and
//! Send, against real stores over real UDP, including a notification that
//! reaches a second node sharing the store.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use lwm2m_bus::MemoryBus;
use lwm2m_coap::{Request, ResponseCode, Token};
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_cbor::SenmlCborCodec;
use lwm2m_core::codec::TimestampedNodes;
use lwm2m_core::{LwM2mNode, LwM2mResource, Value};
use lwm2m_proto::events::v1::ValueSource;
use lwm2m_transport::{Operation, Target};

/// Registers `endpoint` and starts an Observe of /3/0/9 through the node's
/// downlink API; returns the token the device saw.
async fn observe_battery(node: &TestNode, dev: &mut Device, endpoint: &str) -> Token {
    dev.register(endpoint, &["lt=300", "lwm2m=1.1"], "</3/0>")
        .await;
    dev.answer(|req| {
        if req.observe() == Some(0) {
            text("90").with_observe(1).unwrap()
        } else {
            text("90")
        }
    });
    let result = node
        .handle
        .downlinks()
        .send(
            &Target::endpoint(endpoint),
            Operation::Observe {
                path: "/3/0/9".parse().unwrap(),
                content_format: None,
                attributes: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    let token = dev.next_inbound().await.token;
    assert_eq!(
        result.observation_token,
        Some(hex::encode(token.as_bytes()))
    );
    token
}

async fn con_and_non_notifications_are_published(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    let token = observe_battery(&node, &mut dev, "obs-1").await;
    // The first response is published as a NOTIFY too.
    let first = events.values("obs-1", ValueSource::Notify).await;
    assert_eq!(int_of(&first.values[0]), Some(90));

    dev.notify(node.handle.coap_addr, token, 2, text("81"), true);
    let con = events.values("obs-1", ValueSource::Notify).await;
    assert_eq!(con.values[0].path, "/3/0/9");
    assert_eq!(int_of(&con.values[0]), Some(81));
    assert_eq!(con.observation_token, Some(hex::encode(token.as_bytes())));

    dev.notify(node.handle.coap_addr, token, 3, text("72"), false);
    let non = events.values("obs-1", ValueSource::Notify).await;
    assert_eq!(int_of(&non.values[0]), Some(72));

    let observation = store
        .sessions
        .observation_by_token(token.as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(observation.last_seq, Some(3));
    assert!(node.handle.stats().notifications >= 2);
    node.stop().await;
    store.cleanup().await;
}

async fn notification_with_unknown_token_gets_rst(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("stranger", &["lt=300"], "</3/0>").await;
    let token = Token::new(&[9, 9, 9, 9, 1, 2, 3, 4]).unwrap();
    dev.notify(node.handle.coap_addr, token, 5, text("1"), true);
    match dev.next_event().await {
        lwm2m_coap::Event::ObservationRejected {
            token: t, reason, ..
        } => {
            assert_eq!(t, token);
            assert_eq!(reason, lwm2m_coap::RejectReason::Reset);
        }
        other => panic!("{other:?}"),
    }
    node.wait_stats("an unmatched rejection", |s| s.unmatched_rejected == 1)
        .await;
    node.stop().await;
    store.cleanup().await;
}

async fn send_with_senml_json_and_cbor(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("sender", &["lt=300", "lwm2m=1.1"], "</3/0>")
        .await;

    let json = br#"[{"bn":"/3/0/","bt":1700000000,"n":"9","v":77},{"n":"14","vs":"+02","t":5}]"#;
    let response = dev
        .request(
            Request::post("/dp")
                .with_content_format(110)
                .with_payload(json.to_vec()),
        )
        .await;
    assert_eq!(response.code, ResponseCode::CHANGED);
    let sent = events.values("sender", ValueSource::Send).await;
    let by_path: BTreeMap<_, _> = sent.values.iter().map(|v| (v.path.clone(), v)).collect();
    assert_eq!(int_of(by_path["/3/0/9"]), Some(77));
    assert_eq!(by_path["/3/0/9"].timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(by_path["/3/0/14"].timestamp_ms, Some(1_700_000_005_000));

    let nodes = BTreeMap::from([(
        "/3/0/9".parse().unwrap(),
        LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(66))),
    )]);
    let cbor = SenmlCborCodec
        .encode_timestamped(&[TimestampedNodes {
            time: Some(1_800_000_000.5),
            nodes,
        }])
        .unwrap();
    let response = dev
        .request(
            Request::post("/dp")
                .with_content_format(112)
                .with_payload(cbor),
        )
        .await;
    assert_eq!(response.code, ResponseCode::CHANGED);
    let sent = events.values("sender", ValueSource::Send).await;
    assert_eq!(int_of(&sent.values[0]), Some(66));
    assert_eq!(sent.values[0].timestamp_ms, Some(1_800_000_000_500));

    // Unsupported format and garbage.
    let tlv = dev
        .request(
            Request::post("/dp")
                .with_content_format(11542)
                .with_payload(vec![0xc8, 0x09, 0x01, 0x05]),
        )
        .await;
    assert_eq!(tlv.code, ResponseCode::UNSUPPORTED_CONTENT_FORMAT);
    let garbage = dev
        .request(
            Request::post("/dp")
                .with_content_format(110)
                .with_payload(b"[{".to_vec()),
        )
        .await;
    assert_eq!(garbage.code, ResponseCode::BAD_REQUEST);

    // A device that never registered is not known.
    let stranger = Device::new(node.handle.coap_addr).await;
    let unknown = stranger
        .request(
            Request::post("/dp")
                .with_content_format(110)
                .with_payload(json.to_vec()),
        )
        .await;
    assert_eq!(unknown.code, ResponseCode::NOT_FOUND);
    assert_eq!(node.handle.stats().sends, 2);
    node.stop().await;
    store.cleanup().await;
}

async fn second_node_matches_notification_by_token(backend: Backend) {
    let store = Store::new(backend).await;
    let a = TestNode::start(store.sessions.clone()).await;
    let b = TestNode::start_with(
        store.sessions.clone(),
        Arc::new(MemoryBus::new(1024)),
        test_config(),
    )
    .await;
    let mut events_b = b.events();
    let mut dev = Device::new(a.handle.coap_addr).await;
    let token = observe_battery(&a, &mut dev, "roamer").await;

    // The device's NAT binding now reaches node B.
    dev.notify(b.handle.coap_addr, token, 7, text("33"), true);
    let values = events_b.values("roamer", ValueSource::Notify).await;
    assert_eq!(int_of(&values.values[0]), Some(33));
    assert_eq!(
        values.observation_token,
        Some(hex::encode(token.as_bytes()))
    );
    b.wait_stats("an accepted unmatched notification", |s| {
        s.unmatched_accepted == 1
    })
    .await;
    // B heard from the device last: downlinks now leave through B.
    let reg = store
        .sessions
        .get_by_endpoint("roamer")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.node_id, b.handle.node_id);
    // Later notifications to B match locally.
    dev.notify(b.handle.coap_addr, token, 8, text("34"), false);
    let values = events_b.values("roamer", ValueSource::Notify).await;
    assert_eq!(int_of(&values.values[0]), Some(34));
    assert_eq!(b.handle.stats().unmatched_accepted, 1);
    // A downlink asked of node A is forwarded to B and reaches the device from B.
    dev.answer(|_| text("12"));
    let read = a
        .handle
        .downlinks()
        .send(
            &Target::endpoint("roamer"),
            Operation::Read {
                path: "/3/0/9".parse().unwrap(),
                content_format: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(read.code, ResponseCode::CONTENT);
    assert_eq!(int_of(&read.values[0]), Some(12));
    assert_eq!(a.handle.stats().downlinks_forwarded, 1);
    assert_eq!(b.handle.stats().downlinks, 1);
    a.stop().await;
    b.stop().await;
    store.cleanup().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $( #[tokio::test] async fn $name() { super::$name(Backend::Memory).await } )*
        }
        mod redis {
            use super::*;
            $( #[tokio::test] async fn $name() { super::$name(Backend::Redis).await } )*
        }
    };
}

on_both_backends!(
    con_and_non_notifications_are_published,
    notification_with_unknown_token_gets_rst,
    send_with_senml_json_and_cbor,
    second_node_matches_notification_by_token,
);
