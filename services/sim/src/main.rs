//! `lwm2m-sim`: runs a fleet of simulated LwM2M devices against a server,
//! logs registration progress and prints final statistics. Ctrl-C (or
//! `--duration`) stops it, de-registering the devices.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lwm2m_sim::cli::Cli;
use lwm2m_sim::Fleet;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// How often registration progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,lwm2m_sim::driver=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> lwm2m_sim::Result<()> {
    if cli.print_credentials {
        print!("{}", cli.credentials()?);
        return Ok(());
    }
    let config = cli.fleet_config()?;
    let total = config.count;
    info!(server = %config.device.server, count = total, "starting devices");
    let fleet = Fleet::start(config).await?;
    let stats = fleet.stats_handle();
    let stop = async {
        match cli.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let terminate = terminate_signal();
    tokio::pin!(terminate);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    let mut last = u64::MAX;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                info!("Ctrl-C: shutting down");
                break;
            }
            _ = &mut terminate => {
                info!("SIGTERM: shutting down");
                break;
            }
            _ = &mut stop => {
                info!("duration reached: shutting down");
                break;
            }
            _ = ticker.tick() => {
                let now = stats.registered_now();
                if now != last {
                    info!("registered {now}/{total}");
                    last = now;
                }
            }
        }
    }
    let summary = fleet.shutdown(!cli.no_deregister).await;
    if cli.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(text) => println!("{text}"),
            Err(e) => error!("cannot print statistics: {e}"),
        }
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes and test harnesses send), so the
/// devices de-register then too; never resolves where there is no SIGTERM.
async fn terminate_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}
