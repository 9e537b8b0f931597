//! Register and Update requests as real LwM2M clients send them: the query
//! options (one `key=value` string per CoAP Uri-Query option), the payload
//! and its Content-Format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // failures are test failures

use lwm2m_core::registration::{Binding, RegisterRequest, UpdateRequest, DEFAULT_LIFETIME};
use lwm2m_core::{Error, Version};

fn register(query: &[&str], payload: &str) -> RegisterRequest {
    RegisterRequest::parse(query, Some(payload.as_bytes()), Some(40)).unwrap()
}

#[test]
fn lwm2m_node_lib_1_0() {
    let r = register(
        &["ep=foo", "lt=86400", "lwm2m=1.0", "b=U"],
        "</1>,</2>,</3>,</4>,</5>,</3303/0>",
    );
    assert_eq!(r.endpoint, "foo");
    assert_eq!(r.lifetime, Some(86400));
    assert_eq!(r.lwm2m_version, Version::V1_0);
    assert_eq!(r.binding, Some(Binding::UDP));
    assert!(!r.queue_mode);
    assert_eq!(r.objects.objects.len(), 6);
    assert!(r.objects.has_instance(3303, 0));
}

#[test]
fn leshan_client_1_1() {
    let payload = r#"</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,</6/0>,</3303>;ver=1.1,</3303/0>"#;
    let r = register(&["ep=leshan-client", "lt=300", "lwm2m=1.1", "b=U"], payload);
    assert_eq!(
        (r.lifetime_or_default(), r.lwm2m_version),
        (300, Version::V1_1)
    );
    assert_eq!(r.objects.content_formats, vec![60, 110, 112, 11542, 11543]);
    let versions = r.objects.object_versions(|_| Version::V1_0);
    assert_eq!(versions[&3], Version::V1_1);
    assert_eq!(versions[&6], Version::V1_0);
}

#[test]
fn wakaama_1_1_with_queue_mode() {
    let payload = r#"</>;rt="oma.lwm2m";ct=11543,</1/1>,</2/0>,</3/0>,</4/0>,</5/0>,</6/0>,</7/0>,</31024/10>,</31024/11>,</31024/12>"#;
    let r = register(
        &["ep=testlwm2mclient", "lt=300", "lwm2m=1.1", "b=U", "Q"],
        payload,
    );
    assert!(r.queue_mode);
    assert_eq!(r.binding_or_default().to_string(), "U");
    assert_eq!(r.objects.objects[&31024].instances.len(), 3);
}

#[test]
fn anjay_1_0_queue_and_sms() {
    let r = register(
        &[
            "ep=urn:dev:os:anjay-tutorial",
            "lt=86400",
            "lwm2m=1.0",
            "b=UQS",
            "sms=+12345678",
        ],
        "</1/1>,</3/0>",
    );
    assert_eq!(r.endpoint, "urn:dev:os:anjay-tutorial");
    let b = r.binding.unwrap();
    assert!(b.udp && b.sms && b.queue);
    assert!(r.queue_mode);
    assert_eq!(r.sms_number.as_deref(), Some("+12345678"));
}

#[test]
fn zephyr_1_1() {
    let payload = "</>;ct=11543,</0/0>,</1/0>,</3/0>,</4/0>,</5/0>,</6/0>,</3303/0>";
    let r = register(
        &["ep=zephyr-nrf9160", "lt=300", "lwm2m=1.1", "b=U"],
        payload,
    );
    assert_eq!(r.objects.root_path, "/");
    assert_eq!(r.objects.content_formats, vec![11543]);
    assert!(r.objects.has_instance(0, 0) && r.objects.has_instance(3303, 0));
}

/// LwM2M 1.2 (Core §6.2.1 and §5.2.2 of the Transport TS): the root link
/// lists several formats, LwM2M CBOR among them, objects carry minor
/// versions, and queue mode is the separate `Q` parameter.
#[test]
fn anjay_style_1_2_register() {
    let payload = r#"</>;rt="oma.lwm2m";ct="60 110 112 11542 11543 11544",</0>;ver=1.2,</1>;ver=1.2,</1/1>,</3>;ver=1.2,</3/0>,</5>;ver=1.1,</5/0>,</19>;ver=1.1,</19/0>,</3303>;ver=1.1,</3303/0>,</33605/5>"#;
    let r = register(
        &["ep=anjay-1.2", "lt=120", "lwm2m=1.2", "b=U", "Q"],
        payload,
    );
    assert_eq!(r.lwm2m_version, Version::V1_2);
    assert!(r.queue_mode);
    assert_eq!(
        r.objects.content_formats,
        vec![60, 110, 112, 11542, 11543, 11544]
    );
    let versions = r.objects.object_versions(|_| Version::V1_0);
    assert_eq!(versions[&3], Version::V1_2);
    assert_eq!(versions[&5], Version::V1_1);
    assert_eq!(versions[&19], Version::V1_1);
    assert_eq!(versions[&33605], Version::V1_0);
    assert!(r.objects.has_instance(33605, 5));
}

#[test]
fn minimal_register_applies_no_defaults_itself() {
    let r = RegisterRequest::parse(&["ep=x"], Some(&b"</3/0>"[..]), None).unwrap();
    assert_eq!(r.lifetime, None);
    assert_eq!(r.lifetime_or_default(), DEFAULT_LIFETIME);
    assert_eq!(r.lwm2m_version, Version::V1_0);
}

#[test]
fn rejected_registers() {
    let bad = |q: &[&str]| RegisterRequest::parse(q, None, None).unwrap_err();
    assert_eq!(
        bad(&["lt=60", "b=U"]),
        Error::Registration("missing endpoint name (ep)".to_owned())
    );
    assert!(matches!(bad(&["ep=x", "lt=0"]), Error::Registration(_)));
    assert!(matches!(bad(&["ep=x", "lt=abc"]), Error::Registration(_)));
    assert_eq!(
        bad(&["ep=x", "lwm2m=1.3"]),
        Error::UnsupportedLwm2mVersion("1.3".to_owned())
    );
    assert!(matches!(bad(&["ep=x", "lwm2m=v1"]), Error::Registration(_)));
    assert!(matches!(bad(&["ep=x", "b=W"]), Error::Registration(_)));
    let cf = RegisterRequest::parse(&["ep=x"], Some(&b"</3/0>"[..]), Some(0)).unwrap_err();
    assert!(
        matches!(cf, Error::Registration(ref m) if m.contains("content format 0")),
        "{cf}"
    );
    let links = RegisterRequest::parse(&["ep=x"], Some(&b"</3/0"[..]), Some(40)).unwrap_err();
    assert!(matches!(links, Error::LinkFormat(_)), "{links}");
}

#[test]
fn update_with_new_objects_and_lifetime() {
    let u = UpdateRequest::parse(
        &["lt=600"],
        Some(&b"</1/0>,</3/0>,</3303/0>,</3303/1>"[..]),
        Some(40),
    )
    .unwrap();
    assert_eq!(u.lifetime, Some(600));
    assert_eq!(u.objects.unwrap().objects[&3303].instances.len(), 2);
    let keepalive = UpdateRequest::parse::<&str>(&[], None, None).unwrap();
    assert!(keepalive.is_empty());
}
