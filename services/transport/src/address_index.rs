//! Source address → endpoint, for the requests that carry no endpoint name.
//!
//! A Send (`/dp`) names no registration: with NoSec the only identity of the
//! sender is its source address. Each node keeps the addresses it has seen
//! (Register, Update, any uplink) here; on a miss the Send handler falls
//! back to a bounded scan of the session store. Limitation: a device whose
//! NAT binding changed since its last Register/Update and that then sends
//! first on a node that never saw the new address is not recognised until
//! its next Update (over DTLS the session's address is followed, see `secure`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::peer::Peer;

/// The two-way index (so an endpoint's old address is dropped when it moves).
#[derive(Debug, Default)]
pub(crate) struct AddressIndex {
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    by_address: HashMap<Peer, String>,
    by_endpoint: HashMap<String, Peer>,
}

impl AddressIndex {
    /// Records that `endpoint` is at `address` now.
    pub fn insert(&self, address: Peer, endpoint: &str) {
        let mut maps = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = maps.by_endpoint.insert(endpoint.to_owned(), address) {
            if old != address {
                maps.by_address.remove(&old);
            }
        }
        if let Some(previous) = maps.by_address.insert(address, endpoint.to_owned()) {
            if previous != endpoint {
                maps.by_endpoint.remove(&previous);
            }
        }
    }

    /// The endpoint last seen at `address`.
    pub fn get(&self, address: &Peer) -> Option<String> {
        let maps = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        maps.by_address.get(address).cloned()
    }

    /// Forgets an endpoint (de-registered or expired).
    pub fn remove_endpoint(&self, endpoint: &str) {
        let mut maps = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(address) = maps.by_endpoint.remove(endpoint) {
            maps.by_address.remove(&address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Peer {
        Peer::plain(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn the_same_address_over_dtls_is_another_peer() {
        let index = AddressIndex::default();
        let plain = addr(1);
        index.insert(plain, "a");
        index.insert(Peer::secure(plain.addr), "b");
        assert_eq!(index.get(&plain).as_deref(), Some("a"));
        assert_eq!(index.get(&Peer::secure(plain.addr)).as_deref(), Some("b"));
    }

    #[test]
    fn moving_endpoint_drops_its_old_address() {
        let index = AddressIndex::default();
        index.insert(addr(1), "a");
        index.insert(addr(2), "a");
        assert_eq!(index.get(&addr(1)), None);
        assert_eq!(index.get(&addr(2)).as_deref(), Some("a"));
    }

    #[test]
    fn reused_address_belongs_to_the_newest_endpoint() {
        let index = AddressIndex::default();
        index.insert(addr(1), "a");
        index.insert(addr(1), "b");
        assert_eq!(index.get(&addr(1)).as_deref(), Some("b"));
        index.remove_endpoint("a");
        assert_eq!(index.get(&addr(1)).as_deref(), Some("b"));
        index.remove_endpoint("b");
        assert_eq!(index.get(&addr(1)), None);
    }
}
