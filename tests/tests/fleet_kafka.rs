//! 1,000 simulated devices through one transport node backed by real Redis
//! (`RedisStore`, unique key prefix, deleted afterwards) and a real
//! Kafka-protocol broker (`KafkaBus`, unique topics; tansu started by
//! `lwm2m_bus::testing` when no broker is given). Redis or the broker
//! missing is a test failure, not a skip.
//!
//! Scenario: register → observe `/3/0/9` on every device through the gRPC
//! `Downlink` API (bounded concurrency) → 10 value changes per device, each
//! notified exactly once (values frozen except for `set_value`, pmin 0, one
//! change per device per round, the next round only after the node
//! processed every notification of this one) → de-register. Then every
//! record of the registrations and values topics is consumed with a
//! consumer group and counted exactly, per device and in order.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lwm2m_bus::testing::{consume, create_topics, unique_topics, Received, TestBroker};
use lwm2m_bus::{decode_event, Encoding, KafkaBus, KafkaConfig, UplinkBus};
use lwm2m_core::Value;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{RegistrationKind, UplinkEvent, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::{DownlinkRequest, ObserveOperation};
use lwm2m_session::{RedisStore, SessionStore};
use lwm2m_sim::{DeviceConfig, Fleet, FleetConfig};
use lwm2m_transport::{TransportConfig, TransportDeps, TransportHandle, TransportStats};

const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The size, in `make test` (`LWM2M_FLEET_DEVICES` changes it). It
/// runs in about 40 s on the 2-core CI machine since the test harness adds
/// the index tansu 0.6's SQLite schema lacks (`lwm2m_bus::testing`): before,
/// tansu scanned every stored header once per fetched record and the
/// ~13,000 header-carrying records never came back within minutes.
const DEFAULT_DEVICES: usize = 1_000;
/// Value changes (hence notifications) per device.
const ROUNDS: i64 = 10;

static DEVICES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("LWM2M_FLEET_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DEVICES)
});
/// Battery level: an integer resource the sim only changes on `set_value`
/// when its value simulation is frozen.
const PATH: &str = "/3/0/9";
/// Round `k` sets `PATH` to `VALUE_BASE + k`, distinct from any initial level.
const VALUE_BASE: i64 = 1_000;
/// In-flight gRPC Observe calls.
const OBSERVE_CONCURRENCY: usize = 64;
const PARTITIONS: i32 = 4;
/// Safety nets, never timing assertions.
const PATIENCE: Duration = Duration::from_secs(120);
const CONSUME_TIMEOUT: Duration = Duration::from_secs(180);
/// After the expected count, keep reading this long to catch extra records.
const LINGER: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_registers_is_observed_notifies_and_deregisters_through_redis_and_kafka() {
    let started = Instant::now();
    let broker = TestBroker::start_or_reuse().await;
    let prefix = format!("test-fleet-kafka-{}", uuid::Uuid::new_v4().simple());
    let redis = Arc::new(
        RedisStore::connect(REDIS_URL, &prefix)
            .await
            .unwrap_or_else(|e| panic!("Redis at {REDIS_URL} is required for this test: {e}")),
    );
    // The scenario runs in its own task so the Redis keys are deleted even
    // when it fails; its panic is re-raised afterwards.
    let scenario = tokio::spawn(scenario(broker.brokers.clone(), redis.clone()));
    let result = scenario.await;
    let cleanup = redis.delete_everything().await;
    if let Err(e) = result {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("scenario task failed: {e}");
    }
    cleanup.unwrap_or_else(|e| panic!("cannot delete the Redis keys under {prefix}: {e}"));
    drop(broker);
    eprintln!(
        "fleet_kafka: {} devices in {:?}",
        *DEVICES,
        started.elapsed()
    );
}

