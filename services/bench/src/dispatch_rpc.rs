//! Scenario 3 through the dispatch service (`rpc.via_dispatch`): the same
//! open-loop Reads of `/3/0/9` as `rpc`, over the same N registered
//! devices, but sent as typed `Read`s to the dispatch service's gRPC
//! (`lwm2m.dispatch.v1.Dispatch`), each waiting for its operation to end.
//! Every Read is then a durable operation: stored (SQLite, standalone)
//! before it is sent, delivered through the transport's `Downlink`, its
//! result stored again. The difference to `rpc.standalone` at the same
//! rate is what durability costs.
//!
//! Correct means: every Read answered with its operation SUCCESSFUL and
//! one node carrying a value, and afterwards no operation left PENDING or
//! EXECUTING. Anything else fails the run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lwm2m_proto::dispatch::v1::dispatch_client::DispatchClient;
use lwm2m_proto::dispatch::v1::{
    CommandOptions, ListOperationsRequest, OperationState, ReadRequest,
};
use tonic::transport::Channel;

use crate::load::{device_template, Load};
use crate::notify::PATH;
use crate::pacer::{self, Paced};
use crate::percentiles::summarize;
use crate::process::CpuMeter;
use crate::product::{Deployment, Product, ProductArgs};
use crate::record::{Line, Section};

/// gRPC connections the Reads are spread over (as in `rpc`).
const CHANNELS: usize = 4;
/// Registering the devices may take this long.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, clap::Args)]
pub struct DispatchRpcArgs {
    /// Devices read round-robin.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Rates to measure, Reads per second, comma separated. 250: on the
    /// two-core machine of docs/performance.md, 500/s and 1,000/s left
    /// most operations EXECUTING past their wait (the run fails).
    #[arg(long, value_delimiter = ',', default_value = "250")]
    pub rates: Vec<u64>,
    /// Measured seconds per rate.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Reads before each measurement (not recorded).
    #[arg(long, default_value_t = 1000)]
    pub warmup: u64,
    /// Device timeout of each operation (`CommandOptions.timeout_ms`), ms;
    /// the call waits as long.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u32,
    /// Reads in flight at most (more waits, and the wait counts as latency).
    #[arg(long, default_value_t = 4096)]
    pub max_in_flight: usize,
    #[command(flatten)]
    pub product: ProductArgs,
}

/// Dispatch runs in the standalone process only (`--target all`); a
/// cluster would need the dispatch target and PostgreSQL, which the bench
/// does not start.
pub async fn run(args: &DispatchRpcArgs, run: &str) -> Result<Vec<Line>> {
    let mut product = Product::start(Deployment::Standalone, &args.product, run).await?;
    let result = measure(args, run, &mut product).await;
    let stopped = product.stop().await;
    let lines = result?;
    stopped?;
    Ok(lines)
}

async fn measure(args: &DispatchRpcArgs, run: &str, product: &mut Product) -> Result<Vec<Line>> {
    let prefix = format!("d{}-", &run[..6.min(run.len())]);
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
            clients.push(DispatchClient::new(
                product.channel_to(product.dispatch_grpc).await?,
            ));
        }
        let mut lines = Vec::new();
        for &rate in &args.rates {
            paced(args, &clients, &endpoints, rate, args.warmup).await?;
            let cpu = CpuMeter::start(product.process()?.pid())?;
            let own = CpuMeter::start(std::process::id())?;
            let total = rate * args.seconds;
            let outcome = paced(args, &clients, &endpoints, rate, total).await?;
            let cores = cpu.cores()?;
            let own_cores = own.cores()?;
            product.check_alive()?;
            nothing_left_open(&clients[0], &endpoints[0]).await?;
            let mut latencies = outcome.latencies;
            let l = summarize(&mut latencies).context("no Reads")?;
            lines.push(
                Line::new(Section::Scenario, format!("rpc.via_dispatch.read_{rate}"))
                    .param("deployment", Deployment::Standalone.name())
                    .param("devices", args.devices)
                    .param("rate_per_s", rate)
                    .param("seconds", args.seconds)
                    .metric("reads_per_s", total as f64 / outcome.elapsed.as_secs_f64())
                    .metric("latency_p50_ms", l.p50_ms)
                    .metric("latency_p99_ms", l.p99_ms)
                    .metric("latency_p999_ms", l.p999_ms)
                    .metric("latency_max_ms", l.max_ms)
                    // A wrong answer fails the run above: a line is only
                    // written with none.
                    .metric("errors", 0.0)
                    .metric("product_cores", cores)
                    .metric("load_generator_cores", own_cores),
            );
        }
        Ok(lines)
    }
    .await;
    load.shutdown().await;
    result
}

