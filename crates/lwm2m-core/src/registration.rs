//! The query and payload of Register and Update requests (LwM2M 1.1.1 Core
//! TS §5.3.1, §5.3.2 and §6.2.1), independent of the transport.
//!
//! The input is what CoAP hands over: the Uri-Query options as `key=value`
//! strings, the payload bytes and the Content-Format number, if any. The
//! output says who registers, for how long, over which binding, and which
//! objects it has. Defaults the specification gives (lifetime 86400 s,
//! LwM2M 1.0, binding U) are applied by the caller through the constants and
//! helpers here, so that "not sent" stays visible.

use std::fmt;

use crate::link::RegisteredObjects;
use crate::{Error, Version};

/// The lifetime a server assumes when a Register has no `lt` (§5.3.1).
pub const DEFAULT_LIFETIME: u32 = 86_400;

/// The longest endpoint name accepted; names are usually URNs such as
/// `urn:imei:490154203237518`, far below this.
pub const MAX_ENDPOINT_LEN: usize = 255;

/// The most query parameters one request may carry.
pub const MAX_QUERY_PARAMS: usize = 64;

/// Content-Format of the Register/Update payload: application/link-format.
const LINK_FORMAT: u16 = 40;

/// The transports and queue mode of the `b=` parameter.
///
/// LwM2M 1.0 writes queue mode as a letter after a transport (`UQ`, `UQS`);
/// LwM2M 1.1 moves it to the separate `Q` parameter and adds `T` (TCP) and
/// `N` (non-IP). Both spellings are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Binding {
    pub udp: bool,
    pub tcp: bool,
    pub sms: bool,
    pub non_ip: bool,
    /// `Q` written inside `b=` (LwM2M 1.0 style).
    pub queue: bool,
}

impl Binding {
    /// `U`, the binding assumed when a Register has no `b`.
    pub const UDP: Binding = Binding {
        udp: true,
        tcp: false,
        sms: false,
        non_ip: false,
        queue: false,
    };

    /// Parses `U`, `UQ`, `S`, `SQ`, `US`, `UQS`, `T`, `N`, `Q` and other
    /// combinations of these letters (ASCII case-insensitive).
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.is_empty() {
            return Err(Error::Registration("binding (b) is empty".to_owned()));
        }
        let mut b = Binding::default();
        for c in text.chars() {
            match c.to_ascii_uppercase() {
                'U' => b.udp = true,
                'T' => b.tcp = true,
                'S' => b.sms = true,
                'N' => b.non_ip = true,
                'Q' => b.queue = true,
                _ => {
                    return Err(Error::Registration(format!(
                        "binding (b) {text:?} has unknown mode {c:?}; expected letters of U, T, S, N, Q"
                    )))
                }
            }
        }
        Ok(b)
    }
}

impl fmt::Display for Binding {
    /// Letters in the order U, T, S, N, with `Q` right after the first
    /// transport (`UQS`), as LwM2M 1.0 writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut queue_written = !self.queue;
        for (on, letter) in [
            (self.udp, 'U'),
            (self.tcp, 'T'),
            (self.sms, 'S'),
            (self.non_ip, 'N'),
        ] {
            if on {
                write!(f, "{letter}")?;
                if !queue_written {
                    f.write_str("Q")?;
                    queue_written = true;
                }
            }
        }
        if !queue_written {
            f.write_str("Q")?;
        }
        Ok(())
    }
}

/// A Register request (`POST /rd?ep=...`).
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterRequest {
    /// `ep`: the endpoint client name, mandatory.
    pub endpoint: String,
    /// `lt` in seconds; `None` means [`DEFAULT_LIFETIME`].
    pub lifetime: Option<u32>,
    /// `lwm2m`; 1.0 when absent.
    pub lwm2m_version: Version,
    /// `b`; `None` means [`Binding::UDP`].
    pub binding: Option<Binding>,
    /// Queue mode: `Q` in `b` (1.0) or the `Q` parameter (1.1).
    pub queue_mode: bool,
    /// `sms`: the MSISDN of the client for the SMS binding.
    pub sms_number: Option<String>,
    /// `at`: the awake time in seconds some queue-mode clients send; kept
    /// when numeric, otherwise left among the unknown parameters.
    pub awake_time: Option<u32>,
    /// Parameters this crate does not interpret, in order (`None` value for `key` alone).
    pub other_params: Vec<(String, Option<String>)>,
    /// The payload: root path, content formats, objects and instances.
    pub objects: RegisteredObjects,
}

