//! Observe and Observe-Composite: notifications honour pmin/pmax, carry
//! the observed values, and stop on cancellation.

// Helper fns (path parsing, setup) unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use lwm2m_coap::content_format as cf;
use lwm2m_coap::{Request, ResponseCode};
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_json::SenmlJsonCodec;
use lwm2m_core::{codec, LwM2mNode, LwM2mPath, LwM2mResource, Value};
use lwm2m_sim::{sim_registry, Device};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);

fn p(s: &str) -> LwM2mPath {
    s.parse().unwrap()
}

#[tokio::test]
async fn observe_honours_pmin_and_stops_on_cancel() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-obs"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of("sim-obs");
    let r = server
        .request(
            peer,
            Request::put("/3303/0/5700")
                .with_query("pmin", "1")
                .with_query("pmax", "2"),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);

    let (id, first) = server
        .observe(
            peer,
            Request::get("/3303/0/5700").with_accept(cf::TEXT_PLAIN),
        )
        .await;
    assert_eq!(first.code, ResponseCode::CONTENT);
    assert!(first.observe().is_some());
    let initial: f64 = std::str::from_utf8(&first.payload)
        .unwrap()
        .parse()
        .unwrap();
    assert!((-40.0..=85.0).contains(&initial));
    let status = device
        .wait_for(WAIT, |s| s.is_observed("/3303/0/5700"))
        .await
        .unwrap();
    assert_eq!(status.observations[0].content_format, cf::TEXT_PLAIN);

    // Values change every 100 ms, but pmin=1 spaces notifications out.
    assert!(
        server
            .run_until(WAIT, |s| s.notifications_for(id).len() >= 3)
            .await
    );
    let times: Vec<_> = server.notifications_for(id).iter().map(|n| n.at).collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(700),
            "pmin not honoured: {gap:?}"
        );
    }
    for n in server.notifications_for(id) {
        assert_eq!(n.response.content_format(), Some(cf::TEXT_PLAIN));
        let v: f64 = std::str::from_utf8(&n.response.payload)
            .unwrap()
            .parse()
            .unwrap();
        assert!((-40.0..=85.0).contains(&v));
    }
    let seqs: Vec<_> = server
        .notifications_for(id)
        .iter()
        .map(|n| n.seq.unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    device
        .wait_for(WAIT, |s| s.notifications_for("/3303/0/5700") >= 3)
        .await
        .unwrap();

    let r = server.cancel_observation(id).await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    device
        .wait_for(WAIT, |s| s.observations.is_empty())
        .await
        .unwrap();
    let count = server.notifications_for(id).len();
    server.run_for(Duration::from_millis(1000)).await;
    assert_eq!(
        server.notifications_for(id).len(),
        count,
        "no notification after cancel"
    );
    device.shutdown(false).await;
}

#[tokio::test]
async fn set_value_triggers_a_notification_with_thresholds() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-gt");
    config.value_change_interval = None;
    config.confirmable_notifications = false;
    let mut device = Device::start(config).await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of("sim-gt");
    server
        .request(peer, Request::put("/3303/0/5700").with_query("gt", "50"))
        .await;
    let (id, _) = server.observe(peer, Request::get("/3303/0/5700")).await;

    device
        .set_value("/3303/0/5700", Value::Float(30.0))
        .await
        .unwrap();
    server.run_for(Duration::from_millis(300)).await;
    assert!(
        server.notifications_for(id).is_empty(),
        "no crossing of gt=50"
    );
    device
        .set_value("/3303/0/5700", Value::Float(60.5))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.notifications_for(id).is_empty())
            .await
    );
    let n = server.notifications_for(id)[0];
    assert_eq!(n.response.payload, b"60.5");
    device
        .wait_for(WAIT, |s| s.notifications_sent == 1)
        .await
        .unwrap();
    device.shutdown(false).await;
}

#[tokio::test]
async fn observe_composite_carries_every_path() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-ocomp"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of("sim-ocomp");
    let models = sim_registry();
    let paths = [p("/3303/0/5700"), p("/3/0/9")];
    let body = SenmlJsonCodec.encode_paths(&paths).unwrap();
    let (id, first) = server
        .observe(
            peer,
            Request::fetch("/")
                .with_content_format(cf::SENML_JSON)
                .with_payload(body),
        )
        .await;
    assert_eq!(first.code, ResponseCode::CONTENT);
    assert_eq!(first.content_format(), Some(cf::SENML_JSON));
    let nodes = SenmlJsonCodec
        .decode_nodes(&first.payload, Some(&paths), &models)
        .unwrap();
    assert!(nodes.values().all(Option::is_some));

    assert!(
        server
            .run_until(WAIT, |s| s.notifications_for(id).len() >= 2)
            .await
    );
    for n in server.notifications_for(id) {
        let nodes = SenmlJsonCodec
            .decode_nodes(&n.response.payload, Some(&paths), &models)
            .unwrap();
        assert!(nodes.values().all(Option::is_some), "{nodes:?}");
    }
    let status = device.status();
    assert_eq!(status.observations.len(), 1);
    assert_eq!(status.observations[0].paths, vec!["/3303/0/5700", "/3/0/9"]);
    server.cancel_observation(id).await;
    device
        .wait_for(WAIT, |s| s.observations.is_empty())
        .await
        .unwrap();
    device.shutdown(false).await;
}

#[tokio::test]
async fn observe_an_instance_in_tlv() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-oinst"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of("sim-oinst");
    let models = sim_registry();
    let (id, first) = server
        .observe(peer, Request::get("/6/0").with_accept(cf::LWM2M_TLV))
        .await;
    let node = codec::decode(cf::LWM2M_TLV, &p("/6/0"), &first.payload, &models).unwrap();
    assert!(matches!(node, LwM2mNode::ObjectInstance(_)));
    assert!(
        server
            .run_until(WAIT, |s| !s.notifications_for(id).is_empty())
            .await
    );
    let n = server.notifications_for(id)[0];
    let node = codec::decode(cf::LWM2M_TLV, &p("/6/0"), &n.response.payload, &models).unwrap();
    let LwM2mNode::ObjectInstance(inst) = node else {
        panic!()
    };
    assert!(matches!(
        inst.resources.get(&0),
        Some(LwM2mResource::Single {
            value: Value::Float(_),
            ..
        })
    ));
    device.shutdown(false).await;
}
