//! Transport-specific conversions between the gRPC messages and this
//! crate's types ([`Operation`], [`DownlinkResult`], registrations). Value
//! and path conversions come from `lwm2m_proto::convert`.

use std::time::Duration;

use lwm2m_coap::ResponseCode;
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{LwM2mPath, Value};
use lwm2m_proto::convert::{parse_path, ResourceEntry};
use lwm2m_proto::events::v1::{ObjectInfo, ResourceValue};
use lwm2m_proto::transport::v1 as pb;
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use lwm2m_session::Registration;

use crate::downlink::Target;
use crate::error::Error;
use crate::events::{code_name, code_text};
use crate::operation::{DownlinkResult, Operation, RawCoap};

fn path(field: &'static str, text: &str) -> Result<LwM2mPath, Error> {
    Ok(parse_path(field, text)?)
}

fn paths(field: &'static str, texts: &[String]) -> Result<Vec<LwM2mPath>, Error> {
    if texts.is_empty() {
        return Err(Error::InvalidArgument(format!("{field} is empty")));
    }
    texts.iter().map(|t| path(field, t)).collect()
}

fn values(values: &[ResourceValue]) -> Result<Vec<(LwM2mPath, Value)>, Error> {
    values
        .iter()
        .map(|rv| ResourceEntry::try_from(rv).map(|e| (e.path, e.value)))
        .collect::<Result<_, _>>()
        .map_err(Error::from)
}

fn to_values(values: &[(LwM2mPath, Value)]) -> Vec<ResourceValue> {
    values
        .iter()
        .map(|(p, v)| lwm2m_proto::convert::resource_value(p, v))
        .collect()
}

fn format(code: Option<u32>) -> Result<Option<u16>, Error> {
    code.map(|c| u16::try_from(c).map_err(|_| Error::UnsupportedContentFormat(u16::MAX)))
        .transpose()
}

/// The operation of a gRPC `DownlinkRequest`.
pub(crate) fn operation_from_proto(request: &pb::DownlinkRequest) -> Result<Operation, Error> {
    let op = request
        .operation
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("DownlinkRequest.operation is not set".into()))?;
    Ok(match op {
        Op::Read(r) => Operation::Read {
            path: path("ReadOperation.path", &r.path)?,
            content_format: format(r.content_format)?,
        },
        Op::Discover(d) => Operation::Discover {
            path: path("DiscoverOperation.path", &d.path)?,
        },
        Op::Write(w) => Operation::Write {
            path: path("WriteOperation.path", &w.path)?,
            replace: w.replace,
            values: values(&w.values)?,
            content_format: format(w.content_format)?,
        },
        Op::WriteAttributes(a) => Operation::WriteAttributes {
            path: path("WriteAttributesOperation.path", &a.path)?,
            attributes: LwM2mAttributes {
                pmin: a.pmin,
                pmax: a.pmax,
                gt: a.gt,
                lt: a.lt,
                st: a.st,
                epmin: a.epmin,
                epmax: a.epmax,
                ..Default::default()
            },
        },
        Op::Execute(e) => Operation::Execute {
            path: path("ExecuteOperation.path", &e.path)?,
            arguments: e.arguments.clone(),
        },
        Op::Create(c) => Operation::Create {
            object: path("CreateOperation.path", &c.path)?,
            instance_id: c
                .instance_id
                .map(|i| {
                    u16::try_from(i)
                        .ok()
                        .filter(|i| *i != u16::MAX)
                        .ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "CreateOperation.instance_id {i} is not 0..65534"
                            ))
                        })
                })
                .transpose()?,
            values: values(&c.values)?,
            content_format: format(c.content_format)?,
        },
        Op::Delete(d) => Operation::Delete {
            path: path("DeleteOperation.path", &d.path)?,
        },
        Op::Observe(o) => Operation::Observe {
            path: path("ObserveOperation.path", &o.path)?,
            content_format: format(o.content_format)?,
            attributes: LwM2mAttributes {
                pmin: o.pmin,
                pmax: o.pmax,
                gt: o.gt,
                lt: o.lt,
                st: o.st,
                epmin: o.epmin,
                epmax: o.epmax,
                ..Default::default()
            },
        },
        Op::ObserveComposite(o) => Operation::ObserveComposite {
            paths: paths("ObserveCompositeOperation.paths", &o.paths)?,
            content_format: format(o.content_format)?,
        },
        Op::CancelObserve(c) => Operation::CancelObserve {
            path: path("CancelObserveOperation.path", &c.path)?,
        },
        Op::CancelObserveComposite(c) => Operation::CancelObserveComposite {
            paths: paths("CancelObserveCompositeOperation.paths", &c.paths)?,
        },
        Op::ReadComposite(r) => Operation::ReadComposite {
            paths: paths("ReadCompositeOperation.paths", &r.paths)?,
            content_format: format(r.content_format)?,
        },
        Op::WriteComposite(w) => Operation::WriteComposite {
            values: values(&w.values)?,
            content_format: format(w.content_format)?,
        },
        Op::RawCoap(r) => Operation::RawCoap(RawCoap::parse(
            &r.method,
            &r.uri,
            format(r.content_format)?,
            format(r.accept)?,
            r.payload.clone(),
        )?),
    })
}

