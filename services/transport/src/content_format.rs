//! Which content format a downlink payload (and a Read's Accept) uses.
//!
//! Like a careful server, we only send what the device can be expected to
//! understand:
//!
//! 1. a format the caller asked for explicitly;
//! 2. the per-device override (operators pin buggy devices);
//! 3. multi-node payloads: on LwM2M 1.2+ LwM2M CBOR if the device lists
//!    `ct=11544` (the most compact, and typed); on 1.1+ SenML CBOR if the
//!    device lists `ct=112`, else SenML JSON if it lists 110, else TLV; on
//!    1.0 TLV (the only multi-node format 1.0 mandates);
//! 4. single values: CBOR if a 1.1+ device lists `ct=60`, else opaque for
//!    Opaque resources and text for everything else (numbers, strings,
//!    booleans, times, object links).
//!
//! Composite operations need SenML: the caller's or override's choice if it
//! is SenML, else SenML JSON if the device lists only 110, else SenML CBOR.

use lwm2m_core::{
    ContentFormat, LwM2mNode, LwM2mPath, LwM2mResource, ModelLookup, PathLevel, ResourceType,
    Version,
};
use lwm2m_session::Registration;

use crate::config::DeviceOverrides;
use crate::error::Error;

/// What the policy needs to know about one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceFormats {
    /// The device's LwM2M version.
    pub lwm2m_version: Version,
    /// Content formats from the `ct=` of its root link.
    pub supported: Vec<u16>,
    /// Operator override.
    pub override_format: Option<u16>,
}

impl DeviceFormats {
    /// The formats of a registered device.
    pub fn of(registration: &Registration, overrides: Option<&DeviceOverrides>) -> Self {
        DeviceFormats {
            lwm2m_version: registration.lwm2m_version,
            supported: registration.supported_formats.clone(),
            override_format: overrides.and_then(|o| o.content_format),
        }
    }

    fn lists(&self, format: ContentFormat) -> bool {
        self.supported.contains(&format.code())
    }

    fn is_1_1(&self) -> bool {
        self.lwm2m_version >= Version::V1_1
    }

    /// LwM2M CBOR exists from 1.2 on; an older device listing 11544 is
    /// not trusted with it.
    fn takes_lwm2m_cbor(&self) -> bool {
        self.lwm2m_version >= Version::V1_2 && self.lists(ContentFormat::LwM2mCbor)
    }

    /// The explicit or overridden format, if it is one we have a codec for.
    fn pinned(&self, explicit: Option<u16>) -> Result<Option<ContentFormat>, Error> {
        match explicit.or(self.override_format) {
            None => Ok(None),
            Some(code) => ContentFormat::from_code(code)
                .map(Some)
                .ok_or(Error::UnsupportedContentFormat(code)),
        }
    }

    /// Format for payloads with several nodes (object, instance, multiple resource).
    pub fn multi_node(&self) -> ContentFormat {
        if !self.is_1_1() {
            ContentFormat::Tlv
        } else if self.takes_lwm2m_cbor() {
            ContentFormat::LwM2mCbor
        } else if self.lists(ContentFormat::SenmlCbor) {
            ContentFormat::SenmlCbor
        } else if self.lists(ContentFormat::SenmlJson) {
            ContentFormat::SenmlJson
        } else {
            ContentFormat::Tlv
        }
    }

    /// Format for one single-resource value of type `kind`.
    pub fn single_value(&self, kind: ResourceType) -> ContentFormat {
        if self.is_1_1() && self.lists(ContentFormat::Cbor) {
            ContentFormat::Cbor
        } else if kind == ResourceType::Opaque {
            ContentFormat::Opaque
        } else {
            ContentFormat::Text
        }
    }

    /// Format of a Write payload carrying `node`.
    pub fn for_write(
        &self,
        explicit: Option<u16>,
        node: &LwM2mNode,
    ) -> Result<ContentFormat, Error> {
        if let Some(pinned) = self.pinned(explicit)? {
            return Ok(pinned);
        }
        Ok(match node {
            LwM2mNode::Resource(LwM2mResource::Single { value, .. }) => {
                self.single_value(value.resource_type())
            }
            LwM2mNode::ResourceInstance(ri) => self.single_value(ri.value.resource_type()),
            _ => self.multi_node(),
        })
    }

