//! Scenario 3, RPC latency: Reads of `/3/0/9` sent through the transport's
//! gRPC `Downlink` at a fixed rate, open loop (`pacer`: latency from when a
//! request was due), round-robin over N registered devices.
//!
//! Correct means: every Read answered 2.05 with one value. Anything else
//! (gRPC error, timeout, other code) fails the run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::{DownlinkRequest, ReadOperation};
use tonic::transport::Channel;

use crate::load::{device_template, Load};
use crate::notify::PATH;
use crate::pacer::{self, Paced};
use crate::percentiles::summarize;
use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};

/// gRPC connections the Reads are spread over.
const CHANNELS: usize = 4;
/// Registering the devices may take this long.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, clap::Args)]
pub struct RpcArgs {
    #[arg(long, value_enum, default_value = "cluster")]
    pub deployment: Deployment,
    /// Devices read round-robin.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Rates to measure, Reads per second, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub rates: Vec<u64>,
    /// Measured seconds per rate.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Reads before each measurement (not recorded).
    #[arg(long, default_value_t = 1000)]
    pub warmup: u64,
    /// Downlink timeout given to the transport, ms.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u32,
    /// Reads in flight at most (more waits, and the wait counts as latency).
    #[arg(long, default_value_t = 4096)]
    pub max_in_flight: usize,
    #[command(flatten)]
    pub product: ProductArgs,
}

pub async fn run(args: &RpcArgs, run: &str) -> Result<Vec<Line>> {
    let mut product = Product::start(args.deployment.clone(), &args.product, run).await?;
    let result = measure(args, run, &mut product).await;
    let stopped = product.stop().await;
    let lines = result?;
    stopped?;
    Ok(lines)
}

async fn measure(args: &RpcArgs, run: &str, product: &mut Product) -> Result<Vec<Line>> {
    let prefix = format!("r{}-", &run[..6.min(run.len())]);
    let load = Load::start(
        device_template(product.coap),
        args.devices,
        &prefix,
        Some(256),
    )
    .await?;
    let result = async {
        load.register_all(PATIENCE, || product.check_alive())
            .await?;
        let endpoints: Arc<Vec<String>> =
            Arc::new(load.devices().map(|d| d.endpoint().to_owned()).collect());
        let mut clients = Vec::new();
        for _ in 0..CHANNELS {
            clients.push(product.grpc_client().await?);
        }
        let mut lines = Vec::new();
        for &rate in &args.rates {
            paced(args, &clients, &endpoints, rate, args.warmup).await?;
            let cpu = CpuMeter::start(product.process()?.pid())?;
            let total = rate * args.seconds;
            let outcome = paced(args, &clients, &endpoints, rate, total).await?;
            let cores = cpu.cores()?;
            product.check_alive()?;
            let mut latencies = outcome.latencies;
            let l = summarize(&mut latencies).context("no Reads")?;
            lines.push(
                Line::new(
                    Section::Scenario,
                    format!("rpc.{}.read_{rate}", args.deployment.name()),
                )
                .param("deployment", args.deployment.name())
                .param("devices", args.devices)
                .param("rate_per_s", rate)
                .param("seconds", args.seconds)
                .metric("reads_per_s", total as f64 / outcome.elapsed.as_secs_f64())
                .metric("latency_p50_ms", l.p50_ms)
                .metric("latency_p99_ms", l.p99_ms)
                .metric("latency_p999_ms", l.p999_ms)
                .metric("latency_max_ms", l.max_ms)
                .metric("product_cores", cores),
            );
        }
        Ok(lines)
    }
    .await;
    load.shutdown().await;
    result
}

/// Sends `total` Reads at `rate`; fails on the first wrong answer.
async fn paced(
    args: &RpcArgs,
    clients: &[TransportClient<Channel>],
    endpoints: &Arc<Vec<String>>,
    rate: u64,
    total: u64,
) -> Result<Paced> {
    if clients.is_empty() || endpoints.is_empty() {
        bail!("no gRPC client or no device");
    }
    let timeout_ms = args.timeout_ms;
    pacer::paced("rpc", rate, total, args.max_in_flight, |i| {
        let client = clients[i as usize % clients.len()].clone();
        let endpoint = endpoints[i as usize % endpoints.len()].clone();
        read_once(client, endpoint, timeout_ms)
    })
    .await
}

/// One gRPC Read of `PATH`; an error names the device and what came back.
pub(crate) async fn read_once(
    mut client: TransportClient<Channel>,
    endpoint: String,
    timeout_ms: u32,
) -> std::result::Result<(), String> {
    let response = client
        .downlink(DownlinkRequest {
            endpoint: endpoint.clone(),
            tenant: String::new(),
            timeout_ms,
            operation: Some(Operation::Read(ReadOperation {
                path: PATH.into(),
                content_format: None,
            })),
        })
        .await;
    match response {
        Ok(r) => {
            let r = r.into_inner();
            if r.code == "2.05" && r.values.len() == 1 {
                Ok(())
            } else {
                Err(format!(
                    "{endpoint}: Read answered {} {:?}",
                    r.code, r.values
                ))
            }
        }
        Err(status) => Err(format!("{endpoint}: Read failed: {status}")),
    }
}
