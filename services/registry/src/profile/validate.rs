//! Profile validation against the object models the tenant sees.
//!
//! Every fault is reported (not only the first), each naming the request
//! field by its proto path (`objects[0].resources[2].observe`) and saying
//! which object, resource or server it is about. Validation also
//! normalises: mappings with no flag set are dropped (as in ThingsBoard, an
//! unchecked resource is not part of the profile) and missing key names are
//! generated.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lwm2m_core::{ModelRegistry, ObjectModel, ResourceModel, ResourceType};

use super::key_name;
use super::{
    BootstrapServer, FirmwareUpdateStrategy, NotificationAttributes, PowerMode, ProfileConfig,
    ResourceMapping,
};
use crate::device::SecurityMode;
use crate::error::{Error, FieldError};

/// Content formats a profile may prefer (IANA numbers): text, opaque, CBOR,
/// SenML JSON, SenML CBOR, LwM2M TLV, LwM2M JSON, and the pre-1.1 numbers.
pub const KNOWN_FORMATS: &[u16] = &[0, 42, 60, 110, 112, 11542, 11543, 11544, 1542, 1543];

/// Object 19, BinaryAppDataContainer (OTA metadata and the /19/0/0 strategy).
const BINARY_APP_DATA_CONTAINER: u16 = 19;

#[derive(Default)]
struct Faults(Vec<FieldError>);

impl Faults {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

/// Checks `config` against `models` (every version of every object the
/// tenant sees) and normalises it in place.
pub fn validate(config: &mut ProfileConfig, models: &ModelRegistry) -> Result<(), Error> {
    let mut faults = Faults::default();
    let mut seen_objects = BTreeMap::new();
    for (i, object) in config.objects.iter_mut().enumerate() {
        let field = format!("objects[{i}]");
        if let Some(first) = seen_objects.insert(object.object_id, i) {
            faults.add(
                format!("{field}.object_id"),
                format!(
                    "object {} is already in the profile at objects[{first}]: one version per object",
                    object.object_id
                ),
            );
            continue;
        }
        let Some(model) = model_of(
            models,
            object.object_id,
            object.version,
            &field,
            &mut faults,
        ) else {
            continue;
        };
        object
            .resources
            .retain(|r| r.attribute || r.telemetry || r.observe);
        check_mappings(&field, model, &object.resources, &mut faults);
        check_attributes(&field, model, &object.attributes, &mut faults);
    }
    assign_keys(config, models, &mut faults);
    check_formats(&config.format_preference, &mut faults);
    check_bootstrap(&config.bootstrap.servers, &mut faults);
    check_ota(config, models, &mut faults);
    check_power(config, &mut faults);
    if faults.0.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(faults.0))
    }
}

fn model_of<'m>(
    models: &'m ModelRegistry,
    object_id: u16,
    version: lwm2m_core::Version,
    field: &str,
    faults: &mut Faults,
) -> Option<&'m ObjectModel> {
    if let Some(model) = models.get(object_id, Some(version)) {
        return Some(model);
    }
    let known: Vec<String> = models
        .versions(object_id)
        .map(|m| m.version.to_string())
        .collect();
    if known.is_empty() {
        faults.add(
            format!("{field}.object_id"),
            format!("object {object_id} has no model in the registry: import its DDF file first"),
        );
    } else {
        faults.add(
            format!("{field}.version"),
            format!(
                "object {object_id} version {version} is not in the registry (known: {})",
                known.join(", ")
            ),
        );
    }
    None
}

fn resource_of<'m>(
    model: &'m ObjectModel,
    resource_id: u16,
    field: String,
    faults: &mut Faults,
) -> Option<&'m ResourceModel> {
    let found = model.resource(resource_id);
    if found.is_none() {
        faults.add(
            field,
            format!(
                "object {} version {} ({}) has no resource {resource_id}",
                model.id, model.version, model.name
            ),
        );
    }
    found
}

fn check_instance(model: &ObjectModel, instance_id: u16, field: String, faults: &mut Faults) {
    if !model.multiple && instance_id != 0 {
        faults.add(
            field,
            format!(
                "object {} ({}) is single-instance: the only instance is 0, not {instance_id}",
                model.id, model.name
            ),
        );
    }
}

