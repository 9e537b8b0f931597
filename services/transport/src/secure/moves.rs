//! DTLS peers that moved (NAT rebinding under a Connection ID, or a session
//! taken over by another node) before the session store heard of it.
//!
//! The engine reports a move (`Event::PeerMoved`) only for an authenticated
//! record that is newer than any before it, and it reports it *before* the
//! application data of that record. The driver records the move here at
//! once, in order; the store is updated later by a spawned task. A request
//! that arrives in the same record (a Send names no registration) must not
//! depend on which of the two runs first: [`PendingMoves::chain`] gives the
//! addresses the session had, newest first, so the sender is found under
//! the address the store still holds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Longest chain of unsettled moves followed (a device rebinding several
/// times before one store write lands).
const MAX_CHAIN: usize = 4;
/// Moves remembered at most; each is settled by its own task, so only a
/// stalled store could fill this (the oldest half is dropped then).
const MAX_PENDING: usize = 65_536;

/// New address → the address the session had before it.
#[derive(Debug, Default)]
pub(crate) struct PendingMoves {
    moves: Mutex<HashMap<SocketAddr, SocketAddr>>,
}

impl PendingMoves {
    /// The session at `old` now speaks from `new`.
    pub fn record(&self, old: SocketAddr, new: SocketAddr) {
        let mut moves = self.lock();
        if moves.len() >= MAX_PENDING {
            // Settling tasks remove entries; without a store they pile up.
            let drop: Vec<SocketAddr> = moves.keys().take(MAX_PENDING / 2).copied().collect();
            for key in drop {
                moves.remove(&key);
            }
        }
        // A move back to where the session came from ends the chain there.
        if moves.get(&old) == Some(&new) {
            moves.remove(&old);
        }
        moves.insert(new, old);
    }

    /// `addr` and the addresses its session had before, newest first.
    pub fn chain(&self, addr: SocketAddr) -> Vec<SocketAddr> {
        let moves = self.lock();
        let mut chain = vec![addr];
        let mut at = addr;
        while chain.len() < MAX_CHAIN {
            match moves.get(&at) {
                Some(&before) if !chain.contains(&before) => {
                    chain.push(before);
                    at = before;
                }
                _ => break,
            }
        }
        chain
    }

    /// The store now holds `new` for the session that was at `old`.
    pub fn settled(&self, old: SocketAddr, new: SocketAddr) {
        let mut moves = self.lock();
        if moves.get(&new) == Some(&old) {
            moves.remove(&new);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, SocketAddr>> {
        self.moves.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn the_chain_follows_unsettled_moves_newest_first() {
        let moves = PendingMoves::default();
        assert_eq!(moves.chain(addr(1)), vec![addr(1)]);
        moves.record(addr(1), addr(2));
        moves.record(addr(2), addr(3));
        assert_eq!(moves.chain(addr(3)), vec![addr(3), addr(2), addr(1)]);
        moves.settled(addr(1), addr(2));
        assert_eq!(moves.chain(addr(3)), vec![addr(3), addr(2)]);
        moves.settled(addr(2), addr(3));
        assert_eq!(moves.chain(addr(3)), vec![addr(3)]);
    }

    #[test]
    fn a_move_back_and_forth_is_no_loop() {
        let moves = PendingMoves::default();
        moves.record(addr(1), addr(2));
        moves.record(addr(2), addr(1));
        assert_eq!(moves.chain(addr(1)), vec![addr(1), addr(2)]);
        assert_eq!(moves.chain(addr(2)), vec![addr(2)]);
    }

    #[test]
    fn a_stale_settlement_keeps_a_newer_move() {
        let moves = PendingMoves::default();
        moves.record(addr(1), addr(2));
        moves.record(addr(5), addr(2));
        moves.settled(addr(1), addr(2));
        assert_eq!(moves.chain(addr(2)), vec![addr(2), addr(5)]);
    }
}
