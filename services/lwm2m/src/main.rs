//! `lwm2m`: one binary for every component of the LwM2M cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lwm2m::{Settings, Shutdown, Target};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "lwm2m", version, about = "LwM2M device-management cluster")]
struct Cli {
    /// TOML configuration file; `LWM2M_*` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one component, or all of them (standalone).
    Run {
        #[arg(long, value_enum, default_value_t = Target::All)]
        target: Target,
    },
    /// Print the effective configuration (defaults < file < environment) as TOML.
    Config,
    /// Bring the registry database (`registry.database_url`) up to date and
    /// exit; safe to run while registries run (PostgreSQL advisory lock).
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lwm2m: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Config => match settings.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lwm2m: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { target } => run(target, settings),
        Command::Migrate => migrate(settings),
    }
}

fn migrate(settings: Settings) -> ExitCode {
    init_tracing(&settings);
    let url = settings.registry.database_url.clone();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lwm2m: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(lwm2m_registry::migrate(&url)) {
        Ok(report) => {
            let database = lwm2m_registry::redact_url(&url);
            let current = report
                .current
                .map_or_else(|| "none".to_owned(), |v| v.to_string());
            if report.applied.is_empty() {
                println!("{database}: up to date at version {current}");
            } else {
                println!(
                    "{database}: applied {:?}, now at version {current}",
                    report.applied
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lwm2m: migrating {}: {e}", lwm2m_registry::redact_url(&url));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(settings: &Settings) {
    let filter = std::env::var("LWM2M_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&settings.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Colours only for a person at a terminal; logs piped to files or
    // collectors stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn run(target: Target, settings: Settings) -> ExitCode {
    init_tracing(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lwm2m: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let (trigger, shutdown) = Shutdown::new();
        let mut services =
            tokio::spawn(async move { lwm2m::targets::run(target, &settings, shutdown).await });
        // A component that fails to start ends the services early: exit
        // with its error instead of waiting for a signal.
        let early = tokio::select! {
            signal = lwm2m::shutdown::os_signal() => {
                match signal {
                    Ok(signal) => tracing::info!(signal, "signal received"),
                    Err(e) => tracing::error!(error = %e, "cannot listen for signals; stopping"),
                }
                None
            }
            ended = &mut services => Some(ended),
        };
        trigger.trigger();
        let ended = match early {
            Some(ended) => ended,
            None => services.await,
        };
        match ended {
            Ok(r) => r,
            Err(e) => Err(lwm2m::Error::ConfigSource(format!(
                "service task failed: {e}"
            ))),
        }
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
