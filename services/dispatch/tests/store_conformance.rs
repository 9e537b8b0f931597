//! The operation-store conformance suite on both databases: SQLite (a temp
//! file) and PostgreSQL (a fresh database per case on the test server).

mod sqlite {
    lwm2m_dispatch::dispatch_store_suite!(
        lwm2m_dispatch::store::conformance::SqliteHarness::new().await
    );
}

mod postgres {
    lwm2m_dispatch::dispatch_store_suite!(
        lwm2m_dispatch::store::conformance::PostgresHarness::new().await
    );
}
