//! Datagram <-> message conversion on top of coap-lite's codec, plus the
//! message format checks of RFC 7252 §3 and §4.1 that coap-lite leaves out.

use std::collections::LinkedList;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet};

use crate::code::{Method, ResponseCode};
use crate::error::Error;
use crate::options::Options;
use crate::token::Token;

/// The four message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgType {
    Con,
    Non,
    Ack,
    Rst,
}

impl MsgType {
    fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => MsgType::Con,
            1 => MsgType::Non,
            2 => MsgType::Ack,
            _ => MsgType::Rst,
        }
    }

    fn to_lite(self) -> MessageType {
        match self {
            MsgType::Con => MessageType::Confirmable,
            MsgType::Non => MessageType::NonConfirmable,
            MsgType::Ack => MessageType::Acknowledgement,
            MsgType::Rst => MessageType::Reset,
        }
    }
}

/// What the code byte says the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Empty,
    Request(Method),
    /// Class 0 with an unassigned detail: answered with 4.05 (RFC 7252 §5.8).
    UnknownMethod,
    Response(ResponseCode),
}

/// One CoAP message with everything the exchange layer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) mtype: MsgType,
    pub(crate) code: u8,
    pub(crate) mid: u16,
    pub(crate) token: Token,
    pub(crate) options: Options,
    pub(crate) payload: Vec<u8>,
}

/// Why a datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Shorter than the 4-byte header: nothing can be answered.
    TooShort,
    /// Version is not 1: silently ignored (RFC 7252 §3).
    WrongVersion,
    /// Format error after a readable header; CON ones are rejected with RST (§4.2).
    Malformed { mtype: MsgType, mid: u16 },
}

impl Frame {
    /// An empty message (ACK or RST) for `mid`.
    pub(crate) fn empty(mtype: MsgType, mid: u16) -> Self {
        Self {
            mtype,
            code: 0,
            mid,
            token: Token::EMPTY,
            options: Options::new(),
            payload: Vec::new(),
        }
    }

    pub(crate) fn kind(&self) -> Option<Kind> {
        match self.code >> 5 {
            0 if self.code == 0 => Some(Kind::Empty),
            0 => Some(Method::from_code(self.code).map_or(Kind::UnknownMethod, Kind::Request)),
            _ => ResponseCode::from_raw(self.code).map(Kind::Response),
        }
    }

