//! Input limits, checked before anything reaches a backend.
//!
//! Everything here comes from the network (endpoint names, tokens) or ends up
//! in Redis key names, so sizes are bounded and registration ids are kept to
//! a URL- and key-safe alphabet. Both backends apply the same checks so the
//! in-memory store cannot accept what the Redis store would refuse.

use crate::error::{Result, SessionError};

/// Longest endpoint client name we keep, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 255;
/// Longest registration id, in bytes (we issue them, see
/// [`crate::generate_registration_id`], so this only bounds garbage).
pub const MAX_REGISTRATION_ID_LEN: usize = 64;
/// CoAP tokens are 0 to 8 bytes (RFC 7252 §3).
pub const MAX_TOKEN_LEN: usize = 8;

/// Endpoint names: 1..=255 bytes.
pub fn endpoint(endpoint: &str) -> Result<()> {
    if endpoint.is_empty() {
        return Err(SessionError::invalid("endpoint", "must not be empty"));
    }
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(SessionError::invalid(
            "endpoint",
            format!("{} bytes, at most {MAX_ENDPOINT_LEN}", endpoint.len()),
        ));
    }
    Ok(())
}

/// Registration ids: 1..=64 bytes of `[A-Za-z0-9_-]` (they appear in
/// `Location-Path` and in Redis key names).
pub fn registration_id(id: &str) -> Result<()> {
    if !is_plausible_registration_id(id) {
        return Err(SessionError::invalid(
            "registration_id",
            format!("{id:?} is not 1..={MAX_REGISTRATION_ID_LEN} characters of [A-Za-z0-9_-]"),
        ));
    }
    Ok(())
}

/// Whether `id` could have been issued at all; lookups of ids that could not
/// answer "unknown" (4.04) instead of an error.
pub fn is_plausible_registration_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REGISTRATION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Observe tokens: at most 8 bytes.
pub fn token(token: &[u8]) -> Result<()> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SessionError::invalid(
            "token",
            format!("{} bytes, at most {MAX_TOKEN_LEN}", token.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_bounds() {
        assert!(endpoint("").is_err());
        assert!(endpoint("a").is_ok());
        assert!(endpoint(&"x".repeat(255)).is_ok());
        assert!(endpoint(&"x".repeat(256)).is_err());
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        assert!(endpoint(&"é".repeat(128)).is_err());
    }

    #[test]
    fn registration_id_alphabet() {
        assert!(registration_id("aZ09_-").is_ok());
        assert!(registration_id("").is_err());
        assert!(registration_id("a/b").is_err());
        assert!(registration_id("a:b").is_err());
        assert!(registration_id(&"a".repeat(65)).is_err());
    }

    #[test]
    fn token_bounds() {
        assert!(token(&[]).is_ok());
        assert!(token(&[0; 8]).is_ok());
        assert!(token(&[0; 9]).is_err());
    }
}
