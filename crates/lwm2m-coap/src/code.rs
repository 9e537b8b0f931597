//! Request methods and response codes (RFC 7252 §12.1, RFC 7959, RFC 8132).

use std::fmt;

/// A request method. Unknown method codes never reach the upper layer: the
/// endpoint answers them with 4.05 itself (RFC 7252 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// 0.01
    Get,
    /// 0.02
    Post,
    /// 0.03
    Put,
    /// 0.04
    Delete,
    /// 0.05 (RFC 8132)
    Fetch,
    /// 0.06 (RFC 8132)
    Patch,
    /// 0.07 (RFC 8132)
    IPatch,
}

impl Method {
    /// The raw code byte.
    pub fn code(self) -> u8 {
        match self {
            Method::Get => 1,
            Method::Post => 2,
            Method::Put => 3,
            Method::Delete => 4,
            Method::Fetch => 5,
            Method::Patch => 6,
            Method::IPatch => 7,
        }
    }

    /// Parses a raw code byte; `None` for anything that is not a known method.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Method::Get,
            2 => Method::Post,
            3 => Method::Put,
            4 => Method::Delete,
            5 => Method::Fetch,
            6 => Method::Patch,
            7 => Method::IPatch,
            _ => return None,
        })
    }

    /// Upper-case method name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Fetch => "FETCH",
            Method::Patch => "PATCH",
            Method::IPatch => "iPATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A response code (`class.detail`). A newtype rather than an enum so that
/// codes unknown to us still round-trip unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseCode(u8);

impl ResponseCode {
    /// 2.01
    pub const CREATED: Self = Self::new(2, 1);
    /// 2.02
    pub const DELETED: Self = Self::new(2, 2);
    /// 2.03
    pub const VALID: Self = Self::new(2, 3);
    /// 2.04
    pub const CHANGED: Self = Self::new(2, 4);
    /// 2.05
    pub const CONTENT: Self = Self::new(2, 5);
    /// 2.31 (RFC 7959)
    pub const CONTINUE: Self = Self::new(2, 31);
    /// 4.00
    pub const BAD_REQUEST: Self = Self::new(4, 0);
    /// 4.01
    pub const UNAUTHORIZED: Self = Self::new(4, 1);
    /// 4.02
    pub const BAD_OPTION: Self = Self::new(4, 2);
    /// 4.03
    pub const FORBIDDEN: Self = Self::new(4, 3);
    /// 4.04
    pub const NOT_FOUND: Self = Self::new(4, 4);
    /// 4.05
    pub const METHOD_NOT_ALLOWED: Self = Self::new(4, 5);
    /// 4.06
    pub const NOT_ACCEPTABLE: Self = Self::new(4, 6);
    /// 4.08 (RFC 7959)
    pub const REQUEST_ENTITY_INCOMPLETE: Self = Self::new(4, 8);
    /// 4.09 (RFC 8132)
    pub const CONFLICT: Self = Self::new(4, 9);
    /// 4.12
    pub const PRECONDITION_FAILED: Self = Self::new(4, 12);
    /// 4.13
    pub const REQUEST_ENTITY_TOO_LARGE: Self = Self::new(4, 13);
    /// 4.15
    pub const UNSUPPORTED_CONTENT_FORMAT: Self = Self::new(4, 15);
    /// 4.22 (RFC 8132)
    pub const UNPROCESSABLE_ENTITY: Self = Self::new(4, 22);
    /// 4.29 (RFC 8516)
    pub const TOO_MANY_REQUESTS: Self = Self::new(4, 29);
    /// 5.00
    pub const INTERNAL_SERVER_ERROR: Self = Self::new(5, 0);
    /// 5.01
    pub const NOT_IMPLEMENTED: Self = Self::new(5, 1);
    /// 5.02
    pub const BAD_GATEWAY: Self = Self::new(5, 2);
    /// 5.03
    pub const SERVICE_UNAVAILABLE: Self = Self::new(5, 3);
    /// 5.04
    pub const GATEWAY_TIMEOUT: Self = Self::new(5, 4);
    /// 5.05
    pub const PROXYING_NOT_SUPPORTED: Self = Self::new(5, 5);

