//! Opaque page tokens for keyset paging: the sort key of the last item of a
//! page, hex-encoded so clients treat it as a token and cannot hand-craft an
//! offset. Hex of the NUL-joined parts; a token that does not decode is an
//! invalid `page_token`.

use crate::error::Error;

pub fn encode(parts: &[&str]) -> String {
    hex::encode(parts.join("\0"))
}

/// The parts of `token`; `expected` is how many the caller's sort key has.
pub fn decode(token: &str, expected: usize) -> Result<Vec<String>, Error> {
    let bad = || Error::invalid("page_token", "not a token returned by this call");
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<String> = text.split('\0').map(str::to_owned).collect();
    if parts.len() != expected {
        return Err(bad());
    }
    Ok(parts)
}

/// A page size from a request: 0 means the default, anything above `max` is `max`.
pub fn page_size(requested: u32, default: usize, max: usize) -> usize {
    match usize::try_from(requested) {
        Ok(0) | Err(_) => default,
        Ok(n) => n.min(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let token = encode(&["sensor-1", "42"]);
        assert_eq!(decode(&token, 2).unwrap(), ["sensor-1", "42"]);
        assert!(decode(&token, 1).is_err());
        assert!(decode("zz", 1).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0, 100, 1000), 100);
        assert_eq!(page_size(5000, 100, 1000), 1000);
        assert_eq!(page_size(7, 100, 1000), 7);
    }
}
