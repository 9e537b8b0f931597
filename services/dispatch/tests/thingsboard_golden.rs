//! Golden tests: RPC requests copied verbatim from ThingsBoard's LwM2M guide
//! (`../shared/seeds/001_bc4a36807ae2f319.txt`, "RPC Commands") parse into
//! the commands they mean, and resolve (keys, versions) as the guide says.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};

use lwm2m_core::{LwM2mPath, ModelRegistry, Version};
use lwm2m_dispatch::command::{Attributes, Command, Payload, Target};
use lwm2m_dispatch::resolve::{resolve, Action, Context, DeviceView, KeyMap};
use lwm2m_dispatch::thingsboard::{parse_request, parse_text};
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use serde_json::json;

fn id(s: &str) -> Target {
    Target::Id(s.into())
}

fn key(s: &str) -> Target {
    Target::Key(s.into())
}

/// The "plain RPC call example for REST API" documents, verbatim
/// (whitespace and all), with the command each one is.
#[test]
fn rest_api_examples_parse_verbatim() {
    let cases: Vec<(&str, Command)> = vec![
        (
            r#"{
   "method": "Read",
   "params": {"id": "/3/0/9"}
}"#,
            Command::Read {
                target: id("/3/0/9"),
                format: None,
            },
        ),
        (
            r#"{
   "method": "Read",
   "params": {"key": "batteryLevel"}
}"#,
            Command::Read {
                target: key("batteryLevel"),
                format: None,
            },
        ),
        (
            r#"{
   "method": "Discover",
   "params": {"id": "/3"}
}"#,
            Command::Discover { target: id("/3") },
        ),
        (
            r#"{
   "method": "WriteUpdate",
   "params": {"id":"/3/0","value":{"14":"+5","15":"Kiyv/Europe"}}
}"#,
            Command::Write {
                target: id("/3/0"),
                replace: false,
                payload: Payload::Json(json!({"14":"+5","15":"Kiyv/Europe"})),
                format: None,
            },
        ),
        (
            r#"{
   "method": "WriteAttributes",
   "params": {"id":"/19/0/0","attributes":{"pmax":120, "pmin":10}}
}"#,
            Command::WriteAttributes {
                target: id("/19/0/0"),
                attributes: Attributes {
                    pmax: Some(120),
                    pmin: Some(10),
                    ..Default::default()
                },
            },
        ),
        (
            r#"{
   "method": "ReadComposite",
   "params": {"ids":["/3/0/9", "/1_1.2"]}
}"#,
            Command::ReadComposite {
                targets: vec![id("/3/0/9"), id("/1_1.2")],
                format: None,
            },
        ),
        (
            r#"{
   "method": "WriteComposite",
   "params": {"nodes":{"/19_1.1/0":{"0":{"0":"00ad45675600", "25":"25ad45675600cdef"}}, "UtfOffset":"+04", "/3_1.0/0/15":"Kiyv/Europe"}}
}"#,
            Command::WriteComposite {
                nodes: vec![
                    (
                        id("/19_1.1/0"),
                        json!({"0":{"0":"00ad45675600", "25":"25ad45675600cdef"}}),
                    ),
                    // JSON objects are unordered: nodes come sorted by name.
                    (id("/3_1.0/0/15"), json!("Kiyv/Europe")),
                    (key("UtfOffset"), json!("+04")),
                ],
                typed: vec![],
                format: None,
            },
        ),
        (
            r#"{
   "method": "Execute",
   "params": {"id":"5/0/2"}
}"#,
            Command::Execute {
                target: id("5/0/2"),
                arguments: String::new(),
            },
        ),
        (
            r#"{
   "method": "Delete",
   "params": {"id":"/19/1"}
}"#,
            Command::Delete {
                target: id("/19/1"),
            },
        ),
        (
            r#"{
   "method": "Observe",
   "params": {"id":"/3/0/9"}
}"#,
            Command::Observe {
                target: id("/3/0/9"),
                format: None,
            },
        ),
        (
            r#"{
   "method": "ObserveComposite",
   "params": {"ids":["/5/0/7", "/5/0/5", "/5/0/3", "/3/0/9", "/19/1/0/0"]}
}"#,
            Command::ObserveComposite {
                targets: ["/5/0/7", "/5/0/5", "/5/0/3", "/3/0/9", "/19/1/0/0"]
                    .map(id)
                    .to_vec(),
                format: None,
            },
        ),
        (
            r#"{
   "method": "ObserveCancel",
   "params": {"id":"/5/0/7"}
}"#,
            Command::ObserveCancel {
                target: id("/5/0/7"),
            },
        ),
        (
            r#"{
   "method": "ObserveCompositeCancel",
   "params": {"ids":["/5/0/7", "/5/0/5", "/5/0/3", "/3/0/9", "/19/1/0/0"]}
}"#,
            Command::ObserveCompositeCancel {
                targets: ["/5/0/7", "/5/0/5", "/5/0/3", "/3/0/9", "/19/1/0/0"]
                    .map(id)
                    .to_vec(),
            },
        ),
        (
            r#"{
   "method": "ObserveCancelAll",
   "params": {}
}"#,
            Command::ObserveCancelAll,
        ),
        (
            r#"{
   "method": "ObserveReadAll",
   "params": {}
}"#,
            Command::ObserveReadAll,
        ),
        (
            r#"{
   "method": "DiscoverAll",
   "params": {}
}"#,
            Command::DiscoverAll,
        ),
        (
            r#"{
   "method": "Execute",
   "params": {
     "id": "/3/0/4"
   }
}"#,
            Command::Execute {
                target: id("/3/0/4"),
                arguments: String::new(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_request(text).unwrap(), expected, "{text}");
    }
}