fn check_mappings(
    field: &str,
    model: &ObjectModel,
    mappings: &[ResourceMapping],
    faults: &mut Faults,
) {
    let mut seen = BTreeMap::new();
    for (j, m) in mappings.iter().enumerate() {
        let at = format!("{field}.resources[{j}]");
        let path = format!("/{}/{}/{}", model.id, m.instance_id, m.resource_id);
        if let Some(first) = seen.insert((m.instance_id, m.resource_id), j) {
            faults.add(
                format!("{at}.resource_id"),
                format!("{path} is already mapped at {field}.resources[{first}]"),
            );
        }
        check_instance(model, m.instance_id, format!("{at}.instance_id"), faults);
        let Some(resource) = resource_of(model, m.resource_id, format!("{at}.resource_id"), faults)
        else {
            continue;
        };
        let what = format!("resource {path} ({})", resource.name);
        if resource.operations.executable() {
            for (flag, set) in [
                ("observe", m.observe),
                ("attribute", m.attribute),
                ("telemetry", m.telemetry),
            ] {
                if set {
                    faults.add(
                        format!("{at}.{flag}"),
                        format!("{what} is executable: it has no value to {}", verb(flag)),
                    );
                }
            }
            continue;
        }
        if !resource.operations.readable() {
            faults.add(
                format!("{at}.{}", first_flag(m)),
                format!(
                    "{what} is not readable (operations {:?})",
                    resource.operations
                ),
            );
            continue;
        }
        if m.observe && !m.attribute && !m.telemetry {
            faults.add(
                format!("{at}.observe"),
                format!("{what}: observe needs attribute or telemetry, to say where the values go"),
            );
        }
    }
}

fn verb(flag: &str) -> &'static str {
    match flag {
        "observe" => "observe",
        _ => "read",
    }
}

fn first_flag(m: &ResourceMapping) -> &'static str {
    if m.attribute {
        "attribute"
    } else if m.telemetry {
        "telemetry"
    } else {
        "observe"
    }
}

fn numeric(kind: ResourceType) -> bool {
    matches!(
        kind,
        ResourceType::Integer | ResourceType::UnsignedInteger | ResourceType::Float
    )
}

fn check_attributes(
    field: &str,
    model: &ObjectModel,
    list: &[NotificationAttributes],
    faults: &mut Faults,
) {
    let mut seen = BTreeMap::new();
    for (j, a) in list.iter().enumerate() {
        let at = format!("{field}.attributes[{j}]");
        let path = a.target_path(model.id);
        if let Some(first) = seen.insert((a.instance_id, a.resource_id), j) {
            faults.add(
                at.clone(),
                format!("{path} already has attributes at {field}.attributes[{first}]"),
            );
        }
        if let Some(instance) = a.instance_id {
            check_instance(model, instance, format!("{at}.instance_id"), faults);
        }
        let mut resource_numeric = false;
        if let Some(resource_id) = a.resource_id {
            if a.instance_id.is_none() {
                faults.add(
                    format!("{at}.instance_id"),
                    "resource attributes need the instance too (LwM2M paths are /object/instance/resource)",
                );
            }
            if let Some(resource) =
                resource_of(model, resource_id, format!("{at}.resource_id"), faults)
            {
                if resource.operations.executable() {
                    faults.add(
                        format!("{at}.resource_id"),
                        format!(
                            "{path} ({}) is executable: it cannot be observed",
                            resource.name
                        ),
                    );
                }
                resource_numeric = numeric(resource.kind);
            }
        }
        if let (Some(pmin), Some(pmax)) = (a.pmin, a.pmax) {
            if pmax > 0 && pmin > pmax {
                faults.add(
                    format!("{at}.pmin"),
                    format!("{path}: pmin {pmin} is above pmax {pmax}"),
                );
            }
        }
        if let (Some(epmin), Some(epmax)) = (a.epmin, a.epmax) {
            if epmax > 0 && epmin > epmax {
                faults.add(
                    format!("{at}.epmin"),
                    format!("{path}: epmin {epmin} is above epmax {epmax}"),
                );
            }
        }
        for (name, value) in [("gt", a.gt), ("lt", a.lt), ("st", a.st)] {
            let Some(value) = value else { continue };
            if !value.is_finite() {
                faults.add(
                    format!("{at}.{name}"),
                    format!("{path}: {name} must be a finite number"),
                );
            } else if a.resource_id.is_none() || !resource_numeric {
                faults.add(
                    format!("{at}.{name}"),
                    format!("{path}: {name} applies only to a numeric resource"),
                );
            }
        }
        if let Some(st) = a.st.filter(|s| *s <= 0.0) {
            faults.add(
                format!("{at}.st"),
                format!("{path}: st {st} must be positive"),
            );
        }
        if let (Some(gt), Some(lt)) = (a.gt, a.lt) {
            let step = a.st.unwrap_or(0.0);
            // LwM2M 1.1 §5.1.2: lt < gt, and lt + 2*st < gt when st is set.
            if lt + 2.0 * step >= gt {
                faults.add(
                    format!("{at}.lt"),
                    format!("{path}: lt {lt} (+ 2 × st {step}) must be below gt {gt}"),
                );
            }
        }
    }
}

