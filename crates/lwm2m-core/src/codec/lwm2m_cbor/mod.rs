//! LwM2M CBOR, `application/vnd.oma.lwm2m+cbor` (11544), OMA LwM2M 1.2 Core
//! TS §7.4 ("LwM2M CBOR").
//!
//! The payload is a CBOR map whose keys are path components: object id at
//! the top, then instance, resource and resource instance ids in maps below.
//! A key may be an array of ids that stands for a chain of levels
//! (`{[3, 0]: {9: 100}}` is `{3: {0: {9: 100}}}`). Paths always start at the
//! object, whatever the request path. Leaves are CBOR values typed per the
//! model:
//!
//! | LwM2M type | encoded as | also accepted when decoding |
//! |---|---|---|
//! | Integer, Unsigned Integer | major type 0/1 | integral floats |
//! | Float | smallest exact float | integers |
//! | Time | integer | tag 1 on a number, integral floats |
//! | Boolean | `true`/`false` | |
//! | String, Corelnk, Objlnk (`"3:0"`) | text string | chunked text |
//! | Opaque | byte string | chunked bytes |
//!
//! `null` stands for a path without a value: the paths of a Read-Composite
//! or Observe-Composite request. Maps and arrays may be definite or
//! indefinite on input; output uses definite lengths, nested maps in id order
//! and one array key for every chain of levels that does not branch.
//!
//! The format carries no time, so timestamped data (Send, timestamped
//! notifications) stays with SenML. The node mapping (typing with and
//! without a model, composite paths) is SenML's: every leaf becomes a SenML
//! record named by its full path, so both families decode alike.

mod wire;

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod proptests;
#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests;

use super::senml::{check_size, resolve, MultiNodeCodec, SenmlRecord};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::LwM2mNode;
use crate::path::LwM2mPath;
use crate::Error;

const FORMAT: ContentFormat = ContentFormat::LwM2mCbor;

/// The LwM2M CBOR codec; see [`MultiNodeCodec`] for the composite and
/// path-list operations.
#[derive(Clone, Copy, Debug, Default)]
pub struct LwM2mCborCodec;

impl NodeCodec for LwM2mCborCodec {
    fn format(&self) -> ContentFormat {
        FORMAT
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        self.encode_node(path, node)
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        self.decode_node(path, payload, models)
    }
}

impl MultiNodeCodec for LwM2mCborCodec {
    fn content_format(&self) -> ContentFormat {
        FORMAT
    }

    fn parse_records(&self, payload: &[u8]) -> Result<Vec<SenmlRecord>, Error> {
        check_size(FORMAT, payload)?;
        if payload.is_empty() {
            return Ok(Vec::new());
        }
        let leaves = wire::read(payload).map_err(|e| Error::decode(FORMAT, e))?;
        leaves
            .into_iter()
            .map(|(ids, value)| {
                let path = LwM2mPath::from_ids(&ids)?;
                Ok(SenmlRecord {
                    name: Some(path.to_string()),
                    value,
                    ..SenmlRecord::default()
                })
            })
            .collect()
    }

    fn write_records(&self, records: &[SenmlRecord]) -> Result<Vec<u8>, Error> {
        if records
            .iter()
            .any(|r| r.base_time.is_some() || r.time.is_some())
        {
            return Err(Error::encode(
                FORMAT,
                "LwM2M CBOR carries no time; timestamped data needs SenML",
            ));
        }
        let resolved = resolve::resolve(FORMAT, records)?;
        let leaves: Vec<_> = resolved
            .iter()
            .map(|r| (r.path.ids().to_vec(), r.value.as_ref()))
            .collect();
        wire::write(&leaves).map_err(|e| Error::encode(FORMAT, e))
    }
}
