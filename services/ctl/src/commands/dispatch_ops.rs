//! Device operations through the dispatch service: the same commands as
//! `device_ops` (and the same JSON shape), but as durable operations that
//! wait for a sleeping device; plus `call` with ThingsBoard RPC JSON.

use lwm2m_proto::dispatch::v1::*;
use lwm2m_proto::events::v1::ResourceValue;
use serde_json::{json, Value as Json};

use super::Context;
use crate::error::Error;
use crate::exit_code::Exit;
use crate::render;
use crate::values::{parse_path, parse_value};

pub(super) fn options(ctx: &Context, content_format: Option<u32>) -> Option<CommandOptions> {
    Some(CommandOptions {
        timeout_ms: ctx.global.timeout.saturating_mul(1000),
        no_wait: false,
        wait_ms: 0,
        content_format,
    })
}

pub async fn read(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    format: Option<u32>,
) -> Result<(), Error> {
    parse_path(path)?;
    let mut client = ctx.dispatch().await?;
    let answer = client
        .read(ReadRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, format),
            id: path.to_owned(),
            key: String::new(),
        })
        .await?
        .into_inner();
    print_outcome(ctx, answer.operation, &flatten(&answer.nodes))
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
    let request = WriteRequest {
        tenant: String::new(),
        endpoint: endpoint.to_owned(),
        options: options(ctx, None),
        id: path.to_owned(),
        key: String::new(),
        value_json: String::new(),
        values: vec![ResourceValue {
            path: path.to_owned(),
            value: Some((&value).into()),
            timestamp_ms: None,
            key: None,
        }],
    };
    let mut client = ctx.dispatch().await?;
    let answer = if partial {
        client.write_update(request).await?
    } else {
        client.write_replace(request).await?
    };
    print_outcome(ctx, answer.into_inner().operation, &[])
}

pub async fn exec(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    arguments: Option<String>,
) -> Result<(), Error> {
    parse_path(path)?;
    let mut client = ctx.dispatch().await?;
    let answer = client
        .execute(ExecuteRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, None),
            id: path.to_owned(),
            key: String::new(),
            arguments: arguments.unwrap_or_default(),
        })
        .await?
        .into_inner();
    print_outcome(ctx, answer.operation, &[])
}

pub async fn discover(ctx: &Context, endpoint: &str, path: &str) -> Result<(), Error> {
    parse_path(path)?;
    let mut client = ctx.dispatch().await?;
    let answer = client
        .discover(DiscoverRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, None),
            id: path.to_owned(),
            key: String::new(),
        })
        .await?
        .into_inner();
    print_outcome(ctx, answer.operation, &[])
}

/// Starts the observation through dispatch; the caller streams the
/// notifications from the transport (dispatch does not carry them).
pub async fn observe(ctx: &Context, endpoint: &str, path: &str) -> Result<(), Error> {
    let mut client = ctx.dispatch().await?;
    let answer = client
        .observe(ObserveRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, None),
            id: path.to_owned(),
            key: String::new(),
        })
        .await?
        .into_inner();
    print_outcome(ctx, answer.operation, &flatten(&answer.nodes))
}

pub async fn cancel_observe(ctx: &Context, endpoint: &str, path: &str) -> Result<(), Error> {
    let mut client = ctx.dispatch().await?;
    client
        .observe_cancel(ObserveCancelRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, None),
            id: path.to_owned(),
            key: String::new(),
        })
        .await?;
    Ok(())
}

/// `call EP Read '{"id":"/3/0"}'`, or the whole ThingsBoard document as
/// the only argument: `call EP '{"method":"Read","params":{"id":"/3/0"}}'`.
pub async fn call(
    ctx: &Context,
    endpoint: &str,
    method_or_request: &str,
    params: Option<&str>,
) -> Result<(), Error> {
    let (method, params_json, request_json) = call_parts(method_or_request, params)?;
    let mut client = ctx.dispatch().await?;
    let answer = client
        .call(CallRequest {
            tenant: String::new(),
            endpoint: endpoint.to_owned(),
            options: options(ctx, None),
            method,
            params_json,
            request_json,
        })
        .await?
        .into_inner();
    let result: Json = serde_json::from_str(&answer.result_json)
        .unwrap_or_else(|_| Json::String(answer.result_json.clone()));
    if ctx.global.json {
        ctx.print_json(&result);
    } else {
        println!("{result:#}");
        if let Some(op) = &answer.operation {
            println!("operation {} {}", op.id, state_name(op.state()));
        }
    }
    // DiscoverAll and ObserveReadAll answer from the session: no operation.
    answer.operation.map_or(Ok(()), |op| outcome(&op))
}