impl RegisterRequest {
    /// Parses the query options, payload and Content-Format of a Register.
    pub fn parse<S: AsRef<str>>(
        query: &[S],
        payload: Option<&[u8]>,
        content_format: Option<u16>,
    ) -> Result<Self, Error> {
        let params = Params::parse(query)?;
        let endpoint = match params.get("ep")? {
            None | Some(None) => {
                return Err(Error::Registration("missing endpoint name (ep)".to_owned()))
            }
            Some(Some(ep)) => ep.to_owned(),
        };
        if endpoint.is_empty() {
            return Err(Error::Registration(
                "endpoint name (ep) is empty".to_owned(),
            ));
        }
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(Error::Registration(format!(
                "endpoint name (ep) is {} bytes, more than {MAX_ENDPOINT_LEN}",
                endpoint.len()
            )));
        }
        if endpoint.chars().any(char::is_control) {
            return Err(Error::Registration(format!(
                "endpoint name (ep) {endpoint:?} has control characters"
            )));
        }
        let lwm2m_version = match params.value("lwm2m")? {
            None => Version::V1_0,
            Some(text) => parse_lwm2m_version(text)?,
        };
        let binding = params.value("b")?.map(Binding::parse).transpose()?;
        let queue_param = params.get("Q")?.is_some();
        let awake_time = params.value("at")?.and_then(|t| t.parse::<u32>().ok());
        let mut known = vec!["ep", "lt", "lwm2m", "b", "Q", "sms"];
        if awake_time.is_some() {
            known.push("at");
        }
        Ok(RegisterRequest {
            endpoint,
            lifetime: params.value("lt")?.map(parse_lifetime).transpose()?,
            lwm2m_version,
            binding,
            queue_mode: queue_param || binding.is_some_and(|b| b.queue),
            sms_number: params.value("sms")?.map(str::to_owned),
            awake_time,
            other_params: params.others(&known),
            objects: parse_objects(payload, content_format)?.unwrap_or_default(),
        })
    }

    /// The lifetime in force: `lt`, or [`DEFAULT_LIFETIME`].
    pub fn lifetime_or_default(&self) -> u32 {
        self.lifetime.unwrap_or(DEFAULT_LIFETIME)
    }

    /// The binding in force: `b`, or `U`.
    pub fn binding_or_default(&self) -> Binding {
        self.binding.unwrap_or(Binding::UDP)
    }

    /// The Uri-Query options of this request, as a client sends them; with
    /// LwM2M 1.1 and later queue mode is the `Q` parameter, before that a
    /// letter of `b`.
    pub fn to_query(&self) -> Vec<String> {
        let mut q = vec![format!("ep={}", self.endpoint)];
        if let Some(lt) = self.lifetime {
            q.push(format!("lt={lt}"));
        }
        q.push(format!("lwm2m={}", self.lwm2m_version));
        let legacy_queue = self.lwm2m_version < Version::V1_1;
        let mut binding = self.binding_or_default();
        binding.queue = self.queue_mode && legacy_queue;
        if self.binding.is_some() || binding.queue {
            q.push(format!("b={binding}"));
        }
        if let Some(sms) = &self.sms_number {
            q.push(format!("sms={sms}"));
        }
        if self.queue_mode && !legacy_queue {
            q.push("Q".to_owned());
        }
        q
    }
}

/// An Update request (`POST /rd/{location}`): every field is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateRequest {
    pub lifetime: Option<u32>,
    pub binding: Option<Binding>,
    /// The `Q` parameter (or `Q` in `b`) was present.
    pub queue_mode: bool,
    pub sms_number: Option<String>,
    /// Parameters an Update does not define (`ep`, `lwm2m` are not updatable).
    pub other_params: Vec<(String, Option<String>)>,
    /// The new object list, when the Update carries a payload.
    pub objects: Option<RegisteredObjects>,
}