/// The gRPC request for forwarding `operation` to another node.
pub(crate) fn downlink_request(
    target: &Target,
    operation: &Operation,
    timeout: Duration,
) -> pb::DownlinkRequest {
    let s = |p: &LwM2mPath| p.to_string();
    let many = |ps: &[LwM2mPath]| ps.iter().map(s).collect::<Vec<_>>();
    let cf = |c: &Option<u16>| c.map(u32::from);
    let op = match operation {
        Operation::Read {
            path,
            content_format,
        } => Op::Read(pb::ReadOperation {
            path: s(path),
            content_format: cf(content_format),
        }),
        Operation::Discover { path } => Op::Discover(pb::DiscoverOperation { path: s(path) }),
        Operation::Write {
            path,
            replace,
            values,
            content_format,
        } => Op::Write(pb::WriteOperation {
            path: s(path),
            replace: *replace,
            values: to_values(values),
            content_format: cf(content_format),
        }),
        Operation::WriteAttributes { path, attributes } => {
            Op::WriteAttributes(pb::WriteAttributesOperation {
                path: s(path),
                pmin: attributes.pmin,
                pmax: attributes.pmax,
                gt: attributes.gt,
                lt: attributes.lt,
                st: attributes.st,
                epmin: attributes.epmin,
                epmax: attributes.epmax,
            })
        }
        Operation::Execute { path, arguments } => Op::Execute(pb::ExecuteOperation {
            path: s(path),
            arguments: arguments.clone(),
        }),
        Operation::Create {
            object,
            instance_id,
            values,
            content_format,
        } => Op::Create(pb::CreateOperation {
            path: s(object),
            instance_id: instance_id.map(u32::from),
            values: to_values(values),
            content_format: cf(content_format),
        }),
        Operation::Delete { path } => Op::Delete(pb::DeleteOperation { path: s(path) }),
        Operation::Observe {
            path,
            content_format,
            attributes,
        } => Op::Observe(pb::ObserveOperation {
            path: s(path),
            content_format: cf(content_format),
            pmin: attributes.pmin,
            pmax: attributes.pmax,
            gt: attributes.gt,
            lt: attributes.lt,
            st: attributes.st,
            epmin: attributes.epmin,
            epmax: attributes.epmax,
        }),
        Operation::ObserveComposite {
            paths,
            content_format,
        } => Op::ObserveComposite(pb::ObserveCompositeOperation {
            paths: many(paths),
            content_format: cf(content_format),
        }),
        Operation::CancelObserve { path } => {
            Op::CancelObserve(pb::CancelObserveOperation { path: s(path) })
        }
        Operation::CancelObserveComposite { paths } => {
            Op::CancelObserveComposite(pb::CancelObserveCompositeOperation { paths: many(paths) })
        }
        Operation::ReadComposite {
            paths,
            content_format,
        } => Op::ReadComposite(pb::ReadCompositeOperation {
            paths: many(paths),
            content_format: cf(content_format),
        }),
        Operation::WriteComposite {
            values,
            content_format,
        } => Op::WriteComposite(pb::WriteCompositeOperation {
            values: to_values(values),
            content_format: cf(content_format),
        }),
        Operation::RawCoap(raw) => Op::RawCoap(pb::RawCoapOperation {
            method: raw.method_name().to_owned(),
            uri: raw.uri(),
            content_format: cf(&raw.content_format),
            accept: cf(&raw.accept),
            payload: raw.payload.clone(),
        }),
    };
    pb::DownlinkRequest {
        endpoint: target.endpoint.clone(),
        tenant: target.tenant.clone().unwrap_or_default(),
        timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        operation: Some(op),
    }
}

