//! The JSON mirror types. Every field is optional on input (`default`) and
//! unknown fields are ignored, so older readers accept newer writers.

use serde::{Deserialize, Serialize};

use super::serde_helpers::{base64_bytes, json_float};

/// A proto enum: its name when known, its number otherwise (proto3 JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonEnum {
    /// The proto value name, e.g. `"VALUE_SOURCE_NOTIFY"`.
    Name(String),
    /// A number this schema version has no name for.
    Number(i32),
}

impl Default for JsonEnum {
    fn default() -> Self {
        JsonEnum::Number(0)
    }
}

/// `UplinkEvent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonEvent {
    pub tenant: String,
    pub endpoint: String,
    pub registration_id: String,
    pub node_id: String,
    pub event_id: String,
    pub timestamp_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<JsonRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<JsonValues>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_log: Option<JsonTransportLog>,
}

/// `RegistrationEvent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonRegistration {
    pub kind: JsonEnum,
    pub lwm2m_version: String,
    pub lifetime_s: i64,
    pub binding: String,
    pub queue_mode: bool,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    pub root_path: String,
    pub supported_formats: Vec<u32>,
    pub objects: Vec<JsonObjectInfo>,
    pub objects_changed: bool,
}

/// `ObjectInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonObjectInfo {
    pub id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub instances: Vec<u32>,
}

/// `ResourceValues`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonValues {
    pub source: JsonEnum,
    pub values: Vec<JsonResourceValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation_token: Option<String>,
}

/// `ResourceValue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonResourceValue {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<JsonValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `Value`: a one-key object named after the oneof field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JsonValue {
    StringValue(String),
    Integer(i64),
    UnsignedInteger(u64),
    Float(#[serde(with = "json_float")] f64),
    Boolean(bool),
    Opaque(#[serde(with = "base64_bytes")] Vec<u8>),
    Time(i64),
    Objlnk(JsonObjLnk),
    Corelnk(String),
    /// A value no model types: raw bytes with guesses.
    Untyped(JsonUntyped),
}

/// `UntypedValue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonUntyped {
    #[serde(with = "base64_bytes")]
    pub raw: Vec<u8>,
    pub content_format: u32,
    pub guesses: Vec<JsonValue>,
    pub rendering: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_model: Option<JsonMissingModel>,
}

/// `MissingModel`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonMissingModel {
    pub object_id: u32,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<u32>,
}

/// `ObjLnk`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonObjLnk {
    pub object: u32,
    pub instance: u32,
}

/// `TransportLog`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JsonTransportLog {
    pub direction: JsonEnum,
    pub message: String,
    pub coap_code: String,
    pub payload_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