    /// Builds `class.detail`; class is masked to 3 bits and detail to 5 bits.
    pub const fn new(class: u8, detail: u8) -> Self {
        Self(((class & 0x07) << 5) | (detail & 0x1f))
    }

    /// Wraps a raw code byte. Returns `None` for codes that are not response
    /// codes (class 0 is requests/empty, 1, 6 and 7 are reserved).
    pub fn from_raw(code: u8) -> Option<Self> {
        matches!(code >> 5, 2..=5).then_some(Self(code))
    }

    /// The raw code byte.
    pub fn raw(self) -> u8 {
        self.0
    }

    /// The class digit (2, 4 or 5).
    pub fn class(self) -> u8 {
        self.0 >> 5
    }

    /// The detail number.
    pub fn detail(self) -> u8 {
        self.0 & 0x1f
    }

    /// True for 2.xx.
    pub fn is_success(self) -> bool {
        self.class() == 2
    }

    /// True for 4.xx and 5.xx.
    pub fn is_error(self) -> bool {
        self.class() >= 4
    }

    /// The registered name, or `"Unknown"`.
    pub fn name(self) -> &'static str {
        match (self.class(), self.detail()) {
            (2, 1) => "Created",
            (2, 2) => "Deleted",
            (2, 3) => "Valid",
            (2, 4) => "Changed",
            (2, 5) => "Content",
            (2, 31) => "Continue",
            (4, 0) => "Bad Request",
            (4, 1) => "Unauthorized",
            (4, 2) => "Bad Option",
            (4, 3) => "Forbidden",
            (4, 4) => "Not Found",
            (4, 5) => "Method Not Allowed",
            (4, 6) => "Not Acceptable",
            (4, 8) => "Request Entity Incomplete",
            (4, 9) => "Conflict",
            (4, 12) => "Precondition Failed",
            (4, 13) => "Request Entity Too Large",
            (4, 15) => "Unsupported Content-Format",
            (4, 22) => "Unprocessable Entity",
            (4, 29) => "Too Many Requests",
            (5, 0) => "Internal Server Error",
            (5, 1) => "Not Implemented",
            (5, 2) => "Bad Gateway",
            (5, 3) => "Service Unavailable",
            (5, 4) => "Gateway Timeout",
            (5, 5) => "Proxying Not Supported",
            _ => "Unknown",
        }
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} {}", self.class(), self.detail(), self.name())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_codes_roundtrip() {
        for code in 0..=255u8 {
            if let Some(m) = Method::from_code(code) {
                assert_eq!(m.code(), code);
            }
        }
        assert_eq!(Method::from_code(0), None);
        assert_eq!(Method::from_code(8), None);
        assert_eq!(Method::Get.to_string(), "GET");
    }

    #[test]
    fn response_code_layout() {
        assert_eq!(ResponseCode::CONTENT.raw(), 0x45);
        assert_eq!(ResponseCode::CONTINUE.raw(), 0x5f);
        assert_eq!(ResponseCode::REQUEST_ENTITY_TOO_LARGE.raw(), 0x8d);
        assert_eq!(ResponseCode::REQUEST_ENTITY_INCOMPLETE.raw(), 0x88);
        assert_eq!(ResponseCode::SERVICE_UNAVAILABLE.raw(), 0xa3);
        assert_eq!(ResponseCode::CONTENT.to_string(), "2.05 Content");
        assert_eq!(format!("{:?}", ResponseCode::NOT_FOUND), "4.04");
        assert!(ResponseCode::CHANGED.is_success());
        assert!(ResponseCode::NOT_FOUND.is_error());
        assert!(!ResponseCode::CONTENT.is_error());
    }

    #[test]
    fn from_raw_rejects_non_responses() {
        assert_eq!(ResponseCode::from_raw(0x01), None, "GET");
        assert_eq!(ResponseCode::from_raw(0x00), None, "empty");
        assert_eq!(ResponseCode::from_raw(0x21), None, "class 1 reserved");
        assert_eq!(ResponseCode::from_raw(0xc0), None, "class 6 reserved");
        assert_eq!(ResponseCode::from_raw(0x45), Some(ResponseCode::CONTENT));
        assert_eq!(
            ResponseCode::from_raw(0x46).map(|c| c.name()),
            Some("Unknown")
        );
    }
}