/// A result as the gRPC answer.
pub(crate) fn result_to_proto(result: DownlinkResult) -> pb::DownlinkResponse {
    pb::DownlinkResponse {
        code: code_text(result.code),
        code_name: code_name(result.code),
        missing_models: crate::missing_models::of_values(&result.values),
        decode_error: result.decode_error,
        values: result.values,
        link_format: result.link_format,
        payload: result.payload,
        content_format: result.content_format.map(u32::from),
        location: result.location,
        observation_token: result.observation_token,
        observation_reused: result.observation_reused,
    }
}

/// A forwarded node's gRPC answer as a result.
pub(crate) fn result_from_proto(response: pb::DownlinkResponse) -> Result<DownlinkResult, Error> {
    let code = parse_code(&response.code).ok_or_else(|| {
        Error::InvalidArgument(format!("forwarded response code {:?}", response.code))
    })?;
    Ok(DownlinkResult {
        code,
        values: response.values,
        link_format: response.link_format,
        payload: response.payload,
        content_format: response.content_format.and_then(|c| u16::try_from(c).ok()),
        location: response.location,
        observation_token: response.observation_token,
        observation_reused: response.observation_reused,
        decode_error: response.decode_error,
    })
}

/// `"2.05"` → 2.05.
fn parse_code(text: &str) -> Option<ResponseCode> {
    let (class, detail) = text.split_once('.')?;
    let code = ResponseCode::new(class.parse().ok()?, detail.parse().ok()?);
    ResponseCode::from_raw(code.raw())
}

