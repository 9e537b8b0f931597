//! The LwM2M downlink operations as typed values, how each becomes a CoAP
//! request (LwM2M 1.1.1 Transport §6.3/§6.4 mapping) and how its response
//! becomes a [`DownlinkResult`]. Pure: no IO, unit tested here.

use std::collections::BTreeMap;

use lwm2m_coap::{option_number, Method, Request, Response, ResponseCode};
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{
    ContentFormat, LwM2mNode, LwM2mPath, LwM2mResource, LwM2mResourceInstance, ModelLookup,
    PathLevel, Value, Version,
};
use lwm2m_proto::events::v1::ResourceValue;

use crate::content_format::DeviceFormats;
use crate::decode;
use crate::error::Error;
use crate::nodes::node_from_leaves;

/// One LwM2M operation on one device.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// GET path (Accept per policy).
    Read {
        path: LwM2mPath,
        content_format: Option<u16>,
    },
    /// GET path with Accept: application/link-format.
    Discover { path: LwM2mPath },
    /// PUT (replace) or POST (partial update) with the values under `path`.
    Write {
        path: LwM2mPath,
        replace: bool,
        values: Vec<(LwM2mPath, Value)>,
        content_format: Option<u16>,
    },
    /// PUT path?pmin=..&pmax=.. without payload.
    WriteAttributes {
        path: LwM2mPath,
        attributes: LwM2mAttributes,
    },
    /// POST path with the argument text (LwM2M 1.1 §5.4.5 syntax).
    Execute { path: LwM2mPath, arguments: String },
    /// POST /object with the new instance's values.
    Create {
        object: LwM2mPath,
        instance_id: Option<u16>,
        values: Vec<(LwM2mPath, Value)>,
        content_format: Option<u16>,
    },
    /// DELETE path.
    Delete { path: LwM2mPath },
    /// GET path with Observe = 0; `attributes` (LwM2M 1.2 devices only)
    /// go in the query and hold for this observation alone.
    Observe {
        path: LwM2mPath,
        content_format: Option<u16>,
        attributes: LwM2mAttributes,
    },
    /// FETCH / with Observe = 0 and the SenML path list.
    ObserveComposite {
        paths: Vec<LwM2mPath>,
        content_format: Option<u16>,
    },
    /// Proactive cancel: GET path with Observe = 1 and the observation's token.
    CancelObserve { path: LwM2mPath },
    /// Proactive cancel: FETCH / with Observe = 1 and the observation's token.
    CancelObserveComposite { paths: Vec<LwM2mPath> },
    /// FETCH / with the SenML path list.
    ReadComposite {
        paths: Vec<LwM2mPath>,
        content_format: Option<u16>,
    },
    /// iPATCH / with SenML values.
    WriteComposite {
        values: Vec<(LwM2mPath, Value)>,
        content_format: Option<u16>,
    },
    /// A raw CoAP request (exceptional cases): sent as given under the
    /// device's root path, its answer is not decoded.
    RawCoap(RawCoap),
}

/// The request of [`Operation::RawCoap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCoap {
    pub method: Method,
    /// Path under the device's root, e.g. `/3/0`.
    pub path: String,
    /// Uri-Query entries (`pmin=10`).
    pub query: Vec<String>,
    pub content_format: Option<u16>,
    pub accept: Option<u16>,
    pub payload: Vec<u8>,
}

