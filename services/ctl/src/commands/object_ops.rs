//! Write-Attributes, Create and Delete: the device operations that change
//! notification attributes and object instances rather than values. Like
//! `read`/`write` they go straight to the transport, or through dispatch as
//! durable operations when `--dispatch` is given, with the same output.

use lwm2m_core::LwM2mPath;
use lwm2m_proto::dispatch::v1 as dispatch;
use lwm2m_proto::events::v1::ResourceValue;
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::{CreateOperation, DeleteOperation, WriteAttributesOperation};

use super::dispatch_ops::{options, print_outcome};
use super::Context;
use crate::cli::NotificationAttributes;
use crate::error::Error;
use crate::values::{parse_path, parse_value};

pub async fn write_attributes(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    a: &NotificationAttributes,
) -> Result<(), Error> {
    parse_path(path)?;
    if a.is_empty() {
        return Err(Error::Usage(
            "give at least one attribute: --pmin, --pmax, --gt, --lt, --st, --epmin or --epmax"
                .into(),
        ));
    }
    if let (Some(pmin), Some(pmax)) = (a.pmin, a.pmax) {
        if pmax < pmin {
            return Err(Error::Usage(format!(
                "--pmax {pmax} is below --pmin {pmin} (LwM2M requires pmax >= pmin)"
            )));
        }
    }
    if ctx.via_dispatch() {
        let mut client = ctx.dispatch().await?;
        let answer = client
            .write_attributes(dispatch::WriteAttributesRequest {
                tenant: String::new(),
                endpoint: endpoint.to_owned(),
                options: options(ctx, None),
                id: path.to_owned(),
                key: String::new(),
                pmin: a.pmin,
                pmax: a.pmax,
                gt: a.gt,
                lt: a.lt,
                st: a.st,
                epmin: a.epmin,
                epmax: a.epmax,
            })
            .await?
            .into_inner();
        return print_outcome(ctx, answer.operation, &[]);
    }
    let op = Operation::WriteAttributes(WriteAttributesOperation {
        path: path.to_owned(),
        pmin: a.pmin,
        pmax: a.pmax,
        gt: a.gt,
        lt: a.lt,
        st: a.st,
        epmin: a.epmin,
        epmax: a.epmax,
    });
    super::device_ops::downlink(ctx, endpoint, op).await
}

pub async fn create(
    ctx: &Context,
    endpoint: &str,
    path: &str,
    instance: Option<u16>,
    assignments: &[String],
) -> Result<(), Error> {
    let object = parse_path(path)?;
    if object.instance_id().is_some() {
        return Err(Error::Usage(format!(
            "create targets an object (e.g. /1), not {path}; give the instance with --instance"
        )));
    }
    // Values need full paths; without --instance the device's choice is
    // not known yet, so they are written under instance 0 (LwM2M 1.0
    // Create with values names its instance anyway).
    let under = object
        .child(instance.unwrap_or(0))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let values = assignments
        .iter()
        .map(|a| resource_value(&under, a))
        .collect::<Result<Vec<_>, _>>()?;
    if ctx.via_dispatch() {
        let mut client = ctx.dispatch().await?;
        let answer = client
            .create(dispatch::CreateRequest {
                tenant: String::new(),
                endpoint: endpoint.to_owned(),
                options: options(ctx, None),
                id: path.to_owned(),
                instance_id: instance.map(u32::from),
                value_json: String::new(),
                values,
            })
            .await?
            .into_inner();
        return print_outcome(ctx, answer.operation, &[]);
    }
    let op = Operation::Create(CreateOperation {
        path: path.to_owned(),
        instance_id: instance.map(u32::from),
        values,
        content_format: None,
    });
    super::device_ops::downlink(ctx, endpoint, op).await
}

pub async fn delete(ctx: &Context, endpoint: &str, path: &str) -> Result<(), Error> {
    let target = parse_path(path)?;
    if target.instance_id().is_none() || target.resource_id().is_some() {
        return Err(Error::Usage(format!(
            "delete targets an object instance (e.g. /1/1), not {path}"
        )));
    }
    if ctx.via_dispatch() {
        let mut client = ctx.dispatch().await?;
        let answer = client
            .delete(dispatch::DeleteRequest {
                tenant: String::new(),
                endpoint: endpoint.to_owned(),
                options: options(ctx, None),
                id: path.to_owned(),
            })
            .await?
            .into_inner();
        return print_outcome(ctx, answer.operation, &[]);
    }
    let op = Operation::Delete(DeleteOperation {
        path: path.to_owned(),
    });
    super::device_ops::downlink(ctx, endpoint, op).await
}

/// `RES=VALUE` (type from the model) or `RES:TYPE=VALUE` as a value under
/// the new instance.
fn resource_value(instance: &LwM2mPath, assignment: &str) -> Result<ResourceValue, Error> {
    let usage = || {
        Error::Usage(format!(
            "{assignment:?} is not RES=VALUE or RES:TYPE=VALUE (e.g. 5700=21.5, 5701:string=Cel)"
        ))
    };
    let (left, text) = assignment.split_once('=').ok_or_else(usage)?;
    let (resource, kind) = match left.split_once(':') {
        Some((r, k)) => (r, Some(k)),
        None => (left, None),
    };
    let resource: u16 = resource.trim().parse().map_err(|_| usage())?;
    let path = instance
        .child(resource)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let value = parse_value(&path, text, kind)?;
    Ok(ResourceValue {
        path: path.to_string(),
        value: Some((&value).into()),
        timestamp_ms: None,
        key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_take_model_types_or_explicit_ones() {
        let at: LwM2mPath = "/1/3".parse().unwrap();
        let v = resource_value(&at, "1=300").unwrap();
        assert_eq!(v.path, "/1/3/1");
        let at: LwM2mPath = "/3303/0".parse().unwrap();
        assert!(
            resource_value(&at, "5700=21.5").is_err(),
            "no model for 3303 here: the type must be given"
        );
        let v = resource_value(&at, "5701:string=Cel").unwrap();
        assert_eq!(v.path, "/3303/0/5701");
        for bad in ["5700", "x=1", "1:nonsense=2", "70000=1"] {
            let err = resource_value(&at, bad).unwrap_err();
            assert_eq!(err.exit(), crate::exit_code::Exit::Usage, "{bad}");
        }
    }
}
