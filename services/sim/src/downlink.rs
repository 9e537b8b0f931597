//! Answers to the downlink operations of the Device Management & Information
//! Reporting interfaces (LwM2M 1.1.1 Core TS §6.3, §6.4): the mapping from
//! CoAP method, path level and options to an operation, and each operation
//! on the [`ClientState`]. Side effects the device task must carry out
//! (reboot, Update) come back as [`Effect`]s.

use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_coap::content_format::LINK_FORMAT;
use lwm2m_coap::{Method, Request, Response, ResponseCode, Token};
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{codec, ContentFormat, LwM2mNode, LwM2mPath, PathLevel, Value, Version};

use crate::client_state::ClientState;
use crate::content_negotiation::{composite_codec, response_format, supported};
use crate::discover::discover;
use crate::error::{Result, SimError};
use crate::initial_objects::temperature_instance;
use crate::observations::{composite_nodes, render, Observation, ObservedTarget};
use crate::stats::Operation;
use crate::temperature_model as t;
use crate::value_simulation::{firmware_state, reset_min_max, set};

/// Something the device task must do after answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Reboot (or factory reset): drop observations and register again.
    Reboot,
    /// Send an Update now (Registration Update Trigger).
    TriggerUpdate,
    /// Objects or instances were created or deleted: Update with the new list.
    ObjectsChanged,
    /// The lifetime in /1/0/1 changed: Update with the new `lt`.
    LifetimeChanged,
    /// An observation was cancelled; the CoAP layer should forget it.
    ObservationCancelled(Token),
}

/// The answer to one request and what else it caused.
#[derive(Debug, Clone)]
pub struct Handled {
    pub operation: Operation,
    pub response: Response,
    pub effects: Vec<Effect>,
}

/// Where the request came from: needed to key observations.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub peer: SocketAddr,
    pub token: Token,
    pub now: Instant,
}

impl ClientState {
    /// Handles one downlink request. Never fails: errors become 4.xx/5.xx.
    pub fn handle_request(&mut self, origin: Origin, request: &Request) -> Handled {
        let mut effects = Vec::new();
        let (operation, result) = match request_path(request) {
            Ok(path) => self.dispatch(origin, request, &path, &mut effects),
            Err(e) => (Operation::Other, Err(e)),
        };
        let response = result.unwrap_or_else(|e| {
            let mut diagnostic = e.to_string();
            diagnostic.truncate(128);
            Response::new(e.response_code()).with_payload(diagnostic.into_bytes())
        });
        Handled {
            operation,
            response,
            effects,
        }
    }

    fn dispatch(
        &mut self,
        origin: Origin,
        req: &Request,
        path: &LwM2mPath,
        effects: &mut Vec<Effect>,
    ) -> (Operation, Result<Response>) {
        let accept = req.options.accept();
        match req.method {
            Method::Get if accept == Some(LINK_FORMAT) => {
                (Operation::Discover, self.discover(path))
            }
            Method::Get => match req.observe() {
                Some(0) => (Operation::Observe, self.observe(origin, path, req)),
                Some(1) => {
                    self.cancel(origin, effects);
                    (Operation::CancelObservation, self.read(path, accept))
                }
                _ => (Operation::Read, self.read(path, accept)),
            },
            Method::Fetch => match req.observe() {
                Some(0) => (
                    Operation::ObserveComposite,
                    self.observe_composite(origin, req),
                ),
                Some(1) => {
                    self.cancel(origin, effects);
                    (Operation::CancelObservation, self.read_composite(req))
                }
                _ => (Operation::ReadComposite, self.read_composite(req)),
            },
            Method::Put if req.payload.is_empty() && req.options.content_format().is_none() => {
                (Operation::WriteAttributes, self.write_attributes(path, req))
            }
            Method::Put => (Operation::Write, self.write(path, req, true, effects)),
            Method::Post => match path.level() {
                PathLevel::Object => (Operation::Create, self.create(path, req, effects)),
                PathLevel::ObjectInstance => {
                    (Operation::Write, self.write(path, req, false, effects))
                }
                PathLevel::Resource if self.tree.check_executable(path).is_ok() => {
                    (Operation::Execute, self.execute(path, effects))
                }
                PathLevel::Resource if self.is_multiple_resource(path) => {
                    (Operation::Write, self.write(path, req, false, effects))
                }
                PathLevel::Resource => (Operation::Execute, self.execute(path, effects)),
                _ => (Operation::Other, Err(not_allowed(req, path))),
            },
            Method::Delete => (Operation::Delete, self.delete(path, effects)),
            Method::IPatch => (
                Operation::WriteComposite,
                self.write_composite(req, effects),
            ),
            Method::Patch => (Operation::Other, Err(not_allowed(req, path))),
        }
    }

