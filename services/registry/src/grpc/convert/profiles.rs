//! Device profiles.

use lwm2m_core::Version;
use lwm2m_proto::registry::v1 as pb;

use super::{u16_of, version_of, Faults};
use crate::device::SecurityMode;
use crate::error::Error;
use crate::profile::{
    BootstrapServer, BootstrapSettings, DeviceProfile, FirmwareUpdateStrategy,
    NotificationAttributes, ObserveStrategy, PowerMode, PowerSettings, ProfileConfig,
    ProfileObject, ResourceMapping, SoftwareUpdateStrategy,
};

pub fn security_mode_to_proto(m: SecurityMode) -> pb::SecurityMode {
    match m {
        SecurityMode::NoSec => pb::SecurityMode::NoSec,
        SecurityMode::Psk => pb::SecurityMode::Psk,
        SecurityMode::Rpk => pb::SecurityMode::Rpk,
        SecurityMode::X509 => pb::SecurityMode::X509,
    }
}

fn security_mode_from_proto(value: i32, field: &str) -> Result<SecurityMode, (String, String)> {
    match pb::SecurityMode::try_from(value) {
        Ok(pb::SecurityMode::NoSec) => Ok(SecurityMode::NoSec),
        Ok(pb::SecurityMode::Psk) => Ok(SecurityMode::Psk),
        Ok(pb::SecurityMode::Rpk) => Ok(SecurityMode::Rpk),
        Ok(pb::SecurityMode::X509) => Ok(SecurityMode::X509),
        Err(_) => Err((field.to_owned(), format!("{value} is not a security mode"))),
    }
}

pub fn profile_to_proto(p: &DeviceProfile) -> pb::DeviceProfile {
    let c = &p.config;
    pb::DeviceProfile {
        id: p.id.to_string(),
        tenant_id: p.tenant_id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        objects: c.objects.iter().map(object_to_proto).collect(),
        observe_strategy: match c.observe_strategy {
            ObserveStrategy::Single => pb::ObserveStrategy::Single,
            ObserveStrategy::CompositeAll => pb::ObserveStrategy::CompositeAll,
            ObserveStrategy::CompositeByObject => pb::ObserveStrategy::CompositeByObject,
        } as i32,
        init_using_observe_strategy: c.init_using_observe_strategy,
        default_object_version: c.default_object_version.to_string(),
        format_preference: c.format_preference.iter().map(|f| u32::from(*f)).collect(),
        bootstrap: Some(pb::BootstrapSettings {
            servers: c.bootstrap.servers.iter().map(server_to_proto).collect(),
        }),
        firmware_update_strategy: match c.firmware_update {
            None => pb::FirmwareUpdateStrategy::Unspecified,
            Some(FirmwareUpdateStrategy::PushObject5Package) => {
                pb::FirmwareUpdateStrategy::PushObject5Package
            }
            Some(FirmwareUpdateStrategy::PullObject5Uri) => {
                pb::FirmwareUpdateStrategy::PullObject5Uri
            }
            Some(FirmwareUpdateStrategy::PushObject19Data) => {
                pb::FirmwareUpdateStrategy::PushObject19Data
            }
        } as i32,
        software_update_strategy: match c.software_update {
            None => pb::SoftwareUpdateStrategy::Unspecified,
            Some(SoftwareUpdateStrategy::PushObject9Package) => {
                pb::SoftwareUpdateStrategy::PushObject9Package
            }
            Some(SoftwareUpdateStrategy::PullObject9Uri) => {
                pb::SoftwareUpdateStrategy::PullObject9Uri
            }
        } as i32,
        use_object19_for_ota_metadata: c.use_object19_for_ota_metadata,
        power: Some(pb::PowerSettings {
            mode: match c.power.mode {
                None => pb::PowerMode::Unspecified,
                Some(PowerMode::Psm) => pb::PowerMode::Psm,
                Some(PowerMode::Drx) => pb::PowerMode::Drx,
                Some(PowerMode::EDrx) => pb::PowerMode::EDrx,
            } as i32,
            psm_activity_timer_ms: c.power.psm_activity_timer_ms,
            edrx_cycle_ms: c.power.edrx_cycle_ms,
            paging_transmission_window_ms: c.power.paging_transmission_window_ms,
        }),
        revision: p.revision,
        created_at_ms: p.created_at_ms,
        updated_at_ms: p.updated_at_ms,
    }
}

