//! Session state in Redis, shared by all transport nodes of a cluster.
//!
//! See the crate documentation for the key layout. The rules that keep it
//! consistent without cross-slot transactions:
//!
//! 1. Everything about one endpoint is changed by one Lua script on that
//!    endpoint's hash tag: a compare-and-set of the whole registration JSON
//!    (a small retry loop absorbs concurrent writers, nothing is lost).
//! 2. Secondary indexes (registration id, token, expiry, listing) are other
//!    slots and are written separately: entries are ADDED BEFORE the data
//!    they point to and REMOVED AFTER it, so a node dying in between leaves
//!    at worst a stale entry, never a missing one.
//! 3. Readers never trust an index: a hit is verified against the
//!    endpoint's data, so a stale entry reads as "not found".

mod cursor;
mod expiry;
mod keys;
mod observations;
mod registrations;
pub(crate) mod scripts;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;

use crate::error::{Result, SessionError};
use crate::observation::{Freshness, Observation};
use crate::registration::{Registration, RegistrationUpdate};
use crate::store::{Page, RegisterOutcome, Removed, SessionStore};

use keys::Keys;

/// Settings of a [`RedisStore`]. All nodes of a cluster must agree on
/// `prefix` and `expiry_shards`.
#[derive(Clone, Debug)]
pub struct RedisStoreConfig {
    /// e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// Namespace of every key; lets several deployments (or tests) share a
    /// Redis. No braces.
    pub prefix: String,
    /// Number of expiry/listing index shards (spread over cluster slots).
    pub expiry_shards: u16,
    /// How long a sweep owns the registrations it claimed; a sweep that dies
    /// leaves them to the next sweep after this.
    pub claim_lease_ms: i64,
    /// Registration-id and token index entries live this long past the
    /// registration's expiry (bounds leftovers of crashed nodes).
    pub index_grace_ms: i64,
    /// Compare-and-set attempts before giving up with `Contention`.
    pub max_cas_attempts: u32,
}

impl RedisStoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RedisStoreConfig {
            url: url.into(),
            prefix: "lwm2m".into(),
            expiry_shards: 16,
            claim_lease_ms: 60_000,
            index_grace_ms: 24 * 3600 * 1000,
            max_cas_attempts: 64,
        }
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// Redis-backed [`SessionStore`]. Cheap to clone; clones share the
/// auto-reconnecting connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    pub(crate) keys: Keys,
    config: RedisStoreConfig,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.config.prefix)
            .field("expiry_shards", &self.config.expiry_shards)
            .finish_non_exhaustive()
    }
}

/// What a registration compare-and-set does with the endpoint's observations.
#[derive(Clone, Copy, Debug)]
enum ObservationMode {
    /// Delete them and return their JSON.
    Drop,
    /// Return their token hex (to refresh index TTLs).
    Keys,
    /// Leave them alone.
    Keep,
}

