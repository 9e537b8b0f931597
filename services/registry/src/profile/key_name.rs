//! Attribute/telemetry key names generated from resource names, the way
//! ThingsBoard does: "Battery Level" → `batteryLevel`, "Serial Number" →
//! `serialNumber`, "IP Addresses" → `ipAddresses`, "PkgVersion" →
//! `pkgVersion`.

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 100;

/// camelCase of `resource_name`; `resource{id}` if the name has no letters or digits.
pub fn camel_case(resource_name: &str, resource_id: u16) -> String {
    let words: Vec<&str> = resource_name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut key = String::new();
    for (i, word) in words.iter().enumerate() {
        let shouting = word.len() > 1 && !word.chars().any(|c| c.is_ascii_lowercase());
        let mut chars = word.chars();
        let Some(first) = chars.next() else { continue };
        let rest: String = if shouting {
            chars.as_str().to_ascii_lowercase()
        } else {
            chars.as_str().to_owned()
        };
        if i == 0 {
            key.push(first.to_ascii_lowercase());
        } else {
            key.push(first.to_ascii_uppercase());
        }
        key.push_str(&rest);
    }
    if key.is_empty() {
        key = format!("resource{resource_id}");
    }
    key.truncate(MAX_KEY_LEN);
    key
}

/// Whether `key` is acceptable as a user-given key: 1 to [`MAX_KEY_LEN`]
/// characters of letters, digits, `_`, `-` and `.`.
pub fn check(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("must be 1 to {MAX_KEY_LEN} characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{key:?} may only hold letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_thingsboard_style_keys() {
        let cases = [
            ("Battery Level", "batteryLevel"),
            ("Serial Number", "serialNumber"),
            ("Timezone", "timezone"),
            ("Power Source Voltage", "powerSourceVoltage"),
            ("IP Addresses", "ipAddresses"),
            ("PkgVersion", "pkgVersion"),
            ("Cell ID", "cellId"),
            ("Min Measured Value", "minMeasuredValue"),
            ("Radio Signal Strength", "radioSignalStrength"),
            ("APN", "apn"),
            ("UTC Offset", "utcOffset"),
            (
                "Firmware Update Protocol Support",
                "firmwareUpdateProtocolSupport",
            ),
            ("Reboot", "reboot"),
            ("Sensor/Value (x)", "sensorValueX"),
        ];
        for (name, key) in cases {
            assert_eq!(camel_case(name, 0), key, "{name}");
        }
        assert_eq!(camel_case(" -- ", 7), "resource7");
    }

    #[test]
    fn user_keys_are_checked() {
        assert!(check("battery_level.v2").is_ok());
        assert!(check("").is_err());
        assert!(check("has space").is_err());
        assert!(check(&"k".repeat(101)).is_err());
    }
}
