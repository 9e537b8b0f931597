//! Hostile input: garbage datagrams, wrong CoAP version, oversized
//! datagrams, unknown paths and wrong methods are dropped or answered,
//! counted, and the node keeps serving.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use lwm2m_bus::{
    BusError, BusStats, MemoryBus, Reservation, SubscriptionFilter, UplinkBus, UplinkStream,
};
use lwm2m_coap::{option_number, Request, ResponseCode};
use lwm2m_proto::events::v1::UplinkEvent;
use tokio::net::UdpSocket;

/// A bus whose buffer is full while `full` is set (Kafka down, say).
struct FullBus {
    inner: MemoryBus,
    full: AtomicBool,
}

#[async_trait::async_trait]
impl UplinkBus for FullBus {
    fn try_reserve(&self, events: u32) -> Result<Reservation, BusError> {
        if self.full.load(Ordering::SeqCst) {
            Err(BusError::Backpressure { capacity: 0 })
        } else {
            self.inner.try_reserve(events)
        }
    }
    async fn publish_reserved(
        &self,
        r: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError> {
        self.inner.publish_reserved(r, event).await
    }
    fn can_accept(&self) -> bool {
        !self.full.load(Ordering::SeqCst)
    }
    fn subscribe(&self, filter: SubscriptionFilter) -> UplinkStream {
        self.inner.subscribe(filter)
    }
    fn stats(&self) -> BusStats {
        self.inner.stats()
    }
    async fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.inner.flush(timeout).await
    }
}

async fn backpressure_stops_acknowledging_new_uplinks(backend: Backend) {
    let store = Store::new(backend).await;
    let bus = Arc::new(FullBus {
        inner: MemoryBus::new(1024),
        full: AtomicBool::new(true),
    });
    let node = TestNode::start_with(store.sessions.clone(), bus.clone(), test_config()).await;
    let mut dev = Device::new(node.handle.coap_addr).await;
    let refused = dev.register("pressed", &["lt=60"], "</3/0>").await;
    assert_eq!(refused.code, ResponseCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.options.get_uint(option_number::MAX_AGE), Some(5));
    assert!(
        store
            .sessions
            .get_by_endpoint("pressed")
            .await
            .unwrap()
            .is_none(),
        "nothing was taken"
    );
    assert_eq!(node.handle.stats().backpressure, 1);
    bus.full.store(false, Ordering::SeqCst);
    assert_eq!(
        dev.register("pressed", &["lt=60"], "</3/0>").await.code,
        ResponseCode::CREATED
    );
    node.stop().await;
    store.cleanup().await;
}

async fn garbage_is_counted_and_the_node_keeps_serving(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = node.handle.coap_addr;

    // Random bytes (first byte 0xff: version 3).
    let random: Vec<u8> = (0..64).map(|_| rand::random::<u8>() | 0xc0).collect();
    raw.send_to(&random, target).await.unwrap();
    // CoAP version 2, otherwise a valid GET.
    raw.send_to(&[0x80, 0x01, 0x12, 0x34], target)
        .await
        .unwrap();
    // Too short to be CoAP at all.
    raw.send_to(&[0x40, 0x01], target).await.unwrap();
    // A CON whose token length is 15 (format error: RST).
    raw.send_to(&[0x4f, 0x01, 0x00, 0x01], target)
        .await
        .unwrap();
    // Oversized: a valid header followed by 4 KiB.
    let mut big = vec![0x50, 0x02, 0x00, 0x02, 0xff];
    big.extend(std::iter::repeat_n(b'x', 4096));
    raw.send_to(&big, target).await.unwrap();
    // An empty datagram.
    raw.send_to(&[], target).await.unwrap();

    node.wait_stats("garbage counted", |s| {
        s.coap.wrong_version >= 2 && s.coap.oversized >= 1 && s.coap.malformed >= 3
    })
    .await;

    let mut dev = Device::new(node.handle.coap_addr).await;
    // Unknown paths and wrong methods.
    assert_eq!(
        dev.request(Request::get("/bs")).await.code,
        ResponseCode::NOT_FOUND
    );
    assert_eq!(
        dev.request(Request::get("/rd")).await.code,
        ResponseCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        dev.request(Request::put("/rd/x")).await.code,
        ResponseCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        dev.request(Request::get("/dp")).await.code,
        ResponseCode::METHOD_NOT_ALLOWED
    );
    // Still serving.
    assert_eq!(
        dev.register("survivor", &["lt=60"], "</3/0>").await.code,
        ResponseCode::CREATED
    );
    let stats = node.handle.stats();
    assert_eq!((stats.not_found, stats.method_not_allowed), (1, 3));
    assert!(stats.datagrams_received >= 11, "{stats:?}");
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
    garbage_is_counted_and_the_node_keeps_serving,
    backpressure_stops_acknowledging_new_uplinks,
);
