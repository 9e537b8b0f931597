//! Backend-independent conformance suite for [`SessionStore`].
//!
//! Every backend must behave the same, because the transport is written
//! against the trait and a deployment switches backends by configuration.
//! The cases are plain async functions over a [`Harness`]; the
//! [`conformance_suite!`](crate::conformance_suite) macro turns them into
//! one `#[tokio::test]` each for a given backend. Both backends of this
//! crate run it (the Redis one against a real Redis); another crate can run
//! it on its own backend with the `testing` feature.
//!
//! This is test-support code: assertions (and so panics) are its purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster_cases;
mod expiry_cases;
mod listing_cases;
mod observation_cases;
mod registration_cases;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use lwm2m_core::Version;

use crate::observation::Observation;
use crate::registration::{generate_registration_id, ObjectEntry, Registration};
use crate::store::SessionStore;

pub use cluster_cases::*;
pub use expiry_cases::*;
pub use listing_cases::*;
pub use observation_cases::*;
pub use registration_cases::*;

/// One isolated backend instance for one test case.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// A store handle on the harness' shared state, as a freshly started
    /// node would open it. Several handles act as several nodes.
    async fn open(&self) -> Arc<dyn SessionStore>;
    /// A cluster-membership handle on the same shared state (each call: a
    /// node of its own).
    async fn open_cluster(&self) -> Arc<dyn crate::cluster::ClusterStore>;
    /// Removes whatever the case stored (runs even if the case panicked).
    async fn cleanup(&self);
}

/// Runs one case and always cleans up, re-raising the case's panic.
pub async fn run<F, Fut>(harness: Arc<dyn Harness>, case: F)
where
    F: FnOnce(Arc<dyn Harness>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let result = tokio::spawn(case(harness.clone())).await;
    harness.cleanup().await;
    if let Err(e) = result {
        match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("case did not finish: {e}"),
        }
    }
}

/// Generates one `#[tokio::test]` per conformance case. `$make` is an
/// expression evaluating to a future of a fresh [`Harness`]; it is
/// evaluated once per test. The calling crate needs `tokio` (macros,
/// multi-threaded runtime).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            register_and_lookup,
            reregistration_replaces_and_cancels_observations,
            update_applies_fields_and_moves_expiry,
            update_of_unknown_id_is_none,
            concurrent_writers_lose_nothing,
            nat_rebinding_follows_the_device,
            deregister_removes_everything,
            input_limits_are_enforced,
            state_survives_node_restart,
            expiry_is_claimed_exactly_once,
            expiry_spares_renewed_registrations,
            expiry_takes_observations_along,
            observation_lifecycle,
            observation_requires_current_registration,
            an_observed_path_is_observed_once,
            token_is_unique_across_endpoints,
            notification_freshness_is_shared,
            list_pages_cover_everything_once,
            list_skips_deregistered,
            node_ids_are_never_held_twice,
            racing_nodes_get_distinct_ids,
            a_lapsed_lease_can_be_taken,
            parked_sessions_go_to_the_next_holder_once,
            reservations_are_written_only_by_the_lease_holder,
            an_adopted_id_goes_back_to_its_own_node,
            adoptions_neither_starve_new_nodes_nor_take_empty_ids,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $make.await;
                $crate::conformance::run(
                    ::std::sync::Arc::new(harness),
                    $crate::conformance::$case,
                )
                .await;
            }
        )*
    };
}

/// A registration of `endpoint` made at `now_ms` with a 60 s lifetime and
/// no grace, with a fresh registration id.
pub fn sample_registration(endpoint: &str, now_ms: i64) -> Registration {
    Registration {
        endpoint: endpoint.to_owned(),
        registration_id: generate_registration_id(),
        tenant: Some("acme".into()),
        lwm2m_version: Version::V1_1,
        lifetime_s: 60,
        binding: "U".into(),
        queue_mode: false,
        sms: None,
        awake_time_s: None,
        root_path: "/".into(),
        supported_formats: vec![11542, 11543],
        objects: BTreeMap::from([
            (
                1,
                ObjectEntry {
                    version: Version::V1_1,
                    instances: vec![0],
                },
            ),
            (
                3,
                ObjectEntry {
                    version: Version::V1_0,
                    instances: vec![0],
                },
            ),
        ]),
        address: "192.0.2.1:5683".into(),
        node_id: "node-a".into(),
        registered_at_ms: now_ms,
        last_update_ms: now_ms,
        last_seen_ms: now_ms,
        expires_at_ms: Registration::expiry(now_ms, 60, 0),
        revision: 0,
    }
}

/// A single-path observation of `/3/0/9` under `reg`.
pub fn sample_observation(reg: &Registration, token: &[u8]) -> Observation {
    Observation {
        token: token.to_vec(),
        endpoint: reg.endpoint.clone(),
        registration_id: reg.registration_id.clone(),
        paths: vec!["/3/0/9".into()],
        composite: false,
        content_format: Some(11542),
        created_at_ms: reg.last_update_ms,
        last_seq: None,
        last_notification_ms: None,
        context: BTreeMap::from([("requested_by".into(), "test".into())]),
    }
}
