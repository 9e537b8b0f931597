//! Register, Update, touch, De-register, lookups and listing on Redis.

use super::cursor::Cursor;
use super::{decode, decode_all, ObservationMode, RedisStore};
use crate::error::Result;
use crate::observation::Observation;
use crate::registration::{Registration, RegistrationUpdate};
use crate::store::{page_size, Page, RegisterOutcome, Removed};
use crate::validate;

impl RedisStore {
    pub(super) async fn register_impl(
        &self,
        mut registration: Registration,
    ) -> Result<RegisterOutcome> {
        registration.validate()?;
        let endpoint = registration.endpoint.clone();
        let id = registration.registration_id.clone();
        let now_ms = registration.last_update_ms;

        // Indexes first (rule 2): the new id must resolve as soon as the
        // registration exists, and the expiry index must cover it.
        let ttl = self.index_ttl_ms(now_ms, registration.expires_at_ms);
        let _: () = redis::cmd("SET")
            .arg(self.keys.registration_id(&id))
            .arg(&endpoint)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut self.conn())
            .await?;

        for _ in 0..self.config.max_cas_attempts {
            self.schedule(&endpoint, registration.expires_at_ms).await?;
            let old = self.load_registration(&endpoint).await?;
            registration.revision = old
                .as_ref()
                .map_or(1, |(_, r)| r.revision.saturating_add(1));
            let next = serde_json::to_string(&registration)?;
            let Some(dropped) = self
                .registration_cas(
                    &endpoint,
                    old.as_ref().map(|(raw, _)| raw.as_str()),
                    Some(&next),
                    ObservationMode::Drop,
                )
                .await?
            else {
                continue;
            };
            // Scheduling again closes the race with a sweep that found the
            // endpoint empty just before our write and dropped its entry.
            self.schedule(&endpoint, registration.expires_at_ms).await?;

            let replaced = old.map(|(_, r)| r);
            let cancelled: Vec<Observation> =
                decode_all(&self.keys.observations(&endpoint), &dropped)?;
            if let Some(old) = &replaced {
                if old.registration_id != id {
                    self.delete_if_equal(
                        &self.keys.registration_id(&old.registration_id),
                        &endpoint,
                    )
                    .await?;
                }
            }
            self.forget_tokens(&endpoint, &cancelled).await?;
            return Ok(RegisterOutcome {
                replaced,
                cancelled_observations: cancelled,
            });
        }
        Err(self.contention(&endpoint))
    }

    pub(super) async fn update_impl(
        &self,
        registration_id: &str,
        update: RegistrationUpdate,
    ) -> Result<Option<(Registration, Registration)>> {
        let Some(endpoint) = self.endpoint_of(registration_id).await? else {
            return Ok(None);
        };
        for _ in 0..self.config.max_cas_attempts {
            let Some((raw, old)) = self.load_registration(&endpoint).await? else {
                return Ok(None);
            };
            if old.registration_id != registration_id {
                return Ok(None);
            }
            let next = old.updated(&update);
            // Before the write: if the expiry moved earlier, the index must
            // already say so should this node die right after the write.
            self.schedule(&endpoint, next.expires_at_ms).await?;
            let json = serde_json::to_string(&next)?;
            let Some(tokens) = self
                .registration_cas(&endpoint, Some(&raw), Some(&json), ObservationMode::Keys)
                .await?
            else {
                continue;
            };
            self.refresh_indexes(&next, &tokens, update.now_ms).await?;
            return Ok(Some((old, next)));
        }
        Err(self.contention(&endpoint))
    }

    /// Extends the TTL of the registration-id and token index entries to
    /// the registration's new expiry.
    async fn refresh_indexes(
        &self,
        reg: &Registration,
        token_hexes: &[String],
        now_ms: i64,
    ) -> Result<()> {
        let ttl = self.index_ttl_ms(now_ms, reg.expires_at_ms);
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.registration_id(&reg.registration_id))
            .arg(&reg.endpoint)
            .arg("PX")
            .arg(ttl)
            .ignore();
        for token_hex in token_hexes {
            if let Ok(token) = hex::decode(token_hex) {
                pipe.cmd("PEXPIRE")
                    .arg(self.keys.token(&token))
                    .arg(ttl)
                    .ignore();
            }
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub(super) async fn touch_impl(
        &self,
        endpoint: &str,
        address: &str,
        node_id: &str,
        now_ms: i64,
    ) -> Result<Option<Registration>> {
        validate::endpoint(endpoint)?;
        for _ in 0..self.config.max_cas_attempts {
            let Some((raw, old)) = self.load_registration(endpoint).await? else {
                return Ok(None);
            };
            let next = old.touched(address, node_id, now_ms);
            let json = serde_json::to_string(&next)?;
            if self
                .registration_cas(endpoint, Some(&raw), Some(&json), ObservationMode::Keep)
                .await?
                .is_some()
            {
                return Ok(Some(next));
            }
        }
        Err(self.contention(endpoint))
    }

    pub(super) async fn deregister_impl(&self, registration_id: &str) -> Result<Option<Removed>> {
        let Some(endpoint) = self.endpoint_of(registration_id).await? else {
            return Ok(None);
        };
        for _ in 0..self.config.max_cas_attempts {
            let Some((raw, reg)) = self.load_registration(&endpoint).await? else {
                return Ok(None);
            };
            if reg.registration_id != registration_id {
                return Ok(None);
            }
            if let Some(removed) = self.remove_registration(&endpoint, &raw, reg).await? {
                // The expiry/listing entries stay: the next sweep finds the
                // endpoint empty and drops them (removing them here could
                // race with a new Register of the same endpoint).
                return Ok(Some(removed));
            }
        }
        Err(self.contention(&endpoint))
    }

    /// Deletes the registration if it is still exactly `raw`, with its
    /// observations and id/token index entries. `None` = it changed.
    pub(super) async fn remove_registration(
        &self,
        endpoint: &str,
        raw: &str,
        reg: Registration,
    ) -> Result<Option<Removed>> {
        let Some(dropped) = self
            .registration_cas(endpoint, Some(raw), None, ObservationMode::Drop)
            .await?
        else {
            return Ok(None);
        };
        let observations: Vec<Observation> =
            decode_all(&self.keys.observations(endpoint), &dropped)?;
        self.delete_if_equal(&self.keys.registration_id(&reg.registration_id), endpoint)
            .await?;
        self.forget_tokens(endpoint, &observations).await?;
        Ok(Some((reg, observations)))
    }

    /// The endpoint a registration id index entry points to (unverified).
    async fn endpoint_of(&self, registration_id: &str) -> Result<Option<String>> {
        if !validate::is_plausible_registration_id(registration_id) {
            return Ok(None);
        }
        self.get_string(&self.keys.registration_id(registration_id))
            .await
    }

    /// Registration by id, verified against the endpoint's data (rule 3).
    pub(super) async fn resolve_registration_id(
        &self,
        registration_id: &str,
    ) -> Result<Option<(String, Registration)>> {
        let Some(endpoint) = self.endpoint_of(registration_id).await? else {
            return Ok(None);
        };
        Ok(self
            .load_registration(&endpoint)
            .await?
            .filter(|(_, r)| r.registration_id == registration_id))
    }

    pub(super) async fn list_impl(&self, cursor: Option<String>, limit: usize) -> Result<Page> {
        let limit = page_size(limit);
        let shards = self.keys.shards();
        let mut pos = match cursor {
            Some(c) => Cursor::decode(&c, shards)?,
            None => Cursor::default(),
        };
        let mut items = Vec::with_capacity(limit);
        let mut conn = self.conn();
        loop {
            let want = limit - items.len();
            let min = match &pos.after {
                Some(ep) => format!("({ep}"),
                None => "-".to_owned(),
            };
            let endpoints: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(self.keys.endpoints(pos.shard))
                .arg(min)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(want)
                .query_async(&mut conn)
                .await?;
            let shard_done = endpoints.len() < want;
            if !endpoints.is_empty() {
                let mut pipe = redis::pipe();
                for ep in &endpoints {
                    pipe.cmd("GET").arg(self.keys.registration(ep));
                }
                let raws: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
                for (ep, raw) in endpoints.iter().zip(raws) {
                    // Listing entries outlive De-register until the next
                    // sweep: skip endpoints without a registration.
                    if let Some(raw) = raw {
                        let reg: Registration = decode(&self.keys.registration(ep), &raw)?;
                        items.push(reg);
                    }
                }
                pos.after = endpoints.last().cloned();
            }
            if shard_done {
                if pos.shard + 1 >= shards {
                    return Ok(Page {
                        items,
                        next_cursor: None,
                    });
                }
                pos = Cursor {
                    shard: pos.shard + 1,
                    after: None,
                };
            }
            if items.len() >= limit {
                return Ok(Page {
                    items,
                    next_cursor: Some(pos.encode()),
                });
            }
        }
    }
}
