//! `lwm2mctl observe`: start (or join) the observation of a path, print its
//! notifications, and end what this command started when it stops.
//!
//! A device has one observation per path (the transport reuses an existing
//! one), so several watchers may share it. Cancelling ends it for all of
//! them, so this command cancels only an observation it created: the path
//! was not observed before it started. `--keep` leaves even that one.

use std::time::Duration;

use futures::StreamExt;
use lwm2m_proto::dispatch::v1::ObserveReadAllRequest;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{EventKind, UplinkEvent, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::*;

use super::Context;
use crate::cli::ObserveArgs;
use crate::error::Error;
use crate::render;
use crate::values::parse_path;

pub async fn run(ctx: &Context, args: &ObserveArgs) -> Result<(), Error> {
    let path = parse_path(&args.path)?.without_version().to_string();
    let endpoint = args.endpoint.as_str();
    let mut client = ctx.transport().await?;
    // Subscribe first so no notification slips between the two calls.
    let stream = client
        .subscribe_uplinks(SubscribeUplinksRequest {
            endpoint: Some(endpoint.to_owned()),
            kinds: vec![EventKind::Values as i32],
            tenant: None,
        })
        .await?
        .into_inner();
    let a = &args.attributes;
    if ctx.via_dispatch() && !a.is_empty() {
        return Err(Error::Usage(
            "attributes in an Observe go straight to the transport; drop --dispatch".into(),
        ));
    }
    let (created, token) = if ctx.via_dispatch() {
        let observed_before = observed_paths(ctx, endpoint).await?.contains(&path);
        super::dispatch_ops::observe(ctx, endpoint, &args.path).await?;
        (!observed_before, None)
    } else {
        let response = client
            .downlink(DownlinkRequest {
                endpoint: endpoint.to_owned(),
                tenant: String::new(),
                timeout_ms: ctx.global.timeout.saturating_mul(1000),
                operation: Some(Operation::Observe(ObserveOperation {
                    path: args.path.clone(),
                    content_format: None,
                    pmin: a.pmin,
                    pmax: a.pmax,
                    gt: a.gt,
                    lt: a.lt,
                    st: a.st,
                    epmin: a.epmin,
                    epmax: a.epmax,
                })),
            })
            .await?
            .into_inner();
        super::device_ops::print_response(ctx, &response)?;
        (!response.observation_reused, response.observation_token)
    };
    if !created {
        eprintln!(
            "{path} was already observed on {endpoint}: printing its notifications, \
             it stays observed when this command ends"
        );
    }
    let filter = Filter { token, path };
    let stopped = print_until_stopped(ctx, stream, &filter, args).await;
    if created && !args.keep {
        // Cancelled the way it was started, so dispatch's record stays true.
        if ctx.via_dispatch() {
            super::dispatch_ops::cancel_observe(ctx, endpoint, &args.path).await?;
        } else {
            let cancel = Operation::CancelObserve(CancelObserveOperation {
                path: args.path.clone(),
            });
            let answer = client
                .downlink(DownlinkRequest {
                    endpoint: endpoint.to_owned(),
                    tenant: String::new(),
                    timeout_ms: ctx.global.timeout.saturating_mul(1000),
                    operation: Some(cancel),
                })
                .await;
            if let Err(status) = answer {
                match cancel_failure(status) {
                    Ok(note) => eprintln!("{}: {note}", args.path),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    stopped
}

/// A failed cancel that still leaves the observation ended on the server
/// side is a note, not an error: the server forgets it before asking the
/// device, and answers any later notification of it with RST.
fn cancel_failure(status: tonic::Status) -> Result<&'static str, Error> {
    match status.code() {
        tonic::Code::NotFound => Ok("the observation was already cancelled"),
        tonic::Code::DeadlineExceeded => Ok(
            "the device did not confirm the cancel; the server has forgotten the \
             observation and answers its notifications with RST",
        ),
        _ => Err(status.into()),
    }
}

/// The paths dispatch's session view lists as observed.
async fn observed_paths(ctx: &Context, endpoint: &str) -> Result<Vec<String>, Error> {
    let mut client = ctx.dispatch().await?;
    let answer = client
        .observe_read_all(ObserveReadAllRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
        })
        .await?
        .into_inner();
    Ok(answer.paths)
}

/// Which uplink events are this observation's notifications.
struct Filter {
    /// The observation's token, when the transport told it.
    token: Option<String>,
    /// The observed path, without version.
    path: String,
}

impl Filter {
    fn matches(&self, event: &UplinkEvent) -> bool {
        let Some(Payload::Values(values)) = &event.payload else {
            return false;
        };
        if values.source() != ValueSource::Notify {
            return false;
        }
        match (&self.token, &values.observation_token) {
            (Some(wanted), Some(token)) => wanted == token,
            // Through dispatch the token is not known: values under the path.
            _ => values.values.iter().any(|v| under(&v.path, &self.path)),
        }
    }
}

/// `/3/0/9` is under `/3/0/9`, `/3/0` and `/3`, not under `/3/0/1`.
fn under(path: &str, observed: &str) -> bool {
    let observed = observed.trim_end_matches('/');
    path == observed
        || path
            .strip_prefix(observed)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Prints the notifications until a signal, `--count`, `--duration` or
/// the end of the stream.
async fn print_until_stopped(
    ctx: &Context,
    mut stream: tonic::Streaming<UplinkEvent>,
    filter: &Filter,
    args: &ObserveArgs,
) -> Result<(), Error> {
    let deadline = args
        .duration
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let signal = stop_signal();
    tokio::pin!(signal);
    let mut printed = 0u64;
    loop {
        tokio::select! {
            () = &mut signal => return Ok(()),
            () = until(deadline) => return Ok(()),
            item = stream.next() => match item {
                Some(Ok(event)) if filter.matches(&event) => {
                    if ctx.global.json {
                        ctx.print_json(&render::event_json(&event));
                    } else {
                        println!("{}", render::event_line(&event));
                    }
                    printed += 1;
                    if args.count.is_some_and(|n| printed >= n) {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(status)) => return Err(status.into()),
                None => return Ok(()),
            },
        }
    }
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C, or SIGTERM / SIGHUP (`timeout`, a closed terminal, a service
/// manager): each ends the command the same way, with the cancel.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        if let (Ok(mut term), Ok(mut hup)) = (term, hup) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::{ResourceValue, ResourceValues};

    use super::*;

    fn notification(path: &str, token: Option<&str>, source: ValueSource) -> UplinkEvent {
        UplinkEvent {
            endpoint: "sim-0001".into(),
            payload: Some(Payload::Values(ResourceValues {
                source: source as i32,
                values: vec![ResourceValue {
                    path: path.into(),
                    ..Default::default()
                }],
                observation_token: token.map(str::to_owned),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn only_this_observations_notifications_are_printed() {
        let by_token = Filter {
            token: Some("ab".into()),
            path: "/3/0/9".into(),
        };
        assert!(by_token.matches(&notification("/3/0/9", Some("ab"), ValueSource::Notify)));
        assert!(!by_token.matches(&notification("/3/0/9", Some("cd"), ValueSource::Notify)));
        assert!(!by_token.matches(&notification("/3/0/9", None, ValueSource::Read)));
        let by_path = Filter {
            token: None,
            path: "/3/0".into(),
        };
        assert!(by_path.matches(&notification("/3/0/9", Some("cd"), ValueSource::Notify)));
        assert!(!by_path.matches(&notification("/3/01/9", None, ValueSource::Notify)));
        assert!(!by_path.matches(&notification("/4/0/9", None, ValueSource::Notify)));
    }

    #[test]
    fn a_cancel_the_device_did_not_confirm_is_a_note() {
        assert!(cancel_failure(tonic::Status::deadline_exceeded("slow")).is_ok());
        assert!(cancel_failure(tonic::Status::not_found("gone")).is_ok());
        assert!(cancel_failure(tonic::Status::unavailable("down")).is_err());
    }

    #[test]
    fn paths_under_an_observed_path() {
        assert!(under("/3/0/9", "/3/0/9"));
        assert!(under("/3/0/9", "/3"));
        assert!(!under("/3/0/10", "/3/0/1"));
        assert!(under("/3/0/9", "/"));
    }
}
