//! Device session state of the LwM2M server: registrations and observations.
//!
//! Transport nodes are stateless. Everything they know about a device lives
//! behind [`SessionStore`], so killing a node and starting another loses no
//! registration and no observation, and a device whose NAT binding moves to
//! another node is served there with the same state.
//!
//! - [`MemoryStore`]: one process (standalone mode).
//! - [`RedisStore`]: a cluster of nodes sharing Redis (also Redis Cluster).
//! - `conformance` (feature `testing`): the behaviour both must have, as a
//!   test suite any backend can run.
//!
//! The store never reads a clock: callers pass `now_ms`, so every node's
//! decision is reproducible and tests need no sleeping.
//!
//! # Redis key layout
//!
//! `<p>` is the configured prefix (default `lwm2m`; tests use a random one
//! per case). Text in `{braces}` is a Redis Cluster hash tag: keys with the
//! same tag live in the same slot, so one Lua script may use them together.
//!
//! | Key | Type | Content | Why this shape |
//! |-----|------|---------|----------------|
//! | `<p>:{ep:<endpoint>}:reg` | string | [`Registration`] as JSON | One document per endpoint: every change is one compare-and-set on the exact stored value (no lost update). |
//! | `<p>:{ep:<endpoint>}:obs` | hash | token hex → [`Observation`] JSON | Same tag as `:reg`, so Register/De-register/expiry drop the observations atomically with the registration. |
//! | `<p>:regid:<id>` | string, TTL | endpoint | Update/De-register arrive with `rd/<id>` only. TTL = remaining lifetime + grace, refreshed by Update. |
//! | `<p>:token:<hex>` | string, TTL | endpoint | Any node can match a notification by token. Same TTL rule. |
//! | `<p>:{shard:<n>}:expiry` | sorted set | endpoint, score = expiry ms (never later than the real one) | The sweep reads only what is due, never scans. Sharded by FNV-1a(endpoint) so no single hot key in a cluster. |
//! | `<p>:{shard:<n>}:endpoints` | sorted set, scores 0 | endpoint | Stable lexicographic paging for `list` (cursor = shard + last endpoint), no duplicates unlike `SCAN`. |
//! | `<p>:{shard:<n>}:claims` | hash | endpoint → sweep claim id | Which sweep currently owns a due endpoint (with a lease in the expiry score). |
//! | `<p>:{nodes}:lease:<id>` | string, TTL | [`Member`] JSON | A transport node's lease on node id `<id>` (0–255), renewed by its heartbeat; changed only by scripts that check the holder. One tag for all 256, so one MGET lists the cluster. |
//! | `<p>:{dtls:<id>}:parked` | list, TTL | DTLS session export blobs | Sessions a stopping node parked for the next holder of its node id ([`cluster`]). |
//!
//! Per-endpoint keys change only through Lua scripts on that endpoint's tag,
//! which makes each endpoint its own lock. The other keys are other slots,
//! updated separately and idempotently: index entries are written before
//! the data they point to and removed after it, and every index hit is
//! verified against the endpoint's data, so a node dying half-way leaves a
//! stale entry (read as "not found", cleaned later) but never a missing one.
//! Expiry-index entries are removed only by the sweep, which re-reads the
//! registration: an Update that races with the sweep wins, and only one
//! compare-and-set can delete a registration, so each expiry is reported to
//! exactly one node.

pub mod cluster;
pub mod error;
pub mod memory;
pub mod observation;
pub mod redis_store;
pub mod registration;
pub mod store;
pub mod validate;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use cluster::{ClusterStore, Member, MemoryCluster};
pub use error::{Result, SessionError};
pub use memory::MemoryStore;
pub use observation::{Freshness, Observation};
pub use redis_store::{RedisStore, RedisStoreConfig};
pub use registration::{generate_registration_id, ObjectEntry, Registration, RegistrationUpdate};
pub use store::{Page, RegisterOutcome, Removed, SessionStore, MAX_PAGE};
