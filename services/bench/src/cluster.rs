//! Scenario 6, the multi-node transport cluster (`cluster.forwarded_records`):
//! what it costs when a DTLS device's records reach a node that does not
//! hold its session.
//!
//! Three transport nodes run as their own processes (`lwm2m run --target
//! transport`, node ids 1..3 fixed by `LWM2M_NODE_ID`), each with a DTLS
//! port and a forwarding port on loopback, sharing the real Redis on
//! 127.0.0.1:6379 for sessions and node-id leases under a key prefix of
//! this run (deleted afterwards). A fourth process is the registry
//! (`--target registry`, SQLite) the nodes look PSKs up in. Each node has
//! an in-memory bus: uplinks are not what is measured here, and a Kafka
//! broker would only add tansu's cost (see `notify`).
//!
//! In front of the nodes, in this process, is the hashing UDP balancer of
//! the cluster tests (`lwm2m_sim::udp_balancer`), with a [`DtlsTap`] that
//! counts forwarded and relayed records and handshakes on the wire (the
//! nodes' own counters are not exported; see `dtls_tap`).
//!
//! 1. N PSK devices with Connection IDs register through the balancer, at
//!    most `window` handshakes at a time. Each device's session lives on
//!    the node it hashed to (its owner).
//! 2. Reads of `/3/0/9` through the owner's gRPC `Downlink`, open loop at
//!    `rate` per second (latency from when due): every device is served
//!    directly.
//! 3. Every device NAT-rebinds (new source port, then an Update from
//!    there), `window` at a time; about (nodes − 1)/nodes of them now land
//!    on another node, which forwards their records to the owner and
//!    relays the owner's records back out.
//! 4. The same Reads again. A Read of a device on another node costs one
//!    relayed record (the request) and one forwarded record (the answer).
//!
//! Figures: handshakes (at registration and after rebinding, which must be
//! none), forwarded and relayed records per second during step 4, Read
//! latency p50/p99 of devices served directly (step 2, and the devices
//! still on their owner in step 4) and through a forwarding hop (step 4),
//! the difference, and the nodes' CPU per forwarded Read.
//!
//! Correct means: every device registered with exactly one handshake and no
//! error, the nodes list N registrations, every CID names the node the
//! device handshook with, nothing is forwarded before the rebinding,
//! no handshake after it, at least one device lands on another node, every
//! Read answered 2.05 with one value, and at least one forwarded and one
//! relayed record per Read of a device on another node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::ListRegistrationsRequest;
use lwm2m_sim::udp_balancer::{Observer, UdpBalancer};
use lwm2m_sim::{DeviceConfig, FleetSecurity, PskKeys, Security};
use tonic::transport::Channel;

use crate::dtls::import_psks;
use crate::dtls_tap::{DtlsTap, TapCounts};
use crate::load::{count_registrations, device_template, Load};
use crate::pacer::{self, Paced};
use crate::percentiles::{summarize, LatencySummary};
use crate::process::{free_tcp_port, free_udp_port, wait_for_tcp, ChildProcess};
use crate::product::{lwm2m_command, ProductArgs};
use crate::record::{Line, Section};
use crate::redis_memory;

/// How long a process may take to answer after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Registering (and rebinding) the devices may take this long.
const PATIENCE: Duration = Duration::from_secs(300);
/// The nodes' membership heartbeat (production: 5 s); every node sees the
/// others' forwarding addresses one heartbeat after they took their lease.
const HEARTBEAT_MS: u64 = 1_000;
const LEASE_TTL_MS: u64 = 5_000;
/// gRPC connections per node.
const CHANNELS: usize = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// DTLS devices (one session each).
    #[arg(long, default_value_t = 500)]
    pub devices: usize,
    /// Transport nodes (node ids 1..=N).
    #[arg(long, default_value_t = 3)]
    pub nodes: u8,
    /// Handshakes (with their Register), and rebindings (with their
    /// Update), in flight at once.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Reads per second, before and after the rebinding.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Measured seconds, before and after the rebinding.
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

