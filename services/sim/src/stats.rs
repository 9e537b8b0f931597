//! Fleet-wide counters, shared by every device task through an `Arc` and
//! updated with relaxed atomics: they are statistics, not synchronization.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// The downlink operations a device serves, for per-operation counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Read,
    Discover,
    Write,
    WriteAttributes,
    Execute,
    Create,
    Delete,
    ReadComposite,
    WriteComposite,
    Observe,
    ObserveComposite,
    CancelObservation,
    /// A request on a path or with a method no operation matches.
    Other,
}

impl Operation {
    /// Every operation, in counter order.
    pub const ALL: [Operation; 13] = [
        Operation::Read,
        Operation::Discover,
        Operation::Write,
        Operation::WriteAttributes,
        Operation::Execute,
        Operation::Create,
        Operation::Delete,
        Operation::ReadComposite,
        Operation::WriteComposite,
        Operation::Observe,
        Operation::ObserveComposite,
        Operation::CancelObservation,
        Operation::Other,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }

    /// snake_case name, as in the JSON summary.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Discover => "discover",
            Operation::Write => "write",
            Operation::WriteAttributes => "write_attributes",
            Operation::Execute => "execute",
            Operation::Create => "create",
            Operation::Delete => "delete",
            Operation::ReadComposite => "read_composite",
            Operation::WriteComposite => "write_composite",
            Operation::Observe => "observe",
            Operation::ObserveComposite => "observe_composite",
            Operation::CancelObservation => "cancel_observation",
            Operation::Other => "other",
        }
    }
}

/// Live counters of a fleet.
#[derive(Debug, Default)]
pub struct FleetStats {
    registered_now: AtomicU64,
    registrations: AtomicU64,
    updates: AtomicU64,
    deregistrations: AtomicU64,
    notifications_con: AtomicU64,
    notifications_non: AtomicU64,
    sends: AtomicU64,
    rebinds: AtomicU64,
    dropped_while_asleep: AtomicU64,
    errors: AtomicU64,
    retransmissions: AtomicU64,
    served: [AtomicU64; Operation::ALL.len()],
    /// Time from the first Register attempt to its 2.01, per registration
    /// (a load generator reads percentiles from these).
    register_latencies: Mutex<Vec<Duration>>,
    dtls_handshakes_started: AtomicU64,
    dtls_handshakes_completed: AtomicU64,
    dtls_sessions_closed: AtomicU64,
    /// Time from the ClientHello to the server's Finished, per handshake.
    handshake_latencies: Mutex<Vec<Duration>>,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl FleetStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// A device became registered (it was not before).
    pub fn on_registered(&self) {
        inc(&self.registrations);
        inc(&self.registered_now);
    }

    /// A registered device registered again (reboot, 4.04 to an Update).
    pub fn on_reregistered(&self) {
        inc(&self.registrations);
    }