/// A stored registration as the gRPC message.
pub(crate) fn registration_to_proto(reg: &Registration) -> pb::Registration {
    pb::Registration {
        tenant: reg.tenant.clone().unwrap_or_default(),
        endpoint: reg.endpoint.clone(),
        registration_id: reg.registration_id.clone(),
        lwm2m_version: reg.lwm2m_version.to_string(),
        lifetime_s: i64::from(reg.lifetime_s),
        binding: reg.binding.clone(),
        queue_mode: reg.queue_mode,
        address: reg.address.clone(),
        node_id: reg.node_id.clone(),
        objects: reg
            .objects
            .iter()
            .map(|(id, o)| ObjectInfo {
                id: u32::from(*id),
                version: Some(o.version.to_string()),
                instances: o.instances.iter().map(|i| u32::from(*i)).collect(),
            })
            .collect(),
        registered_at_ms: reg.registered_at_ms,
        last_update_ms: reg.last_update_ms,
        expires_at_ms: reg.expires_at_ms,
        sms: reg.sms.clone(),
        root_path: reg.root_path.clone(),
        supported_formats: reg
            .supported_formats
            .iter()
            .map(|f| u32::from(*f))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(op: Operation) {
        let req = downlink_request(&Target::endpoint("d"), &op, Duration::from_secs(3));
        assert_eq!(req.timeout_ms, 3000);
        assert_eq!(operation_from_proto(&req).unwrap(), op);
    }

    #[test]
    fn every_operation_round_trips_through_proto() {
        let p = |s: &str| s.parse::<LwM2mPath>().unwrap();
        round_trip(Operation::Read {
            path: p("/3/0"),
            content_format: Some(112),
        });
        round_trip(Operation::Discover { path: p("/3") });
        round_trip(Operation::Write {
            path: p("/3/0"),
            replace: false,
            values: vec![(p("/3/0/14"), Value::String("+01".into()))],
            content_format: None,
        });
        round_trip(Operation::WriteAttributes {
            path: p("/3/0/9"),
            attributes: LwM2mAttributes {
                pmin: Some(1),
                gt: Some(2.5),
                ..Default::default()
            },
        });
        round_trip(Operation::Execute {
            path: p("/3/0/4"),
            arguments: "0".into(),
        });
        round_trip(Operation::Create {
            object: p("/1"),
            instance_id: Some(2),
            values: vec![(p("/1/2/1"), Value::Integer(30))],
            content_format: None,
        });
        round_trip(Operation::Delete { path: p("/1/2") });
        round_trip(Operation::Observe {
            path: p("/3/0/9"),
            content_format: None,
            attributes: LwM2mAttributes::default(),
        });
        round_trip(Operation::Observe {
            path: p("/3/0/9"),
            content_format: Some(60),
            attributes: LwM2mAttributes {
                pmin: Some(10),
                pmax: Some(60),
                st: Some(0.5),
                ..Default::default()
            },
        });
        round_trip(Operation::ObserveComposite {
            paths: vec![p("/3/0/9")],
            content_format: Some(110),
        });
        round_trip(Operation::RawCoap(
            RawCoap::parse("fetch", "/?x=1", Some(112), Some(112), vec![0xa0]).unwrap(),
        ));
        round_trip(Operation::CancelObserve { path: p("/3/0/9") });
        round_trip(Operation::CancelObserveComposite {
            paths: vec![p("/3/0/9"), p("/1/0/1")],
        });
        round_trip(Operation::ReadComposite {
            paths: vec![p("/3/0/9")],
            content_format: None,
        });
        round_trip(Operation::WriteComposite {
            values: vec![(p("/3/0/13"), Value::Time(5))],
            content_format: None,
        });
    }

    #[test]
    fn missing_operation_and_bad_paths_are_invalid() {
        let req = pb::DownlinkRequest::default();
        assert!(matches!(
            operation_from_proto(&req),
            Err(Error::InvalidArgument(_))
        ));
        let req = pb::DownlinkRequest {
            operation: Some(Op::Read(pb::ReadOperation {
                path: "/x".into(),
                content_format: None,
            })),
            ..Default::default()
        };
        assert!(matches!(operation_from_proto(&req), Err(Error::Proto(_))));
    }

    #[test]
    fn results_round_trip_and_codes_parse() {
        let result = DownlinkResult {
            code: ResponseCode::CONTENT,
            values: vec![],
            link_format: Some("</3>".into()),
            payload: Some(b"</3>".to_vec()),
            content_format: Some(40),
            location: None,
            observation_token: Some("ab".into()),
            observation_reused: true,
            decode_error: None,
        };
        let proto = result_to_proto(result.clone());
        assert_eq!(
            (proto.code.as_str(), proto.code_name.as_str()),
            ("2.05", "CONTENT")
        );
        assert_eq!(result_from_proto(proto).unwrap(), result);
        assert_eq!(parse_code("4.04"), Some(ResponseCode::NOT_FOUND));
        assert_eq!(parse_code("0.01"), None);
        assert_eq!(parse_code("x"), None);
    }
}