fn object_to_proto(o: &ProfileObject) -> pb::ProfileObject {
    pb::ProfileObject {
        object_id: u32::from(o.object_id),
        version: o.version.to_string(),
        resources: o
            .resources
            .iter()
            .map(|r| pb::ResourceMapping {
                instance_id: u32::from(r.instance_id),
                resource_id: u32::from(r.resource_id),
                attribute: r.attribute,
                telemetry: r.telemetry,
                observe: r.observe,
                key: r.key.clone(),
                key_generated: r.key_generated,
            })
            .collect(),
        attributes: o
            .attributes
            .iter()
            .map(|a| pb::NotificationAttributes {
                instance_id: a.instance_id.map(u32::from),
                resource_id: a.resource_id.map(u32::from),
                pmin: a.pmin,
                pmax: a.pmax,
                gt: a.gt,
                lt: a.lt,
                st: a.st,
                epmin: a.epmin,
                epmax: a.epmax,
            })
            .collect(),
    }
}

fn server_to_proto(s: &BootstrapServer) -> pb::BootstrapServer {
    pb::BootstrapServer {
        bootstrap_server: s.bootstrap_server,
        short_server_id: u32::from(s.short_server_id),
        uri: s.uri.clone(),
        security_mode: security_mode_to_proto(s.security_mode) as i32,
        lifetime_s: s.lifetime_s,
        default_pmin_s: s.default_pmin_s,
        default_pmax_s: s.default_pmax_s,
        binding: s.binding.clone(),
        notification_storing: s.notification_storing,
    }
}

