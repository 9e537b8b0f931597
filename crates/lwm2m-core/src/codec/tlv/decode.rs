//! TLV payload → node tree, at each path level (LwM2M 1.1.1 Core TS §7.4.3).
//!
//! Each level reads only the TLV kinds it may contain: an object holds object
//! instances, an instance holds resources, a multiple resource holds resource
//! instances, and nothing below is read as TLV again. The nesting depth is
//! thus at most four by construction, whatever the payload says.
//!
//! Tolerated deviations, as Eclipse Leshan tolerates them:
//! - at object level, resources without an object-instance wrapper (older
//!   clients answering a Read of a single-instance object such as `/3`) are
//!   taken as instance 0;
//! - at object-instance level, the resources may come wrapped in one
//!   object-instance TLV whose id must be the path's instance id;
//! - at resource level, a multiple resource may come as bare resource-instance
//!   TLVs without the multiple-resource wrapper.
//!
//! Whether a resource is single or multiple follows the TLV kind; its value
//! type comes from the model and an unknown type is an error.

use std::collections::BTreeMap;

use super::raw::{read_all, RawTlv, TlvKind};
use crate::codec::untyped::UntypedSink;
use crate::codec::value_conv::tlv_to_value;
use crate::codec::ContentFormat;
use crate::model::ModelLookup;
use crate::node::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance,
    ResourceType, Value,
};
use crate::path::{LwM2mPath, PathLevel};
use crate::Error;

pub(super) struct Decoder<'m> {
    pub format: ContentFormat,
    pub models: &'m dyn ModelLookup,
    /// When set, a resource no model types is kept as raw bytes (Opaque)
    /// and noted here instead of failing (`codec::untyped`).
    pub untyped: Option<&'m UntypedSink>,
}