impl RawCoap {
    /// Parses the method name (any case) and `uri` (path with an optional
    /// `?a=b&c` query); rejects anything else with a clear message.
    pub fn parse(
        method: &str,
        uri: &str,
        content_format: Option<u16>,
        accept: Option<u16>,
        payload: Vec<u8>,
    ) -> Result<Self, Error> {
        let method = match method.trim().to_ascii_lowercase().as_str() {
            "get" => Method::Get,
            "post" => Method::Post,
            "put" => Method::Put,
            "delete" => Method::Delete,
            "fetch" => Method::Fetch,
            "patch" => Method::Patch,
            "ipatch" => Method::IPatch,
            other => {
                return Err(Error::InvalidArgument(format!(
                "raw CoAP method {other:?} is not get, post, put, delete, fetch, patch or ipatch"
            )))
            }
        };
        let uri = uri.trim();
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let path = if path.is_empty() { "/" } else { path };
        if !path.starts_with('/') || path.contains("//") {
            return Err(Error::InvalidArgument(format!(
                "raw CoAP uri {uri:?} must be an absolute path like /3/0"
            )));
        }
        let query = query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(RawCoap {
            method,
            path: path.to_owned(),
            query,
            content_format,
            accept,
            payload,
        })
    }

    /// The uri back in text form.
    pub fn uri(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query.join("&"))
        }
    }

    /// The method name as [`RawCoap::parse`] takes it.
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Delete => "delete",
            Method::Fetch => "fetch",
            Method::Patch => "patch",
            Method::IPatch => "ipatch",
        }
    }

    fn request(&self, root: &str) -> Request {
        let root = root.trim_end_matches('/');
        let path = if self.path == "/" && !root.is_empty() {
            root.to_owned()
        } else {
            format!("{root}{}", self.path)
        };
        let mut request = Request::new(self.method).with_path(&path);
        for entry in &self.query {
            request = request.with_query_entry(entry);
        }
        if let Some(format) = self.content_format {
            request = request.with_content_format(format);
        }
        if let Some(format) = self.accept {
            request = request.with_accept(format);
        }
        request.with_payload(self.payload.clone())
    }
}

impl Operation {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Read { .. } => "Read",
            Operation::Discover { .. } => "Discover",
            Operation::Write { .. } => "Write",
            Operation::WriteAttributes { .. } => "Write-Attributes",
            Operation::Execute { .. } => "Execute",
            Operation::Create { .. } => "Create",
            Operation::Delete { .. } => "Delete",
            Operation::Observe { .. } => "Observe",
            Operation::ObserveComposite { .. } => "Observe-Composite",
            Operation::CancelObserve { .. } => "Cancel-Observe",
            Operation::CancelObserveComposite { .. } => "Cancel-Observe-Composite",
            Operation::ReadComposite { .. } => "Read-Composite",
            Operation::WriteComposite { .. } => "Write-Composite",
            Operation::RawCoap(_) => "Raw-CoAP",
        }
    }

    /// Whether the request registers an observation.
    pub fn observes(&self) -> bool {
        matches!(
            self,
            Operation::Observe { .. } | Operation::ObserveComposite { .. }
        )
    }

    /// The paths whose values a successful response carries.
    pub(crate) fn value_paths(&self) -> Vec<LwM2mPath> {
        match self {
            Operation::Read { path, .. } | Operation::Observe { path, .. } => vec![*path],
            Operation::ReadComposite { paths, .. } | Operation::ObserveComposite { paths, .. } => {
                paths.clone()
            }
            _ => Vec::new(),
        }
    }
}

/// What the device answered, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct DownlinkResult {
    /// The CoAP response code (an error code is still a result, not an `Err`).
    pub code: ResponseCode,
    /// Decoded values (Read, Read-Composite, Observe), one per leaf.
    pub values: Vec<ResourceValue>,
    /// Body of a Discover response.
    pub link_format: Option<String>,
    /// The raw payload, if any.
    pub payload: Option<Vec<u8>>,
    /// Content format of `payload`.
    pub content_format: Option<u16>,
    /// Location-Path of a Create response (`/1/2`).
    pub location: Option<String>,
    /// Token of the observation an Observe started, lowercase hex.
    pub observation_token: Option<String>,
    /// The Observe found the path already observed and reused that
    /// observation (its token is `observation_token`).
    pub observation_reused: bool,
    /// Why `values` is empty although a payload came back.
    pub decode_error: Option<String>,
}

