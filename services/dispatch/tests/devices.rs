//! Dispatch against simulated devices through a real transport, Redis
//! sessions and PostgreSQL: the ThingsBoard examples answered as the guide
//! says (with structured values), typed methods in every content format,
//! object versions, and the two methods answered from the session without
//! device traffic.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, call_with, Setup};
use lwm2m_core::Version;
use lwm2m_proto::dispatch::v1::{
    CommandOptions, CreateRequest, DeleteRequest, DiscoverAllRequest, ExecuteRequest,
    ObserveReadAllRequest, OperationState, RawCoapRequest, ReadRequest, WriteRequest,
};
use serde_json::{json, Value as Json};

/// Every method of the guide by id and by key, with the guide's JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thingsboard_examples_are_answered_as_the_guide_says() {
    let setup = Setup::start(|_| {}).await;
    let dev = setup.device("tb-1", Version::V1_1, None).await;
    let mut c = setup.client(0).await;
    let ep = "tb-1";

    let (r, resp) = call(&mut c, ep, r#"{"method":"Read","params":{"id":"/3/0/9"}}"#).await;
    assert_eq!(r["result"], "CONTENT", "{r}");
    let battery = r["value"]
        .as_i64()
        .unwrap_or_else(|| panic!("battery is a number: {r}"));
    assert_eq!(resp.operation.unwrap().state(), OperationState::Successful);

    // By key: the same resource, the same answer.
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Read","params":{"key":"batteryLevel"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CONTENT","value":battery}));

    // The device registered /3 at 1.1: the guide's "/3_1.0" is refused, never sent.
    let served = dev.status().requests_served;
    let err = c
        .call(lwm2m_proto::dispatch::v1::CallRequest {
            endpoint: ep.into(),
            request_json: r#"{"method":"Read","params":{"id":"/3_1.0/0/9"}}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        err.message(),
        "Invalid object version. Required version: 1.1"
    );
    assert_eq!(
        dev.status().requests_served,
        served,
        "a refused version reached the device"
    );

    // An instance reads as an object keyed by resource id (structured, not toString).
    let (r, _) = call(&mut c, ep, r#"{"method":"Read","params":{"id":"/3/0"}}"#).await;
    assert_eq!(r["result"], "CONTENT");
    assert_eq!(r["value"]["9"], json!(battery), "{r}");
    assert!(r["value"]["0"].is_string(), "{r}");

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Discover","params":{"id":"/3/0/1"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CONTENT","value":"</3/0/1>"}));
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Discover","params":{"key":"batteryLevel"}}"#,
    )
    .await;
    assert_eq!(
        r["value"].as_str().unwrap().split(';').next(),
        Some("</3/0/9>"),
        "{r}"
    );

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"WriteUpdate","params":{"id":"/3/0","value":{"14":"+5","15":"Kiyv/Europe"}}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CHANGED"}));
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Read","params":{"key":"timezone"}}"#,
    )
    .await;
    assert_eq!(r["value"], "Kiyv/Europe");
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"WriteReplace","params":{"key":"timezone","value":"+10"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CHANGED"}));
    let (r, _) = call(&mut c, ep, r#"{"method":"Read","params":{"id":"/3/0/15"}}"#).await;
    assert_eq!(r["value"], "+10");

    // Object 19 is not on this device: its answer, with the CoAP name.
    let (r, resp) = call(&mut c, ep, r#"{"method":"Delete","params":{"id":"/19/1"}}"#).await;
    assert_eq!(r["result"], "NOT_FOUND", "{r}");
    assert!(r["error"].as_str().unwrap().contains("4.04"), "{r}");
    assert_eq!(resp.operation.unwrap().state(), OperationState::Failed);
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"WriteAttributes","params":{"id":"/3/0/9","attributes":{"pmax":120, "pmin":10}}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CHANGED"}));

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"ReadComposite","params":{"keys":["state", "updateResult", "pkgversion", "batteryLevel"]}}"#,
    )
    .await;
    assert_eq!(r["result"], "CONTENT", "{r}");
    assert_eq!(r["value"]["/3/0/9"], json!(battery), "{r}");
    assert!(r["value"]["/5/0/3"].is_number(), "{r}");

    // Observe, then the session lists it; cancel by key and by id.
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Observe","params":{"id":"/3/0/9"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CONTENT","value":battery}));
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Observe","params":{"id":"/5/0/5"}}"#,
    )
    .await;
    assert_eq!(r["result"], "CONTENT");
    let (r, _) = call(&mut c, ep, r#"{"method":"ObserveReadAll","params":{}}"#).await;
    assert_eq!(r, json!({"result":"CONTENT","value":["/3/0/9","/5/0/5"]}));
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"ObserveCancel","params":{"key":"updateResult"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CONTENT","value":1}));
    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"ObserveComposite","params":{"ids":["/5/0/7", "/5/0/5", "/5/0/3", "/3/0/9"]}}"#,
    )
    .await;
    assert_eq!(r["result"], "CONTENT", "{r}");
    assert_eq!(r["value"]["/3/0/9"], json!(battery));
    let (r, _) = call(&mut c, ep, r#"{"method":"ObserveCancelAll","params":{}}"#).await;
    assert_eq!(r, json!({"result":"CONTENT","value":2}));
    let (r, _) = call(&mut c, ep, r#"{"method":"ObserveReadAll","params":{}}"#).await;
    assert_eq!(r, json!({"result":"CONTENT","value":[]}));

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"ObserveCancel","params":{"id":"/5/0/7"}}"#,
    )
    .await;
    assert_eq!(r["result"], "NOT_FOUND", "no such observation: {r}");

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"Execute","params":{"id":"/3/0/4"}}"#,
    )
    .await;
    assert_eq!(r, json!({"result":"CHANGED"}));
    dev.wait_for(common::PATIENCE, |s| s.reboots == 1)
        .await
        .unwrap();

    drop(dev);
    setup.stop().await;
}