/// The settings of a profile message; fields are named `{prefix}.objects[…]…`.
pub fn config_from_proto(p: &pb::DeviceProfile, prefix: &str) -> Result<ProfileConfig, Error> {
    let mut f = Faults::default();
    let at = |rest: &str| format!("{prefix}.{rest}");
    let mut objects = Vec::new();
    for (i, o) in p.objects.iter().enumerate() {
        let base = format!("objects[{i}]");
        let resources = o
            .resources
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let rbase = at(&format!("{base}.resources[{j}]"));
                ResourceMapping {
                    instance_id: f.take(u16_of(r.instance_id, &format!("{rbase}.instance_id"))),
                    resource_id: f.take(u16_of(r.resource_id, &format!("{rbase}.resource_id"))),
                    attribute: r.attribute,
                    telemetry: r.telemetry,
                    observe: r.observe,
                    key: r.key.clone(),
                    key_generated: r.key_generated,
                }
            })
            .collect();
        let attributes = o
            .attributes
            .iter()
            .enumerate()
            .map(|(j, a)| {
                let abase = at(&format!("{base}.attributes[{j}]"));
                NotificationAttributes {
                    instance_id: a
                        .instance_id
                        .map(|v| f.take(u16_of(v, &format!("{abase}.instance_id")))),
                    resource_id: a
                        .resource_id
                        .map(|v| f.take(u16_of(v, &format!("{abase}.resource_id")))),
                    pmin: a.pmin,
                    pmax: a.pmax,
                    gt: a.gt,
                    lt: a.lt,
                    st: a.st,
                    epmin: a.epmin,
                    epmax: a.epmax,
                }
            })
            .collect();
        objects.push(ProfileObject {
            object_id: f.take(u16_of(o.object_id, &at(&format!("{base}.object_id")))),
            version: f.take(version_of(
                &o.version,
                &at(&format!("{base}.version")),
                None,
            )),
            resources,
            attributes,
        });
    }
    let observe_strategy = match pb::ObserveStrategy::try_from(p.observe_strategy) {
        Ok(pb::ObserveStrategy::Single) => ObserveStrategy::Single,
        Ok(pb::ObserveStrategy::CompositeAll) => ObserveStrategy::CompositeAll,
        Ok(pb::ObserveStrategy::CompositeByObject) => ObserveStrategy::CompositeByObject,
        Err(_) => {
            f.add(at("observe_strategy"), "unknown value");
            ObserveStrategy::Single
        }
    };
    let firmware_update = match pb::FirmwareUpdateStrategy::try_from(p.firmware_update_strategy) {
        Ok(pb::FirmwareUpdateStrategy::Unspecified) => None,
        Ok(pb::FirmwareUpdateStrategy::PushObject5Package) => {
            Some(FirmwareUpdateStrategy::PushObject5Package)
        }
        Ok(pb::FirmwareUpdateStrategy::PullObject5Uri) => {
            Some(FirmwareUpdateStrategy::PullObject5Uri)
        }
        Ok(pb::FirmwareUpdateStrategy::PushObject19Data) => {
            Some(FirmwareUpdateStrategy::PushObject19Data)
        }
        Err(_) => {
            f.add(at("firmware_update_strategy"), "unknown value");
            None
        }
    };
    let software_update = match pb::SoftwareUpdateStrategy::try_from(p.software_update_strategy) {
        Ok(pb::SoftwareUpdateStrategy::Unspecified) => None,
        Ok(pb::SoftwareUpdateStrategy::PushObject9Package) => {
            Some(SoftwareUpdateStrategy::PushObject9Package)
        }
        Ok(pb::SoftwareUpdateStrategy::PullObject9Uri) => {
            Some(SoftwareUpdateStrategy::PullObject9Uri)
        }
        Err(_) => {
            f.add(at("software_update_strategy"), "unknown value");
            None
        }
    };
    let power = p.power.unwrap_or_default();
    let mode = match pb::PowerMode::try_from(power.mode) {
        Ok(pb::PowerMode::Unspecified) => None,
        Ok(pb::PowerMode::Psm) => Some(PowerMode::Psm),
        Ok(pb::PowerMode::Drx) => Some(PowerMode::Drx),
        Ok(pb::PowerMode::EDrx) => Some(PowerMode::EDrx),
        Err(_) => {
            f.add(at("power.mode"), "unknown value");
            None
        }
    };
    let servers = p
        .bootstrap
        .clone()
        .unwrap_or_default()
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let sbase = at(&format!("bootstrap.servers[{i}]"));
            BootstrapServer {
                bootstrap_server: s.bootstrap_server,
                short_server_id: f.take(u16_of(
                    s.short_server_id,
                    &format!("{sbase}.short_server_id"),
                )),
                uri: s.uri.clone(),
                security_mode: security_mode_from_proto(
                    s.security_mode,
                    &format!("{sbase}.security_mode"),
                )
                .unwrap_or_else(|(field, reason)| {
                    f.add(field, reason);
                    SecurityMode::NoSec
                }),
                lifetime_s: s.lifetime_s,
                default_pmin_s: s.default_pmin_s,
                default_pmax_s: s.default_pmax_s,
                binding: s.binding.clone(),
                notification_storing: s.notification_storing,
            }
        })
        .collect();
    let format_preference = p
        .format_preference
        .iter()
        .enumerate()
        .map(|(i, v)| f.take(u16_of(*v, &at(&format!("format_preference[{i}]")))))
        .collect();
    let config = ProfileConfig {
        objects,
        observe_strategy,
        init_using_observe_strategy: p.init_using_observe_strategy,
        default_object_version: f.take(version_of(
            &p.default_object_version,
            &at("default_object_version"),
            Some(Version::V1_0),
        )),
        format_preference,
        bootstrap: BootstrapSettings { servers },
        firmware_update,
        software_update,
        use_object19_for_ota_metadata: p.use_object19_for_ota_metadata,
        power: PowerSettings {
            mode,
            psm_activity_timer_ms: power.psm_activity_timer_ms,
            edrx_cycle_ms: power.edrx_cycle_ms,
            paging_transmission_window_ms: power.paging_transmission_window_ms,
        },
    };
    f.finish(config)
}

/// Validation names fields relative to the profile (`objects[0]…`); the
/// request holds it under `prefix` (`profile.objects[0]…`).
pub fn prefixed(error: Error, prefix: &str) -> Error {
    match error {
        Error::Invalid(list) => Error::Invalid(
            list.into_iter()
                .map(|mut e| {
                    if !e.field.starts_with(&format!("{prefix}.")) {
                        e.field = format!("{prefix}.{}", e.field);
                    }
                    e
                })
                .collect(),
        ),
        other => other,
    }
}
