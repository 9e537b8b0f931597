//! Devices, credentials and settings. Secrets leave only when asked for.

use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::credentials::Mode;

use super::{non_empty, u16_of, Faults};
use crate::device::credentials::{
    check_psk_identity, decode_der, MAX_CERTIFICATE_LEN, MAX_PUBLIC_KEY_LEN,
};
use crate::device::{Credentials, Device, DeviceSettings, SecretKey};
use crate::error::Error;
use crate::ids::{ProfileId, TenantId};
use crate::service::NewDevice;

/// Whether PSK keys are included in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    Reveal,
    Redact,
}

pub fn device_to_proto(d: &Device, secrets: Secrets) -> pb::Device {
    pb::Device {
        id: d.id.to_string(),
        tenant_id: d.tenant_id.to_string(),
        endpoint: d.endpoint.clone(),
        name: d.name.clone(),
        profile_id: d
            .profile_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        credentials: Some(credentials_to_proto(&d.credentials, secrets)),
        bootstrap_credentials: d
            .bootstrap_credentials
            .as_ref()
            .map(|c| credentials_to_proto(c, secrets)),
        settings: Some(settings_to_proto(&d.settings)),
        revision: d.revision,
        created_at_ms: d.created_at_ms,
        updated_at_ms: d.updated_at_ms,
    }
}

pub fn credentials_to_proto(c: &Credentials, secrets: Secrets) -> pb::Credentials {
    let mode = match c {
        Credentials::NoSec => Mode::NoSec(pb::NoSecCredentials {}),
        Credentials::Psk { identity, key } => Mode::Psk(pb::PskCredentials {
            identity: identity.clone(),
            key_hex: match secrets {
                Secrets::Reveal => key.to_hex(),
                Secrets::Redact => String::new(),
            },
            key_redacted: secrets == Secrets::Redact,
        }),
        Credentials::Rpk { public_key } => Mode::Rpk(pb::RpkCredentials {
            public_key: public_key.0.clone(),
        }),
        Credentials::X509 { certificate } => Mode::X509(pb::X509Credentials {
            certificate: certificate
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        }),
    };
    pb::Credentials { mode: Some(mode) }
}

/// Credentials from a request; `keep` is what is stored (an update), whose
/// PSK key is kept when the request leaves the key empty.
pub fn credentials_from_proto(
    c: &pb::Credentials,
    field: &str,
    keep: Option<&Credentials>,
    faults: &mut Faults,
) -> Option<Credentials> {
    match &c.mode {
        None | Some(Mode::NoSec(_)) => Some(Credentials::NoSec),
        Some(Mode::Psk(p)) => {
            if let Err(reason) = check_psk_identity(&p.identity) {
                faults.add(format!("{field}.psk.identity"), reason);
            }
            let key = match (p.key_hex.is_empty(), keep) {
                (true, Some(Credentials::Psk { key, .. })) => Ok(key.clone()),
                _ => SecretKey::from_hex(&p.key_hex),
            };
            match key {
                Ok(key) => Some(Credentials::Psk {
                    identity: p.identity.clone(),
                    key,
                }),
                Err(reason) => {
                    faults.add(format!("{field}.psk.key_hex"), reason);
                    None
                }
            }
        }
        Some(Mode::Rpk(r)) => match decode_der(&r.public_key, MAX_PUBLIC_KEY_LEN, "public key") {
            Ok(public_key) => Some(Credentials::Rpk { public_key }),
            Err(reason) => {
                faults.add(format!("{field}.rpk.public_key"), reason);
                None
            }
        },
        Some(Mode::X509(x)) if x.certificate.is_empty() => {
            Some(Credentials::X509 { certificate: None })
        }
        Some(Mode::X509(x)) => match decode_der(&x.certificate, MAX_CERTIFICATE_LEN, "certificate")
        {
            Ok(der) => Some(Credentials::X509 {
                certificate: Some(der),
            }),
            Err(reason) => {
                faults.add(format!("{field}.x509.certificate"), reason);
                None
            }
        },
    }
}