async fn scenario(brokers: String, redis: Arc<RedisStore>) {
    let n = *DEVICES as u64;
    let topics = unique_topics("fleet");
    create_topics(&brokers, &topics, PARTITIONS).await;
    let bus = Arc::new(
        KafkaBus::new(KafkaConfig {
            brokers: brokers.clone(),
            topics: topics.clone(),
            encoding: Encoding::Protobuf,
            client_id: "lwm2m-fleet-kafka-test".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let sessions: Arc<dyn SessionStore> = redis;
    let handle = lwm2m_transport::start(
        TransportConfig {
            default_request_timeout: Duration::from_secs(30),
            ..TransportConfig::local()
        },
        TransportDeps {
            sessions,
            bus: bus.clone(),
            models: Arc::new(lwm2m_sim::sim_registry()),
            registry: None,
            cluster: None,
        },
        std::future::pending(),
    )
    .await
    .unwrap();

    // Register.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let fleet = Fleet::start(FleetConfig {
        device: DeviceConfig {
            server: handle.coap_addr,
            lifetime: 3_600,
            confirmable_notifications: true,
            value_change_interval: None,
            send_interval: None,
            deregister_on_shutdown: false,
            register_retry: Duration::from_secs(1),
            ..DeviceConfig::default()
        },
        count: *DEVICES,
        prefix: format!("fk{}-", &run[..6]),
        first_index: 1,
        ramp_up: Duration::from_secs(2),
    })
    .await
    .unwrap();
    fleet
        .wait_registered(PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}; node stats {:#?}", handle.stats()));
    wait_stats(&handle, "1,000 registrations", |s| {
        s.registrations == *DEVICES as u64
    })
    .await;

    // Observe every device through gRPC, bounded concurrency.
    let grpc = TransportClient::connect(format!("http://{}", handle.grpc_addr))
        .await
        .unwrap();
    let endpoints: Vec<String> = fleet
        .devices()
        .iter()
        .map(|d| d.endpoint().to_owned())
        .collect();
    let tokens: BTreeMap<String, String> = futures::stream::iter(endpoints.clone())
        .map(|endpoint| {
            let mut grpc = grpc.clone();
            async move {
                let response = grpc
                    .downlink(DownlinkRequest {
                        endpoint: endpoint.clone(),
                        tenant: String::new(),
                        timeout_ms: 30_000,
                        operation: Some(Operation::Observe(ObserveOperation {
                            path: PATH.into(),
                            content_format: None,
                            ..Default::default()
                        })),
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{endpoint}: Observe failed: {e}"))
                    .into_inner();
                assert_eq!(response.code, "2.05", "{endpoint}: {response:?}");
                assert_eq!(response.values.len(), 1, "{endpoint}: {response:?}");
                let token = response
                    .observation_token
                    .unwrap_or_else(|| panic!("{endpoint}: Observe without token"));
                (endpoint, token)
            }
        })
        .buffer_unordered(OBSERVE_CONCURRENCY)
        .collect()
        .await;
    assert_eq!(tokens.len(), *DEVICES);
    for device in fleet.devices() {
        device
            .wait_for(PATIENCE, |s| s.is_observed(PATH))
            .await
            .unwrap();
    }

    // Ten rounds of one value change per device. The next round starts only
    // when the node has decoded and published every notification of this
    // one, so no CON notification is ever replaced by a newer one in flight
    // and each change yields exactly one notification.
    for round in 1..=ROUNDS {
        for device in fleet.devices() {
            device
                .set_value(PATH, Value::Integer(VALUE_BASE + round))
                .await
                .unwrap();
        }
        let expected = *DEVICES as u64 * round as u64;
        let waited = wait_until(|| handle.stats().notifications >= expected).await;
        if !waited {
            let behind: Vec<_> = fleet
                .devices()
                .iter()
                .map(|d| d.status())
                .filter(|s| s.notifications_for(PATH) < round as u64)
                .map(|s| (s.notifications_for(PATH), s.endpoint, s.last_error))
                .take(10)
                .collect();
            panic!(
                "round {round}: node never saw {expected} notifications; stats {:#?}; \
                 devices that did not notify yet (first 10): {behind:?}",
                handle.stats()
            );
        }
    }
    for device in fleet.devices() {
        let status = device.status();
        assert_eq!(
            status.notifications_for(PATH),
            ROUNDS as u64,
            "{}: notifications sent",
            status.endpoint
        );
    }

    // De-register.
    for device in fleet.devices() {
        device.deregister().await.unwrap();
    }
    for device in fleet.devices() {
        device.wait_for(PATIENCE, |s| !s.registered).await.unwrap();
    }
    wait_stats(&handle, "1,000 de-registrations", |s| {
        s.deregistrations == *DEVICES as u64
    })
    .await;
    let sim = fleet.shutdown(false).await;
    let stats = handle.stats();
    assert_eq!(
        (
            stats.registrations,
            stats.updates,
            stats.deregistrations,
            stats.expirations,
            stats.notifications,
            stats.stale_notifications,
            stats.publish_failures,
            stats.decode_failures,
            stats.store_errors,
        ),
        (n, 0, n, 0, n * ROUNDS as u64, 0, 0, 0, 0),
        "node stats {stats:#?}"
    );
    eprintln!("sim: {sim}");
    assert_eq!(
        (
            sim.registrations,
            sim.updates,
            sim.deregistrations,
            sim.notifications_con,
            sim.notifications_non,
        ),
        (n, 0, n, n * ROUNDS as u64, 0),
        "sim stats {sim:?}"
    );

    bus.flush(Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}; bus stats {:?}", bus.stats()));
    let bus_stats = bus.stats();
    assert_eq!(
        (bus_stats.failed, bus_stats.dropped, bus_stats.buffered),
        (0, 0, 0),
        "{bus_stats:?}"
    );
    handle.shutdown().await.unwrap();

    // Everything on the registrations and values topics, exactly.
    let expected_records = *DEVICES * (2 + 1 + ROUNDS as usize);
    let records = consume(
        &brokers,
        &[&topics.registrations, &topics.values],
        expected_records,
        CONSUME_TIMEOUT,
        LINGER,
    )
    .await;
    check_records(&records, &topics, &endpoints, &tokens);
    assert_eq!(records.len(), expected_records);
}

/// Per device: on the registrations topic exactly REGISTERED then
/// DEREGISTERED; on the values topic exactly the Observe response followed
/// by the ten notifications with values `VALUE_BASE + 1..=ROUNDS`, all
/// carrying the observation's token; REGISTERED before the first values
/// event and DEREGISTERED after the last (event timestamps, since they are
/// on different topics).
fn check_records(
    records: &[Received],
    topics: &lwm2m_bus::KafkaTopics,
    endpoints: &[String],
    tokens: &BTreeMap<String, String>,
) {
    #[derive(Default)]
    struct PerDevice {
        registrations: Vec<(i32, i64, UplinkEvent)>,
        values: Vec<(i32, i64, UplinkEvent)>,
    }
    let mut devices: BTreeMap<String, PerDevice> = BTreeMap::new();
    let (mut registered, mut deregistered, mut notify, mut other) = (0, 0, 0, 0);
    for r in records {
        let event = decode_event(Encoding::Protobuf, &r.payload)
            .unwrap_or_else(|e| panic!("undecodable record {}@{}: {e}", r.partition, r.offset));
        assert_eq!(r.key, event.device_key(), "records are keyed by device");
        match &event.payload {
            Some(Payload::Registration(reg)) if reg.kind == RegistrationKind::Registered as i32 => {
                registered += 1
            }
            Some(Payload::Registration(reg))
                if reg.kind == RegistrationKind::Deregistered as i32 =>
            {
                deregistered += 1
            }
            Some(Payload::Values(v)) if v.source == ValueSource::Notify as i32 => notify += 1,
            _ => other += 1,
        }
        let entry = devices.entry(event.endpoint.clone()).or_default();
        if r.topic == topics.registrations {
            entry.registrations.push((r.partition, r.offset, event));
        } else {
            assert_eq!(r.topic, topics.values);
            entry.values.push((r.partition, r.offset, event));
        }
    }
    eprintln!(
        "consumed {} records: {registered} REGISTERED, {notify} NOTIFY, \
         {deregistered} DEREGISTERED, {other} other",
        records.len()
    );
    assert_eq!(
        (registered, notify, deregistered, other),
        (*DEVICES, *DEVICES * (1 + ROUNDS as usize), *DEVICES, 0),
        "REGISTERED, NOTIFY (Observe response + {ROUNDS} notifications), DEREGISTERED, other"
    );
    assert_eq!(devices.len(), *DEVICES, "every device has records");

    let expected_values: Vec<i64> = (1..=ROUNDS).map(|k| VALUE_BASE + k).collect();
    for endpoint in endpoints {
        let device = devices
            .get_mut(endpoint)
            .unwrap_or_else(|| panic!("{endpoint}: no records"));
        for (what, list) in [
            ("registrations", &mut device.registrations),
            ("values", &mut device.values),
        ] {
            let partitions: std::collections::BTreeSet<_> =
                list.iter().map(|(p, _, _)| *p).collect();
            assert_eq!(partitions.len(), 1, "{endpoint}: {what} on one partition");
            list.sort_by_key(|(_, offset, _)| *offset);
        }
        let regs: Vec<&UplinkEvent> = device.registrations.iter().map(|(_, _, e)| e).collect();
        let kinds: Vec<i32> = regs
            .iter()
            .map(|e| match &e.payload {
                Some(Payload::Registration(r)) => r.kind,
                other => panic!("{endpoint}: not a registration event: {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                RegistrationKind::Registered as i32,
                RegistrationKind::Deregistered as i32
            ],
            "{endpoint}: REGISTERED then DEREGISTERED"
        );
        let registration_id = &regs[0].registration_id;
        assert_eq!(&regs[1].registration_id, registration_id);

        let values: Vec<&UplinkEvent> = device.values.iter().map(|(_, _, e)| e).collect();
        assert_eq!(
            values.len(),
            1 + ROUNDS as usize,
            "{endpoint}: values events"
        );
        let mut numbers = Vec::new();
        for event in &values {
            assert_eq!(&event.registration_id, registration_id, "{endpoint}");
            let Some(Payload::Values(v)) = &event.payload else {
                panic!("{endpoint}: not a values event: {event:?}");
            };
            assert_eq!(v.source, ValueSource::Notify as i32, "{endpoint}");
            assert_eq!(
                v.observation_token.as_ref(),
                Some(&tokens[endpoint]),
                "{endpoint}: the observation's token"
            );
            assert_eq!(v.values.len(), 1, "{endpoint}: {v:?}");
            assert_eq!(v.values[0].path, PATH, "{endpoint}");
            match v.values[0].value.as_ref().and_then(|x| x.kind.as_ref()) {
                Some(Kind::Integer(n)) => numbers.push(*n),
                other => panic!("{endpoint}: not an integer: {other:?}"),
            }
        }
        assert!(
            numbers[0] < VALUE_BASE,
            "{endpoint}: first the Observe response with the initial level: {numbers:?}"
        );
        assert_eq!(
            &numbers[1..],
            expected_values.as_slice(),
            "{endpoint}: the ten notifications, in order"
        );
        let first = values[0].timestamp_ms;
        let last = values[values.len() - 1].timestamp_ms;
        assert!(
            regs[0].timestamp_ms <= first && last <= regs[1].timestamp_ms,
            "{endpoint}: REGISTERED ({}) before the values ({first}..{last}) before DEREGISTERED ({})",
            regs[0].timestamp_ms,
            regs[1].timestamp_ms
        );
    }
}

/// Polls `check` until it holds or `PATIENCE` runs out.
async fn wait_until(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_stats(handle: &TransportHandle, what: &str, check: impl Fn(&TransportStats) -> bool) {
    if !wait_until(|| check(&handle.stats())).await {
        panic!("node stats never showed {what}: {:#?}", handle.stats());
    }
}
