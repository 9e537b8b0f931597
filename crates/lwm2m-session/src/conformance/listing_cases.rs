//! Conformance cases: paging through all registrations.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{sample_registration, Harness};
use crate::store::SessionStore;

/// Every endpoint of the listing, following cursors; panics on duplicates.
async fn list_all(s: &dyn SessionStore, limit: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = s.list(cursor, limit).await.unwrap();
        assert!(page.items.len() <= limit.max(1));
        for r in page.items {
            assert!(
                seen.insert(r.endpoint.clone()),
                "{} listed twice",
                r.endpoint
            );
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
    panic!("listing did not finish");
}

/// Pages of any size cover every registration exactly once.
pub async fn list_pages_cover_everything_once(h: Arc<dyn Harness>) {
    let s = h.open().await;
    assert!(s.list(None, 10).await.unwrap().items.is_empty());
    let expected: BTreeSet<String> = (0..57).map(|i| format!("node/{i}:é{{x}}")).collect();
    for ep in &expected {
        s.register(sample_registration(ep, 1_000)).await.unwrap();
    }
    for limit in [1, 10, 56, 57, 1_000] {
        assert_eq!(list_all(s.as_ref(), limit).await, expected, "limit {limit}");
    }
    // Another node can continue a listing a first node started.
    let first = s.list(None, 20).await.unwrap();
    let rest = h.open().await.list(first.next_cursor, 1_000).await.unwrap();
    assert_eq!(first.items.len() + rest.items.len(), 57);
    assert!(rest.next_cursor.is_none());
}

/// De-registered and expired endpoints are not listed.
pub async fn list_skips_deregistered(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let keep = sample_registration("keep", 1_000);
    let leave = sample_registration("leave", 1_000);
    let mut expire = sample_registration("expire", 1_000);
    expire.expires_at_ms = 5_000;
    for r in [&keep, &leave, &expire] {
        s.register(r.clone()).await.unwrap();
    }
    s.deregister(&leave.registration_id).await.unwrap().unwrap();
    assert_eq!(s.take_expired(5_000, 10).await.unwrap().len(), 1);
    assert_eq!(
        list_all(s.as_ref(), 1).await,
        BTreeSet::from(["keep".to_owned()])
    );
}
