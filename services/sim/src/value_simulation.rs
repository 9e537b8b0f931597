//! How sensor values move over time: battery drains, temperature and radio
//! signal follow bounded random walks, the position drifts, clocks tick, and
//! a firmware download started by the server completes. Everything is drawn
//! from the device's seeded RNG, so runs are reproducible.

use lwm2m_core::{LwM2mPath, Value};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::notify_decision::number;
use crate::object_tree::ObjectTree;
use crate::temperature_model as t;

/// Firmware Update states (/5/0/3).
pub mod firmware_state {
    pub const IDLE: i64 = 0;
    pub const DOWNLOADING: i64 = 1;
    pub const DOWNLOADED: i64 = 2;
    pub const UPDATING: i64 = 3;
}

/// Advances the values of one device by one tick.
#[derive(Debug)]
pub struct ValueSimulator {
    rng: SmallRng,
    ticks: u64,
}

impl ValueSimulator {
    pub fn new(rng: SmallRng) -> Self {
        Self { rng, ticks: 0 }
    }

    /// One step at wall-clock time `unix_now` (seconds).
    pub fn step(&mut self, tree: &mut ObjectTree, unix_now: i64) {
        self.ticks += 1;
        set(tree, "/3/0/13", Value::Time(unix_now));
        // Battery: one percent every ten ticks, recharged when empty.
        if self.ticks.checked_rem(10) == Some(0) {
            let level = int(tree, "/3/0/9").unwrap_or(100);
            let next = if level <= 5 { 100 } else { level - 1 };
            set(tree, "/3/0/9", Value::Integer(next));
            set(
                tree,
                "/3/0/20",
                Value::Integer(if next < 15 { 4 } else { 0 }),
            );
        }
        let mem = int(tree, "/3/0/10").unwrap_or(12_000) + self.rng.random_range(-64..=64);
        set(tree, "/3/0/10", Value::Integer(mem.clamp(1_000, 32_000)));
        let rssi = int(tree, "/4/0/2").unwrap_or(-90) + self.rng.random_range(-2..=2);
        set(tree, "/4/0/2", Value::Integer(rssi.clamp(-120, -50)));
        self.walk_float(tree, "/6/0/0", 0.0005, (-90.0, 90.0));
        self.walk_float(tree, "/6/0/1", 0.0005, (-180.0, 180.0));
        self.walk_float(tree, "/6/0/2", 0.5, (-100.0, 5_000.0));
        set(tree, "/6/0/5", Value::Time(unix_now));
        for id in tree.instance_ids(t::TEMPERATURE) {
            self.step_temperature(tree, id, unix_now);
        }
        step_firmware(tree);
    }

    fn walk_float(&mut self, tree: &mut ObjectTree, path: &str, step: f64, range: (f64, f64)) {
        let Ok(path) = path.parse::<LwM2mPath>() else {
            return;
        };
        let Some(current) = tree.value(&path).and_then(number) else {
            return;
        };
        let delta = self.rng.random_range(-1.0..=1.0) * step;
        let next = round(current + delta, 6).clamp(range.0, range.1);
        let _ = tree.set_value(&path, Value::Float(next));
    }

    fn step_temperature(&mut self, tree: &mut ObjectTree, id: u16, unix_now: i64) {
        let at = |r: u16| LwM2mPath::resource(t::TEMPERATURE, id, r);
        let (Ok(value), Ok(min), Ok(max), Ok(ts)) = (
            at(t::SENSOR_VALUE),
            at(t::MIN_MEASURED),
            at(t::MAX_MEASURED),
            at(t::TIMESTAMP),
        ) else {
            return;
        };
        let current = tree.value(&value).and_then(number).unwrap_or(20.0);
        let delta = f64::from(self.rng.random_range(-5..=5i32)) / 10.0;
        let next = round(current + delta, 2).clamp(-40.0, 85.0);
        let _ = tree.set_value(&value, Value::Float(next));
        let low = tree.value(&min).and_then(number).unwrap_or(next).min(next);
        let high = tree.value(&max).and_then(number).unwrap_or(next).max(next);
        let _ = tree.set_value(&min, Value::Float(low));
        let _ = tree.set_value(&max, Value::Float(high));
        let _ = tree.set_value(&ts, Value::Time(unix_now));
    }
}

