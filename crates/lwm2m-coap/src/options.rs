//! CoAP options: an ordered multimap with typed accessors for the options an
//! LwM2M server and client use.

use std::collections::BTreeMap;

use crate::block::{decode_uint, encode_uint, BlockOption};
use crate::error::Error;

/// Registered option numbers (RFC 7252 §12.2, RFC 7641, RFC 7959).
pub mod number {
    /// If-Match
    pub const IF_MATCH: u16 = 1;
    /// Uri-Host
    pub const URI_HOST: u16 = 3;
    /// ETag
    pub const ETAG: u16 = 4;
    /// If-None-Match
    pub const IF_NONE_MATCH: u16 = 5;
    /// Observe (RFC 7641)
    pub const OBSERVE: u16 = 6;
    /// Uri-Port
    pub const URI_PORT: u16 = 7;
    /// Location-Path
    pub const LOCATION_PATH: u16 = 8;
    /// OSCORE (RFC 8613)
    pub const OSCORE: u16 = 9;
    /// Uri-Path
    pub const URI_PATH: u16 = 11;
    /// Content-Format
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query
    pub const URI_QUERY: u16 = 15;
    /// Accept
    pub const ACCEPT: u16 = 17;
    /// Location-Query
    pub const LOCATION_QUERY: u16 = 20;
    /// Block2 (RFC 7959)
    pub const BLOCK2: u16 = 23;
    /// Block1 (RFC 7959)
    pub const BLOCK1: u16 = 27;
    /// Size2 (RFC 7959)
    pub const SIZE2: u16 = 28;
    /// Proxy-Uri
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme
    pub const PROXY_SCHEME: u16 = 39;
    /// Size1
    pub const SIZE1: u16 = 60;
    /// No-Response (RFC 7967)
    pub const NO_RESPONSE: u16 = 258;

    /// Critical options this layer (and an LwM2M application on top) knows.
    /// A CON request carrying any other critical option gets 4.02 Bad Option
    /// (RFC 7252 §5.4.1).
    pub(crate) const KNOWN_CRITICAL: &[u16] = &[
        IF_MATCH,
        URI_HOST,
        IF_NONE_MATCH,
        URI_PORT,
        URI_PATH,
        URI_QUERY,
        ACCEPT,
        BLOCK2,
        BLOCK1,
        PROXY_URI,
        PROXY_SCHEME,
    ];

    /// Critical options have an odd number (RFC 7252 §5.4.6).
    pub fn is_critical(number: u16) -> bool {
        number & 1 == 1
    }
}

/// The options of a request or response, ordered by number; repeated options
/// keep their order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Options {
    map: BTreeMap<u16, Vec<Vec<u8>>>,
}

impl Options {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// All values of one option, in order.
    pub fn get_all(&self, number: u16) -> &[Vec<u8>] {
        self.map.get(&number).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first value of one option.
    pub fn get(&self, number: u16) -> Option<&[u8]> {
        self.map
            .get(&number)
            .and_then(|v| v.first())
            .map(Vec::as_slice)
    }

    /// True if the option is present at least once.
    pub fn contains(&self, number: u16) -> bool {
        self.map.get(&number).is_some_and(|v| !v.is_empty())
    }

    /// Appends a value (for repeatable options such as Uri-Path).
    pub fn push(&mut self, number: u16, value: Vec<u8>) {
        self.map.entry(number).or_default().push(value);
    }

    /// Replaces all values of an option with one value.
    pub fn set(&mut self, number: u16, value: Vec<u8>) {
        self.map.insert(number, vec![value]);
    }

    /// Removes an option entirely.
    pub fn remove(&mut self, number: u16) {
        self.map.remove(&number);
    }

    /// Iterates `(number, value)` in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        self.map
            .iter()
            .flat_map(|(n, values)| values.iter().map(move |v| (*n, v.as_slice())))
    }

    /// True if there are no options.
    pub fn is_empty(&self) -> bool {
        self.map.values().all(Vec::is_empty)
    }

    /// First value decoded as an unsigned integer (`None` if absent or longer than 4 bytes).
    pub fn get_uint(&self, number: u16) -> Option<u32> {
        self.get(number).and_then(decode_uint)
    }

    /// Replaces an option with a minimal-length unsigned integer value.
    pub fn set_uint(&mut self, number: u16, value: u32) {
        self.set(number, encode_uint(value));
    }

