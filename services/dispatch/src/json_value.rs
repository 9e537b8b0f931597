//! ThingsBoard write values (JSON) → typed leaves, typed by the device's
//! object model: `"+5"` for a String resource, `"0081"` (hex) for Opaque,
//! `{"14":"+5","15":"Kiyv/Europe"}` for an object instance, `{"0":"00ad"}`
//! for a multiple resource. Pure.

use lwm2m_core::{LwM2mPath, ModelLookup, ObjectLink, PathLevel, ResourceType, Value};
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// The leaves `json` stands for under `path`.
pub fn leaves(
    path: &LwM2mPath,
    json: &Json,
    models: &dyn ModelLookup,
) -> Result<Vec<(LwM2mPath, Value)>> {
    let mut out = Vec::new();
    collect(path, json, models, &mut out)?;
    if out.is_empty() {
        return Err(bad(path, "no value to write"));
    }
    Ok(out)
}

fn bad(path: &LwM2mPath, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("value for {path}: {why}"))
}

fn children<'a>(
    path: &LwM2mPath,
    json: &'a Json,
    what: &str,
) -> Result<Vec<(LwM2mPath, &'a Json)>> {
    let Json::Object(map) = json else {
        return Err(bad(
            path,
            format!("expected an object keyed by {what} id, got {json}"),
        ));
    };
    map.iter()
        .map(|(k, v)| {
            let id: u16 = k
                .trim()
                .parse()
                .ok()
                .filter(|id| *id != u16::MAX)
                .ok_or_else(|| bad(path, format!("{k:?} is not a {what} id")))?;
            Ok((path.child(id)?, v))
        })
        .collect()
}

fn collect(
    path: &LwM2mPath,
    json: &Json,
    models: &dyn ModelLookup,
    out: &mut Vec<(LwM2mPath, Value)>,
) -> Result<()> {
    let (object, resource) = (path.object_id(), path.resource_id());
    let model = match (object, resource) {
        (Some(o), Some(r)) => models.resource(o, r),
        _ => None,
    };
    match path.level() {
        PathLevel::Root => Err(bad(path, "cannot write the root")),
        PathLevel::Object => {
            for (child, v) in children(path, json, "instance")? {
                collect(&child, v, models, out)?;
            }
            Ok(())
        }
        PathLevel::ObjectInstance => {
            for (child, v) in children(path, json, "resource")? {
                collect(&child, v, models, out)?;
            }
            Ok(())
        }
        PathLevel::Resource => {
            let multiple = model.map(|m| m.multiple).unwrap_or(json.is_object());
            if multiple && !json.is_object() {
                // A scalar for a multiple resource is its instance 0
                // (ThingsBoard's `WriteReplace {"id":"/19/0/0","value":"0081"}`).
                let child = path.child(0)?;
                out.push((child, typed(&child, json, model.map(|m| m.kind))?));
            } else if multiple {
                for (child, v) in children(path, json, "resource instance")? {
                    let kind = model.map(|m| m.kind);
                    out.push((child, typed(&child, v, kind)?));
                }
            } else {
                out.push((*path, typed(path, json, model.map(|m| m.kind))?));
            }
            Ok(())
        }
        PathLevel::ResourceInstance => {
            out.push((*path, typed(path, json, model.map(|m| m.kind))?));
            Ok(())
        }
    }
}