    /// Accept of a Read or Observe of `path`; `models` says whether a
    /// resource is single (a plain value format) or multiple.
    pub fn for_read(
        &self,
        explicit: Option<u16>,
        path: &LwM2mPath,
        models: &dyn ModelLookup,
    ) -> Result<ContentFormat, Error> {
        if let Some(pinned) = self.pinned(explicit)? {
            return Ok(pinned);
        }
        let model = match (path.object_id(), path.resource_id()) {
            (Some(object), Some(resource)) => models.resource(object, resource),
            _ => None,
        };
        Ok(match (path.level(), model) {
            (PathLevel::ResourceInstance, Some(m)) => self.single_value(m.kind),
            (PathLevel::ResourceInstance, None) => self.single_value(ResourceType::String),
            (PathLevel::Resource, Some(m)) if !m.multiple => self.single_value(m.kind),
            _ => self.multi_node(),
        })
    }

    /// Format of a composite request/response (Read-, Observe-, Write-Composite).
    /// LwM2M CBOR carries composite payloads too (1.2), for devices that
    /// list it; otherwise SenML.
    pub fn composite(&self, explicit: Option<u16>) -> Result<ContentFormat, Error> {
        match self.pinned(explicit)? {
            Some(f @ (ContentFormat::SenmlCbor | ContentFormat::SenmlJson)) => return Ok(f),
            Some(ContentFormat::LwM2mCbor) if self.lwm2m_version >= Version::V1_2 => {
                return Ok(ContentFormat::LwM2mCbor)
            }
            Some(other) if explicit.is_some() => {
                return Err(Error::InvalidArgument(format!(
                    "composite operations need SenML JSON (110), SenML CBOR (112) or, \
                     on LwM2M 1.2, LwM2M CBOR (11544), not {other}"
                )))
            }
            // An override for single-node operations does not apply here.
            _ => {}
        }
        Ok(if self.takes_lwm2m_cbor() {
            ContentFormat::LwM2mCbor
        } else if self.lists(ContentFormat::SenmlJson) && !self.lists(ContentFormat::SenmlCbor) {
            ContentFormat::SenmlJson
        } else {
            ContentFormat::SenmlCbor
        })
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_core::{LwM2mObjectInstance, ModelRegistry, Value};

    use super::*;

    fn device(version: Version, supported: &[u16]) -> DeviceFormats {
        DeviceFormats {
            lwm2m_version: version,
            supported: supported.to_vec(),
            override_format: None,
        }
    }

    #[test]
    fn multi_node_prefers_senml_cbor_then_json_then_tlv_on_1_1() {
        assert_eq!(
            device(Version::V1_1, &[110, 112]).multi_node(),
            ContentFormat::SenmlCbor
        );
        assert_eq!(
            device(Version::V1_1, &[110]).multi_node(),
            ContentFormat::SenmlJson
        );
        assert_eq!(device(Version::V1_1, &[]).multi_node(), ContentFormat::Tlv);
        assert_eq!(
            device(Version::V1_0, &[110, 112]).multi_node(),
            ContentFormat::Tlv,
            "1.0 devices get TLV whatever they list"
        );
    }

    #[test]
    fn multi_node_prefers_lwm2m_cbor_on_1_2_devices_that_list_it() {
        let all = [60, 110, 112, 11542, 11543, 11544];
        assert_eq!(
            device(Version::V1_2, &all).multi_node(),
            ContentFormat::LwM2mCbor
        );
        assert_eq!(
            device(Version::V1_2, &[11544]).multi_node(),
            ContentFormat::LwM2mCbor
        );
        assert_eq!(
            device(Version::V1_2, &[110, 112]).multi_node(),
            ContentFormat::SenmlCbor,
            "a 1.2 device that does not list 11544"
        );
        assert_eq!(
            device(Version::V1_1, &all).multi_node(),
            ContentFormat::SenmlCbor,
            "11544 does not exist before 1.2"
        );
        let models = ModelRegistry::with_core_objects();
        let instance: LwM2mPath = "/3/0".parse().unwrap();
        let battery: LwM2mPath = "/3/0/9".parse().unwrap();
        let dev = device(Version::V1_2, &all);
        assert_eq!(
            dev.for_read(None, &instance, &models).unwrap(),
            ContentFormat::LwM2mCbor
        );
        assert_eq!(
            dev.for_read(None, &battery, &models).unwrap(),
            ContentFormat::Cbor,
            "single values keep their value formats"
        );
        assert_eq!(
            dev.for_read(Some(112), &instance, &models).unwrap(),
            ContentFormat::SenmlCbor,
            "an explicit format still wins"
        );
    }

    #[test]
    fn single_values_use_text_opaque_or_advertised_cbor() {
        let plain = device(Version::V1_1, &[]);
        assert_eq!(
            plain.single_value(ResourceType::Integer),
            ContentFormat::Text
        );
        assert_eq!(
            plain.single_value(ResourceType::Opaque),
            ContentFormat::Opaque
        );
        let cbor = device(Version::V1_1, &[60]);
        assert_eq!(cbor.single_value(ResourceType::String), ContentFormat::Cbor);
        let old = device(Version::V1_0, &[60]);
        assert_eq!(old.single_value(ResourceType::String), ContentFormat::Text);
    }

    #[test]
    fn explicit_beats_override_beats_policy() {
        let mut dev = device(Version::V1_1, &[112]);
        dev.override_format = Some(11542);
        let node = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        assert_eq!(dev.for_write(None, &node).unwrap(), ContentFormat::Tlv);
        assert_eq!(
            dev.for_write(Some(110), &node).unwrap(),
            ContentFormat::SenmlJson
        );
        assert!(matches!(
            dev.for_write(Some(9999), &node),
            Err(Error::UnsupportedContentFormat(9999))
        ));
    }

    #[test]
    fn writes_of_single_resources_use_value_formats() {
        let dev = device(Version::V1_1, &[112]);
        let text = LwM2mNode::Resource(LwM2mResource::single(14, Value::String("+02".into())));
        assert_eq!(dev.for_write(None, &text).unwrap(), ContentFormat::Text);
        let opaque = LwM2mNode::Resource(LwM2mResource::single(0, Value::Opaque(vec![1])));
        assert_eq!(dev.for_write(None, &opaque).unwrap(), ContentFormat::Opaque);
        let multi = LwM2mNode::Resource(
            LwM2mResource::multiple(7, ResourceType::Integer, [(0, Value::Integer(1))]).unwrap(),
        );
        assert_eq!(
            dev.for_write(None, &multi).unwrap(),
            ContentFormat::SenmlCbor
        );
    }

    #[test]
    fn read_accept_follows_the_model() {
        let models = ModelRegistry::with_core_objects();
        let dev = device(Version::V1_1, &[110]);
        let battery: LwM2mPath = "/3/0/9".parse().unwrap();
        let errors: LwM2mPath = "/3/0/11".parse().unwrap();
        let instance: LwM2mPath = "/3/0".parse().unwrap();
        assert_eq!(
            dev.for_read(None, &battery, &models).unwrap(),
            ContentFormat::Text
        );
        assert_eq!(
            dev.for_read(None, &errors, &models).unwrap(),
            ContentFormat::SenmlJson,
            "error codes are a multiple resource"
        );
        assert_eq!(
            dev.for_read(None, &instance, &models).unwrap(),
            ContentFormat::SenmlJson
        );
    }

    #[test]
    fn composite_needs_senml() {
        assert_eq!(
            device(Version::V1_1, &[]).composite(None).unwrap(),
            ContentFormat::SenmlCbor
        );
        assert_eq!(
            device(Version::V1_1, &[110]).composite(None).unwrap(),
            ContentFormat::SenmlJson
        );
        assert!(device(Version::V1_1, &[]).composite(Some(11542)).is_err());
        let mut pinned = device(Version::V1_1, &[]);
        pinned.override_format = Some(11542);
        assert_eq!(pinned.composite(None).unwrap(), ContentFormat::SenmlCbor);
        assert_eq!(
            device(Version::V1_2, &[112, 11544])
                .composite(None)
                .unwrap(),
            ContentFormat::LwM2mCbor,
            "a 1.2 device that lists LwM2M CBOR"
        );
        assert_eq!(
            device(Version::V1_2, &[]).composite(Some(11544)).unwrap(),
            ContentFormat::LwM2mCbor
        );
        assert!(device(Version::V1_1, &[11544])
            .composite(Some(11544))
            .is_err());
        assert_eq!(
            device(Version::V1_1, &[11544]).composite(None).unwrap(),
            ContentFormat::SenmlCbor
        );
    }
}
