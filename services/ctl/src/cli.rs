//! The command line: global options (server addresses, tenant, output) and
//! one subcommand per operator task.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit_code::EXIT_CODES_HELP;

/// The standalone ports of `lwm2m run --target all`: `grpc.bind` and
/// `registry.grpc_bind` (its port + 1).
pub const DEFAULT_TRANSPORT: &str = "http://127.0.0.1:50051";
pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:50052";
/// The dispatch service's standalone address, for `call` and `ops` when
/// `--dispatch` is not given.
pub const DEFAULT_DISPATCH: &str = "http://127.0.0.1:50053";

#[derive(Parser, Debug)]
#[command(
    name = "lwm2mctl",
    version,
    about = "Operate an LwM2M cluster from the command line",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// gRPC address of a transport node (standalone: the one process).
    #[arg(long, env = "LWM2MCTL_SERVER", default_value = DEFAULT_TRANSPORT, global = true)]
    pub server: String,
    /// gRPC address of the registry.
    #[arg(long, env = "LWM2MCTL_REGISTRY", default_value = DEFAULT_REGISTRY, global = true)]
    pub registry: String,
    /// gRPC address of the dispatch service. When given, read, write,
    /// exec, discover and observe go through it as durable operations
    /// (waiting for sleeping devices) instead of straight to the transport;
    /// `call` and `ops` always use it (default: the standalone address).
    #[arg(long, env = "LWM2MCTL_DISPATCH", global = true)]
    pub dispatch: Option<String>,
    /// The tenant to act for (registry commands).
    #[arg(
        long,
        env = "LWM2MCTL_TENANT",
        default_value = "default",
        global = true
    )]
    pub tenant: String,
    /// Print machine-readable JSON on stdout instead of tables (progress
    /// and warnings go to stderr either way).
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait for the device, in seconds.
    #[arg(long, default_value_t = 30, global = true)]
    pub timeout: u32,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Devices: the registry's, with their registration status.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Live registrations on the transport (address, lifetime, objects).
    Registrations {
        #[command(subcommand)]
        command: RegistrationsCommand,
    },
    /// Object models (OMA DDF) in the registry.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Device profiles in the registry.
    Profiles {
        #[command(subcommand)]
        command: ProfilesCommand,
    },
    /// Read a node: `lwm2mctl read sim-0001 /3/0`.
    Read {
        endpoint: String,
        path: String,
        /// Content-format number to ask for (e.g. 11542 TLV, 112 SenML CBOR).
        #[arg(long)]
        format: Option<u32>,
    },
    /// Write one resource: `lwm2mctl write sim-0001 /1/0/1 300`.
    Write {
        endpoint: String,
        path: String,
        value: String,
        /// The value's type when the object model does not give it:
        /// string, integer, unsigned, float, boolean, time, opaque (hex), objlnk.
        #[arg(long = "type")]
        kind: Option<String>,
        /// Send a partial update (POST) instead of a replace (PUT). LwM2M
        /// allows partial updates on object instances only, so a single
        /// resource is replaced unless you ask otherwise.
        #[arg(long)]
        partial: bool,
    },
    /// Execute a resource: `lwm2mctl exec sim-0001 /3/0/4`.
    Exec {
        endpoint: String,
        path: String,
        arguments: Option<String>,
    },
    /// Set notification attributes on a node:
    /// `lwm2mctl write-attributes sim-0001 /3303/0/5700 --pmin 10 --pmax 60 --st 0.5`.
    WriteAttributes {
        endpoint: String,
        path: String,
        #[command(flatten)]
        attributes: NotificationAttributes,
    },
    /// Create an object instance: `lwm2mctl create sim-0001 /3303 --instance 1 5701:string=Cel`.
    ///
    /// Values are RES=VALUE (typed by the object model) or RES:TYPE=VALUE
    /// (string, integer, unsigned, float, boolean, time, opaque, objlnk).
    /// Without --instance the device chooses the id (values, if any, are
    /// sent for instance 0).
    Create {
        endpoint: String,
        /// The object, e.g. /3303.
        path: String,
        #[arg(long)]
        instance: Option<u16>,
        values: Vec<String>,
    },
    /// Delete an object instance: `lwm2mctl delete sim-0001 /3303/1`.
    Delete { endpoint: String, path: String },
    /// Discover a node's attributes and resources.
    Discover { endpoint: String, path: String },
    /// Observe a node and print its notifications until Ctrl-C, SIGTERM,
    /// --count or --duration.
    ///
    /// A device has one observation per path: if the path is already
    /// observed (a profile, another operator), this joins that observation
    /// and leaves it running at the end. An observation this command
    /// started is cancelled on the device when it ends, unless --keep is
    /// given (cancel it later with
    /// `lwm2mctl call EP ObserveCancel '{"id":"PATH"}'`).
    Observe(ObserveArgs),
    /// Any command as ThingsBoard RPC JSON, through dispatch.
    ///
    /// `lwm2mctl call sim-0001 Read '{"id":"/3/0"}'`, or the whole request:
    /// `lwm2mctl call sim-0001 '{"method":"Read","params":{"id":"/3/0"}}'`.
    Call {
        endpoint: String,
        /// ThingsBoard method (Read, WriteReplace, Execute, DiscoverAll, ...)
        /// or the whole request document.
        method: String,
        /// The params object; default `{}`.
        params: Option<String>,
    },
    /// Dispatch operations: list, get, cancel, watch.
    Ops {
        #[command(subcommand)]
        command: OpsCommand,
    },
    /// Stream uplink events (all devices, or one) until Ctrl-C.
    Watch {
        #[arg(long)]
        endpoint: Option<String>,
    },
}

