//! Device profiles: every setting round trips, revisions, names, and
//! validation that names the faulty field.

use std::collections::BTreeSet;
use std::sync::Arc;

use lwm2m_core::Version;

use super::fixtures::{ddf, nosec, tenant};
use super::{open, Harness};
use crate::device::SecurityMode;
use crate::error::Error;
use crate::ids::Scope;
use crate::profile::{
    BootstrapServer, FirmwareUpdateStrategy, NotificationAttributes, ObserveStrategy, PowerMode,
    PowerSettings, ProfileConfig, ProfileObject, ResourceMapping, SoftwareUpdateStrategy,
};

pub fn mapping(instance_id: u16, resource_id: u16, flags: &str, key: &str) -> ResourceMapping {
    ResourceMapping {
        instance_id,
        resource_id,
        attribute: flags.contains('a'),
        telemetry: flags.contains('t'),
        observe: flags.contains('o'),
        key: key.to_owned(),
        key_generated: false,
    }
}

/// A profile over the built-in Device object (3, version 1.1) with every
/// setting used.
pub fn full_config() -> ProfileConfig {
    ProfileConfig {
        objects: vec![ProfileObject {
            object_id: 3,
            version: Version::V1_1,
            resources: vec![
                mapping(0, 0, "a", ""),
                mapping(0, 9, "to", ""),
                mapping(0, 13, "a", "clock"),
                mapping(0, 2, "", ""),
            ],
            attributes: vec![
                NotificationAttributes {
                    pmin: Some(10),
                    pmax: Some(60),
                    ..Default::default()
                },
                NotificationAttributes {
                    instance_id: Some(0),
                    resource_id: Some(9),
                    gt: Some(80.0),
                    lt: Some(20.0),
                    st: Some(5.0),
                    epmin: Some(1),
                    epmax: Some(30),
                    ..Default::default()
                },
            ],
        }],
        observe_strategy: ObserveStrategy::CompositeByObject,
        init_using_observe_strategy: true,
        default_object_version: Version::V1_1,
        format_preference: vec![112, 11542],
        bootstrap: crate::profile::BootstrapSettings {
            servers: vec![BootstrapServer {
                bootstrap_server: false,
                short_server_id: 123,
                uri: "coaps://lwm2m.example.com:5684".into(),
                security_mode: SecurityMode::Psk,
                lifetime_s: 300,
                default_pmin_s: 1,
                default_pmax_s: 60,
                binding: "UQ".into(),
                notification_storing: true,
            }],
        },
        firmware_update: Some(FirmwareUpdateStrategy::PullObject5Uri),
        software_update: Some(SoftwareUpdateStrategy::PushObject9Package),
        use_object19_for_ota_metadata: true,
        power: PowerSettings {
            mode: Some(PowerMode::EDrx),
            psm_activity_timer_ms: None,
            edrx_cycle_ms: Some(81_920),
            paging_transmission_window_ms: Some(2_560),
        },
    }
}

