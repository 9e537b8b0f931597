//! Registry messages to and from JSON through the proto3 JSON mapping
//! (the same JSON `grpcurl` speaks), driven by the descriptor set that
//! `lwm2m-proto` embeds: a new field in the proto shows up here with no
//! change.
//!
//! Output keeps the proto field names (`object_id`, like the rest of our
//! JSON), prints every field including defaults (a script should not have
//! to know proto3's defaults) and 64-bit integers as numbers. Input takes
//! either field-name style and enum values by name
//! (`"observe_strategy": "OBSERVE_STRATEGY_SINGLE"`).

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value as Json;

use crate::error::Error;

/// A generated message and its full proto name.
pub trait Named: Message + Default {
    const NAME: &'static str;
}

macro_rules! named {
    ($($ty:path => $name:literal),* $(,)?) => {
        $(impl Named for $ty { const NAME: &'static str = $name; })*
    };
}

named! {
    lwm2m_proto::registry::v1::DeviceProfile => "lwm2m.registry.v1.DeviceProfile",
    lwm2m_proto::registry::v1::Device => "lwm2m.registry.v1.Device",
    lwm2m_proto::registry::v1::ObjectModel => "lwm2m.registry.v1.ObjectModel",
}

fn pool() -> Result<&'static DescriptorPool, Error> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(lwm2m_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Usage(format!("the embedded proto descriptors do not decode: {e}")))
}

fn descriptor<M: Named>() -> Result<MessageDescriptor, Error> {
    pool()?
        .get_message_by_name(M::NAME)
        .ok_or_else(|| Error::Usage(format!("no descriptor for {}", M::NAME)))
}

/// `message` as JSON with every field present.
pub fn to_json<M: Named>(message: &M) -> Result<Json, Error> {
    let dynamic = DynamicMessage::decode(descriptor::<M>()?, message.encode_to_vec().as_slice())
        .map_err(|e| Error::Usage(format!("cannot re-read a {}: {e}", M::NAME)))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| Error::Usage(format!("cannot print a {} as JSON: {e}", M::NAME)))
}

/// Parses `text` (JSON) as an `M`; the error names the offending field.
pub fn from_json<M: Named>(text: &str) -> Result<M, Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor::<M>()?, &mut deserializer)
        .map_err(|e| Error::Usage(format!("not a valid {}: {e}", M::NAME)))?;
    deserializer
        .end()
        .map_err(|e| Error::Usage(format!("not a valid {}: {e}", M::NAME)))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| Error::Usage(format!("not a valid {}: {e}", M::NAME)))
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::registry::v1::{DeviceProfile, ObserveStrategy, ProfileObject};

    use super::*;

    #[test]
    fn a_profile_file_reads_with_enum_names_and_either_field_style() {
        let profile: DeviceProfile = from_json(
            r#"{"name": "meters", "observeStrategy": "OBSERVE_STRATEGY_COMPOSITE_ALL",
                "objects": [{"object_id": 3, "version": "1.0",
                             "resources": [{"resource_id": 9, "telemetry": true, "observe": true}]}]}"#,
        )
        .unwrap();
        assert_eq!(profile.name, "meters");
        assert_eq!(profile.observe_strategy(), ObserveStrategy::CompositeAll);
        assert_eq!(profile.objects[0].object_id, 3);
        assert!(profile.objects[0].resources[0].observe);
    }

    #[test]
    fn unknown_fields_and_bad_types_are_named() {
        let err = from_json::<DeviceProfile>(r#"{"nmae": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("nmae"), "{err}");
        let err =
            from_json::<DeviceProfile>(r#"{"objects": [{"object_id": "three"}]}"#).unwrap_err();
        assert!(err.to_string().contains("DeviceProfile"), "{err}");
    }

    #[test]
    fn output_has_proto_names_every_field_and_numeric_64_bit_integers() {
        let profile = DeviceProfile {
            id: "p1".into(),
            revision: 3,
            objects: vec![ProfileObject {
                object_id: 3,
                version: "1.0".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = to_json(&profile).unwrap();
        assert_eq!(json["id"], "p1");
        assert_eq!(json["revision"], 3);
        assert_eq!(json["objects"][0]["object_id"], 3);
        assert_eq!(json["observe_strategy"], "OBSERVE_STRATEGY_SINGLE");
        assert_eq!(json["description"], "");
        // And back: what we print is a valid input file.
        let again: DeviceProfile = from_json(&json.to_string()).unwrap();
        assert_eq!(again, profile);
    }
}