/// One transport node process.
struct Node {
    id: u8,
    dtls: SocketAddr,
    grpc: SocketAddr,
    process: ChildProcess,
}

/// The registry and the transport nodes.
struct Cluster {
    registry_grpc: SocketAddr,
    registry: ChildProcess,
    nodes: Vec<Node>,
    redis: redis::aio::MultiplexedConnection,
    prefix: String,
    _workdir: tempfile::TempDir,
}

impl Cluster {
    async fn start(args: &ClusterArgs, run: &str) -> Result<Cluster> {
        ensure!((2..=250).contains(&args.nodes), "--nodes must be 2..=250");
        let workdir = tempfile::tempdir()?;
        let logs = args
            .product
            .log_dir
            .clone()
            .unwrap_or_else(|| workdir.path().to_path_buf());
        let log = |name: &str| -> PathBuf { logs.join(format!("lwm2m-cluster-{name}-{run}.log")) };
        let prefix = format!("bench-{run}");
        let mut redis = redis_memory::connect(&args.product.redis).await?;
        // A previous run with the same id (never, but cheap) left nothing.
        redis_memory::delete_under(&mut redis, &prefix).await?;

        let registry_grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
        let mut command = lwm2m_command(&args.product, workdir.path())?;
        command
            .args(["run", "--target", "registry"])
            .env(
                "LWM2M_REGISTRY_DATABASE_URL",
                format!("sqlite://{}/registry.db", workdir.path().display()),
            )
            .env("LWM2M_REGISTRY_GRPC_BIND", registry_grpc.to_string())
            .env("LWM2M_GRPC_BIND", format!("127.0.0.1:{}", free_tcp_port()?));
        let mut registry = ChildProcess::spawn("lwm2m registry", command, Some(&log("registry")))?;
        // A node that cannot reach its registry at start fails (and then
        // waits for a signal): the registry first.
        wait_for_tcp(registry_grpc, READY_TIMEOUT).await?;
        registry.check_alive()?;

        // 32 random bytes in hex, as `node.cluster_key` requires.
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut nodes = Vec::new();
        for id in 1..=args.nodes {
            let dtls: SocketAddr = format!("127.0.0.1:{}", free_udp_port()?).parse()?;
            let grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
            let mut command = lwm2m_command(&args.product, workdir.path())?;
            command
                .args(["run", "--target", "transport"])
                .env("LWM2M_NODE_ID", id.to_string())
                .env(
                    "LWM2M_NODE_FORWARD_BIND",
                    format!("127.0.0.1:{}", free_udp_port()?),
                )
                .env("LWM2M_NODE_CLUSTER_KEY", &key)
                .env("LWM2M_NODE_HEARTBEAT_MS", HEARTBEAT_MS.to_string())
                .env("LWM2M_NODE_LEASE_TTL_MS", LEASE_TTL_MS.to_string())
                .env(
                    "LWM2M_TRANSPORT_COAP_BIND",
                    format!("127.0.0.1:{}", free_udp_port()?),
                )
                .env("LWM2M_TRANSPORT_COAPS_BIND", dtls.to_string())
                .env(
                    "LWM2M_TRANSPORT_REGISTRY_URL",
                    format!("http://{registry_grpc}"),
                )
                .env("LWM2M_GRPC_BIND", grpc.to_string())
                .env("LWM2M_STORAGE_SESSIONS", &args.product.redis)
                .env("LWM2M_STORAGE_SESSION_PREFIX", &prefix)
                .env("LWM2M_STORAGE_BUS", "memory");
            let name = format!("node{id}");
            let process =
                ChildProcess::spawn(&format!("lwm2m {name}"), command, Some(&log(&name)))?;
            nodes.push(Node {
                id,
                dtls,
                grpc,
                process,
            });
        }
        let mut cluster = Cluster {
            registry_grpc,
            registry,
            nodes,
            redis,
            prefix,
            _workdir: workdir,
        };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// Every process answers, every node holds its lease, and every node
    /// has seen the others' forwarding addresses.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<usize> = (0..self.nodes.len()).collect();
        while !pending.is_empty() {
            self.check_alive()?;
            let mut still = Vec::new();
            for i in pending {
                let ready = match TransportClient::connect(format!("http://{}", self.nodes[i].grpc))
                    .await
                {
                    Ok(mut client) => client
                        .list_registrations(ListRegistrationsRequest {
                            page_size: 1,
                            ..Default::default()
                        })
                        .await
                        .is_ok(),
                    Err(_) => false,
                };
                if !ready {
                    still.push(i);
                }
            }
            pending = still;
            if Instant::now() > deadline {
                bail!("nodes {pending:?} did not answer gRPC within {READY_TIMEOUT:?}");
            }
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        loop {
            self.check_alive()?;
            let mut held = 0;
            for node in &self.nodes {
                let lease = format!("{}:{{nodes}}:lease:{}", self.prefix, node.id);
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&lease)
                    .query_async(&mut self.redis)
                    .await?;
                held += usize::from(exists);
            }
            if held == self.nodes.len() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{held} of {} node-id leases held after {READY_TIMEOUT:?}",
                    self.nodes.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // One membership refresh after the last lease, with a margin.
        tokio::time::sleep(Duration::from_millis(2 * HEARTBEAT_MS)).await;
        Ok(())
    }

    fn check_alive(&mut self) -> Result<()> {
        self.registry.check_alive()?;
        for node in &mut self.nodes {
            node.process.check_alive()?;
        }
        Ok(())
    }

    /// User + system CPU seconds of all nodes so far.
    fn nodes_cpu_seconds(&self) -> Result<f64> {
        self.nodes.iter().map(|n| n.process.cpu_seconds()).sum()
    }

    /// Stops every process (the nodes park their sessions in Redis) and
    /// deletes the run's Redis keys.
    async fn stop(mut self) -> Result<()> {
        for node in self.nodes.drain(..) {
            node.process.stop(Duration::from_secs(10));
        }
        self.registry.stop(Duration::from_secs(10));
        redis_memory::delete_under(&mut self.redis, &self.prefix)
            .await
            .with_context(|| format!("cannot delete Redis keys {}:*", self.prefix))?;
        Ok(())
    }
}

pub async fn run(args: &ClusterArgs, run: &str) -> Result<Vec<Line>> {
    let mut cluster = Cluster::start(args, run).await?;
    let result = measure(args, run, &mut cluster).await;
    let stopped = cluster.stop().await;
    let lines = result?;
    stopped?;
    Ok(lines)
}

/// What one paced phase measured.
struct Phase {
    paced: Paced,
    cpu_seconds: f64,
    wall_seconds: f64,
    tap: TapCounts,
}

async fn measure(args: &ClusterArgs, run: &str, cluster: &mut Cluster) -> Result<Vec<Line>> {
    let n = args.devices;
    let prefix = format!("c{}-", &run[..6.min(run.len())]);
    let keys = PskKeys::Derived { seed: 6 };
    import_psks(cluster.registry_grpc, &keys, &prefix, n).await?;
    let node_ids: Vec<u8> = cluster.nodes.iter().map(|node| node.id).collect();
    let tap = Arc::new(DtlsTap::new(node_ids.clone()));
    let observer: Arc<dyn Observer> = tap.clone();
    let balancer = UdpBalancer::bind(
        cluster.nodes.iter().map(|node| node.dtls).collect(),
        Some(observer),
    )
    .await
    .context("cannot start the UDP balancer")?;
    let template = DeviceConfig {
        security: Security::PerDevice(FleetSecurity::Psk(keys)),
        ..device_template(balancer.addr)
    };
    let load = Load::start(template, n, &prefix, Some(args.window)).await?;
    let result = scenario(args, cluster, &load, &balancer, &tap, &node_ids, &prefix).await;
    load.shutdown().await;
    drop(balancer);
    result
}

async fn scenario(
    args: &ClusterArgs,
    cluster: &mut Cluster,
    load: &Load,
    balancer: &UdpBalancer,
    tap: &DtlsTap,
    node_ids: &[u8],
    prefix: &str,
) -> Result<Vec<Line>> {
    let n = args.devices;
    // 1. Register through the balancer.
    let storm = load
        .register_all(PATIENCE, || cluster.check_alive())
        .await?;
    let stats = load.stats();
    let at_registration = tap.counts();
    if stats.errors > 0
        || stats.dtls_handshakes_started != n as u64
        || stats.dtls_handshakes_completed != n as u64
        || at_registration.handshakes != n as u64
    {
        bail!(
            "cluster: {n} devices should have made {n} handshakes and no error: \
             {} handshakes seen by the balancer; sim stats {stats:?}",
            at_registration.handshakes
        );
    }
    let mut grpc = Vec::new();
    for node in &cluster.nodes {
        for _ in 0..CHANNELS {
            grpc.push(TransportClient::connect(format!("http://{}", node.grpc)).await?);
        }
    }
    let listed = count_registrations(&mut grpc[0].clone(), prefix).await?;
    ensure!(
        listed == n,
        "cluster: the nodes list {listed} of {n} registrations"
    );

    // Each device's owner: the node it hashed to when it handshook, which
    // its Connection ID must name.
    let mut endpoints = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut first_addrs = Vec::with_capacity(n);
    for device in load.devices() {
        let status = device.status();
        let addr = status
            .local_addr
            .with_context(|| format!("{}: no local address", status.endpoint))?;
        let owner = balancer.backend_for(addr);
        let named = tap.owner_of(addr);
        ensure!(
            named == node_ids.get(owner).copied(),
            "{}: its CID names node {named:?}, it handshook with node {:?}",
            status.endpoint,
            node_ids.get(owner)
        );
        endpoints.push(status.endpoint.clone());
        owners.push(owner);
        first_addrs.push(addr);
    }
    let per_node: Vec<usize> = (0..node_ids.len())
        .map(|i| owners.iter().filter(|o| **o == i).count())
        .collect();
    let targets = Arc::new(Targets {
        endpoints,
        owners,
        grpc,
        channels: CHANNELS,
        timeout_ms: args.timeout_ms,
    });

    // 2. Every device served directly.
    let direct = phase(args, cluster, tap, &targets).await?;
    ensure!(
        direct.tap.forwarded == 0 && direct.tap.relayed == 0,
        "cluster: records were forwarded before any device moved: {:?}",
        direct.tap
    );

    // 3. NAT rebinding of every device, `window` at a time: all of them at
    // once overflow the balancer's socket buffer (208 KiB by default:
    // about half of 500 Updates lost, each retransmitted 2-3 s later).
    let before_rebinding = tap.counts();
    let retransmissions_before = load.stats().retransmissions;
    let rebind_started = Instant::now();
    let devices: Vec<_> = load.devices().zip(&first_addrs).collect();
    for window in devices.chunks(args.window.max(1)) {
        for (device, _) in window {
            device.rebind().await?;
        }
        for (device, old) in window {
            device
                .wait_for(PATIENCE, |s| s.updates >= 1 && s.local_addr != Some(**old))
                .await?;
        }
    }
    let rebind_seconds = rebind_started.elapsed().as_secs_f64();
    let mut moved = Vec::with_capacity(n);
    for (i, device) in load.devices().enumerate() {
        let status = device.status();
        let addr = status
            .local_addr
            .with_context(|| format!("{}: no local address", status.endpoint))?;
        let named = tap.owner_of(addr);
        ensure!(
            named == node_ids.get(targets.owners[i]).copied(),
            "{}: after rebinding its CID names node {named:?}, its owner is node {:?}",
            status.endpoint,
            node_ids.get(targets.owners[i])
        );
        moved.push(balancer.backend_for(addr) != targets.owners[i]);
    }
    let devices_forwarded = moved.iter().filter(|m| **m).count();
    ensure!(
        devices_forwarded > 0,
        "cluster: the rebinding moved no device to another node"
    );
    let after_rebinding = tap.counts();
    let rebinding_retransmissions = load.stats().retransmissions - retransmissions_before;

    // 4. The same Reads, most of them through a forwarding hop.
    let hopped = phase(args, cluster, tap, &targets).await?;
    let stats = load.stats();
    let at_end = tap.counts();
    let new_handshakes = at_end.handshakes - at_registration.handshakes;
    let new_sim_handshakes = stats.dtls_handshakes_started.saturating_sub(n as u64);
    if new_handshakes > 0 || new_sim_handshakes > 0 || stats.errors > 0 {
        bail!(
            "cluster: {new_handshakes} handshakes seen by the balancer and \
             {new_sim_handshakes} by the devices after the rebinding (want none); \
             sim stats {stats:?}"
        );
    }
    // Split the Reads of step 4: request i went to device i mod n.
    let (mut via_hop, mut still_direct) = (Vec::new(), Vec::new());
    for (i, latency) in hopped.paced.latencies.iter().enumerate() {
        if moved[i % n] {
            via_hop.push(*latency);
        } else {
            still_direct.push(*latency);
        }
    }
    let forwarded_reads = via_hop.len() as u64;
    ensure!(
        hopped.tap.forwarded >= forwarded_reads && hopped.tap.relayed >= forwarded_reads,
        "cluster: {forwarded_reads} Reads of devices on another node, but only {} records \
         forwarded and {} relayed",
        hopped.tap.forwarded,
        hopped.tap.relayed
    );
    let mut direct_latencies = direct.paced.latencies.clone();
    let direct_l = summarize(&mut direct_latencies).context("no direct Reads")?;
    let hop_l = summarize(&mut via_hop).context("no Read through a forwarding hop")?;
    let still_l = summarize(&mut still_direct);

    let params = |line: Line| {
        line.param("deployment", "cluster")
            .param("nodes", args.nodes)
            .param("devices", n)
            .param("rate_per_s", args.rate)
            .param("seconds", args.seconds)
    };
    let latency_line = |name: &str, l: &LatencySummary, when: &str| {
        params(Line::new(Section::Scenario, name))
            .param("when", when)
            .metric("reads", l.count as f64)
            .metric("latency_p50_ms", l.p50_ms)
            .metric("latency_p99_ms", l.p99_ms)
            .metric("latency_p999_ms", l.p999_ms)
            .metric("latency_max_ms", l.max_ms)
    };
    let extra_cpu_s = hopped.cpu_seconds - direct.cpu_seconds;
    let mut summary = params(Line::new(Section::Scenario, "cluster.forwarded_records"))
        .metric("handshakes", at_registration.handshakes as f64)
        .metric("handshakes_after_rebinding", new_handshakes as f64)
        .metric(
            "registrations_per_s",
            n as f64 / storm.time_to_all.as_secs_f64(),
        )
        .metric("rebinding_s", rebind_seconds)
        .metric(
            "retransmissions_at_rebinding",
            rebinding_retransmissions as f64,
        )
        .metric("devices_forwarded", devices_forwarded as f64)
        .metric(
            "records_forwarded_at_rebinding",
            (after_rebinding.forwarded - before_rebinding.forwarded) as f64,
        )
        .metric(
            "forwarded_records_per_s",
            hopped.tap.forwarded as f64 / hopped.wall_seconds,
        )
        .metric(
            "relayed_records_per_s",
            hopped.tap.relayed as f64 / hopped.wall_seconds,
        )
        .metric(
            "forwarded_records_per_forwarded_read",
            hopped.tap.forwarded as f64 / forwarded_reads as f64,
        )
        .metric(
            "reads_per_s",
            hopped.paced.latencies.len() as f64 / hopped.paced.elapsed.as_secs_f64(),
        )
        .metric(
            "nodes_cores_direct",
            direct.cpu_seconds / direct.wall_seconds,
        )
        .metric(
            "nodes_cores_forwarded",
            hopped.cpu_seconds / hopped.wall_seconds,
        )
        .metric(
            "hop_cpu_us_per_forwarded_read",
            extra_cpu_s * 1e6 / forwarded_reads as f64,
        )
        .metric("hop_added_p50_ms", hop_l.p50_ms - direct_l.p50_ms)
        .metric("hop_added_p99_ms", hop_l.p99_ms - direct_l.p99_ms);
    if let Some(still) = &still_l {
        summary = summary
            .metric("hop_added_same_phase_p50_ms", hop_l.p50_ms - still.p50_ms)
            .metric("hop_added_same_phase_p99_ms", hop_l.p99_ms - still.p99_ms);
    }
    for (i, sessions) in per_node.iter().enumerate() {
        let id = node_ids.get(i).copied().unwrap_or_default();
        summary = summary.metric(&format!("sessions_on_node_{id}"), *sessions as f64);
    }
    let mut lines = vec![
        summary,
        latency_line("cluster.read_direct", &direct_l, "before rebinding"),
        latency_line(
            "cluster.read_forwarded",
            &hop_l,
            "after rebinding, device on another node",
        ),
    ];
    if let Some(still) = &still_l {
        lines.push(latency_line(
            "cluster.read_direct_after_rebinding",
            still,
            "after rebinding, device still on its owner",
        ));
    }
    Ok(lines)
}

/// Who the Reads go to: request i reads device i mod n through its
/// owner's gRPC (no gRPC forwarding between nodes in the way).
struct Targets {
    endpoints: Vec<String>,
    /// Backend index (node) owning each device's session.
    owners: Vec<usize>,
    /// `channels` clients per node, node by node.
    grpc: Vec<TransportClient<Channel>>,
    channels: usize,
    timeout_ms: u32,
}

/// A warm-up, then `rate × seconds` Reads measured, with the nodes' CPU
/// and the tap's counters over the measured part.
async fn phase(
    args: &ClusterArgs,
    cluster: &mut Cluster,
    tap: &DtlsTap,
    targets: &Arc<Targets>,
) -> Result<Phase> {
    reads(args, targets, args.warmup).await?;
    cluster.check_alive()?;
    let cpu_before = cluster.nodes_cpu_seconds()?;
    let tap_before = tap.counts();
    let started = Instant::now();
    let paced = reads(args, targets, args.rate * args.seconds).await?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cluster.nodes_cpu_seconds()? - cpu_before;
    let tap_after = tap.counts();
    cluster.check_alive()?;
    Ok(Phase {
        paced,
        cpu_seconds,
        wall_seconds,
        tap: TapCounts {
            forwarded: tap_after.forwarded - tap_before.forwarded,
            relayed: tap_after.relayed - tap_before.relayed,
            handshakes: tap_after.handshakes - tap_before.handshakes,
            cid_records: tap_after.cid_records - tap_before.cid_records,
        },
    })
}

/// `total` Reads at `args.rate`; fails on the first wrong answer. The
/// latencies come back in request order.
async fn reads(args: &ClusterArgs, targets: &Arc<Targets>, total: u64) -> Result<Paced> {
    let n = targets.endpoints.len();
    ensure!(
        n > 0 && !targets.grpc.is_empty(),
        "no device or no gRPC client"
    );
    pacer::paced("cluster read", args.rate, total, args.max_in_flight, |i| {
        let device = usize::try_from(i).unwrap_or_default() % n;
        let round = usize::try_from(i / n as u64).unwrap_or_default();
        let client_index = targets.owners[device] * targets.channels + round % targets.channels;
        let client = targets.grpc[client_index % targets.grpc.len()].clone();
        let endpoint = targets.endpoints[device].clone();
        crate::rpc::read_once(client, endpoint, targets.timeout_ms)
    })
    .await
}