    fn strings(&self, number: u16) -> Vec<String> {
        self.get_all(number)
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// Uri-Path segments (lossy UTF-8).
    pub fn uri_path(&self) -> Vec<String> {
        self.strings(number::URI_PATH)
    }

    /// Uri-Path rendered as `/a/b/c` (`/` when empty).
    pub fn uri_path_string(&self) -> String {
        join_path(&self.uri_path())
    }

    /// Replaces Uri-Path with the segments of `path` (`"/3/0"`, `"rd"`; empty segments skipped).
    pub fn set_uri_path(&mut self, path: &str) {
        self.set_segments(number::URI_PATH, path);
    }

    /// Uri-Query entries (lossy UTF-8), e.g. `["ep=dev1", "lt=300"]`.
    pub fn uri_query(&self) -> Vec<String> {
        self.strings(number::URI_QUERY)
    }

    /// Appends one Uri-Query entry.
    pub fn push_uri_query(&mut self, entry: &str) {
        self.push(number::URI_QUERY, entry.as_bytes().to_vec());
    }

    /// The value of the first `key=value` query entry with this key (`Some("")` for a bare `key`).
    pub fn query_value(&self, key: &str) -> Option<String> {
        self.uri_query()
            .into_iter()
            .find_map(|entry| match entry.split_once('=') {
                Some((k, v)) if k == key => Some(v.to_owned()),
                None if entry == key => Some(String::new()),
                _ => None,
            })
    }

    /// Location-Path segments.
    pub fn location_path(&self) -> Vec<String> {
        self.strings(number::LOCATION_PATH)
    }

    /// Location-Path rendered as `/rd/abc`.
    pub fn location_path_string(&self) -> String {
        join_path(&self.location_path())
    }

    /// Replaces Location-Path with the segments of `path`.
    pub fn set_location_path(&mut self, path: &str) {
        self.set_segments(number::LOCATION_PATH, path);
    }

    /// Uri-Host.
    pub fn uri_host(&self) -> Option<String> {
        self.get(number::URI_HOST)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Uri-Port (`None` if absent or not a 16-bit value).
    pub fn uri_port(&self) -> Option<u16> {
        self.get_uint(number::URI_PORT)
            .and_then(|p| u16::try_from(p).ok())
    }

    /// Content-Format (`None` if absent or not a 16-bit value).
    pub fn content_format(&self) -> Option<u16> {
        self.get_uint(number::CONTENT_FORMAT)
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Sets Content-Format.
    pub fn set_content_format(&mut self, format: u16) {
        self.set_uint(number::CONTENT_FORMAT, u32::from(format));
    }

    /// Accept (`None` if absent or not a 16-bit value).
    pub fn accept(&self) -> Option<u16> {
        self.get_uint(number::ACCEPT)
            .and_then(|v| u16::try_from(v).ok())
    }

    /// Sets Accept.
    pub fn set_accept(&mut self, format: u16) {
        self.set_uint(number::ACCEPT, u32::from(format));
    }

    /// Observe (24-bit value; `None` if absent or longer than 3 bytes).
    pub fn observe(&self) -> Option<u32> {
        self.get(number::OBSERVE)
            .filter(|v| v.len() <= 3)
            .and_then(decode_uint)
    }

    /// Sets Observe; errors if `value` does not fit in 24 bits.
    pub fn set_observe(&mut self, value: u32) -> Result<(), Error> {
        if value >= 1 << 24 {
            return Err(Error::InvalidObserveSequence(value));
        }
        self.set_uint(number::OBSERVE, value);
        Ok(())
    }

    /// Block1 (`None` if absent or invalid).
    pub fn block1(&self) -> Option<BlockOption> {
        self.get(number::BLOCK1).and_then(BlockOption::decode)
    }

    /// Sets Block1.
    pub fn set_block1(&mut self, block: BlockOption) {
        self.set(number::BLOCK1, block.encode());
    }

    /// Block2 (`None` if absent or invalid).
    pub fn block2(&self) -> Option<BlockOption> {
        self.get(number::BLOCK2).and_then(BlockOption::decode)
    }

    /// Sets Block2.
    pub fn set_block2(&mut self, block: BlockOption) {
        self.set(number::BLOCK2, block.encode());
    }

    /// Size1.
    pub fn size1(&self) -> Option<u32> {
        self.get_uint(number::SIZE1)
    }

    /// Size2.
    pub fn size2(&self) -> Option<u32> {
        self.get_uint(number::SIZE2)
    }

    /// ETag (first value).
    pub fn etag(&self) -> Option<&[u8]> {
        self.get(number::ETAG)
    }

    /// Max-Age in seconds (`None` if absent; RFC default is 60).
    pub fn max_age(&self) -> Option<u32> {
        self.get_uint(number::MAX_AGE)
    }

    /// Critical options not in the list this layer understands.
    pub(crate) fn unknown_critical(&self) -> Option<u16> {
        self.map
            .keys()
            .copied()
            .find(|n| number::is_critical(*n) && !number::KNOWN_CRITICAL.contains(n))
    }

    /// Canonical bytes of all options except the block-wise and observe ones.
    /// Two requests with equal keys target the same resource in the same way,
    /// which is how RFC 7959 §2.4 says block-wise transfers are matched.
    pub(crate) fn transfer_key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        for (n, v) in self.iter() {
            if matches!(
                n,
                number::BLOCK1 | number::BLOCK2 | number::SIZE1 | number::SIZE2 | number::OBSERVE
            ) {
                continue;
            }
            key.extend_from_slice(&n.to_be_bytes());
            key.extend_from_slice(&(v.len() as u32).to_be_bytes());
            key.extend_from_slice(v);
        }
        key
    }

    fn set_segments(&mut self, number: u16, path: &str) {
        self.remove(number);
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            self.push(number, segment.as_bytes().to_vec());
        }
    }
}

fn join_path(segments: &[String]) -> String {
    if segments.is_empty() {
        return "/".to_owned();
    }
    segments.iter().fold(String::new(), |mut acc, s| {
        acc.push('/');
        acc.push_str(s);
        acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query() {
        let mut o = Options::new();
        o.set_uri_path("/rd/");
        o.push_uri_query("ep=dev1");
        o.push_uri_query("lt=300");
        o.push_uri_query("Q");
        assert_eq!(o.uri_path(), vec!["rd"]);
        assert_eq!(o.uri_path_string(), "/rd");
        assert_eq!(o.query_value("ep").as_deref(), Some("dev1"));
        assert_eq!(o.query_value("lt").as_deref(), Some("300"));
        assert_eq!(o.query_value("Q").as_deref(), Some(""));
        assert_eq!(o.query_value("b"), None);
        o.set_uri_path("3/0/1");
        assert_eq!(o.uri_path_string(), "/3/0/1");
        assert_eq!(Options::new().uri_path_string(), "/");
    }

    #[test]
    fn typed_values() {
        let mut o = Options::new();
        o.set_content_format(11542);
        o.set_accept(60);
        o.set_observe(0).unwrap();
        assert_eq!(o.content_format(), Some(11542));
        assert_eq!(o.accept(), Some(60));
        assert_eq!(o.observe(), Some(0));
        assert_eq!(o.get(number::OBSERVE), Some(&[][..]));
        assert!(o.set_observe(1 << 24).is_err());
        o.set(number::URI_PORT, vec![0x16, 0x33]);
        assert_eq!(o.uri_port(), Some(5683));
        o.set(number::OBSERVE, vec![1, 2, 3, 4]);
        assert_eq!(o.observe(), None, "observe is at most 3 bytes");
    }

    #[test]
    fn iteration_is_in_wire_order() {
        let mut o = Options::new();
        o.push(number::URI_QUERY, b"a".to_vec());
        o.push(number::URI_PATH, b"x".to_vec());
        o.push(number::URI_PATH, b"y".to_vec());
        let nums: Vec<u16> = o.iter().map(|(n, _)| n).collect();
        assert_eq!(nums, vec![11, 11, 15]);
    }

    #[test]
    fn transfer_key_ignores_block_options() {
        let mut a = Options::new();
        a.set_uri_path("/5/0/0");
        let mut b = a.clone();
        b.set_block1(BlockOption {
            num: 3,
            more: true,
            szx: 2,
        });
        b.set_uint(number::SIZE1, 5000);
        assert_eq!(a.transfer_key(), b.transfer_key());
        b.push_uri_query("x");
        assert_ne!(a.transfer_key(), b.transfer_key());
    }

    #[test]
    fn unknown_critical_detection() {
        let mut o = Options::new();
        o.set_uri_path("/a");
        o.set(number::MAX_AGE, vec![1]);
        assert_eq!(o.unknown_critical(), None);
        o.set(2049, vec![]);
        assert_eq!(o.unknown_critical(), Some(2049));
    }
}