/// Checks the JSON on our side so a typo is a usage error with the
/// parser's message, not a round trip.
fn call_parts(
    method_or_request: &str,
    params: Option<&str>,
) -> Result<(String, String, String), Error> {
    let check = |what: &str, text: &str| {
        serde_json::from_str::<Json>(text)
            .map_err(|e| Error::Usage(format!("{what} is not JSON ({e}): {text}")))
            .and_then(|json| {
                if json.is_object() {
                    Ok(())
                } else {
                    Err(Error::Usage(format!(
                        "{what} must be a JSON object: {text}"
                    )))
                }
            })
    };
    if method_or_request.trim_start().starts_with('{') {
        if params.is_some() {
            return Err(Error::Usage(
                "give either METHOD [PARAMS] or one ThingsBoard request document".into(),
            ));
        }
        check("the request", method_or_request)?;
        return Ok((String::new(), String::new(), method_or_request.to_owned()));
    }
    let params = params.unwrap_or("{}");
    check("PARAMS", params)?;
    Ok((
        method_or_request.to_owned(),
        params.to_owned(),
        String::new(),
    ))
}

/// Leaf values of a node tree, with their full paths, for the same
/// `values` output as a transport read.
fn flatten(nodes: &[Node]) -> Vec<ResourceValue> {
    let mut out = Vec::new();
    for node in nodes {
        if node.value.is_some() {
            out.push(ResourceValue {
                path: node.path.clone(),
                value: node.value.clone(),
                timestamp_ms: None,
                key: None,
            });
        }
        out.extend(flatten(&node.children));
    }
    out
}

pub fn state_name(state: OperationState) -> &'static str {
    let name = state.as_str_name();
    name.strip_prefix("OPERATION_STATE_").unwrap_or(name)
}

/// The same fields as a transport answer (`result`, `code`, `values`,
/// `link_format`, `location`) plus the operation, so scripts do not care
/// which way the command went.
fn outcome_json(op: &Operation, values: &[ResourceValue]) -> Json {
    let result = op.result.clone().unwrap_or_default();
    // An operation without an answer (pending, expired) names its state.
    let name = if result.code_name.is_empty() {
        state_name(op.state()).to_owned()
    } else {
        result.code_name.clone()
    };
    let mut out = json!({
        "result": name,
        "code": result.code,
        "values": render::values_json(values),
        "operation": {"id": op.id, "state": state_name(op.state())},
    });
    if let Some(link) = &result.link_format {
        out["link_format"] = json!(link);
    }
    if let Some(location) = &result.location {
        out["location"] = json!(location);
    }
    if !result.error.is_empty() {
        out["error"] = json!(result.error);
    }
    out
}

pub(super) fn print_outcome(
    ctx: &Context,
    op: Option<Operation>,
    values: &[ResourceValue],
) -> Result<(), Error> {
    let op = op.ok_or_else(|| {
        Error::Rpc(tonic::Status::internal(
            "dispatch answered without the operation",
        ))
    })?;
    let json = outcome_json(&op, values);
    if ctx.global.json {
        ctx.print_json(&json);
    } else {
        let result = op.result.clone().unwrap_or_default();
        println!(
            "{} {}",
            result.code,
            json["result"].as_str().unwrap_or_default()
        );
        if !values.is_empty() {
            print!("{}", render::values_table(values));
        }
        if let Some(link) = &result.link_format {
            for l in link.split(',') {
                println!("{l}");
            }
        }
        if let Some(location) = &result.location {
            println!("location: {location}");
        }
        println!("operation {} {}", op.id, state_name(op.state()));
    }
    outcome(&op)
}

