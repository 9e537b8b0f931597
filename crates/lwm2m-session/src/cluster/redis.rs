//! [`ClusterStore`] on the cluster's Redis (the same [`RedisStore`] as the
//! sessions; keys in the crate docs' layout). Leases are keys with a TTL,
//! changed only by Lua scripts that check the holder first.

use async_trait::async_trait;

use super::{ClusterStore, Member};
use crate::error::Result;
use crate::redis_store::{scripts, RedisStore};

impl RedisStore {
    async fn lease(&self, member: &Member, ttl_ms: i64) -> Result<bool> {
        let json = serde_json::to_string(member)?;
        let claimed: i64 = scripts::LEASE_CLAIM
            .key(self.keys.node_lease(member.node_id))
            .arg(&member.holder)
            .arg(json)
            .arg(ttl_ms.max(1))
            .arg(if member.adopted { "0" } else { "1" })
            .invoke_async(&mut self.conn())
            .await?;
        Ok(claimed == 1)
    }

    /// Every lease record, by node id (`None`: free).
    async fn leases(&self) -> Result<Vec<Option<String>>> {
        let keys: Vec<String> = (0..=u8::MAX).map(|id| self.keys.node_lease(id)).collect();
        Ok(redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn())
            .await?)
    }
}

#[async_trait]
impl ClusterStore for RedisStore {
    async fn claim(&self, member: &Member, ttl_ms: i64, _now_ms: i64) -> Result<bool> {
        self.lease(member, ttl_ms).await
    }

    async fn claim_any(&self, member: &Member, ttl_ms: i64, _now_ms: i64) -> Result<Option<u8>> {
        let leases = self.leases().await?;
        let adopted = |lease: &Option<String>| {
            lease
                .as_deref()
                .and_then(|json| serde_json::from_str::<Member>(json).ok())
                .is_some_and(|m| m.adopted)
        };
        // Free ids as of the read, then (for an own claim) adopted ones,
        // which `LEASE_CLAIM` lets it take over; another node may take one
        // first, so each is claimed with the holder check and the next tried
        // on a miss.
        let free = (0..=u8::MAX).zip(&leases).filter(|(_, l)| l.is_none());
        let adoptions = (0..=u8::MAX)
            .zip(&leases)
            .filter(|(_, l)| !member.adopted && adopted(l));
        for (id, _) in free.chain(adoptions) {
            let mut mine = member.clone();
            mine.node_id = id;
            if self.lease(&mine, ttl_ms).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn renew(&self, node_id: u8, holder: &str, ttl_ms: i64, _now_ms: i64) -> Result<bool> {
        let renewed: i64 = scripts::LEASE_CLAIM
            .key(self.keys.node_lease(node_id))
            .arg(holder)
            .arg("")
            .arg(ttl_ms.max(1))
            .arg("0")
            .invoke_async(&mut self.conn())
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self, node_id: u8, holder: &str) -> Result<()> {
        let _: i64 = scripts::LEASE_RELEASE
            .key(self.keys.node_lease(node_id))
            .arg(holder)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn members(&self, _now_ms: i64) -> Result<Vec<Member>> {
        let mut members = Vec::new();
        for (id, lease) in (0..=u8::MAX).zip(self.leases().await?) {
            let Some(json) = lease else { continue };
            // A record this version cannot read is skipped, not fatal: the
            // other members are still worth knowing.
            match serde_json::from_str::<Member>(&json) {
                Ok(member) => members.push(member),
                Err(e) => tracing::warn!(node_id = id, error = %e, "unreadable node lease"),
            }
        }
        Ok(members)
    }

    async fn park_dtls_sessions(
        &self,
        node_id: u8,
        holder: &str,
        blobs: Vec<Vec<u8>>,
        ttl_ms: i64,
        _now_ms: i64,
    ) -> Result<bool> {
        let parked: i64 = scripts::PARK
            .key(self.keys.node_lease(node_id))
            .key(self.keys.parked_dtls(node_id))
            .arg(holder)
            .arg(ttl_ms.max(1))
            .arg(blobs)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(parked == 1)
    }

    async fn take_dtls_sessions(&self, node_id: u8, _now_ms: i64) -> Result<Vec<Vec<u8>>> {
        Ok(scripts::LIST_TAKE
            .key(self.keys.parked_dtls(node_id))
            .invoke_async(&mut self.conn())
            .await?)
    }

    async fn store_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        blob: Vec<u8>,
        _now_ms: i64,
    ) -> Result<bool> {
        let written: i64 = scripts::RESERVATION_WRITE
            .key(self.keys.node_lease(node_id))
            .key(self.keys.reserved_dtls(node_id))
            .arg(holder)
            .arg(key)
            .arg(blob)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(written == 1)
    }

    async fn drop_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        _now_ms: i64,
    ) -> Result<()> {
        let _: i64 = scripts::RESERVATION_WRITE
            .key(self.keys.node_lease(node_id))
            .key(self.keys.reserved_dtls(node_id))
            .arg(holder)
            .arg(key)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn has_dtls_sessions(&self, node_id: u8, _now_ms: i64) -> Result<bool> {
        // Both keys share the `{nodes}` hash tag (one slot on Redis Cluster);
        // an empty list or hash does not exist in Redis.
        let found: i64 = redis::cmd("EXISTS")
            .arg(self.keys.parked_dtls(node_id))
            .arg(self.keys.reserved_dtls(node_id))
            .query_async(&mut self.conn())
            .await?;
        Ok(found > 0)
    }

    async fn take_dtls_reservations(&self, node_id: u8) -> Result<Vec<Vec<u8>>> {
        let key = self.keys.reserved_dtls(node_id);
        let (blobs, _): (Vec<Vec<u8>>, i64) = redis::pipe()
            .atomic()
            .cmd("HVALS")
            .arg(&key)
            .del(&key)
            .query_async(&mut self.conn())
            .await?;
        Ok(blobs)
    }
}
