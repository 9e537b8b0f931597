//! The object tree a simulated device boots with: Server (1), Device (3),
//! Connectivity Monitoring (4), Firmware Update (5), Location (6) and one
//! Temperature sensor (3303). Starting values are derived from the device's
//! seed so that a fleet looks varied but every run looks the same.

use std::sync::Arc;

use lwm2m_core::{
    LwM2mObject, LwM2mObjectInstance, LwM2mResource, ModelRegistry, ResourceType, Value, Version,
};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::config::DeviceConfig;
use crate::object_tree::ObjectTree;
use crate::temperature_model as t;

/// The Short Server ID of the one server a simulated device talks to.
pub const SHORT_SERVER_ID: i64 = 1;

/// The binding letters of `config`, as the Server and Device objects show them.
pub fn binding_text(config: &DeviceConfig) -> &'static str {
    if config.queue_mode.is_some() {
        "UQ"
    } else {
        "U"
    }
}

/// Builds the boot-time tree.
pub fn initial_tree(
    config: &DeviceConfig,
    models: Arc<ModelRegistry>,
    rng: &mut SmallRng,
    unix_now: i64,
) -> ObjectTree {
    let mut tree = ObjectTree::new(models);
    tree.insert_object(LwM2mObject::new(1, [server_instance(config)]));
    tree.insert_object(LwM2mObject::new(
        3,
        [device_instance(config, rng, unix_now)],
    ));
    tree.insert_object(LwM2mObject::new(4, [connectivity_instance(rng)]));
    tree.insert_object(LwM2mObject::new(5, [firmware_instance()]));
    tree.insert_object(LwM2mObject::new(6, [location_instance(rng, unix_now)]));
    let celsius = 18.0 + f64::from(rng.random_range(0..80u32)) / 10.0;
    tree.insert_object(LwM2mObject::new(
        t::TEMPERATURE,
        [temperature_instance(0, celsius, unix_now)],
    ));
    tree
}

fn single(id: u16, value: Value) -> LwM2mResource {
    LwM2mResource::single(id, value)
}

/// A multiple resource from values of one type; an empty resource if they
/// do not share the type (impossible for the literals used here).
fn multiple(id: u16, kind: ResourceType, values: Vec<Value>) -> LwM2mResource {
    let instances = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (u16::try_from(i).unwrap_or(u16::MAX - 1), v));
    LwM2mResource::multiple(id, kind, instances).unwrap_or(LwM2mResource::Multiple {
        id,
        kind,
        instances: Default::default(),
    })
}

fn server_instance(config: &DeviceConfig) -> LwM2mObjectInstance {
    LwM2mObjectInstance::new(
        0,
        [
            single(0, Value::Integer(SHORT_SERVER_ID)),
            single(1, Value::Integer(i64::from(config.lifetime))),
            single(5, Value::Integer(86_400)),
            single(6, Value::Boolean(true)),
            single(7, Value::String(binding_text(config).to_owned())),
        ],
    )
}

fn device_instance(
    config: &DeviceConfig,
    rng: &mut SmallRng,
    unix_now: i64,
) -> LwM2mObjectInstance {
    let serial = hex::encode_upper(config.seed.to_be_bytes());
    let firmware = if config.lwm2m_version == Version::V1_0 {
        "1.0.0"
    } else {
        "1.1.0"
    };
    let int = |v: i64| Value::Integer(v);
    LwM2mObjectInstance::new(
        0,
        [
            single(0, Value::String("lwm2m-cluster".to_owned())),
            single(1, Value::String("SIM-3303".to_owned())),
            single(2, Value::String(serial)),
            single(3, Value::String(firmware.to_owned())),
            multiple(6, ResourceType::Integer, vec![int(1), int(5)]),
            multiple(7, ResourceType::Integer, vec![int(3800), int(5000)]),
            multiple(8, ResourceType::Integer, vec![int(125), int(900)]),
            single(9, int(rng.random_range(60..=100))),
            single(10, int(rng.random_range(8_000..16_000))),
            multiple(11, ResourceType::Integer, vec![int(0)]),
            single(13, Value::Time(unix_now)),
            single(14, Value::String("+00:00".to_owned())),
            single(15, Value::String("Etc/UTC".to_owned())),
            single(16, Value::String(binding_text(config).to_owned())),
            single(17, Value::String("simulated sensor".to_owned())),
            single(18, Value::String("rev-a".to_owned())),
            single(19, Value::String(firmware.to_owned())),
            single(20, int(0)),
            single(21, int(32_768)),
        ],
    )
}

