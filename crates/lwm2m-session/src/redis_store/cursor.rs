//! `list` cursors of the Redis store: `<shard>:<hex of last endpoint>`.
//!
//! Listing walks the shards in order and each shard's endpoint set in
//! lexicographic order, so the position is a shard number plus the last
//! endpoint returned. The endpoint is hex-encoded so the cursor is safe in a
//! URL whatever the endpoint name contains.

use crate::error::{Result, SessionError};

/// Where a listing resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) shard: u16,
    /// Resume strictly after this endpoint; `None` = shard start.
    pub(crate) after: Option<String>,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}:{}",
            self.shard,
            self.after.as_deref().map(hex::encode).unwrap_or_default()
        )
    }

    pub(crate) fn decode(s: &str, shards: u16) -> Result<Cursor> {
        let bad = || SessionError::InvalidCursor(s.to_owned());
        let (shard, after) = s.split_once(':').ok_or_else(bad)?;
        let shard: u16 = shard.parse().map_err(|_| bad())?;
        if shard >= shards {
            return Err(bad());
        }
        let after = if after.is_empty() {
            None
        } else {
            let bytes = hex::decode(after).map_err(|_| bad())?;
            Some(String::from_utf8(bytes).map_err(|_| bad())?)
        };
        Ok(Cursor { shard, after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for c in [
            Cursor::default(),
            Cursor {
                shard: 7,
                after: Some("urn:dev:{x}".into()),
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode(), 16).unwrap(), c);
        }
    }

    #[test]
    fn refuses_foreign_cursors() {
        for bad in ["", "x", "1", "99:", "1:zz", "-1:", "1:ff"] {
            assert!(Cursor::decode(bad, 16).is_err(), "{bad:?}");
        }
    }
}
