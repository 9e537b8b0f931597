//! A fleet of devices from one process: each has its own socket, all
//! register, shared statistics add up, and shutdown de-registers them.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use lwm2m_coap::{Request, ResponseCode};
use lwm2m_sim::{Fleet, FleetConfig, Operation};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn fifty_devices_register_and_deregister() {
    let mut server = TestServer::start().await;
    let count = 50;
    let config = FleetConfig {
        device: server.device_config("unused"),
        count,
        prefix: "fleet-".into(),
        ramp_up: Duration::from_millis(200),
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(config).await.unwrap();
    assert_eq!(fleet.len(), count);
    assert!(
        server
            .run_until(WAIT, |s| s.registrations.len() == count)
            .await
    );
    let names: BTreeSet<_> = server
        .registrations
        .iter()
        .map(|r| r.parsed.endpoint.clone())
        .collect();
    assert_eq!(names.len(), count);
    assert!(names.contains("fleet-0001") && names.contains("fleet-0050"));
    let ports: BTreeSet<_> = server.registrations.iter().map(|r| r.peer.port()).collect();
    assert_eq!(ports.len(), count, "one socket per device");

    // wait_registered needs the devices' view; serve while waiting.
    let served = server.run_until(Duration::from_millis(300), |_| false);
    let (_, registered) = tokio::join!(served, fleet.wait_registered(WAIT));
    registered.unwrap();
    assert_eq!(fleet.registered(), count);

    let peer = server.peer_of("fleet-0007");
    let r = server.request(peer, Request::get("/3/0/0")).await;
    assert_eq!(r.code, ResponseCode::CONTENT);
    let stats = fleet.stats();
    assert_eq!(stats.registered_now, count as u64);
    assert_eq!(stats.registrations, count as u64);
    assert_eq!(stats.served(Operation::Read), 1);

    let shutdown = tokio::spawn(fleet.shutdown(true));
    assert!(
        server
            .run_until(WAIT, |s| s.deregistrations.len() == count)
            .await
    );
    let stats = shutdown.await.unwrap();
    assert_eq!(stats.deregistrations, count as u64);
    assert_eq!(stats.registered_now, 0);
}

/// Scale check: 1,000 devices, one socket each, from one process. Ignored by
/// default because it takes a few seconds; run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_thousand_devices() {
    let mut server = TestServer::start().await;
    let count = 1000;
    let mut device = server.device_config("unused");
    device.value_change_interval = Some(Duration::from_secs(5));
    device.ack_timeout = Duration::from_secs(2);
    let config = FleetConfig {
        device,
        count,
        ramp_up: Duration::from_secs(1),
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(config).await.unwrap();
    assert!(
        server
            .run_until(Duration::from_secs(30), |s| s.registrations.len() == count)
            .await
    );
    let started = std::time::Instant::now();
    server.run_for(Duration::from_secs(2)).await;
    assert_eq!(fleet.stats().registered_now, count as u64);
    assert!(started.elapsed() < Duration::from_secs(4));
    let shutdown = tokio::spawn(fleet.shutdown(true));
    assert!(
        server
            .run_until(Duration::from_secs(30), |s| s.deregistrations.len()
                == count)
            .await
    );
    let stats = shutdown.await.unwrap();
    assert_eq!(stats.deregistrations, count as u64);
}

#[tokio::test]
async fn a_gated_fleet_registers_only_after_the_gate_opens_and_records_latencies() {
    let mut server = TestServer::start().await;
    let count = 20;
    let config = FleetConfig {
        device: server.device_config("unused"),
        count,
        prefix: "gated-".into(),
        ..FleetConfig::default()
    };
    let (fleet, gate) = Fleet::start_gated(config, Some(4)).await.unwrap();
    assert!(
        !server
            .run_until(Duration::from_millis(300), |s| !s.registrations.is_empty())
            .await,
        "nobody registers before the gate opens"
    );
    gate.open();
    assert!(
        server
            .run_until(WAIT, |s| s.registrations.len() == count)
            .await
    );
    let served = server.run_until(Duration::from_millis(300), |_| false);
    let (_, registered) = tokio::join!(served, fleet.wait_registered(WAIT));
    registered.unwrap();
    let latencies = fleet.stats_handle().register_latencies();
    assert_eq!(latencies.len(), count, "one latency per registration");
    assert!(latencies.iter().all(|l| *l < WAIT));
    let stats = fleet.shutdown(false).await;
    assert_eq!((stats.errors, stats.retransmissions), (0, 0));
}