    /// Parses and validates a datagram.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let (first, code, mid) = match bytes {
            [first, code, hi, lo, ..] => (*first, *code, u16::from_be_bytes([*hi, *lo])),
            _ => return Err(ParseError::TooShort),
        };
        if first >> 6 != 1 {
            return Err(ParseError::WrongVersion);
        }
        let mtype = MsgType::from_bits(first >> 4);
        let malformed = ParseError::Malformed { mtype, mid };
        let tkl = usize::from(first & 0x0f);
        // Token lengths 9..=15 are reserved and a format error (§3).
        if tkl > crate::token::MAX_TOKEN_LEN {
            return Err(malformed);
        }
        // An empty message is exactly the 4-byte header (§4.1).
        if code == 0 && (tkl != 0 || bytes.len() != 4) {
            return Err(malformed);
        }
        // Class 1, 6 and 7 codes are reserved.
        if matches!(code >> 5, 1 | 6 | 7) {
            return Err(malformed);
        }
        let packet = Packet::from_bytes(bytes).map_err(|_| malformed)?;
        let token = Token::new(packet.get_token()).map_err(|_| malformed)?;
        // A payload marker followed by nothing is a format error (§3). coap-lite
        // accepts it; detect it by re-measuring the parsed message, which only
        // differs in length when a marker was swallowed (option encodings are canonical).
        if packet.payload.is_empty() && bytes.last() == Some(&0xff) {
            let reencoded = packet.to_bytes_unlimited().map_err(|_| malformed)?;
            if reencoded.len() != bytes.len() {
                return Err(malformed);
            }
        }
        let mut options = Options::new();
        for (number, values) in packet.options() {
            for value in values {
                options.push(*number, value.clone());
            }
        }
        Ok(Self {
            mtype,
            code,
            mid,
            token,
            options,
            payload: packet.payload,
        })
    }

    /// Encodes the message; fails if it does not fit in `limit` bytes.
    pub(crate) fn encode(&self, limit: usize) -> Result<Vec<u8>, Error> {
        let mut packet = Packet::new();
        packet.header.set_version(1);
        packet.header.set_type(self.mtype.to_lite());
        packet.header.code = MessageClass::from(self.code);
        packet.header.message_id = self.mid;
        packet.set_token(self.token.as_bytes().to_vec());
        let mut last: Option<(u16, LinkedList<Vec<u8>>)> = None;
        for (number, value) in self.options.iter() {
            match &mut last {
                Some((n, list)) if *n == number => list.push_back(value.to_vec()),
                _ => {
                    if let Some((n, list)) = last.take() {
                        packet.set_option(CoapOption::from(n), list);
                    }
                    last = Some((number, LinkedList::from([value.to_vec()])));
                }
            }
        }
        if let Some((n, list)) = last {
            packet.set_option(CoapOption::from(n), list);
        }
        packet.payload = self.payload.clone();
        packet
            .to_bytes_with_limit(limit)
            .map_err(|_| Error::MessageTooLarge { limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::number;

    fn sample() -> Frame {
        let mut options = Options::new();
        options.set_uri_path("/rd");
        options.push_uri_query("ep=dev");
        options.push_uri_query("lt=60");
        options.set(number::SIZE1, vec![0x13, 0x88]);
        options.set(number::NO_RESPONSE, vec![2]);
        Frame {
            mtype: MsgType::Con,
            code: Method::Post.code(),
            mid: 0xbeef,
            token: Token::new(&[1, 2, 3, 4]).unwrap(),
            options,
            payload: b"</1/0>".to_vec(),
        }
    }

    #[test]
    fn roundtrip() {
        let frame = sample();
        let bytes = frame.encode(1280).unwrap();
        assert_eq!(Frame::parse(&bytes), Ok(frame));
        let ack = Frame::empty(MsgType::Ack, 7);
        let bytes = ack.encode(1280).unwrap();
        assert_eq!(bytes, vec![0x60, 0, 0, 7]);
        assert_eq!(Frame::parse(&bytes), Ok(ack));
    }

    #[test]
    fn zero_length_token_roundtrip() {
        let mut frame = sample();
        frame.token = Token::EMPTY;
        let bytes = frame.encode(1280).unwrap();
        assert_eq!(bytes.first().map(|b| b & 0x0f), Some(0));
        assert_eq!(Frame::parse(&bytes).unwrap().token, Token::EMPTY);
    }

    #[test]
    fn encode_respects_limit() {
        let mut frame = sample();
        frame.payload = vec![0; 2000];
        assert_eq!(
            frame.encode(1280),
            Err(Error::MessageTooLarge { limit: 1280 })
        );
        assert!(frame.encode(4096).is_ok());
    }

    #[test]
    fn format_errors() {
        assert_eq!(Frame::parse(&[0x40, 1]), Err(ParseError::TooShort));
        assert_eq!(
            Frame::parse(&[0x80, 1, 0, 1]),
            Err(ParseError::WrongVersion)
        );
        let malformed = |mtype, mid| Err(ParseError::Malformed { mtype, mid });
        // TKL 9
        assert_eq!(
            Frame::parse(&[0x49, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            malformed(MsgType::Con, 5)
        );
        // Empty message with a token.
        assert_eq!(
            Frame::parse(&[0x41, 0, 0, 6, 0xaa]),
            malformed(MsgType::Con, 6)
        );
        // Empty message with trailing bytes.
        assert_eq!(
            Frame::parse(&[0x60, 0, 0, 6, 0xff, 1]),
            malformed(MsgType::Ack, 6)
        );
        // Payload marker without payload.
        assert_eq!(
            Frame::parse(&[0x50, 0x45, 0, 7, 0xff]),
            malformed(MsgType::Non, 7)
        );
        // Option with reserved delta 15.
        assert_eq!(
            Frame::parse(&[0x40, 1, 0, 8, 0xf0]),
            malformed(MsgType::Con, 8)
        );
        // Option length running past the end.
        assert_eq!(
            Frame::parse(&[0x40, 1, 0, 9, 0xb5, b'a']),
            malformed(MsgType::Con, 9)
        );
        // Reserved class 7 code.
        assert_eq!(
            Frame::parse(&[0x40, 0xe0, 0, 10]),
            malformed(MsgType::Con, 10)
        );
    }

    #[test]
    fn option_value_ending_in_ff_is_not_a_marker() {
        let mut frame = sample();
        frame.payload.clear();
        frame.options = Options::new();
        frame.options.set(number::ETAG, vec![0x01, 0xff]);
        let bytes = frame.encode(1280).unwrap();
        assert_eq!(bytes.last(), Some(&0xff));
        assert_eq!(Frame::parse(&bytes), Ok(frame));
    }

    #[test]
    fn kinds() {
        let mut f = Frame::empty(MsgType::Con, 1);
        assert_eq!(f.kind(), Some(Kind::Empty));
        f.code = 1;
        assert_eq!(f.kind(), Some(Kind::Request(Method::Get)));
        f.code = 0x1f;
        assert_eq!(f.kind(), Some(Kind::UnknownMethod));
        f.code = 0x45;
        assert_eq!(f.kind(), Some(Kind::Response(ResponseCode::CONTENT)));
        f.code = 0x20;
        assert_eq!(f.kind(), None);
    }
}
