//! LwM2M 1.2 devices: Register as `lwm2m=1.2` with LwM2M CBOR (11544) in the
//! root link's `ct`, and answer downlinks in it; 1.1 and 1.0 devices keep
//! the root link their version defines (one unquoted `ct` on 1.1, none on
//! 1.0) so that other servers accept their Register.

// Helper fns (path parsing, setup) unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use lwm2m_coap::{Request, ResponseCode};
use lwm2m_core::codec::lwm2m_cbor::LwM2mCborCodec;
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::{codec, LwM2mNode, LwM2mPath, LwM2mResource, Value, Version};
use lwm2m_sim::{sim_registry, Device, DeviceConfig};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);
const LWM2M_CBOR: u16 = 11544;

fn p(s: &str) -> LwM2mPath {
    s.parse().unwrap()
}

async fn registered(name: &str, version: Version) -> (TestServer, Device, std::net::SocketAddr) {
    let mut server = TestServer::start().await;
    let device = Device::start(DeviceConfig {
        lwm2m_version: version,
        ..server.device_config(name)
    })
    .await
    .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of(name);
    (server, device, peer)
}

/// The root link, as the Register payload carries it.
fn root_link(server: &TestServer) -> String {
    let payload = String::from_utf8(server.registrations[0].request.payload.clone()).unwrap();
    payload.split(",</").next().unwrap().to_owned()
}

#[tokio::test]
async fn a_1_2_device_registers_with_lwm2m_cbor_and_answers_in_it() {
    let (mut server, mut device, peer) = registered("sim-12", Version::V1_2).await;
    let reg = &server.registrations[0];
    assert_eq!(reg.request.query_value("lwm2m").as_deref(), Some("1.2"));
    assert_eq!(
        root_link(&server),
        r#"</>;rt="oma.lwm2m";ct="60 110 112 11542 11543 11544""#
    );
    assert!(reg.parsed.objects.content_formats.contains(&LWM2M_CBOR));

    let models = sim_registry();
    // Without Accept, a multi-node Read is answered in LwM2M CBOR.
    let r = server.request(peer, Request::get("/3/0")).await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    assert_eq!(r.content_format(), Some(LWM2M_CBOR));
    let LwM2mNode::ObjectInstance(inst) =
        codec::decode(LWM2M_CBOR, &p("/3/0"), &r.payload, &models).unwrap()
    else {
        panic!("not an instance")
    };
    assert_eq!(
        inst.resources[&0],
        LwM2mResource::single(0, Value::String("lwm2m-cluster".into()))
    );
    assert!(inst.resources[&11].is_multiple());
    // With Accept: a single resource and a whole object.
    let r = server
        .request(peer, Request::get("/3/0/9").with_accept(LWM2M_CBOR))
        .await;
    assert_eq!(r.content_format(), Some(LWM2M_CBOR));
    assert!(matches!(
        codec::decode(LWM2M_CBOR, &p("/3/0/9"), &r.payload, &models).unwrap(),
        LwM2mNode::Resource(LwM2mResource::Single {
            id: 9,
            value: Value::Integer(_)
        })
    ));
    let r = server
        .request(peer, Request::get("/3").with_accept(LWM2M_CBOR))
        .await;
    assert!(matches!(
        codec::decode(LWM2M_CBOR, &p("/3"), &r.payload, &models).unwrap(),
        LwM2mNode::Object(_)
    ));

    // A Write in LwM2M CBOR: {[3, 0, 14]: "+05:00"}.
    let body = codec::encode(
        lwm2m_core::ContentFormat::LwM2mCbor,
        &p("/3/0/14"),
        &LwM2mNode::Resource(LwM2mResource::single(14, Value::String("+05:00".into()))),
        &models,
    )
    .unwrap();
    let r = server
        .request(
            peer,
            Request::put("/3/0/14")
                .with_content_format(LWM2M_CBOR)
                .with_payload(body),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server
        .request(peer, Request::get("/3/0/14").with_accept(0))
        .await;
    assert_eq!(r.payload, b"+05:00");

    // Read-Composite with LwM2M CBOR paths, answered in LwM2M CBOR.
    let paths = [p("/3/0/0"), p("/3/0/9")];
    let body = LwM2mCborCodec.encode_paths(&paths).unwrap();
    let r = server
        .request(
            peer,
            Request::fetch("/")
                .with_content_format(LWM2M_CBOR)
                .with_payload(body),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    assert_eq!(r.content_format(), Some(LWM2M_CBOR));
    let nodes: BTreeMap<_, _> = LwM2mCborCodec
        .decode_nodes(&r.payload, Some(&paths), &models)
        .unwrap();
    assert!(nodes.values().all(Option::is_some), "{nodes:?}");
    device.shutdown(true).await;
}

#[tokio::test]
async fn a_1_1_device_sends_one_unquoted_ct_and_refuses_lwm2m_cbor() {
    let (mut server, mut device, peer) = registered("sim-11", Version::V1_1).await;
    assert_eq!(
        server.registrations[0]
            .request
            .query_value("lwm2m")
            .as_deref(),
        Some("1.1")
    );
    // LwM2M 1.1 Core TS §6.2.1: one Content-Format, unquoted.
    assert_eq!(root_link(&server), r#"</>;rt="oma.lwm2m";ct=112"#);
    let r = server
        .request(peer, Request::get("/3/0").with_accept(LWM2M_CBOR))
        .await;
    assert_eq!(
        r.code,
        ResponseCode::NOT_ACCEPTABLE,
        "11544 is a 1.2 format"
    );
    device.shutdown(true).await;
}

#[tokio::test]
async fn a_1_0_device_sends_no_ct() {
    let (server, mut device, _) = registered("sim-10", Version::V1_0).await;
    assert_eq!(root_link(&server), r#"</>;rt="oma.lwm2m""#);
    device.shutdown(true).await;
}
