//! The registration interface against real stores (MemoryStore and Redis)
//! over real UDP, driven by a bare CoAP client.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use lwm2m_coap::{option_number, Request, ResponseCode};
use lwm2m_proto::events::v1::RegistrationKind;
use lwm2m_proto::transport::v1::DownlinkRequest;

async fn register_update_deregister(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;

    let response = dev
        .register(
            "reg-1",
            &["lt=300", "lwm2m=1.1", "b=U"],
            "</>;ct=110,</1/0>,</3/0>",
        )
        .await;
    assert_eq!(response.code, ResponseCode::CREATED);
    let location = response.location_path();
    assert!(
        location.starts_with("/rd/") && location.len() > 4,
        "{location}"
    );
    let (event, body) = events
        .registration("reg-1", RegistrationKind::Registered)
        .await;
    assert_eq!(event.registration_id, location.trim_start_matches("/rd/"));
    assert_eq!(event.node_id, node.handle.node_id);
    assert_eq!(body.lwm2m_version, "1.1");
    assert_eq!(body.lifetime_s, 300);
    assert_eq!(body.supported_formats, vec![110]);
    assert_eq!(body.objects.len(), 2);
    assert!(body.objects_changed);
    assert_eq!(body.address, dev.addr.to_string());
    let stored = store
        .sessions
        .get_by_endpoint("reg-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.address, dev.addr.to_string());
    assert_eq!(stored.node_id, node.handle.node_id);

    // Update without payload: objects unchanged.
    assert_eq!(
        dev.update(&location, &["lt=600"]).await.code,
        ResponseCode::CHANGED
    );
    let (_, body) = events
        .registration("reg-1", RegistrationKind::Updated)
        .await;
    assert_eq!(body.lifetime_s, 600);
    assert!(!body.objects_changed && body.objects.is_empty());

    // Update with a new object list.
    let with_objects = Request::post(&location)
        .with_content_format(40)
        .with_payload(b"</1/0>,</3/0>,</5/0>".to_vec());
    assert_eq!(dev.request(with_objects).await.code, ResponseCode::CHANGED);
    let (_, body) = events
        .registration("reg-1", RegistrationKind::Updated)
        .await;
    assert!(body.objects_changed);
    assert_eq!(body.objects.len(), 3);

    // A transport log line accompanies each exchange.
    events
        .next_matching("transport log", |e| {
            matches!(&e.payload, Some(lwm2m_proto::events::v1::uplink_event::Payload::TransportLog(l)) if l.coap_code == "2.02" || l.message.contains("2.04"))
        })
        .await;

    let delete = dev.request(Request::delete(&location)).await;
    assert_eq!(delete.code, ResponseCode::DELETED);
    events
        .registration("reg-1", RegistrationKind::Deregistered)
        .await;
    assert!(store
        .sessions
        .get_by_endpoint("reg-1")
        .await
        .unwrap()
        .is_none());
    // Gone: a second De-register and an Update are 4.04.
    assert_eq!(
        dev.request(Request::delete(&location)).await.code,
        ResponseCode::NOT_FOUND
    );
    assert_eq!(
        dev.update(&location, &[]).await.code,
        ResponseCode::NOT_FOUND
    );
    let stats = node.handle.stats();
    assert_eq!((stats.registrations, stats.deregistrations), (1, 1));
    node.stop().await;
    store.cleanup().await;
}

async fn update_from_new_port_moves_the_address(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut first = Device::new(node.handle.coap_addr).await;
    let location = first
        .register("nat-1", &["lt=300"], "</3/0>")
        .await
        .location_path();
    // The NAT binding changed: same device, new source port.
    let second = Device::new(node.handle.coap_addr).await;
    assert_eq!(
        second.update(&location, &[]).await.code,
        ResponseCode::CHANGED
    );
    let (_, body) = events
        .registration("nat-1", RegistrationKind::Updated)
        .await;
    assert_eq!(body.address, second.addr.to_string());
    let stored = store
        .sessions
        .get_by_endpoint("nat-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.address, second.addr.to_string());
    // Downlinks now go to the new address.
    second.answer(|_| text("42"));
    let mut grpc = node.grpc().await;
    let response = grpc
        .downlink(DownlinkRequest {
            endpoint: "nat-1".into(),
            operation: Some(
                lwm2m_proto::transport::v1::downlink_request::Operation::Read(
                    lwm2m_proto::transport::v1::ReadOperation {
                        path: "/3/0/9".into(),
                        content_format: None,
                    },
                ),
            ),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.code, "2.05");
    node.stop().await;
    store.cleanup().await;
}

async fn malformed_registrations_are_refused_with_spec_codes(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let dev = Device::new(node.handle.coap_addr).await;

    let unknown = dev.update("/rd/doesnotexist", &[]).await;
    assert_eq!(unknown.code, ResponseCode::NOT_FOUND);

    let no_ep = dev
        .request(Request::post("/rd").with_query("lt", "60"))
        .await;
    assert_eq!(no_ep.code, ResponseCode::BAD_REQUEST);

    let future_version = dev
        .request(
            Request::post("/rd")
                .with_query("ep", "v2")
                .with_query("lwm2m", "2.0"),
        )
        .await;
    assert_eq!(future_version.code, ResponseCode::PRECONDITION_FAILED);

    let bad_lifetime = dev
        .request(
            Request::post("/rd")
                .with_query("ep", "lt0")
                .with_query("lt", "0"),
        )
        .await;
    assert_eq!(bad_lifetime.code, ResponseCode::BAD_REQUEST);

    let wrong_format = dev
        .request(
            Request::post("/rd")
                .with_query("ep", "cf")
                .with_content_format(50)
                .with_payload(b"{}".to_vec()),
        )
        .await;
    assert_eq!(wrong_format.code, ResponseCode::BAD_REQUEST);

    // Tolerated: no Content-Format, no lwm2m (= 1.0), Uri-Host/Uri-Port, unknown parameters.
    let lenient = dev
        .request(
            Request::post("/rd")
                .with_option(option_number::URI_HOST, b"lwm2m.example.com".to_vec())
                .with_option(option_number::URI_PORT, vec![0x16, 0x33])
                .with_query("ep", "lenient")
                .with_query("vendor", "acme")
                .with_query_entry("flag")
                .with_payload(b"</1/0>,</3/0>".to_vec()),
        )
        .await;
    assert_eq!(lenient.code, ResponseCode::CREATED);
    let stored = store
        .sessions
        .get_by_endpoint("lenient")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.lwm2m_version.to_string(), "1.0");
    assert_eq!(stored.objects.len(), 2);
    // 4.00 ×3 and 4.12 are bad requests; the unknown registration is a 4.04.
    let stats = node.handle.stats();
    assert_eq!((stats.bad_requests, stats.not_found), (4, 1), "{stats:?}");
    node.stop().await;
    store.cleanup().await;
}

async fn short_lifetime_expires(backend: Backend) {
    let store = Store::new(backend).await;
    let config = lwm2m_transport::TransportConfig {
        registration_grace: std::time::Duration::ZERO,
        ..test_config()
    };
    let node = TestNode::start_with(
        store.sessions.clone(),
        std::sync::Arc::new(lwm2m_bus::MemoryBus::new(1024)),
        config,
    )
    .await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    assert_eq!(
        dev.register("short", &["lt=1"], "</3/0>").await.code,
        ResponseCode::CREATED
    );
    events
        .registration("short", RegistrationKind::Registered)
        .await;
    events
        .registration("short", RegistrationKind::Expired)
        .await;
    assert!(store
        .sessions
        .get_by_endpoint("short")
        .await
        .unwrap()
        .is_none());
    assert_eq!(node.handle.stats().expirations, 1);
    node.stop().await;
    store.cleanup().await;
}

async fn reregistration_cancels_old_observations(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("rereg", &["lt=300"], "</3/0>").await;
    dev.answer(|req| {
        if req.observe() == Some(0) {
            text("50").with_observe(1).unwrap()
        } else {
            text("50")
        }
    });
    let observed = node
        .handle
        .downlinks()
        .send(
            &lwm2m_transport::Target::endpoint("rereg"),
            lwm2m_transport::Operation::Observe {
                path: "/3/0/9".parse().unwrap(),
                content_format: None,
                attributes: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
    assert!(observed.observation_token.is_some());
    let token = dev.next_inbound().await.token;
    assert_eq!(store.sessions.observations("rereg").await.unwrap().len(), 1);

    let first_id = dev.location.clone().unwrap();
    let again = dev.register("rereg", &["lt=300"], "</3/0>").await;
    assert_eq!(again.code, ResponseCode::CREATED);
    assert_ne!(again.location_path(), first_id, "a new registration id");
    events
        .registration("rereg", RegistrationKind::Registered)
        .await;
    events
        .registration("rereg", RegistrationKind::Registered)
        .await;
    assert!(store
        .sessions
        .observations("rereg")
        .await
        .unwrap()
        .is_empty());
    // The old observation's notifications are rejected.
    dev.notify(node.handle.coap_addr, token, 2, text("51"), true);
    match dev.next_event().await {
        lwm2m_coap::Event::ObservationRejected { reason, .. } => {
            assert_eq!(reason, lwm2m_coap::RejectReason::Reset)
        }
        other => panic!("{other:?}"),
    }
    node.stop().await;
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
    register_update_deregister,
    update_from_new_port_moves_the_address,
    malformed_registrations_are_refused_with_spec_codes,
    short_lifetime_expires,
    reregistration_cancels_old_observations,
);
