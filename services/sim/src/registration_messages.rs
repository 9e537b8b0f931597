//! The uplink requests of the Registration and Information Reporting
//! interfaces: Register, Update, De-register and Send, built from the
//! device's configuration and object tree.

use lwm2m_coap::content_format::LINK_FORMAT;
use lwm2m_coap::Request;
use lwm2m_core::link::{serialize, Link};
use lwm2m_core::registration::{Binding, RegisterRequest};
use lwm2m_core::{ContentFormat, Version};

use crate::config::DeviceConfig;
use crate::object_tree::ObjectTree;

/// Content formats a 1.2 device announces in its root link: every node
/// format it reads and writes, LwM2M CBOR (11544) included.
const ANNOUNCED_FORMATS_1_2: &str = "60 110 112 11542 11543 11544";

/// The link-format object list:
/// `</>;rt="oma.lwm2m";ct=...,</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,...`.
///
/// The root link's `ct` takes the form the registering version defines, so
/// the simulator registers with other servers too: LwM2M 1.0 has no `ct`;
/// 1.1 (Core TS §6.2.1) carries one Content-Format, unquoted, here the
/// device's multi-node format `preferred` (`ct=112`), and a 1.1 server may
/// refuse the 1.2 list form with 4.00; 1.2 carries the quoted list of every
/// supported format (`ct="60 110 112 11542 11543 11544"`).
pub fn register_payload(tree: &ObjectTree, version: Version, preferred: ContentFormat) -> String {
    let mut root = Link::new("/").with_quoted("rt", "oma.lwm2m");
    if version >= Version::V1_2 {
        root = root.with_quoted("ct", ANNOUNCED_FORMATS_1_2);
    } else if version >= Version::V1_1 {
        root = root.with_token("ct", preferred.code().to_string());
    }
    let mut links = vec![root];
    for object in tree.listing() {
        let base = format!("/{}", object.object);
        if object.version != Version::V1_0 {
            links.push(Link::new(base.clone()).with_token("ver", object.version.to_string()));
        } else if object.instances.is_empty() {
            links.push(Link::new(base.clone()));
        }
        for i in object.instances {
            links.push(Link::new(format!("{base}/{i}")));
        }
    }
    serialize(&links)
}

/// `POST /rd?ep=..&lt=..&lwm2m=..&b=..[&Q]` with the object list.
pub fn register_request(config: &DeviceConfig, lifetime: u32, payload: String) -> Request {
    let register = RegisterRequest {
        endpoint: config.endpoint.clone(),
        lifetime: Some(lifetime),
        lwm2m_version: config.lwm2m_version,
        binding: Some(Binding::UDP),
        queue_mode: config.queue_mode.is_some(),
        sms_number: None,
        awake_time: None,
        other_params: Vec::new(),
        objects: Default::default(),
    };
    let mut request = Request::post("/rd")
        .with_content_format(LINK_FORMAT)
        .with_payload(payload.into_bytes());
    for entry in register.to_query() {
        request = request.with_query_entry(&entry);
    }
    request
}

/// `POST /rd/{id}`: `lt` only when it changed, the object list only when
/// the objects changed.
pub fn update_request(location: &str, lifetime: Option<u32>, payload: Option<String>) -> Request {
    let mut request = Request::post(location);
    if let Some(lt) = lifetime {
        request = request.with_query("lt", &lt.to_string());
    }
    if let Some(payload) = payload {
        request = request
            .with_content_format(LINK_FORMAT)
            .with_payload(payload.into_bytes());
    }
    request
}

/// `DELETE /rd/{id}`.
pub fn deregister_request(location: &str) -> Request {
    Request::delete(location)
}

/// `POST /dp` carrying SenML.
pub fn send_request(format: ContentFormat, payload: Vec<u8>) -> Request {
    Request::post("/dp")
        .with_content_format(format.code())
        .with_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QueueMode;
    use crate::initial_objects::initial_tree;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::registration::RegisterRequest;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::sync::Arc;
    use std::time::Duration;

    fn tree() -> ObjectTree {
        initial_tree(
            &DeviceConfig::default(),
            Arc::new(sim_registry()),
            &mut SmallRng::seed_from_u64(1),
            0,
        )
    }

    #[test]
    fn payload_lists_objects_with_versions() {
        let text = register_payload(&tree(), Version::V1_1, ContentFormat::SenmlCbor);
        assert!(text.contains("</3>;ver=1.1,</3/0>"), "{text}");
        assert!(text.contains(",</5/0>,</6/0>,</3303/0>"), "{text}");
    }

    /// The root link's `ct` in the form of the version registered with:
    /// none on 1.0, one unquoted format on 1.1 (Core TS §6.2.1), the quoted
    /// list with LwM2M CBOR on 1.2.
    #[test]
    fn root_link_ct_follows_the_registered_version() {
        let v10 = register_payload(&tree(), Version::V1_0, ContentFormat::Tlv);
        assert!(v10.starts_with(r#"</>;rt="oma.lwm2m",</"#), "{v10}");
        assert!(!v10.contains("ct="), "{v10}");
        let v11 = register_payload(&tree(), Version::V1_1, ContentFormat::SenmlCbor);
        assert!(v11.starts_with(r#"</>;rt="oma.lwm2m";ct=112,</"#), "{v11}");
        let v11_json = register_payload(&tree(), Version::V1_1, ContentFormat::SenmlJson);
        assert!(
            v11_json.starts_with(r#"</>;rt="oma.lwm2m";ct=110,</"#),
            "{v11_json}"
        );
        let v12 = register_payload(&tree(), Version::V1_2, ContentFormat::LwM2mCbor);
        assert!(
            v12.starts_with(r#"</>;rt="oma.lwm2m";ct="60 110 112 11542 11543 11544",</"#),
            "{v12}"
        );
    }

    #[test]
    fn register_request_parses_back() {
        let cfg = DeviceConfig {
            queue_mode: Some(QueueMode {
                awake_time: Duration::from_secs(1),
                sleep_interval: Duration::from_secs(2),
            }),
            ..DeviceConfig::default()
        };
        let req = register_request(
            &cfg,
            60,
            register_payload(&tree(), Version::V1_1, ContentFormat::SenmlCbor),
        );
        assert_eq!(req.path_string(), "/rd");
        let parsed = RegisterRequest::parse(
            &req.query(),
            Some(&req.payload),
            req.options.content_format(),
        )
        .unwrap();
        assert_eq!(parsed.endpoint, "sim-0001");
        assert_eq!(parsed.lifetime, Some(60));
        assert_eq!(parsed.lwm2m_version, Version::V1_1);
        assert!(parsed.queue_mode);
        assert!(parsed.objects.has_instance(3303, 0));
        assert_eq!(parsed.objects.content_formats, vec![112]);
    }

    #[test]
    fn update_carries_only_changes() {
        let bare = update_request("/rd/5", None, None);
        assert_eq!(bare.path_string(), "/rd/5");
        assert!(bare.query().is_empty() && bare.payload.is_empty());
        let lt = update_request("/rd/5", Some(30), Some("</3/0>".into()));
        assert_eq!(lt.query_value("lt").as_deref(), Some("30"));
        assert_eq!(lt.options.content_format(), Some(40));
        assert_eq!(deregister_request("/rd/5").path_string(), "/rd/5");
        assert_eq!(
            send_request(ContentFormat::SenmlCbor, vec![0x80]).path_string(),
            "/dp"
        );
    }
}