impl RedisStore {
    /// Connects with the default settings and `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        Self::connect_with(RedisStoreConfig::new(url).with_prefix(prefix)).await
    }

    pub async fn connect_with(config: RedisStoreConfig) -> Result<Self> {
        let client = redis::Client::open(config.url.as_str())?;
        let conn = ConnectionManager::new(client).await?;
        Self::with_connection(conn, config)
    }

    /// Uses an existing connection manager (`config.url` is ignored).
    pub fn with_connection(conn: ConnectionManager, config: RedisStoreConfig) -> Result<Self> {
        let keys = Keys::new(&config.prefix, config.expiry_shards)?;
        Ok(RedisStore { conn, keys, config })
    }

    pub fn config(&self) -> &RedisStoreConfig {
        &self.config
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// How long an index entry for a registration expiring at
    /// `expires_at_ms` should live, counted from `now_ms`.
    fn index_ttl_ms(&self, now_ms: i64, expires_at_ms: i64) -> i64 {
        expires_at_ms
            .saturating_sub(now_ms)
            .max(0)
            .saturating_add(self.config.index_grace_ms)
            .max(1)
    }

    async fn get_string(&self, key: &str) -> Result<Option<String>> {
        Ok(redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn())
            .await?)
    }

    /// The stored registration of `endpoint`, raw (the compare-and-set
    /// token) and decoded.
    async fn load_registration(&self, endpoint: &str) -> Result<Option<(String, Registration)>> {
        let key = self.keys.registration(endpoint);
        match self.get_string(&key).await? {
            None => Ok(None),
            Some(raw) => {
                let reg = decode(&key, &raw)?;
                Ok(Some((raw, reg)))
            }
        }
    }

    /// Runs the registration compare-and-set; `None` = someone else wrote
    /// first, reload and retry.
    async fn registration_cas(
        &self,
        endpoint: &str,
        expected: Option<&str>,
        next: Option<&str>,
        mode: ObservationMode,
    ) -> Result<Option<Vec<String>>> {
        let mode = match mode {
            ObservationMode::Drop => "drop",
            ObservationMode::Keys => "keys",
            ObservationMode::Keep => "keep",
        };
        let mut reply: Vec<String> = scripts::REGISTRATION_CAS
            .key(self.keys.registration(endpoint))
            .key(self.keys.observations(endpoint))
            .arg(expected.unwrap_or(""))
            .arg(next.unwrap_or(""))
            .arg(mode)
            .invoke_async(&mut self.conn())
            .await?;
        if reply.first().map(String::as_str) != Some("ok") {
            return Ok(None);
        }
        reply.remove(0);
        Ok(Some(reply))
    }

    /// Deletes `key` if it still holds `value` (index cleanup).
    async fn delete_if_equal(&self, key: &str, value: &str) -> Result<()> {
        let _: i64 = scripts::DELETE_IF_EQUAL
            .key(key)
            .arg(value)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Removes the token index entries of observations that left `endpoint`.
    async fn forget_tokens(&self, endpoint: &str, observations: &[Observation]) -> Result<()> {
        for o in observations {
            self.delete_if_equal(&self.keys.token(&o.token), endpoint)
                .await?;
        }
        Ok(())
    }

    fn contention(&self, endpoint: &str) -> SessionError {
        SessionError::Contention {
            endpoint: endpoint.to_owned(),
            attempts: self.config.max_cas_attempts,
        }
    }

    /// Deletes every key of this store's prefix. Only for tests: it SCANs
    /// the whole keyspace.
    #[cfg(any(test, feature = "testing"))]
    pub async fn delete_everything(&self) -> Result<()> {
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.keys.pattern())
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

fn decode<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|source| SessionError::Corrupt {
        key: key.to_owned(),
        source,
    })
}

fn decode_all<T: DeserializeOwned>(key: &str, raws: &[String]) -> Result<Vec<T>> {
    raws.iter().map(|raw| decode(key, raw)).collect()
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn register(&self, registration: Registration) -> Result<RegisterOutcome> {
        self.register_impl(registration).await
    }

    async fn update(
        &self,
        registration_id: &str,
        update: RegistrationUpdate,
    ) -> Result<Option<(Registration, Registration)>> {
        self.update_impl(registration_id, update).await
    }

    async fn touch(
        &self,
        endpoint: &str,
        address: &str,
        node_id: &str,
        now_ms: i64,
    ) -> Result<Option<Registration>> {
        self.touch_impl(endpoint, address, node_id, now_ms).await
    }

    async fn deregister(&self, registration_id: &str) -> Result<Option<Removed>> {
        self.deregister_impl(registration_id).await
    }

    async fn get_by_endpoint(&self, endpoint: &str) -> Result<Option<Registration>> {
        crate::validate::endpoint(endpoint)?;
        Ok(self.load_registration(endpoint).await?.map(|(_, r)| r))
    }

    async fn get_by_registration_id(&self, registration_id: &str) -> Result<Option<Registration>> {
        Ok(self
            .resolve_registration_id(registration_id)
            .await?
            .map(|(_, r)| r))
    }

    async fn list(&self, cursor: Option<String>, limit: usize) -> Result<Page> {
        self.list_impl(cursor, limit).await
    }

    async fn take_expired(&self, now_ms: i64, limit: usize) -> Result<Vec<Removed>> {
        self.take_expired_impl(now_ms, limit).await
    }

    async fn add_observation(&self, observation: Observation) -> Result<()> {
        self.add_observation_impl(observation).await
    }

    async fn add_observation_unless_observed(
        &self,
        observation: Observation,
    ) -> Result<Option<Observation>> {
        self.add_observation_unless_observed_impl(observation).await
    }

    async fn remove_observation(
        &self,
        endpoint: &str,
        token: &[u8],
    ) -> Result<Option<Observation>> {
        self.remove_observation_impl(endpoint, token).await
    }

    async fn observations(&self, endpoint: &str) -> Result<Vec<Observation>> {
        self.observations_impl(endpoint).await
    }

    async fn observation_by_token(&self, token: &[u8]) -> Result<Option<Observation>> {
        self.observation_by_token_impl(token).await
    }

    async fn record_notification(
        &self,
        endpoint: &str,
        token: &[u8],
        seq: u32,
        now_ms: i64,
    ) -> Result<Option<Freshness>> {
        self.record_notification_impl(endpoint, token, seq, now_ms)
            .await
    }
}

#[cfg(test)]
mod tests;
