//! `lwm2mctl`: an operator CLI over the cluster's gRPC APIs, in the spirit
//! of the Cumulocity shell and the ThingsBoard debug terminal. Tables for
//! people, `--json` for scripts, and exit codes scripts can rely on (see
//! `exit_code.rs`).

mod cli;
mod clients;
mod commands;
mod csv_chunks;
mod error;
mod exit_code;
mod local_time;
mod model_files;
mod progress;
mod proto_json;
mod render;
mod table;
mod values;

use std::process::ExitCode;

use clap::Parser;

use crate::exit_code::Exit;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 2 on usage errors; ours is 1 (2 means "not found").
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return ExitCode::from(code.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lwm2mctl: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Unavailable.code());
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lwm2mctl: {e}");
            ExitCode::from(e.exit().code())
        }
    }
}
