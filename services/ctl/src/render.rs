//! Human-readable and JSON renderings of values, registrations and events.

use base64::Engine;
use lwm2m_proto::events::v1::{value::Kind, ResourceValue, UplinkEvent, Value};
use lwm2m_proto::transport::v1::{DownlinkResponse, Registration};
use serde_json::{json, Value as Json};

use crate::table::Table;

/// A value as JSON: numbers stay numbers, opaque is base64, objlnk "3:0".
pub fn value_json(value: Option<&Value>) -> Json {
    match value.and_then(|v| v.kind.as_ref()) {
        None => Json::Null,
        Some(Kind::StringValue(s)) | Some(Kind::Corelnk(s)) => json!(s),
        Some(Kind::Integer(i)) => json!(i),
        Some(Kind::UnsignedInteger(u)) => json!(u),
        Some(Kind::Float(f)) => json!(f),
        Some(Kind::Boolean(b)) => json!(b),
        Some(Kind::Time(t)) => json!(t),
        Some(Kind::Opaque(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(Kind::Objlnk(l)) => json!(format!("{}:{}", l.object, l.instance)),
        Some(Kind::Untyped(u)) => untyped_json(u),
    }
}

/// A value no model types: raw bytes (base64, like opaque), their format,
/// the guessed readings and the model that is missing.
fn untyped_json(u: &lwm2m_proto::events::v1::UntypedValue) -> Json {
    let guesses: Vec<Json> = u.guesses.iter().map(|g| value_json(Some(g))).collect();
    let mut out = json!({
        "raw": base64::engine::general_purpose::STANDARD.encode(&u.raw),
        "content_format": u.content_format,
        "guesses": guesses,
        "guess": u.rendering,
    });
    if let Some(m) = &u.missing_model {
        out["missing_model"] = json!(lwm2m_proto::convert::missing_model_text(m));
    }
    out
}

/// A value as text for tables.
pub fn value_text(value: Option<&Value>) -> String {
    match value.and_then(|v| v.kind.as_ref()) {
        Some(Kind::Opaque(b)) => format!("0x{}", hex::encode(b)),
        Some(Kind::StringValue(s)) | Some(Kind::Corelnk(s)) => s.clone(),
        Some(Kind::Untyped(u)) => u.rendering.clone(),
        // Unquoted, as operators write it (`write … 0:0`).
        Some(Kind::Objlnk(l)) => format!("{}:{}", l.object, l.instance),
        _ => value_json(value).to_string(),
    }
}

pub fn values_json(values: &[ResourceValue]) -> Json {
    Json::Array(
        values
            .iter()
            .map(|v| {
                let mut o = json!({"path": v.path, "value": value_json(v.value.as_ref())});
                if let Some(ts) = v.timestamp_ms {
                    o["timestamp_ms"] = json!(ts);
                }
                if let Some(k) = &v.key {
                    o["key"] = json!(k);
                }
                o
            })
            .collect(),
    )
}

pub fn values_table(values: &[ResourceValue]) -> String {
    let mut table = Table::new(&["PATH", "VALUE"]);
    for v in values {
        table.row(vec![v.path.clone(), value_text(v.value.as_ref())]);
    }
    table.render()
}

/// A device's answer to a downlink, for scripts.
pub fn response_json(response: &DownlinkResponse) -> Json {
    let mut out = json!({
        "result": response.code_name,
        "code": response.code,
        "values": values_json(&response.values),
    });
    if let Some(link) = &response.link_format {
        out["link_format"] = json!(link);
    }
    if let Some(location) = &response.location {
        out["location"] = json!(location);
    }
    if !response.missing_models.is_empty() {
        out["missing_models"] = json!(missing_models(response));
    }
    if let Some(error) = &response.decode_error {
        out["decode_error"] = json!(error);
    }
    out
}

/// Why a 2.xx answer cannot be used: the server could not read it, or a
/// Discover answer is not link-format (checked here too, for transport
/// nodes that do not check it).
pub fn answer_error(response: &DownlinkResponse) -> Option<String> {
    if let Some(reason) = &response.decode_error {
        return Some(reason.clone());
    }
    let discover_mismatch =
        response.link_format.is_some() && response.content_format.is_some_and(|c| c != 40);
    discover_mismatch.then(|| {
        format!(
            "the Discover answer is in Content-Format {}, not link-format (40); payload: 0x{}",
            response.content_format.unwrap_or_default(),
            hex::encode(response.payload.as_deref().unwrap_or_default())
        )
    })
}

/// The object models the server lacks for `response`'s values, in words.
pub fn missing_models(response: &DownlinkResponse) -> Vec<String> {
    response
        .missing_models
        .iter()
        .map(lwm2m_proto::convert::missing_model_text)
        .collect()
}

/// The warning printed on stderr when values came without a model.
pub fn missing_models_warning(response: &DownlinkResponse) -> Option<String> {
    let missing = missing_models(response);
    (!missing.is_empty()).then(|| {
        format!(
            "warning: {}; the values are the device's raw bytes and their readings are guesses \
             (import the object's DDF: lwm2mctl models import)",
            missing.join(", ")
        )
    })
}

/// A device's answer to a downlink: the code, then values, links or location.
pub fn response_text(response: &DownlinkResponse) -> String {
    let mut out = format!("{} {}\n", response.code, response.code_name);
    if !response.values.is_empty() {
        out.push_str(&values_table(&response.values));
    }
    if let Some(link) = &response.link_format {
        for l in link.split(',') {
            out.push_str(l);
            out.push('\n');
        }
    }
    if let Some(location) = &response.location {
        out.push_str(&format!("location: {location}\n"));
    }
    out
}

pub fn registration_json(r: &Registration) -> Json {
    json!({
        "endpoint": r.endpoint,
        "tenant": r.tenant,
        "registration_id": r.registration_id,
        "lwm2m_version": r.lwm2m_version,
        "lifetime_s": r.lifetime_s,
        "binding": r.binding,
        "queue_mode": r.queue_mode,
        "address": r.address,
        "node_id": r.node_id,
        "objects": r.objects.iter().map(|o| json!({
            "id": o.id, "version": o.version, "instances": o.instances
        })).collect::<Vec<_>>(),
        "registered_at_ms": r.registered_at_ms,
        "last_update_ms": r.last_update_ms,
        "expires_at_ms": r.expires_at_ms,
    })
}

pub fn registrations_table(regs: &[Registration]) -> String {
    let mut table = Table::new(&["ENDPOINT", "LWM2M", "BINDING", "ADDRESS", "OBJECTS"]);
    for r in regs {
        let objects: Vec<String> = r.objects.iter().map(|o| o.id.to_string()).collect();
        table.row(vec![
            r.endpoint.clone(),
            r.lwm2m_version.clone(),
            r.binding.clone(),
            r.address.clone(),
            objects.join(","),
        ]);
    }
    table.render()
}

/// One uplink event for `watch --json` and `observe --json`, one per line.
pub fn event_json(event: &UplinkEvent) -> Json {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    let values = match &event.payload {
        Some(Payload::Values(v)) => values_json(&v.values),
        _ => Json::Null,
    };
    json!({"endpoint": event.endpoint, "timestamp_ms": event.timestamp_ms, "values": values})
}

/// One line per uplink event, for `watch` and `observe`, with the event's
/// local time (`--json` keeps `timestamp_ms`).
pub fn event_line(e: &UplinkEvent) -> String {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    let at = crate::local_time::rfc3339_local(e.timestamp_ms);
    match &e.payload {
        Some(Payload::Values(v)) => {
            let parts: Vec<String> = v
                .values
                .iter()
                .map(|r| format!("{}={}", r.path, value_text(r.value.as_ref())))
                .collect();
            format!("{at} {} {:?}: {}", e.endpoint, v.source(), parts.join(" "))
        }
        Some(Payload::Registration(r)) => {
            format!("{at} {} {:?}", e.endpoint, r.kind())
        }
        Some(Payload::TransportLog(l)) => {
            format!("{at} {} {}", e.endpoint, l.message)
        }
        None => format!("{at} {} (empty event)", e.endpoint),
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::value::Kind;

    use super::*;

    fn value(kind: Kind) -> Option<Value> {
        Some(Value { kind: Some(kind) })
    }

    #[test]
    fn events_print_local_time_and_json_keeps_the_number() {
        use lwm2m_proto::events::v1::{uplink_event::Payload, ResourceValues, ValueSource};
        let event = UplinkEvent {
            endpoint: "sim-0001".into(),
            timestamp_ms: 1_796_659_392_345,
            payload: Some(Payload::Values(ResourceValues {
                source: ValueSource::Notify as i32,
                values: vec![ResourceValue {
                    path: "/3/0/9".into(),
                    value: value(Kind::Integer(87)),
                    timestamp_ms: None,
                    key: None,
                }],
                observation_token: None,
            })),
            ..Default::default()
        };
        let line = event_line(&event);
        let (at, rest) = line.split_once(' ').unwrap();
        assert_eq!(at, crate::local_time::rfc3339_local(1_796_659_392_345));
        assert!(at.starts_with("2026-12-0") && at.contains(".345"), "{line}");
        assert_eq!(rest, "sim-0001 Notify: /3/0/9=87");
        assert_eq!(event_json(&event)["timestamp_ms"], 1_796_659_392_345_i64);
    }

    #[test]
    fn values_keep_their_json_types() {
        assert_eq!(value_json(value(Kind::Integer(42)).as_ref()), json!(42));
        assert_eq!(value_json(value(Kind::Boolean(true)).as_ref()), json!(true));
        assert_eq!(
            value_json(value(Kind::Opaque(vec![1, 2])).as_ref()),
            json!("AQI=")
        );
        assert_eq!(
            value_text(value(Kind::Opaque(vec![1, 2])).as_ref()),
            "0x0102"
        );
        assert_eq!(value_json(None), Json::Null);
        let link = Kind::Objlnk(lwm2m_proto::events::v1::ObjLnk {
            object: 0,
            instance: 0,
        });
        assert_eq!(value_text(value(link.clone()).as_ref()), "0:0");
        assert_eq!(value_json(value(link).as_ref()), json!("0:0"));
    }

    #[test]
    fn a_read_answer_prints_as_json_and_as_a_table() {
        let response = DownlinkResponse {
            code: "2.05".into(),
            code_name: "CONTENT".into(),
            values: vec![ResourceValue {
                path: "/3/0/9".into(),
                value: value(Kind::Integer(87)),
                timestamp_ms: None,
                key: None,
            }],
            ..Default::default()
        };
        let json = response_json(&response);
        assert_eq!(json["code"], "2.05");
        assert_eq!(json["values"][0], json!({"path": "/3/0/9", "value": 87}));
        assert_eq!(
            response_text(&response),
            "2.05 CONTENT\nPATH    VALUE\n/3/0/9  87\n"
        );
    }

    #[test]
    fn an_untyped_value_prints_its_guess_and_the_missing_model_warns() {
        let missing = lwm2m_proto::events::v1::MissingModel {
            object_id: 31024,
            version: "1.0".into(),
            resource_id: None,
        };
        let rv = lwm2m_proto::convert::untyped_resource_value(
            &"/31024/10/1".parse().unwrap(),
            &lwm2m_core::Value::Opaque(30.5f32.to_be_bytes().to_vec()),
            lwm2m_core::ContentFormat::Tlv,
            missing.clone(),
        );
        assert_eq!(
            value_text(rv.value.as_ref()),
            "30.5 or 1106509824 (guess: 4-byte TLV float or integer; no model)"
        );
        let json = value_json(rv.value.as_ref());
        assert_eq!(json["guesses"], json!([30.5, 1106509824]));
        assert_eq!(
            json["missing_model"],
            json!("no model for object 31024 version 1.0")
        );
        let response = DownlinkResponse {
            code: "2.05".into(),
            code_name: "CONTENT".into(),
            values: vec![rv],
            missing_models: vec![missing],
            ..Default::default()
        };
        let warning = missing_models_warning(&response).unwrap();
        assert!(
            warning.contains("no model for object 31024 version 1.0"),
            "{warning}"
        );
        assert!(answer_error(&response).is_none());
        assert!(response_text(&response).contains("/31024/10/1"));
    }

    #[test]
    fn a_discover_in_another_format_is_an_error_with_the_payload_in_hex() {
        // As an older transport passes it on: the TLV bytes as "links".
        let response = DownlinkResponse {
            code: "2.05".into(),
            code_name: "CONTENT".into(),
            link_format: Some("\u{c1}\u{0}\u{1}".into()),
            payload: Some(vec![0xc1, 0x00, 0x01]),
            content_format: Some(11542),
            ..Default::default()
        };
        let reason = answer_error(&response).unwrap();
        assert!(
            reason.contains("11542") && reason.contains("0xc10001"),
            "{reason}"
        );
        // As our transport reports it.
        let checked = DownlinkResponse {
            link_format: None,
            decode_error: Some("payload: 0xc10001".into()),
            ..response
        };
        assert_eq!(answer_error(&checked).as_deref(), Some("payload: 0xc10001"));
        let discovered = DownlinkResponse {
            link_format: Some("</3/0/9>".into()),
            content_format: Some(40),
            decode_error: None,
            ..checked
        };
        assert!(answer_error(&discovered).is_none());
    }
}
