//! Bulk registration CSV, with the columns of Cumulocity's LwM2M bulk
//! registration (`endpoint id`, `securityMode`, `lwm2m psk_id`, …).
//!
//! Column names are matched ignoring case, blanks, `_` and `-` (`endpoint
//! id`, `endpointId` and `ENDPOINT_ID` are one column); an unknown column
//! rejects the file, so a typo cannot silently drop a setting. The
//! delimiter is `,` or `;` (whichever the header uses). Each data row
//! parses on its own: a bad row fails with a message naming the column,
//! and the other rows still import.

use std::collections::HashMap;

use super::credentials::{check_psk_identity, SecretKey};
use super::{check_endpoint, Credentials, DeviceSettings, SecurityMode};
use crate::error::Error;

/// The columns, by normalised name. See `docs/registry.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Column {
    Endpoint,
    /// Cumulocity's external id: must equal the endpoint when given.
    ExternalId,
    /// Cumulocity's id type (`c8y_Serial`…): accepted and ignored.
    IdType,
    Name,
    Profile,
    SecurityMode,
    PskId,
    PskKey,
    BootstrapPskId,
    BootstrapPskKey,
    ServerUri,
    GenerateBootstrapServerConfig,
    BootstrapShortServerId,
    RegistrationLifetime,
    DefaultMinimumPeriod,
    DefaultMaximumPeriod,
    Type,
    ServerPublicKey,
    Lwm2mShortServerId,
    SecurityInstanceOffset,
    BindingMode,
    AwakeTime,
    NotificationIfDisabled,
    DisableTimeout,
    RequestTimeout,
    BinaryDeliveryEncoding,
    ResourceLevelTimestamp,
    FwUpdateDeliveryMethod,
    FwUpdateSupportedDeviceProtocol,
    FwUpdateResetMechanism,
    FwUpdateUrl,
}

/// Normalised header name → column.
const COLUMNS: &[(&str, Column)] = &[
    ("endpointid", Column::Endpoint),
    ("endpoint", Column::Endpoint),
    ("endpointclientid", Column::Endpoint),
    ("id", Column::ExternalId),
    ("idtype", Column::IdType),
    ("name", Column::Name),
    ("profile", Column::Profile),
    ("profileid", Column::Profile),
    ("deviceprofile", Column::Profile),
    ("securitymode", Column::SecurityMode),
    ("lwm2mpskid", Column::PskId),
    ("lwm2mpskkey", Column::PskKey),
    ("bootstrappskid", Column::BootstrapPskId),
    ("bootstrappskkey", Column::BootstrapPskKey),
    ("lwm2mserveruri", Column::ServerUri),
    (
        "generatebootstrapserverconfig",
        Column::GenerateBootstrapServerConfig,
    ),
    ("bootstrapshortserverid", Column::BootstrapShortServerId),
    ("registrationlifetime", Column::RegistrationLifetime),
    ("defaultminimumperiod", Column::DefaultMinimumPeriod),
    ("defaultmaximumperiod", Column::DefaultMaximumPeriod),
    ("type", Column::Type),
    ("serverpublickey", Column::ServerPublicKey),
    ("lwm2mshortserverid", Column::Lwm2mShortServerId),
    ("securityinstanceoffset", Column::SecurityInstanceOffset),
    ("bindingmode", Column::BindingMode),
    ("awaketimeregistrationparameter", Column::AwakeTime),
    ("notificationifdisabled", Column::NotificationIfDisabled),
    ("disabletimeout", Column::DisableTimeout),
    ("lwm2mrequesttimeout", Column::RequestTimeout),
    ("binarydeliveryencoding", Column::BinaryDeliveryEncoding),
    (
        "enableresourceleveltimestamp",
        Column::ResourceLevelTimestamp,
    ),
    ("fwupdatedeliverymethod", Column::FwUpdateDeliveryMethod),
    (
        "fwupdatesupporteddeviceprotocol",
        Column::FwUpdateSupportedDeviceProtocol,
    ),
    ("fwupdateresetmechanism", Column::FwUpdateResetMechanism),
    ("fwupdateurl", Column::FwUpdateUrl),
];

fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A row that parsed: a device to register, before tenant and profile
/// are resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvDevice {
    pub endpoint: String,
    pub name: Option<String>,
    /// Profile id or name, as written.
    pub profile: Option<String>,
    pub credentials: Credentials,
    pub bootstrap_credentials: Option<Credentials>,
    pub settings: DeviceSettings,
}

/// One data row: its line in the file, its endpoint (as far as known) and
/// the device or why the row is invalid.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRow {
    pub line: u64,
    pub endpoint: String,
    pub parsed: Result<CsvDevice, String>,
}

