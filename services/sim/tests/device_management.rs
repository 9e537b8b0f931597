//! Device Management operations against a running device: Read in every
//! format, Write, Write-Attributes, Discover, Execute, Create and Delete,
//! the composite operations, and the error codes.

// Helper fns (path parsing, setup) unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use lwm2m_coap::content_format as cf;
use lwm2m_coap::{Request, ResponseCode};
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_cbor::SenmlCborCodec;
use lwm2m_core::codec::senml_json::SenmlJsonCodec;
use lwm2m_core::link::discover::parse_discover;
use lwm2m_core::{
    codec, ContentFormat, LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mPath, LwM2mResource,
    Value,
};
use lwm2m_sim::{sim_registry, Device};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);

fn p(s: &str) -> LwM2mPath {
    s.parse().unwrap()
}

async fn registered(name: &str) -> (TestServer, Device, std::net::SocketAddr) {
    let mut server = TestServer::start().await;
    let device = Device::start(server.device_config(name)).await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of(name);
    (server, device, peer)
}

#[tokio::test]
async fn reads_in_every_format() {
    let (mut server, mut device, peer) = registered("sim-read").await;
    let models = sim_registry();
    let instance = p("/3/0");
    for format in [
        cf::LWM2M_TLV,
        cf::SENML_JSON,
        cf::SENML_CBOR,
        cf::LWM2M_JSON,
    ] {
        let r = server
            .request(peer, Request::get("/3/0").with_accept(format))
            .await;
        assert_eq!(r.code, ResponseCode::CONTENT, "format {format}");
        assert_eq!(r.content_format(), Some(format));
        let node = codec::decode(format, &instance, &r.payload, &models).unwrap();
        let LwM2mNode::ObjectInstance(inst) = node else {
            panic!("{node:?}")
        };
        assert_eq!(
            inst.resources[&0],
            LwM2mResource::single(0, Value::String("lwm2m-cluster".into()))
        );
        assert!(inst.resources[&11].is_multiple(), "format {format}");
    }
    // Without Accept: SenML CBOR on a 1.1 device.
    let r = server.request(peer, Request::get("/3/0")).await;
    assert_eq!(r.content_format(), Some(cf::SENML_CBOR));

    let r = server
        .request(peer, Request::get("/3/0/0").with_accept(cf::TEXT_PLAIN))
        .await;
    assert_eq!(r.content_format(), Some(cf::TEXT_PLAIN));
    assert_eq!(r.payload, b"lwm2m-cluster");

    let battery = p("/3/0/9");
    let r = server
        .request(peer, Request::get("/3/0/9").with_accept(cf::CBOR))
        .await;
    assert_eq!(r.content_format(), Some(cf::CBOR));
    let node = codec::decode(cf::CBOR, &battery, &r.payload, &models).unwrap();
    let LwM2mNode::Resource(LwM2mResource::Single {
        value: Value::Integer(level),
        ..
    }) = node
    else {
        panic!("{node:?}")
    };
    assert!((0..=100).contains(&level));

    // Object level, resource instance level.
    let r = server
        .request(peer, Request::get("/3303").with_accept(cf::SENML_JSON))
        .await;
    let node = codec::decode(cf::SENML_JSON, &p("/3303"), &r.payload, &models).unwrap();
    assert!(matches!(node, LwM2mNode::Object(o) if o.instances.contains_key(&0)));
    let r = server.request(peer, Request::get("/4/0/4/0")).await;
    assert_eq!(r.content_format(), Some(cf::TEXT_PLAIN));
    assert!(String::from_utf8(r.payload).unwrap().starts_with("10."));

    // Errors.
    let code = |r: lwm2m_coap::Response| r.code;
    assert_eq!(
        code(
            server
                .request(peer, Request::get("/3/0").with_accept(cf::TEXT_PLAIN))
                .await
        ),
        ResponseCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        code(
            server
                .request(peer, Request::get("/3/0").with_accept(9999))
                .await
        ),
        ResponseCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        code(server.request(peer, Request::get("/3/0/4")).await),
        ResponseCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        code(server.request(peer, Request::get("/3/5")).await),
        ResponseCode::NOT_FOUND
    );
    assert_eq!(
        code(server.request(peer, Request::get("/9999")).await),
        ResponseCode::NOT_FOUND
    );
    assert_eq!(
        code(server.request(peer, Request::get("/rd/x")).await),
        ResponseCode::NOT_FOUND
    );
    assert_eq!(
        code(
            server
                .request(
                    peer,
                    Request::put("/3")
                        .with_content_format(cf::LWM2M_TLV)
                        .with_payload(vec![0])
                )
                .await
        ),
        ResponseCode::METHOD_NOT_ALLOWED
    );
    device.shutdown(false).await;
}