    fn is_multiple_resource(&self, path: &LwM2mPath) -> bool {
        self.tree.dim(path).is_some()
    }

    fn read(&self, path: &LwM2mPath, accept: Option<u16>) -> Result<Response> {
        let node = self.tree.read(path)?;
        let format = self.format_for(accept, &node)?;
        let payload = crate::content_negotiation::encode(format, path, &node, self.tree.models())?;
        Ok(Response::content(format.code(), payload))
    }

    fn format_for(&self, accept: Option<u16>, node: &LwM2mNode) -> Result<ContentFormat> {
        response_format(
            accept,
            node,
            self.config.lwm2m_version,
            self.config.multi_node_format(),
        )
    }

    fn discover(&self, path: &LwM2mPath) -> Result<Response> {
        let body = discover(
            &self.tree,
            &self.attributes,
            path,
            self.config.lwm2m_version,
        )?;
        Ok(Response::content(LINK_FORMAT, body.into_bytes()))
    }

    fn observe(&mut self, origin: Origin, path: &LwM2mPath, req: &Request) -> Result<Response> {
        let node = self.tree.read(path)?;
        let format = self.format_for(req.options.accept(), &node)?;
        let attributes = self.observe_attributes(path, req)?;
        self.start_observation(origin, ObservedTarget::Single(*path), format, attributes)
    }

    /// Notification attributes in an Observe's query (`?pmin=10&pmax=60`),
    /// which LwM2M 1.2 allows for that observation alone; checked like
    /// Write-Attributes (4.00 when wrong). Earlier versions define no
    /// query on Observe, so a 1.0/1.1 device ignores one.
    fn observe_attributes(&self, path: &LwM2mPath, req: &Request) -> Result<LwM2mAttributes> {
        let query = req.query();
        if query.is_empty() || self.config.lwm2m_version < Version::V1_2 {
            return Ok(LwM2mAttributes::default());
        }
        let (set, unset) = crate::attribute_store::parse_query(path, &query)?;
        if let Some(name) = unset.first() {
            return Err(SimError::BadRequest(format!(
                "attribute {name} without a value in an Observe"
            )));
        }
        Ok(set)
    }

    fn start_observation(
        &mut self,
        origin: Origin,
        target: ObservedTarget,
        format: ContentFormat,
        attributes: LwM2mAttributes,
    ) -> Result<Response> {
        let rendered = render(&self.tree, &target, format)?;
        self.observations.insert(Observation {
            peer: origin.peer,
            token: origin.token,
            target,
            format,
            last_sent: rendered.snapshot,
            last_sent_at: origin.now,
            last_con_at: origin.now,
            seq: 0,
            notifications_sent: 0,
            attributes,
        });
        Ok(Response::content(format.code(), rendered.payload).with_observe(0)?)
    }

    fn cancel(&mut self, origin: Origin, effects: &mut Vec<Effect>) {
        if self
            .observations
            .remove(origin.peer, origin.token)
            .is_some()
        {
            effects.push(Effect::ObservationCancelled(origin.token));
        }
    }

    /// Paths of a composite request and the format of its answer (Accept,
    /// else the request's own format).
    fn composite_request(&self, req: &Request) -> Result<(Vec<LwM2mPath>, ContentFormat)> {
        let codec = composite_codec(
            req.options.content_format(),
            SimError::UnsupportedContentFormat,
        )?;
        let paths = codec.decode_paths(&req.payload).map_err(SimError::decode)?;
        if paths.is_empty() {
            return Err(SimError::BadRequest(
                "no paths in the composite request".into(),
            ));
        }
        let answer = match req.options.accept() {
            Some(code) => composite_codec(Some(code), SimError::NotAcceptable)?,
            None => codec,
        };
        Ok((paths, answer.content_format()))
    }

