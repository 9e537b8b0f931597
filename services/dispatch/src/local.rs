//! The two methods answered from the session, without device traffic
//! (ThingsBoard's DiscoverAll and ObserveReadAll), and link-format helpers.

use lwm2m_proto::dispatch::v1 as pb;
use lwm2m_session::Registration;
use serde_json::{json, Map, Value as Json};

use crate::engine::Engine;
use crate::error::Result;

/// What the device registered: the root (content formats), each object
/// (with its version) and each instance.
pub fn discover_all(reg: &Registration) -> Vec<pb::Link> {
    let mut links = Vec::new();
    let mut root = pb::Link {
        url: "/".into(),
        ..Default::default()
    };
    // Values as users read them; `link_format` adds the quotes.
    root.attributes.insert("rt".into(), "oma.lwm2m".into());
    if !reg.supported_formats.is_empty() {
        let formats: Vec<_> = reg.supported_formats.iter().map(u16::to_string).collect();
        root.attributes.insert("ct".into(), formats.join(" "));
    }
    links.push(root);
    for (id, object) in &reg.objects {
        let mut link = pb::Link {
            url: format!("/{id}"),
            ..Default::default()
        };
        link.attributes
            .insert("ver".into(), object.version.to_string());
        links.push(link);
        for instance in &object.instances {
            links.push(pb::Link {
                url: format!("/{id}/{instance}"),
                ..Default::default()
            });
        }
    }
    links
}

/// `[{"url":"/1","attributes":{"ver":"1.1"}}, …]`, structured (ThingsBoard
/// returns the same as a JSON string inside a string).
pub fn discover_all_json(links: &[pb::Link]) -> Json {
    Json::Array(
        links
            .iter()
            .map(|l| {
                let mut attributes: Vec<_> = l.attributes.iter().collect();
                attributes.sort();
                let attributes: Map<String, Json> = attributes
                    .into_iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                json!({"url": l.url, "attributes": attributes})
            })
            .collect(),
    )
}

/// Links in link format: `</3>;ver=1.1,</3/0>`.
pub fn link_format(links: &[pb::Link]) -> String {
    links
        .iter()
        .map(|l| {
            let mut attributes: Vec<_> = l.attributes.iter().collect();
            attributes.sort();
            let mut text = format!("<{}>", l.url);
            for (k, v) in attributes {
                text.push_str(&format!(";{k}={}", link_value(v)));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// An attribute value in link format (RFC 6690 §2): numbers as tokens,
/// anything else (`oma.lwm2m`, a `ct` list with spaces) as a quoted string.
fn link_value(value: &str) -> String {
    let token = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    if token {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A device's link-format answer parsed; unparseable text gives no links
/// (the raw text is still returned next to them).
pub fn parse_links(text: &str) -> Vec<pb::Link> {
    lwm2m_core::link::parse(text)
        .map(|links| {
            links
                .into_iter()
                .map(|l| pb::Link {
                    url: l.target,
                    attributes: l
                        .attributes
                        .into_iter()
                        .map(|(k, v)| (k, v.map(|v| v.as_str().to_owned()).unwrap_or_default()))
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The observed paths from the session store, sorted, each once (duplicate
/// observations stored before the transport reused them list once); a
/// composite observation is its paths joined by ",".
pub async fn observed_paths(engine: &Engine, reg: &Registration) -> Result<Vec<String>> {
    let mut paths: Vec<String> = engine
        .sessions
        .observations(&reg.endpoint)
        .await?
        .into_iter()
        .map(|o| o.paths.join(","))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lwm2m_core::Version;
    use lwm2m_session::ObjectEntry;

    use super::*;

    #[test]
    fn discover_all_lists_objects_versions_and_instances() {
        let reg = Registration {
            endpoint: "d".into(),
            registration_id: "r".into(),
            tenant: None,
            lwm2m_version: Version::V1_1,
            lifetime_s: 60,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            awake_time_s: None,
            root_path: "/".into(),
            supported_formats: vec![110, 112],
            objects: BTreeMap::from([(
                1,
                ObjectEntry {
                    version: Version::V1_1,
                    instances: vec![0],
                },
            )]),
            address: "127.0.0.1:1".into(),
            node_id: String::new(),
            registered_at_ms: 0,
            last_update_ms: 0,
            last_seen_ms: 0,
            expires_at_ms: 0,
            revision: 1,
        };
        let links = discover_all(&reg);
        assert_eq!(
            discover_all_json(&links),
            json!([
                {"url":"/","attributes":{"ct":"110 112","rt":"oma.lwm2m"}},
                {"url":"/1","attributes":{"ver":"1.1"}},
                {"url":"/1/0","attributes":{}}
            ])
        );
        assert_eq!(
            link_format(&links),
            "</>;ct=\"110 112\";rt=\"oma.lwm2m\",</1>;ver=1.1,</1/0>"
        );
        // What we write parses back to the same values.
        let again = parse_links(&link_format(&links));
        assert_eq!(again, links);
        let parsed = parse_links("</3/0/1>,</3/0>;pmin=10");
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[1].attributes.get("pmin").map(String::as_str),
            Some("10")
        );
    }
}
