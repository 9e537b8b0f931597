//! One module per command group; [`run`] routes the parsed command line.

mod device_import;
mod device_ops;
mod devices;
mod dispatch_ops;
mod models;
mod object_ops;
mod observe;
mod ops;
mod profiles;
mod registrations;

use crate::cli::{Cli, Command, Global};
use crate::clients;
use crate::error::Error;

/// What every command needs: the global options, and connections made
/// only when a command asks for them (a registry command must not fail
/// because the transport is down).
pub struct Context {
    pub global: Global,
}

impl Context {
    pub async fn transport(&self) -> Result<clients::Transport, Error> {
        clients::transport(&self.global.server).await
    }

    /// `call` and `ops` need dispatch: without `--dispatch` they try the
    /// standalone address.
    pub async fn dispatch(&self) -> Result<clients::Dispatch, Error> {
        let address = self
            .global
            .dispatch
            .as_deref()
            .unwrap_or(crate::cli::DEFAULT_DISPATCH);
        clients::dispatch(address).await
    }

    /// Device commands go through dispatch only when asked to.
    fn via_dispatch(&self) -> bool {
        self.global.dispatch.is_some()
    }

    pub async fn registry(&self) -> Result<clients::Registry, Error> {
        clients::registry(&self.global.registry).await
    }

    /// Prints `json` as the only thing on stdout (scripts parse it whole).
    pub fn print_json(&self, json: &serde_json::Value) {
        println!("{json}");
    }
}

pub async fn run(cli: Cli) -> Result<(), Error> {
    let ctx = Context { global: cli.global };
    match cli.command {
        Command::Devices { command } => devices::run(&ctx, command).await,
        Command::Registrations { command } => registrations::run(&ctx, command).await,
        Command::Models { command } => models::run(&ctx, command).await,
        Command::Profiles { command } => profiles::run(&ctx, command).await,
        Command::Read {
            endpoint,
            path,
            format,
        } if ctx.via_dispatch() => dispatch_ops::read(&ctx, &endpoint, &path, format).await,
        Command::Read {
            endpoint,
            path,
            format,
        } => device_ops::read(&ctx, &endpoint, &path, format).await,
        Command::Write {
            endpoint,
            path,
            value,
            kind,
            partial,
        } => {
            let kind = kind.as_deref();
            if ctx.via_dispatch() {
                dispatch_ops::write(&ctx, &endpoint, &path, &value, kind, partial).await
            } else {
                device_ops::write(&ctx, &endpoint, &path, &value, kind, partial).await
            }
        }
        Command::Exec {
            endpoint,
            path,
            arguments,
        } if ctx.via_dispatch() => dispatch_ops::exec(&ctx, &endpoint, &path, arguments).await,
        Command::Exec {
            endpoint,
            path,
            arguments,
        } => device_ops::exec(&ctx, &endpoint, &path, arguments).await,
        Command::WriteAttributes {
            endpoint,
            path,
            attributes,
        } => object_ops::write_attributes(&ctx, &endpoint, &path, &attributes).await,
        Command::Create {
            endpoint,
            path,
            instance,
            values,
        } => object_ops::create(&ctx, &endpoint, &path, instance, &values).await,
        Command::Delete { endpoint, path } => object_ops::delete(&ctx, &endpoint, &path).await,
        Command::Discover { endpoint, path } if ctx.via_dispatch() => {
            dispatch_ops::discover(&ctx, &endpoint, &path).await
        }
        Command::Discover { endpoint, path } => device_ops::discover(&ctx, &endpoint, &path).await,
        Command::Observe(args) => observe::run(&ctx, &args).await,
        Command::Call {
            endpoint,
            method,
            params,
        } => dispatch_ops::call(&ctx, &endpoint, &method, params.as_deref()).await,
        Command::Ops { command } => ops::run(&ctx, command).await,
        Command::Watch { endpoint } => device_ops::watch(&ctx, endpoint).await,
    }
}
