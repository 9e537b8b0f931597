//! The physical reference for packet rates and round trips: a minimal UDP
//! echo server on loopback, in its own process, with the transport driver's
//! batching (drain the socket with `try_recv_from` up to 512 datagrams, then
//! send every answer), driven by clients in the bench process. Whatever the
//! product does per datagram, it cannot beat this on the same box.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::net::UdpSocket;

use crate::percentiles::summarize;
use crate::process::{free_udp_port, ChildProcess, CpuMeter};
use crate::record::{Line, Section};

/// Datagrams read per turn, as in `services/transport/src/driver.rs`.
const RECV_BATCH: usize = 512;
/// About the size of a small notification.
const PAYLOAD: usize = 64;
/// How long a client waits for an echo before it counts its window lost.
const LOSS_TIMEOUT: Duration = Duration::from_millis(200);

/// Runs the echo server until killed (the `echo-server` subcommand).
pub async fn serve(bind: SocketAddr) -> Result<()> {
    let socket = UdpSocket::bind(bind).await?;
    let mut buf = vec![0u8; 2048];
    let mut batch: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(RECV_BATCH);
    loop {
        socket.readable().await?;
        for _ in 0..RECV_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => batch.push((buf.get(..n).unwrap_or_default().to_vec(), peer)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {}
            }
        }
        for (bytes, peer) in batch.drain(..) {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

/// What the echo reference is driven with.
#[derive(Debug, Clone, clap::Args)]
pub struct EchoArgs {
    /// Client sockets.
    #[arg(long, default_value_t = 8)]
    pub sockets: usize,
    /// Datagrams in flight per socket. 64 in flight in all stay well below
    /// what a default 208 KiB socket buffer holds (~270 small datagrams);
    /// more would measure the kernel dropping them.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Throughput measurement time, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Paced rate of the round-trip measurement, datagrams per second.
    #[arg(long, default_value_t = 1000)]
    pub rtt_rate: u64,
    /// Round-trip measurement time, seconds.
    #[arg(long, default_value_t = 5)]
    pub rtt_seconds: u64,
}

/// Starts the echo server process, measures throughput then round trips.
pub async fn run(args: &EchoArgs) -> Result<Line> {
    let port = free_udp_port()?;
    let server: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["echo-server", "--bind", &server.to_string()]);
    let mut child = ChildProcess::spawn("echo server", command, None)?;
    wait_echoing(server).await?;
    child.check_alive()?;

    let meter = CpuMeter::start(child.pid())?;
    let (echoes, lost) = throughput(server, args).await?;
    let server_cores = meter.cores()?;
    let rate = echoes as f64 / args.seconds as f64;
    let mut rtts = paced_round_trips(server, args.rtt_rate, args.rtt_seconds).await?;
    child.check_alive()?;
    let sent = args.rtt_rate * args.rtt_seconds;
    if (rtts.len() as u64) < sent * 99 / 100 {
        bail!(
            "udp echo: only {} of {sent} paced probes came back: loopback is losing datagrams at {} /s",
            rtts.len(),
            args.rtt_rate
        );
    }
    let rtt = summarize(&mut rtts).context("no round trips")?;
    Ok(Line::new(Section::Reference, "udp_echo")
        .param("sockets", args.sockets)
        .param("window", args.window)
        .param("payload_bytes", PAYLOAD)
        .param("rtt_rate_per_s", args.rtt_rate)
        .metric("packets_per_s", rate)
        .metric("server_cores", server_cores)
        .metric(
            "packets_per_core_s",
            if server_cores > 0.0 {
                rate / server_cores
            } else {
                0.0
            },
        )
        .metric("lost_windows", lost as f64)
        .metric("rtt_p50_ms", rtt.p50_ms)
        .metric("rtt_p99_ms", rtt.p99_ms)
        .metric("rtt_p999_ms", rtt.p999_ms))
}

async fn wait_echoing(server: SocketAddr) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let mut buf = [0u8; 16];
    for _ in 0..100 {
        socket.send_to(b"ping", server).await?;
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await
        {
            return Ok(());
        }
    }
    bail!("the echo server on {server} never answered")
}

/// Echoes received in `args.seconds` by `args.sockets` closed-loop clients,
/// and how many windows were given up as lost.
async fn throughput(server: SocketAddr, args: &EchoArgs) -> Result<(u64, u64)> {
    let echoes = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.sockets {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        socket.connect(server).await?;
        let (echoes, lost, window) = (echoes.clone(), lost.clone(), args.window);
        tasks.push(tokio::spawn(async move {
            let payload = [0x5au8; PAYLOAD];
            let mut buf = [0u8; 2048];
            let mut in_flight = 0;
            while Instant::now() < end {
                while in_flight < window {
                    if socket.send(&payload).await.is_err() {
                        break;
                    }
                    in_flight += 1;
                }
                match tokio::time::timeout(LOSS_TIMEOUT, socket.recv(&mut buf)).await {
                    Ok(Ok(_)) => {
                        in_flight -= 1;
                        echoes.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        lost.fetch_add(1, Ordering::Relaxed);
                        in_flight = 0;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok((echoes.load(Ordering::Relaxed), lost.load(Ordering::Relaxed)))
}

/// Round trips of probes sent at a fixed `rate` for `seconds`, each timed
/// from when it was due (so a stalled sender shows up as latency).
async fn paced_round_trips(server: SocketAddr, rate: u64, seconds: u64) -> Result<Vec<Duration>> {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    socket.connect(server).await?;
    let total = rate * seconds;
    let start = Instant::now();
    let due = move |i: u64| start + Duration::from_secs_f64(i as f64 / rate as f64);
    let receiver = {
        let socket = socket.clone();
        tokio::spawn(async move {
            let mut rtts = HashMap::new();
            let mut buf = [0u8; 2048];
            let stop = due(total) + Duration::from_secs(1);
            while rtts.len() < total as usize {
                let left = stop.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, socket.recv(&mut buf)).await {
                    Ok(Ok(n)) if n >= 8 => {
                        let mut seq = [0u8; 8];
                        seq.copy_from_slice(buf.get(..8).unwrap_or(&[0; 8]));
                        let i = u64::from_be_bytes(seq);
                        rtts.insert(i, Instant::now().saturating_duration_since(due(i)));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            rtts.into_values().collect::<Vec<_>>()
        })
    };
    let mut payload = [0u8; PAYLOAD];
    for i in 0..total {
        tokio::time::sleep_until(due(i).into()).await;
        payload[..8].copy_from_slice(&i.to_be_bytes());
        socket.send(&payload).await?;
    }
    Ok(receiver.await?)
}