/// The CoAP request of an operation, and the format it asked for.
#[derive(Debug)]
pub(crate) struct Planned {
    pub request: Request,
    /// Accept or payload format chosen (for decoding a response without Content-Format).
    pub format: Option<ContentFormat>,
}

/// The CoAP path of an LwM2M path under the device's root path (`/lwm2m/3/0`).
pub(crate) fn coap_path(root: &str, path: &LwM2mPath) -> String {
    let path = path.without_version();
    let root = root.trim_end_matches('/');
    if path.is_root() {
        if root.is_empty() {
            "/".to_owned()
        } else {
            root.to_owned()
        }
    } else {
        format!("{root}{path}")
    }
}

/// The single node a leaf stands for (composite writes and SenML encoding).
fn leaf_node(path: &LwM2mPath, value: &Value) -> Result<LwM2mNode, Error> {
    match (
        path.level(),
        path.resource_id(),
        path.resource_instance_id(),
    ) {
        (PathLevel::Resource, Some(id), _) => Ok(LwM2mNode::Resource(LwM2mResource::single(
            id,
            value.clone(),
        ))),
        (PathLevel::ResourceInstance, _, Some(id)) => {
            Ok(LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                id,
                value: value.clone(),
            }))
        }
        _ => Err(Error::InvalidArgument(format!(
            "{path} is not a resource or resource instance"
        ))),
    }
}

/// A SenML codec for a composite format (validated by the policy).
fn senml(
    format: ContentFormat,
) -> Result<&'static dyn lwm2m_core::codec::senml::MultiNodeCodec, Error> {
    decode::senml(format).ok_or(Error::UnsupportedContentFormat(format.code()))
}

/// The request that registers (`observe`) or cancels an observation of
/// `paths`; also rebuilt for notifications accepted from the token index.
pub(crate) fn observe_request(
    root: &str,
    paths: &[LwM2mPath],
    composite: bool,
    format: Option<ContentFormat>,
    observe: u32,
) -> Result<Request, Error> {
    let mut request = if composite {
        let format = format.unwrap_or(ContentFormat::SenmlCbor);
        Request::fetch(&coap_path(root, &LwM2mPath::ROOT))
            .with_content_format(format.code())
            .with_accept(format.code())
            .with_payload(senml(format)?.encode_paths(paths)?)
    } else {
        let [path] = paths else {
            return Err(Error::InvalidArgument(
                "an observation has exactly one path".into(),
            ));
        };
        let mut request = Request::get(&coap_path(root, path));
        if let Some(format) = format {
            request = request.with_accept(format.code());
        }
        request
    };
    request.options.set_observe(observe)?;
    Ok(request)
}

