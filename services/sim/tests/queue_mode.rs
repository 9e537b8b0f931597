//! Queue mode (binding UQ): the device answers only while awake after a
//! Register/Update, drops requests while asleep, and wakes up with an Update.

mod support;

use std::time::Duration;

use lwm2m_coap::{Request, RequestOptions, ResponseCode};
use lwm2m_sim::{Device, QueueMode};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn sleeps_drops_requests_and_answers_after_its_update() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-queue");
    config.queue_mode = Some(QueueMode {
        awake_time: Duration::from_millis(300),
        sleep_interval: Duration::from_millis(1500),
    });
    let mut device = Device::start(config).await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    assert!(server.registrations[0].parsed.queue_mode);
    let peer = server.peer_of("sim-queue");

    // Still awake right after registering.
    let r = server.request(peer, Request::get("/3/0/0")).await;
    assert_eq!(r.code, ResponseCode::CONTENT);

    // Let it fall asleep, then a request goes unanswered.
    let run = server.run_until(WAIT, |_| false);
    let asleep = device.wait_for(WAIT, |s| s.asleep);
    let (_, asleep) = tokio::join!(run_limited(run), asleep);
    asleep.unwrap();
    let updates_before = server.updates.len();
    let lost = server
        .try_request(
            peer,
            Request::get("/3/0/0"),
            RequestOptions::con().with_timeout(Duration::from_millis(600)),
        )
        .await;
    assert!(lost.is_err(), "a sleeping device must not answer: {lost:?}");
    device
        .wait_for(WAIT, |s| s.dropped_while_asleep >= 1)
        .await
        .unwrap();

    // It wakes up with an Update and then answers.
    assert!(
        server
            .run_until(WAIT, |s| s.updates.len() > updates_before)
            .await
    );
    let r = server.request(peer, Request::get("/3/0/0")).await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    device.shutdown(false).await;
}

/// Drives the server for a while in parallel with a wait on the device.
async fn run_limited(run: impl std::future::Future<Output = bool>) {
    let _ = tokio::time::timeout(Duration::from_millis(800), run).await;
}
