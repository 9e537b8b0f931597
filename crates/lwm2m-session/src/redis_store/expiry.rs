//! The expiry index and the sweep.
//!
//! Each shard is a sorted set `endpoint -> score`, where the score is never
//! later than the registration's real expiry (see `SCHEDULE`). A sweep:
//!
//! 1. claims due endpoints of a shard in one script (`CLAIM`): their score
//!    moves to the end of a lease, so concurrent sweeps skip them;
//! 2. for each, re-reads the registration: still expired → deleted with a
//!    compare-and-set on its exact stored JSON (an Update that raced in
//!    makes the delete fail and wins); renewed → not returned;
//! 3. settles the claim (`SETTLE`): drop the index entries, or put back the
//!    real expiry.
//!
//! Exactly-once delivery comes from step 2: only one compare-and-set can
//! delete a given registration. The claim only keeps sweeps from doing the
//! same work twice, and its lease makes a sweep that dies harmless.

use super::{scripts, RedisStore};
use crate::error::Result;
use crate::store::Removed;

/// What a claimed endpoint turned out to be.
enum Reaped {
    /// Expired and removed by us.
    Removed(Box<Removed>),
    /// Nothing there (de-registered, or removed by someone else).
    Gone,
    /// Renewed: it now expires at this time.
    Alive(i64),
}

impl RedisStore {
    /// Makes sure the endpoint is listed and will be looked at by a sweep no
    /// later than `expires_at_ms`.
    pub(super) async fn schedule(&self, endpoint: &str, expires_at_ms: i64) -> Result<()> {
        let shard = self.keys.shard_of(endpoint);
        let _: i64 = scripts::SCHEDULE
            .key(self.keys.expiry(shard))
            .key(self.keys.endpoints(shard))
            .key(self.keys.claims(shard))
            .arg(endpoint)
            .arg(expires_at_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    pub(super) async fn take_expired_impl(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Removed>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let claim_id = uuid::Uuid::new_v4().simple().to_string();
        let lease_until = now_ms.saturating_add(self.config.claim_lease_ms);
        let shards = self.keys.shards();
        // Start at a random shard so concurrent sweeps spread out.
        let start = u16::from_le_bytes([uuid::Uuid::new_v4().as_bytes()[0], 0]) % shards;
        for i in 0..shards {
            let shard = (start + i) % shards;
            while out.len() < limit {
                let claimed: Vec<String> = scripts::CLAIM
                    .key(self.keys.expiry(shard))
                    .key(self.keys.claims(shard))
                    .arg(now_ms)
                    .arg(lease_until)
                    .arg(limit - out.len())
                    .arg(&claim_id)
                    .invoke_async(&mut self.conn())
                    .await?;
                if claimed.is_empty() {
                    break;
                }
                for endpoint in claimed {
                    let (outcome, expires_at) = match self.reap(&endpoint, now_ms).await? {
                        Reaped::Removed(removed) => {
                            out.push(*removed);
                            ("gone", 0)
                        }
                        Reaped::Gone => ("gone", 0),
                        Reaped::Alive(at) => ("alive", at),
                    };
                    let _: i64 = scripts::SETTLE
                        .key(self.keys.expiry(shard))
                        .key(self.keys.endpoints(shard))
                        .key(self.keys.claims(shard))
                        .arg(&endpoint)
                        .arg(&claim_id)
                        .arg(outcome)
                        .arg(expires_at)
                        .invoke_async(&mut self.conn())
                        .await?;
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Removes the endpoint's registration if it is expired at `now_ms`.
    async fn reap(&self, endpoint: &str, now_ms: i64) -> Result<Reaped> {
        for _ in 0..self.config.max_cas_attempts {
            let Some((raw, reg)) = self.load_registration(endpoint).await? else {
                return Ok(Reaped::Gone);
            };
            if !reg.is_expired(now_ms) {
                return Ok(Reaped::Alive(reg.expires_at_ms));
            }
            if let Some(removed) = self.remove_registration(endpoint, &raw, reg).await? {
                return Ok(Reaped::Removed(Box::new(removed)));
            }
        }
        Err(self.contention(endpoint))
    }
}
