//! Requests and responses as the upper layer sees them: no message type,
//! message id or token (those belong to the exchange layer), and always the
//! whole body (block-wise transfer is handled below this API).

use crate::block::BlockOption;
use crate::code::{Method, ResponseCode};
use crate::error::Error;
use crate::options::{number, Options};

/// A CoAP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// All options (Uri-Path, Uri-Query, Content-Format, ...).
    pub options: Options,
    /// The whole body.
    pub payload: Vec<u8>,
}

impl Request {
    /// A request without options or payload.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            options: Options::new(),
            payload: Vec::new(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new(Method::Get).with_path(path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Self {
        Self::new(Method::Post).with_path(path)
    }

    /// `PUT path`.
    pub fn put(path: &str) -> Self {
        Self::new(Method::Put).with_path(path)
    }

    /// `DELETE path`.
    pub fn delete(path: &str) -> Self {
        Self::new(Method::Delete).with_path(path)
    }

    /// `FETCH path`.
    pub fn fetch(path: &str) -> Self {
        Self::new(Method::Fetch).with_path(path)
    }

    /// `iPATCH path`.
    pub fn ipatch(path: &str) -> Self {
        Self::new(Method::IPatch).with_path(path)
    }

    /// Replaces Uri-Path with the segments of `path` (`"/3/0"`).
    pub fn with_path(mut self, path: &str) -> Self {
        self.options.set_uri_path(path);
        self
    }

    /// Appends a `key=value` Uri-Query entry.
    pub fn with_query(mut self, key: &str, value: &str) -> Self {
        self.options.push_uri_query(&format!("{key}={value}"));
        self
    }

    /// Appends a raw Uri-Query entry (e.g. a bare flag like `"Q"`).
    pub fn with_query_entry(mut self, entry: &str) -> Self {
        self.options.push_uri_query(entry);
        self
    }

    /// Sets Content-Format.
    pub fn with_content_format(mut self, format: u16) -> Self {
        self.options.set_content_format(format);
        self
    }

    /// Sets Accept.
    pub fn with_accept(mut self, format: u16) -> Self {
        self.options.set_accept(format);
        self
    }

    /// Sets the body.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Sets an arbitrary option value (replacing earlier values).
    pub fn with_option(mut self, number: u16, value: impl Into<Vec<u8>>) -> Self {
        self.options.set(number, value.into());
        self
    }

    /// Asks the server for a smaller Block2 size up front (RFC 7959 §2.4 early negotiation).
    pub fn with_block2_size(mut self, size: u16) -> Result<Self, Error> {
        self.options.set_block2(BlockOption::new(0, false, size)?);
        Ok(self)
    }

    /// Uri-Path segments.
    pub fn path(&self) -> Vec<String> {
        self.options.uri_path()
    }

    /// Uri-Path as `/a/b`.
    pub fn path_string(&self) -> String {
        self.options.uri_path_string()
    }

    /// Uri-Query entries.
    pub fn query(&self) -> Vec<String> {
        self.options.uri_query()
    }

    /// Value of a `key=value` query entry.
    pub fn query_value(&self, key: &str) -> Option<String> {
        self.options.query_value(key)
    }

    /// Observe option value: 0 registers, 1 deregisters.
    pub fn observe(&self) -> Option<u32> {
        self.options.observe()
    }
}

/// A CoAP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The response code.
    pub code: ResponseCode,
    /// All options.
    pub options: Options,
    /// The whole body.
    pub payload: Vec<u8>,
}

impl Response {
    /// A response without options or payload.
    pub fn new(code: ResponseCode) -> Self {
        Self {
            code,
            options: Options::new(),
            payload: Vec::new(),
        }
    }

    /// 2.05 Content with a body and its Content-Format.
    pub fn content(format: u16, payload: impl Into<Vec<u8>>) -> Self {
        Self::new(ResponseCode::CONTENT)
            .with_content_format(format)
            .with_payload(payload)
    }

    /// Sets Content-Format.
    pub fn with_content_format(mut self, format: u16) -> Self {
        self.options.set_content_format(format);
        self
    }

    /// Sets the body.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Replaces Location-Path (`"/rd/abc"`), e.g. for a 2.01 to Register.
    pub fn with_location_path(mut self, path: &str) -> Self {
        self.options.set_location_path(path);
        self
    }

    /// Sets Observe (24-bit), as a server does in notifications.
    pub fn with_observe(mut self, seq: u32) -> Result<Self, Error> {
        self.options.set_observe(seq)?;
        Ok(self)
    }

    /// Sets an arbitrary option value (replacing earlier values).
    pub fn with_option(mut self, number: u16, value: impl Into<Vec<u8>>) -> Self {
        self.options.set(number, value.into());
        self
    }

    /// Location-Path as `/rd/abc`.
    pub fn location_path(&self) -> String {
        self.options.location_path_string()
    }

    /// Content-Format.
    pub fn content_format(&self) -> Option<u16> {
        self.options.content_format()
    }

    /// Observe sequence number.
    pub fn observe(&self) -> Option<u32> {
        self.options.observe()
    }

    /// True if the response carries the observe option.
    pub(crate) fn has_observe(&self) -> bool {
        self.options.contains(number::OBSERVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_format;

    #[test]
    fn register_request_reads_back() {
        let req = Request::post("/rd")
            .with_query("ep", "urn:imei:123")
            .with_query("lt", "300")
            .with_query_entry("b=U")
            .with_content_format(content_format::LINK_FORMAT)
            .with_payload(b"</1/0>,</3/0>".to_vec());
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.path_string(), "/rd");
        assert_eq!(req.query_value("ep").as_deref(), Some("urn:imei:123"));
        assert_eq!(req.query_value("b").as_deref(), Some("U"));
        assert_eq!(req.query().len(), 3);
        assert_eq!(req.options.content_format(), Some(40));
    }

    #[test]
    fn downlink_and_response_helpers() {
        let req = Request::get("/3/0").with_accept(content_format::LWM2M_TLV);
        assert_eq!(req.path(), vec!["3", "0"]);
        assert_eq!(req.options.accept(), Some(11542));
        let resp = Response::new(ResponseCode::CREATED).with_location_path("/rd/5a3f");
        assert_eq!(resp.location_path(), "/rd/5a3f");
        let resp = Response::content(content_format::SENML_CBOR, vec![1, 2])
            .with_observe(7)
            .unwrap();
        assert_eq!(resp.content_format(), Some(112));
        assert_eq!(resp.observe(), Some(7));
        assert!(resp.has_observe());
        assert!(Request::get("/x").with_block2_size(100).is_err());
        assert_eq!(
            Request::get("/x")
                .with_block2_size(64)
                .unwrap()
                .options
                .block2()
                .map(|b| b.size()),
            Some(64)
        );
    }
}
