//! A start gate for load generation: a fleet whose devices are all bound
//! and ready but hold their first Register until the gate opens, and then
//! keep at most `window` first Registers in flight.
//!
//! Why: binding ten thousand sockets and building ten thousand object trees
//! takes the simulator itself seconds. Without a gate, a registration storm
//! would measure how fast the simulator starts devices, not how fast the
//! server registers them. The window keeps the storm closed-loop: it
//! measures how many registrations per second the server sustains instead
//! of how many datagrams the kernel drops from an overflowing socket
//! buffer (those come back as CoAP retransmissions seconds later).

use std::sync::Arc;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// The opener's side, returned by [`crate::Fleet::start_gated`].
#[derive(Debug)]
pub struct StartGate {
    open: watch::Sender<bool>,
}

/// A device's side: waits for the gate and takes a window slot.
#[derive(Debug, Clone)]
pub(crate) struct GateWaiter {
    open: watch::Receiver<bool>,
    window: Option<Arc<Semaphore>>,
}

/// Held by a device while its first Register is in flight.
#[derive(Debug)]
pub(crate) struct RegisterSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl StartGate {
    /// A closed gate; `window` bounds the first Registers in flight
    /// (`None`: unbounded, every device goes at once).
    pub(crate) fn new(window: Option<usize>) -> (StartGate, GateWaiter) {
        let (open, rx) = watch::channel(false);
        let window = window.map(|w| Arc::new(Semaphore::new(w.max(1))));
        (StartGate { open }, GateWaiter { open: rx, window })
    }

    /// Lets the devices register.
    pub fn open(&self) {
        let _ = self.open.send(true);
    }
}

impl GateWaiter {
    /// Waits until the gate is open and a window slot is free. A gate
    /// dropped without opening counts as open, so devices never hang.
    pub(crate) async fn pass(&mut self) -> RegisterSlot {
        let _ = self.open.wait_for(|open| *open).await;
        let permit = match &self.window {
            Some(window) => Arc::clone(window).acquire_owned().await.ok(),
            None => None,
        };
        RegisterSlot { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn devices_wait_for_the_gate_and_share_the_window() {
        let (gate, waiter) = StartGate::new(Some(2));
        let mut a = waiter.clone();
        let early = tokio::time::timeout(Duration::from_millis(50), a.pass()).await;
        assert!(early.is_err(), "closed gate holds devices");
        gate.open();
        let first = a.pass().await;
        let second = waiter.clone().pass().await;
        let mut c = waiter.clone();
        let third = tokio::time::timeout(Duration::from_millis(50), c.pass()).await;
        assert!(third.is_err(), "a window of two admits two");
        drop(first);
        let _third = c.pass().await;
        drop(second);
    }

    #[tokio::test]
    async fn a_dropped_gate_releases_everyone() {
        let (gate, mut waiter) = StartGate::new(None);
        drop(gate);
        let _slot = waiter.pass().await;
    }
}