/// Key names: user keys are checked and must be unique; generated ones are
/// made unique by suffixing the object id (then instance, then a counter).
fn assign_keys(config: &mut ProfileConfig, models: &ModelRegistry, faults: &mut Faults) {
    let mut taken: HashMap<String, String> = HashMap::new();
    for (i, object) in config.objects.iter_mut().enumerate() {
        for (j, m) in object.resources.iter_mut().enumerate() {
            if m.key.is_empty() {
                m.key_generated = true;
            }
            if m.key_generated {
                continue;
            }
            let field = format!("objects[{i}].resources[{j}].key");
            if let Err(reason) = key_name::check(&m.key) {
                faults.add(field, reason);
            } else if let Some(first) = taken.get(&m.key) {
                faults.add(
                    field,
                    format!(
                        "key {:?} is already used by {first}: keys are unique within a profile",
                        m.key
                    ),
                );
            } else {
                taken.insert(m.key.clone(), field);
            }
        }
    }
    for (i, object) in config.objects.iter_mut().enumerate() {
        let model = models.get(object.object_id, Some(object.version));
        for (j, m) in object
            .resources
            .iter_mut()
            .filter(|m| m.key_generated)
            .enumerate()
        {
            let name = model
                .and_then(|model| model.resource(m.resource_id))
                .map(|r| r.name.as_str())
                .unwrap_or_default();
            let base = key_name::camel_case(name, m.resource_id);
            let mut candidates = vec![
                base.clone(),
                format!("{base}{}", object.object_id),
                format!("{base}{}_{}", object.object_id, m.instance_id),
            ];
            candidates.extend(
                (2..)
                    .take(1000)
                    .map(|n| format!("{base}{}_{}_{n}", object.object_id, m.instance_id)),
            );
            if let Some(key) = candidates.into_iter().find(|k| !taken.contains_key(k)) {
                taken.insert(key.clone(), format!("objects[{i}].resources[{j}].key"));
                m.key = key;
            }
        }
    }
}

fn check_formats(formats: &[u16], faults: &mut Faults) {
    let mut seen = BTreeSet::new();
    for (i, f) in formats.iter().enumerate() {
        if !KNOWN_FORMATS.contains(f) {
            faults.add(
                format!("format_preference[{i}]"),
                format!("{f} is not an LwM2M content format (known: {KNOWN_FORMATS:?})"),
            );
        } else if !seen.insert(*f) {
            faults.add(
                format!("format_preference[{i}]"),
                format!("{f} is listed twice"),
            );
        }
    }
}

