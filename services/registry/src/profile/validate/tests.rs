//! Validation without a database: the models come from the built-in core
//! objects. (The conformance suite covers the same rules through the
//! service, against both databases.)

use lwm2m_core::{ModelRegistry, Version};

use super::*;
use crate::profile::{PowerSettings, ProfileObject};

fn models() -> ModelRegistry {
    ModelRegistry::with_core_objects()
}

fn device_object(resources: Vec<ResourceMapping>) -> ProfileObject {
    ProfileObject {
        object_id: 3,
        version: Version::V1_1,
        resources,
        attributes: vec![],
    }
}

fn mapping(resource_id: u16, attribute: bool, telemetry: bool, observe: bool) -> ResourceMapping {
    ResourceMapping {
        instance_id: 0,
        resource_id,
        attribute,
        telemetry,
        observe,
        key: String::new(),
        key_generated: false,
    }
}

fn fields(config: &mut ProfileConfig) -> Vec<String> {
    match validate(config, &models()) {
        Ok(()) => vec![],
        Err(e) => e.field_errors().iter().map(|f| f.field.clone()).collect(),
    }
}

#[test]
fn an_empty_profile_is_valid() {
    assert!(fields(&mut ProfileConfig::default()).is_empty());
}

#[test]
fn unchecked_resources_are_dropped_and_keys_generated() {
    let mut config = ProfileConfig {
        objects: vec![device_object(vec![
            mapping(9, false, true, true),
            mapping(2, false, false, false),
        ])],
        ..ProfileConfig::default()
    };
    assert!(fields(&mut config).is_empty());
    let resources = &config.objects[0].resources;
    assert_eq!(resources.len(), 1);
    assert_eq!(
        (resources[0].key.as_str(), resources[0].key_generated),
        ("batteryLevel", true)
    );
}

#[test]
fn executable_resources_cannot_be_read() {
    // /3/0/4 is Reboot.
    let mut config = ProfileConfig {
        objects: vec![device_object(vec![mapping(4, true, false, false)])],
        ..ProfileConfig::default()
    };
    assert_eq!(fields(&mut config), ["objects[0].resources[0].attribute"]);
}

#[test]
fn format_preference_knows_lwm2m_cbor() {
    let mut config = ProfileConfig {
        format_preference: vec![11544, 112],
        ..ProfileConfig::default()
    };
    assert!(
        fields(&mut config).is_empty(),
        "LwM2M CBOR (1.2) is a format"
    );
    config.format_preference = vec![11545];
    assert_eq!(fields(&mut config), vec!["format_preference[0]".to_owned()]);
}

#[test]
fn bindings_and_uris_are_checked() {
    assert!(check_binding("UQ").is_ok());
    assert!(check_binding("UU").is_err());
    assert!(check_binding("X").is_err());
    assert!(check_binding("").is_err());
    assert!(check_uri("coaps://h:5684", SecurityMode::X509).is_ok());
    assert!(check_uri("coap://h", SecurityMode::NoSec).is_ok());
    assert!(check_uri("coap://h", SecurityMode::Rpk).is_err());
    assert!(check_uri("h:5683", SecurityMode::NoSec).is_err());
}

#[test]
fn power_timers_belong_to_their_mode() {
    let mut drx = ProfileConfig {
        power: PowerSettings {
            mode: Some(PowerMode::Drx),
            ..PowerSettings::default()
        },
        ..ProfileConfig::default()
    };
    assert!(fields(&mut drx).is_empty());
    let mut edrx = ProfileConfig {
        power: PowerSettings {
            mode: Some(PowerMode::EDrx),
            edrx_cycle_ms: Some(0),
            psm_activity_timer_ms: Some(5),
            ..PowerSettings::default()
        },
        ..ProfileConfig::default()
    };
    assert_eq!(
        fields(&mut edrx),
        [
            "power.psm_activity_timer_ms",
            "power.edrx_cycle_ms",
            "power.paging_transmission_window_ms"
        ]
    );
}

#[test]
fn thresholds_follow_the_specification() {
    let attrs = |gt, lt, st| NotificationAttributes {
        instance_id: Some(0),
        resource_id: Some(9),
        gt,
        lt,
        st,
        ..NotificationAttributes::default()
    };
    let mut ok = ProfileConfig {
        objects: vec![ProfileObject {
            attributes: vec![attrs(Some(80.0), Some(20.0), Some(10.0))],
            ..device_object(vec![])
        }],
        ..ProfileConfig::default()
    };
    assert!(fields(&mut ok).is_empty());
    let mut crossed = ProfileConfig {
        objects: vec![ProfileObject {
            attributes: vec![attrs(Some(30.0), Some(20.0), Some(5.0))],
            ..device_object(vec![])
        }],
        ..ProfileConfig::default()
    };
    assert_eq!(fields(&mut crossed), ["objects[0].attributes[0].lt"]);
    let mut nan = ProfileConfig {
        objects: vec![ProfileObject {
            attributes: vec![attrs(Some(f64::NAN), None, Some(-1.0))],
            ..device_object(vec![])
        }],
        ..ProfileConfig::default()
    };
    assert_eq!(
        fields(&mut nan),
        ["objects[0].attributes[0].gt", "objects[0].attributes[0].st"]
    );
}