/// The debug-terminal form (`Method {params}`), verbatim.
#[test]
fn debug_terminal_examples_parse_verbatim() {
    let lines = [
        r#"Read {"id":"/3_1.0/0/9"}"#,
        r#"Read {"id":"/3/0"}"#,
        r#"Discover {"id":"/3/0/1"}"#,
        r#"Discover {"key":"batteryLevel"}"#,
        r#"WriteUpdate {"id": "/19/0","value": {"0":{"0":"00ad456756", "25":"25ad456756"}}}"#,
        r#"WriteUpdate {"id": "/19/0/0","value": {"0":"00ad456756", "25":"25ad456756"}}"#,
        r#"WriteReplace {"id":"/19/0/0","value":"0081"}"#,
        r#"WriteReplace {"key":"timezone","value":"+10"}"#,
        r#"WriteReplace {"id": "/19_1.1/0/0","value": {"0":"00ad456797", "25":"25ad456700"}}"#,
        r#"ReadComposite {"keys":["state", "updateResult", "pkgversion", "batteryLevel"]}"#,
        r#"ReadComposite {"ids":["/3/0", "/1_1.2/0"]}"#,
        r#"ObserveComposite {"ids":["/5_1.2/0/7", "/5_1.2/0/5", "/5_1.2/0/3", "/3", "/19_1.1/1/0/0"]}"#,
        r#"ObserveCancel {"key":"updateResult"}"#,
        r#"Execute {"id":"1/0/8"}"#,
    ];
    for line in lines {
        let (method, params) = line.split_once(' ').unwrap();
        let command = parse_text(method, params).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(command.method().name(), method, "{line}");
    }
    // Bare commands without params, as typed in the terminal.
    assert_eq!(
        parse_text("ObserveCancelAll", "").unwrap(),
        Command::ObserveCancelAll
    );
    assert_eq!(parse_text("DiscoverAll", "").unwrap(), Command::DiscoverAll);
}

/// Resolution against a 1.1 device that registered /3 at 1.1, /1 at 1.1
/// and /19 at 1.1, with the guide's keys.
fn resolve_for_device(text: &str) -> Result<Option<Action>, lwm2m_dispatch::Error> {
    let device = DeviceView {
        lwm2m_version: Some(Version::V1_1),
        objects: BTreeMap::from([(1, Version::V1_1), (3, Version::V1_1), (19, Version::V1_1)]),
    };
    let p = |s: &str| s.parse::<LwM2mPath>().unwrap();
    let keys = KeyMap(HashMap::from([
        ("batteryLevel".to_owned(), p("/3/0/9")),
        ("timezone".to_owned(), p("/3/0/15")),
        ("UtfOffset".to_owned(), p("/3/0/14")),
        ("updateResult".to_owned(), p("/5/0/5")),
    ]));
    let models = ModelRegistry::with_core_objects();
    let versions = device.versions();
    let view = models.for_device(&versions);
    let command = parse_request(text)?;
    resolve(
        &command,
        &Context {
            device: &device,
            keys: &keys,
            models: &view,
        },
    )
}

#[test]
fn guide_examples_resolve_against_the_registration() {
    // The device registered /1 at 1.1: the guide's "/1_1.2" is refused, not sent.
    let e =
        resolve_for_device(r#"{"method":"ReadComposite","params":{"ids":["/3/0/9", "/1_1.2"]}}"#)
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid object version. Required version: 1.1"
    );
    let e = resolve_for_device(r#"{"method":"Read","params":{"id":"/3_1.0/0/9"}}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid object version. Required version: 1.1"
    );

    // Keys become paths; opaque hex becomes bytes, typed by object 19's model.
    let got = resolve_for_device(
        r#"{"method":"WriteComposite","params":{"nodes":{"/19_1.1/0":{"0":{"0":"00ad45675600", "25":"25ad45675600cdef"}}, "UtfOffset":"+04"}}}"#,
    )
    .unwrap();
    let Some(Action::Downlink(Op::WriteComposite(w))) = got else {
        panic!("{got:?}")
    };
    let paths: Vec<_> = w.values.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/19/0/0/0", "/19/0/0/25", "/3/0/14"]);

    let got = resolve_for_device(
        r#"{"method":"WriteReplace","params":{"key":"timezone","value":"+10"}}"#,
    )
    .unwrap();
    let Some(Action::Downlink(Op::Write(w))) = got else {
        panic!("{got:?}")
    };
    assert_eq!((w.path.as_str(), w.replace), ("/3/0/15", true));

    let got = resolve_for_device(r#"{"method":"ObserveCancel","params":{"key":"updateResult"}}"#)
        .unwrap();
    let Some(Action::Downlink(Op::CancelObserve(c))) = got else {
        panic!("{got:?}")
    };
    assert_eq!(c.path, "/5/0/5");
}
