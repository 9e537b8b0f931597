//! What the transport does with a freshly registered device, computed from
//! its profile and what it announced: pure, so every rule is unit-tested.
//!
//! The order mirrors ThingsBoard's: objects whose announced version differs
//! from the profile's are skipped (and logged); notification attributes are
//! written first so the observations start under them; attribute and
//! telemetry resources are read (or observed, when the profile says to
//! initialise with the observe strategy); observe resources are observed one
//! by one, in one composite, or one composite per object.

use std::collections::{BTreeMap, HashMap};

use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{LwM2mPath, Version};
use lwm2m_registry::profile::{DeviceProfile, NotificationAttributes, ObserveStrategy};
use lwm2m_session::ObjectEntry;

/// An object the profile wants at one version and the device announced at another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VersionMismatch {
    pub object_id: u16,
    pub announced: Version,
    pub expected: Version,
}

/// One observation to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ObserveStep {
    Single(LwM2mPath),
    Composite(Vec<LwM2mPath>),
}

/// Everything to send to a device after it registered.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct InitPlan {
    pub skipped: Vec<VersionMismatch>,
    pub write_attributes: Vec<(LwM2mPath, LwM2mAttributes)>,
    pub reads: Vec<LwM2mPath>,
    pub observes: Vec<ObserveStep>,
}

impl InitPlan {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.write_attributes.is_empty() && self.reads.is_empty() && self.observes.is_empty()
    }
}

/// Resource path → key name (`/3/0/9` → `batteryLevel`), for the values
/// events of a device with this profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyMap(HashMap<(u16, u16, u16), String>);

impl KeyMap {
    pub fn of(profile: &DeviceProfile) -> Self {
        let mut keys = HashMap::new();
        for object in &profile.config.objects {
            for r in &object.resources {
                if !r.key.is_empty() {
                    keys.insert(
                        (object.object_id, r.instance_id, r.resource_id),
                        r.key.clone(),
                    );
                }
            }
        }
        KeyMap(keys)
    }

    /// The key of a value's path (`/3/0/9`, `/3_1.2/0/9`, `/3/0/7/1` →
    /// the key of its resource), if the profile names one.
    pub fn key_for(&self, path: &str) -> Option<&str> {
        let path: LwM2mPath = path.parse().ok()?;
        let key = (path.object_id()?, path.instance_id()?, path.resource_id()?);
        self.0.get(&key).map(String::as_str)
    }
}

/// The plan for a device with `objects` (as registered) and `profile`.
pub(crate) fn plan(profile: &DeviceProfile, objects: &BTreeMap<u16, ObjectEntry>) -> InitPlan {
    let mut out = InitPlan::default();
    let mut observed: Vec<LwM2mPath> = Vec::new();
    let mut read: Vec<LwM2mPath> = Vec::new();
    for object in &profile.config.objects {
        let Some(entry) = objects.get(&object.object_id) else {
            continue; // Not on this device: nothing to ask for.
        };
        if entry.version != object.version {
            out.skipped.push(VersionMismatch {
                object_id: object.object_id,
                announced: entry.version,
                expected: object.version,
            });
            continue;
        }
        // An announced object with instances only gets requests for those;
        // one announced without instances (`</3>`) is tried as the profile says.
        let has_instance = |i: u16| entry.instances.is_empty() || entry.instances.contains(&i);
        for attrs in &object.attributes {
            if attrs.instance_id.is_some_and(|i| !has_instance(i)) {
                continue;
            }
            if let Some(target) = attribute_target(object.object_id, attrs) {
                out.write_attributes.push((target, lwm2m_attributes(attrs)));
            }
        }
        for r in &object.resources {
            if !has_instance(r.instance_id) {
                continue;
            }
            let Ok(path) = LwM2mPath::resource(object.object_id, r.instance_id, r.resource_id)
            else {
                continue;
            };
            if r.observe {
                observed.push(path);
            } else if r.attribute || r.telemetry {
                read.push(path);
            }
        }
    }
    // Initialising with the observe strategy folds the reads into the
    // observations (their first answer carries the value).
    if profile.config.init_using_observe_strategy {
        observed.append(&mut read);
        observed.sort_by_key(|p| p.ids().to_vec());
    }
    out.reads = read;
    out.observes = group(profile.config.observe_strategy, observed);
    out
}

fn group(strategy: ObserveStrategy, paths: Vec<LwM2mPath>) -> Vec<ObserveStep> {
    if paths.is_empty() {
        return Vec::new();
    }
    match strategy {
        ObserveStrategy::Single => paths.into_iter().map(ObserveStep::Single).collect(),
        ObserveStrategy::CompositeAll => vec![ObserveStep::Composite(paths)],
        ObserveStrategy::CompositeByObject => {
            let mut by_object: BTreeMap<u16, Vec<LwM2mPath>> = BTreeMap::new();
            for p in paths {
                by_object
                    .entry(p.object_id().unwrap_or(0))
                    .or_default()
                    .push(p);
            }
            by_object
                .into_values()
                .map(ObserveStep::Composite)
                .collect()
        }
    }
}

/// The path notification attributes are written to; an attribute set for a
/// resource "of every instance" (no instance) has no single target and is
/// written at object level only when it names no resource.
fn attribute_target(object_id: u16, attrs: &NotificationAttributes) -> Option<LwM2mPath> {
    match (attrs.instance_id, attrs.resource_id) {
        (Some(i), Some(r)) => LwM2mPath::resource(object_id, i, r).ok(),
        (Some(i), None) => LwM2mPath::object_instance(object_id, i).ok(),
        (None, None) => LwM2mPath::object(object_id).ok(),
        (None, Some(_)) => None,
    }
}

fn lwm2m_attributes(a: &NotificationAttributes) -> LwM2mAttributes {
    LwM2mAttributes {
        pmin: a.pmin,
        pmax: a.pmax,
        gt: a.gt,
        lt: a.lt,
        st: a.st,
        epmin: a.epmin,
        epmax: a.epmax,
        ..LwM2mAttributes::default()
    }
}

#[cfg(test)]
mod tests;
