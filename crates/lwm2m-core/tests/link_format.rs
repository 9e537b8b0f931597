//! CoRE link format with LwM2M attributes: golden documents from the OMA
//! LwM2M 1.1.1 Core TS (and the 1.0 TS where its example differs), what
//! real clients send, a round-trip property and a never-panics property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // failures are test failures

use lwm2m_core::link::discover::{parse_discover, write_discover};
use lwm2m_core::link::{parse, serialize, AttrValue, Link, LwM2mAttributes, RegisteredObjects};
use lwm2m_core::{Error, LwM2mPath, Version};
use proptest::prelude::*;

fn instances(reg: &RegisteredObjects) -> Vec<String> {
    reg.objects
        .iter()
        .flat_map(|(o, obj)| {
            let mut v: Vec<String> = obj.instances.iter().map(|i| format!("/{o}/{i}")).collect();
            if v.is_empty() {
                v.push(format!("/{o}"));
            }
            v
        })
        .collect()
}

/// LwM2M 1.1.1 Core TS §5.3.1 (Register): the example client's payload.
#[test]
fn register_payload_5_3_1() {
    let doc = "</1/0>,</1/1>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</3/0>,</4/0>,</5/0>";
    let links = parse(doc).unwrap();
    assert_eq!(links.len(), 10);
    assert!(links.iter().all(|l| l.attributes.is_empty()));
    assert_eq!(serialize(&links), doc, "serializes back byte for byte");
    let reg = RegisteredObjects::from_links(&links).unwrap();
    assert_eq!(reg.root_path, "/");
    assert!(reg.content_formats.is_empty());
    assert_eq!(
        instances(&reg),
        vec!["/1/0", "/1/1", "/2/0", "/2/1", "/2/2", "/2/3", "/2/4", "/3/0", "/4/0", "/5/0"]
    );
    assert_eq!(serialize(&reg.to_links()), doc);
}

/// LwM2M 1.1.1 Core TS §5.2.2 / §6.2.2: objects under the alternate path `/lwm2m`.
#[test]
fn alternate_path_5_2_2() {
    let doc = r#"</lwm2m>;rt="oma.lwm2m",</lwm2m/1/101>,</lwm2m/1/102>,</lwm2m/2/0>,</lwm2m/2/1>,</lwm2m/2/2>,</lwm2m/3/0>,</lwm2m/4/0>,</lwm2m/5>"#;
    let reg = RegisteredObjects::parse(doc).unwrap();
    assert_eq!(reg.root_path, "/lwm2m");
    assert_eq!(
        instances(&reg),
        vec!["/1/101", "/1/102", "/2/0", "/2/1", "/2/2", "/3/0", "/4/0", "/5"]
    );
    assert_eq!(serialize(&reg.to_links()), doc);
    // The 1.0 TS prints the same example with spaces inside the targets and
    // after the commas (`</lwm2m /1/0>`); clients copied it.
    let printed = "</lwm2m>;rt=\"oma.lwm2m\", </lwm2m /1/0>,</lwm2m /1/1>,\n</lwm2m /2/0>,</lwm2m /2/1>,</lwm2m /2/2>,</lwm2m /2/3>,\n</lwm2m /2/4>,</lwm2m /3/0>,</lwm2m /4/0>,</lwm2m /5>";
    let reg = RegisteredObjects::parse(printed).unwrap();
    assert_eq!(reg.root_path, "/lwm2m");
    assert_eq!(
        instances(&reg),
        vec!["/1/0", "/1/1", "/2/0", "/2/1", "/2/2", "/2/3", "/2/4", "/3/0", "/4/0", "/5"]
    );
}

/// LwM2M 1.1.1 Core TS §5.4.2 (Discover on /3/0): instance attributes,
/// multiple resources with `dim`, and notification attributes on /3/0/7.
#[test]
fn discover_object_instance_5_4_2() {
    let doc = "</3/0>;pmin=10,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/6>;dim=8,</3/0/7>;dim=8;gt=50;lt=42.2,</3/0/8>;dim=8,</3/0/11>,</3/0/16>";
    let entries = parse_discover(doc, "/").unwrap();
    let paths: Vec<String> = entries.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        paths,
        vec![
            "/3/0", "/3/0/1", "/3/0/2", "/3/0/3", "/3/0/4", "/3/0/6", "/3/0/7", "/3/0/8",
            "/3/0/11", "/3/0/16"
        ]
    );
    assert_eq!(
        entries[0].1,
        LwM2mAttributes {
            pmin: Some(10),
            ..Default::default()
        }
    );
    let r7 = &entries[6].1;
    assert_eq!((r7.dim, r7.gt, r7.lt), (Some(8), Some(50.0), Some(42.2)));
    assert_eq!(entries[5].1.dim, Some(8));
    assert!(entries[1].1.is_empty());
    assert_eq!(
        write_discover(&entries),
        doc,
        "our Discover answer is byte-identical"
    );
}

