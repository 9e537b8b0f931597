//! CoAP tokens (RFC 7252 §5.3.1): 0 to 8 opaque bytes.

use std::fmt;

use crate::error::Error;

/// Maximum token length allowed by RFC 7252.
pub const MAX_TOKEN_LEN: usize = 8;

/// A CoAP token. Stored inline so it is `Copy` and cheap to use as a map key;
/// zero-length tokens are valid and occur in the wild.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Token {
    len: u8,
    bytes: [u8; MAX_TOKEN_LEN],
}

impl Token {
    /// The zero-length token.
    pub const EMPTY: Token = Token {
        len: 0,
        bytes: [0; MAX_TOKEN_LEN],
    };

    /// Builds a token from up to 8 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken(bytes.len()));
        }
        let mut token = Token::EMPTY;
        for (dst, src) in token.bytes.iter_mut().zip(bytes) {
            *dst = *src;
        }
        // Cannot truncate: checked against MAX_TOKEN_LEN above.
        token.len = bytes.len() as u8;
        Ok(token)
    }

    /// The token bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Length in bytes (0..=8).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for the zero-length token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bounds() {
        assert_eq!(Token::new(&[]).unwrap(), Token::EMPTY);
        assert!(Token::new(&[]).unwrap().is_empty());
        let t = Token::new(&[1, 2, 3]).unwrap();
        assert_eq!(t.as_bytes(), &[1, 2, 3]);
        assert_eq!(t.len(), 3);
        assert_eq!(Token::new(&[0; 8]).unwrap().len(), 8);
        assert_eq!(Token::new(&[0; 9]), Err(Error::InvalidToken(9)));
    }

    #[test]
    fn equality_ignores_unused_bytes() {
        let a = Token::new(&[0]).unwrap();
        let b = Token::new(&[0, 0]).unwrap();
        assert_ne!(a, b, "length is part of the identity");
        assert_eq!(
            format!("{:?}", Token::new(&[0xab, 1]).unwrap()),
            "Token(ab01)"
        );
    }
}
