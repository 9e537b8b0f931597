//! The conformance suite on both databases, and what only PostgreSQL has:
//! replicas migrating at once.

mod sqlite {
    crate::registry_conformance_suite!(crate::conformance::SqliteHarness::new());
}

mod postgres {
    #![allow(clippy::unwrap_used)]

    use crate::conformance::{Harness, PostgresHarness};
    use crate::store::sql::migrate;

    crate::registry_conformance_suite!(PostgresHarness::new());

    /// Replicas starting together: the advisory lock makes them take turns,
    /// so one applies the migrations and the others find nothing to do.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_migrating_at_once_apply_each_migration_once() {
        let harness = PostgresHarness::new().await;
        let url = harness.database_url();
        let runs = (0..4).map(|_| migrate::run(&url));
        let reports = futures::future::join_all(runs).await;
        harness.cleanup().await;
        let reports: Vec<migrate::MigrationReport> =
            reports.into_iter().map(Result::unwrap).collect();
        let mut applied: Vec<i64> = reports.iter().flat_map(|r| r.applied.clone()).collect();
        applied.sort_unstable();
        // Every migration of the stream exactly once, whichever replica ran it.
        let expected: Vec<i64> = migrate::postgres_versions().collect();
        assert!(!expected.is_empty());
        assert_eq!(applied, expected, "{reports:?}");
        let last = expected.last().copied();
        assert!(reports.iter().all(|r| r.current == last), "{reports:?}");
    }
}
