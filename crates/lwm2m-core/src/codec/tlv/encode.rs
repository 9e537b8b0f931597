//! Node tree → TLV payload, at each path level (LwM2M 1.1.1 Core TS §7.4.3).
//!
//! The output is canonical: shortest identifier and length fields, values
//! in their shortest exact form (see [`value_to_tlv`]), children in id order.
//! Decoding what this writes and writing it again gives the same bytes.

use super::raw::{write, TlvKind};
use crate::codec::value_conv::value_to_tlv;
use crate::codec::ContentFormat;
use crate::node::{LwM2mNode, LwM2mObjectInstance, LwM2mResource, Value};
use crate::path::LwM2mPath;
use crate::Error;

pub(super) struct Encoder {
    pub format: ContentFormat,
}

impl Encoder {
    pub(super) fn encode(&self, path: &LwM2mPath, node: &LwM2mNode) -> Result<Vec<u8>, Error> {
        node.check_path(path)?;
        let mut out = Vec::new();
        match node {
            LwM2mNode::Object(object) => {
                for instance in object.instances.values() {
                    let here = path.child(instance.id)?;
                    let body = self.instance(&here, instance)?;
                    self.write(&mut out, &here, TlvKind::ObjectInstance, instance.id, &body)?;
                }
            }
            LwM2mNode::ObjectInstance(instance) => out = self.instance(path, instance)?,
            LwM2mNode::Resource(resource) => self.resource(&mut out, path, resource)?,
            LwM2mNode::ResourceInstance(ri) => {
                let value = self.value(path, &ri.value)?;
                self.write(&mut out, path, TlvKind::ResourceInstance, ri.id, &value)?;
            }
        }
        Ok(out)
    }

    fn instance(&self, path: &LwM2mPath, instance: &LwM2mObjectInstance) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for resource in instance.resources.values() {
            self.resource(&mut out, &path.child(resource.id())?, resource)?;
        }
        Ok(out)
    }

    /// Appends one resource TLV; `path` is the resource's own path.
    fn resource(
        &self,
        out: &mut Vec<u8>,
        path: &LwM2mPath,
        resource: &LwM2mResource,
    ) -> Result<(), Error> {
        match resource {
            LwM2mResource::Single { id, value } => {
                let value = self.value(path, value)?;
                self.write(out, path, TlvKind::ResourceValue, *id, &value)
            }
            LwM2mResource::Multiple { id, instances, .. } => {
                let mut body = Vec::new();
                for (riid, value) in instances {
                    let here = path.child(*riid)?;
                    let value = self.value(&here, value)?;
                    self.write(&mut body, &here, TlvKind::ResourceInstance, *riid, &value)?;
                }
                self.write(out, path, TlvKind::MultipleResource, *id, &body)
            }
        }
    }

    fn value(&self, path: &LwM2mPath, value: &Value) -> Result<Vec<u8>, Error> {
        value_to_tlv(value)
            .map_err(|reason| Error::encode(self.format, format!("{path}: {reason}")))
    }

    fn write(
        &self,
        out: &mut Vec<u8>,
        path: &LwM2mPath,
        kind: TlvKind,
        id: u16,
        value: &[u8],
    ) -> Result<(), Error> {
        write(out, kind, id, value)
            .map_err(|reason| Error::encode(self.format, format!("{path}: {reason}")))
    }
}
