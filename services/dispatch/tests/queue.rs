//! The durable queue with real PostgreSQL, Redis and simulated devices: a
//! sleeping queue-mode device gets its operations in creation order when it
//! wakes; an unanswered operation goes back to PENDING and is redelivered
//! after the next Register; the per-device cap, cancel and expiry; two
//! dispatch replicas racing on one device's queue deliver each operation
//! once; post-registration actions; WatchOperations.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{call_with, Setup, PATIENCE};
use futures::StreamExt;
use lwm2m_core::Version;
use lwm2m_proto::dispatch::v1::dispatch_client::DispatchClient;
use lwm2m_proto::dispatch::v1::{
    CancelOperationRequest, CommandOptions, GetOperationRequest, ListOperationsRequest, Operation,
    OperationEventKind, OperationState, PostRegistrationAction, SetPostRegistrationActionsRequest,
    WatchOperationsRequest,
};
use lwm2m_sim::{Device, QueueMode};
use serde_json::json;
use tonic::transport::Channel;

fn no_wait() -> Option<CommandOptions> {
    Some(CommandOptions {
        no_wait: true,
        ..Default::default()
    })
}

/// Queues a command without waiting; returns its operation.
async fn queue(c: &mut DispatchClient<Channel>, ep: &str, request: &str) -> Operation {
    let (_, response) = call_with(c, ep, request, no_wait()).await;
    response.operation.unwrap()
}