/// Builds the CoAP request of `op` for a device with `formats`, rooted at `root`.
pub(crate) fn plan(
    op: &Operation,
    root: &str,
    formats: &DeviceFormats,
    models: &dyn ModelLookup,
) -> Result<Planned, Error> {
    let planned = |request, format| Ok(Planned { request, format });
    match op {
        Operation::Read {
            path,
            content_format,
        } => {
            let format = formats.for_read(*content_format, path, models)?;
            planned(
                Request::get(&coap_path(root, path)).with_accept(format.code()),
                Some(format),
            )
        }
        Operation::Discover { path } => planned(
            Request::get(&coap_path(root, path)).with_accept(ContentFormat::LinkFormat.code()),
            Some(ContentFormat::LinkFormat),
        ),
        Operation::Write {
            path,
            replace,
            values,
            content_format,
        } => {
            if !*replace && path.level() != PathLevel::ObjectInstance {
                return Err(Error::InvalidArgument(format!(
                    "partial update (replace = false) targets an object instance, not {path}"
                )));
            }
            let node = node_from_leaves(path, values, models)?;
            let format = formats.for_write(*content_format, &node)?;
            let payload = lwm2m_core::codec::encode(format, path, &node, models)?;
            let method = if *replace { Method::Put } else { Method::Post };
            planned(
                Request::new(method)
                    .with_path(&coap_path(root, path))
                    .with_content_format(format.code())
                    .with_payload(payload),
                Some(format),
            )
        }
        Operation::WriteAttributes { path, attributes } => {
            let mut request = Request::put(&coap_path(root, path));
            for entry in attributes.to_query() {
                request = request.with_query_entry(&entry);
            }
            planned(request, None)
        }
        Operation::Execute { path, arguments } => {
            if path.level() != PathLevel::Resource {
                return Err(Error::InvalidArgument(format!(
                    "Execute targets a resource, not {path}"
                )));
            }
            let mut request = Request::post(&coap_path(root, path));
            if !arguments.is_empty() {
                request = request
                    .with_content_format(ContentFormat::Text.code())
                    .with_payload(arguments.as_bytes().to_vec());
            }
            planned(request, None)
        }
        Operation::Create {
            object,
            instance_id,
            values,
            content_format,
        } => {
            if object.level() != PathLevel::Object {
                return Err(Error::InvalidArgument(format!(
                    "Create targets an object, not {object}"
                )));
            }
            let instance = instance_id
                .or_else(|| values.first().and_then(|(p, _)| p.instance_id()))
                .unwrap_or(0);
            let at = object.without_version().child(instance)?;
            let leaves: Vec<_> = values
                .iter()
                .map(|(p, v)| {
                    // Values may name the new instance or not know its id yet.
                    let ids = p.ids();
                    match ids.get(2..) {
                        Some(rest) if ids.len() >= 3 => {
                            let mut full = vec![ids.first().copied().unwrap_or_default(), instance];
                            full.extend_from_slice(rest);
                            LwM2mPath::from_ids(&full).map(|p| (p, v.clone()))
                        }
                        _ => Ok((*p, v.clone())),
                    }
                })
                .collect::<Result<_, _>>()?;
            let node = node_from_leaves(&at, &leaves, models)?;
            let format = formats.for_write(*content_format, &node)?;
            let format = if format.is_multi_node() {
                format
            } else {
                formats.multi_node()
            };
            // With an id, the payload names the instance (TLV object-instance
            // wrapper / SenML names); without, only its resources, and the
            // device picks the id (LwM2M 1.1 §6.3.6).
            let payload = match (instance_id, &node) {
                (Some(_), LwM2mNode::ObjectInstance(inst)) => {
                    let object_node = LwM2mNode::Object(lwm2m_core::LwM2mObject::new(
                        object.object_id().unwrap_or_default(),
                        [inst.clone()],
                    ));
                    lwm2m_core::codec::encode(
                        format,
                        &object.without_version(),
                        &object_node,
                        models,
                    )?
                }
                _ => lwm2m_core::codec::encode(format, &at, &node, models)?,
            };
            planned(
                Request::post(&coap_path(root, object))
                    .with_content_format(format.code())
                    .with_payload(payload),
                Some(format),
            )
        }
        Operation::Delete { path } => planned(Request::delete(&coap_path(root, path)), None),
        Operation::Observe {
            path,
            content_format,
            attributes,
        } => {
            let format = formats.for_read(*content_format, path, models)?;
            let mut request =
                observe_request(root, std::slice::from_ref(path), false, Some(format), 0)?;
            if !attributes.is_empty() {
                // LwM2M 1.2 lets the Observe carry them (query parameters);
                // earlier versions would ignore or refuse the query.
                if formats.lwm2m_version < Version::V1_2 {
                    return Err(Error::InvalidArgument(format!(
                        "notification attributes in an Observe need LwM2M 1.2; the device \
                         registered {}: set them with Write-Attributes instead",
                        formats.lwm2m_version
                    )));
                }
                for entry in attributes.to_query() {
                    request = request.with_query_entry(&entry);
                }
            }
            planned(request, Some(format))
        }
        Operation::ObserveComposite {
            paths,
            content_format,
        } => {
            let format = formats.composite(*content_format)?;
            planned(
                observe_request(root, paths, true, Some(format), 0)?,
                Some(format),
            )
        }
        Operation::ReadComposite {
            paths,
            content_format,
        } => {
            let format = formats.composite(*content_format)?;
            let payload = senml(format)?.encode_paths(paths)?;
            planned(
                Request::fetch(&coap_path(root, &LwM2mPath::ROOT))
                    .with_content_format(format.code())
                    .with_accept(format.code())
                    .with_payload(payload),
                Some(format),
            )
        }
        Operation::WriteComposite {
            values,
            content_format,
        } => {
            let format = formats.composite(*content_format)?;
            let nodes = values
                .iter()
                .map(|(p, v)| Ok((p.without_version(), leaf_node(p, v)?)))
                .collect::<Result<BTreeMap<_, _>, Error>>()?;
            let payload = senml(format)?.encode_nodes(&nodes, models)?;
            planned(
                Request::ipatch(&coap_path(root, &LwM2mPath::ROOT))
                    .with_content_format(format.code())
                    .with_payload(payload),
                Some(format),
            )
        }
        Operation::RawCoap(raw) => planned(raw.request(root), None),
        Operation::CancelObserve { .. } | Operation::CancelObserveComposite { .. } => Err(
            Error::InvalidArgument("cancel operations are planned from their observation".into()),
        ),
    }
}