/// LwM2M notification attributes (Core §5.1.2), as `write-attributes` flags.
#[derive(Args, Debug, Clone, Default)]
pub struct NotificationAttributes {
    /// Minimum period between notifications, seconds.
    #[arg(long)]
    pub pmin: Option<u32>,
    /// Maximum period between notifications, seconds.
    #[arg(long)]
    pub pmax: Option<u32>,
    /// Notify when the value rises above this.
    #[arg(long)]
    pub gt: Option<f64>,
    /// Notify when the value falls below this.
    #[arg(long)]
    pub lt: Option<f64>,
    /// Notify when the value changes by at least this step.
    #[arg(long)]
    pub st: Option<f64>,
    /// Minimum evaluation period, seconds (LwM2M 1.1+).
    #[arg(long)]
    pub epmin: Option<u32>,
    /// Maximum evaluation period, seconds (LwM2M 1.1+).
    #[arg(long)]
    pub epmax: Option<u32>,
}

impl NotificationAttributes {
    pub fn is_empty(&self) -> bool {
        self.pmin.is_none()
            && self.pmax.is_none()
            && self.gt.is_none()
            && self.lt.is_none()
            && self.st.is_none()
            && self.epmin.is_none()
            && self.epmax.is_none()
    }
}

#[derive(Args, Debug, Clone)]
pub struct ObserveArgs {
    pub endpoint: String,
    pub path: String,
    /// Leave the observation on the device when this command ends.
    #[arg(long)]
    pub keep: bool,
    /// Stop after this many notifications (the first is the current value).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// Notification attributes for this observation alone, sent in the
    /// Observe itself (LwM2M 1.2 devices; older ones take write-attributes).
    #[command(flatten)]
    pub attributes: NotificationAttributes,
}

