//! The device's answer → the operation's [`Outcome`] (what is stored), and
//! an outcome → the ThingsBoard-shaped JSON (`{"result":"CONTENT","value":…}`
//! with the value as structured JSON, not a Java toString) and the proto
//! result with a node tree. Pure.

use lwm2m_core::{LwM2mPath, Value};
use lwm2m_proto::dispatch::v1 as pb;
use lwm2m_proto::events::v1::{ResourceValue, ResourceValues};
use lwm2m_proto::transport::v1::DownlinkResponse;
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::command::Method;

/// How an operation ended, as stored (the `result_json` column).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// CoAP code "2.05"; empty when the device never answered.
    pub code: String,
    /// "CONTENT", "NOT_FOUND"...; "EXPIRED", "STUCK", "TIMEOUT", "CANCELLED"
    /// when the device never answered.
    pub code_name: String,
    /// The ThingsBoard `value`.
    pub value: Option<Json>,
    /// Decoded leaves (`ResourceValues` protobuf, hex) and the paths that
    /// were asked for, to rebuild the node tree.
    pub leaves_hex: Option<String>,
    pub requested: Vec<String>,
    pub link_format: Option<String>,
    pub location: Option<String>,
    pub payload_hex: Option<String>,
    pub content_format: Option<u32>,
    /// Why it failed, in words.
    pub error: String,
    /// Object models the server lacks for the answer's values, in words;
    /// those values are raw bytes with guesses.
    pub missing_models: Vec<String>,
}

impl Outcome {
    /// A failure without a device answer.
    pub fn failure(code_name: &str, error: impl Into<String>) -> Self {
        Outcome {
            code_name: code_name.to_owned(),
            error: error.into(),
            ..Default::default()
        }
    }

    /// A 2.xx answer the server could read (a Discover in another format
    /// than link-format, or a payload that does not decode, is a failure).
    pub fn is_success(&self) -> bool {
        self.code.starts_with('2') && self.error.is_empty()
    }

    /// `{"result":"CONTENT","value":…}` / `{"result":"NOT_FOUND","error":"…"}`.
    pub fn result_json(&self) -> Json {
        let mut out = Map::new();
        out.insert("result".into(), json!(self.code_name));
        if let Some(value) = &self.value {
            out.insert("value".into(), value.clone());
        }
        if !self.error.is_empty() {
            out.insert("error".into(), json!(self.error));
        }
        if !self.missing_models.is_empty() {
            out.insert("missingModels".into(), json!(self.missing_models));
            out.insert(
                "warning".into(),
                json!("values without an object model are raw bytes; their readings are guesses"),
            );
        }
        Json::Object(out)
    }

    pub fn leaves(&self) -> Vec<ResourceValue> {
        self.leaves_hex
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| ResourceValues::decode(b.as_slice()).ok())
            .map(|v| v.values)
            .unwrap_or_default()
    }

    pub fn nodes(&self) -> Vec<pb::Node> {
        let leaves = parsed_leaves(&self.leaves());
        self.requested
            .iter()
            .filter_map(|p| p.parse::<LwM2mPath>().ok())
            .filter_map(|p| tree(&p, &leaves))
            .collect()
    }

    pub fn to_proto(&self) -> pb::OperationResult {
        pb::OperationResult {
            code: self.code.clone(),
            code_name: self.code_name.clone(),
            result_json: self.result_json().to_string(),
            nodes: self.nodes(),
            link_format: self.link_format.clone(),
            location: self.location.clone(),
            payload: self
                .payload_hex
                .as_deref()
                .and_then(|h| hex::decode(h).ok()),
            content_format: self.content_format,
            error: self.error.clone(),
        }
    }
}

