//! ThingsBoard RPC JSON → [`Command`]: `{"method":"Read","params":{"id":"/3/0/9"}}`.
//! Pure; golden tests below use the examples of ThingsBoard's LwM2M guide
//! verbatim. Unknown params are refused, not ignored: a typo ("idd") must
//! not silently read something else.

use serde_json::{Map, Value as Json};

use crate::command::{Attributes, Command, Method, Payload, RawCoap, Target};
use crate::error::{Error, Result};

/// Parses a whole RPC document.
pub fn parse_request(text: &str) -> Result<Command> {
    let doc: Json = serde_json::from_str(text)
        .map_err(|e| Error::InvalidArgument(format!("request is not JSON: {e}")))?;
    let Json::Object(mut doc) = doc else {
        return Err(Error::InvalidArgument(
            "request must be an object {\"method\":...,\"params\":{...}}".into(),
        ));
    };
    let method = match doc.remove("method") {
        Some(Json::String(m)) => m,
        _ => {
            return Err(Error::InvalidArgument(
                "request has no \"method\" string".into(),
            ))
        }
    };
    let params = doc.remove("params").unwrap_or(Json::Object(Map::new()));
    if let Some(extra) = doc.keys().next() {
        return Err(Error::InvalidArgument(format!(
            "unknown request field {extra:?} (only \"method\" and \"params\")"
        )));
    }
    parse(&method, params)
}

/// Parses `method` with its params given as JSON text (empty means `{}`).
pub fn parse_text(method: &str, params: &str) -> Result<Command> {
    let params = if params.trim().is_empty() {
        Json::Object(Map::new())
    } else {
        serde_json::from_str(params)
            .map_err(|e| Error::InvalidArgument(format!("params are not JSON: {e}")))?
    };
    parse(method, params)
}

/// Parses `method` with its params.
pub fn parse(method: &str, params: Json) -> Result<Command> {
    let method = Method::parse(method)?;
    let params = match params {
        Json::Object(map) => map,
        Json::Null => Map::new(),
        other => {
            return Err(Error::InvalidArgument(format!(
                "params of {} must be an object, not {other}",
                method.name()
            )))
        }
    };
    let mut p = Params {
        method,
        map: params,
    };
    let command = match method {
        Method::Read => Command::Read {
            target: p.target()?,
            format: p.format("contentFormat")?,
        },
        Method::Discover => Command::Discover {
            target: p.target()?,
        },
        Method::DiscoverAll => Command::DiscoverAll,
        Method::WriteReplace | Method::WriteUpdate => Command::Write {
            target: p.target()?,
            replace: method == Method::WriteReplace,
            payload: Payload::Json(p.required("value")?),
            format: p.format("contentFormat")?,
        },
        Method::WriteAttributes => {
            let target = p.target()?;
            let attributes = p.attributes()?;
            Command::WriteAttributes { target, attributes }
        }
        Method::ReadComposite => Command::ReadComposite {
            targets: p.targets()?,
            format: p.format("contentFormat")?,
        },
        Method::WriteComposite => Command::WriteComposite {
            nodes: p.nodes()?,
            typed: Vec::new(),
            format: p.format("contentFormat")?,
        },
        Method::Execute => {
            let target = p.target()?;
            let arguments = match p.take_any(&["value", "args", "arguments"]) {
                None | Some(Json::Null) => String::new(),
                Some(Json::String(s)) => s,
                Some(other) => other.to_string(),
            };
            Command::Execute { target, arguments }
        }
        Method::Create => {
            let target = p.target()?;
            let instance_id = p.u16_opt("instanceId")?;
            let payload = p.map.remove("value").map(Payload::Json);
            Command::Create {
                target,
                instance_id,
                payload,
                format: p.format("contentFormat")?,
            }
        }
        Method::Delete => Command::Delete {
            target: p.target()?,
        },
        Method::Observe => Command::Observe {
            target: p.target()?,
            format: p.format("contentFormat")?,
        },
        Method::ObserveComposite => Command::ObserveComposite {
            targets: p.targets()?,
            format: p.format("contentFormat")?,
        },
        Method::ObserveCancel => Command::ObserveCancel {
            target: p.target()?,
        },
        Method::ObserveCompositeCancel => Command::ObserveCompositeCancel {
            targets: p.targets()?,
        },
        Method::ObserveCancelAll => Command::ObserveCancelAll,
        Method::ObserveReadAll => Command::ObserveReadAll,
        Method::Coap => Command::Coap(p.raw_coap()?),
    };
    p.finish()?;
    Ok(command)
}

/// The params being read; what is left at the end is an error.
struct Params {
    method: Method,
    map: Map<String, Json>,
}