/// Resets the min/max measured values of a Temperature instance (5605).
pub fn reset_min_max(tree: &mut ObjectTree, instance: u16) {
    let at = |r: u16| LwM2mPath::resource(t::TEMPERATURE, instance, r);
    let (Ok(value), Ok(min), Ok(max)) = (
        at(t::SENSOR_VALUE),
        at(t::MIN_MEASURED),
        at(t::MAX_MEASURED),
    ) else {
        return;
    };
    if let Some(v) = tree.value(&value).cloned() {
        let _ = tree.set_value(&min, v.clone());
        let _ = tree.set_value(&max, v);
    }
}

/// Download completes one tick after it started; an update one tick after
/// Execute, bumping the firmware version.
fn step_firmware(tree: &mut ObjectTree) {
    match int(tree, "/5/0/3") {
        Some(firmware_state::DOWNLOADING) => {
            set(tree, "/5/0/3", Value::Integer(firmware_state::DOWNLOADED));
        }
        Some(firmware_state::UPDATING) => {
            set(tree, "/5/0/3", Value::Integer(firmware_state::IDLE));
            set(tree, "/5/0/5", Value::Integer(1));
            let version = match tree.value(&path("/3/0/3")) {
                Some(Value::String(v)) => format!("{v}+1"),
                _ => "1.0.1".to_owned(),
            };
            set(tree, "/3/0/3", Value::String(version));
        }
        _ => {}
    }
}

fn path(p: &str) -> LwM2mPath {
    p.parse().unwrap_or(LwM2mPath::ROOT)
}

fn int(tree: &ObjectTree, p: &str) -> Option<i64> {
    match tree.value(&path(p))? {
        Value::Integer(i) => Some(*i),
        _ => None,
    }
}

/// Sets a value the device owns; paths here are literals of the boot tree,
/// and a missing one (deleted instance) is simply skipped.
pub(crate) fn set(tree: &mut ObjectTree, p: &str, value: Value) {
    let _ = tree.set_value(&path(p), value);
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceConfig;
    use crate::initial_objects::initial_tree;
    use crate::temperature_model::sim_registry;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn boot(seed: u64) -> (ObjectTree, ValueSimulator) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let tree = initial_tree(
            &DeviceConfig::default(),
            Arc::new(sim_registry()),
            &mut rng,
            0,
        );
        (tree, ValueSimulator::new(rng))
    }

    #[test]
    fn values_move_deterministically() {
        let (mut a, mut sa) = boot(5);
        let (mut b, mut sb) = boot(5);
        let before = a.read(&path("/3303/0/5700")).unwrap();
        for i in 0..20 {
            sa.step(&mut a, i);
            sb.step(&mut b, i);
        }
        assert_eq!(
            a.read(&path("/3303/0")).unwrap(),
            b.read(&path("/3303/0")).unwrap()
        );
        assert_eq!(a.value(&path("/3/0/13")), Some(&Value::Time(19)));
        let battery = |t: &ObjectTree| int(t, "/3/0/9").unwrap();
        let (fresh, _) = boot(5);
        assert!(battery(&a) < battery(&fresh), "battery drains");
        let _ = before;
        let v = a.value(&path("/3303/0/5700")).and_then(number).unwrap();
        let min = a.value(&path("/3303/0/5601")).and_then(number).unwrap();
        let max = a.value(&path("/3303/0/5602")).and_then(number).unwrap();
        assert!(min <= v && v <= max);
    }

    #[test]
    fn firmware_download_and_update_complete() {
        let (mut tree, mut sim) = boot(1);
        set(
            &mut tree,
            "/5/0/3",
            Value::Integer(firmware_state::DOWNLOADING),
        );
        sim.step(&mut tree, 1);
        assert_eq!(int(&tree, "/5/0/3"), Some(firmware_state::DOWNLOADED));
        set(
            &mut tree,
            "/5/0/3",
            Value::Integer(firmware_state::UPDATING),
        );
        sim.step(&mut tree, 2);
        assert_eq!(int(&tree, "/5/0/3"), Some(firmware_state::IDLE));
        assert_eq!(int(&tree, "/5/0/5"), Some(1));
    }

    #[test]
    fn reset_min_max_uses_the_current_value() {
        let (mut tree, mut sim) = boot(2);
        for i in 0..10 {
            sim.step(&mut tree, i);
        }
        reset_min_max(&mut tree, 0);
        let v = tree.value(&path("/3303/0/5700")).cloned();
        assert_eq!(tree.value(&path("/3303/0/5601")).cloned(), v);
        assert_eq!(tree.value(&path("/3303/0/5602")).cloned(), v);
    }
}
