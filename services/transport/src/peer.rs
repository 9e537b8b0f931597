//! Where a device is: its address and which of the node's sockets reaches
//! it (plain CoAP or CoAP over DTLS).
//!
//! The registration's `address` keeps the socket too, so that any node
//! sends a downlink through the right driver: `ip:port` for plain CoAP (as
//! before DTLS existed, so stored registrations stay valid) and
//! `coaps://ip:port` for DTLS.

use std::fmt;
use std::net::SocketAddr;

const COAPS: &str = "coaps://";
const COAP: &str = "coap://";

/// A device's address as seen by one of the node's drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    /// Reached through the DTLS driver.
    pub secure: bool,
}

impl Peer {
    /// A plain CoAP peer.
    pub fn plain(addr: SocketAddr) -> Self {
        Peer {
            addr,
            secure: false,
        }
    }

    /// A peer with a DTLS session.
    pub fn secure(addr: SocketAddr) -> Self {
        Peer { addr, secure: true }
    }

    /// Reads a stored address (`ip:port`, `coap://ip:port` or `coaps://ip:port`).
    pub fn parse(text: &str) -> Option<Peer> {
        if let Some(rest) = text.strip_prefix(COAPS) {
            return rest.parse().ok().map(Peer::secure);
        }
        text.strip_prefix(COAP)
            .unwrap_or(text)
            .parse()
            .ok()
            .map(Peer::plain)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secure {
            write!(f, "{COAPS}{}", self.addr)
        } else {
            write!(f, "{}", self.addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let addr: SocketAddr = "10.0.0.1:5683".parse().unwrap();
        for peer in [Peer::plain(addr), Peer::secure(addr)] {
            assert_eq!(Peer::parse(&peer.to_string()), Some(peer));
        }
        assert_eq!(Peer::secure(addr).to_string(), "coaps://10.0.0.1:5683");
        assert_eq!(Peer::plain(addr).to_string(), "10.0.0.1:5683");
        assert_eq!(Peer::parse("coap://10.0.0.1:5683"), Some(Peer::plain(addr)));
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(Peer::parse("coaps://[::1]:9"), Some(Peer::secure(v6)));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(Peer::parse("coaps://nowhere"), None);
        assert_eq!(Peer::parse(""), None);
        assert_eq!(Peer::parse("sms://+123"), None);
    }
}
