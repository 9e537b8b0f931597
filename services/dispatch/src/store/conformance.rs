//! What every operation store must do, as one suite run against SQLite and
//! PostgreSQL alike (each case on a fresh database from the registry's
//! harnesses). [`dispatch_store_suite!`](crate::dispatch_store_suite) makes
//! one `#[tokio::test]` per case.
//!
//! Test-support code: assertions (and so panics) are its purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

pub use lwm2m_registry::conformance::{Harness, PostgresHarness, SqliteHarness};

use super::{
    Created, DeviceKey, ListFilter, NewOperation, OperationRecord, OperationStore, StoredAction,
};
use crate::error::Error;
use crate::lifecycle::{State, Transition};
use crate::render::Outcome;

/// A migrated store on the harness' database.
pub async fn open(harness: &dyn Harness) -> super::SqlOperationStore {
    let url = harness.database_url();
    crate::migrate(&url).await.unwrap();
    super::SqlOperationStore::connect(&url, 5).await.unwrap()
}

/// Runs `case` on a fresh database and always cleans up.
pub async fn run<F, Fut>(harness: Arc<dyn Harness>, case: F)
where
    F: FnOnce(Arc<dyn OperationStore>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let store: Arc<dyn OperationStore> = Arc::new(open(harness.as_ref()).await);
    let result = tokio::spawn(case(store.clone())).await;
    store.close().await;
    harness.cleanup().await;
    if let Err(e) = result {
        match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("case did not finish: {e}"),
        }
    }
}

pub fn dev(endpoint: &str) -> DeviceKey {
    DeviceKey::new("t1", endpoint)
}

pub fn new_op(id: &str, device: &DeviceKey, now: i64) -> NewOperation {
    NewOperation {
        id: id.to_owned(),
        device: device.clone(),
        method: "Read".into(),
        params_json: r#"{"id":"/3/0/9"}"#.into(),
        action_json: "{}".into(),
        timeout_ms: 1_000,
        post_registration: false,
        created_at_ms: now,
        expires_at_ms: now + 60_000,
    }
}

async fn create(
    store: &dyn OperationStore,
    id: &str,
    device: &DeviceKey,
    now: i64,
) -> OperationRecord {
    match store.create(new_op(id, device, now), 10).await.unwrap() {
        Created::New(r) => r,
        Created::Existing(r) => panic!("{id} existed: {r:?}"),
    }
}

fn ok() -> Outcome {
    Outcome {
        code: "2.05".into(),
        code_name: "CONTENT".into(),
        value: Some(serde_json::json!(75)),
        ..Default::default()
    }
}

pub async fn created_operations_are_pending_and_read_back(store: Arc<dyn OperationStore>) {
    let d = dev("a");
    let op = create(store.as_ref(), "op1", &d, 1_000).await;
    assert_eq!(op.state, State::Pending);
    assert_eq!((op.attempts, op.owner.clone()), (0, None));
    assert_eq!(store.get("op1").await.unwrap(), Some(op.clone()));
    assert_eq!(store.get("nope").await.unwrap(), None);
    // The same id again is not a second operation.
    match store.create(new_op("op1", &d, 2_000), 10).await.unwrap() {
        Created::Existing(r) => assert_eq!(r, op),
        other => panic!("{other:?}"),
    }
}

pub async fn the_pending_cap_refuses_the_next_operation(store: Arc<dyn OperationStore>) {
    let d = dev("capped");
    for i in 0..3 {
        store
            .create(new_op(&format!("c{i}"), &d, 1), 3)
            .await
            .unwrap();
    }
    let e = store.create(new_op("c3", &d, 1), 3).await.unwrap_err();
    assert!(matches!(e, Error::TooManyPending { cap: 3, .. }), "{e}");
    // Other devices are not affected; a finished operation frees a slot.
    store
        .create(new_op("other", &dev("b"), 1), 3)
        .await
        .unwrap();
    let claimed = store.claim_next(&d, "r1", 2).await.unwrap().unwrap();
    store
        .finish(&claimed.id, "r1", Transition::Succeed, Some(&ok()), 3)
        .await
        .unwrap()
        .unwrap();
    store.create(new_op("c3", &d, 4), 3).await.unwrap();
}