pub async fn profile_lifecycle(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let created = reg
        .create_profile(
            acme.clone(),
            "meters".into(),
            "NB-IoT meters".into(),
            full_config(),
        )
        .await
        .unwrap();
    assert_eq!(created.revision, 1);
    let resources = &created.config.objects[0].resources;
    let keys: Vec<(&str, bool)> = resources
        .iter()
        .map(|r| (r.key.as_str(), r.key_generated))
        .collect();
    assert_eq!(
        keys,
        [
            ("manufacturer", true),
            ("batteryLevel", true),
            ("clock", false)
        ],
        "unchecked /3/0/2 is dropped, keys generated or kept"
    );
    let read = reg.get_profile(&created.id).await.unwrap();
    assert_eq!(read, created, "every setting round trips");

    let dup = reg
        .create_profile(
            acme.clone(),
            "meters".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::AlreadyExists { .. }), "{dup}");
    assert!(dup.to_string().contains("meters"), "{dup}");
    // Another tenant may use the same name.
    let other = tenant(&reg, "other").await;
    reg.create_profile(
        other.clone(),
        "meters".into(),
        String::new(),
        ProfileConfig::default(),
    )
    .await
    .unwrap();

    let mut config = read.config.clone();
    config.observe_strategy = ObserveStrategy::CompositeAll;
    config.objects[0].resources[1].key = "battery".into();
    config.objects[0].resources[1].key_generated = false;
    let updated = reg
        .update_profile(
            &created.id,
            "meters v2".into(),
            String::new(),
            config.clone(),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.revision, 2);
    assert_eq!(updated.config.objects[0].resources[1].key, "battery");
    assert_eq!(reg.get_profile(&created.id).await.unwrap(), updated);
    let stale = reg
        .update_profile(
            &created.id,
            "x".into(),
            String::new(),
            config.clone(),
            Some(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            Error::RevisionMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{stale}"
    );
    reg.create_profile(
        acme.clone(),
        "taken".into(),
        String::new(),
        ProfileConfig::default(),
    )
    .await
    .unwrap();
    let rename = reg
        .update_profile(&created.id, "taken".into(), String::new(), config, None)
        .await
        .unwrap_err();
    assert!(matches!(rename, Error::AlreadyExists { .. }), "{rename}");

    let listed = reg.list_profiles(Some(&acme), "", 10).await.unwrap();
    let names: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["meters v2", "taken"]);
    assert_eq!(
        reg.list_profiles(None, "", 10).await.unwrap().items.len(),
        3
    );

    let mut device = nosec(&acme, "meter-1");
    device.profile_id = Some(created.id.clone());
    let device = reg.create_device(device).await.unwrap();
    let in_use = reg.delete_profile(&created.id).await.unwrap_err();
    assert!(matches!(in_use, Error::FailedPrecondition(_)), "{in_use}");
    reg.delete_device(&device.id).await.unwrap();
    reg.delete_profile(&created.id).await.unwrap();
    assert!(matches!(
        reg.get_profile(&created.id).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn profile_validation_names_every_field(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let config = ProfileConfig {
        objects: vec![
            ProfileObject {
                object_id: 45000,
                version: Version::V1_0,
                resources: vec![],
                attributes: vec![],
            },
            ProfileObject {
                object_id: 4,
                version: Version::new(1, 7),
                resources: vec![],
                attributes: vec![],
            },
            ProfileObject {
                object_id: 3,
                version: Version::V1_1,
                resources: vec![
                    mapping(0, 4, "ot", ""),
                    mapping(0, 999, "a", ""),
                    mapping(1, 9, "t", ""),
                    mapping(0, 0, "a", "dup"),
                    mapping(0, 1, "a", "dup"),
                    mapping(0, 2, "o", ""),
                    mapping(0, 3, "a", "has space"),
                ],
                attributes: vec![
                    NotificationAttributes {
                        instance_id: Some(0),
                        resource_id: Some(0),
                        gt: Some(5.0),
                        ..Default::default()
                    },
                    NotificationAttributes {
                        pmin: Some(100),
                        pmax: Some(10),
                        ..Default::default()
                    },
                    NotificationAttributes {
                        instance_id: Some(0),
                        resource_id: Some(4),
                        ..Default::default()
                    },
                ],
            },
            ProfileObject {
                object_id: 3,
                version: Version::V1_1,
                resources: vec![],
                attributes: vec![],
            },
        ],
        format_preference: vec![112, 9999],
        bootstrap: crate::profile::BootstrapSettings {
            servers: vec![BootstrapServer {
                bootstrap_server: false,
                short_server_id: 0,
                uri: "coap://lwm2m.example.com".into(),
                security_mode: SecurityMode::Psk,
                lifetime_s: 300,
                default_pmin_s: 0,
                default_pmax_s: 0,
                binding: "U".into(),
                notification_storing: false,
            }],
        },
        power: PowerSettings {
            mode: Some(PowerMode::Psm),
            edrx_cycle_ms: Some(1000),
            ..Default::default()
        },
        ..ProfileConfig::default()
    };
    let err = reg
        .create_profile(acme.clone(), "bad".into(), String::new(), config)
        .await
        .unwrap_err();
    let fields: BTreeSet<&str> = err
        .field_errors()
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "objects[0].object_id",
        "objects[1].version",
        "objects[2].resources[0].observe",
        "objects[2].resources[0].telemetry",
        "objects[2].resources[1].resource_id",
        "objects[2].resources[2].instance_id",
        "objects[2].resources[4].key",
        "objects[2].resources[5].observe",
        "objects[2].resources[6].key",
        "objects[2].attributes[0].gt",
        "objects[2].attributes[1].pmin",
        "objects[2].attributes[2].resource_id",
        "objects[3].object_id",
        "format_preference[1]",
        "bootstrap.servers[0].short_server_id",
        "bootstrap.servers[0].uri",
        "power.psm_activity_timer_ms",
        "power.edrx_cycle_ms",
    ]
    .into_iter()
    .collect();
    assert_eq!(fields, expected, "{err}");
    let text = err.to_string();
    for fragment in [
        "object 45000 has no model",
        "version 1.7 is not in the registry (known: 1.2)",
        "/3/0/4 (Reboot) is executable",
        "\"dup\" is already used by objects[2].resources[3].key",
        "needs a coaps:// URI",
    ] {
        assert!(text.contains(fragment), "{fragment:?} missing from: {text}");
    }
    assert!(reg
        .list_profiles(Some(&acme), "", 10)
        .await
        .unwrap()
        .items
        .is_empty());

    // Names are checked too, and an unknown tenant is not found.
    let blank = reg
        .create_profile(acme, String::new(), String::new(), ProfileConfig::default())
        .await
        .unwrap_err();
    assert_eq!(blank.field_errors()[0].field, "profile.name");
}

pub async fn generated_keys_stay_unique(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let resources = [
        (0, "Value", "R", "Integer"),
        (1, "Set Point", "RW", "Float"),
    ];
    reg.import_models(
        Scope::Tenant(acme.clone()),
        vec![
            ddf(40500, "1.0", "A", &resources),
            ddf(40501, "1.0", "B", &resources),
        ],
        false,
    )
    .await
    .unwrap();
    let object = |id, resources| ProfileObject {
        object_id: id,
        version: Version::V1_0,
        resources,
        attributes: vec![],
    };
    let config = ProfileConfig {
        objects: vec![
            object(
                40500,
                vec![
                    mapping(0, 0, "t", ""),
                    mapping(1, 0, "t", ""),
                    mapping(0, 1, "a", ""),
                ],
            ),
            object(
                40501,
                vec![mapping(0, 0, "t", ""), mapping(0, 1, "a", "value")],
            ),
        ],
        ..ProfileConfig::default()
    };
    let p = reg
        .create_profile(acme.clone(), "keys".into(), String::new(), config)
        .await
        .unwrap();
    let keys: Vec<&str> = p
        .config
        .objects
        .iter()
        .flat_map(|o| o.resources.iter().map(|r| r.key.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            "value40500",
            "value40500_1",
            "setPoint",
            "value40501",
            "value"
        ],
        "the explicit key wins, generated ones get the object id (and instance)"
    );
    // Sending the profile back unchanged keeps the same keys.
    let again = reg
        .update_profile(&p.id, p.name.clone(), String::new(), p.config.clone(), None)
        .await
        .unwrap();
    assert_eq!(again.config, p.config);
}