/// Sends `total` typed Reads at `rate`; fails on any wrong answer.
async fn paced(
    args: &DispatchRpcArgs,
    clients: &[DispatchClient<Channel>],
    endpoints: &Arc<Vec<String>>,
    rate: u64,
    total: u64,
) -> Result<Paced> {
    if clients.is_empty() || endpoints.is_empty() {
        bail!("no gRPC client or no device");
    }
    let timeout_ms = args.timeout_ms;
    pacer::paced("rpc.via_dispatch", rate, total, args.max_in_flight, |i| {
        let mut client = clients[i as usize % clients.len()].clone();
        let endpoint = endpoints[i as usize % endpoints.len()].clone();
        async move {
            let answer = client
                .read(ReadRequest {
                    tenant: String::new(),
                    endpoint: endpoint.clone(),
                    options: Some(CommandOptions {
                        timeout_ms,
                        ..CommandOptions::default()
                    }),
                    id: PATH.into(),
                    key: String::new(),
                })
                .await
                .map_err(|status| format!("{endpoint}: Read failed: {status}"))?
                .into_inner();
            let state = answer
                .operation
                .as_ref()
                .map_or(OperationState::Unspecified, |o| o.state());
            let valued = answer.nodes.len() == 1
                && answer.nodes[0]
                    .value
                    .as_ref()
                    .is_some_and(|v| v.kind.is_some());
            if state == OperationState::Successful && valued {
                Ok(())
            } else {
                let result = answer.operation.and_then(|o| o.result);
                Err(format!(
                    "{endpoint}: Read ended {state:?} with {} node(s); result {result:?}",
                    answer.nodes.len()
                ))
            }
        }
    })
    .await
}

/// Every Read waited for its end, so none may still be open: one that is
/// would be an answer the bench counted before the store agreed.
/// Operations are listed per tenant; the devices' tenant (auto-provisioned
/// into the default one) is read off one of their operations.
async fn nothing_left_open(client: &DispatchClient<Channel>, endpoint: &str) -> Result<()> {
    let list = |tenant: String, endpoint: String, states: Vec<i32>| {
        let mut client = client.clone();
        async move {
            client
                .list_operations(ListOperationsRequest {
                    tenant,
                    endpoint,
                    states,
                    page_size: 10,
                    page_token: String::new(),
                })
                .await
                .context("ListOperations")
                .map(|r| r.into_inner().operations)
        }
    };
    let tenant = list(String::new(), endpoint.to_owned(), Vec::new())
        .await?
        .first()
        .map(|o| o.tenant.clone())
        .with_context(|| format!("{endpoint} has no operations"))?;
    let open_states = vec![
        OperationState::Pending as i32,
        OperationState::Executing as i32,
    ];
    let open = list(tenant.clone(), String::new(), open_states).await?;
    if let Some(first) = open.first() {
        bail!(
            "{} operation(s) of tenant {tenant:?} still open after every Read was answered, \
             e.g. {} on {} ({:?})",
            open.len(),
            first.id,
            first.endpoint,
            first.state()
        );
    }
    Ok(())
}
