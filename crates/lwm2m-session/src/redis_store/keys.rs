//! Redis key names (the layout is documented in the crate docs).
//!
//! Every key of one endpoint carries the hash tag `{ep:<endpoint>}` so a Lua
//! script can touch all of them atomically, also in Redis Cluster, where a
//! script may only use keys of one slot. Indexes that are looked up by
//! something else than the endpoint (registration id, token) cannot share
//! that slot and live in their own keys. The expiry and listing indexes are
//! split in shards, each shard's keys sharing a `{shard:<n>}` tag, so no
//! single key (and cluster node) takes every write.

use crate::error::{Result, SessionError};

/// Builds every key from the configured prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
    shards: u16,
}

impl Keys {
    /// The prefix must not contain braces (they would move the hash tag)
    /// and `shards` must be at least 1.
    pub(crate) fn new(prefix: &str, shards: u16) -> Result<Self> {
        if prefix.is_empty() || prefix.len() > 128 {
            return Err(SessionError::invalid("prefix", "must be 1..=128 bytes"));
        }
        if prefix.contains(['{', '}']) {
            return Err(SessionError::invalid(
                "prefix",
                "must not contain '{' or '}' (Redis Cluster hash tags)",
            ));
        }
        if shards == 0 {
            return Err(SessionError::invalid("expiry_shards", "must be at least 1"));
        }
        Ok(Keys {
            prefix: prefix.to_owned(),
            shards,
        })
    }

    pub(crate) fn shards(&self) -> u16 {
        self.shards
    }

    /// `<prefix>:{ep:<endpoint>}:reg`: the registration as JSON.
    pub(crate) fn registration(&self, endpoint: &str) -> String {
        format!("{}:{{ep:{endpoint}}}:reg", self.prefix)
    }

    /// `<prefix>:{ep:<endpoint>}:obs`: hash of token hex -> observation JSON.
    pub(crate) fn observations(&self, endpoint: &str) -> String {
        format!("{}:{{ep:{endpoint}}}:obs", self.prefix)
    }

    /// `<prefix>:regid:<id>`: registration id -> endpoint.
    pub(crate) fn registration_id(&self, registration_id: &str) -> String {
        format!("{}:regid:{registration_id}", self.prefix)
    }

    /// `<prefix>:token:<hex>`: observe token -> endpoint.
    pub(crate) fn token(&self, token: &[u8]) -> String {
        format!("{}:token:{}", self.prefix, hex::encode(token))
    }

    /// Which shard indexes this endpoint's expiry and listing. Every node
    /// must compute the same value, hence FNV-1a rather than std's hasher
    /// (whose output is not guaranteed stable).
    pub(crate) fn shard_of(&self, endpoint: &str) -> u16 {
        let h = endpoint.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        // The remainder is below `shards`, which is a u16.
        u16::try_from(h % u64::from(self.shards)).unwrap_or(0)
    }

    /// `<prefix>:{shard:<n>}:expiry`: sorted set endpoint by expiry (ms).
    pub(crate) fn expiry(&self, shard: u16) -> String {
        format!("{}:{{shard:{shard}}}:expiry", self.prefix)
    }

    /// `<prefix>:{shard:<n>}:endpoints`: sorted set (all scores 0) of
    /// endpoints, paged lexicographically by `list`.
    pub(crate) fn endpoints(&self, shard: u16) -> String {
        format!("{}:{{shard:{shard}}}:endpoints", self.prefix)
    }

    /// `<prefix>:{shard:<n>}:claims`: hash endpoint -> id of the sweep that
    /// currently holds it.
    pub(crate) fn claims(&self, shard: u16) -> String {
        format!("{}:{{shard:{shard}}}:claims", self.prefix)
    }

    /// `<prefix>:{nodes}:lease:<id>`: a node id's lease (a [`crate::cluster::Member`]
    /// as JSON, with a TTL). One hash tag for all 256, so they are read with
    /// one MGET also on Redis Cluster.
    pub(crate) fn node_lease(&self, node_id: u8) -> String {
        format!("{}:{{nodes}}:lease:{node_id}", self.prefix)
    }

    /// `<prefix>:{nodes}:parked:<id>`: list of DTLS session export blobs
    /// parked by the node that held `node_id`, with a TTL. Same hash tag as
    /// the leases, so a script can check the lease and park in one step.
    pub(crate) fn parked_dtls(&self, node_id: u8) -> String {
        format!("{}:{{nodes}}:parked:{node_id}", self.prefix)
    }

    /// `<prefix>:{nodes}:reserved:<id>`: hash of session key (Connection
    /// ID) → the blob of its latest sequence-number reservation, for the
    /// node that takes `node_id` over after a crash. Same hash tag as the
    /// leases, so a script can check the lease and write in one step.
    pub(crate) fn reserved_dtls(&self, node_id: u8) -> String {
        format!("{}:{{nodes}}:reserved:{node_id}", self.prefix)
    }

    /// SCAN pattern for every key of this prefix (test cleanup).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn pattern(&self) -> String {
        format!("{}:*", self.prefix)
    }
}

/// The part of a key Redis Cluster hashes (see the cluster spec).
#[cfg(test)]
fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new("lwm2m", 16).unwrap();
        assert_eq!(k.registration("dev"), "lwm2m:{ep:dev}:reg");
        assert_eq!(k.observations("dev"), "lwm2m:{ep:dev}:obs");
        assert_eq!(k.registration_id("abc"), "lwm2m:regid:abc");
        assert_eq!(k.token(&[0xca, 0xfe]), "lwm2m:token:cafe");
        assert_eq!(k.expiry(3), "lwm2m:{shard:3}:expiry");
        assert_eq!(k.endpoints(3), "lwm2m:{shard:3}:endpoints");
        assert_eq!(k.claims(3), "lwm2m:{shard:3}:claims");
    }

    #[test]
    fn endpoint_keys_share_a_slot_whatever_the_name() {
        let k = Keys::new("lwm2m", 16).unwrap();
        for ep in ["dev", "a}b", "{x}", "urn:imei:1234", "}"] {
            assert_eq!(
                hash_tag(&k.registration(ep)),
                hash_tag(&k.observations(ep)),
                "endpoint {ep:?}"
            );
        }
        for shard in 0..16 {
            assert_eq!(hash_tag(&k.expiry(shard)), hash_tag(&k.endpoints(shard)));
            assert_eq!(hash_tag(&k.expiry(shard)), hash_tag(&k.claims(shard)));
        }
    }

    #[test]
    fn prefix_rules() {
        assert!(Keys::new("", 1).is_err());
        assert!(Keys::new("a{b", 1).is_err());
        assert!(Keys::new("ok", 0).is_err());
    }

    #[test]
    fn shards_are_stable_and_spread() {
        let k = Keys::new("p", 16).unwrap();
        // Pinned: changing the hash would re-shard a live cluster.
        assert_eq!(k.shard_of("dev"), 12); // FNV-1a("dev") = 0xca9a2a18f461fffc
        let used: std::collections::BTreeSet<u16> =
            (0..200).map(|i| k.shard_of(&format!("ep-{i}"))).collect();
        assert_eq!(used.len(), 16);
        assert!(used.iter().all(|s| *s < 16));
        assert_eq!(Keys::new("p", 1).unwrap().shard_of("anything"), 0);
    }
}