#[tokio::test]
async fn writes_lifetime_and_reads_it_back() {
    let (mut server, mut device, peer) = registered("sim-write").await;
    let r = server
        .request(
            peer,
            Request::put("/1/0/1")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"45".to_vec()),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server.request(peer, Request::get("/1/0/1")).await;
    assert_eq!(r.payload, b"45");
    // The device tells the server about its new lifetime.
    assert!(
        server
            .run_until(WAIT, |s| s.updates.iter().any(|u| u
                .request
                .query_value("lt")
                .as_deref()
                == Some("45")))
            .await
    );
    // Partial update of an instance in TLV, read-only resources refused.
    let models = sim_registry();
    let inst = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
        0,
        [LwM2mResource::single(
            15,
            Value::String("Europe/Berlin".into()),
        )],
    ));
    let tlv = codec::encode(ContentFormat::Tlv, &p("/3/0"), &inst, &models).unwrap();
    let r = server
        .request(
            peer,
            Request::post("/3/0")
                .with_content_format(cf::LWM2M_TLV)
                .with_payload(tlv),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server.request(peer, Request::get("/3/0/15")).await;
    assert_eq!(r.payload, b"Europe/Berlin");
    let r = server
        .request(
            peer,
            Request::put("/3/0/0")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"x".to_vec()),
        )
        .await;
    assert_eq!(r.code, ResponseCode::METHOD_NOT_ALLOWED);
    let r = server
        .request(
            peer,
            Request::put("/1/0/1")
                .with_content_format(cf::CBOR)
                .with_payload(vec![0xff]),
        )
        .await;
    assert_eq!(r.code, ResponseCode::BAD_REQUEST);
    device.shutdown(false).await;
}

#[tokio::test]
async fn discovers_objects_and_instances_with_attributes() {
    let (mut server, mut device, peer) = registered("sim-disc").await;
    let r = server
        .request(
            peer,
            Request::put("/3/0/9")
                .with_query("pmin", "10")
                .with_query("gt", "50"),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server
        .request(peer, Request::put("/3").with_query("pmax", "60"))
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);

    let r = server
        .request(peer, Request::get("/3").with_accept(cf::LINK_FORMAT))
        .await;
    assert_eq!(r.content_format(), Some(cf::LINK_FORMAT));
    let entries = parse_discover(std::str::from_utf8(&r.payload).unwrap(), "/").unwrap();
    let attrs: BTreeMap<String, _> = entries
        .into_iter()
        .map(|(p, a)| (p.to_string(), a))
        .collect();
    assert_eq!(attrs["/3"].pmax, Some(60));
    assert!(attrs.contains_key("/3/0"));
    assert_eq!(attrs["/3/0/9"].pmin, Some(10));
    assert_eq!(attrs["/3/0/9"].gt, Some(50.0));
    assert_eq!(attrs["/3/0/11"].dim, Some(1));
    assert!(attrs.contains_key("/3/0/4"), "executables are listed");

    let r = server
        .request(peer, Request::get("/3/0").with_accept(cf::LINK_FORMAT))
        .await;
    let entries = parse_discover(std::str::from_utf8(&r.payload).unwrap(), "/").unwrap();
    assert_eq!(entries[0].0, p("/3/0"));
    assert!(entries
        .iter()
        .all(|(p, _)| p.object_id() == Some(3) && p.instance_id() == Some(0)));
    assert!(entries.len() > 10);

    let r = server
        .request(peer, Request::get("/42").with_accept(cf::LINK_FORMAT))
        .await;
    assert_eq!(r.code, ResponseCode::NOT_FOUND);
    device.shutdown(false).await;
}