/// LwM2M 1.0 TS §5.4.2 prints the same Discover example with `pmax=60`.
#[test]
fn discover_object_instance_1_0() {
    let doc = "</3/0>;pmax=60,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/6>;dim=8,</3/0/7>;dim=8;gt=50;lt=42.2,</3/0/8>;dim=8,</3/0/11>,</3/0/16>";
    let entries = parse_discover(doc, "/").unwrap();
    assert_eq!(entries[0].1.pmax, Some(60));
    assert_eq!(write_discover(&entries), doc);
}

/// LwM2M 1.1.1 Core TS §5.4.2: Discover on a Server object instance lists its resources.
#[test]
fn discover_server_instance_5_4_2() {
    let doc =
        "</1/0>,</1/0/0>,</1/0/1>,</1/0/2>,</1/0/3>,</1/0/4>,</1/0/5>,</1/0/6>,</1/0/7>,</1/0/8>";
    let entries = parse_discover(doc, "/").unwrap();
    assert_eq!(entries.len(), 10);
    assert_eq!(entries[0].0, LwM2mPath::object_instance(1, 0).unwrap());
    assert_eq!(entries[9].0, LwM2mPath::resource(1, 0, 8).unwrap());
    assert_eq!(write_discover(&entries), doc);
}

/// After LwM2M 1.1.1 Core TS §5.2.7.3 (Bootstrap-Discover): `ssid` and `uri`
/// on Security/Server instances, `lwm2m` on the root link.
#[test]
fn bootstrap_discover_5_2_7_3() {
    let doc = r#"</>;lwm2m=1.1,</0/0>;ssid=101;uri="coap://server_1.example.com",</0/1>;ssid=102;uri="coap://server_2.example.com",</0/2>,</1/0>;ssid=101,</1/1>;ssid=102,</3/0>"#;
    let links = parse(doc).unwrap();
    assert_eq!(links[0].value("lwm2m"), Some("1.1"));
    let entries = parse_discover(doc, "/").unwrap();
    assert_eq!(entries[1].1.ssid, Some(101));
    assert_eq!(
        entries[1].1.uri.as_deref(),
        Some("coap://server_1.example.com")
    );
    assert_eq!(entries[4].1.ssid, Some(101));
    assert_eq!(serialize(&links), doc);
}

/// Simple Discover answers the simulator writes: `</3/0/7>;dim=2,</3/0/9>;pmin=10`.
#[test]
fn discover_resources() {
    let entries = vec![
        (
            LwM2mPath::resource(3, 0, 7).unwrap(),
            LwM2mAttributes {
                dim: Some(2),
                ..Default::default()
            },
        ),
        (
            LwM2mPath::resource(3, 0, 9).unwrap(),
            LwM2mAttributes {
                pmin: Some(10),
                ..Default::default()
            },
        ),
    ];
    assert_eq!(write_discover(&entries), "</3/0/7>;dim=2,</3/0/9>;pmin=10");
    assert_eq!(
        parse_discover("</3/0/7>;dim=2,</3/0/9>;pmin=10", "/").unwrap(),
        entries
    );
}

/// What clients in the field send.
#[test]
fn real_client_payloads() {
    // Leshan client 2.x (LwM2M 1.1): root link with rt and ct, versions on objects.
    let leshan = r#"</>;rt="oma.lwm2m";ct="60 110 112 1542 1543 11542 11543",</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,</6/0>,</3303>;ver=1.1,</3303/0>"#;
    let reg = RegisteredObjects::parse(leshan).unwrap();
    assert_eq!(
        reg.content_formats,
        vec![60, 110, 112, 1542, 1543, 11542, 11543]
    );
    assert_eq!(reg.objects[&3303].version, Some(Version::V1_1));
    assert_eq!(reg.objects[&6].version, None);

    // Zephyr LwM2M 1.1: `</>;ct=11543` root, no rt.
    let zephyr = "</>;ct=11543,</0/0>,</1/0>,</3/0>,</4/0>,</5/0>,</3303/0>";
    let reg = RegisteredObjects::parse(zephyr).unwrap();
    assert_eq!(
        (reg.root_path.as_str(), reg.content_formats.clone()),
        ("/", vec![11543])
    );
    assert!(reg.has_instance(3303, 0));

    // Wakaama / Anjay 1.0: no root link, objects without instances, a trailing comma.
    let wakaama = "</1/0>,</3/0>,</4/0>,</5>,</31024/10>,</31024/11>,";
    let reg = RegisteredObjects::parse(wakaama).unwrap();
    assert_eq!(reg.objects[&31024].instances.len(), 2);
    assert!(reg.objects[&5].instances.is_empty());

    // Value-less attributes, spaces and newlines, `</3/0>;ver=1.1` on an instance.
    let odd = "</>;rt=\"oma.lwm2m\";ct=110 ,\r\n </1/0>;hb, </3/0>;ver=1.1,\n</5>,</3303/0>";
    let reg = RegisteredObjects::parse(odd).unwrap();
    assert_eq!(reg.objects[&3].version, Some(Version::V1_1));
    assert_eq!(reg.content_formats, vec![110]);

    // Empty payload: a client with nothing to declare (Update without payload).
    let reg = RegisteredObjects::parse("").unwrap();
    assert!(reg.objects.is_empty());
}