pub fn settings_to_proto(s: &DeviceSettings) -> pb::DeviceSettings {
    pb::DeviceSettings {
        device_type: s.device_type.clone(),
        server_uri: s.server_uri.clone(),
        generate_bootstrap_server_config: s.generate_bootstrap_server_config,
        bootstrap_short_server_id: s.bootstrap_short_server_id.map(u32::from),
        lwm2m_short_server_id: s.lwm2m_short_server_id.map(u32::from),
        registration_lifetime_s: s.registration_lifetime_s,
        default_pmin_s: s.default_pmin_s,
        default_pmax_s: s.default_pmax_s,
        server_public_key: s.server_public_key.clone(),
        security_instance_offset: s.security_instance_offset.map(u32::from),
        binding_mode: s.binding_mode.clone(),
        awake_time_ms: s.awake_time_ms,
        notification_if_disabled: s.notification_if_disabled,
        disable_timeout_s: s.disable_timeout_s,
        request_timeout_ms: s.request_timeout_ms,
        binary_delivery_encoding: s.binary_delivery_encoding.clone(),
        resource_level_timestamp: s.resource_level_timestamp,
        fw_update_delivery_method: s.fw_update_delivery_method.clone(),
        fw_update_supported_device_protocol: s.fw_update_supported_device_protocol.clone(),
        fw_update_reset_mechanism: s.fw_update_reset_mechanism.clone(),
        fw_update_url: s.fw_update_url.clone(),
    }
}

pub fn settings_from_proto(
    s: &pb::DeviceSettings,
    field: &str,
    faults: &mut Faults,
) -> DeviceSettings {
    let mut small =
        |v: Option<u32>, name: &str| v.map(|v| faults.take(u16_of(v, &format!("{field}.{name}"))));
    DeviceSettings {
        device_type: s.device_type.clone(),
        server_uri: s.server_uri.clone(),
        generate_bootstrap_server_config: s.generate_bootstrap_server_config,
        bootstrap_short_server_id: small(s.bootstrap_short_server_id, "bootstrap_short_server_id"),
        lwm2m_short_server_id: small(s.lwm2m_short_server_id, "lwm2m_short_server_id"),
        registration_lifetime_s: s.registration_lifetime_s,
        default_pmin_s: s.default_pmin_s,
        default_pmax_s: s.default_pmax_s,
        server_public_key: s.server_public_key.clone(),
        security_instance_offset: small(s.security_instance_offset, "security_instance_offset"),
        binding_mode: s.binding_mode.clone(),
        awake_time_ms: s.awake_time_ms,
        notification_if_disabled: s.notification_if_disabled,
        disable_timeout_s: s.disable_timeout_s,
        request_timeout_ms: s.request_timeout_ms,
        binary_delivery_encoding: s.binary_delivery_encoding.clone(),
        resource_level_timestamp: s.resource_level_timestamp,
        fw_update_delivery_method: s.fw_update_delivery_method.clone(),
        fw_update_supported_device_protocol: s.fw_update_supported_device_protocol.clone(),
        fw_update_reset_mechanism: s.fw_update_reset_mechanism.clone(),
        fw_update_url: s.fw_update_url.clone(),
    }
}

/// A `CreateDevice` request. Fields are named `device.…`.
pub fn new_device_from_proto(d: &pb::Device) -> Result<NewDevice, Error> {
    let mut f = Faults::default();
    let tenant_id = TenantId::parse(&d.tenant_id, "device.tenant_id")
        .map_err(|e| f.extend(e))
        .ok();
    let profile_id = non_empty(&d.profile_id)
        .map(|p| {
            ProfileId::parse(p, "device.profile_id")
                .map_err(|e| f.extend(e))
                .ok()
        })
        .unwrap_or_default();
    let credentials = match &d.credentials {
        Some(c) => credentials_from_proto(c, "device.credentials", None, &mut f),
        None => Some(Credentials::NoSec),
    };
    let bootstrap_credentials = d
        .bootstrap_credentials
        .as_ref()
        .map(|c| credentials_from_proto(c, "device.bootstrap_credentials", None, &mut f));
    let settings = settings_from_proto(
        &d.settings.clone().unwrap_or_default(),
        "device.settings",
        &mut f,
    );
    match (tenant_id, credentials, bootstrap_credentials) {
        (Some(tenant_id), Some(credentials), bootstrap) if f.0.is_empty() => Ok(NewDevice {
            tenant_id,
            endpoint: d.endpoint.clone(),
            name: d.name.clone(),
            profile_id,
            credentials,
            bootstrap_credentials: bootstrap.flatten(),
            settings,
        }),
        _ => Err(Error::Invalid(f.0)),
    }
}

