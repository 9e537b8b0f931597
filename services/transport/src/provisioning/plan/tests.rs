use super::*;
use lwm2m_registry::ids::{ProfileId, TenantId};
use lwm2m_registry::profile::{ProfileConfig, ProfileObject, ResourceMapping};

fn mapping(instance_id: u16, resource_id: u16, flags: &str, key: &str) -> ResourceMapping {
    ResourceMapping {
        instance_id,
        resource_id,
        attribute: flags.contains('a'),
        telemetry: flags.contains('t'),
        observe: flags.contains('o'),
        key: key.into(),
        key_generated: false,
    }
}

fn profile(strategy: ObserveStrategy, init_with_observe: bool) -> DeviceProfile {
    DeviceProfile {
        id: ProfileId::generate(),
        tenant_id: TenantId::parse("acme", "t").unwrap(),
        name: "meters".into(),
        description: String::new(),
        config: ProfileConfig {
            objects: vec![
                ProfileObject {
                    object_id: 3,
                    version: Version::V1_0,
                    resources: vec![
                        mapping(0, 0, "a", "manufacturer"),
                        mapping(0, 9, "to", "batteryLevel"),
                        mapping(0, 13, "t", "currentTime"),
                    ],
                    attributes: vec![NotificationAttributes {
                        instance_id: Some(0),
                        resource_id: Some(9),
                        pmin: Some(5),
                        pmax: Some(60),
                        ..Default::default()
                    }],
                },
                ProfileObject {
                    object_id: 3303,
                    version: Version::V1_1,
                    resources: vec![mapping(0, 5700, "o", "temperature")],
                    attributes: vec![],
                },
                ProfileObject {
                    object_id: 6,
                    version: Version::V1_0,
                    resources: vec![mapping(0, 0, "o", "latitude")],
                    attributes: vec![],
                },
            ],
            observe_strategy: strategy,
            init_using_observe_strategy: init_with_observe,
            ..Default::default()
        },
        revision: 1,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn objects(list: &[(u16, Version, &[u16])]) -> BTreeMap<u16, ObjectEntry> {
    list.iter()
        .map(|(id, version, instances)| {
            (
                *id,
                ObjectEntry {
                    version: *version,
                    instances: instances.to_vec(),
                },
            )
        })
        .collect()
}

fn p(text: &str) -> LwM2mPath {
    text.parse().unwrap()
}

#[test]
fn single_strategy_reads_attributes_and_observes_each_resource() {
    let device = objects(&[
        (3, Version::V1_0, &[0]),
        (3303, Version::V1_1, &[0]),
        (6, Version::V1_0, &[0]),
    ]);
    let plan = plan(&profile(ObserveStrategy::Single, false), &device);
    assert!(plan.skipped.is_empty());
    assert_eq!(plan.reads, vec![p("/3/0/0"), p("/3/0/13")]);
    assert_eq!(
        plan.observes,
        vec![
            ObserveStep::Single(p("/3/0/9")),
            ObserveStep::Single(p("/3303/0/5700")),
            ObserveStep::Single(p("/6/0/0")),
        ]
    );
    assert_eq!(plan.write_attributes.len(), 1);
    let (target, attrs) = &plan.write_attributes[0];
    assert_eq!(*target, p("/3/0/9"));
    assert_eq!((attrs.pmin, attrs.pmax), (Some(5), Some(60)));
}

#[test]
fn a_version_mismatch_skips_the_object_and_says_which_version_was_expected() {
    let device = objects(&[
        (3, Version::V1_0, &[0]),
        (3303, Version::V1_0, &[0]),
        (6, Version::V1_0, &[0]),
    ]);
    let plan = plan(&profile(ObserveStrategy::Single, false), &device);
    assert_eq!(
        plan.skipped,
        vec![VersionMismatch {
            object_id: 3303,
            announced: Version::V1_0,
            expected: Version::V1_1,
        }]
    );
    assert!(!plan
        .observes
        .contains(&ObserveStep::Single(p("/3303/0/5700"))));
}

#[test]
fn composite_strategies_group_all_or_by_object() {
    let device = objects(&[
        (3, Version::V1_0, &[0]),
        (3303, Version::V1_1, &[0]),
        (6, Version::V1_0, &[]),
    ]);
    let all = plan(&profile(ObserveStrategy::CompositeAll, false), &device);
    assert_eq!(
        all.observes,
        vec![ObserveStep::Composite(vec![
            p("/3/0/9"),
            p("/3303/0/5700"),
            p("/6/0/0")
        ])]
    );
    let by_object = plan(&profile(ObserveStrategy::CompositeByObject, true), &device);
    // Initialising with the observe strategy folds the reads in.
    assert!(by_object.reads.is_empty());
    assert_eq!(
        by_object.observes,
        vec![
            ObserveStep::Composite(vec![p("/3/0/0"), p("/3/0/9"), p("/3/0/13")]),
            ObserveStep::Composite(vec![p("/6/0/0")]),
            ObserveStep::Composite(vec![p("/3303/0/5700")]),
        ]
    );
}

#[test]
fn objects_or_instances_the_device_lacks_are_not_asked_for() {
    let device = objects(&[(3, Version::V1_0, &[1])]);
    let plan = plan(&profile(ObserveStrategy::Single, false), &device);
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn key_names_map_resource_paths_and_their_instances() {
    let keys = KeyMap::of(&profile(ObserveStrategy::Single, false));
    assert_eq!(keys.key_for("/3/0/9"), Some("batteryLevel"));
    assert_eq!(keys.key_for("/3_1.0/0/9"), Some("batteryLevel"));
    assert_eq!(keys.key_for("/3303/0/5700"), Some("temperature"));
    assert_eq!(keys.key_for("/3/0/7/1"), None);
    assert_eq!(keys.key_for("/3/0"), None);
    assert_eq!(keys.key_for("not a path"), None);
}
