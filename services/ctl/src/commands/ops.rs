//! Dispatch operations: list, get, cancel, and watch their lifecycle.

use futures::StreamExt;
use lwm2m_proto::dispatch::v1::*;
use serde_json::{json, Value as Json};

use super::dispatch_ops::state_name;
use super::Context;
use crate::cli::OpsCommand;
use crate::error::Error;
use crate::table::Table;

pub async fn run(ctx: &Context, command: OpsCommand) -> Result<(), Error> {
    let mut client = ctx.dispatch().await?;
    match command {
        OpsCommand::List {
            endpoint,
            state,
            limit,
        } => {
            let states = state
                .iter()
                .map(|s| parse_state(s).map(|s| s as i32))
                .collect::<Result<Vec<_>, _>>()?;
            let mut operations = Vec::new();
            let mut page_token = String::new();
            while operations.len() < limit {
                let page = client
                    .list_operations(ListOperationsRequest {
                        tenant: String::new(),
                        endpoint: endpoint.clone().unwrap_or_default(),
                        states: states.clone(),
                        page_size: u32::try_from(limit.min(1000)).unwrap_or(1000),
                        page_token,
                    })
                    .await?
                    .into_inner();
                operations.extend(page.operations);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            operations.truncate(limit);
            if ctx.global.json {
                ctx.print_json(&Json::Array(
                    operations.iter().map(operation_json).collect(),
                ));
            } else {
                print!("{}", operations_table(&operations));
            }
        }
        OpsCommand::Get { id } => {
            let op = client
                .get_operation(GetOperationRequest { id })
                .await?
                .into_inner();
            print_operation(ctx, &op);
        }
        OpsCommand::Cancel { id } => {
            let op = client
                .cancel_operation(CancelOperationRequest { id })
                .await?
                .into_inner();
            print_operation(ctx, &op);
        }
        OpsCommand::Watch { endpoint, id } => {
            let mut stream = client
                .watch_operations(WatchOperationsRequest {
                    tenant: None,
                    endpoint,
                    operation_id: id,
                })
                .await?
                .into_inner();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    item = stream.next() => match item {
                        Some(Ok(event)) if ctx.global.json => ctx.print_json(&event_json(&event)),
                        Some(Ok(event)) => println!("{}", event_line(&event)),
                        Some(Err(status)) => return Err(status.into()),
                        None => return Ok(()),
                    },
                }
            }
        }
    }
    Ok(())
}

/// `pending`, `PENDING` or `OPERATION_STATE_PENDING`.
fn parse_state(text: &str) -> Result<OperationState, Error> {
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("OPERATION_STATE_") {
        upper
    } else {
        format!("OPERATION_STATE_{upper}")
    };
    OperationState::from_str_name(&full)
        .filter(|s| *s != OperationState::Unspecified)
        .ok_or_else(|| {
            Error::Usage(format!(
                "unknown state {text:?}: use pending, executing, successful, failed or cancelled"
            ))
        })
}

fn operation_json(op: &Operation) -> Json {
    let result = op.result.clone().unwrap_or_default();
    let result_json: Json = serde_json::from_str(&result.result_json).unwrap_or(Json::Null);
    json!({
        "id": op.id,
        "tenant": op.tenant,
        "endpoint": op.endpoint,
        "method": op.method,
        "params": serde_json::from_str::<Json>(&op.params_json).unwrap_or(Json::Null),
        "state": state_name(op.state()),
        "code": result.code,
        "code_name": result.code_name,
        "result": result_json,
        "error": result.error,
        "attempts": op.attempts,
        "created_at_ms": op.created_at_ms,
        "updated_at_ms": op.updated_at_ms,
        "expires_at_ms": op.expires_at_ms,
        "post_registration": op.post_registration,
    })
}

fn print_operation(ctx: &Context, op: &Operation) {
    let json = operation_json(op);
    if ctx.global.json {
        ctx.print_json(&json);
    } else {
        println!("{json:#}");
    }
}

fn operations_table(operations: &[Operation]) -> String {
    let mut table = Table::new(&["ID", "ENDPOINT", "METHOD", "STATE", "RESULT", "PARAMS"]);
    for op in operations {
        let result = op.result.clone().unwrap_or_default();
        table.row(vec![
            op.id.clone(),
            op.endpoint.clone(),
            op.method.clone(),
            state_name(op.state()).to_owned(),
            format!("{} {}", result.code, result.code_name)
                .trim()
                .to_owned(),
            op.params_json.clone(),
        ]);
    }
    table.render()
}

fn event_json(event: &OperationEvent) -> Json {
    let kind = event.kind().as_str_name();
    json!({
        "kind": kind.strip_prefix("OPERATION_EVENT_KIND_").unwrap_or(kind),
        "timestamp_ms": event.timestamp_ms,
        "operation": event.operation.as_ref().map(operation_json),
    })
}

/// One line per lifecycle change, with its local time (`--json` keeps
/// `timestamp_ms`).
fn event_line(event: &OperationEvent) -> String {
    let kind = event.kind().as_str_name();
    let kind = kind.strip_prefix("OPERATION_EVENT_KIND_").unwrap_or(kind);
    let at = crate::local_time::rfc3339_local(event.timestamp_ms);
    match &event.operation {
        Some(op) => {
            let result = op.result.clone().unwrap_or_default();
            format!(
                "{at} {kind} {} {} {} {} {}",
                op.id, op.endpoint, op.method, op.params_json, result.code_name
            )
            .trim_end()
            .to_owned()
        }
        None => format!("{at} {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_code::Exit;

    #[test]
    fn states_are_given_in_any_case_with_or_without_prefix() {
        assert_eq!(parse_state("pending").unwrap(), OperationState::Pending);
        assert_eq!(parse_state("FAILED").unwrap(), OperationState::Failed);
        assert_eq!(
            parse_state("OPERATION_STATE_CANCELLED").unwrap(),
            OperationState::Cancelled
        );
        assert_eq!(parse_state("done").unwrap_err().exit(), Exit::Usage);
        assert!(parse_state("unspecified").is_err());
    }

    #[test]
    fn operations_print_as_a_table_and_as_json() {
        let op = Operation {
            id: "op-1".into(),
            endpoint: "sim-0001".into(),
            method: "Read".into(),
            params_json: r#"{"id":"/3/0/9"}"#.into(),
            state: OperationState::Successful as i32,
            result: Some(OperationResult {
                code: "2.05".into(),
                code_name: "CONTENT".into(),
                result_json: r#"{"result":"CONTENT","value":80}"#.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            operations_table(std::slice::from_ref(&op)),
            "ID    ENDPOINT  METHOD  STATE       RESULT        PARAMS\n\
             op-1  sim-0001  Read    SUCCESSFUL  2.05 CONTENT  {\"id\":\"/3/0/9\"}\n"
        );
        let json = operation_json(&op);
        assert_eq!(json["params"]["id"], "/3/0/9");
        assert_eq!(json["result"]["value"], 80);
        let event = OperationEvent {
            kind: OperationEventKind::Successful as i32,
            operation: Some(op),
            event_id: "e".into(),
            timestamp_ms: 7,
        };
        assert_eq!(event_json(&event)["kind"], "SUCCESSFUL");
        assert_eq!(
            event_json(&event)["timestamp_ms"],
            7,
            "--json keeps the number"
        );
        let line = event_line(&event);
        let (at, rest) = line.split_once(' ').unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        assert_eq!(at.timestamp_millis(), 7, "{line}");
        assert!(rest.starts_with("SUCCESSFUL op-1 sim-0001 Read"), "{line}");
    }
}
