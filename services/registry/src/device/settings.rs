//! Per-device registration and bootstrap settings: the optional fields of
//! Cumulocity's LwM2M device registration (and bulk CSV). They override the
//! profile's bootstrap settings for one device.

use serde::{Deserialize, Serialize};

use super::SecurityMode;
use crate::error::FieldError;
use crate::profile::validate::{check_binding, check_uri};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceSettings {
    /// Free-form device type (Cumulocity `type`).
    pub device_type: Option<String>,
    /// The LwM2M server URI written at bootstrap (`lwm2m server uri`).
    pub server_uri: Option<String>,
    /// Write a bootstrap server account too (`generateBootstrapServerConfig`).
    pub generate_bootstrap_server_config: bool,
    pub bootstrap_short_server_id: Option<u16>,
    pub lwm2m_short_server_id: Option<u16>,
    pub registration_lifetime_s: Option<u32>,
    pub default_pmin_s: Option<u32>,
    pub default_pmax_s: Option<u32>,
    /// The server's public key for RPK bootstrap (`serverPublicKey`), base64.
    pub server_public_key: Option<String>,
    pub security_instance_offset: Option<u16>,
    pub binding_mode: Option<String>,
    /// Queue mode: how long the device listens after an uplink; 0 = always.
    pub awake_time_ms: Option<u64>,
    pub notification_if_disabled: Option<bool>,
    /// Server object resource 5, seconds.
    pub disable_timeout_s: Option<u32>,
    pub request_timeout_ms: Option<u64>,
    /// OPAQUE, TLV, JSON or TEXT.
    pub binary_delivery_encoding: Option<String>,
    pub resource_level_timestamp: Option<bool>,
    /// PUSH, PULL or BOTH.
    pub fw_update_delivery_method: Option<String>,
    /// COAP, COAPS, HTTP or HTTPS.
    pub fw_update_supported_device_protocol: Option<String>,
    /// PACKAGE or PACKAGE_URI.
    pub fw_update_reset_mechanism: Option<String>,
    pub fw_update_url: Option<String>,
}

/// The words each enumerated setting accepts.
pub const BINARY_ENCODINGS: &[&str] = &["OPAQUE", "TLV", "JSON", "TEXT"];
pub const FW_DELIVERY_METHODS: &[&str] = &["PUSH", "PULL", "BOTH"];
pub const FW_PROTOCOLS: &[&str] = &["COAP", "COAPS", "HTTP", "HTTPS"];
pub const FW_RESET_MECHANISMS: &[&str] = &["PACKAGE", "PACKAGE_URI"];

impl DeviceSettings {
    /// Faults, named `{prefix}.field`.
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut faults = Vec::new();
        let mut add = |field: &str, reason: String| {
            faults.push(FieldError {
                field: format!("{prefix}.{field}"),
                reason,
            })
        };
        if let Some(uri) = &self.server_uri {
            // The scheme decides the mode; either is a valid server URI.
            let nosec = check_uri(uri, SecurityMode::NoSec);
            if nosec.is_err() && check_uri(uri, SecurityMode::Psk).is_err() {
                add("server_uri", nosec.err().unwrap_or_default());
            }
        }
        if let Some(binding) = &self.binding_mode {
            if let Err(reason) = check_binding(binding) {
                add("binding_mode", reason);
            }
        }
        if self
            .lwm2m_short_server_id
            .is_some_and(|id| id == 0 || id == u16::MAX)
        {
            add("lwm2m_short_server_id", "must be 1 to 65534".to_owned());
        }
        if self.registration_lifetime_s == Some(0) {
            add("registration_lifetime_s", "must be positive".to_owned());
        }
        if let (Some(pmin), Some(pmax)) = (self.default_pmin_s, self.default_pmax_s) {
            if pmax > 0 && pmin > pmax {
                add(
                    "default_pmin_s",
                    format!("{pmin} is above default_pmax_s {pmax}"),
                );
            }
        }
        let words = [
            (
                "binary_delivery_encoding",
                &self.binary_delivery_encoding,
                BINARY_ENCODINGS,
            ),
            (
                "fw_update_delivery_method",
                &self.fw_update_delivery_method,
                FW_DELIVERY_METHODS,
            ),
            (
                "fw_update_supported_device_protocol",
                &self.fw_update_supported_device_protocol,
                FW_PROTOCOLS,
            ),
            (
                "fw_update_reset_mechanism",
                &self.fw_update_reset_mechanism,
                FW_RESET_MECHANISMS,
            ),
        ];
        for (field, value, allowed) in words {
            if let Some(v) = value {
                if !allowed.contains(&v.as_str()) {
                    add(field, format!("{v:?} is not one of {allowed:?}"));
                }
            }
        }
        if let Some(url) = &self.fw_update_url {
            if !url.contains("://") {
                add("fw_update_url", format!("{url:?} is not a URL"));
            }
        }
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_name_the_setting() {
        let s = DeviceSettings {
            server_uri: Some("lwm2m.example.com".into()),
            binding_mode: Some("UX".into()),
            default_pmin_s: Some(60),
            default_pmax_s: Some(30),
            binary_delivery_encoding: Some("CBOR".into()),
            ..Default::default()
        };
        let fields: Vec<String> = s
            .validate("settings")
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "settings.server_uri",
                "settings.binding_mode",
                "settings.default_pmin_s",
                "settings.binary_delivery_encoding"
            ]
        );
        let ok = DeviceSettings {
            server_uri: Some("coaps://lwm2m.example.com:5684".into()),
            binding_mode: Some("UQ".into()),
            ..Default::default()
        };
        assert!(ok.validate("settings").is_empty());
    }
}