/// One scalar as `kind`; without a model, the JSON type decides.
pub fn typed(path: &LwM2mPath, json: &Json, kind: Option<ResourceType>) -> Result<Value> {
    let text = match json {
        Json::String(s) => Some(s.trim().to_owned()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let Some(kind) = kind else {
        return match json {
            Json::String(s) => Ok(Value::String(s.clone())),
            Json::Bool(b) => Ok(Value::Boolean(*b)),
            Json::Number(n) => Ok(n
                .as_i64()
                .map(Value::Integer)
                .or_else(|| n.as_f64().map(Value::Float))
                .unwrap_or(Value::None)),
            other => Err(bad(path, format!("{other} is not a scalar value"))),
        };
    };
    let text = text.ok_or_else(|| bad(path, format!("{json} is not a {kind} value")))?;
    let wrong = || bad(path, format!("{text:?} is not a {kind} value"));
    Ok(match kind {
        ResourceType::String => match json {
            Json::String(s) => Value::String(s.clone()),
            _ => Value::String(text),
        },
        ResourceType::Integer => Value::Integer(text.parse().map_err(|_| wrong())?),
        ResourceType::UnsignedInteger => Value::UnsignedInteger(text.parse().map_err(|_| wrong())?),
        ResourceType::Float => Value::Float(text.parse().map_err(|_| wrong())?),
        ResourceType::Boolean => Value::Boolean(match text.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(wrong()),
        }),
        ResourceType::Opaque => Value::Opaque(
            hex::decode(&text).map_err(|e| bad(path, format!("opaque values are hex: {e}")))?,
        ),
        ResourceType::Time => Value::Time(text.parse().map_err(|_| wrong())?),
        ResourceType::ObjectLink => {
            Value::ObjectLink(text.parse::<ObjectLink>().map_err(|e| bad(path, e))?)
        }
        ResourceType::CoreLink => Value::CoreLink(text),
        ResourceType::None => return Err(bad(path, "the resource takes no value (executable?)")),
    })
}

#[cfg(test)]
mod tests {
    use lwm2m_core::ModelRegistry;
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn values_are_typed_by_the_model() {
        let models = ModelRegistry::with_core_objects();
        // WriteUpdate {"id":"/3/0","value":{"14":"+5","15":"Kiyv/Europe"}}
        let got = leaves(&p("/3/0"), &json!({"14":"+5","15":"Kiyv/Europe"}), &models).unwrap();
        assert_eq!(
            got,
            [
                (p("/3/0/14"), Value::String("+5".into())),
                (p("/3/0/15"), Value::String("Kiyv/Europe".into()))
            ]
        );
        // WriteReplace {"id":"/19/0/0","value":"0081"}: opaque as hex.
        let got = leaves(&p("/19/0/0"), &json!("0081"), &models).unwrap();
        // /19/0/0 is a multiple resource: a scalar is its instance 0.
        assert_eq!(got, [(p("/19/0/0/0"), Value::Opaque(vec![0, 0x81]))]);
        // WriteUpdate {"id": "/19/0","value": {"0":{"0":"00ad456756", "25":"25ad456756"}}}
        let got = leaves(
            &p("/19/0"),
            &json!({"0":{"0":"00ad456756","25":"25ad456756"}}),
            &models,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, p("/19/0/0/25"));
        assert_eq!(got[1].1, Value::Opaque(hex::decode("25ad456756").unwrap()));
        // Integer resource from a number or a numeric string.
        assert_eq!(
            leaves(&p("/1/0/1"), &json!(300), &models).unwrap()[0].1,
            Value::Integer(300)
        );
        assert_eq!(
            leaves(&p("/1/0/1"), &json!("300"), &models).unwrap()[0].1,
            Value::Integer(300)
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_path() {
        let models = ModelRegistry::with_core_objects();
        let e = leaves(&p("/1/0/1"), &json!("soon"), &models)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/1/0/1") && e.contains("Integer"), "{e}");
        let e = leaves(&p("/3/0"), &json!("x"), &models)
            .unwrap_err()
            .to_string();
        assert!(e.contains("keyed by resource id"), "{e}");
        let e = leaves(&p("/19/0/0"), &json!({"0":"zz"}), &models)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hex"), "{e}");
        assert!(leaves(&p("/3/0"), &json!({}), &models).is_err());
    }

    #[test]
    fn unknown_objects_take_the_json_type() {
        let models = ModelRegistry::with_core_objects();
        let got = leaves(&p("/31024/10/1"), &json!(2.5), &models).unwrap();
        assert_eq!(got, [(p("/31024/10/1"), Value::Float(2.5))]);
    }
}