#[test]
fn malformed_documents_are_link_format_errors() {
    for doc in [
        "/1/0",
        "</1/0",
        "</1/0>;rt=\"x",
        "</1/0> junk",
        "</3/0/1>",
        "</1/65535>",
    ] {
        match RegisteredObjects::parse(doc) {
            Err(Error::LinkFormat(msg)) => assert!(!msg.is_empty()),
            other => panic!("{doc:?}: {other:?}"),
        }
    }
}

#[test]
fn write_attributes_query() {
    let attrs = LwM2mAttributes {
        pmin: Some(10),
        pmax: Some(60),
        gt: Some(20.5),
        ..Default::default()
    };
    assert_eq!(attrs.query_string(), "pmin=10&pmax=60&gt=20.5");
    assert_eq!(attrs.to_query(), vec!["pmin=10", "pmax=60", "gt=20.5"]);
}

fn link_strategy() -> impl Strategy<Value = Link> {
    let name = "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,8}";
    // A bare value: no separators, whitespace or leading quote.
    let token = "[a-zA-Z0-9!#$%&'()*+./:<=>?@^_`{|}~\\[\\]-]{0,10}";
    let value = prop_oneof![
        Just(None),
        token.prop_map(|t| Some(AttrValue::Token(t))),
        "\\PC{0,10}".prop_map(|q| Some(AttrValue::Quoted(q))),
    ];
    ("[^<>]{0,12}", prop::collection::vec((name, value), 0..5))
        .prop_map(|(target, attributes)| Link { target, attributes })
}

fn attributes_strategy() -> impl Strategy<Value = LwM2mAttributes> {
    let finite = any::<f64>().prop_filter("finite", |f| f.is_finite());
    (
        (
            prop::option::of((0u8..10, 0u8..10)),
            prop::collection::vec(any::<u16>(), 0..4),
            prop::option::of("[a-z.]{1,10}"),
        ),
        (
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
        ),
        (
            prop::option::of(finite.clone()),
            prop::option::of(finite.clone()),
            prop::option::of(finite),
        ),
        (
            prop::option::of(any::<u16>()),
            prop::option::of(any::<u16>()),
            prop::option::of("[a-z:/.]{1,20}"),
        ),
    )
        .prop_map(
            |((ver, ct, rt), (pmin, pmax, epmin, epmax), (gt, lt, st), (dim, ssid, uri))| {
                LwM2mAttributes {
                    ver: ver.map(|(a, b)| Version::new(a, b)),
                    ct,
                    rt,
                    pmin,
                    pmax,
                    gt,
                    lt,
                    st,
                    epmin,
                    epmax,
                    dim,
                    ssid,
                    uri,
                }
            },
        )
}

proptest! {
    #[test]
    fn serialize_then_parse_is_identity(links in prop::collection::vec(link_strategy(), 0..6)) {
        let text = serialize(&links);
        prop_assert_eq!(parse(&text).unwrap(), links);
    }

    #[test]
    fn lwm2m_attributes_round_trip(attrs in attributes_strategy()) {
        let link = Link::new("/3/0/7").with_lwm2m_attributes(&attrs);
        let reparsed = parse(&link.to_string()).unwrap();
        prop_assert_eq!(reparsed.len(), 1);
        prop_assert_eq!(LwM2mAttributes::from_link(&reparsed[0]).unwrap(), attrs.clone());
        let (query, unset) = LwM2mAttributes::from_query(&attrs.to_query()).unwrap();
        prop_assert!(unset.is_empty());
        prop_assert_eq!(query.pmin, attrs.pmin);
        prop_assert_eq!(query.gt, attrs.gt);
        prop_assert_eq!(query.epmax, attrs.epmax);
    }

    /// Fuzz-style: arbitrary text never panics any entry point.
    #[test]
    fn never_panics_on_arbitrary_text(doc in "\\PC{0,64}") {
        let _ = parse(&doc);
        let _ = RegisteredObjects::parse(&doc);
        let _ = parse_discover(&doc, "/lwm2m");
    }

    /// The same with the link-format alphabet, to reach deeper into the parser.
    #[test]
    fn never_panics_on_link_like_text(doc in "[<>;,=\" \\\\/a-z0-9.\\n]{0,64}") {
        if let Ok(links) = parse(&doc) {
            // What parses serializes and parses back to the same links.
            prop_assert_eq!(parse(&serialize(&links)).unwrap(), links);
        }
        let _ = RegisteredObjects::parse(&doc);
        let _ = parse_discover(&doc, "/");
    }
}