/// Strips the device's root path from a Location-Path (`/lwm2m/1/2` → `/1/2`).
fn strip_root(root: &str, location: &str) -> String {
    let root = root.trim_end_matches('/');
    match location.strip_prefix(root) {
        Some(rest) if !root.is_empty() && rest.starts_with('/') => rest.to_owned(),
        _ => location.to_owned(),
    }
}

/// Decodes the device's response to `op`.
pub(crate) fn interpret(
    op: &Operation,
    root: &str,
    planned_format: Option<ContentFormat>,
    response: &Response,
    models: &dyn ModelLookup,
    now_secs: f64,
) -> DownlinkResult {
    let content_format = response.content_format();
    let mut result = DownlinkResult {
        code: response.code,
        values: Vec::new(),
        link_format: None,
        payload: (!response.payload.is_empty()).then(|| response.payload.clone()),
        content_format,
        location: None,
        observation_token: None,
        observation_reused: false,
        decode_error: None,
    };
    if !response.code.is_success() {
        return result;
    }
    match op {
        Operation::RawCoap(_) => {}
        Operation::Discover { .. } => match discover_links(content_format, &response.payload) {
            Ok(links) => result.link_format = Some(links),
            Err(e) => result.decode_error = Some(e),
        },
        Operation::Create { .. } => {
            let location = response.location_path();
            if !location.is_empty() && location != "/" {
                result.location = Some(strip_root(root, &location));
            }
        }
        _ => {
            let paths = op.value_paths();
            if paths.is_empty() {
                return result;
            }
            // Without Content-Format, assume the format we asked for.
            let code = content_format.or(planned_format.map(|f| f.code()));
            match code {
                Some(code) => {
                    match decode::values(code, &paths, &response.payload, models, now_secs) {
                        Ok(values) => result.values = values,
                        Err(e) => result.decode_error = Some(e.to_string()),
                    }
                }
                None if response.payload.is_empty() => {}
                None => result.decode_error = Some("response has no Content-Format".into()),
            }
        }
    }
    result
}

/// The link-format body of a Discover answer. Another Content-Format (a
/// real client answered TLV) or a body that is not text is the device's
/// error, reported with the payload in hex rather than shown as links.
/// A missing Content-Format is taken as the link-format asked for.
fn discover_links(content_format: Option<u16>, payload: &[u8]) -> Result<String, String> {
    let link_format = ContentFormat::LinkFormat.code();
    match content_format {
        Some(code) if code != link_format => Err(format!(
            "the device answered the Discover in Content-Format {}, not \
             application/link-format ({link_format}); payload: 0x{}",
            ContentFormat::from_code(code).map_or_else(|| code.to_string(), |f| f.to_string()),
            hex::encode(payload)
        )),
        _ => String::from_utf8(payload.to_vec()).map_err(|_| {
            format!(
                "the device's Discover answer is not UTF-8 link-format; payload: 0x{}",
                hex::encode(payload)
            )
        }),
    }
}