impl Params {
    fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::InvalidArgument(format!("{}: {what}", self.method.name()))
    }

    fn finish(self) -> Result<()> {
        match self.map.keys().next() {
            Some(k) => Err(self.bad(format!("unknown parameter {k:?}"))),
            None => Ok(()),
        }
    }

    fn required(&mut self, name: &str) -> Result<Json> {
        self.map
            .remove(name)
            .ok_or_else(|| self.bad(format!("parameter {name:?} is required")))
    }

    fn take_any(&mut self, names: &[&str]) -> Option<Json> {
        names.iter().find_map(|n| self.map.remove(*n))
    }

    fn string(&self, name: &str, v: Json) -> Result<String> {
        match v {
            Json::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            other => Err(self.bad(format!("{name:?} must be a non-empty string, not {other}"))),
        }
    }

    /// Exactly one of `id`, `key`.
    fn target(&mut self) -> Result<Target> {
        match (self.map.remove("id"), self.map.remove("key")) {
            (Some(id), None) => Ok(Target::Id(self.string("id", id)?)),
            (None, Some(key)) => Ok(Target::Key(self.string("key", key)?)),
            (Some(_), Some(_)) => Err(self.bad("give \"id\" or \"key\", not both")),
            (None, None) => Err(self.bad("parameter \"id\" or \"key\" is required")),
        }
    }

    /// `ids` and/or `keys` (arrays of strings); at least one entry.
    fn targets(&mut self) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        for (name, make) in [
            ("ids", Target::Id as fn(String) -> Target),
            ("keys", Target::Key as fn(String) -> Target),
        ] {
            match self.map.remove(name) {
                None => {}
                Some(Json::Array(items)) => {
                    for item in items {
                        out.push(make(self.string(name, item)?));
                    }
                }
                Some(other) => {
                    return Err(self.bad(format!("{name:?} must be an array, not {other}")))
                }
            }
        }
        if out.is_empty() {
            return Err(self.bad("parameter \"ids\" or \"keys\" (a non-empty array) is required"));
        }
        Ok(out)
    }

    /// WriteComposite `nodes`: keys are paths or profile keys.
    fn nodes(&mut self) -> Result<Vec<(Target, Json)>> {
        let nodes = match self.required("nodes")? {
            Json::Object(map) if !map.is_empty() => map,
            other => {
                return Err(self.bad(format!("\"nodes\" must be a non-empty object, not {other}")))
            }
        };
        Ok(nodes
            .into_iter()
            .map(|(k, v)| (target_of_node_name(&k), v))
            .collect())
    }

    fn u32_opt(&mut self, name: &str) -> Result<Option<u32>> {
        match self.map.remove(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => number_u64(&v)
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.bad(format!("{name:?} must be a whole number ≥ 0, not {v}"))),
        }
    }

    fn u16_opt(&mut self, name: &str) -> Result<Option<u16>> {
        match self.u32_opt(name)? {
            None => Ok(None),
            Some(n) => u16::try_from(n)
                .ok()
                .filter(|n| *n != u16::MAX)
                .map(Some)
                .ok_or_else(|| self.bad(format!("{name:?} {n} is not 0..65534"))),
        }
    }

    fn attributes(&mut self) -> Result<Attributes> {
        let mut map = match self.required("attributes")? {
            Json::Object(map) => map,
            other => return Err(self.bad(format!("\"attributes\" must be an object, not {other}"))),
        };
        let mut sub = Params {
            method: self.method,
            map: std::mem::take(&mut map),
        };
        let float = |sub: &mut Params, name: &str| -> Result<Option<f64>> {
            match sub.map.remove(name) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => number_f64(&v).map(Some).ok_or_else(|| {
                    sub.bad(format!("attribute {name:?} must be a number, not {v}"))
                }),
            }
        };
        let attributes = Attributes {
            pmin: sub.u32_opt("pmin")?,
            pmax: sub.u32_opt("pmax")?,
            gt: float(&mut sub, "gt")?,
            lt: float(&mut sub, "lt")?,
            st: float(&mut sub, "st")?,
            epmin: sub.u32_opt("epmin")?,
            epmax: sub.u32_opt("epmax")?,
        };
        if let Some(k) = sub.map.keys().next() {
            return Err(self.bad(format!(
                "unknown attribute {k:?} (pmin, pmax, gt, lt, st, epmin, epmax)"
            )));
        }
        if attributes.is_empty() {
            return Err(self.bad("\"attributes\" sets no attribute"));
        }
        Ok(attributes)
    }

    /// A content format: its number, a name (`TLV`, `SENML_CBOR`) or a media
    /// type (`application/vnd.oma.lwm2m+json`).
    fn format(&mut self, name: &str) -> Result<Option<u16>> {
        match self.map.remove(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => content_format(&v)
                .map(Some)
                .ok_or_else(|| self.bad(format!("{name:?} {v} is not a known content format"))),
        }
    }

    fn raw_coap(&mut self) -> Result<RawCoap> {
        let method = self.required("method")?;
        let method = self.string("method", method)?;
        let uri = match self.map.remove("uri") {
            None | Some(Json::Null) => "/".to_owned(),
            Some(v) => self.string("uri", v)?,
        };
        let content_format = self.format("contentFormat")?;
        let accept = self.format("accept")?;
        let payload = match self.map.remove("payloadHex") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::String(h)) => {
                hex::decode(h.trim()).map_err(|e| self.bad(format!("\"payloadHex\": {e}")))?
            }
            Some(other) => return Err(self.bad(format!("\"payloadHex\" must be hex, not {other}"))),
        };
        Ok(RawCoap {
            method,
            uri,
            content_format,
            accept,
            payload,
        })
    }
}