/// The outcome of one device answer to `method` on `requested` paths.
pub fn outcome(method: Method, requested: &[String], response: &DownlinkResponse) -> Outcome {
    let mut out = Outcome {
        code: response.code.clone(),
        code_name: response.code_name.clone(),
        requested: requested.to_vec(),
        link_format: response.link_format.clone(),
        location: response.location.clone(),
        payload_hex: response.payload.as_ref().map(hex::encode),
        content_format: response.content_format,
        missing_models: response
            .missing_models
            .iter()
            .map(lwm2m_proto::convert::missing_model_text)
            .collect(),
        ..Default::default()
    };
    if !response.values.is_empty() {
        let values = ResourceValues {
            values: response.values.clone(),
            ..Default::default()
        };
        out.leaves_hex = Some(hex::encode(values.encode_to_vec()));
    }
    if !out.is_success() {
        let detail = response
            .payload
            .as_deref()
            .map(String::from_utf8_lossy)
            .filter(|t| !t.trim().is_empty())
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        out.error = format!(
            "the device answered {} {}{detail}",
            response.code, response.code_name
        );
        return out;
    }
    if let Some(reason) = response
        .decode_error
        .clone()
        .or_else(|| discover_mismatch(method, response))
    {
        // The device answered, but not in a form the server can read.
        out.error = format!(
            "the device answered {} {} but the answer cannot be read: {reason}",
            response.code, response.code_name
        );
        return out;
    }
    out.value = match method {
        Method::Read | Method::Observe => {
            let leaves = parsed_leaves(&response.values);
            requested
                .first()
                .and_then(|p| p.parse::<LwM2mPath>().ok())
                .and_then(|p| tree(&p, &leaves))
                .map(|n| node_json(&n))
        }
        Method::ReadComposite | Method::ObserveComposite => {
            let leaves = parsed_leaves(&response.values);
            let map: Map<String, Json> = requested
                .iter()
                .filter_map(|p| p.parse::<LwM2mPath>().ok())
                .filter_map(|p| tree(&p, &leaves).map(|n| (p.to_string(), node_json(&n))))
                .collect();
            Some(Json::Object(map))
        }
        Method::Discover => response.link_format.clone().map(Json::String),
        Method::Create => response.location.clone().map(Json::String),
        // ThingsBoard answers the number of cancelled observations.
        Method::ObserveCancel | Method::ObserveCompositeCancel => Some(json!(1)),
        Method::Coap => {
            let mut raw = Map::new();
            if let Some(p) = &response.payload {
                raw.insert("payloadHex".into(), json!(hex::encode(p)));
                if let Ok(text) = std::str::from_utf8(p) {
                    raw.insert("payloadText".into(), json!(text));
                }
            }
            if let Some(c) = response.content_format {
                raw.insert("contentFormat".into(), json!(c));
            }
            Some(Json::Object(raw))
        }
        _ => None,
    };
    out
}

/// A value as JSON: numbers as numbers, opaque as hex, objlnk as "3:0".
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::String(s) | Value::CoreLink(s) => json!(s),
        Value::Integer(i) | Value::Time(i) => json!(i),
        Value::UnsignedInteger(u) => json!(u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => json!(b),
        Value::Opaque(bytes) => json!(hex::encode(bytes)),
        Value::ObjectLink(link) => json!(link.to_string()),
        Value::None => Json::Null,
    }
}

fn parsed_leaves(
    values: &[ResourceValue],
) -> Vec<(LwM2mPath, Option<lwm2m_proto::events::v1::Value>)> {
    values
        .iter()
        .filter_map(|rv| {
            rv.path
                .parse::<LwM2mPath>()
                .ok()
                .map(|p| (p, rv.value.clone()))
        })
        .collect()
}

/// The node at `at` built from the leaves under it; `None` if there are none.
fn tree(
    at: &LwM2mPath,
    leaves: &[(LwM2mPath, Option<lwm2m_proto::events::v1::Value>)],
) -> Option<pb::Node> {
    let at = at.without_version();
    if let Some((_, value)) = leaves.iter().find(|(p, _)| *p == at) {
        return Some(pb::Node {
            path: at.to_string(),
            value: value.clone(),
            children: Vec::new(),
        });
    }
    let depth = at.ids().len();
    let mut child_ids: Vec<u16> = leaves
        .iter()
        .filter(|(p, _)| at.is_prefix_of(p) && p.ids().len() > depth)
        .filter_map(|(p, _)| p.ids().get(depth).copied())
        .collect();
    child_ids.sort_unstable();
    child_ids.dedup();
    if child_ids.is_empty() {
        return None;
    }
    let children = child_ids
        .into_iter()
        .filter_map(|id| at.child(id).ok())
        .filter_map(|child| tree(&child, leaves))
        .collect();
    Some(pb::Node {
        path: at.to_string(),
        value: None,
        children,
    })
}

