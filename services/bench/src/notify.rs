//! Scenario 2, notify throughput, on the cluster deployment: N registered
//! devices, each observed on `/3/0/9` through the gRPC `Downlink` API, emit
//! CON or NON notifications; the figure is how many per second a Kafka
//! consumer reads back from the values topic.
//!
//! The load is a closed loop over what reached Kafka: a device gets its
//! next value only after its previous one was read back, with at most
//! `in_flight` values on their way at once. So the loop runs exactly as
//! fast as the whole chain (device → transport → Redis → Kafka → consumer)
//! sustains, every notification can be accounted for, and a CON
//! notification is never replaced by a newer one while unacknowledged.
//!
//! Correct means: every value read back was one that was set, none twice,
//! and (CON) every value arrived; NON may lose datagrams like UDP does, but
//! more than `max_non_loss` of them fails the run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use lwm2m_core::Value;
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::{DownlinkRequest, ObserveOperation};

use crate::load::{device_template, Load};
use crate::percentiles::summarize;
use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};
use crate::tracker::{Read, Tracker};
use crate::values_consumer;

/// Battery level: an integer the frozen simulation only changes when told.
pub const PATH: &str = "/3/0/9";
/// In-flight gRPC Observe calls while setting up.
const OBSERVE_CONCURRENCY: usize = 64;
/// How long set-up steps may take.
const PATIENCE: Duration = Duration::from_secs(300);
/// How often stalls and the product are checked.
const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Devices, all observed.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Send NON notifications instead of CON.
    #[arg(long)]
    pub non: bool,
    /// Values on their way at once. tansu (SQLite) falls behind from a few
    /// hundred on this machine, and CON values then miss the loss timeout.
    #[arg(long, default_value_t = 200)]
    pub in_flight: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3)]
    pub warmup_s: u64,
    /// A value not read back after this many seconds is lost.
    #[arg(long, default_value_t = 10)]
    pub loss_timeout_s: u64,
    /// Largest fraction of NON notifications that may be lost.
    #[arg(long, default_value_t = 0.01)]
    pub max_non_loss: f64,
    #[command(flatten)]
    pub product: ProductArgs,
}

pub async fn run(args: &NotifyArgs, run: &str) -> Result<Line> {
    let mut product = Product::start(Deployment::Cluster, &args.product, run).await?;
    let result = measure(args, run, &mut product).await;
    let stopped = product.stop().await;
    let line = result?;
    stopped?;
    Ok(line)
}

async fn measure(args: &NotifyArgs, run: &str, product: &mut Product) -> Result<Line> {
    let mode = if args.non { "non" } else { "con" };
    let prefix = format!("n{}-", &run[..6.min(run.len())]);
    let template = lwm2m_sim::DeviceConfig {
        confirmable_notifications: !args.non,
        ..device_template(product.coap)
    };
    let load = Load::start(template, args.devices, &prefix, Some(256)).await?;
    let result = drive(args, run, product, &load, mode).await;
    load.shutdown().await;
    result
}