#[derive(Subcommand, Debug)]
pub enum RegistrationsCommand {
    /// List registrations.
    List {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Show one registration.
    Get { endpoint: String },
}

#[derive(Subcommand, Debug)]
pub enum DevicesCommand {
    /// Registry devices with their registration status, plus registered
    /// endpoints the registry does not know (auto-provisioned).
    List {
        /// Only devices of this profile (id or name).
        #[arg(long)]
        profile: Option<String>,
        /// Only devices whose name or endpoint contains this.
        #[arg(long)]
        contains: Option<String>,
    },
    /// Show one device by endpoint.
    Get {
        endpoint: String,
        /// Include PSK keys.
        #[arg(long)]
        reveal_secrets: bool,
    },
    /// Create a NoSec or PSK device, or any device from a JSON file.
    Create(CreateDevice),
    /// Delete a device by endpoint.
    Delete { endpoint: String },
    /// Bulk registration from a CSV file (Cumulocity's columns), with a
    /// progress bar and a result per row; exit 5 if any row failed.
    Import {
        file: PathBuf,
        /// Profile (id or name) for rows without a `profile` value.
        #[arg(long)]
        profile: Option<String>,
        /// Update devices that exist with other data instead of failing the row.
        #[arg(long)]
        update_existing: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateDevice {
    /// The endpoint client name.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub endpoint: Option<String>,
    /// A `Device` in proto3 JSON (`devices get --json` prints one under "device").
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Display name (default: the endpoint).
    #[arg(long, requires = "endpoint")]
    pub name: Option<String>,
    /// Profile id or name.
    #[arg(long)]
    pub profile: Option<String>,
    /// PSK identity (with --psk-key); without: NoSec.
    #[arg(long, requires_all = ["psk_key", "endpoint"])]
    pub psk_identity: Option<String>,
    /// PSK key, 32, 64 or 128 hex digits.
    #[arg(long, requires = "psk_identity")]
    pub psk_key: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Upload every `.xml` under DIR (sub-directories too) in batches, with
    /// a progress bar and a result per file; exit 5 if any file failed.
    Import {
        dir: PathBuf,
        /// Into the system scope (every tenant sees them) instead of the tenant's.
        #[arg(long)]
        system: bool,
        /// Files per upload.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
    /// List the models the tenant sees.
    List {
        /// Only this object id.
        #[arg(long)]
        object: Option<u32>,
        /// Only names containing this (case-insensitive).
        #[arg(long)]
        name: Option<String>,
        /// Only the system scope's models.
        #[arg(long)]
        system: bool,
    },
    /// Show one model with its resources (`--xml`: the DDF file).
    Get {
        object_id: u32,
        /// Default: the newest version.
        #[arg(long)]
        version: Option<String>,
        /// Print the DDF XML instead.
        #[arg(long)]
        xml: bool,
    },
    /// Delete one model version.
    Delete {
        object_id: u32,
        #[arg(long)]
        version: String,
        /// A system model (the system operator's call).
        #[arg(long)]
        system: bool,
    },
    /// Objects devices announced or answered with no model in the registry
    /// (their values arrive as raw bytes with guesses): import their DDF.
    Unknown,
}

#[derive(Subcommand, Debug)]
pub enum OpsCommand {
    /// Operations, newest first.
    List {
        /// Only this device's.
        #[arg(long)]
        endpoint: Option<String>,
        /// Only these states (pending, executing, successful, failed,
        /// cancelled); repeat or separate with commas.
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one operation.
    Get { id: String },
    /// Cancel a pending operation.
    Cancel { id: String },
    /// Print lifecycle changes as they happen, until Ctrl-C.
    Watch {
        /// Only this device's.
        #[arg(long)]
        endpoint: Option<String>,
        /// Only this operation.
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// List the tenant's profiles.
    List,
    /// Show one profile (id or name) as JSON.
    Get { profile: String },
    /// Create a profile from a JSON file (proto3 JSON of `DeviceProfile`;
    /// `profiles get` prints one).
    Create {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Delete a profile (id or name).
    Delete { profile: String },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lwm2mctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_default_to_standalone() {
        let cli = parse(&["devices", "list", "--json", "--tenant", "acme"]).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.tenant, "acme");
        assert_eq!(cli.global.registry, DEFAULT_REGISTRY);
        assert_eq!(cli.global.server, DEFAULT_TRANSPORT);
    }

    #[test]
    fn device_create_needs_an_endpoint_or_a_file_and_both_psk_parts() {
        assert!(parse(&["devices", "create"]).is_err());
        assert!(parse(&["devices", "create", "ep", "-f", "d.json"]).is_err());
        assert!(parse(&["devices", "create", "ep", "--psk-identity", "id"]).is_err());
        assert!(parse(&[
            "devices",
            "create",
            "ep",
            "--psk-identity",
            "i",
            "--psk-key",
            "00"
        ])
        .is_ok());
        assert!(parse(&["devices", "create", "-f", "d.json"]).is_ok());
    }

    #[test]
    fn call_takes_method_and_optional_params() {
        let cli = parse(&["call", "ep", "Read", r#"{"id":"/3/0"}"#]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Call {
                params: Some(_),
                ..
            }
        ));
        assert!(parse(&["call", "ep", "DiscoverAll"]).is_ok());
        assert!(parse(&["call", "ep"]).is_err());
    }

    #[test]
    fn operation_states_split_on_commas() {
        let cli = parse(&["ops", "list", "--state", "pending,failed"]).unwrap();
        let Command::Ops {
            command: OpsCommand::List { state, .. },
        } = cli.command
        else {
            panic!("not ops list");
        };
        assert_eq!(state, ["pending", "failed"]);
    }

    #[test]
    fn model_batches_are_at_least_one_file() {
        assert!(parse(&["models", "import", "dir", "--batch", "0"]).is_err());
        assert!(parse(&["models", "import", "dir", "--batch", "5"]).is_ok());
    }

    #[test]
    fn help_ends_with_the_exit_codes() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("4  timeout"), "{help}");
    }
}
