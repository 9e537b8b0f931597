//! `lwm2m-bench`: one subcommand per scenario and reference, each printing
//! JSON lines on stdout; `report` assembles a run. `scripts/bench.sh`
//! (`make bench`) runs them in order.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lwm2m_bench::cluster::{self, ClusterArgs};
use lwm2m_bench::dispatch_rpc::{self, DispatchRpcArgs};
use lwm2m_bench::dtls::{self, DtlsArgs};
use lwm2m_bench::dtls_engine::{self, DtlsEngineArgs};
use lwm2m_bench::echo::{self, EchoArgs};
use lwm2m_bench::import_devices::{self, ImportDevicesArgs};
use lwm2m_bench::import_models::{self, ImportModelsArgs};
use lwm2m_bench::kafka_reference::{self, KafkaReferenceArgs};
use lwm2m_bench::notify::{self, NotifyArgs};
use lwm2m_bench::record::Line;
use lwm2m_bench::report::{self, Meta};
use lwm2m_bench::rpc::{self, RpcArgs};
use lwm2m_bench::storm::{self, StormArgs};
use lwm2m_bench::{process, record};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "lwm2m-bench",
    about = "Benchmarks of the LwM2M cluster against the machine's own limits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reference: UDP echo on loopback (packet rate, round trips).
    UdpEcho(EchoArgs),
    /// The echo server process `udp-echo` starts (runs until killed).
    EchoServer {
        #[arg(long)]
        bind: SocketAddr,
    },
    /// Reference: a bare rdkafka producer to the broker.
    KafkaProduce(KafkaReferenceArgs),
    /// Scenarios 1 and 4: registration storm, then memory per device.
    Storm(StormArgs),
    /// Scenario 2: notifications per second read back from Kafka.
    Notify(NotifyArgs),
    /// Scenario 3: Read latency through gRPC at fixed rates.
    Rpc(RpcArgs),
    /// Scenario 3 through the dispatch service: typed Reads as durable
    /// operations at fixed rates (standalone).
    RpcDispatch(DispatchRpcArgs),
    /// Scenario 6: the OMA object registry (a directory of DDF files)
    /// imported through the registry's gRPC (standalone).
    ImportModels(ImportModelsArgs),
    /// Scenario 6: a generated CSV of N devices imported through the
    /// registry's gRPC as `lwm2mctl devices import` does (standalone).
    ImportDevices(ImportDevicesArgs),
    /// Scenarios 5 and 4 for DTLS: handshakes per second and per core,
    /// memory per session, against the product.
    Dtls(DtlsArgs),
    /// Scenario 5, the engine alone: server CPU per handshake in process,
    /// and the session export blob size.
    DtlsEngine(DtlsEngineArgs),
    /// Scenario 6, the transport cluster: three node processes behind a
    /// hashing UDP balancer; DTLS devices rebind and their records are
    /// forwarded to the node that owns their session.
    Cluster(ClusterArgs),
    /// Writes the results file and its Markdown table from a run's lines.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// JSON lines of the run's subcommands.
    #[arg(long)]
    lines: PathBuf,
    /// JSON lines of the codec microbenchmark.
    #[arg(long)]
    codecs: Option<PathBuf>,
    /// The results file to write; the table goes beside it as .md.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    date: String,
    #[arg(long)]
    git_sha: String,
    #[arg(long, default_value = "bench")]
    profile: String,
    /// Load average when the run started.
    #[arg(long)]
    load_start: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("BENCH_LOG")
                .unwrap_or_else(|_| EnvFilter::new("warn,lwm2m_sim=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lwm2m-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lwm2m-bench: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    match command {
        Command::EchoServer { bind } => echo::serve(bind).await,
        Command::UdpEcho(args) => echo::run(&args).await?.emit(),
        Command::KafkaProduce(args) => kafka_reference::run(&args, &run_id).await?.emit(),
        Command::Storm(args) => emit_all(storm::run(&args, &run_id).await?),
        Command::Notify(args) => notify::run(&args, &run_id).await?.emit(),
        Command::Rpc(args) => emit_all(rpc::run(&args, &run_id).await?),
        Command::RpcDispatch(args) => emit_all(dispatch_rpc::run(&args, &run_id).await?),
        Command::ImportModels(args) => emit_all(import_models::run(&args, &run_id).await?),
        Command::ImportDevices(args) => emit_all(import_devices::run(&args, &run_id).await?),
        Command::Dtls(args) => emit_all(dtls::run(&args, &run_id).await?),
        Command::DtlsEngine(args) => emit_all(dtls_engine::run(&args)?),
        Command::Cluster(args) => emit_all(cluster::run(&args, &run_id).await?),
        Command::Report(args) => write_report(&args),
    }
}

fn emit_all(lines: Vec<Line>) -> Result<()> {
    lines.iter().try_for_each(Line::emit)
}

fn read_json_lines<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<Vec<T>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a result line", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

fn write_report(args: &ReportArgs) -> Result<()> {
    let lines: Vec<record::Line> = read_json_lines(&args.lines)?;
    let codecs = match &args.codecs {
        Some(path) => read_json_lines(path)?,
        None => Vec::new(),
    };
    let meta = Meta {
        date: args.date.clone(),
        git_sha: args.git_sha.clone(),
        profile: args.profile.clone(),
        cores: process::cores(),
        load_average_start: args.load_start.clone(),
        load_average_end: process::load_average(),
    };
    let report = report::build(meta, lines, codecs);
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let md = report::markdown(&report);
    std::fs::write(args.out.with_extension("md"), &md)?;
    print!("{md}");
    Ok(())
}
