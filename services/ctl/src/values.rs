//! Command-line text to typed LwM2M values for `write`.

use lwm2m_core::{LwM2mPath, ModelLookup, ModelRegistry, ResourceType, Value};

use crate::error::Error;

pub fn parse_path(path: &str) -> Result<LwM2mPath, Error> {
    path.parse::<LwM2mPath>()
        .map_err(|e| Error::Usage(e.to_string()))
}

/// Turns command-line text into a typed value: the object model gives the
/// type; `--type` names it where the model does not know the resource.
pub fn parse_value(path: &LwM2mPath, text: &str, kind: Option<&str>) -> Result<Value, Error> {
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

    #[test]
    fn paths_that_are_not_paths_are_usage_errors() {
        let err = parse_path("/not/a/path").unwrap_err();
        assert_eq!(err.exit(), crate::exit_code::Exit::Usage);
        assert!(parse_path("/3_1.2/0/9").is_ok());
    }
}