/// Whether `response` confirms an observation (success with Observe option).
pub(crate) fn confirms_observation(response: &Response) -> bool {
    response.code.is_success() && response.options.contains(option_number::OBSERVE)
}

#[cfg(test)]
mod tests {
    use lwm2m_core::{ModelRegistry, Version};

    use super::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn dev(version: Version, supported: &[u16]) -> DeviceFormats {
        DeviceFormats {
            lwm2m_version: version,
            supported: supported.to_vec(),
            override_format: None,
        }
    }

    #[test]
    fn raw_coap_requests_are_sent_as_given() {
        let raw = RawCoap::parse(
            "IPATCH",
            "/1/0?pmin=10&pmax=60",
            Some(60),
            Some(112),
            vec![1],
        )
        .unwrap();
        assert_eq!(raw.uri(), "/1/0?pmin=10&pmax=60");
        assert_eq!(raw.method_name(), "ipatch");
        let request = raw.request("/lwm2m");
        assert_eq!(request.method, Method::IPatch);
        assert_eq!(request.path_string(), "/lwm2m/1/0");
        assert_eq!(request.payload, vec![1]);
        assert!(RawCoap::parse("TRACE", "/1", None, None, vec![]).is_err());
        assert!(RawCoap::parse("get", "1/0", None, None, vec![]).is_err());
    }

    #[test]
    fn paths_under_an_alternate_root() {
        assert_eq!(coap_path("/", &p("/3/0")), "/3/0");
        assert_eq!(coap_path("/lwm2m", &p("/3/0")), "/lwm2m/3/0");
        assert_eq!(coap_path("/", &LwM2mPath::ROOT), "/");
        assert_eq!(strip_root("/lwm2m", "/lwm2m/1/2"), "/1/2");
        assert_eq!(strip_root("/", "/1/2"), "/1/2");
    }