impl UpdateRequest {
    pub fn parse<S: AsRef<str>>(
        query: &[S],
        payload: Option<&[u8]>,
        content_format: Option<u16>,
    ) -> Result<Self, Error> {
        let params = Params::parse(query)?;
        let binding = params.value("b")?.map(Binding::parse).transpose()?;
        Ok(UpdateRequest {
            lifetime: params.value("lt")?.map(parse_lifetime).transpose()?,
            binding,
            queue_mode: params.get("Q")?.is_some() || binding.is_some_and(|b| b.queue),
            sms_number: params.value("sms")?.map(str::to_owned),
            other_params: params.others(&["lt", "b", "Q", "sms"]),
            objects: parse_objects(payload, content_format)?,
        })
    }

    /// Whether the Update changes nothing but the registration's freshness.
    pub fn is_empty(&self) -> bool {
        self.lifetime.is_none()
            && self.binding.is_none()
            && self.sms_number.is_none()
            && self.objects.is_none()
    }
}

/// `lwm2m=`: 1.0, 1.1 and 1.2 are implemented; newer is refused with its own
/// error so the transport can answer 4.00 with a precise reason (§6.2.1.1).
fn parse_lwm2m_version(text: &str) -> Result<Version, Error> {
    let version: Version = text.parse().map_err(|_| {
        Error::Registration(format!("LwM2M version (lwm2m) {text:?} is not MAJOR.MINOR"))
    })?;
    if version < Version::V1_0 || version > Version::V1_2 {
        return Err(Error::UnsupportedLwm2mVersion(text.to_owned()));
    }
    Ok(version)
}

fn parse_lifetime(text: &str) -> Result<u32, Error> {
    match text.parse::<u32>() {
        Ok(0) => Err(Error::Registration(
            "lifetime (lt) is 0; it must be at least 1 second".to_owned(),
        )),
        Ok(lt) => Ok(lt),
        Err(_) => Err(Error::Registration(format!(
            "lifetime (lt) {text:?} is not a number of seconds"
        ))),
    }
}

/// The payload as a link-format object list; `None` when there is none.
fn parse_objects(
    payload: Option<&[u8]>,
    content_format: Option<u16>,
) -> Result<Option<RegisteredObjects>, Error> {
    let Some(payload) = payload.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if let Some(cf) = content_format.filter(|cf| *cf != LINK_FORMAT) {
        return Err(Error::Registration(format!(
            "payload has content format {cf}; the object list must be application/link-format ({LINK_FORMAT})"
        )));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| Error::Registration(format!("object list is not UTF-8: {e}")))?;
    RegisteredObjects::parse(text).map(Some)
}

/// The query parameters, split once at `=`.
struct Params {
    entries: Vec<(String, Option<String>)>,
}

