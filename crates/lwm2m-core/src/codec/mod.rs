//! Content-format codecs: one per format, all behind [`NodeCodec`].
//!
//! | format | code | module |
//! |---|---|---|
//! | text/plain | 0 | [`text`] |
//! | application/link-format | 40 | [`crate::link`] (not a node format) |
//! | application/octet-stream | 42 | [`opaque`] |
//! | application/cbor | 60 | [`cbor`] |
//! | application/senml+json | 110 | [`senml_json`] |
//! | application/senml+cbor | 112 | [`senml_cbor`] |
//! | application/vnd.oma.lwm2m+tlv | 11542 (legacy 1542) | [`tlv`] |
//! | application/vnd.oma.lwm2m+json | 11543 (legacy 1543) | [`oma_json`] |
//! | application/vnd.oma.lwm2m+cbor | 11544 | [`lwm2m_cbor`] |
//!
//! Formats that carry no types (TLV, text, opaque) need the object model to
//! decode; an unknown type is an error ([`crate::Error::UnknownResourceType`]),
//! never a guess. [`untyped::decode_keeping_untyped`] keeps such values as
//! raw bytes instead, with guesses labelled as such.

pub mod cbor;
pub mod lwm2m_cbor;
pub mod oma_json;
pub mod opaque;
pub mod senml;
pub mod senml_cbor;
pub mod senml_json;
pub mod text;
pub mod tlv;
pub mod untyped;
pub(crate) mod value_conv;

use std::collections::BTreeMap;
use std::fmt;

use crate::model::ModelLookup;
use crate::node::LwM2mNode;
use crate::path::LwM2mPath;
use crate::Error;

/// The CoAP Content-Format numbers LwM2M uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentFormat {
    Text,
    LinkFormat,
    Opaque,
    Cbor,
    SenmlJson,
    SenmlCbor,
    Tlv,
    OmaJson,
    /// 1542, the pre-registration TLV number that LwM2M 1.0 clients still send.
    LegacyTlv,
    /// 1543, the pre-registration JSON number.
    LegacyOmaJson,
    /// 11544, LwM2M CBOR (LwM2M 1.2).
    LwM2mCbor,
}

impl ContentFormat {
    pub const ALL: [ContentFormat; 11] = [
        ContentFormat::Text,
        ContentFormat::LinkFormat,
        ContentFormat::Opaque,
        ContentFormat::Cbor,
        ContentFormat::SenmlJson,
        ContentFormat::SenmlCbor,
        ContentFormat::Tlv,
        ContentFormat::OmaJson,
        ContentFormat::LegacyTlv,
        ContentFormat::LegacyOmaJson,
        ContentFormat::LwM2mCbor,
    ];

    pub fn code(&self) -> u16 {
        match self {
            ContentFormat::Text => 0,
            ContentFormat::LinkFormat => 40,
            ContentFormat::Opaque => 42,
            ContentFormat::Cbor => 60,
            ContentFormat::SenmlJson => 110,
            ContentFormat::SenmlCbor => 112,
            ContentFormat::Tlv => 11542,
            ContentFormat::OmaJson => 11543,
            ContentFormat::LegacyTlv => 1542,
            ContentFormat::LegacyOmaJson => 1543,
            ContentFormat::LwM2mCbor => 11544,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn media_type(&self) -> &'static str {
        match self {
            ContentFormat::Text => "text/plain",
            ContentFormat::LinkFormat => "application/link-format",
            ContentFormat::Opaque => "application/octet-stream",
            ContentFormat::Cbor => "application/cbor",
            ContentFormat::SenmlJson => "application/senml+json",
            ContentFormat::SenmlCbor => "application/senml+cbor",
            ContentFormat::Tlv | ContentFormat::LegacyTlv => "application/vnd.oma.lwm2m+tlv",
            ContentFormat::OmaJson | ContentFormat::LegacyOmaJson => {
                "application/vnd.oma.lwm2m+json"
            }
            ContentFormat::LwM2mCbor => "application/vnd.oma.lwm2m+cbor",
        }
    }

    /// True for formats that can carry several resources (a whole instance, a composite).
    pub fn is_multi_node(&self) -> bool {
        matches!(
            self,
            ContentFormat::SenmlJson
                | ContentFormat::SenmlCbor
                | ContentFormat::Tlv
                | ContentFormat::LegacyTlv
                | ContentFormat::OmaJson
                | ContentFormat::LegacyOmaJson
                | ContentFormat::LwM2mCbor
        )
    }
}

impl fmt::Display for ContentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.media_type(), self.code())
    }
}

