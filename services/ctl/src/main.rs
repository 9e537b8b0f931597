//! `lwm2mctl`: an operator CLI over the cluster's gRPC APIs, in the spirit of
//! the Cumulocity shell and the ThingsBoard debug terminal.
//!
//! Exit codes: 0 success, 1 the device answered an error, 2 usage error,
//! 3 the server could not be reached or refused the call.

mod error;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::StreamExt;
use lwm2m_core::{LwM2mPath, ModelLookup, ModelRegistry, ResourceType, Value};
use lwm2m_proto::events::v1::{EventKind, ResourceValue};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::*;
use tonic::transport::Channel;

use error::Error;

#[derive(Parser, Debug)]
#[command(
    name = "lwm2mctl",
    version,
    about = "Operate an LwM2M cluster from the command line"
)]
struct Cli {
    /// gRPC address of a transport node (standalone: the one process).
    #[arg(
        long,
        env = "LWM2MCTL_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    server: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait for the device, in seconds.
    #[arg(long, default_value_t = 30, global = true)]
    timeout: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Registered devices.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
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
    /// Discover a node's attributes and resources.
    Discover { endpoint: String, path: String },
    /// Observe a node and print notifications until Ctrl-C.
    Observe { endpoint: String, path: String },
    /// Stream uplink events (all devices, or one).
    Watch {
        #[arg(long)]
        endpoint: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DevicesCommand {
    /// List registrations.
    List {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Show one registration.
    Get { endpoint: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lwm2mctl: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lwm2mctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn connect(server: &str) -> Result<TransportClient<Channel>, Error> {
    let endpoint = Channel::from_shared(server.to_owned())
        .map_err(|e| Error::Usage(format!("bad server address {server:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|source| Error::Connect {
        server: server.to_owned(),
        source,
    })?;
    Ok(TransportClient::new(channel))
}

fn check_path(path: &str) -> Result<LwM2mPath, Error> {
    path.parse::<LwM2mPath>()
        .map_err(|e| Error::Usage(e.to_string()))
}

async fn run(cli: Cli) -> Result<(), Error> {
    let mut client = connect(&cli.server).await?;
    let timeout_ms = cli.timeout.saturating_mul(1000);
    let downlink = |endpoint: &str, op: Operation| DownlinkRequest {
        endpoint: endpoint.to_owned(),
        tenant: String::new(),
        timeout_ms,
        operation: Some(op),
    };
    match cli.command {
        Command::Devices {
            command: DevicesCommand::List { prefix },
        } => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_registrations(ListRegistrationsRequest {
                        endpoint_prefix: prefix.clone(),
                        tenant: None,
                        page_size: 500,
                        page_token,
                    })
                    .await?
                    .into_inner();
                all.extend(page.registrations);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            if cli.json {
                let list: Vec<_> = all.iter().map(render::registration_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                print!("{}", render::registrations_table(&all));
            }
        }
        Command::Devices {
            command: DevicesCommand::Get { endpoint },
        } => {
            let reg = client
                .get_registration(GetRegistrationRequest {
                    endpoint,
                    tenant: String::new(),
                })
                .await?
                .into_inner();
            let json = render::registration_json(&reg);
            if cli.json {
                println!("{json}");
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json).unwrap_or_default()
                );
            }
        }
        Command::Read {
            endpoint,
            path,
            format,
        } => {
            check_path(&path)?;
            let op = Operation::Read(ReadOperation {
                path,
                content_format: format,
            });
            let resp = client.downlink(downlink(&endpoint, op)).await?.into_inner();
            print_response(&resp, cli.json)?;
        }
        Command::Write {
            endpoint,
            path,
            value,
            kind,
            partial,
        } => {
            let parsed = check_path(&path)?;
            let value = parse_value(&parsed, &value, kind.as_deref())?;
            let op = Operation::Write(WriteOperation {
                path: path.clone(),
                replace: !partial,
                values: vec![ResourceValue {
                    path,
                    value: Some((&value).into()),
                    timestamp_ms: None,
                    key: None,
                }],
                content_format: None,
            });
            let resp = client.downlink(downlink(&endpoint, op)).await?.into_inner();
            print_response(&resp, cli.json)?;
        }
        Command::Exec {
            endpoint,
            path,
            arguments,
        } => {
            check_path(&path)?;
            let op = Operation::Execute(ExecuteOperation {
                path,
                arguments: arguments.unwrap_or_default(),
            });
            let resp = client.downlink(downlink(&endpoint, op)).await?.into_inner();
            print_response(&resp, cli.json)?;
        }
        Command::Discover { endpoint, path } => {
            check_path(&path)?;
            let op = Operation::Discover(DiscoverOperation { path });
            let resp = client.downlink(downlink(&endpoint, op)).await?.into_inner();
            print_response(&resp, cli.json)?;
        }
        Command::Observe { endpoint, path } => {
            check_path(&path)?;
            // Subscribe first so no notification slips between the two calls.
            let mut stream = client
                .subscribe_uplinks(SubscribeUplinksRequest {
                    endpoint: Some(endpoint.clone()),
                    kinds: vec![EventKind::Values as i32],
                    tenant: None,
                })
                .await?
                .into_inner();
            let op = Operation::Observe(ObserveOperation {
                path: path.clone(),
                content_format: None,
            });
            let resp = client.downlink(downlink(&endpoint, op)).await?.into_inner();
            print_response(&resp, cli.json)?;
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    item = stream.next() => match item {
                        Some(Ok(event)) => print_event(&event, cli.json),
                        Some(Err(status)) => return Err(status.into()),
                        None => break,
                    },
                }
            }
            let op = Operation::CancelObserve(CancelObserveOperation { path });
            client.downlink(downlink(&endpoint, op)).await?;
        }
        Command::Watch { endpoint } => {
            let mut stream = client
                .subscribe_uplinks(SubscribeUplinksRequest {
                    endpoint,
                    kinds: Vec::new(),
                    tenant: None,
                })
                .await?
                .into_inner();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    item = stream.next() => match item {
                        Some(Ok(event)) => print_event(&event, cli.json),
                        Some(Err(status)) => return Err(status.into()),
                        None => break,
                    },
                }
            }
        }
    }
    Ok(())
}

