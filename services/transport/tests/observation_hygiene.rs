//! Observation hygiene, against real stores over real UDP with a fake
//! device: one observation per device and path, a cancel that ends every
//! observation of the path, and notifications nobody holds any more ended
//! on the device (RFC 7641 §3.6).
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use lwm2m_coap::{Method, Request, Response, ResponseCode, Token};
use lwm2m_proto::events::v1::ValueSource;
use lwm2m_transport::{DownlinkResult, Operation, Target};

/// A device reporting its battery level (/3/0/9): 90 to an Observe, 92 to
/// a plain Read, 91 to a cancel (Observe = 1).
fn battery(request: &Request) -> Response {
    match (request.path_string().as_str(), request.observe()) {
        ("/3/0/9", Some(0)) => text("90").with_observe(1).unwrap(),
        ("/3/0/9", Some(1)) => text("91"),
        ("/3/0/9", None) => text("92"),
        _ => Response::new(ResponseCode::NOT_FOUND),
    }
}

async fn send(node: &TestNode, endpoint: &str, operation: Operation) -> DownlinkResult {
    node.handle
        .downlinks()
        .send(&Target::endpoint(endpoint), operation, None)
        .await
        .unwrap()
}

fn observe_battery() -> Operation {
    Operation::Observe {
        path: "/3/0/9".parse().unwrap(),
        content_format: None,
        attributes: Default::default(),
    }
}

fn cancel_battery() -> Operation {
    Operation::CancelObserve {
        path: "/3/0/9".parse().unwrap(),
    }
}

/// Registers `endpoint`, observes /3/0/9 and returns the observation's token.
async fn observed_device(node: &TestNode, endpoint: &str) -> (Device, Token) {
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register(endpoint, &["lt=300", "lwm2m=1.1"], "</3/0>")
        .await;
    dev.answer(battery);
    let result = send(node, endpoint, observe_battery()).await;
    assert_eq!(result.code, ResponseCode::CONTENT);
    assert!(!result.observation_reused);
    let observe = dev.next_inbound().await;
    assert_eq!(observe.request.observe(), Some(0));
    (dev, observe.token)
}

/// The device answers the next notification with RST (it ends there).
async fn expect_reset(dev: &mut Device, token: Token) {
    match dev.next_event().await {
        lwm2m_coap::Event::ObservationRejected {
            token: t, reason, ..
        } => {
            assert_eq!(t, token);
            assert_eq!(reason, lwm2m_coap::RejectReason::Reset);
        }
        other => panic!("expected RST for {token:?}, got {other:?}"),
    }
}

async fn a_second_observe_of_a_path_reuses_its_observation(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let (mut dev, token) = observed_device(&node, "observed-twice").await;
    events.values("observed-twice", ValueSource::Notify).await;

    let again = send(&node, "observed-twice", observe_battery()).await;
    // The device got a plain Read, not a second Observe.
    let read = dev.next_inbound().await;
    assert_eq!(
        (read.request.method, read.request.path_string().as_str()),
        (Method::Get, "/3/0/9")
    );
    assert_eq!(read.request.observe(), None);
    assert_eq!(
        read.request.options.accept(),
        Some(0),
        "the observation's format"
    );
    assert_eq!(again.code, ResponseCode::CONTENT);
    assert!(again.observation_reused);
    assert_eq!(again.observation_token, Some(hex::encode(token.as_bytes())));
    assert_eq!(int_of(&again.values[0]), Some(92));
    let current = events.values("observed-twice", ValueSource::Notify).await;
    assert_eq!(int_of(&current.values[0]), Some(92));
    assert_eq!(
        current.observation_token,
        Some(hex::encode(token.as_bytes()))
    );
    assert_eq!(
        store
            .sessions
            .observations("observed-twice")
            .await
            .unwrap()
            .len(),
        1
    );

    // The one observation goes on.
    dev.notify(node.handle.coap_addr, token, 2, text("80"), true);
    let notified = events.values("observed-twice", ValueSource::Notify).await;
    assert_eq!(int_of(&notified.values[0]), Some(80));
    node.stop().await;
    store.cleanup().await;
}

async fn cancel_ends_every_observation_of_the_path(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let (mut dev, token) = observed_device(&node, "duplicated").await;
    // A duplicate stored before observations were reused (or by an older node).
    let mut duplicate = store
        .sessions
        .observation_by_token(token.as_bytes())
        .await
        .unwrap()
        .unwrap();
    let duplicate_token = Token::new(&[0xd0, 0xd1, 0xd2, 0xd3]).unwrap();
    duplicate.token = duplicate_token.as_bytes().to_vec();
    store.sessions.add_observation(duplicate).await.unwrap();

    let cancelled = send(&node, "duplicated", cancel_battery()).await;
    assert_eq!(cancelled.code, ResponseCode::CONTENT);
    // The device is told to end both (Observe = 1 with each token).
    let mut cancelled_tokens = Vec::new();
    for _ in 0..2 {
        let cancel = dev.next_inbound().await;
        assert_eq!(cancel.request.observe(), Some(1));
        cancelled_tokens.push(cancel.token);
    }
    cancelled_tokens.sort();
    let mut both = vec![token, duplicate_token];
    both.sort();
    assert_eq!(cancelled_tokens, both);
    assert!(store
        .sessions
        .observations("duplicated")
        .await
        .unwrap()
        .is_empty());

    // Should the device still notify either, nobody holds it: RST ends it.
    for (seq, t) in [(5, duplicate_token), (6, token)] {
        dev.notify(node.handle.coap_addr, t, seq, text("1"), true);
        expect_reset(&mut dev, t).await;
    }
    node.stop().await;
    store.cleanup().await;
}

async fn a_notification_of_an_observation_gone_from_the_store_ends_it(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let (mut dev, token) = observed_device(&node, "forgotten").await;
    // Cancelled through another node (or the store lost it): this node
    // still matches the token locally and acknowledges the notification.
    store
        .sessions
        .remove_observation("forgotten", token.as_bytes())
        .await
        .unwrap();
    dev.notify(node.handle.coap_addr, token, 2, text("70"), true);
    let cancel = dev.next_inbound().await;
    assert_eq!(
        (cancel.request.observe(), cancel.token),
        (Some(1), token),
        "the node cancels the observation nobody holds"
    );
    dev.notify(node.handle.coap_addr, token, 3, text("71"), true);
    expect_reset(&mut dev, token).await;
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
    a_second_observe_of_a_path_reuses_its_observation,
    cancel_ends_every_observation_of_the_path,
    a_notification_of_an_observation_gone_from_the_store_ends_it,
);