fn check_bootstrap(servers: &[BootstrapServer], faults: &mut Faults) {
    let mut ids = BTreeMap::new();
    let bootstrap_servers = servers.iter().filter(|s| s.bootstrap_server).count();
    if bootstrap_servers > 1 {
        faults.add("bootstrap.servers", "at most one bootstrap server account");
    }
    for (i, s) in servers.iter().enumerate() {
        let at = format!("bootstrap.servers[{i}]");
        if !s.bootstrap_server {
            if s.short_server_id == 0 || s.short_server_id == u16::MAX {
                faults.add(
                    format!("{at}.short_server_id"),
                    format!(
                        "{} is not a short server id (1 to 65534)",
                        s.short_server_id
                    ),
                );
            } else if let Some(first) = ids.insert(s.short_server_id, i) {
                faults.add(
                    format!("{at}.short_server_id"),
                    format!(
                        "{} is already used by bootstrap.servers[{first}]",
                        s.short_server_id
                    ),
                );
            }
            if s.lifetime_s == 0 {
                faults.add(format!("{at}.lifetime_s"), "must be positive");
            }
        }
        if let Err(reason) = check_uri(&s.uri, s.security_mode) {
            faults.add(format!("{at}.uri"), reason);
        }
        if s.default_pmax_s > 0 && s.default_pmin_s > s.default_pmax_s {
            faults.add(
                format!("{at}.default_pmin_s"),
                format!(
                    "{} is above default_pmax_s {}",
                    s.default_pmin_s, s.default_pmax_s
                ),
            );
        }
        if let Err(reason) = check_binding(&s.binding) {
            faults.add(format!("{at}.binding"), reason);
        }
    }
}

/// `coap://host[:port]` for NoSec, `coaps://…` for the DTLS modes.
pub fn check_uri(uri: &str, mode: SecurityMode) -> Result<(), String> {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", ""));
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if scheme.is_empty() || host.is_empty() {
        return Err(format!(
            "{uri:?} is not a coap:// or coaps:// URI with a host"
        ));
    }
    let expected = if mode == SecurityMode::NoSec {
        "coap"
    } else {
        "coaps"
    };
    if !scheme.eq_ignore_ascii_case(expected) {
        return Err(format!(
            "security mode {} needs a {expected}:// URI, not {scheme}://",
            mode.as_str()
        ));
    }
    Ok(())
}

/// LwM2M binding letters (U, T, S, N and the 1.0 queue flag Q), each once.
pub fn check_binding(binding: &str) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    if binding.is_empty() {
        return Err("must not be empty (e.g. U)".to_owned());
    }
    for c in binding.chars() {
        if !matches!(c, 'U' | 'T' | 'S' | 'N' | 'Q') || !seen.insert(c) {
            return Err(format!(
                "{binding:?} is not a binding (letters U, T, S, N, Q, each once)"
            ));
        }
    }
    Ok(())
}

fn check_ota(config: &ProfileConfig, models: &ModelRegistry, faults: &mut Faults) {
    let has_19 = models.versions(BINARY_APP_DATA_CONTAINER).next().is_some();
    if config.firmware_update == Some(FirmwareUpdateStrategy::PushObject19Data) && !has_19 {
        faults.add(
            "firmware_update_strategy",
            "pushing to /19/0/0 needs a model of object 19 in the registry",
        );
    }
    if config.use_object19_for_ota_metadata && !has_19 {
        faults.add(
            "use_object19_for_ota_metadata",
            "needs a model of object 19 in the registry",
        );
    }
}

fn check_power(config: &ProfileConfig, faults: &mut Faults) {
    let p = &config.power;
    let psm = p.mode == Some(PowerMode::Psm);
    let edrx = p.mode == Some(PowerMode::EDrx);
    let timers = [
        (
            "power.psm_activity_timer_ms",
            p.psm_activity_timer_ms,
            psm,
            "PSM",
        ),
        ("power.edrx_cycle_ms", p.edrx_cycle_ms, edrx, "E_DRX"),
        (
            "power.paging_transmission_window_ms",
            p.paging_transmission_window_ms,
            edrx,
            "E_DRX",
        ),
    ];
    for (field, value, needed, mode) in timers {
        match (value, needed) {
            (None, true) => faults.add(field, format!("power mode {mode} needs it")),
            (Some(0), true) => faults.add(field, "must be positive"),
            (Some(_), false) => faults.add(field, format!("applies only to power mode {mode}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