    fn read_composite(&self, req: &Request) -> Result<Response> {
        let (paths, format) = self.composite_request(req)?;
        let nodes = composite_nodes(&self.tree, &paths)?;
        let codec = composite_codec(Some(format.code()), SimError::NotAcceptable)?;
        let payload = codec
            .encode_nodes(&nodes, self.tree.models())
            .map_err(|e| SimError::Internal(e.to_string()))?;
        Ok(Response::content(format.code(), payload))
    }

    fn observe_composite(&mut self, origin: Origin, req: &Request) -> Result<Response> {
        let (paths, format) = self.composite_request(req)?;
        let attributes = self.observe_attributes(&LwM2mPath::ROOT, req)?;
        self.start_observation(origin, ObservedTarget::Composite(paths), format, attributes)
    }

    fn write_attributes(&mut self, path: &LwM2mPath, req: &Request) -> Result<Response> {
        if path.is_root() {
            return Err(SimError::MethodNotAllowed("Write-Attributes on /".into()));
        }
        if !self.tree.exists(path) {
            return Err(SimError::NotFound(path.to_string()));
        }
        self.attributes.write_query(path, &req.query())?;
        Ok(Response::new(ResponseCode::CHANGED))
    }

    /// Decodes a request payload with its Content-Format.
    fn decode(&self, path: &LwM2mPath, req: &Request) -> Result<LwM2mNode> {
        let code = req
            .options
            .content_format()
            .ok_or_else(|| SimError::BadRequest("missing Content-Format".into()))?;
        match ContentFormat::from_code(code) {
            Some(f) if supported(self.config.lwm2m_version, f) => {}
            _ => {
                return Err(SimError::UnsupportedContentFormat(format!(
                    "content format {code}"
                )))
            }
        }
        codec::decode(code, path, &req.payload, self.tree.models()).map_err(SimError::decode)
    }

    fn write(
        &mut self,
        path: &LwM2mPath,
        req: &Request,
        replace: bool,
        effects: &mut Vec<Effect>,
    ) -> Result<Response> {
        if matches!(path.level(), PathLevel::Root | PathLevel::Object) {
            return Err(not_allowed(req, path));
        }
        if !self.tree.exists(path) {
            return Err(SimError::NotFound(path.to_string()));
        }
        let node = self.decode(path, req)?;
        let written = self.tree.write(path, node, replace)?;
        self.after_write(&written, effects);
        Ok(Response::new(ResponseCode::CHANGED))
    }

    /// Reactions of the device to written resources.
    fn after_write(&mut self, written: &[LwM2mPath], effects: &mut Vec<Effect>) {
        for p in written {
            match p.ids() {
                [1, _, 1] => effects.push(Effect::LifetimeChanged),
                [5, 0, 0] => set(
                    &mut self.tree,
                    "/5/0/3",
                    Value::Integer(firmware_state::DOWNLOADING),
                ),
                [5, 0, 1] => {
                    let uri_set =
                        matches!(self.tree.value(p), Some(Value::String(s)) if !s.is_empty());
                    let state = if uri_set {
                        firmware_state::DOWNLOADING
                    } else {
                        firmware_state::IDLE
                    };
                    set(&mut self.tree, "/5/0/3", Value::Integer(state));
                }
                _ => {}
            }
        }
    }

    fn write_composite(&mut self, req: &Request, effects: &mut Vec<Effect>) -> Result<Response> {
        let codec = composite_codec(
            req.options.content_format(),
            SimError::UnsupportedContentFormat,
        )?;
        let nodes = codec
            .decode_nodes(&req.payload, None, self.tree.models())
            .map_err(SimError::decode)?;
        // All or nothing: apply to a copy, keep it only if every write succeeds.
        let mut copy = self.tree.clone();
        let mut written = Vec::new();
        for (path, node) in nodes {
            let Some(node) = node else { continue };
            if !copy.exists(&path) && path.level() != PathLevel::ResourceInstance {
                return Err(SimError::NotFound(path.to_string()));
            }
            written.extend(copy.write(&path, node, true)?);
        }
        self.tree = copy;
        self.after_write(&written, effects);
        Ok(Response::new(ResponseCode::CHANGED))
    }