async fn drive(
    args: &NotifyArgs,
    run: &str,
    product: &mut Product,
    load: &Load,
    mode: &str,
) -> Result<Line> {
    load.register_all(PATIENCE, || product.check_alive())
        .await?;
    let topics = product.topics.clone().context("notify needs the cluster")?;
    let mut reads = values_consumer::start(&product.brokers, &topics.values, run)?;
    observe_all(product, load).await?;

    let devices: Vec<&lwm2m_sim::Device> = load.devices().collect();
    let index: HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.endpoint().to_owned(), i))
        .collect();
    let mut tracker = Tracker::new(devices.len());
    let mut malformed = 0u64;

    // The Observe answers come first: they prove the consumer reads.
    let deadline = Instant::now() + PATIENCE;
    while tracker.initial < devices.len() as u64 {
        let read = tokio::time::timeout_at(deadline.into(), reads.recv())
            .await
            .ok()
            .flatten()
            .with_context(|| {
                format!(
                    "only {} of {} Observe answers read back from Kafka",
                    tracker.initial,
                    devices.len()
                )
            })?;
        match read {
            Ok(r) => match index.get(&r.endpoint) {
                Some(d) => {
                    tracker.on_read(*d, r.value, r.at);
                }
                None => malformed += 1,
            },
            Err(_) => malformed += 1,
        }
    }

    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup_s);
    let measure_to = measure_from + Duration::from_secs(args.seconds);
    let drain_until = measure_to + Duration::from_secs(args.loss_timeout_s + 5);
    let loss_timeout = Duration::from_secs(args.loss_timeout_s);
    let in_flight = args.in_flight.min(devices.len()).max(1);
    for _ in 0..in_flight {
        issue_next(&mut tracker, &devices, Instant::now()).await?;
    }
    let mut cpu = None;
    let (mut counted, mut latencies, mut kafka_legs, mut record_legs) =
        (0u64, Vec::new(), Vec::new(), Vec::new());
    let mut ticker = tokio::time::interval(TICK);
    let sent_before = load.stats().notifications();
    loop {
        let now = Instant::now();
        if cpu.is_none() && now >= measure_from {
            cpu = Some(CpuMeter::start(product.process()?.pid())?);
        }
        let loading = now < measure_to;
        if !loading && tracker.in_flight() == 0 {
            break;
        }
        if now > drain_until {
            break;
        }
        tokio::select! {
            read = reads.recv() => {
                let Some(read) = read else { bail!("the Kafka consumer stopped") };
                let Ok(r) = read else { malformed += 1; continue };
                let Some(&d) = index.get(&r.endpoint) else { malformed += 1; continue };
                if let Read::Delivered(latency) = tracker.on_read(d, r.value, r.at) {
                    if r.at >= measure_from && r.at < measure_to {
                        counted += 1;
                        latencies.push(latency);
                        kafka_legs.push(r.since_event);
                        record_legs.push(r.since_record);
                    }
                    if loading {
                        issue_next(&mut tracker, &devices, Instant::now()).await?;
                    }
                }
            }
            _ = ticker.tick() => {
                product.check_alive()?;
                let freed = tracker.expire(Instant::now(), loss_timeout);
                if loading {
                    for _ in freed {
                        issue_next(&mut tracker, &devices, Instant::now()).await?;
                    }
                }
            }
        }
    }
    let product_cores = match cpu {
        Some(meter) => meter.cores()?,
        None => 0.0,
    };
    // Anything still in flight after the drain is lost.
    tracker.expire(Instant::now() + Duration::from_secs(3600), Duration::ZERO);
    let sim = load.stats();
    let sent = sim.notifications() - sent_before;
    let issued = tracker.delivered + tracker.lost;
    let rate = counted as f64 / args.seconds as f64;
    let problems = check(args, &tracker, malformed, sim.errors, issued);
    if let Some(problem) = problems {
        bail!(
            "notify.{mode}: {problem}; read back {} of {issued} values ({} lost, {} late, \
             {} duplicates, {} unexpected, {malformed} malformed); device sent {sent}; sim stats {sim:?}",
            tracker.delivered,
            tracker.lost,
            tracker.late,
            tracker.duplicates,
            tracker.unexpected
        );
    }
    let latency = summarize(&mut latencies)
        .context("no notification was read back in the measured window")?;
    let kafka_leg = summarize(&mut kafka_legs).context("no Kafka latencies")?;
    let record_leg = summarize(&mut record_legs).context("no Kafka latencies")?;
    Ok(Line::new(Section::Scenario, format!("notify.{mode}"))
        .param("devices", args.devices)
        .param("in_flight", in_flight)
        .param("seconds", args.seconds)
        .param("deployment", "cluster")
        .metric("notifications_per_s", rate)
        .metric("product_cores", product_cores)
        .metric(
            "notifications_per_core_s",
            if product_cores > 0.0 {
                rate / product_cores
            } else {
                0.0
            },
        )
        // Each notification is two records: its values and its transport log line.
        .metric("kafka_records_per_s", 2.0 * rate)
        .metric("e2e_p50_ms", latency.p50_ms)
        .metric("e2e_p99_ms", latency.p99_ms)
        // The part of e2e from the transport's event to the consumer.
        .metric("event_to_consumer_p50_ms", kafka_leg.p50_ms)
        // The part from librdkafka's produce() call (record CreateTime) on.
        .metric("record_to_consumer_p50_ms", record_leg.p50_ms)
        .metric("lost", tracker.lost as f64)
        .metric("retransmissions", sim.retransmissions as f64))
}

/// Why the run is not a valid measurement, if it is not.
fn check(
    args: &NotifyArgs,
    t: &Tracker,
    malformed: u64,
    sim_errors: u64,
    issued: u64,
) -> Option<String> {
    if t.duplicates > 0 || t.unexpected > 0 || malformed > 0 {
        return Some("records that were never sent or were read twice".into());
    }
    if sim_errors > 0 {
        return Some(format!("{sim_errors} errors in the simulated devices"));
    }
    if !args.non && t.lost > 0 {
        return Some(format!("{} CON notifications never reached Kafka", t.lost));
    }
    if args.non && t.lost as f64 > args.max_non_loss * issued.max(1) as f64 {
        return Some(format!(
            "{} of {issued} NON notifications lost (more than {:.1} %)",
            t.lost,
            args.max_non_loss * 100.0
        ));
    }
    if t.delivered == 0 {
        return Some("nothing was delivered".into());
    }
    None
}

async fn issue_next(
    tracker: &mut Tracker,
    devices: &[&lwm2m_sim::Device],
    now: Instant,
) -> Result<()> {
    let Some(d) = tracker.next_idle() else {
        return Ok(());
    };
    let Some(value) = tracker.issue(d, now) else {
        return Ok(());
    };
    let device = devices.get(d).context("device index")?;
    device
        .set_value(PATH, Value::Integer(value))
        .await
        .with_context(|| format!("{}: cannot set {PATH}", device.endpoint()))
}

/// Observes `PATH` on every device through gRPC, bounded concurrency.
async fn observe_all(product: &Product, load: &Load) -> Result<()> {
    let client = product.grpc_client().await?;
    let endpoints: Vec<String> = load.devices().map(|d| d.endpoint().to_owned()).collect();
    let results: Vec<Result<()>> = futures::stream::iter(endpoints)
        .map(|endpoint| {
            let mut client = client.clone();
            async move {
                let response = client
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
                    .with_context(|| format!("{endpoint}: Observe failed"))?
                    .into_inner();
                if response.code != "2.05" || response.observation_token.is_none() {
                    bail!("{endpoint}: Observe answered {response:?}");
                }
                Ok(())
            }
        })
        .buffer_unordered(OBSERVE_CONCURRENCY)
        .collect()
        .await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if let Some(first) = failed.first() {
        bail!("{} Observe requests failed; first: {first}", failed.len());
    }
    Ok(())
}