/// DiscoverAll and ObserveReadAll come from the session: the device sees
/// no request; an explicit version equal to the registered one is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_answers_and_a_lwm2m_1_0_device() {
    let setup = Setup::start(|_| {}).await;
    let dev = setup.device("tb-10", Version::V1_0, None).await;
    let mut c = setup.client(0).await;
    let served = dev.status().requests_served;
    let all = c
        .discover_all(DiscoverAllRequest {
            endpoint: "tb-10".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(all.operation.is_none());
    let urls: Vec<_> = all.links.iter().map(|l| l.url.as_str()).collect();
    for url in ["/", "/1", "/1/0", "/3", "/3/0", "/3303/0"] {
        assert!(urls.contains(&url), "{url} missing: {urls:?}");
    }
    let (r, _) = call(&mut c, "tb-10", r#"{"method":"DiscoverAll","params":{}}"#).await;
    assert_eq!(r["result"], "CONTENT");
    assert!(
        r["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["url"] == "/3"),
        "{r}"
    );
    let observed = c
        .observe_read_all(ObserveReadAllRequest {
            endpoint: "tb-10".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(observed.paths.is_empty());
    assert_eq!(
        dev.status().requests_served,
        served,
        "the device was contacted"
    );

    // An explicit version equal to the registered one is accepted.
    let ver = &all.links.iter().find(|l| l.url == "/3").unwrap().attributes["ver"];
    let request = json!({"method":"Read","params":{"id":format!("/3_{ver}/0/9")}});
    let (r, _) = call(&mut c, "tb-10", &request.to_string()).await;
    assert_eq!(r["result"], "CONTENT", "{r}");
    assert!(r["value"].is_number(), "{r}");
    // Unknown devices are a clear NOT_FOUND.
    let e = c
        .discover_all(DiscoverAllRequest {
            endpoint: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    drop(dev);
    setup.stop().await;
}

fn with_format(code: u32) -> Option<CommandOptions> {
    Some(CommandOptions {
        content_format: Some(code),
        ..Default::default()
    })
}

/// Typed methods: the same instance read in every multi-node format gives
/// the same nodes; single resources in text, CBOR and opaque-free formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_methods_in_every_content_format() {
    let setup = Setup::start(|_| {}).await;
    let dev = setup.device("typed-1", Version::V1_1, None).await;
    let mut c = setup.client(0).await;
    let read = |id: &str, format: Option<u32>| ReadRequest {
        endpoint: "typed-1".into(),
        id: id.into(),
        options: format.and_then(with_format),
        ..Default::default()
    };
    let reference = c.read(read("/3/0", None)).await.unwrap().into_inner();
    assert_eq!(reference.nodes.len(), 1);
    assert!(reference.nodes[0].children.len() > 5);
    for format in [11542, 110, 112, 11543] {
        let got = c
            .read(read("/3/0", Some(format)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.nodes, reference.nodes, "format {format}");
        let result = got.operation.unwrap().result.unwrap();
        assert_eq!(result.content_format, Some(format), "format {format}");
    }
    let battery = c
        .read(read("/3/0/9", None))
        .await
        .unwrap()
        .into_inner()
        .nodes;
    for format in [0, 60, 11542, 110, 112] {
        let got = c
            .read(read("/3/0/9", Some(format)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.nodes, battery, "format {format}");
    }

    // Write, Create, Delete, Execute and raw CoAP, typed.
    for format in [0u32, 11542, 110, 112] {
        let value = format!("\"zone-{format}\"");
        let w = c
            .write_replace(WriteRequest {
                endpoint: "typed-1".into(),
                id: "/3/0/15".into(),
                value_json: value.clone(),
                options: with_format(format),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            w.operation.unwrap().state(),
            OperationState::Successful,
            "format {format}"
        );
        let (r, _) = call(
            &mut c,
            "typed-1",
            r#"{"method":"Read","params":{"id":"/3/0/15"}}"#,
        )
        .await;
        assert_eq!(r["value"], Json::String(format!("zone-{format}")));
    }
    let created = c
        .create(CreateRequest {
            endpoint: "typed-1".into(),
            id: "/3303".into(),
            instance_id: Some(7),
            value_json: r#"{"5701":"Cel"}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(created.state(), OperationState::Successful, "{created:?}");
    assert_eq!(created.result.unwrap().location.as_deref(), Some("/3303/7"));
    let deleted = c
        .delete(DeleteRequest {
            endpoint: "typed-1".into(),
            id: "/3303/7".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(deleted.result.unwrap().code_name, "DELETED");
    let executed = c
        .execute(ExecuteRequest {
            endpoint: "typed-1".into(),
            id: "/1/0/8".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(executed.result.unwrap().code_name, "CHANGED");
    let raw = c
        .raw_coap(RawCoapRequest {
            endpoint: "typed-1".into(),
            method: "get".into(),
            uri: "/3/0/15".into(),
            accept: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    let result = raw.result.unwrap();
    assert_eq!(result.code, "2.05");
    assert_eq!(result.payload.as_deref(), Some(&b"zone-112"[..]));
    let (r, _) = call_with(
        &mut c,
        "typed-1",
        r#"{"method":"Coap","params":{"method":"get","uri":"/3/0/15","accept":"text/plain"}}"#,
        None,
    )
    .await;
    assert_eq!(r["value"]["payloadText"], "zone-112", "{r}");
    drop(dev);
    setup.stop().await;
}
