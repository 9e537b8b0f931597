//! Every downlink primitive through the gRPC `Downlink` of a started node,
//! answered by a fake device; queue mode; the rest of the gRPC surface
//! (List/Get, SubscribeUplinks, health, reflection).
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use lwm2m_bus::MemoryBus;
use lwm2m_coap::{Method, Request, Response, ResponseCode};
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{EventKind, ResourceValue, Value, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_proto::transport::v1::*;

fn rv(path: &str, kind: Kind) -> ResourceValue {
    ResourceValue {
        path: path.into(),
        value: Some(Value { kind: Some(kind) }),
        timestamp_ms: None,
        key: None,
    }
}

fn req(endpoint: &str, op: Op) -> DownlinkRequest {
    DownlinkRequest {
        endpoint: endpoint.into(),
        tenant: String::new(),
        timeout_ms: 10_000,
        operation: Some(op),
    }
}

const SENML_INSTANCE: &str = r#"[{"bn":"/3/0/","n":"9","v":88},{"n":"14","vs":"+01"}]"#;

/// A 1.1 device with SenML JSON that answers every primitive.
fn device_answers(request: &Request) -> Response {
    let path = request.path_string();
    let observe = request.observe();
    match (request.method, path.as_str(), observe) {
        (Method::Get, "/3/0/9", Some(0)) => text("70").with_observe(1).unwrap(),
        (Method::Get, "/3/0/9", Some(1)) => text("71"),
        (Method::Get, "/3/0/9", None) => text("87"),
        (Method::Get, "/3/0", None) if request.options.accept() == Some(40) => {
            Response::content(40, b"</3/0>,</3/0/9>,</3/0/14>".to_vec())
        }
        (Method::Get, "/3/0", None) => Response::content(110, SENML_INSTANCE.as_bytes().to_vec()),
        (Method::Put, "/3/0/14", _) => Response::new(ResponseCode::CHANGED),
        (Method::Put, "/3/0/9", _) => Response::new(ResponseCode::CHANGED),
        (Method::Post, "/3/0", _) => Response::new(ResponseCode::CHANGED),
        (Method::Post, "/3/0/4", _) => Response::new(ResponseCode::CHANGED),
        (Method::Post, "/1", _) => Response::new(ResponseCode::CREATED).with_location_path("/1/5"),
        (Method::Delete, "/1/5", _) => Response::new(ResponseCode::DELETED),
        (Method::Fetch, "/", Some(0)) => Response::content(110, SENML_INSTANCE.as_bytes().to_vec())
            .with_observe(1)
            .unwrap(),
        (Method::Fetch, "/", Some(1)) => Response::content(110, SENML_INSTANCE.as_bytes().to_vec()),
        (Method::Fetch, "/", None) => Response::content(110, SENML_INSTANCE.as_bytes().to_vec()),
        (Method::IPatch, "/", _) => Response::new(ResponseCode::CHANGED),
        _ => Response::new(ResponseCode::NOT_FOUND),
    }
}

async fn every_primitive_through_grpc(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("ops", &["lt=300", "lwm2m=1.1"], "</>;ct=110,</1/0>,</3/0>")
        .await;
    dev.answer(device_answers);
    let mut grpc = node.grpc().await;
    let ep = "ops";

    // Read of a single resource: text, typed, published as READ.
    let r = grpc
        .downlink(req(
            ep,
            Op::Read(ReadOperation {
                path: "/3/0/9".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.code.as_str(), r.code_name.as_str()), ("2.05", "CONTENT"));
    assert_eq!(int_of(&r.values[0]), Some(87));
    let read = dev.next_inbound().await.request;
    assert_eq!(read.options.accept(), Some(0));
    let published = events.values(ep, ValueSource::Read).await;
    assert_eq!(int_of(&published.values[0]), Some(87));

    // Read of an instance: the device listed ct=110, so SenML JSON.
    let r = grpc
        .downlink(req(
            ep,
            Op::Read(ReadOperation {
                path: "/3/0".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.values.len(), 2);
    assert_eq!(dev.next_inbound().await.request.options.accept(), Some(110));

    // Discover.
    let r = grpc
        .downlink(req(
            ep,
            Op::Discover(DiscoverOperation {
                path: "/3/0".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.link_format.as_deref(), Some("</3/0>,</3/0/9>,</3/0/14>"));
    dev.next_inbound().await;

    // Write replace (PUT, text) and partial update (POST, SenML JSON).
    let r = grpc
        .downlink(req(
            ep,
            Op::Write(WriteOperation {
                path: "/3/0/14".into(),
                replace: true,
                values: vec![rv("/3/0/14", Kind::StringValue("+02".into()))],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.04");
    let put = dev.next_inbound().await.request;
    assert_eq!(
        (put.method, put.payload.as_slice()),
        (Method::Put, &b"+02"[..])
    );
    let r = grpc
        .downlink(req(
            ep,
            Op::Write(WriteOperation {
                path: "/3/0".into(),
                replace: false,
                values: vec![rv("/3/0/14", Kind::StringValue("+03".into()))],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.04");
    let post = dev.next_inbound().await.request;
    assert_eq!(
        (post.method, post.options.content_format()),
        (Method::Post, Some(110))
    );

    // Write-Attributes.
    let r = grpc
        .downlink(req(
            ep,
            Op::WriteAttributes(WriteAttributesOperation {
                path: "/3/0/9".into(),
                pmin: Some(10),
                pmax: Some(60),
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.04");
    let wa = dev.next_inbound().await.request;
    assert_eq!(wa.query(), vec!["pmin=10", "pmax=60"]);
    assert!(wa.payload.is_empty());

    // Execute with arguments.
    let r = grpc
        .downlink(req(
            ep,
            Op::Execute(ExecuteOperation {
                path: "/3/0/4".into(),
                arguments: "0='now'".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.04");
    assert_eq!(dev.next_inbound().await.request.payload, b"0='now'");

    // Create and Delete.
    let r = grpc
        .downlink(req(
            ep,
            Op::Create(CreateOperation {
                path: "/1".into(),
                instance_id: None,
                values: vec![
                    rv("/1/0/0", Kind::Integer(2)),
                    rv("/1/0/1", Kind::Integer(120)),
                ],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.code.as_str(), r.location.as_deref()),
        ("2.01", Some("/1/5"))
    );
    let create = dev.next_inbound().await.request;
    assert_eq!(
        (create.method, create.path_string().as_str()),
        (Method::Post, "/1")
    );
    assert!(!create.payload.is_empty());
    let r = grpc
        .downlink(req(
            ep,
            Op::Delete(DeleteOperation {
                path: "/1/5".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.02");
    dev.next_inbound().await;

    // Observe, then cancel it proactively.
    let r = grpc
        .downlink(req(
            ep,
            Op::Observe(ObserveOperation {
                path: "/3/0/9".into(),
                content_format: None,
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    let token = dev.next_inbound().await.token;
    assert_eq!(r.observation_token, Some(hex::encode(token.as_bytes())));
    assert_eq!(int_of(&r.values[0]), Some(70));
    assert_eq!(store.sessions.observations(ep).await.unwrap().len(), 1);
    let r = grpc
        .downlink(req(
            ep,
            Op::CancelObserve(CancelObserveOperation {
                path: "/3/0/9".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.05");
    let cancel = dev.next_inbound().await;
    assert_eq!((cancel.request.observe(), cancel.token), (Some(1), token));
    assert!(store.sessions.observations(ep).await.unwrap().is_empty());
    // Cancelling again: nothing to cancel.
    let err = grpc
        .downlink(req(
            ep,
            Op::CancelObserve(CancelObserveOperation {
                path: "/3/0/9".into(),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // Observe-Composite and its cancel.
    let paths = vec!["/3/0/9".to_string(), "/3/0/14".to_string()];
    let r = grpc
        .downlink(req(
            ep,
            Op::ObserveComposite(ObserveCompositeOperation {
                paths: paths.clone(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.observation_token.is_some());
    assert_eq!(r.values.len(), 2);
    let oc = dev.next_inbound().await;
    assert_eq!(
        (oc.request.method, oc.request.observe()),
        (Method::Fetch, Some(0))
    );
    assert_eq!(oc.request.options.content_format(), Some(110));
    let r = grpc
        .downlink(req(
            ep,
            Op::CancelObserveComposite(CancelObserveCompositeOperation { paths }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.05");
    let cancel = dev.next_inbound().await;
    assert_eq!(
        (cancel.request.observe(), cancel.token),
        (Some(1), oc.token)
    );

    // Read-Composite and Write-Composite.
    let r = grpc
        .downlink(req(
            ep,
            Op::ReadComposite(ReadCompositeOperation {
                paths: vec!["/3/0/9".into(), "/3/0/14".into()],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.values.len(), 2);
    assert_eq!(dev.next_inbound().await.request.method, Method::Fetch);
    events.values(ep, ValueSource::Read).await;
    let r = grpc
        .downlink(req(
            ep,
            Op::WriteComposite(WriteCompositeOperation {
                values: vec![rv("/3/0/14", Kind::StringValue("+04".into()))],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "2.04");
    let patch = dev.next_inbound().await.request;
    assert_eq!(patch.method, Method::IPatch);
    assert!(String::from_utf8(patch.payload).unwrap().contains("+04"));

    // A CoAP error from the device is a successful RPC with that code.
    let r = grpc
        .downlink(req(
            ep,
            Op::Read(ReadOperation {
                path: "/5/0/1".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.code.as_str(), r.code_name.as_str()),
        ("4.04", "NOT_FOUND")
    );
    dev.next_inbound().await;

    // gRPC errors: unknown device, bad path, no operation.
    let missing = grpc
        .downlink(req(
            "nobody",
            Op::Read(ReadOperation {
                path: "/3/0".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let bad = grpc
        .downlink(req(
            ep,
            Op::Read(ReadOperation {
                path: "/3/x".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let none = grpc
        .downlink(DownlinkRequest {
            endpoint: ep.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::InvalidArgument);
    node.stop().await;
    store.cleanup().await;
}

async fn silent_device_times_out(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut dev = Device::new(node.handle.coap_addr).await;
    dev.register("silent", &["lt=300"], "</3/0>").await;
    // The device's address now points nowhere.
    let mut reg = store
        .sessions
        .get_by_endpoint("silent")
        .await
        .unwrap()
        .unwrap();
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    reg.address = dead.local_addr().unwrap().to_string();
    store
        .sessions
        .touch(
            "silent",
            &reg.address,
            &node.handle.node_id,
            reg.last_seen_ms,
        )
        .await
        .unwrap();
    let mut grpc = node.grpc().await;
    let mut request = req(
        "silent",
        Op::Read(ReadOperation {
            path: "/3/0/9".into(),
            content_format: None,
        }),
    );
    request.timeout_ms = 300;
    let err = grpc.downlink(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
    assert_eq!(node.handle.stats().downlink_failures, 1);
    node.stop().await;
    store.cleanup().await;
}

async fn queue_mode_holds_a_read_until_the_update(backend: Backend) {
    let store = Store::new(backend).await;
    let config = lwm2m_transport::TransportConfig {
        default_awake_time: Duration::ZERO,
        ..test_config()
    };
    let node = TestNode::start_with(
        store.sessions.clone(),
        Arc::new(MemoryBus::new(1024)),
        config,
    )
    .await;
    let mut dev = Device::new(node.handle.coap_addr).await;
    let location = dev
        .register("sleepy", &["lt=300", "b=UQ"], "</3/0>")
        .await
        .location_path();
    assert!(
        store
            .sessions
            .get_by_endpoint("sleepy")
            .await
            .unwrap()
            .unwrap()
            .queue_mode
    );
    dev.answer(|_| text("64"));
    let mut grpc = node.grpc().await;
    let read = tokio::spawn(async move {
        let mut request = req(
            "sleepy",
            Op::Read(ReadOperation {
                path: "/3/0/9".into(),
                content_format: None,
            }),
        );
        request.timeout_ms = 15_000;
        grpc.downlink(request).await
    });
    let downlinks = node.handle.downlinks();
    node.wait_stats("a held downlink", |s| s.downlinks_held == 1)
        .await;
    assert_eq!(downlinks.held("sleepy"), 1);
    assert!(
        dev.inbound.try_recv().is_err(),
        "nothing sent to a sleeping device"
    );

    // The device wakes up: the held Read follows the Update's response.
    assert_eq!(dev.update(&location, &[]).await.code, ResponseCode::CHANGED);
    let inbound = dev.next_inbound().await;
    assert_eq!(inbound.request.path_string(), "/3/0/9");
    let response = read.await.unwrap().unwrap().into_inner();
    assert_eq!(response.code, "2.05");
    assert_eq!(int_of(&response.values[0]), Some(64));
    assert_eq!(downlinks.held("sleepy"), 0);
    node.stop().await;
    store.cleanup().await;
}

async fn list_get_subscribe_health_and_reflection(backend: Backend) {
    let store = Store::new(backend).await;
    let node = TestNode::start(store.sessions.clone()).await;
    let mut grpc = node.grpc().await;
    let mut stream = grpc
        .subscribe_uplinks(SubscribeUplinksRequest {
            endpoint: Some("listed-b".into()),
            kinds: vec![EventKind::Registration as i32],
            tenant: None,
        })
        .await
        .unwrap()
        .into_inner();
    for ep in ["listed-a", "listed-b", "other"] {
        let mut dev = Device::new(node.handle.coap_addr).await;
        assert_eq!(
            dev.register(ep, &["lt=300"], "</3/0>").await.code,
            ResponseCode::CREATED
        );
    }
    let event = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.endpoint.as_str(), event.kind()),
        ("listed-b", EventKind::Registration)
    );

    let page = grpc
        .list_registrations(ListRegistrationsRequest {
            endpoint_prefix: Some("listed-".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = page
        .registrations
        .iter()
        .map(|r| r.endpoint.as_str())
        .collect();
    assert_eq!(names, ["listed-a", "listed-b"]);
    let one = grpc
        .get_registration(GetRegistrationRequest {
            endpoint: "listed-a".into(),
            tenant: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (one.lifetime_s, one.node_id.as_str()),
        (300, node.handle.node_id.as_str())
    );
    let missing = grpc
        .get_registration(GetRegistrationRequest {
            endpoint: "nope".into(),
            tenant: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", node.handle.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lwm2m.transport.v1.Transport".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    let services: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        services.contains(&"lwm2m.transport.v1.Transport"),
        "{services:?}"
    );
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
    every_primitive_through_grpc,
    silent_device_times_out,
    queue_mode_holds_a_read_until_the_update,
    list_get_subscribe_health_and_reflection,
);