    /// A device stopped being registered (De-register or lost registration).
    pub fn on_unregistered(&self) {
        let _ = self
            .registered_now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    pub fn on_deregistered(&self) {
        inc(&self.deregistrations);
    }

    pub fn on_update(&self) {
        inc(&self.updates);
    }

    pub fn on_notification(&self, confirmable: bool) {
        inc(if confirmable {
            &self.notifications_con
        } else {
            &self.notifications_non
        });
    }

    pub fn on_send(&self) {
        inc(&self.sends);
    }

    pub fn on_rebind(&self) {
        inc(&self.rebinds);
    }

    pub fn on_dropped_while_asleep(&self) {
        inc(&self.dropped_while_asleep);
    }

    /// A failed uplink request, socket error or error response.
    pub fn on_error(&self) {
        inc(&self.errors);
    }

    /// CoAP retransmissions the devices sent (lost or slow answers).
    pub fn on_retransmissions(&self, n: u64) {
        self.retransmissions.fetch_add(n, Ordering::Relaxed);
    }

    /// A registration completed `latency` after its first attempt.
    pub fn on_register_latency(&self, latency: Duration) {
        self.register_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(latency);
    }

    /// Every Register latency recorded so far, in completion order.
    pub fn register_latencies(&self) -> Vec<Duration> {
        self.register_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A DTLS handshake began (first or again after a failure).
    pub fn on_handshake_started(&self) {
        inc(&self.dtls_handshakes_started);
    }

    /// A DTLS handshake completed `latency` after its ClientHello.
    pub fn on_handshake_completed(&self, latency: Duration) {
        inc(&self.dtls_handshakes_completed);
        self.handshake_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(latency);
    }

    /// A DTLS handshake failed or an established session closed.
    pub fn on_handshake_failed_or_closed(&self) {
        inc(&self.dtls_sessions_closed);
    }

    /// Every DTLS handshake latency recorded so far, in completion order.
    pub fn handshake_latencies(&self) -> Vec<Duration> {
        self.handshake_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn on_served(&self, op: Operation) {
        if let Some(c) = self.served.get(op.index()) {
            inc(c);
        }
    }

    /// Devices registered right now.
    pub fn registered_now(&self) -> u64 {
        self.registered_now.load(Ordering::Relaxed)
    }

    /// A consistent-enough copy for printing and asserting.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            registered_now: get(&self.registered_now),
            registrations: get(&self.registrations),
            updates: get(&self.updates),
            deregistrations: get(&self.deregistrations),
            notifications_con: get(&self.notifications_con),
            notifications_non: get(&self.notifications_non),
            sends: get(&self.sends),
            rebinds: get(&self.rebinds),
            dropped_while_asleep: get(&self.dropped_while_asleep),
            errors: get(&self.errors),
            retransmissions: get(&self.retransmissions),
            dtls_handshakes_started: get(&self.dtls_handshakes_started),
            dtls_handshakes_completed: get(&self.dtls_handshakes_completed),
            dtls_sessions_closed: get(&self.dtls_sessions_closed),
            requests_served: Operation::ALL
                .iter()
                .zip(&self.served)
                .map(|(op, c)| (op.name().to_owned(), get(c)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub registered_now: u64,
    pub registrations: u64,
    pub updates: u64,
    pub deregistrations: u64,
    pub notifications_con: u64,
    pub notifications_non: u64,
    pub sends: u64,
    pub rebinds: u64,
    pub dropped_while_asleep: u64,
    pub errors: u64,
    /// CoAP retransmissions sent by the devices.
    pub retransmissions: u64,
    /// DTLS handshakes begun, completed, and sessions that failed or closed.
    pub dtls_handshakes_started: u64,
    pub dtls_handshakes_completed: u64,
    pub dtls_sessions_closed: u64,
    /// Downlink requests answered, by operation name (zero counts left out).
    pub requests_served: std::collections::BTreeMap<String, u64>,
}

impl StatsSnapshot {
    /// Requests served for one operation.
    pub fn served(&self, op: Operation) -> u64 {
        self.requests_served.get(op.name()).copied().unwrap_or(0)
    }

    /// All notifications, CON and NON.
    pub fn notifications(&self) -> u64 {
        self.notifications_con + self.notifications_non
    }
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "registered now:      {}", self.registered_now)?;
        writeln!(f, "registrations:       {}", self.registrations)?;
        writeln!(f, "updates:             {}", self.updates)?;
        writeln!(f, "deregistrations:     {}", self.deregistrations)?;
        writeln!(
            f,
            "notifications:       {} CON, {} NON",
            self.notifications_con, self.notifications_non
        )?;
        writeln!(f, "sends:               {}", self.sends)?;
        writeln!(f, "rebinds:             {}", self.rebinds)?;
        writeln!(f, "dropped (asleep):    {}", self.dropped_while_asleep)?;
        writeln!(f, "errors:              {}", self.errors)?;
        writeln!(f, "retransmissions:     {}", self.retransmissions)?;
        if self.dtls_handshakes_started > 0 {
            writeln!(
                f,
                "dtls handshakes:     {} started, {} completed, {} failed or closed",
                self.dtls_handshakes_started,
                self.dtls_handshakes_completed,
                self.dtls_sessions_closed
            )?;
        }
        write!(f, "requests served:    ")?;
        if self.requests_served.is_empty() {
            write!(f, " none")?;
        }
        for (op, n) in &self.requests_served {
            write!(f, " {op}={n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_snapshots() {
        let s = FleetStats::new();
        s.on_registered();
        s.on_registered();
        s.on_unregistered();
        s.on_unregistered();
        s.on_unregistered();
        s.on_notification(true);
        s.on_notification(false);
        s.on_notification(false);
        s.on_served(Operation::Read);
        s.on_served(Operation::Read);
        s.on_served(Operation::Other);
        s.on_retransmissions(3);
        s.on_register_latency(Duration::from_millis(4));
        s.on_handshake_started();
        s.on_handshake_completed(Duration::from_millis(9));
        let snap = s.snapshot();
        assert_eq!(
            (snap.dtls_handshakes_started, snap.dtls_handshakes_completed),
            (1, 1)
        );
        assert_eq!(s.handshake_latencies(), vec![Duration::from_millis(9)]);
        assert!(snap.to_string().contains("dtls handshakes:     1 started"));
        assert_eq!(snap.retransmissions, 3);
        assert_eq!(s.register_latencies(), vec![Duration::from_millis(4)]);
        assert_eq!(snap.registered_now, 0, "never below zero");
        assert_eq!(snap.registrations, 2);
        assert_eq!((snap.notifications_con, snap.notifications_non), (1, 2));
        assert_eq!(snap.notifications(), 3);
        assert_eq!(snap.served(Operation::Read), 2);
        assert_eq!(snap.served(Operation::Create), 0);
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["requests_served"]["read"], 2);
        assert!(snap.to_string().contains("read=2"));
    }
}
