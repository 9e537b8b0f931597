//! The conformance suite against a real Redis, plus what only the Redis
//! layout can get wrong: stale index entries, abandoned sweeps.
//!
//! Each case uses its own random prefix and deletes it afterwards, so cases
//! run in parallel with each other and with other users of the same Redis.
//! `LWM2M_TEST_REDIS_URL` overrides `redis://127.0.0.1:6379`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{scripts, RedisStore, RedisStoreConfig};
use crate::conformance::{sample_observation, sample_registration, Harness};
use crate::store::SessionStore;

fn redis_url() -> String {
    std::env::var("LWM2M_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

struct RedisHarness {
    config: RedisStoreConfig,
    store: RedisStore,
}

impl RedisHarness {
    async fn new() -> Self {
        let prefix = format!("lwm2m-test-{}", uuid::Uuid::new_v4().simple());
        let config = RedisStoreConfig::new(redis_url()).with_prefix(prefix);
        let store = RedisStore::connect_with(config.clone()).await.unwrap();
        RedisHarness { config, store }
    }
}

#[async_trait]
impl Harness for RedisHarness {
    /// A new connection and store, as a freshly started node would make.
    async fn open(&self) -> Arc<dyn SessionStore> {
        Arc::new(RedisStore::connect_with(self.config.clone()).await.unwrap())
    }

    async fn open_cluster(&self) -> Arc<dyn crate::cluster::ClusterStore> {
        Arc::new(RedisStore::connect_with(self.config.clone()).await.unwrap())
    }

    async fn cleanup(&self) {
        self.store.delete_everything().await.unwrap();
    }
}

crate::conformance_suite!(RedisHarness::new());

/// Runs `f` on a fresh harness and cleans up afterwards.
async fn with_store<F, Fut>(f: F)
where
    F: FnOnce(RedisStore) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let h = RedisHarness::new().await;
    let store = h.store.clone();
    crate::conformance::run(Arc::new(h), move |_| f(store)).await;
}

#[tokio::test]
async fn stale_token_index_never_returns_a_wrong_observation() {
    with_store(|s| async move {
        let a = sample_registration("a", 1_000);
        s.register(a.clone()).await.unwrap();
        s.add_observation(sample_observation(&a, &[1]))
            .await
            .unwrap();
        // Point the index at an endpoint that does not have the token, as a
        // node dying between two steps could leave it.
        let _: () = redis::cmd("SET")
            .arg(s.keys.token(&[1]))
            .arg("b")
            .query_async(&mut s.conn())
            .await
            .unwrap();
        assert_eq!(s.observation_by_token(&[1]).await.unwrap(), None);
        // The token is free again for "a" to re-add, which repairs the index.
        s.add_observation(sample_observation(&a, &[1]))
            .await
            .unwrap();
        assert_eq!(
            s.observation_by_token(&[1])
                .await
                .unwrap()
                .unwrap()
                .endpoint,
            "a"
        );
    })
    .await;
}

#[tokio::test]
async fn stale_registration_id_index_reads_as_unknown() {
    with_store(|s| async move {
        let a = sample_registration("a", 1_000);
        s.register(a.clone()).await.unwrap();
        let _: () = redis::cmd("SET")
            .arg(s.keys.registration_id("ghost"))
            .arg("a")
            .query_async(&mut s.conn())
            .await
            .unwrap();
        assert_eq!(s.get_by_registration_id("ghost").await.unwrap(), None);
        assert_eq!(s.update("ghost", Default::default()).await.unwrap(), None);
        assert_eq!(s.deregister("ghost").await.unwrap(), None);
        assert!(
            s.get_by_endpoint("a").await.unwrap().is_some(),
            "the real one is untouched"
        );
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_sweep_is_taken_over_after_its_lease() {
    with_store(|s| async move {
        let reg = sample_registration("orphan", 0); // expires at 60 000
        s.register(reg.clone()).await.unwrap();
        // A sweep claims the endpoint, then its node dies.
        let shard = s.keys.shard_of("orphan");
        let claimed: Vec<String> = scripts::CLAIM
            .key(s.keys.expiry(shard))
            .key(s.keys.claims(shard))
            .arg(70_000)
            .arg(70_000 + s.config.claim_lease_ms)
            .arg(10)
            .arg("dead-sweep")
            .invoke_async(&mut s.conn())
            .await
            .unwrap();
        assert_eq!(claimed, vec!["orphan".to_owned()]);
        // Within the lease nobody else takes it ...
        assert!(s.take_expired(70_001, 10).await.unwrap().is_empty());
        // ... afterwards someone does, exactly once.
        let later = 70_000 + s.config.claim_lease_ms;
        assert_eq!(s.take_expired(later, 10).await.unwrap().len(), 1);
        assert!(s.take_expired(later, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn deregistered_endpoints_leave_the_indexes_at_the_next_sweep() {
    with_store(|s| async move {
        let reg = sample_registration("gone", 0);
        s.register(reg.clone()).await.unwrap();
        s.deregister(&reg.registration_id).await.unwrap().unwrap();
        let shard = s.keys.shard_of("gone");
        let card = |key: String| {
            let s = s.clone();
            async move {
                let n: i64 = redis::cmd("ZCARD")
                    .arg(key)
                    .query_async(&mut s.conn())
                    .await
                    .unwrap();
                n
            }
        };
        assert_eq!(card(s.keys.endpoints(shard)).await, 1, "left for the sweep");
        assert!(s
            .take_expired(reg.expires_at_ms, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(card(s.keys.endpoints(shard)).await, 0);
        assert_eq!(card(s.keys.expiry(shard)).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_registration_racing_a_sweep_keeps_its_index_entry() {
    with_store(|s| async move {
        // Old registration expired, the sweep claims it and finds it gone
        // (de-registered) while a new Register of the endpoint runs.
        let old = sample_registration("racer", 0);
        s.register(old.clone()).await.unwrap();
        s.deregister(&old.registration_id).await.unwrap();
        let fresh = sample_registration("racer", 100_000);
        let sweep = s.take_expired(100_000, 10);
        let register = s.register(fresh.clone());
        let (swept, registered) = tokio::join!(sweep, register);
        registered.unwrap();
        assert!(swept.unwrap().is_empty());
        // Whatever the interleaving, the new registration still expires.
        let taken = s.take_expired(fresh.expires_at_ms, 10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0.registration_id, fresh.registration_id);
    })
    .await;
}

#[tokio::test]
async fn index_keys_expire_with_the_registration() {
    with_store(|s| async move {
        let reg = sample_registration("ttl", 1_000);
        s.register(reg.clone()).await.unwrap();
        s.add_observation(sample_observation(&reg, &[3]))
            .await
            .unwrap();
        for key in [
            s.keys.registration_id(&reg.registration_id),
            s.keys.token(&[3]),
        ] {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut s.conn())
                .await
                .unwrap();
            let max = reg.expires_at_ms - 1_000 + s.config.index_grace_ms;
            assert!(ttl > 0 && ttl <= max, "{key}: {ttl}");
        }
    })
    .await;
}

#[tokio::test]
async fn refuses_a_prefix_that_would_break_hash_tags() {
    let config = RedisStoreConfig::new(redis_url()).with_prefix("bad{prefix}");
    assert!(RedisStore::connect_with(config).await.is_err());
}