/// A Discover answered in another Content-Format than link-format (40), as
/// a transport that does not check it yet would pass it on.
fn discover_mismatch(method: Method, response: &DownlinkResponse) -> Option<String> {
    let format = response.content_format.filter(|c| *c != 40)?;
    (method == Method::Discover).then(|| {
        format!(
            "Discover answered in Content-Format {format}, not link-format (40); payload: 0x{}",
            hex::encode(response.payload.as_deref().unwrap_or_default())
        )
    })
}

/// A value no model types: its bytes in hex, their format and the guesses,
/// which say they are guesses.
fn untyped_json(untyped: &lwm2m_proto::events::v1::UntypedValue) -> Json {
    let guesses: Vec<Json> = untyped
        .guesses
        .iter()
        .filter_map(|g| Value::try_from(g).ok())
        .map(|g| value_json(&g))
        .collect();
    let mut out = json!({
        "raw": hex::encode(&untyped.raw),
        "contentFormat": untyped.content_format,
        "guesses": guesses,
        "guess": untyped.rendering,
    });
    if let Some(missing) = &untyped.missing_model {
        out["missingModel"] = json!(lwm2m_proto::convert::missing_model_text(missing));
    }
    out
}

/// A node as JSON: its value, or an object of its children by id.
pub fn node_json(node: &pb::Node) -> Json {
    if let Some(untyped) = lwm2m_proto::convert::as_untyped(node.value.as_ref()) {
        return untyped_json(untyped);
    }
    if node.children.is_empty() {
        return lwm2m_proto::convert::value_from_proto(node.value.as_ref())
            .map(|v| value_json(&v))
            .unwrap_or(Json::Null);
    }
    let map: Map<String, Json> = node
        .children
        .iter()
        .map(|c| {
            let id = c.path.rsplit('/').next().unwrap_or_default().to_owned();
            (id, node_json(c))
        })
        .collect();
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::convert::resource_value;

    use super::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn response(code: &str, name: &str, values: Vec<ResourceValue>) -> DownlinkResponse {
        DownlinkResponse {
            code: code.into(),
            code_name: name.into(),
            values,
            ..Default::default()
        }
    }

    #[test]
    fn a_single_resource_reads_as_its_value() {
        let r = response(
            "2.05",
            "CONTENT",
            vec![resource_value(&p("/3/0/9"), &Value::Integer(75))],
        );
        let o = outcome(Method::Read, &["/3/0/9".into()], &r);
        assert_eq!(o.result_json(), json!({"result":"CONTENT","value":75}));
        assert_eq!(o.nodes()[0].path, "/3/0/9");
    }

    #[test]
    fn an_instance_reads_as_an_object_by_resource_id() {
        let r = response(
            "2.05",
            "CONTENT",
            vec![
                resource_value(
                    &p("/3/0/0"),
                    &Value::String("Thingsboard Test Device".into()),
                ),
                resource_value(&p("/3/0/11/0"), &Value::Integer(1)),
                resource_value(&p("/3/0/9"), &Value::Integer(75)),
            ],
        );
        let o = outcome(Method::Read, &["/3/0".into()], &r);
        assert_eq!(
            o.result_json(),
            json!({"result":"CONTENT","value":{"0":"Thingsboard Test Device","9":75,"11":{"0":1}}})
        );
        let node = &o.nodes()[0];
        assert_eq!(node.children.len(), 3);
        assert_eq!(node.children[2].children[0].path, "/3/0/11/0");
    }

    #[test]
    fn composite_reads_are_keyed_by_path() {
        let r = response(
            "2.05",
            "CONTENT",
            vec![
                resource_value(&p("/3/0/9"), &Value::Integer(75)),
                resource_value(&p("/1/0/1"), &Value::Integer(300)),
                resource_value(&p("/1/0/6"), &Value::Boolean(false)),
            ],
        );
        let o = outcome(Method::ReadComposite, &["/3/0/9".into(), "/1".into()], &r);
        assert_eq!(
            o.result_json(),
            json!({"result":"CONTENT","value":{"/3/0/9":75,"/1":{"0":{"1":300,"6":false}}}})
        );
    }

    #[test]
    fn device_errors_keep_the_coap_name_and_say_why() {
        let mut r = response("4.04", "NOT_FOUND", vec![]);
        r.payload = Some(b"no such instance".to_vec());
        let o = outcome(Method::Read, &["/3/7".into()], &r);
        assert!(!o.is_success());
        assert_eq!(
            o.result_json(),
            json!({"result":"NOT_FOUND","error":"the device answered 4.04 NOT_FOUND: no such instance"})
        );
    }

    #[test]
    fn writes_answer_without_a_value_and_values_render_structured() {
        let o = outcome(
            Method::WriteReplace,
            &[],
            &response("2.04", "CHANGED", vec![]),
        );
        assert_eq!(o.result_json(), json!({"result":"CHANGED"}));
        assert_eq!(value_json(&Value::Opaque(vec![0, 0x81])), json!("0081"));
        assert_eq!(
            value_json(&Value::ObjectLink(lwm2m_core::ObjectLink {
                object: 3,
                instance: 0
            })),
            json!("3:0")
        );
        assert_eq!(value_json(&Value::Float(f64::NAN)), Json::Null);
    }

    #[test]
    fn a_value_without_a_model_is_its_bytes_with_guesses_and_the_model_named() {
        let path = p("/33605/5/1");
        let missing = lwm2m_proto::events::v1::MissingModel {
            object_id: 33605,
            version: "1.0".into(),
            resource_id: None,
        };
        let mut r = response(
            "2.05",
            "CONTENT",
            vec![lwm2m_proto::convert::untyped_resource_value(
                &path,
                &Value::Opaque(vec![0x2a]),
                lwm2m_core::ContentFormat::Tlv,
                missing.clone(),
            )],
        );
        r.missing_models = vec![missing];
        let o = outcome(Method::Read, &["/33605/5/1".into()], &r);
        assert!(o.is_success());
        assert_eq!(
            o.result_json(),
            json!({
                "result": "CONTENT",
                "value": {
                    "raw": "2a",
                    "contentFormat": 11542,
                    "guesses": [42],
                    "guess": "42 (guess: 1-byte TLV integer; no model)",
                    "missingModel": "no model for object 33605 version 1.0",
                },
                "missingModels": ["no model for object 33605 version 1.0"],
                "warning": "values without an object model are raw bytes; their readings are guesses",
            })
        );
    }

    #[test]
    fn a_discover_answered_in_another_format_is_a_device_error_with_the_payload() {
        let mut r = response("2.05", "CONTENT", vec![]);
        r.payload = Some(vec![0xc1, 0x00, 0x01]);
        r.content_format = Some(11542);
        r.decode_error =
            Some("Discover answered in Content-Format 11542; payload: 0xc10001".into());
        let o = outcome(Method::Discover, &["/3".into()], &r);
        assert!(!o.is_success());
        let json = o.result_json();
        assert!(json.get("value").is_none(), "{json}");
        assert!(
            json["error"].as_str().unwrap().contains("0xc10001"),
            "{json}"
        );
    }

    #[test]
    fn outcomes_survive_storage() {
        let r = response(
            "2.05",
            "CONTENT",
            vec![resource_value(&p("/3/0/9"), &Value::Integer(1))],
        );
        let o = outcome(Method::Read, &["/3/0/9".into()], &r);
        let text = serde_json::to_string(&o).unwrap();
        let back: Outcome = serde_json::from_str(&text).unwrap();
        assert_eq!(back, o);
        assert_eq!(back.leaves().len(), 1);
    }
}
