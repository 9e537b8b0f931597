//! Content-Format numbers used by LwM2M (IANA CoAP Content-Formats registry).

/// text/plain; charset=utf-8
pub const TEXT_PLAIN: u16 = 0;
/// application/link-format
pub const LINK_FORMAT: u16 = 40;
/// application/octet-stream
pub const OCTET_STREAM: u16 = 42;
/// application/json
pub const JSON: u16 = 50;
/// application/cbor
pub const CBOR: u16 = 60;
/// application/senml+json
pub const SENML_JSON: u16 = 110;
/// application/senml+cbor
pub const SENML_CBOR: u16 = 112;
/// Pre-registration TLV number used by LwM2M 1.0 devices.
pub const LWM2M_TLV_LEGACY: u16 = 1542;
/// Pre-registration JSON number used by LwM2M 1.0 devices.
pub const LWM2M_JSON_LEGACY: u16 = 1543;
/// application/vnd.oma.lwm2m+tlv
pub const LWM2M_TLV: u16 = 11542;
/// application/vnd.oma.lwm2m+json
pub const LWM2M_JSON: u16 = 11543;
/// application/vnd.oma.lwm2m+cbor
pub const LWM2M_CBOR: u16 = 11544;