/// Parses the file; errors that concern the whole file (encoding, header)
/// are `Err`, row faults are in the rows.
pub fn parse(csv: &[u8]) -> Result<Vec<CsvRow>, Error> {
    let text = std::str::from_utf8(csv)
        .map_err(|e| Error::invalid("csv", format!("is not UTF-8 text: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let delimiter = if header_line.contains(';') && !header_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid("csv", format!("header row: {e}")))?
        .clone();
    let columns = header_columns(&headers)?;
    // Line numbers from byte offsets: csv counts neither the blank lines it
    // skips in its line numbers nor in its offsets (they point at the
    // blank lines), so step over them to the record itself.
    let newlines: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let line_of = |position: Option<&csv::Position>| {
        let mut byte = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        u64::try_from(newlines.partition_point(|&nl| nl < byte) + 1).unwrap_or(u64::MAX)
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(e.position());
                rows.push(CsvRow {
                    line,
                    endpoint: String::new(),
                    parsed: Err(format!("not valid CSV: {e}")),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = line_of(record.position());
        rows.push(parse_row(&headers, &columns, &record, line));
    }
    Ok(rows)
}

fn header_columns(headers: &csv::StringRecord) -> Result<Vec<Column>, Error> {
    let known: HashMap<&str, Column> = COLUMNS.iter().copied().collect();
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    for h in headers {
        match known.get(normalise(h).as_str()) {
            Some(c) if columns.contains(c) => {
                return Err(Error::invalid(
                    "csv",
                    format!("column {h:?} appears twice (or under two names)"),
                ))
            }
            Some(c) => columns.push(*c),
            None => unknown.push(h.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::invalid(
            "csv",
            format!(
                "unknown columns {unknown:?}; known: endpoint id, securityMode, lwm2m psk_id, \
                 lwm2m psk_key, bootstrap psk_id, bootstrap psk_key, lwm2m server uri, … (see docs/registry.md)"
            ),
        ));
    }
    for (needed, name) in [
        (Column::Endpoint, "endpoint id"),
        (Column::SecurityMode, "securityMode"),
    ] {
        if !columns.contains(&needed) {
            return Err(Error::invalid(
                "csv",
                format!("the header has no {name:?} column"),
            ));
        }
    }
    Ok(columns)
}

/// The fields of one row by column, with the header's spelling for messages.
struct Fields<'r> {
    by_column: HashMap<Column, (&'r str, &'r str)>,
}

impl<'r> Fields<'r> {
    fn get(&self, c: Column) -> Option<&'r str> {
        self.by_column
            .get(&c)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    }

    /// The header as the file spells it; for a column the file lacks, the
    /// first spelling we accept (normalised, e.g. `lwm2mpskid`).
    fn header(&self, c: Column) -> &'r str {
        self.by_column.get(&c).map(|(h, _)| *h).unwrap_or_else(|| {
            COLUMNS
                .iter()
                .find(|(_, column)| *column == c)
                .map_or("?", |(name, _)| *name)
        })
    }

    fn number<T: std::str::FromStr>(&self, c: Column) -> Result<Option<T>, String> {
        self.get(c)
            .map(|v| {
                v.parse::<T>().map_err(|_| {
                    format!("column {:?}: {v:?} is not a valid number", self.header(c))
                })
            })
            .transpose()
    }

    fn boolean(&self, c: Column) -> Result<Option<bool>, String> {
        self.get(c)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(format!(
                    "column {:?}: {v:?} is not true or false",
                    self.header(c)
                )),
            })
            .transpose()
    }

    fn text(&self, c: Column) -> Option<String> {
        self.get(c).map(str::to_owned)
    }

    fn upper(&self, c: Column) -> Option<String> {
        self.get(c).map(str::to_ascii_uppercase)
    }
}

fn parse_row(
    headers: &csv::StringRecord,
    columns: &[Column],
    record: &csv::StringRecord,
    line: u64,
) -> CsvRow {
    let by_column = columns
        .iter()
        .zip(headers.iter())
        .zip(record.iter().chain(std::iter::repeat("")))
        .map(|((c, h), v)| (*c, (h, v)))
        .collect();
    let fields = Fields { by_column };
    let endpoint = fields.get(Column::Endpoint).unwrap_or_default().to_owned();
    let parsed = if record.len() > headers.len() {
        Err(format!(
            "has {} fields, the header has {}",
            record.len(),
            headers.len()
        ))
    } else {
        device_of(&fields)
    };
    CsvRow {
        line,
        endpoint,
        parsed,
    }
}

fn device_of(f: &Fields<'_>) -> Result<CsvDevice, String> {
    let endpoint = f
        .get(Column::Endpoint)
        .ok_or_else(|| format!("column {:?} is empty", f.header(Column::Endpoint)))?;
    check_endpoint(endpoint)
        .map_err(|r| format!("column {:?}: {r}", f.header(Column::Endpoint)))?;
    if let Some(id) = f.get(Column::ExternalId).filter(|id| *id != endpoint) {
        return Err(format!(
            "column {:?}: {id:?} differs from the endpoint {endpoint:?} (they must be equal)",
            f.header(Column::ExternalId)
        ));
    }
    let mode_text = f
        .get(Column::SecurityMode)
        .ok_or_else(|| format!("column {:?} is empty", f.header(Column::SecurityMode)))?;
    let mode = SecurityMode::parse(mode_text);
    let (credentials, bootstrap_credentials) = match mode {
        Some(SecurityMode::NoSec) => {
            for c in [Column::PskId, Column::PskKey, Column::BootstrapPskId, Column::BootstrapPskKey] {
                if f.get(c).is_some() {
                    return Err(format!("column {:?} must be empty for NO_SEC", f.header(c)));
                }
            }
            (Credentials::NoSec, Some(Credentials::NoSec))
        }
        Some(SecurityMode::Psk) => {
            let credentials = psk(f, Column::PskId, Column::PskKey)?
                .ok_or_else(|| format!("PSK needs columns {:?} and {:?}", f.header(Column::PskId), f.header(Column::PskKey)))?;
            let bootstrap = psk(f, Column::BootstrapPskId, Column::BootstrapPskKey)?;
            (credentials, bootstrap)
        }
        _ => {
            return Err(format!(
                "column {:?}: {mode_text:?} is not NO_SEC or PSK (register RPK and X.509 devices through the API)",
                f.header(Column::SecurityMode)
            ))
        }
    };
    let settings = DeviceSettings {
        device_type: f.text(Column::Type),
        server_uri: f.text(Column::ServerUri),
        generate_bootstrap_server_config: f
            .boolean(Column::GenerateBootstrapServerConfig)?
            .unwrap_or(false),
        bootstrap_short_server_id: f.number(Column::BootstrapShortServerId)?,
        lwm2m_short_server_id: f.number(Column::Lwm2mShortServerId)?,
        registration_lifetime_s: f.number(Column::RegistrationLifetime)?,
        default_pmin_s: f.number(Column::DefaultMinimumPeriod)?,
        default_pmax_s: f.number(Column::DefaultMaximumPeriod)?,
        server_public_key: f.text(Column::ServerPublicKey),
        security_instance_offset: f.number(Column::SecurityInstanceOffset)?,
        binding_mode: f.upper(Column::BindingMode),
        awake_time_ms: f.number(Column::AwakeTime)?,
        notification_if_disabled: f.boolean(Column::NotificationIfDisabled)?,
        disable_timeout_s: f.number(Column::DisableTimeout)?,
        request_timeout_ms: f.number(Column::RequestTimeout)?,
        binary_delivery_encoding: f.upper(Column::BinaryDeliveryEncoding),
        resource_level_timestamp: f.boolean(Column::ResourceLevelTimestamp)?,
        fw_update_delivery_method: f.upper(Column::FwUpdateDeliveryMethod),
        fw_update_supported_device_protocol: f.upper(Column::FwUpdateSupportedDeviceProtocol),
        fw_update_reset_mechanism: f.upper(Column::FwUpdateResetMechanism),
        fw_update_url: f.text(Column::FwUpdateUrl),
    };
    if let Some(fault) = settings.validate("settings").into_iter().next() {
        return Err(format!(
            "{}: {}",
            csv_name_of_setting(&fault.field),
            fault.reason
        ));
    }
    Ok(CsvDevice {
        endpoint: endpoint.to_owned(),
        name: f.text(Column::Name),
        profile: f.text(Column::Profile),
        credentials,
        bootstrap_credentials,
        settings,
    })
}

/// PSK credentials from an id and a key column; `None` when both are empty.
fn psk(f: &Fields<'_>, id: Column, key: Column) -> Result<Option<Credentials>, String> {
    match (f.get(id), f.get(key)) {
        (None, None) => Ok(None),
        (Some(identity), Some(key_hex)) => {
            check_psk_identity(identity).map_err(|r| format!("column {:?}: {r}", f.header(id)))?;
            let key = SecretKey::from_hex(key_hex)
                .map_err(|r| format!("column {:?}: {r}", f.header(key)))?;
            Ok(Some(Credentials::Psk {
                identity: identity.to_owned(),
                key,
            }))
        }
        (Some(_), None) => Err(format!("column {:?} is empty", f.header(key))),
        (None, Some(_)) => Err(format!("column {:?} is empty", f.header(id))),
    }
}

/// `settings.server_uri` → `column "lwm2m server uri"` style names for row messages.
fn csv_name_of_setting(field: &str) -> String {
    let name = match field.trim_start_matches("settings.") {
        "server_uri" => "lwm2m server uri",
        "binding_mode" => "bindingMode",
        "lwm2m_short_server_id" => "lwm2mShortServerId",
        "registration_lifetime_s" => "registrationLifetime",
        "default_pmin_s" => "defaultMinimumPeriod",
        "binary_delivery_encoding" => "binaryDeliveryEncoding",
        "fw_update_delivery_method" => "fwUpdateDeliveryMethod",
        "fw_update_supported_device_protocol" => "fwUpdateSupportedDeviceProtocol",
        "fw_update_reset_mechanism" => "fwUpdateResetMechanism",
        "fw_update_url" => "fwUpdateURL",
        other => other,
    };
    format!("column {name:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "endpoint id,securityMode,lwm2m psk_id,lwm2m psk_key,bootstrap psk_id,bootstrap psk_key,lwm2m server uri,registrationLifetime,defaultMinimumPeriod,defaultMaximumPeriod,awakeTimeRegistrationParameter,bindingMode";

    #[test]
    fn good_rows_become_devices() {
        let csv = format!(
            "{HEADER}\n\
             meter-1,NO_SEC,,,,,coap://lwm2m.example.com:5683,300,10,60,180000,U\n\
             meter-2,PSK,psk-2,000102030405060708090A0B0C0D0E0F,bs-2,{},coaps://lwm2m.example.com:5684,,,,,UQ\n",
            "ab".repeat(32)
        );
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let first = rows[0].parsed.as_ref().unwrap();
        assert_eq!(first.credentials, Credentials::NoSec);
        assert_eq!(first.settings.registration_lifetime_s, Some(300));
        assert_eq!(first.settings.awake_time_ms, Some(180_000));
        assert_eq!(rows[0].line, 2);
        let second = rows[1].parsed.as_ref().unwrap();
        assert_eq!(second.credentials.psk_identity(), Some("psk-2"));
        assert_eq!(
            second
                .bootstrap_credentials
                .as_ref()
                .and_then(Credentials::psk_identity),
            Some("bs-2")
        );
        assert_eq!(second.settings.binding_mode.as_deref(), Some("UQ"));
    }

    #[test]
    fn bad_rows_name_the_column_and_do_not_stop_the_file() {
        let csv = format!(
            "{HEADER}\n\
             bad-key,PSK,id-1,0102,,,,,,,,\n\
             nosec-with-psk,NO_SEC,id-2,,,,,,,,,\n\
             bad-number,NO_SEC,,,,,,ten,,,,\n\
             bad-mode,TLS,,,,,,,,,,\n\
             ,NO_SEC,,,,,,,,,,\n\
             fine,NO_SEC,,,,,,,,,,\n"
        );
        let rows = parse(csv.as_bytes()).unwrap();
        let errors: Vec<String> = rows.iter().filter_map(|r| r.parsed.clone().err()).collect();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors[0].contains("lwm2m psk_key") && errors[0].contains("32, 64 or 128"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("lwm2m psk_id") && errors[1].contains("NO_SEC"),
            "{}",
            errors[1]
        );
        assert!(errors[2].contains("registrationLifetime"), "{}", errors[2]);
        assert!(errors[3].contains("securityMode"), "{}", errors[3]);
        assert!(errors[4].contains("endpoint id"), "{}", errors[4]);
        assert!(rows[5].parsed.is_ok());
    }

    #[test]
    fn header_variants_and_semicolons() {
        let csv = "ID;Endpoint_Id;SECURITY-MODE;NAME\nm-1;m-1;nosec;Meter one\n";
        let rows = parse(csv.as_bytes()).unwrap();
        let device = rows[0].parsed.as_ref().unwrap();
        assert_eq!(device.name.as_deref(), Some("Meter one"));
        let mismatch = parse(b"ID,endpoint id,securityMode\nx,m-1,NO_SEC\n").unwrap();
        assert!(mismatch[0].parsed.as_ref().unwrap_err().contains("ID"));
    }

    #[test]
    fn file_level_faults_reject_the_file() {
        let unknown = parse(b"endpoint id,securityMode,lwm2m psk idd\n").unwrap_err();
        assert!(unknown.to_string().contains("lwm2m psk idd"), "{unknown}");
        let missing = parse(b"endpoint id,name\n").unwrap_err();
        assert!(missing.to_string().contains("securityMode"), "{missing}");
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn lines_count_blank_lines() {
        let rows = parse(b"endpoint id,securityMode\n\na,NO_SEC\n\n\nb,NO_SEC\n").unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6]);
    }

    #[test]
    fn too_many_fields_is_a_row_fault() {
        let rows = parse(b"endpoint id,securityMode\na,NO_SEC,extra\n").unwrap();
        assert!(rows[0].parsed.as_ref().unwrap_err().contains("fields"));
    }
}