/// Waits (bounded by PATIENCE, never asserted on) until the operation ends.
async fn finished(c: &mut DispatchClient<Channel>, id: &str) -> Operation {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let op = c
            .get_operation(GetOperationRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner();
        let state = op.state();
        if matches!(
            state,
            OperationState::Successful | OperationState::Failed | OperationState::Cancelled
        ) {
            return op;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} still {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sleepy() -> Option<QueueMode> {
    Some(QueueMode {
        awake_time: Duration::from_millis(800),
        // Long: the test wakes the device itself.
        sleep_interval: Duration::from_secs(3600),
    })
}

async fn asleep(device: &Device) {
    device.wait_for(PATIENCE, |s| s.asleep).await.unwrap();
}

/// Dispatch considers a queue-mode device awake this long after an uplink.
fn short_awake(config: &mut lwm2m_dispatch::DispatchConfig) {
    config.default_awake_time = Duration::from_millis(300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_device_gets_its_operations_in_order_when_it_wakes() {
    let setup = Setup::start(short_awake).await;
    let dev = setup.device("q-1", Version::V1_1, sleepy()).await;
    asleep(&dev).await;
    let mut c = setup.client(0).await;
    let served = dev.status().requests_served;
    let mut ops = Vec::new();
    for zone in ["A", "B", "C"] {
        let request = json!({"method":"WriteReplace","params":{"id":"/3/0/15","value":zone}});
        ops.push(queue(&mut c, "q-1", &request.to_string()).await);
    }
    ops.push(
        queue(
            &mut c,
            "q-1",
            r#"{"method":"Read","params":{"id":"/3/0/15"}}"#,
        )
        .await,
    );
    for op in &ops {
        let now = c
            .get_operation(GetOperationRequest { id: op.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (now.state(), now.attempts),
            (OperationState::Pending, 0),
            "sent to a sleeping device"
        );
    }
    assert_eq!(dev.status().requests_served, served);

    dev.update_now().await.unwrap();
    let mut done = Vec::new();
    for op in &ops {
        done.push(finished(&mut c, &op.id).await);
    }
    for op in &done {
        assert_eq!(op.state(), OperationState::Successful, "{op:?}");
        assert_eq!(op.attempts, 1);
    }
    // Written A, B, C in order, then read: C.
    let read = done[3].result.as_ref().unwrap();
    assert_eq!(
        read.result_json,
        json!({"result":"CONTENT","value":"C"}).to_string()
    );
    assert_eq!(dev.status().requests_served, served + 4);
    let listed = c
        .list_operations(ListOperationsRequest {
            endpoint: "q-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<_> = listed.operations.iter().map(|o| o.id.clone()).collect();
    let newest_first: Vec<_> = ops.iter().rev().map(|o| o.id.clone()).collect();
    assert_eq!(listed, newest_first);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_operation_waits_for_the_next_registration() {
    let setup = Setup::start(|_| {}).await;
    let mut dev = setup.device("gone-1", Version::V1_1, None).await;
    let mut c = setup.client(0).await;
    // The device disappears without de-registering.
    dev.shutdown(false).await;
    let options = Some(CommandOptions {
        timeout_ms: 1_000,
        wait_ms: 2_500,
        ..Default::default()
    });
    let (r, response) = call_with(
        &mut c,
        "gone-1",
        r#"{"method":"Read","params":{"id":"/3/0/9"}}"#,
        options,
    )
    .await;
    let op = response.operation.unwrap();
    // The call's wait (2.5 s) outlasts the one attempt (1 s timeout): the
    // operation is back to PENDING and stays there while the device is away.
    assert_eq!(r["result"], "PENDING", "{r}");
    assert_eq!((op.state(), op.attempts), (OperationState::Pending, 1));

    // Back: a new registration delivers it.
    let dev = setup.device_again("gone-1", Version::V1_1).await;
    let op = finished(&mut c, &op.id).await;
    assert_eq!(op.state(), OperationState::Successful, "{op:?}");
    assert_eq!(op.attempts, 2);
    drop(dev);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_cancel_and_expiry() {
    let setup = Setup::start(|c| {
        short_awake(c);
        c.max_pending_per_device = 2;
        c.pending_expiry = Duration::from_secs(2);
    })
    .await;
    let dev = setup.device("cap-1", Version::V1_1, sleepy()).await;
    asleep(&dev).await;
    let mut c = setup.client(0).await;
    let read = r#"{"method":"Read","params":{"id":"/3/0/9"}}"#;
    let first = queue(&mut c, "cap-1", read).await;
    let second = queue(&mut c, "cap-1", read).await;
    let e = c
        .call(lwm2m_proto::dispatch::v1::CallRequest {
            endpoint: "cap-1".into(),
            request_json: read.into(),
            options: no_wait(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    assert!(
        e.message().contains("2 pending operations"),
        "{}",
        e.message()
    );

    let cancelled = c
        .cancel_operation(CancelOperationRequest {
            id: second.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state(), OperationState::Cancelled);
    let again = c
        .cancel_operation(CancelOperationRequest {
            id: second.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    let third = queue(&mut c, "cap-1", read).await;

    // Nobody wakes the device: both expire.
    for id in [&first.id, &third.id] {
        let op = finished(&mut c, id).await;
        assert_eq!(op.state(), OperationState::Failed);
        assert_eq!(op.result.unwrap().code_name, "EXPIRED");
    }
    let unknown = c
        .cancel_operation(CancelOperationRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    setup.stop().await;
}

/// Two replicas on one PostgreSQL and one Redis, both hearing the wake-up,
/// race on one device's queue: every operation reaches the device once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_deliver_an_operation_twice() {
    let mut setup = Setup::start(short_awake).await;
    setup.add_replica(short_awake).await;
    let dev = setup.device("race-1", Version::V1_1, sleepy()).await;
    asleep(&dev).await;
    let mut clients = [setup.client(0).await, setup.client(1).await];
    let served = dev.status().requests_served;
    let mut ops = Vec::new();
    for i in 0..8 {
        let request =
            json!({"method":"WriteReplace","params":{"id":"/3/0/15","value":format!("v{i}")}});
        ops.push(queue(&mut clients[i % 2], "race-1", &request.to_string()).await);
    }
    ops.push(
        queue(
            &mut clients[0],
            "race-1",
            r#"{"method":"Read","params":{"id":"/3/0/15"}}"#,
        )
        .await,
    );
    dev.update_now().await.unwrap();
    let mut last = None;
    for op in &ops {
        let op = finished(&mut clients[1], &op.id).await;
        assert_eq!(
            (op.state(), op.attempts),
            (OperationState::Successful, 1),
            "{op:?}"
        );
        last = op.result.map(|r| r.result_json);
    }
    assert_eq!(
        last.unwrap(),
        json!({"result":"CONTENT","value":"v7"}).to_string()
    );
    // Exactly one request per operation reached the device.
    assert_eq!(dev.status().requests_served, served + ops.len() as u64);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_registration_actions_and_watch() {
    let setup = Setup::start(|_| {}).await;
    let mut c = setup.client(0).await;
    let set = c
        .set_post_registration_actions(SetPostRegistrationActionsRequest {
            tenant: String::new(),
            actions: vec![
                PostRegistrationAction {
                    method: "WriteReplace".into(),
                    params_json: r#"{"id":"/3/0/15","value":"post"}"#.into(),
                },
                PostRegistrationAction {
                    method: "read".into(),
                    params_json: r#"{"id":"/3/0/15"}"#.into(),
                },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.actions[1].method, "Read");
    let bad = c
        .set_post_registration_actions(SetPostRegistrationActionsRequest {
            tenant: String::new(),
            actions: vec![PostRegistrationAction {
                method: "Reboot".into(),
                params_json: String::new(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);

    let mut watch = c
        .watch_operations(WatchOperationsRequest {
            endpoint: Some("post-1".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let dev = setup.device("post-1", Version::V1_1, None).await;
    // created, executing, successful for each of the two actions, in order.
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = tokio::time::timeout(PATIENCE, watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let kind = event.kind();
        let op = event.operation.unwrap();
        assert!(op.post_registration);
        seen.push((op.method.clone(), kind));
    }
    use OperationEventKind::{Created, Executing, Successful};
    let kinds: Vec<_> = seen.iter().map(|(_, k)| *k).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == Created).count(),
        2,
        "{seen:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == Successful).count(),
        2,
        "{seen:?}"
    );
    assert!(kinds.contains(&Executing));
    let listed = c
        .list_operations(ListOperationsRequest {
            endpoint: "post-1".into(),
            states: vec![OperationState::Successful as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let read = listed
        .operations
        .iter()
        .find(|o| o.method == "Read")
        .unwrap();
    assert_eq!(
        read.result.as_ref().unwrap().result_json,
        json!({"result":"CONTENT","value":"post"}).to_string()
    );
    drop(dev);
    setup.stop().await;
}

/// A PSM device (no queue mode: its binding says nothing) is reachable only
/// for the profile's activity timer after an uplink; an eDRX device always,
/// with its cycle added to the device timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psm_and_edrx_profiles_shape_delivery() {
    use lwm2m_registry::profile::{PowerMode, PowerSettings};
    let setup = Setup::start(|_| {}).await;
    setup
        .set_power(PowerSettings {
            mode: Some(PowerMode::Psm),
            psm_activity_timer_ms: Some(1_000),
            ..Default::default()
        })
        .await;
    let dev = setup.device("psm-1", Version::V1_1, None).await;
    // Past the activity timer: the radio is off, whatever the binding says.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut c = setup.client(0).await;
    let served = dev.status().requests_served;
    let op = queue(
        &mut c,
        "psm-1",
        r#"{"method":"Read","params":{"id":"/3/0/9"}}"#,
    )
    .await;
    // Give a wrong delivery every chance to happen (the sweeper runs every 200 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let now = c
        .get_operation(GetOperationRequest { id: op.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((now.state(), now.attempts), (OperationState::Pending, 0));
    assert_eq!(
        dev.status().requests_served,
        served,
        "sent outside the PSM window"
    );
    dev.update_now().await.unwrap();
    assert_eq!(
        finished(&mut c, &op.id).await.state(),
        OperationState::Successful
    );

    setup
        .set_power(PowerSettings {
            mode: Some(PowerMode::EDrx),
            edrx_cycle_ms: Some(5_120),
            paging_transmission_window_ms: Some(1_280),
            ..Default::default()
        })
        .await;
    // Dispatch caches the profile until the registry's change reaches it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, response) = call_with(
            &mut c,
            "psm-1",
            r#"{"method":"Read","params":{"id":"/3/0/9"}}"#,
            Some(CommandOptions {
                timeout_ms: 1_000,
                ..Default::default()
            }),
        )
        .await;
        let op = response.operation.unwrap();
        assert_eq!(op.state(), OperationState::Successful);
        if op.timeout_ms == 6_120 {
            break; // the eDRX cycle is added to the timeout
        }
        assert_eq!(op.timeout_ms, 1_000, "before the change: as asked");
        assert!(
            tokio::time::Instant::now() < deadline,
            "profile change never seen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(dev);
    setup.stop().await;
}