/// Creations racing on several connections never exceed the cap: the
/// count and the insert must be one step per device.
pub async fn racing_creations_respect_the_pending_cap(store: Arc<dyn OperationStore>) {
    let d = dev("raced");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            store.create(new_op(&format!("r{i}"), &d, 1), 3).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Created::New(_)) => created += 1,
            Ok(other) => panic!("{other:?}"),
            Err(Error::TooManyPending { cap: 3, .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 3);
    let page = store
        .list(&ListFilter {
            tenant: d.tenant.clone(),
            endpoint: Some(d.endpoint.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.operations.len(), 3);
}

pub async fn claims_go_in_creation_order_one_at_a_time(store: Arc<dyn OperationStore>) {
    let d = dev("ordered");
    for id in ["o1", "o2", "o3"] {
        create(store.as_ref(), id, &d, 1).await;
    }
    assert_eq!(store.next_pending(&d).await.unwrap().unwrap().id, "o1");
    let first = store.claim_next(&d, "r1", 10).await.unwrap().unwrap();
    assert_eq!(
        (first.id.as_str(), first.state, first.attempts),
        ("o1", State::Executing, 1)
    );
    assert_eq!(first.owner.as_deref(), Some("r1"));
    // One in flight per device: nothing more until o1 ends.
    assert_eq!(store.claim_next(&d, "r2", 11).await.unwrap(), None);
    // No answer: back to PENDING, and it is still first in line.
    let back = store
        .finish("o1", "r1", Transition::Requeue, None, 12)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.state, State::Pending);
    assert_eq!(store.next_pending(&d).await.unwrap().unwrap().id, "o1");
    let again = store.claim_next(&d, "r2", 13).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("o1", 2));
    store
        .finish("o1", "r2", Transition::Succeed, Some(&ok()), 14)
        .await
        .unwrap()
        .unwrap();
    let next = store.claim_next(&d, "r1", 15).await.unwrap().unwrap();
    assert_eq!(next.id, "o2");
}

pub async fn only_the_owner_finishes_and_only_once(store: Arc<dyn OperationStore>) {
    let d = dev("owned");
    create(store.as_ref(), "x", &d, 1).await;
    store.claim_next(&d, "r1", 2).await.unwrap().unwrap();
    assert_eq!(
        store
            .finish("x", "r2", Transition::Succeed, Some(&ok()), 3)
            .await
            .unwrap(),
        None
    );
    let done = store
        .finish("x", "r1", Transition::Succeed, Some(&ok()), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, State::Successful);
    assert_eq!(done.outcome, Some(ok()));
    assert_eq!(done.updated_at_ms, 3);
    assert_eq!(
        store
            .finish("x", "r1", Transition::Fail, None, 4)
            .await
            .unwrap(),
        None
    );
}

pub async fn racing_claims_hand_out_each_operation_once(store: Arc<dyn OperationStore>) {
    let d = dev("raced");
    for i in 0..5 {
        create(store.as_ref(), &format!("r{i}"), &d, 1).await;
    }
    // Many claimers at once: exactly one wins, whatever the interleaving.
    let claims = (0..8).map(|i| {
        let store = store.clone();
        let d = d.clone();
        tokio::spawn(async move {
            store
                .claim_next(&d, &format!("replica{i}"), 5)
                .await
                .unwrap()
        })
    });
    let won: Vec<_> = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].id, "r0");
}

pub async fn cancel_only_touches_pending_operations(store: Arc<dyn OperationStore>) {
    let d = dev("cancel");
    create(store.as_ref(), "p", &d, 1).await;
    create(store.as_ref(), "q", &d, 1).await;
    let cancelled = store.cancel("q", 2).await.unwrap().unwrap();
    assert_eq!(cancelled.state, State::Cancelled);
    assert_eq!(cancelled.outcome.unwrap().code_name, "CANCELLED");
    assert_eq!(store.cancel("q", 3).await.unwrap(), None);
    store.claim_next(&d, "r", 4).await.unwrap().unwrap();
    assert_eq!(
        store.cancel("p", 5).await.unwrap(),
        None,
        "in flight: not cancellable"
    );
    assert_eq!(store.cancel("unknown", 5).await.unwrap(), None);
    // A cancelled operation is never claimed.
    store
        .finish("p", "r", Transition::Succeed, Some(&ok()), 6)
        .await
        .unwrap();
    assert_eq!(store.claim_next(&d, "r", 7).await.unwrap(), None);
}