#[tokio::test]
async fn executes_creates_and_deletes() {
    let (mut server, mut device, peer) = registered("sim-exec").await;
    let r = server.request(peer, Request::post("/3303/0/5605")).await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server.request(peer, Request::post("/3303/0/5700")).await;
    assert_eq!(r.code, ResponseCode::METHOD_NOT_ALLOWED);
    let r = server.request(peer, Request::post("/3/0/99")).await;
    assert_eq!(r.code, ResponseCode::NOT_FOUND);

    // Create /3303/7 in TLV with an instance wrapper.
    let models = sim_registry();
    let object = LwM2mNode::Object(LwM2mObject::new(
        3303,
        [LwM2mObjectInstance::new(
            7,
            [LwM2mResource::single(5750, Value::String("freezer".into()))],
        )],
    ));
    let tlv = codec::encode(ContentFormat::Tlv, &p("/3303"), &object, &models).unwrap();
    let r = server
        .request(
            peer,
            Request::post("/3303")
                .with_content_format(cf::LWM2M_TLV)
                .with_payload(tlv),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CREATED);
    assert_eq!(r.location_path(), "/3303/7");
    let r = server.request(peer, Request::get("/3303/7/5750")).await;
    assert_eq!(r.payload, b"freezer");
    // The device sends an Update with its new object list.
    assert!(
        server
            .run_until(WAIT, |s| s
                .updates
                .iter()
                .any(
                    |u| String::from_utf8_lossy(&u.request.payload).contains("</3303/7>")
                ))
            .await
    );
    let r = server.request(peer, Request::delete("/3303/7")).await;
    assert_eq!(r.code, ResponseCode::DELETED);
    let r = server.request(peer, Request::get("/3303/7")).await;
    assert_eq!(r.code, ResponseCode::NOT_FOUND);
    let r = server.request(peer, Request::delete("/3/0")).await;
    assert_eq!(r.code, ResponseCode::METHOD_NOT_ALLOWED);

    let status = device.status();
    assert!(status.requests_served >= 8);
    device.shutdown(false).await;
}

#[tokio::test]
async fn composite_read_and_write() {
    let (mut server, mut device, peer) = registered("sim-comp").await;
    let models = sim_registry();
    let paths = [p("/3/0/9"), p("/3303/0/5700"), p("/6/0")];
    let body = SenmlJsonCodec.encode_paths(&paths).unwrap();
    let r = server
        .request(
            peer,
            Request::fetch("/")
                .with_content_format(cf::SENML_JSON)
                .with_accept(cf::SENML_CBOR)
                .with_payload(body),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    assert_eq!(r.content_format(), Some(cf::SENML_CBOR));
    let nodes = SenmlCborCodec
        .decode_nodes(&r.payload, Some(&paths), &models)
        .unwrap();
    assert!(nodes.values().all(Option::is_some), "{nodes:?}");

    let mut writes = BTreeMap::new();
    writes.insert(
        p("/3/0/14"),
        LwM2mNode::Resource(LwM2mResource::single(14, Value::String("+01:00".into()))),
    );
    writes.insert(
        p("/3303/0/5750"),
        LwM2mNode::Resource(LwM2mResource::single(5750, Value::String("cellar".into()))),
    );
    let body = SenmlCborCodec.encode_nodes(&writes, &models).unwrap();
    let r = server
        .request(
            peer,
            Request::ipatch("/")
                .with_content_format(cf::SENML_CBOR)
                .with_payload(body),
        )
        .await;
    assert_eq!(r.code, ResponseCode::CHANGED);
    let r = server.request(peer, Request::get("/3303/0/5750")).await;
    assert_eq!(r.payload, b"cellar");
    let stats = device.status();
    assert!(stats.requests_served >= 3);
    device.shutdown(false).await;
}