/// An operation that did not succeed becomes the error that sets the exit
/// code: a device answer (4.xx/5.xx) is 3; no answer in time (expired,
/// timed out, still pending when we stopped waiting) or cancelled is 4.
pub fn outcome(op: &Operation) -> Result<(), Error> {
    let result = op.result.clone().unwrap_or_default();
    let exit = match op.state() {
        OperationState::Successful => return Ok(()),
        OperationState::Failed if !result.code.is_empty() => Exit::DeviceError,
        _ => Exit::Unavailable,
    };
    let message = match (result.code.is_empty(), result.error.is_empty()) {
        (false, _) => format!("device answered {} {}", result.code, result.code_name),
        (true, false) => result.error,
        (true, true) => "the device has not answered yet; the operation goes on".to_owned(),
    };
    Err(Error::Operation {
        id: op.id.clone(),
        state: state_name(op.state()).to_owned(),
        message,
        exit,
    })
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::{value::Kind, Value};

    use super::*;

    fn op(state: OperationState, code: &str, name: &str) -> Operation {
        Operation {
            id: "op-1".into(),
            state: state as i32,
            result: Some(OperationResult {
                code: code.into(),
                code_name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn operation_states_give_the_documented_exit_codes() {
        assert!(outcome(&op(OperationState::Successful, "2.05", "CONTENT")).is_ok());
        let device = outcome(&op(OperationState::Failed, "4.04", "NOT_FOUND")).unwrap_err();
        assert_eq!(device.exit(), Exit::DeviceError);
        assert!(device.to_string().contains("4.04"), "{device}");
        let expired = outcome(&op(OperationState::Failed, "", "EXPIRED")).unwrap_err();
        assert_eq!(expired.exit(), Exit::Unavailable);
        let pending = outcome(&op(OperationState::Pending, "", "")).unwrap_err();
        assert_eq!(pending.exit(), Exit::Unavailable);
        assert!(pending.to_string().contains("PENDING"), "{pending}");
    }

    #[test]
    fn node_trees_flatten_to_leaf_values() {
        let leaf = |path: &str, i: i64| Node {
            path: path.into(),
            value: Some(Value {
                kind: Some(Kind::Integer(i)),
            }),
            children: Vec::new(),
        };
        let tree = Node {
            path: "/3/0".into(),
            value: None,
            children: vec![leaf("/3/0/9", 80), leaf("/3/0/10", 5)],
        };
        let paths: Vec<String> = flatten(&[tree]).into_iter().map(|v| v.path).collect();
        assert_eq!(paths, ["/3/0/9", "/3/0/10"]);
    }

    #[test]
    fn the_json_matches_the_transport_answer_plus_the_operation() {
        let json = outcome_json(&op(OperationState::Successful, "2.05", "CONTENT"), &[]);
        assert_eq!(json["result"], "CONTENT");
        assert_eq!(json["code"], "2.05");
        assert_eq!(json["operation"]["state"], "SUCCESSFUL");
        let pending = outcome_json(&op(OperationState::Pending, "", ""), &[]);
        assert_eq!(pending["result"], "PENDING");
    }

    #[test]
    fn call_takes_thingsboard_params_or_a_whole_request() {
        assert_eq!(
            call_parts("Read", Some(r#"{"id":"/3/0"}"#)).unwrap(),
            ("Read".into(), r#"{"id":"/3/0"}"#.into(), String::new())
        );
        assert_eq!(
            call_parts("DiscoverAll", None).unwrap(),
            ("DiscoverAll".into(), "{}".into(), String::new())
        );
        let whole = r#"{"method":"Read","params":{"id":"/3/0/9"}}"#;
        assert_eq!(
            call_parts(whole, None).unwrap(),
            (String::new(), String::new(), whole.into())
        );
        assert_eq!(
            call_parts("Read", Some("{id:")).unwrap_err().exit(),
            Exit::Usage
        );
        assert_eq!(
            call_parts("Read", Some("[1]")).unwrap_err().exit(),
            Exit::Usage
        );
        assert_eq!(
            call_parts(whole, Some("{}")).unwrap_err().exit(),
            Exit::Usage
        );
    }
}