impl Decoder<'_> {
    pub(super) fn decode(&self, path: &LwM2mPath, payload: &[u8]) -> Result<LwM2mNode, Error> {
        let tlvs = self.read(payload, 0)?;
        let ids = path.ids();
        Ok(match (path.level(), ids) {
            (PathLevel::Object, &[oid]) => LwM2mNode::Object(self.object(oid, &tlvs)?),
            (PathLevel::ObjectInstance, &[oid, iid]) => {
                LwM2mNode::ObjectInstance(self.instance_at(oid, iid, &tlvs)?)
            }
            (PathLevel::Resource, &[oid, iid, rid]) => {
                LwM2mNode::Resource(self.resource_at(oid, iid, rid, &tlvs)?)
            }
            (PathLevel::ResourceInstance, &[oid, iid, rid, riid]) => {
                LwM2mNode::ResourceInstance(self.resource_instance_at(oid, iid, rid, riid, &tlvs)?)
            }
            _ => return Err(self.err(format!("{path}: TLV carries an object or a part of one"))),
        })
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::decode(self.format, reason)
    }

    fn read<'p>(&self, bytes: &'p [u8], base: usize) -> Result<Vec<RawTlv<'p>>, Error> {
        read_all(bytes, base).map_err(|reason| self.err(reason))
    }

    fn children<'p>(&self, tlv: &RawTlv<'p>) -> Result<Vec<RawTlv<'p>>, Error> {
        self.read(tlv.value, tlv.value_offset)
    }

    fn object(&self, oid: u16, tlvs: &[RawTlv<'_>]) -> Result<LwM2mObject, Error> {
        let wrapped = tlvs
            .iter()
            .filter(|t| t.kind == TlvKind::ObjectInstance)
            .count();
        if wrapped == 0 && !tlvs.is_empty() {
            // Legacy short form: one instance's resources without a wrapper.
            let resources = self.resources(oid, 0, tlvs)?;
            return Ok(LwM2mObject::new(
                oid,
                [LwM2mObjectInstance { id: 0, resources }],
            ));
        }
        let mut instances = BTreeMap::new();
        for tlv in tlvs {
            if tlv.kind != TlvKind::ObjectInstance {
                return Err(self.err(format!(
                    "/{oid}: a {} TLV at byte {} stands beside object instances",
                    tlv.kind.name(),
                    tlv.offset
                )));
            }
            let resources = self.resources(oid, tlv.id, &self.children(tlv)?)?;
            let instance = LwM2mObjectInstance {
                id: tlv.id,
                resources,
            };
            if instances.insert(tlv.id, instance).is_some() {
                return Err(self.err(format!(
                    "/{oid}: object instance {} appears twice (again at byte {})",
                    tlv.id, tlv.offset
                )));
            }
        }
        Ok(LwM2mObject { id: oid, instances })
    }

    fn instance_at(
        &self,
        oid: u16,
        iid: u16,
        tlvs: &[RawTlv<'_>],
    ) -> Result<LwM2mObjectInstance, Error> {
        let resources = match tlvs {
            [wrapper] if wrapper.kind == TlvKind::ObjectInstance => {
                if wrapper.id != iid {
                    return Err(self.err(format!(
                        "/{oid}/{iid}: the payload holds object instance {}",
                        wrapper.id
                    )));
                }
                self.resources(oid, iid, &self.children(wrapper)?)?
            }
            _ => self.resources(oid, iid, tlvs)?,
        };
        Ok(LwM2mObjectInstance { id: iid, resources })
    }

    fn resources(
        &self,
        oid: u16,
        iid: u16,
        tlvs: &[RawTlv<'_>],
    ) -> Result<BTreeMap<u16, LwM2mResource>, Error> {
        let mut out = BTreeMap::new();
        for tlv in tlvs {
            if !matches!(tlv.kind, TlvKind::ResourceValue | TlvKind::MultipleResource) {
                return Err(self.err(format!(
                    "/{oid}/{iid}: a {} TLV at byte {} cannot stand in an object instance",
                    tlv.kind.name(),
                    tlv.offset
                )));
            }
            let resource = self.resource(oid, iid, tlv)?;
            if out.insert(tlv.id, resource).is_some() {
                return Err(self.err(format!(
                    "/{oid}/{iid}: resource {} appears twice (again at byte {})",
                    tlv.id, tlv.offset
                )));
            }
        }
        Ok(out)
    }

    fn resource_at(
        &self,
        oid: u16,
        iid: u16,
        rid: u16,
        tlvs: &[RawTlv<'_>],
    ) -> Result<LwM2mResource, Error> {
        match tlvs {
            [tlv] if matches!(tlv.kind, TlvKind::ResourceValue | TlvKind::MultipleResource) => {
                if tlv.id != rid {
                    return Err(self.err(format!(
                        "/{oid}/{iid}/{rid}: the payload holds resource {}",
                        tlv.id
                    )));
                }
                self.resource(oid, iid, tlv)
            }
            [] => Err(self.err(format!("/{oid}/{iid}/{rid}: the payload holds no TLV"))),
            _ if tlvs.iter().all(|t| t.kind == TlvKind::ResourceInstance) => {
                let kind = self.kind(oid, iid, rid)?;
                let instances = self.instances(oid, iid, rid, kind, tlvs)?;
                Ok(LwM2mResource::Multiple {
                    id: rid,
                    kind,
                    instances,
                })
            }
            _ => Err(self.err(format!(
                "/{oid}/{iid}/{rid}: expected one resource TLV, found {} TLVs of other kinds",
                tlvs.len()
            ))),
        }
    }

    fn resource_instance_at(
        &self,
        oid: u16,
        iid: u16,
        rid: u16,
        riid: u16,
        tlvs: &[RawTlv<'_>],
    ) -> Result<LwM2mResourceInstance, Error> {
        let path = format!("/{oid}/{iid}/{rid}/{riid}");
        match tlvs {
            [tlv] if tlv.kind == TlvKind::ResourceInstance => {
                if tlv.id != riid {
                    return Err(self.err(format!(
                        "{path}: the payload holds resource instance {}",
                        tlv.id
                    )));
                }
                let kind = self.kind(oid, iid, rid)?;
                Ok(LwM2mResourceInstance {
                    id: riid,
                    value: self.value(&path, tlv, kind)?,
                })
            }
            _ => Err(self.err(format!(
                "{path}: expected one resource instance TLV, found {} TLVs",
                tlvs.len()
            ))),
        }
    }

    /// A resource TLV (single or multiple) standing in instance `iid`.
    fn resource(&self, oid: u16, iid: u16, tlv: &RawTlv<'_>) -> Result<LwM2mResource, Error> {
        let rid = tlv.id;
        let kind = self.kind(oid, iid, rid)?;
        if tlv.kind == TlvKind::MultipleResource {
            let instances = self.instances(oid, iid, rid, kind, &self.children(tlv)?)?;
            return Ok(LwM2mResource::Multiple {
                id: rid,
                kind,
                instances,
            });
        }
        let value = self.value(&format!("/{oid}/{iid}/{rid}"), tlv, kind)?;
        Ok(LwM2mResource::Single { id: rid, value })
    }

    fn instances(
        &self,
        oid: u16,
        iid: u16,
        rid: u16,
        kind: ResourceType,
        tlvs: &[RawTlv<'_>],
    ) -> Result<BTreeMap<u16, Value>, Error> {
        let mut out = BTreeMap::new();
        for tlv in tlvs {
            let path = format!("/{oid}/{iid}/{rid}/{}", tlv.id);
            if tlv.kind != TlvKind::ResourceInstance {
                return Err(self.err(format!(
                    "/{oid}/{iid}/{rid}: a {} TLV at byte {} cannot stand in a multiple resource",
                    tlv.kind.name(),
                    tlv.offset
                )));
            }
            let value = self.value(&path, tlv, kind)?;
            if out.insert(tlv.id, value).is_some() {
                return Err(self.err(format!(
                    "{path} appears twice (again at byte {})",
                    tlv.offset
                )));
            }
        }
        Ok(out)
    }

    /// The model type of resource `rid`; unknown and executable resources are
    /// errors, except that an unknown one is kept as Opaque when asked to.
    fn kind(&self, oid: u16, iid: u16, rid: u16) -> Result<ResourceType, Error> {
        let Some(model) = self.models.resource(oid, rid) else {
            return match self.untyped {
                Some(sink) => Ok(sink.note(oid, iid, rid)),
                None => Err(Error::UnknownResourceType {
                    path: format!("/{oid}/{iid}/{rid}"),
                }),
            };
        };
        if model.kind == ResourceType::None {
            return Err(self.err(format!(
                "/{oid}/{iid}/{rid} is executable and carries no value"
            )));
        }
        Ok(model.kind)
    }

    fn value(&self, path: &str, tlv: &RawTlv<'_>, kind: ResourceType) -> Result<Value, Error> {
        tlv_to_value(tlv.value, kind)
            .map_err(|reason| self.err(format!("{path} (TLV at byte {}): {reason}", tlv.offset)))
    }
}