    fn execute(&mut self, path: &LwM2mPath, effects: &mut Vec<Effect>) -> Result<Response> {
        self.tree.check_executable(path)?;
        match path.ids() {
            [3, 0, 4] | [3, 0, 5] => effects.push(Effect::Reboot),
            [3, 0, 12] => {
                let _ = self
                    .tree
                    .set_value(&child(path.parent(), &[11, 0]), Value::Integer(0));
            }
            [1, _, 8] => effects.push(Effect::TriggerUpdate),
            [5, 0, 2]
                if self.tree.value(&child(path.parent(), &[3]))
                    == Some(&Value::Integer(firmware_state::DOWNLOADED)) =>
            {
                set(
                    &mut self.tree,
                    "/5/0/3",
                    Value::Integer(firmware_state::UPDATING),
                );
            }
            [t::TEMPERATURE, i, t::RESET_MIN_MAX] => reset_min_max(&mut self.tree, *i),
            _ => {}
        }
        Ok(Response::new(ResponseCode::CHANGED))
    }

    fn create(
        &mut self,
        path: &LwM2mPath,
        req: &Request,
        effects: &mut Vec<Effect>,
    ) -> Result<Response> {
        let object = path.object_id().unwrap_or_default();
        if !self.tree.exists(path) {
            return Err(SimError::NotFound(path.to_string()));
        }
        let next_id = self.tree.next_instance_id(object);
        // The payload holds either whole instances (TLV with an instance
        // wrapper, SenML naming /3303/1/...) or just the resources (TLV
        // whose first entry is a resource: type bits 7-6 not 00), which
        // get the lowest free id.
        let tlv_resources_only = matches!(
            req.options
                .content_format()
                .and_then(ContentFormat::from_code),
            Some(ContentFormat::Tlv | ContentFormat::LegacyTlv)
        ) && req.payload.first().is_some_and(|b| b >> 6 != 0);
        let at_object = if tlv_resources_only {
            Err(SimError::BadRequest("TLV without instance wrapper".into()))
        } else {
            self.decode(path, req)
        };
        let instances = match at_object {
            Ok(LwM2mNode::Object(o)) if !o.instances.is_empty() => {
                o.instances.into_values().collect()
            }
            Ok(_) | Err(SimError::BadRequest(_)) => {
                let at = path.child(next_id).map_err(SimError::decode)?;
                match self.decode(&at, req)? {
                    LwM2mNode::ObjectInstance(i) => vec![i],
                    _ => {
                        return Err(SimError::BadRequest(
                            "Create needs an object instance".into(),
                        ))
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let mut location = String::new();
        for mut instance in instances {
            if object == t::TEMPERATURE {
                // Fill in what a real sensor always has.
                let defaults = temperature_instance(instance.id, 20.0, 0);
                for (id, r) in defaults.resources {
                    instance.resources.entry(id).or_insert(r);
                }
            }
            location = self.tree.create(object, instance)?.to_string();
        }
        effects.push(Effect::ObjectsChanged);
        Ok(Response::new(ResponseCode::CREATED).with_location_path(&location))
    }

    fn delete(&mut self, path: &LwM2mPath, effects: &mut Vec<Effect>) -> Result<Response> {
        self.tree.delete(path)?;
        self.attributes.remove_subtree(path);
        effects.push(Effect::ObjectsChanged);
        Ok(Response::new(ResponseCode::DELETED))
    }
}

fn not_allowed(req: &Request, path: &LwM2mPath) -> SimError {
    SimError::MethodNotAllowed(format!("{} on {path}", req.method))
}

fn child(base: LwM2mPath, ids: &[u16]) -> LwM2mPath {
    ids.iter()
        .try_fold(base, |p, id| p.child(*id))
        .unwrap_or(LwM2mPath::ROOT)
}

/// The LwM2M path of a request; anything that is not one is 4.04.
fn request_path(req: &Request) -> Result<LwM2mPath> {
    let segments = req.path();
    if segments.is_empty() {
        return Ok(LwM2mPath::ROOT);
    }
    format!("/{}", segments.join("/"))
        .parse()
        .map_err(|_| SimError::NotFound(req.path_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceConfig;
    use crate::temperature_model::sim_registry;
    use lwm2m_coap::content_format as cf;
    use lwm2m_core::codec::senml::MultiNodeCodec;
    use lwm2m_core::codec::senml_json::SenmlJsonCodec;
    use lwm2m_core::{LwM2mObjectInstance, LwM2mResource, Version};
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn state(version: Version) -> ClientState {
        let config = DeviceConfig {
            lwm2m_version: version,
            ..DeviceConfig::default()
        };
        ClientState::new(
            config,
            Arc::new(sim_registry()),
            &mut SmallRng::seed_from_u64(1),
            0,
        )
    }

    fn origin() -> Origin {
        Origin {
            peer: "127.0.0.1:5683".parse().unwrap(),
            token: Token::new(&[1, 2]).unwrap(),
            now: Instant::now(),
        }
    }

    fn handle(s: &mut ClientState, req: Request) -> Handled {
        s.handle_request(origin(), &req)
    }

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn reads_with_accept_and_defaults() {
        let mut s = state(Version::V1_1);
        let r = handle(&mut s, Request::get("/3/0/0"));
        assert_eq!(r.response.code, ResponseCode::CONTENT);
        assert_eq!(r.response.content_format(), Some(cf::TEXT_PLAIN));
        assert_eq!(r.response.payload, b"lwm2m-cluster");
        let r = handle(&mut s, Request::get("/3/0"));
        assert_eq!(r.response.content_format(), Some(cf::SENML_CBOR));
        let r = handle(&mut s, Request::get("/3/0").with_accept(cf::LWM2M_TLV));
        assert_eq!(r.response.content_format(), Some(cf::LWM2M_TLV));
        assert_eq!(r.operation, Operation::Read);
        let r = handle(&mut s, Request::get("/3/0").with_accept(cf::TEXT_PLAIN));
        assert_eq!(r.response.code, ResponseCode::NOT_ACCEPTABLE);
        let r = handle(&mut s, Request::get("/3/0").with_accept(1234));
        assert_eq!(r.response.code, ResponseCode::NOT_ACCEPTABLE);
        let mut v10 = state(Version::V1_0);
        let r = handle(&mut v10, Request::get("/3/0"));
        assert_eq!(r.response.content_format(), Some(cf::LWM2M_TLV));
    }

    #[test]
    fn read_errors() {
        let mut s = state(Version::V1_1);
        assert_eq!(
            handle(&mut s, Request::get("/3/0/4")).response.code,
            ResponseCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            handle(&mut s, Request::get("/3/9")).response.code,
            ResponseCode::NOT_FOUND
        );
        assert_eq!(
            handle(&mut s, Request::get("/foo")).response.code,
            ResponseCode::NOT_FOUND
        );
        assert_eq!(
            handle(&mut s, Request::new(Method::Patch).with_path("/3/0"))
                .response
                .code,
            ResponseCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn writes_and_reacts() {
        let mut s = state(Version::V1_1);
        let r = handle(
            &mut s,
            Request::put("/1/0/1")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"120".to_vec()),
        );
        assert_eq!(r.response.code, ResponseCode::CHANGED);
        assert_eq!(r.effects, vec![Effect::LifetimeChanged]);
        assert_eq!(s.lifetime(), 120);
        let r = handle(
            &mut s,
            Request::put("/3/0/9")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"1".to_vec()),
        );
        assert_eq!(r.response.code, ResponseCode::METHOD_NOT_ALLOWED);
        let r = handle(
            &mut s,
            Request::put("/1/0/1")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"abc".to_vec()),
        );
        assert_eq!(r.response.code, ResponseCode::BAD_REQUEST);
        let r = handle(&mut s, Request::put("/1/0/1").with_payload(b"1".to_vec()));
        assert_eq!(
            r.response.code,
            ResponseCode::BAD_REQUEST,
            "no content format"
        );
        let r = handle(
            &mut s,
            Request::put("/5/0/1")
                .with_content_format(cf::TEXT_PLAIN)
                .with_payload(b"coap://fw".to_vec()),
        );
        assert_eq!(r.response.code, ResponseCode::CHANGED);
        assert_eq!(
            s.tree.value(&p("/5/0/3")),
            Some(&Value::Integer(firmware_state::DOWNLOADING))
        );
    }

    #[test]
    fn write_attributes_then_discover() {
        let mut s = state(Version::V1_1);
        let r = handle(
            &mut s,
            Request::put("/3303/0/5700")
                .with_query("pmin", "1")
                .with_query("pmax", "5"),
        );
        assert_eq!(r.operation, Operation::WriteAttributes);
        assert_eq!(r.response.code, ResponseCode::CHANGED);
        let r = handle(&mut s, Request::get("/3303/0").with_accept(cf::LINK_FORMAT));
        assert_eq!(r.operation, Operation::Discover);
        let text = String::from_utf8(r.response.payload).unwrap();
        assert!(text.contains("</3303/0/5700>;pmin=1;pmax=5"), "{text}");
        let r = handle(&mut s, Request::put("/3303/7").with_query("pmin", "1"));
        assert_eq!(r.response.code, ResponseCode::NOT_FOUND);
    }

    #[test]
    fn execute_create_delete() {
        let mut s = state(Version::V1_1);
        let r = handle(&mut s, Request::post("/3/0/4"));
        assert_eq!(
            (r.operation, r.response.code),
            (Operation::Execute, ResponseCode::CHANGED)
        );
        assert_eq!(r.effects, vec![Effect::Reboot]);
        let r = handle(&mut s, Request::post("/3/0/9"));
        assert_eq!(r.response.code, ResponseCode::METHOD_NOT_ALLOWED);
        let r = handle(&mut s, Request::post("/1/0/8"));
        assert_eq!(r.effects, vec![Effect::TriggerUpdate]);

        let inst = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
            5,
            [LwM2mResource::single(
                t::APPLICATION_TYPE,
                Value::String("fridge".into()),
            )],
        ));
        let payload =
            codec::encode(ContentFormat::Tlv, &p("/3303/5"), &inst, s.tree.models()).unwrap();
        let r = handle(
            &mut s,
            Request::post("/3303")
                .with_content_format(cf::LWM2M_TLV)
                .with_payload(payload),
        );
        assert_eq!(
            r.response.code,
            ResponseCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.response.payload)
        );
        let location = r.response.location_path();
        assert!(location.starts_with("/3303/"), "{location}");
        assert!(
            s.tree.value(&p(&format!("{location}/5700"))).is_some(),
            "defaults filled"
        );
        assert_eq!(r.effects, vec![Effect::ObjectsChanged]);
        let r = handle(&mut s, Request::delete(&location));
        assert_eq!(r.response.code, ResponseCode::DELETED);
        let r = handle(&mut s, Request::delete(&location));
        assert_eq!(r.response.code, ResponseCode::NOT_FOUND);
    }

    #[test]
    fn composite_read_write_and_observe() {
        let mut s = state(Version::V1_1);
        let paths = SenmlJsonCodec
            .encode_paths(&[p("/3/0/9"), p("/3303/0/5700")])
            .unwrap();
        let r = handle(
            &mut s,
            Request::fetch("/")
                .with_content_format(cf::SENML_JSON)
                .with_payload(paths.clone()),
        );
        assert_eq!(r.response.code, ResponseCode::CONTENT);
        assert_eq!(r.response.content_format(), Some(cf::SENML_JSON));
        let nodes = SenmlJsonCodec
            .decode_nodes(&r.response.payload, None, s.tree.models())
            .unwrap();
        assert_eq!(nodes.len(), 2);

        let r = handle(
            &mut s,
            Request::fetch("/")
                .with_content_format(cf::SENML_JSON)
                .with_accept(cf::SENML_CBOR)
                .with_option(lwm2m_coap::option_number::OBSERVE, vec![])
                .with_payload(paths),
        );
        assert_eq!(r.operation, Operation::ObserveComposite);
        assert_eq!(r.response.observe(), Some(0));
        assert_eq!(r.response.content_format(), Some(cf::SENML_CBOR));
        assert_eq!(s.observations.len(), 1);

        let mut nodes = std::collections::BTreeMap::new();
        nodes.insert(
            p("/1/0/1"),
            LwM2mNode::Resource(LwM2mResource::single(1, Value::Integer(77))),
        );
        nodes.insert(
            p("/3/0/15"),
            LwM2mNode::Resource(LwM2mResource::single(15, Value::String("X".into()))),
        );
        let body = SenmlJsonCodec
            .encode_nodes(&nodes, s.tree.models())
            .unwrap();
        let r = handle(
            &mut s,
            Request::ipatch("/")
                .with_content_format(cf::SENML_JSON)
                .with_payload(body),
        );
        assert_eq!(r.response.code, ResponseCode::CHANGED);
        assert_eq!(s.lifetime(), 77);
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(
            p("/3/0/15"),
            LwM2mNode::Resource(LwM2mResource::single(15, Value::String("Y".into()))),
        );
        bad.insert(
            p("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1))),
        );
        let body = SenmlJsonCodec.encode_nodes(&bad, s.tree.models()).unwrap();
        let r = handle(
            &mut s,
            Request::ipatch("/")
                .with_content_format(cf::SENML_JSON)
                .with_payload(body),
        );
        assert_eq!(r.response.code, ResponseCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            s.tree.value(&p("/3/0/15")),
            Some(&Value::String("X".into())),
            "atomic"
        );
    }

    /// LwM2M 1.2: attributes in the Observe's query hold for that
    /// observation only; wrong ones are 4.00; a 1.1 device ignores them.
    #[test]
    fn a_1_2_observe_carries_its_own_attributes() {
        let observe = |query: &[(&str, &str)]| {
            query.iter().fold(
                Request::get("/3303/0/5700")
                    .with_option(lwm2m_coap::option_number::OBSERVE, vec![]),
                |r, (k, v)| r.with_query(k, v),
            )
        };
        let mut s = state(Version::V1_2);
        s.attributes
            .write_query(&p("/3303/0/5700"), &["pmin=1", "st=0.5"])
            .unwrap();
        let r = handle(&mut s, observe(&[("pmin", "2"), ("pmax", "30")]));
        assert_eq!(r.response.code, ResponseCode::CONTENT);
        let obs = s.observations.iter().next().unwrap().clone();
        assert_eq!(
            (obs.attributes.pmin, obs.attributes.pmax),
            (Some(2), Some(30))
        );
        let rules = s.rules(&obs.target, &obs.attributes);
        assert_eq!(
            rules.pmin,
            std::time::Duration::from_secs(2),
            "its own pmin wins"
        );
        assert_eq!(rules.pmax, Some(std::time::Duration::from_secs(30)));
        assert_eq!(rules.st, Some(0.5), "the path's step still holds");
        assert_eq!(
            s.attributes.attached(&p("/3303/0/5700")).pmin,
            Some(1),
            "the path's attributes are not changed"
        );
        let r = handle(&mut s, observe(&[("pmin", "30"), ("pmax", "2")]));
        assert_eq!(r.response.code, ResponseCode::BAD_REQUEST);

        let mut s = state(Version::V1_1);
        let r = handle(&mut s, observe(&[("pmin", "2")]));
        assert_eq!(r.response.code, ResponseCode::CONTENT);
        let obs = s.observations.iter().next().unwrap();
        assert!(obs.attributes.is_empty(), "1.1 defines no query on Observe");
    }

    #[test]
    fn observe_and_cancel() {
        let mut s = state(Version::V1_1);
        let r = handle(
            &mut s,
            Request::get("/3303/0/5700").with_option(lwm2m_coap::option_number::OBSERVE, vec![]),
        );
        assert_eq!(r.operation, Operation::Observe);
        assert_eq!(r.response.observe(), Some(0));
        assert_eq!(s.observations.len(), 1);
        let r = handle(
            &mut s,
            Request::get("/3303/0/5700").with_option(lwm2m_coap::option_number::OBSERVE, vec![1]),
        );
        assert_eq!(r.operation, Operation::CancelObservation);
        assert_eq!(r.response.code, ResponseCode::CONTENT);
        assert_eq!(r.response.observe(), None);
        assert!(s.observations.is_empty());
        assert_eq!(
            r.effects,
            vec![Effect::ObservationCancelled(origin().token)]
        );
        let r = handle(
            &mut s,
            Request::get("/3/0/4").with_option(lwm2m_coap::option_number::OBSERVE, vec![]),
        );
        assert_eq!(r.response.code, ResponseCode::METHOD_NOT_ALLOWED);
        assert!(s.observations.is_empty());
    }
}
