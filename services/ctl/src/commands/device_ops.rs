//! Operations on one device through a transport node: read, write,
//! execute, discover, and the uplink event stream (observe: `observe.rs`).

use futures::StreamExt;
use lwm2m_proto::events::v1::{ResourceValue, UplinkEvent};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::*;

use super::Context;
use crate::error::Error;
use crate::render;
use crate::values::{parse_path, parse_value};

pub(super) async fn downlink(ctx: &Context, endpoint: &str, op: Operation) -> Result<(), Error> {
    let mut client = ctx.transport().await?;
    let response = client
        .downlink(DownlinkRequest {
            endpoint: endpoint.to_owned(),
            tenant: String::new(),
            timeout_ms: ctx.global.timeout.saturating_mul(1000),
            operation: Some(op),
        })
        .await?
        .into_inner();
    print_response(ctx, &response)
}

pub async fn read(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    format: Option<u32>,
) -> Result<(), Error> {
    parse_path(path)?;
    let op = Operation::Read(ReadOperation {
        path: path.to_owned(),
        content_format: format,
    });
    downlink(ctx, endpoint, op).await
}

pub async fn write(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    text: &str,
    kind: Option<&str>,
    partial: bool,
) -> Result<(), Error> {
    let value = parse_value(&parse_path(path)?, text, kind)?;
    let op = Operation::Write(WriteOperation {
        path: path.to_owned(),
        replace: !partial,
        values: vec![ResourceValue {
            path: path.to_owned(),
            value: Some((&value).into()),
            timestamp_ms: None,
            key: None,
        }],
        content_format: None,
    });
    downlink(ctx, endpoint, op).await
}

pub async fn exec(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    arguments: Option<String>,
) -> Result<(), Error> {
    parse_path(path)?;
    let op = Operation::Execute(ExecuteOperation {
        path: path.to_owned(),
        arguments: arguments.unwrap_or_default(),
    });
    downlink(ctx, endpoint, op).await
}

pub async fn discover(ctx: &Context, endpoint: &str, path: &str) -> Result<(), Error> {
    parse_path(path)?;
    let op = Operation::Discover(DiscoverOperation {
        path: path.to_owned(),
    });
    downlink(ctx, endpoint, op).await
}

pub async fn watch(ctx: &Context, endpoint: Option<String>) -> Result<(), Error> {
    let mut client = ctx.transport().await?;
    let stream = client
        .subscribe_uplinks(SubscribeUplinksRequest {
            endpoint,
            kinds: Vec::new(),
            tenant: None,
        })
        .await?
        .into_inner();
    print_events_until_ctrl_c(ctx, stream).await
}

async fn print_events_until_ctrl_c(
    ctx: &Context,
    mut stream: tonic::Streaming<UplinkEvent>,
) -> Result<(), Error> {
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            item = stream.next() => match item {
                Some(Ok(event)) if ctx.global.json => ctx.print_json(&render::event_json(&event)),
                Some(Ok(event)) => println!("{}", render::event_line(&event)),
                Some(Err(status)) => return Err(status.into()),
                None => return Ok(()),
            },
        }
    }
}

/// Prints the device's answer; a 4.xx/5.xx answer is printed too, then
/// becomes the error that sets the exit code.
pub(super) fn print_response(ctx: &Context, response: &DownlinkResponse) -> Result<(), Error> {
    let unreadable = render::answer_error(response);
    // Links that are not link-format would print as garbage.
    let shown = DownlinkResponse {
        link_format: response
            .link_format
            .clone()
            .filter(|_| unreadable.is_none()),
        ..response.clone()
    };
    if ctx.global.json {
        ctx.print_json(&render::response_json(&shown));
    } else {
        print!("{}", render::response_text(&shown));
    }
    if let Some(warning) = render::missing_models_warning(response) {
        eprintln!("lwm2mctl: {warning}");
    }
    if let Some(reason) = unreadable {
        return Err(Error::DeviceAnswer {
            code: response.code.clone(),
            name: response.code_name.clone(),
            reason,
        });
    }
    if response.code.starts_with('2') {
        Ok(())
    } else {
        Err(Error::Device {
            code: response.code.clone(),
            name: response.code_name.clone(),
        })
    }
}