/// A WriteComposite node name: a path when it looks like one (`/3/0/15`,
/// `3_1.0/0/15`), else a profile key (`UtfOffset`).
pub fn target_of_node_name(name: &str) -> Target {
    let looks_like_path = name.starts_with('/') || name.starts_with(|c: char| c.is_ascii_digit());
    if looks_like_path {
        Target::Id(name.to_owned())
    } else {
        Target::Key(name.to_owned())
    }
}

fn number_u64(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A content format by number, name or media type.
pub fn content_format(v: &Json) -> Option<u16> {
    use lwm2m_core::ContentFormat as F;
    if let Some(n) = number_u64(v) {
        return u16::try_from(n).ok().filter(|c| F::from_code(*c).is_some());
    }
    let Json::String(s) = v else { return None };
    let name = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
    let by_name = match name.as_str() {
        "TEXT" | "PLAIN_TEXT" => Some(F::Text),
        "LINK" | "LINK_FORMAT" => Some(F::LinkFormat),
        "OPAQUE" => Some(F::Opaque),
        "CBOR" => Some(F::Cbor),
        "SENML_JSON" => Some(F::SenmlJson),
        "SENML_CBOR" => Some(F::SenmlCbor),
        "TLV" => Some(F::Tlv),
        "JSON" | "LWM2M_JSON" | "OMA_JSON" => Some(F::OmaJson),
        _ => None,
    };
    by_name
        .or_else(|| {
            F::ALL
                .into_iter()
                .find(|f| f.media_type().eq_ignore_ascii_case(s.trim()))
        })
        .map(|f| f.code())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(s: &str) -> Target {
        Target::Id(s.into())
    }

    #[test]
    fn round_trips_through_params_json() {
        let requests = [
            r#"{"method":"Read","params":{"id":"/3/0/9","contentFormat":"TLV"}}"#,
            r#"{"method":"WriteAttributes","params":{"id":"/19/0/0","attributes":{"pmax":120, "pmin":10}}}"#,
            r#"{"method":"Create","params":{"id":"/19","instanceId":3,"value":{"0":{"0":"00"}}}}"#,
            r#"{"method":"Coap","params":{"method":"get","uri":"/3/0","accept":"application/vnd.oma.lwm2m+json"}}"#,
            r#"{"method":"ReadComposite","params":{"ids":["/3/0/9"],"keys":["state"]}}"#,
        ];
        for text in requests {
            let command = parse_request(text).unwrap();
            let again = parse(command.method().name(), command.params_json()).unwrap();
            assert_eq!(again, command, "{text}");
        }
    }

    #[test]
    fn content_formats_by_number_name_or_media_type() {
        assert_eq!(content_format(&json!(11542)), Some(11542));
        assert_eq!(content_format(&json!("senml-cbor")), Some(112));
        assert_eq!(
            content_format(&json!("application/vnd.oma.lwm2m+json")),
            Some(11543)
        );
        assert_eq!(content_format(&json!(9999)), None);
        assert_eq!(content_format(&json!("XML")), None);
    }

    #[test]
    fn bad_requests_get_clear_errors() {
        let err = |text: &str| parse_request(text).unwrap_err().to_string();
        assert!(err("not json").contains("not JSON"));
        assert!(err(r#"{"params":{}}"#).contains("no \"method\""));
        assert!(err(r#"{"method":"Read","params":{}}"#).contains("\"id\" or \"key\""));
        assert!(err(r#"{"method":"Read","params":{"id":"/3","key":"k"}}"#).contains("not both"));
        assert!(err(r#"{"method":"Read","params":{"idd":"/3"}}"#).contains("\"id\" or \"key\""));
        assert!(
            err(r#"{"method":"Read","params":{"id":"/3","foo":1}}"#).contains("unknown parameter")
        );
        assert!(
            err(r#"{"method":"WriteReplace","params":{"id":"/3/0/14"}}"#).contains("\"value\"")
        );
        assert!(err(r#"{"method":"ReadComposite","params":{"ids":[]}}"#).contains("non-empty"));
        assert!(err(
            r#"{"method":"WriteAttributes","params":{"id":"/3","attributes":{"pmin":-1}}}"#
        )
        .contains("pmin"));
        assert!(
            err(r#"{"method":"Coap","params":{"method":"get","payloadHex":"zz"}}"#)
                .contains("payloadHex")
        );
        assert!(err(r#"{"method":"Read","params":[1]}"#).contains("must be an object"));
    }

    #[test]
    fn node_names_are_paths_or_keys() {
        assert_eq!(target_of_node_name("/3_1.0/0/15"), id("/3_1.0/0/15"));
        assert_eq!(target_of_node_name("3/0/15"), id("3/0/15"));
        assert_eq!(
            target_of_node_name("UtfOffset"),
            Target::Key("UtfOffset".into())
        );
    }
}
