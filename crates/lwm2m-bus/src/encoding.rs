//! Record value encodings: protobuf (the default, compact and schema-checked)
//! or JSON (for consumers without protobuf tooling, and for humans reading a
//! topic with `kcat`). The `content-type` header says which one a record
//! uses, so consumers can decode either with [`decode_event`].

use lwm2m_proto::events::v1::UplinkEvent;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::json::JsonEvent;
use crate::BusError;

/// How an `UplinkEvent` is written into a Kafka record value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Protobuf binary of `lwm2m.events.v1.UplinkEvent`.
    #[default]
    Protobuf,
    /// The JSON form of [`crate::json`].
    Json,
}

/// `content-type` of protobuf records (names the message, as Confluent-free
/// consumers need it to pick the decoder).
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/x-protobuf; messageType=lwm2m.events.v1.UplinkEvent";
/// `content-type` of JSON records.
pub const JSON_CONTENT_TYPE: &str = "application/json";

impl Encoding {
    /// The `content-type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF_CONTENT_TYPE,
            Encoding::Json => JSON_CONTENT_TYPE,
        }
    }

    /// The encoding a `content-type` header names (parameters after the media
    /// type other than ours are tolerated).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
        }
    }
}

/// Encodes an event as a record value.
pub fn encode_event(encoding: Encoding, event: &UplinkEvent) -> Result<Vec<u8>, BusError> {
    match encoding {
        Encoding::Protobuf => Ok(event.encode_to_vec()),
        Encoding::Json => {
            serde_json::to_vec(&JsonEvent::from(event)).map_err(|e| BusError::InvalidEvent {
                event_id: event.event_id.clone(),
                reason: e.to_string(),
            })
        }
    }
}

/// Decodes a record value written by [`encode_event`].
pub fn decode_event(encoding: Encoding, bytes: &[u8]) -> Result<UplinkEvent, BusError> {
    let decode_err = |reason: String| BusError::Decode {
        encoding: encoding.label(),
        reason,
    };
    match encoding {
        Encoding::Protobuf => UplinkEvent::decode(bytes).map_err(|e| decode_err(e.to_string())),
        Encoding::Json => {
            let json: JsonEvent =
                serde_json::from_slice(bytes).map_err(|e| decode_err(e.to_string()))?;
            UplinkEvent::try_from(json).map_err(decode_err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::sample_events;

    #[test]
    fn both_encodings_round_trip_every_sample() {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            for event in sample_events() {
                let bytes = encode_event(encoding, &event).unwrap();
                assert_eq!(
                    decode_event(encoding, &bytes).unwrap(),
                    event,
                    "{encoding:?}"
                );
            }
        }
    }

    #[test]
    fn content_type_round_trips() {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            assert_eq!(
                Encoding::from_content_type(encoding.content_type()),
                Some(encoding)
            );
        }
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_encoding() {
        let err = decode_event(Encoding::Json, b"{nope").unwrap_err();
        assert!(err.to_string().starts_with("cannot decode json"), "{err}");
        let err = decode_event(Encoding::Protobuf, &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot decode protobuf"),
            "{err}"
        );
    }
}
