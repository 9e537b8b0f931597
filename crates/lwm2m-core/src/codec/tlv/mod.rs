//! application/vnd.oma.lwm2m+tlv (content format 11542, and 1542 as LwM2M 1.0
//! clients still send it), LwM2M 1.1.1 Core TS §7.4.3.
//!
//! A binary format that carries a whole object, one object instance, one
//! resource (single or multiple) or one resource instance. It carries no
//! types, so decoding needs the object model; a resource whose type no model
//! gives is an [`Error::UnknownResourceType`].
//!
//! - `raw`: the type byte, identifier and length fields of one TLV.
//! - `decode`: payload → node, one function per level, with the tolerated
//!   deviations listed there (legacy instance-less objects, wrapped
//!   instances, bare resource instances).
//! - `encode`: node → canonical payload.
//! - Value bytes per type live in `codec/value_conv.rs`.

mod decode;
mod encode;
mod raw;

use super::untyped::UntypedSink;
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::LwM2mNode;
use crate::path::LwM2mPath;
use crate::Error;

/// The TLV codec, under its current or its legacy content-format number.
#[derive(Clone, Copy, Debug)]
pub struct TlvCodec {
    format: ContentFormat,
}

impl TlvCodec {
    /// application/vnd.oma.lwm2m+tlv as registered: 11542.
    pub const CURRENT: TlvCodec = TlvCodec {
        format: ContentFormat::Tlv,
    };
    /// The pre-registration number 1542 used by LwM2M 1.0 clients.
    pub const LEGACY: TlvCodec = TlvCodec {
        format: ContentFormat::LegacyTlv,
    };
}

impl NodeCodec for TlvCodec {
    fn format(&self) -> ContentFormat {
        self.format
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        encode::Encoder {
            format: self.format,
        }
        .encode(path, node)
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        decode::Decoder {
            format: self.format,
            models,
            untyped: None,
        }
        .decode(path, payload)
    }
}

/// Decodes with resources no model types kept as Opaque raw bytes and noted
/// in `sink` (see `codec::untyped`).
pub(crate) fn decode_keeping_untyped(
    format: ContentFormat,
    path: &LwM2mPath,
    payload: &[u8],
    models: &dyn ModelLookup,
    sink: &UntypedSink,
) -> Result<LwM2mNode, Error> {
    decode::Decoder {
        format,
        models,
        untyped: Some(sink),
    }
    .decode(path, payload)
}

#[cfg(test)]
mod tests;
