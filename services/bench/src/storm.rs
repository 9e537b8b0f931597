//! Scenario 1, registration storm, and scenario 4, memory: N devices
//! register as fast as the server lets them (at most `window` first
//! Registers in flight), then the transport's resident memory per
//! registered device and, in the cluster, Redis bytes per session.
//!
//! Correct means: every device registered, no device saw an error, and the
//! product lists exactly N registrations. Anything else fails the run.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::load::{count_registrations, device_template, register_datagram_bytes, Load};
use crate::percentiles::summarize;
use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};
use crate::redis_memory;

/// Time for the product's allocator to settle before RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    #[arg(long, value_enum, default_value = "standalone")]
    pub deployment: Deployment,
    /// Devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: usize,
    /// First Registers in flight at once.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    #[command(flatten)]
    pub product: ProductArgs,
}

pub async fn run(args: &StormArgs, run: &str) -> Result<Vec<Line>> {
    let mut product = Product::start(args.deployment.clone(), &args.product, run).await?;
    let result = measure(args, run, &mut product).await;
    let stopped = product.stop().await;
    let lines = result?;
    stopped?;
    Ok(lines)
}

async fn measure(args: &StormArgs, run: &str, product: &mut Product) -> Result<Vec<Line>> {
    let deployment = args.deployment.name();
    let prefix = format!("s{}-", &run[..6.min(run.len())]);
    let template = device_template(product.coap);
    let register_bytes = register_datagram_bytes(&template)?;
    let load = Load::start(template, args.devices, &prefix, Some(args.window)).await?;

    tokio::time::sleep(SETTLE).await;
    let rss_idle = product.process()?.rss_bytes()?;
    let mut redis = match &product.redis {
        Some(_) => Some(redis_memory::connect(&args.product.redis).await?),
        None => None,
    };
    let redis_idle = match redis.as_mut() {
        Some(conn) => Some(redis_memory::used_memory(conn).await?),
        None => None,
    };

    let cpu = CpuMeter::start(product.process()?.pid())?;
    let outcome = load
        .register_all(Duration::from_secs(args.timeout_s), || {
            product.check_alive()
        })
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            load.shutdown().await;
            return Err(e);
        }
    };
    let product_cores = cpu.cores()?;
    let mut latencies = outcome.latencies.clone();
    let listed = count_registrations(&mut product.grpc_client().await?, &prefix).await?;
    let stats = &outcome.stats;
    if stats.errors > 0 || listed != args.devices || latencies.len() != args.devices {
        load.shutdown().await;
        bail!(
            "storm.{deployment}: {} errors, {listed} of {} devices listed by the product, \
             {} latencies recorded; sim stats {stats:?}",
            stats.errors,
            args.devices,
            latencies.len()
        );
    }
    let latency = summarize(&mut latencies).context("no Register latencies")?;
    let seconds = outcome.time_to_all.as_secs_f64();
    let storm = Line::new(Section::Scenario, format!("storm.{deployment}"))
        .param("devices", args.devices)
        .param("window", args.window)
        .param("deployment", deployment)
        .metric("registrations_per_s", args.devices as f64 / seconds)
        .metric("time_to_all_s", seconds)
        .metric("latency_p50_ms", latency.p50_ms)
        .metric("latency_p99_ms", latency.p99_ms)
        .metric("latency_max_ms", latency.max_ms)
        .metric("errors", stats.errors as f64)
        .metric("retransmissions", stats.retransmissions as f64)
        .metric("product_cores", product_cores);

    tokio::time::sleep(SETTLE).await;
    product.check_alive()?;
    let rss = product.process()?.rss_bytes()?;
    let per_device = rss.saturating_sub(rss_idle) as f64 / args.devices as f64;
    let mut memory = Line::new(Section::Scenario, format!("memory.{deployment}"))
        .param("devices", args.devices)
        .param("deployment", deployment)
        .metric("rss_idle_bytes", rss_idle as f64)
        .metric("rss_registered_bytes", rss as f64)
        .metric("rss_per_device_bytes", per_device);
    if let (Some(conn), Some(idle)) = (redis.as_mut(), redis_idle) {
        let (keys, bytes) = redis_memory::usage_under(conn, &product.redis_prefix).await?;
        let used = redis_memory::used_memory(conn).await?;
        memory = memory
            .metric("redis_keys_per_session", keys as f64 / args.devices as f64)
            .metric(
                "redis_bytes_per_session",
                bytes as f64 / args.devices as f64,
            )
            .metric(
                "redis_used_memory_per_session",
                used.saturating_sub(idle) as f64 / args.devices as f64,
            );
    }
    let reference = Line::new(Section::Reference, "device_state")
        .param("what", "bytes of one simulated device's Register datagram")
        .metric("register_bytes", register_bytes as f64);
    load.shutdown().await;
    Ok(vec![storm, memory, reference])
}