/// Encoder and decoder of one content format.
///
/// `path` is the path the request targets; the payload carries the node that
/// stands there (a Read of `/3/0` answers an object instance). Implementations
/// must return errors, never panic, on malformed input, and must not allocate
/// more than a small multiple of the input size.
pub trait NodeCodec: Send + Sync {
    fn format(&self) -> ContentFormat;

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error>;

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error>;
}

/// A set of nodes observed at one moment, as Send and timestamped
/// notifications carry them.
#[derive(Clone, Debug, PartialEq)]
pub struct TimestampedNodes {
    /// Seconds as carried in the payload (base time + time). By RFC 8428
    /// §4.5.3 values below 2^28 are relative to the time of reception; use
    /// [`TimestampedNodes::absolute_time`] to resolve them.
    pub time: Option<f64>,
    pub nodes: BTreeMap<LwM2mPath, LwM2mNode>,
}

impl TimestampedNodes {
    /// Threshold below which SenML times are relative (RFC 8428 §4.5.3).
    pub const RELATIVE_LIMIT: f64 = 268_435_456.0;

    /// The absolute time in Unix seconds, given the receiver's `now`.
    pub fn absolute_time(&self, now_unix_secs: f64) -> Option<f64> {
        self.time.map(|t| {
            if t < Self::RELATIVE_LIMIT {
                now_unix_secs + t
            } else {
                t
            }
        })
    }
}

/// The codec for `format`, if it carries nodes (link format does not).
pub fn codec_for(format: ContentFormat) -> Option<&'static dyn NodeCodec> {
    Some(match format {
        ContentFormat::Text => &text::TextCodec,
        ContentFormat::Opaque => &opaque::OpaqueCodec,
        ContentFormat::Cbor => &cbor::CborCodec,
        ContentFormat::SenmlJson => &senml_json::SenmlJsonCodec,
        ContentFormat::SenmlCbor => &senml_cbor::SenmlCborCodec,
        ContentFormat::Tlv => &tlv::TlvCodec::CURRENT,
        ContentFormat::LegacyTlv => &tlv::TlvCodec::LEGACY,
        ContentFormat::OmaJson => &oma_json::OmaJsonCodec::CURRENT,
        ContentFormat::LegacyOmaJson => &oma_json::OmaJsonCodec::LEGACY,
        ContentFormat::LwM2mCbor => &lwm2m_cbor::LwM2mCborCodec,
        ContentFormat::LinkFormat => return None,
    })
}

/// Encodes `node` at `path` in `format`.
pub fn encode(
    format: ContentFormat,
    path: &LwM2mPath,
    node: &LwM2mNode,
    models: &dyn ModelLookup,
) -> Result<Vec<u8>, Error> {
    codec_for(format)
        .ok_or(Error::UnsupportedFormat(format.code()))?
        .encode(path, node, models)
}

/// Decodes a payload of CoAP content-format number `code` answering a request on `path`.
pub fn decode(
    code: u16,
    path: &LwM2mPath,
    payload: &[u8],
    models: &dyn ModelLookup,
) -> Result<LwM2mNode, Error> {
    let format = ContentFormat::from_code(code).ok_or(Error::UnsupportedFormat(code))?;
    codec_for(format)
        .ok_or(Error::UnsupportedFormat(code))?
        .decode(path, payload, models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for f in ContentFormat::ALL {
            assert_eq!(ContentFormat::from_code(f.code()), Some(f));
        }
        assert_eq!(ContentFormat::from_code(11542), Some(ContentFormat::Tlv));
        assert_eq!(ContentFormat::from_code(50), None);
    }

    #[test]
    fn every_node_format_has_a_codec() {
        for f in ContentFormat::ALL {
            match codec_for(f) {
                Some(c) => assert_eq!(c.format(), f),
                None => assert_eq!(f, ContentFormat::LinkFormat),
            }
        }
    }
}
