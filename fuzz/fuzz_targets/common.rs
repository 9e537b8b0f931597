//! Shared by the codec fuzz targets: paths to decode at, and the round-trip
//! invariant every codec must keep.

use lwm2m_core::codec::{codec_for, ContentFormat};
use lwm2m_core::{LwM2mPath, ModelRegistry};

/// Paths that cover every level and every resource type of the core objects.
const PATHS: &[&str] = &[
    "/3", "/3/0", "/3/0/0", "/3/0/9", "/3/0/7", "/3/0/7/1", "/3/0/13", "/3/0/6", "/1/0/1",
    "/1/0/6", "/1/0/7", "/6/0/0", "/6/0/5", "/5/0/0", "/5/0/1", "/2/0/2", "/1", "/1/0", "/19/0/0",
    "/4/0/4/0", "/3/0/11/0",
];

pub fn split(data: &[u8]) -> Option<(LwM2mPath, &[u8])> {
    let (first, rest) = data.split_first()?;
    let path = PATHS[usize::from(*first) % PATHS.len()].parse().ok()?;
    Some((path, rest))
}

/// Whatever decodes must encode, and that encoding must decode to a node that
/// encodes to the same bytes (encodings are canonical and deterministic).
pub fn round_trip(format: ContentFormat, data: &[u8]) {
    thread_local! {
        static MODELS: ModelRegistry = ModelRegistry::with_core_objects();
    }
    let Some((path, payload)) = split(data) else { return };
    let codec = codec_for(format).expect("node format");
    MODELS.with(|models| {
        let Ok(node) = codec.decode(&path, payload, models) else { return };
        let bytes = codec
            .encode(&path, &node, models)
            .unwrap_or_else(|e| panic!("decoded {node:?} at {path} but cannot encode it: {e}"));
        let again = codec
            .decode(&path, &bytes, models)
            .unwrap_or_else(|e| panic!("own encoding of {node:?} does not decode: {e}"));
        let bytes_again = codec.encode(&path, &again, models).expect("re-encode");
        assert_eq!(bytes, bytes_again, "encoding is not stable for {node:?}");
    });
}
