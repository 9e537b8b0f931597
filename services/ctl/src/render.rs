//! Human-readable and JSON renderings of values, registrations and events.

use base64::Engine;
use lwm2m_proto::events::v1::{value::Kind, ResourceValue, UplinkEvent, Value};
use lwm2m_proto::transport::v1::Registration;
use serde_json::{json, Value as Json};

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
    }
}

/// A value as text for tables.
pub fn value_text(value: Option<&Value>) -> String {
    match value.and_then(|v| v.kind.as_ref()) {
        Some(Kind::Opaque(b)) => format!("0x{}", hex::encode(b)),
        Some(Kind::StringValue(s)) | Some(Kind::Corelnk(s)) => s.clone(),
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
    let width = values
        .iter()
        .map(|v| v.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:<width$}  VALUE\n", "PATH");
    for v in values {
        out.push_str(&format!(
            "{:<width$}  {}\n",
            v.path,
            value_text(v.value.as_ref())
        ));
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
    let width = regs
        .iter()
        .map(|r| r.endpoint.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!(
        "{:<width$}  {:<7}  {:<8}  {:<21}  OBJECTS\n",
        "ENDPOINT", "LWM2M", "BINDING", "ADDRESS"
    );
    for r in regs {
        let objects: Vec<String> = r.objects.iter().map(|o| o.id.to_string()).collect();
        out.push_str(&format!(
            "{:<width$}  {:<7}  {:<8}  {:<21}  {}\n",
            r.endpoint,
            r.lwm2m_version,
            r.binding,
            r.address,
            objects.join(",")
        ));
    }
    out
}

/// One line per uplink event, for `watch` and `observe`.
pub fn event_line(e: &UplinkEvent) -> String {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    match &e.payload {
        Some(Payload::Values(v)) => {
            let parts: Vec<String> = v
                .values
                .iter()
                .map(|r| format!("{}={}", r.path, value_text(r.value.as_ref())))
                .collect();
            format!(
                "{} {} {:?}: {}",
                e.timestamp_ms,
                e.endpoint,
                v.source(),
                parts.join(" ")
            )
        }
        Some(Payload::Registration(r)) => {
            format!("{} {} {:?}", e.timestamp_ms, e.endpoint, r.kind())
        }
        Some(Payload::TransportLog(l)) => {
            format!("{} {} {}", e.timestamp_ms, e.endpoint, l.message)
        }
        None => format!("{} {} (empty event)", e.timestamp_ms, e.endpoint),
    }
}
