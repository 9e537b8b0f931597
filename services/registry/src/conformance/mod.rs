//! The behaviour every registry database must have, as one test suite run
//! against PostgreSQL and SQLite alike.
//!
//! Cases are plain async functions over a [`Harness`] (a fresh, empty
//! database); [`registry_conformance_suite!`](crate::registry_conformance_suite)
//! turns them into one `#[tokio::test]` each. The cases go through the
//! service layer ([`Registry`]), so they cover the SQL, the validation and
//! the change events together. This crate runs the suite on both
//! databases (`store::sql::tests`); other crates can with the `testing` feature.
//!
//! This is test-support code: assertions (and so panics) are its purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod csv_cases;
mod device_cases;
pub mod fixtures;
mod harness;
mod model_cases;
mod profile_cases;
mod tenant_cases;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

pub use csv_cases::*;
pub use device_cases::*;
pub use harness::{PostgresHarness, SqliteHarness, POSTGRES_URL_VAR};
pub use model_cases::*;
pub use profile_cases::*;
pub use tenant_cases::*;

use crate::change_feed::BroadcastFeed;
use crate::service::{Limits, Registry};
use crate::store::sql::PoolConfig;

/// One isolated, empty database for one test case.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// Where the database is (migrated or not).
    fn database_url(&self) -> String;
    /// Removes the database (runs even if the case panicked).
    async fn cleanup(&self);
}

/// A registry on the harness' database, as a starting replica opens it:
/// migrated, built-in models seeded, an in-process change feed.
pub async fn open(harness: &dyn Harness) -> Registry {
    Registry::connect(
        &harness.database_url(),
        &PoolConfig {
            max_connections: 5,
            ..PoolConfig::default()
        },
        true,
        Arc::new(BroadcastFeed::default()),
        Limits::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("opening the registry: {e}"))
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
/// expression evaluating to a future of a fresh [`Harness`], evaluated once
/// per test. The calling crate needs `tokio` (macros, multi-threaded runtime).
#[macro_export]
macro_rules! registry_conformance_suite {
    ($make:expr) => {
        $crate::registry_conformance_suite!(@cases $make;
            tenant_lifecycle,
            tenant_pages_cover_everything_once,
            auto_provisioning_follows_the_tenant,
            whole_oma_registry_imports,
            broken_upload_imports_nothing,
            tenant_overrides_and_deletion_rules,
            model_listing_filters_and_pages,
            announced_objects_without_models_are_recorded,
            profile_lifecycle,
            profile_validation_names_every_field,
            generated_keys_stay_unique,
            device_lifecycle_and_paging,
            credentials_of_every_mode,
            duplicates_are_refused_across_tenants,
            lookups_and_change_events,
            concurrent_writers_all_succeed,
            csv_good_and_bad_rows_then_idempotent_reupload,
            csv_updates_only_when_asked,
            csv_limits_and_file_faults,
            bulk_import_repository_contract,
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