/// Applies an `UpdateDevice` request to the stored device: unset
/// credentials are kept; an empty `Credentials` message for the bootstrap
/// credentials removes them.
pub fn apply_update(stored: &mut Device, d: &pb::Device) -> Result<(), Error> {
    let mut f = Faults::default();
    let profile_id = non_empty(&d.profile_id)
        .map(|p| {
            ProfileId::parse(p, "device.profile_id")
                .map_err(|e| f.extend(e))
                .ok()
        })
        .unwrap_or_default();
    if let Some(c) = &d.credentials {
        if let Some(c) =
            credentials_from_proto(c, "device.credentials", Some(&stored.credentials), &mut f)
        {
            stored.credentials = c;
        }
    }
    match &d.bootstrap_credentials {
        None => {}
        Some(pb::Credentials { mode: None }) => stored.bootstrap_credentials = None,
        Some(c) => {
            let keep = stored.bootstrap_credentials.clone();
            if let Some(c) =
                credentials_from_proto(c, "device.bootstrap_credentials", keep.as_ref(), &mut f)
            {
                stored.bootstrap_credentials = Some(c);
            }
        }
    }
    if let Some(s) = &d.settings {
        stored.settings = settings_from_proto(s, "device.settings", &mut f);
    }
    stored.endpoint = d.endpoint.clone();
    stored.name = d.name.clone();
    stored.profile_id = profile_id;
    f.finish(())
}

/// A device as a remote registry's lookup sent it (with secrets).
pub fn device_from_proto(d: &pb::Device) -> Result<Device, Error> {
    let new = new_device_from_proto(d)?;
    let id = crate::ids::DeviceId::parse(&d.id, "device.id")?;
    Ok(Device {
        id,
        tenant_id: new.tenant_id,
        endpoint: new.endpoint,
        name: new.name,
        profile_id: new.profile_id,
        credentials: new.credentials,
        bootstrap_credentials: new.bootstrap_credentials,
        settings: new.settings,
        revision: d.revision,
        created_at_ms: d.created_at_ms,
        updated_at_ms: d.updated_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psk(identity: &str, key_hex: &str) -> pb::Credentials {
        pb::Credentials {
            mode: Some(Mode::Psk(pb::PskCredentials {
                identity: identity.into(),
                key_hex: key_hex.into(),
                key_redacted: false,
            })),
        }
    }

    #[test]
    fn listings_never_carry_keys() {
        let c = Credentials::Psk {
            identity: "id".into(),
            key: SecretKey::from_bytes(vec![0xab; 16]),
        };
        let redacted = credentials_to_proto(&c, Secrets::Redact);
        let Some(Mode::Psk(p)) = redacted.mode else {
            panic!()
        };
        assert!(p.key_hex.is_empty() && p.key_redacted);
        let revealed = credentials_to_proto(&c, Secrets::Reveal);
        let Some(Mode::Psk(p)) = revealed.mode else {
            panic!()
        };
        assert_eq!(p.key_hex, "AB".repeat(16));
    }

    #[test]
    fn faults_name_the_credential_fields() {
        let d = pb::Device {
            tenant_id: "acme".into(),
            endpoint: "e".into(),
            credentials: Some(psk("", "0102")),
            bootstrap_credentials: Some(pb::Credentials {
                mode: Some(Mode::Rpk(pb::RpkCredentials {
                    public_key: b"garbage".to_vec(),
                })),
            }),
            ..Default::default()
        };
        let err = new_device_from_proto(&d).unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "device.credentials.psk.identity",
                "device.credentials.psk.key_hex",
                "device.bootstrap_credentials.rpk.public_key"
            ]
        );
    }

    #[test]
    fn an_update_without_a_key_keeps_the_stored_key() {
        let key = SecretKey::from_bytes(vec![7; 16]);
        let mut stored = device_from_proto(&pb::Device {
            id: "d-1".into(),
            tenant_id: "acme".into(),
            endpoint: "e".into(),
            ..Default::default()
        })
        .unwrap();
        stored.credentials = Credentials::Psk {
            identity: "old".into(),
            key: key.clone(),
        };
        let request = pb::Device {
            endpoint: "e".into(),
            credentials: Some(psk("new", "")),
            ..Default::default()
        };
        apply_update(&mut stored, &request).unwrap();
        assert_eq!(
            stored.credentials,
            Credentials::Psk {
                identity: "new".into(),
                key
            }
        );
    }
}