    #[test]
    fn read_and_discover_requests() {
        let models = ModelRegistry::with_core_objects();
        let d = dev(Version::V1_1, &[]);
        let read = plan(
            &Operation::Read {
                path: p("/3/0/9"),
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(read.request.method, Method::Get);
        assert_eq!(read.request.path_string(), "/3/0/9");
        assert_eq!(read.request.options.accept(), Some(0));
        let discover = plan(&Operation::Discover { path: p("/3") }, "/", &d, &models).unwrap();
        assert_eq!(discover.request.options.accept(), Some(40));
    }

    #[test]
    fn write_replace_and_partial_update() {
        let models = ModelRegistry::with_core_objects();
        let d = dev(Version::V1_0, &[]);
        let values = vec![(p("/3/0/14"), Value::String("+02".into()))];
        let put = plan(
            &Operation::Write {
                path: p("/3/0/14"),
                replace: true,
                values: values.clone(),
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(put.request.method, Method::Put);
        assert_eq!(put.request.options.content_format(), Some(0));
        assert_eq!(put.request.payload, b"+02");
        let post = plan(
            &Operation::Write {
                path: p("/3/0"),
                replace: false,
                values,
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(post.request.method, Method::Post);
        assert_eq!(post.request.options.content_format(), Some(11542));
        assert!(plan(
            &Operation::Write {
                path: p("/3/0/14"),
                replace: false,
                values: vec![],
                content_format: None
            },
            "/",
            &d,
            &models,
        )
        .is_err());
    }

    #[test]
    fn attributes_execute_create_delete() {
        let models = ModelRegistry::with_core_objects();
        let d = dev(Version::V1_1, &[]);
        let attrs = LwM2mAttributes {
            pmin: Some(10),
            pmax: Some(60),
            ..Default::default()
        };
        let wa = plan(
            &Operation::WriteAttributes {
                path: p("/3/0/9"),
                attributes: attrs,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(wa.request.method, Method::Put);
        assert_eq!(wa.request.query(), vec!["pmin=10", "pmax=60"]);
        assert!(wa.request.payload.is_empty());
        let ex = plan(
            &Operation::Execute {
                path: p("/3/0/4"),
                arguments: "0='x'".into(),
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(
            (ex.request.method, ex.request.payload.as_slice()),
            (Method::Post, &b"0='x'"[..])
        );
        let create = plan(
            &Operation::Create {
                object: p("/1"),
                instance_id: Some(3),
                values: vec![
                    (p("/1/3/0"), Value::Integer(7)),
                    (p("/1/3/1"), Value::Integer(60)),
                ],
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(create.request.path_string(), "/1");
        assert_eq!(create.request.options.content_format(), Some(11542));
        let node =
            lwm2m_core::codec::decode(11542, &p("/1"), &create.request.payload, &models).unwrap();
        assert!(matches!(node, LwM2mNode::Object(o) if o.instances.contains_key(&3)));
        let del = plan(&Operation::Delete { path: p("/1/3") }, "/", &d, &models).unwrap();
        assert_eq!(del.request.method, Method::Delete);
    }

    #[test]
    fn composite_requests_use_senml() {
        let models = ModelRegistry::with_core_objects();
        let d = dev(Version::V1_1, &[110]);
        let rc = plan(
            &Operation::ReadComposite {
                paths: vec![p("/3/0/9"), p("/1/0/1")],
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(rc.request.method, Method::Fetch);
        assert_eq!(rc.request.options.content_format(), Some(110));
        let text = String::from_utf8(rc.request.payload.clone()).unwrap();
        assert!(text.contains("/3/0/9") && text.contains("/1/0/1"), "{text}");
        let oc = plan(
            &Operation::ObserveComposite {
                paths: vec![p("/3/0/9")],
                content_format: Some(112),
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(oc.request.observe(), Some(0));
        assert_eq!(oc.request.options.content_format(), Some(112));
        let wc = plan(
            &Operation::WriteComposite {
                values: vec![(p("/3/0/14"), Value::String("+01".into()))],
                content_format: None,
            },
            "/",
            &d,
            &models,
        )
        .unwrap();
        assert_eq!(wc.request.method, Method::IPatch);
        let cancel = observe_request("/", &[p("/3/0/9")], false, None, 1).unwrap();
        assert_eq!((cancel.method, cancel.observe()), (Method::Get, Some(1)));
    }

    #[test]
    fn responses_are_decoded_per_operation() {
        let models = ModelRegistry::with_core_objects();
        let read = Operation::Read {
            path: p("/3/0/9"),
            content_format: None,
        };
        let ok = Response::content(0, b"55".to_vec());
        let r = interpret(&read, "/", Some(ContentFormat::Text), &ok, &models, 0.0);
        assert_eq!(r.values.len(), 1);
        assert_eq!(r.code, ResponseCode::CONTENT);
        let bad = Response::content(0, b"not a number".to_vec());
        let r = interpret(&read, "/", None, &bad, &models, 0.0);
        assert!(r.values.is_empty() && r.decode_error.is_some() && r.payload.is_some());
        let created = Response::new(ResponseCode::CREATED).with_location_path("/lwm2m/1/4");
        let create = Operation::Create {
            object: p("/1"),
            instance_id: None,
            values: vec![],
            content_format: None,
        };
        assert_eq!(
            interpret(&create, "/lwm2m", None, &created, &models, 0.0)
                .location
                .as_deref(),
            Some("/1/4")
        );
        let not_found = Response::new(ResponseCode::NOT_FOUND);
        assert_eq!(
            interpret(&read, "/", None, &not_found, &models, 0.0).code,
            ResponseCode::NOT_FOUND
        );
    }
}