pub async fn expiry_and_stuck_operations_fail(store: Arc<dyn OperationStore>) {
    let d = dev("sweep");
    let mut soon = new_op("soon", &d, 0);
    soon.expires_at_ms = 100;
    store.create(soon, 10).await.unwrap();
    create(store.as_ref(), "later", &dev("other"), 0).await;
    assert!(store.expire(99, 10).await.unwrap().is_empty());
    let expired = store.expire(100, 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].id.as_str(), expired[0].state),
        ("soon", State::Failed)
    );
    assert_eq!(expired[0].outcome.as_ref().unwrap().code_name, "EXPIRED");

    // "later" is claimed at 1000 with a 1000 ms timeout: stuck after 2000 + grace.
    store
        .claim_next(&dev("other"), "r", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert!(store.unstick(2_499, 500, 10).await.unwrap().is_empty());
    let stuck = store.unstick(2_500, 500, 10).await.unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].outcome.as_ref().unwrap().code_name, "STUCK");
    // Its replica cannot finish it any more.
    assert_eq!(
        store
            .finish("later", "r", Transition::Succeed, Some(&ok()), 2_600)
            .await
            .unwrap(),
        None
    );
}

pub async fn listing_pages_newest_first_by_device_and_state(store: Arc<dyn OperationStore>) {
    let (a, b) = (dev("la"), dev("lb"));
    for i in 0..5 {
        create(store.as_ref(), &format!("a{i}"), &a, i).await;
    }
    create(store.as_ref(), "b0", &b, 9).await;
    store.claim_next(&a, "r", 10).await.unwrap().unwrap();
    let mut filter = ListFilter {
        tenant: "t1".into(),
        endpoint: Some("la".into()),
        page_size: 2,
        ..Default::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = store.list(&filter).await.unwrap();
        ids.extend(page.operations.iter().map(|o| o.id.clone()));
        match page.next {
            Some(next) => filter.page_token = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, ["a4", "a3", "a2", "a1", "a0"]);
    let executing = store
        .list(&ListFilter {
            tenant: "t1".into(),
            states: vec![State::Executing],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(executing.operations.len(), 1);
    assert_eq!(executing.operations[0].id, "a0");
    let all = store
        .list(&ListFilter {
            tenant: "t1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.operations.len(), 6);
    let other_tenant = store
        .list(&ListFilter {
            tenant: "t2".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(other_tenant.operations.is_empty());
    assert!(store
        .list(&ListFilter {
            page_token: Some("x".into()),
            ..Default::default()
        })
        .await
        .is_err());
    let devices = store.devices_with_pending(10).await.unwrap();
    assert_eq!(devices, [a.clone(), b.clone()]);
}

pub async fn post_registration_actions_are_replaced_per_tenant(store: Arc<dyn OperationStore>) {
    assert!(store.actions("t1").await.unwrap().is_empty());
    let first = vec![StoredAction {
        method: "Read".into(),
        params_json: r#"{"id":"/3/0/9"}"#.into(),
    }];
    store.set_actions("t1", &first, 1).await.unwrap();
    assert_eq!(store.actions("t1").await.unwrap(), first);
    store.set_actions("t1", &[], 2).await.unwrap();
    assert!(store.actions("t1").await.unwrap().is_empty());
    assert!(store.actions("t2").await.unwrap().is_empty());
}

/// One `#[tokio::test]` per case; `$harness` makes a fresh database.
#[macro_export]
macro_rules! dispatch_store_suite {
    ($harness:expr) => {
        $crate::dispatch_store_suite!(@cases $harness;
            created_operations_are_pending_and_read_back,
            the_pending_cap_refuses_the_next_operation,
            racing_creations_respect_the_pending_cap,
            claims_go_in_creation_order_one_at_a_time,
            only_the_owner_finishes_and_only_once,
            racing_claims_hand_out_each_operation_once,
            cancel_only_touches_pending_operations,
            expiry_and_stuck_operations_fail,
            listing_pages_newest_first_by_device_and_state,
            post_registration_actions_are_replaced_per_tenant,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness: std::sync::Arc<dyn $crate::store::conformance::Harness> =
                    std::sync::Arc::new($harness);
                $crate::store::conformance::run(harness, $crate::store::conformance::$case).await;
            }
        )*
    };
}