fn connectivity_instance(rng: &mut SmallRng) -> LwM2mObjectInstance {
    let ip = format!(
        "10.{}.{}.{}",
        rng.random_range(0..=255u8),
        rng.random_range(0..=255u8),
        rng.random_range(1..=254u8)
    );
    let int = |v: i64| Value::Integer(v);
    LwM2mObjectInstance::new(
        0,
        [
            single(0, int(7)),
            multiple(1, ResourceType::Integer, vec![int(7), int(8), int(21)]),
            single(2, int(rng.random_range(-110..=-60))),
            single(3, int(80)),
            multiple(4, ResourceType::String, vec![Value::String(ip)]),
            multiple(
                5,
                ResourceType::String,
                vec![Value::String("10.0.0.1".to_owned())],
            ),
            single(6, int(5)),
            multiple(
                7,
                ResourceType::String,
                vec![Value::String("iot.sim".to_owned())],
            ),
            single(8, int(rng.random_range(1..=0xFFFF))),
            single(9, int(1)),
            single(10, int(262)),
        ],
    )
}

fn firmware_instance() -> LwM2mObjectInstance {
    let int = |v: i64| Value::Integer(v);
    LwM2mObjectInstance::new(
        0,
        [
            single(1, Value::String(String::new())),
            single(3, int(0)),
            single(5, int(0)),
            single(6, Value::String(String::new())),
            single(7, Value::String(String::new())),
            multiple(8, ResourceType::Integer, vec![int(0), int(1)]),
            single(9, int(2)),
        ],
    )
}

fn location_instance(rng: &mut SmallRng, unix_now: i64) -> LwM2mObjectInstance {
    let lat = 48.0 + f64::from(rng.random_range(0..10_000u32)) / 10_000.0;
    let lon = 2.0 + f64::from(rng.random_range(0..10_000u32)) / 10_000.0;
    LwM2mObjectInstance::new(
        0,
        [
            single(0, Value::Float(lat)),
            single(1, Value::Float(lon)),
            single(2, Value::Float(35.0)),
            single(3, Value::Float(10.0)),
            single(5, Value::Time(unix_now)),
            single(6, Value::Float(0.0)),
        ],
    )
}

/// A Temperature instance reading `celsius`.
pub fn temperature_instance(id: u16, celsius: f64, unix_now: i64) -> LwM2mObjectInstance {
    LwM2mObjectInstance::new(
        id,
        [
            single(t::SENSOR_VALUE, Value::Float(celsius)),
            single(t::SENSOR_UNITS, Value::String("Cel".to_owned())),
            single(t::MIN_MEASURED, Value::Float(celsius)),
            single(t::MAX_MEASURED, Value::Float(celsius)),
            single(t::MIN_RANGE, Value::Float(-40.0)),
            single(t::MAX_RANGE, Value::Float(85.0)),
            single(t::APPLICATION_TYPE, Value::String("room".to_owned())),
            single(t::TIMESTAMP, Value::Time(unix_now)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::LwM2mPath;
    use rand::SeedableRng;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn boots_with_the_simulated_objects() {
        let cfg = DeviceConfig::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let tree = initial_tree(&cfg, Arc::new(sim_registry()), &mut rng, 1_700_000_000);
        let objects: Vec<u16> = tree.listing().iter().map(|o| o.object).collect();
        assert_eq!(objects, vec![1, 3, 4, 5, 6, 3303]);
        assert_eq!(tree.value(&p("/1/0/1")), Some(&Value::Integer(300)));
        assert_eq!(tree.value(&p("/1/0/7")), Some(&Value::String("U".into())));
        assert!(matches!(
            tree.value(&p("/3303/0/5700")),
            Some(Value::Float(_))
        ));
        assert_eq!(tree.dim(&p("/3/0/11")), Some(1));
        assert!(tree.read(&p("/3")).is_ok());
    }

    #[test]
    fn same_seed_same_values() {
        let cfg = DeviceConfig::default();
        let models = Arc::new(sim_registry());
        let a = initial_tree(&cfg, models.clone(), &mut SmallRng::seed_from_u64(3), 0);
        let b = initial_tree(&cfg, models, &mut SmallRng::seed_from_u64(3), 0);
        assert_eq!(a.read(&p("/4/0")).unwrap(), b.read(&p("/4/0")).unwrap());
    }
}