fn print_event(event: &lwm2m_proto::events::v1::UplinkEvent, json: bool) {
    if json {
        use lwm2m_proto::events::v1::uplink_event::Payload;
        let values = match &event.payload {
            Some(Payload::Values(v)) => render::values_json(&v.values),
            _ => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::json!({"endpoint": event.endpoint, "timestamp_ms": event.timestamp_ms, "values": values})
        );
    } else {
        println!("{}", render::event_line(event));
    }
}

fn print_response(resp: &DownlinkResponse, json: bool) -> Result<(), Error> {
    if json {
        let mut out = serde_json::json!({
            "result": resp.code_name,
            "code": resp.code,
            "values": render::values_json(&resp.values),
        });
        if let Some(link) = &resp.link_format {
            out["link_format"] = serde_json::json!(link);
        }
        if let Some(location) = &resp.location {
            out["location"] = serde_json::json!(location);
        }
        println!("{out}");
    } else {
        println!("{} {}", resp.code, resp.code_name);
        if !resp.values.is_empty() {
            print!("{}", render::values_table(&resp.values));
        }
        if let Some(link) = &resp.link_format {
            for l in link.split(',') {
                println!("{l}");
            }
        }
        if let Some(location) = &resp.location {
            println!("location: {location}");
        }
    }
    if resp.code.starts_with('2') {
        Ok(())
    } else {
        Err(Error::Device {
            code: resp.code.clone(),
            name: resp.code_name.clone(),
        })
    }
}

/// Turns command-line text into a typed value: the object model gives the
/// type; `--type` names it where the model does not know the resource.
fn parse_value(path: &LwM2mPath, text: &str, kind: Option<&str>) -> Result<Value, Error> {
    let models = ModelRegistry::with_core_objects();
    let kind = match kind {
        Some(k) => parse_kind(k)?,
        None => {
            let (Some(o), Some(r)) = (path.object_id(), path.resource_id()) else {
                return Err(Error::Usage(format!(
                    "{path} is not a resource; write needs a resource path"
                )));
            };
            models.resource(o, r).map(|m| m.kind).ok_or_else(|| {
                Error::Usage(format!("no model gives the type of {path}; pass --type"))
            })?
        }
    };
    let bad = |e: String| Error::Usage(format!("{text:?} is not a valid {kind}: {e}"));
    Ok(match kind {
        ResourceType::String => Value::String(text.to_owned()),
        ResourceType::CoreLink => Value::CoreLink(text.to_owned()),
        ResourceType::Integer => Value::Integer(text.parse().map_err(|e| bad(format!("{e}")))?),
        ResourceType::UnsignedInteger => {
            Value::UnsignedInteger(text.parse().map_err(|e| bad(format!("{e}")))?)
        }
        ResourceType::Float => Value::Float(text.parse().map_err(|e| bad(format!("{e}")))?),
        ResourceType::Time => Value::Time(text.parse().map_err(|e| bad(format!("{e}")))?),
        ResourceType::Boolean => match text {
            "1" | "true" => Value::Boolean(true),
            "0" | "false" => Value::Boolean(false),
            _ => return Err(bad("use true/false or 1/0".into())),
        },
        ResourceType::Opaque => Value::Opaque(
            hex::decode(text.trim_start_matches("0x")).map_err(|e| bad(format!("{e}")))?,
        ),
        ResourceType::ObjectLink => Value::ObjectLink(text.parse().map_err(bad)?),
        ResourceType::None => return Err(Error::Usage(format!("{path} is executable; use exec"))),
    })
}

fn parse_kind(k: &str) -> Result<ResourceType, Error> {
    Ok(match k.to_ascii_lowercase().as_str() {
        "string" => ResourceType::String,
        "integer" | "int" => ResourceType::Integer,
        "unsigned" => ResourceType::UnsignedInteger,
        "float" => ResourceType::Float,
        "boolean" | "bool" => ResourceType::Boolean,
        "time" => ResourceType::Time,
        "opaque" => ResourceType::Opaque,
        "objlnk" => ResourceType::ObjectLink,
        "corelnk" => ResourceType::CoreLink,
        other => return Err(Error::Usage(format!("unknown type {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_their_type_from_the_model() {
        let p = |s: &str| s.parse::<LwM2mPath>().unwrap();
        assert_eq!(
            parse_value(&p("/1/0/1"), "300", None).unwrap(),
            Value::Integer(300)
        );
        assert_eq!(
            parse_value(&p("/3/0/14"), "+02:00", None).unwrap(),
            Value::String("+02:00".into())
        );
        assert_eq!(
            parse_value(&p("/1/0/6"), "true", None).unwrap(),
            Value::Boolean(true)
        );
        assert!(parse_value(&p("/1/0/1"), "soon", None).is_err());
        assert!(
            parse_value(&p("/3/0/4"), "x", None).is_err(),
            "executables are not written"
        );
        assert!(
            parse_value(&p("/3303/0/5700"), "1.5", None).is_err(),
            "unknown model needs --type"
        );
        assert_eq!(
            parse_value(&p("/3303/0/5700"), "1.5", Some("float")).unwrap(),
            Value::Float(1.5)
        );
    }
}