impl Params {
    fn parse<S: AsRef<str>>(query: &[S]) -> Result<Self, Error> {
        if query.len() > MAX_QUERY_PARAMS {
            return Err(Error::Registration(format!(
                "{} query parameters, more than the {MAX_QUERY_PARAMS} accepted",
                query.len()
            )));
        }
        let entries = query
            .iter()
            .map(|p| match p.as_ref().split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (p.as_ref().to_owned(), None),
            })
            .collect();
        Ok(Params { entries })
    }

    /// The parameter `key`: `Some(None)` when given without a value; an error
    /// when given twice, as the two could disagree.
    fn get(&self, key: &str) -> Result<Option<Option<&str>>, Error> {
        let mut found = self.entries.iter().filter(|(k, _)| k == key);
        let first = found.next().map(|(_, v)| v.as_deref());
        if found.next().is_some() {
            return Err(Error::Registration(format!(
                "query parameter {key} is given more than once"
            )));
        }
        Ok(first)
    }

    /// The value of `key`; a value-less `key` is an error for these parameters.
    fn value(&self, key: &str) -> Result<Option<&str>, Error> {
        match self.get(key)? {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v)),
            Some(None) => Err(Error::Registration(format!(
                "query parameter {key} has no value"
            ))),
        }
    }

    fn others(&self, known: &[&str]) -> Vec<(String, Option<String>)> {
        self.entries
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// Splits an `a=1&b=2` query string into its parameters (for callers that
/// receive a query string rather than CoAP Uri-Query options).
pub fn split_query(query: &str) -> Vec<&str> {
    query.split('&').filter(|p| !p.is_empty()).collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    fn register(query: &str, payload: &str) -> Result<RegisterRequest, Error> {
        RegisterRequest::parse(&split_query(query), Some(payload.as_bytes()), Some(40))
    }

    #[test]
    fn bindings_parse_and_print() {
        for (text, printed) in [
            ("U", "U"),
            ("UQ", "UQ"),
            ("Q", "Q"),
            ("T", "T"),
            ("S", "S"),
            ("N", "N"),
            ("US", "US"),
            ("UQS", "UQS"),
            ("SQ", "SQ"),
            ("uqs", "UQS"),
            ("TQ", "TQ"),
        ] {
            assert_eq!(Binding::parse(text).unwrap().to_string(), printed, "{text}");
        }
        let b = Binding::parse("UQS").unwrap();
        assert!(b.udp && b.queue && b.sms && !b.tcp);
        for bad in ["", "X", "U1", "UDP"] {
            assert!(
                matches!(Binding::parse(bad), Err(Error::Registration(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn defaults_stay_visible() {
        let r = register("ep=foo", "</1/0>").unwrap();
        assert_eq!(
            (r.lifetime, r.binding, r.lwm2m_version),
            (None, None, Version::V1_0)
        );
        assert_eq!(
            (r.lifetime_or_default(), r.binding_or_default()),
            (86_400, Binding::UDP)
        );
        assert!(!r.queue_mode);
    }

    #[test]
    fn queue_mode_either_way() {
        assert!(register("ep=a&b=UQ&lwm2m=1.0", "").unwrap().queue_mode);
        let r = register("ep=a&b=U&lwm2m=1.1&Q", "").unwrap();
        assert!(r.queue_mode && !r.binding.unwrap().queue);
    }

    #[test]
    fn endpoint_errors() {
        let missing = register("lt=60", "").unwrap_err();
        assert_eq!(
            missing,
            Error::Registration("missing endpoint name (ep)".to_owned())
        );
        assert!(register("ep", "")
            .unwrap_err()
            .to_string()
            .contains("missing endpoint name"));
        assert!(register("ep=", "")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(register(&format!("ep={}", "x".repeat(256)), "")
            .unwrap_err()
            .to_string()
            .contains("more than 255"));
        assert!(register("ep=a&ep=b", "")
            .unwrap_err()
            .to_string()
            .contains("more than once"));
        assert!(register("ep=a\u{7}", "")
            .unwrap_err()
            .to_string()
            .contains("control"));
    }

    #[test]
    fn lifetime_errors() {
        assert!(register("ep=a&lt=0", "")
            .unwrap_err()
            .to_string()
            .contains("lifetime (lt) is 0"));
        assert!(register("ep=a&lt=ten", "")
            .unwrap_err()
            .to_string()
            .contains("\"ten\""));
        assert!(register("ep=a&lt=-5", "").is_err());
        assert!(register("ep=a&lt=99999999999", "").is_err());
        assert!(register("ep=a&lt", "")
            .unwrap_err()
            .to_string()
            .contains("no value"));
        assert_eq!(
            register("ep=a&lt=4294967295", "").unwrap().lifetime,
            Some(u32::MAX)
        );
    }

    #[test]
    fn lwm2m_versions() {
        for (v, want) in [
            ("1.0", Version::V1_0),
            ("1.1", Version::V1_1),
            ("1.2", Version::V1_2),
        ] {
            assert_eq!(
                register(&format!("ep=a&lwm2m={v}"), "")
                    .unwrap()
                    .lwm2m_version,
                want
            );
        }
        for newer in ["1.3", "2.0"] {
            assert_eq!(
                register(&format!("ep=a&lwm2m={newer}"), "").unwrap_err(),
                Error::UnsupportedLwm2mVersion(newer.to_owned())
            );
        }
        assert_eq!(
            register("ep=a&lwm2m=0.9", "").unwrap_err(),
            Error::UnsupportedLwm2mVersion("0.9".to_owned())
        );
        for garbage in ["x", "1", "1.0.2", ""] {
            assert!(
                matches!(
                    register(&format!("ep=a&lwm2m={garbage}"), ""),
                    Err(Error::Registration(_))
                ),
                "{garbage}"
            );
        }
    }

    #[test]
    fn payload_content_formats() {
        let q = ["ep=a"];
        let p = Some(&b"</3/0>"[..]);
        assert!(RegisterRequest::parse(&q, p, None)
            .unwrap()
            .objects
            .has_instance(3, 0));
        assert!(RegisterRequest::parse(&q, p, Some(40))
            .unwrap()
            .objects
            .has_instance(3, 0));
        let err = RegisterRequest::parse(&q, p, Some(110)).unwrap_err();
        assert!(err.to_string().contains("content format 110"), "{err}");
        assert!(RegisterRequest::parse(&q, Some(&[0xff, 0xfe][..]), None)
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
        assert!(RegisterRequest::parse(&q, Some(&b"3/0"[..]), None).is_err());
        assert!(RegisterRequest::parse(&q, None, None)
            .unwrap()
            .objects
            .objects
            .is_empty());
    }

    #[test]
    fn unknown_params_are_kept() {
        let r = register("ep=a&at=30&foo=bar&flag", "").unwrap();
        assert_eq!(r.awake_time, Some(30));
        assert_eq!(
            r.other_params,
            vec![
                ("foo".to_owned(), Some("bar".to_owned())),
                ("flag".to_owned(), None)
            ]
        );
        let r = register("ep=a&at=soon", "").unwrap();
        assert_eq!((r.awake_time, r.other_params.len()), (None, 1));
    }

    #[test]
    fn too_many_params() {
        let q: Vec<String> = (0..65).map(|i| format!("x{i}=1")).collect();
        assert!(RegisterRequest::parse(&q, None, None)
            .unwrap_err()
            .to_string()
            .contains("more than the 64"));
    }

    #[test]
    fn query_round_trip() {
        let r = register("ep=dev1&lt=300&lwm2m=1.1&b=U&sms=+4915&Q", "").unwrap();
        assert_eq!(
            r.to_query(),
            vec!["ep=dev1", "lt=300", "lwm2m=1.1", "b=U", "sms=+4915", "Q"]
        );
        assert_eq!(
            RegisterRequest::parse(&r.to_query(), None, None).unwrap(),
            r
        );
        let r10 = register("ep=dev1&lwm2m=1.0&b=UQS", "").unwrap();
        assert_eq!(r10.to_query(), vec!["ep=dev1", "lwm2m=1.0", "b=UQS"]);
    }

    #[test]
    fn update_requests() {
        let u = UpdateRequest::parse(&["lt=600", "b=UQ"], None, None).unwrap();
        assert_eq!(u.lifetime, Some(600));
        assert!(u.queue_mode && u.objects.is_none());
        let empty = UpdateRequest::parse::<&str>(&[], Some(&b""[..]), None).unwrap();
        assert!(empty.is_empty());
        let with_objects =
            UpdateRequest::parse::<&str>(&[], Some(&b"</3/0>,</5>"[..]), Some(40)).unwrap();
        assert_eq!(with_objects.objects.unwrap().objects.len(), 2);
        assert!(UpdateRequest::parse(&["lt=0"], None, None).is_err());
        assert!(UpdateRequest::parse(&["b=X"], None, None).is_err());
        assert_eq!(
            UpdateRequest::parse(&["ep=x"], None, None)
                .unwrap()
                .other_params
                .len(),
            1
        );
    }
}
