//! Observations on Redis: a hash per endpoint (token hex -> JSON) plus a
//! token index so any node can match a notification.

use super::{decode, decode_all, scripts, RedisStore};
use crate::error::{Result, SessionError};
use crate::observation::{Freshness, Observation};
use crate::validate;

/// What [`scripts::ADD_OBSERVATION`] compares to find an observation of the
/// same paths: kind, then the paths, one per line (paths hold no newline).
pub(super) fn target_key(observation: &Observation) -> String {
    let kind = if observation.composite { "c" } else { "s" };
    format!("{kind}\n{}", observation.paths.join("\n"))
}

impl RedisStore {
    pub(super) async fn add_observation_impl(&self, observation: Observation) -> Result<()> {
        // Without the target check nothing existing is ever returned.
        self.add_observation_checked(observation, false)
            .await
            .map(|_| ())
    }

    pub(super) async fn add_observation_unless_observed_impl(
        &self,
        observation: Observation,
    ) -> Result<Option<Observation>> {
        self.add_observation_checked(observation, true).await
    }

    /// Adds the observation; with `unless_observed`, returns the stored
    /// observation of the same target instead of adding a second one.
    async fn add_observation_checked(
        &self,
        observation: Observation,
        unless_observed: bool,
    ) -> Result<Option<Observation>> {
        observation.validate()?;
        let endpoint = observation.endpoint.as_str();
        let not_registered = || SessionError::NotRegistered {
            endpoint: observation.endpoint.clone(),
            registration_id: observation.registration_id.clone(),
        };
        let Some((_, reg)) = self.load_registration(endpoint).await? else {
            return Err(not_registered());
        };
        if reg.registration_id != observation.registration_id {
            return Err(not_registered());
        }
        let token_key = self.keys.token(&observation.token);
        if let Some(other) = self.get_string(&token_key).await? {
            if other != endpoint
                && self
                    .find_observation(&other, &observation.token)
                    .await?
                    .is_some()
            {
                return Err(SessionError::TokenInUse {
                    token: hex::encode(&observation.token),
                    endpoint: other,
                });
            }
        }
        // Index before data (rule 2), living as long as the registration.
        let ttl = self.index_ttl_ms(observation.created_at_ms, reg.expires_at_ms);
        let _: () = redis::cmd("SET")
            .arg(&token_key)
            .arg(endpoint)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut self.conn())
            .await?;
        let json = serde_json::to_string(&observation)?;
        let target = if unless_observed {
            target_key(&observation)
        } else {
            String::new()
        };
        // Re-checks the registration id atomically with the write: a
        // re-registration in between must not inherit this observation.
        let outcome: redis::Value = scripts::ADD_OBSERVATION
            .key(self.keys.registration(endpoint))
            .key(self.keys.observations(endpoint))
            .arg(&observation.registration_id)
            .arg(hex::encode(&observation.token))
            .arg(json)
            .arg(target)
            .invoke_async(&mut self.conn())
            .await?;
        let existing = match outcome {
            redis::Value::Int(1) => return Ok(None),
            redis::Value::BulkString(raw) => {
                let raw = String::from_utf8_lossy(&raw).into_owned();
                Some(decode::<Observation>(
                    &self.keys.observations(endpoint),
                    &raw,
                )?)
            }
            _ => None,
        };
        // Not stored: the index entry made for it goes again, unless the
        // token is the existing observation's own.
        if existing
            .as_ref()
            .is_none_or(|e| e.token != observation.token)
        {
            self.delete_if_equal(&token_key, endpoint).await?;
        }
        existing.map(Some).ok_or_else(not_registered)
    }

    pub(super) async fn remove_observation_impl(
        &self,
        endpoint: &str,
        token: &[u8],
    ) -> Result<Option<Observation>> {
        validate::endpoint(endpoint)?;
        validate::token(token)?;
        let key = self.keys.observations(endpoint);
        let raw: Option<String> = scripts::TAKE_FIELD
            .key(&key)
            .arg(hex::encode(token))
            .invoke_async(&mut self.conn())
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let observation: Observation = decode(&key, &raw)?;
        // Data before index on removal (rule 2).
        self.delete_if_equal(&self.keys.token(token), endpoint)
            .await?;
        Ok(Some(observation))
    }

    pub(super) async fn observations_impl(&self, endpoint: &str) -> Result<Vec<Observation>> {
        validate::endpoint(endpoint)?;
        let key = self.keys.observations(endpoint);
        let raws: Vec<String> = redis::cmd("HVALS")
            .arg(&key)
            .query_async(&mut self.conn())
            .await?;
        decode_all(&key, &raws)
    }

    pub(super) async fn observation_by_token_impl(
        &self,
        token: &[u8],
    ) -> Result<Option<Observation>> {
        validate::token(token)?;
        let Some(endpoint) = self.get_string(&self.keys.token(token)).await? else {
            return Ok(None);
        };
        Ok(self
            .find_observation(&endpoint, token)
            .await?
            .map(|(_, o)| o))
    }

    /// The endpoint's observation with this token, raw and decoded, checked
    /// to really be that endpoint's (rule 3: index hits are verified).
    async fn find_observation(
        &self,
        endpoint: &str,
        token: &[u8],
    ) -> Result<Option<(String, Observation)>> {
        if validate::endpoint(endpoint).is_err() {
            return Ok(None);
        }
        let key = self.keys.observations(endpoint);
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(hex::encode(token))
            .query_async(&mut self.conn())
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let observation: Observation = decode(&key, &raw)?;
        Ok(
            (observation.endpoint == endpoint && observation.token == token)
                .then_some((raw, observation)),
        )
    }

    pub(super) async fn record_notification_impl(
        &self,
        endpoint: &str,
        token: &[u8],
        seq: u32,
        now_ms: i64,
    ) -> Result<Option<Freshness>> {
        validate::endpoint(endpoint)?;
        validate::token(token)?;
        for _ in 0..self.config.max_cas_attempts {
            let Some((raw, observation)) = self.find_observation(endpoint, token).await? else {
                return Ok(None);
            };
            let Some(next) = observation.notified(seq, now_ms) else {
                return Ok(Some(Freshness::Stale));
            };
            let stored: i64 = scripts::OBSERVATION_CAS
                .key(self.keys.observations(endpoint))
                .arg(hex::encode(token))
                .arg(&raw)
                .arg(serde_json::to_string(&next)?)
                .invoke_async(&mut self.conn())
                .await?;
            if stored == 1 {
                return Ok(Some(Freshness::Fresh));
            }
        }
        Err(self.contention(endpoint))
    }
}
