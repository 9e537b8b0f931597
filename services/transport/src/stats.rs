//! Counters of what the node did, dropped and refused. Exposed without gRPC
//! (`TransportHandle::stats`) so tests and a metrics exporter can read them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A snapshot of the node's counters. All values only grow, except the
/// two gauges in [`DtlsStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// The CoAP endpoint's own counters (oversized, wrong version, malformed, RST, ...).
    pub coap: lwm2m_coap::Stats,
    /// The DTLS side (all zero when DTLS is off).
    pub dtls: DtlsStats,
    /// Datagrams read from the socket.
    pub datagrams_received: u64,
    /// Datagrams written to the socket.
    pub datagrams_sent: u64,
    /// Socket send errors (the datagram is lost; CON retransmission covers it).
    pub send_errors: u64,
    /// Requests from devices that reached the LwM2M layer.
    pub requests: u64,
    /// Register / Update / De-register accepted.
    pub registrations: u64,
    /// Registers refused with 4.03 (not provisioned, wrong security mode,
    /// DTLS identity not the endpoint's); each is logged at INFO.
    pub registrations_refused: u64,
    pub updates: u64,
    pub deregistrations: u64,
    /// Registrations removed by the expiry sweep of this node.
    pub expirations: u64,
    /// Send (`/dp`) requests accepted.
    pub sends: u64,
    /// Notifications decoded and published.
    pub notifications: u64,
    /// Notifications dropped as stale (RFC 7641 §3.4).
    pub stale_notifications: u64,
    /// Unmatched notifications accepted via the store's token index.
    pub unmatched_accepted: u64,
    /// Unmatched notifications rejected with RST.
    pub unmatched_rejected: u64,
    /// Requests for unknown paths (4.04).
    pub not_found: u64,
    /// Requests with a method the path does not allow (4.05).
    pub method_not_allowed: u64,
    /// Requests answered 4.00 / 4.12 / 4.15.
    pub bad_requests: u64,
    /// 5.03 because too many requests were in progress.
    pub overloaded: u64,
    /// 5.03 because the bus could not take more events.
    pub backpressure: u64,
    /// Downlinks sent to devices from this node.
    pub downlinks: u64,
    /// Downlinks that got no CoAP response (timeout, RST...).
    pub downlink_failures: u64,
    /// Downlinks forwarded to the node that owns the device.
    pub downlinks_forwarded: u64,
    /// Downlinks held for a sleeping queue-mode device.
    pub downlinks_held: u64,
    /// Events handed to the bus.
    pub events_published: u64,
    /// Events the bus refused after the response was sent.
    pub publish_failures: u64,
    /// Payloads that could not be decoded (notifications, reads, sends).
    pub decode_failures: u64,
    /// Session store failures.
    pub store_errors: u64,
}

/// The DTLS driver's figures: the engine's counters (handshakes started,
/// completed, failed, timed out, refused at `limits.max_handshakes` /
/// `limits.max_sessions`, records dropped, peers moved...) plus two gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DtlsStats {
    /// `lwm2m_dtls::Stats`: counters since the node started.
    pub engine: lwm2m_dtls::Stats,
    /// Handshakes in progress now (gauge; bounded by `limits.max_handshakes`).
    pub handshakes_in_progress: u64,
    /// Established sessions now (gauge; bounded by `limits.max_sessions`).
    pub sessions_established: u64,
    /// PSK lookups that found no key (unknown identity or registry down):
    /// each refuses a handshake.
    pub psk_lookups_failed: u64,
    /// Requests over DTLS (and plain requests for a DTLS registration)
    /// refused because the session's identity is not the registration's.
    pub identity_mismatches: u64,
    /// Records whose Connection ID names another node, forwarded to it.
    pub records_forwarded: u64,
    /// Records other nodes forwarded here (this node owns their session).
    pub records_taken_over: u64,
    /// Records this node sent out to devices on behalf of their owner
    /// (the device was heard here).
    pub records_relayed: u64,
    /// Cluster frames refused (bad MAC, malformed).
    pub frames_refused: u64,
    /// Records whose Connection ID names a node that is not a member (gone)
    /// and whose session no one took over: dropped (see docs/cluster.md on
    /// why no alert can make the device handshake sooner).
    pub records_for_gone_nodes: u64,
    /// Sessions of dead nodes this node took over by adopting their id.
    pub sessions_adopted: u64,
    /// Adopted sessions handed back when their own node returned.
    pub sessions_handed_over: u64,
}

/// The live counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    coap: Mutex<lwm2m_coap::Stats>,
    /// Engine counters and gauges, stored by the DTLS task after each turn.
    dtls: Mutex<(lwm2m_dtls::Stats, u64, u64)>,
    pub psk_lookups_failed: AtomicU64,
    pub identity_mismatches: AtomicU64,
    pub records_forwarded: AtomicU64,
    pub records_taken_over: AtomicU64,
    pub records_relayed: AtomicU64,
    pub frames_refused: AtomicU64,
    pub records_for_gone_nodes: AtomicU64,
    pub sessions_adopted: AtomicU64,
    pub sessions_handed_over: AtomicU64,
    pub datagrams_received: AtomicU64,
    pub datagrams_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub requests: AtomicU64,
    pub registrations: AtomicU64,
    pub registrations_refused: AtomicU64,
    pub updates: AtomicU64,
    pub deregistrations: AtomicU64,
    pub expirations: AtomicU64,
    pub sends: AtomicU64,
    pub notifications: AtomicU64,
    pub stale_notifications: AtomicU64,
    pub unmatched_accepted: AtomicU64,
    pub unmatched_rejected: AtomicU64,
    pub not_found: AtomicU64,
    pub method_not_allowed: AtomicU64,
    pub bad_requests: AtomicU64,
    pub overloaded: AtomicU64,
    pub backpressure: AtomicU64,
    pub downlinks: AtomicU64,
    pub downlink_failures: AtomicU64,
    pub downlinks_forwarded: AtomicU64,
    pub downlinks_held: AtomicU64,
    pub events_published: AtomicU64,
    pub publish_failures: AtomicU64,
    pub decode_failures: AtomicU64,
    pub store_errors: AtomicU64,
}

impl Counters {
    /// Adds one.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores the CoAP endpoint's counters (the UDP task does this after each batch).
    pub fn set_coap(&self, stats: lwm2m_coap::Stats) {
        *self.coap.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    /// Stores the DTLS engine's counters and gauges (the DTLS task does
    /// this after each turn).
    pub fn set_dtls(&self, stats: lwm2m_dtls::Stats, in_progress: usize, established: usize) {
        *self.dtls.lock().unwrap_or_else(|e| e.into_inner()) =
            (stats, in_progress as u64, established as u64);
    }

    /// A consistent-enough copy for reporting.
    pub fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (engine, in_progress, established) =
            *self.dtls.lock().unwrap_or_else(|e| e.into_inner());
        TransportStats {
            coap: *self.coap.lock().unwrap_or_else(|e| e.into_inner()),
            dtls: DtlsStats {
                engine,
                handshakes_in_progress: in_progress,
                sessions_established: established,
                psk_lookups_failed: get(&self.psk_lookups_failed),
                identity_mismatches: get(&self.identity_mismatches),
                records_forwarded: get(&self.records_forwarded),
                records_taken_over: get(&self.records_taken_over),
                records_relayed: get(&self.records_relayed),
                frames_refused: get(&self.frames_refused),
                records_for_gone_nodes: get(&self.records_for_gone_nodes),
                sessions_adopted: get(&self.sessions_adopted),
                sessions_handed_over: get(&self.sessions_handed_over),
            },
            datagrams_received: get(&self.datagrams_received),
            datagrams_sent: get(&self.datagrams_sent),
            send_errors: get(&self.send_errors),
            requests: get(&self.requests),
            registrations: get(&self.registrations),
            registrations_refused: get(&self.registrations_refused),
            updates: get(&self.updates),
            deregistrations: get(&self.deregistrations),
            expirations: get(&self.expirations),
            sends: get(&self.sends),
            notifications: get(&self.notifications),
            stale_notifications: get(&self.stale_notifications),
            unmatched_accepted: get(&self.unmatched_accepted),
            unmatched_rejected: get(&self.unmatched_rejected),
            not_found: get(&self.not_found),
            method_not_allowed: get(&self.method_not_allowed),
            bad_requests: get(&self.bad_requests),
            overloaded: get(&self.overloaded),
            backpressure: get(&self.backpressure),
            downlinks: get(&self.downlinks),
            downlink_failures: get(&self.downlink_failures),
            downlinks_forwarded: get(&self.downlinks_forwarded),
            downlinks_held: get(&self.downlinks_held),
            events_published: get(&self.events_published),
            publish_failures: get(&self.publish_failures),
            decode_failures: get(&self.decode_failures),
            store_errors: get(&self.store_errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_counters() {
        let c = Counters::default();
        Counters::inc(&c.requests);
        for _ in 0..3 {
            Counters::inc(&c.sends);
        }
        c.set_coap(lwm2m_coap::Stats {
            oversized: 2,
            ..Default::default()
        });
        let s = c.snapshot();
        assert_eq!((s.requests, s.sends, s.coap.oversized), (1, 3, 2));
    }

    #[test]
    fn dtls_figures_come_from_the_engine_and_the_counters() {
        let c = Counters::default();
        c.set_dtls(
            lwm2m_dtls::Stats {
                handshakes_started: 5,
                handshakes_completed: 4,
                handshakes_refused: 1,
                ..Default::default()
            },
            1,
            4,
        );
        Counters::inc(&c.psk_lookups_failed);
        let d = c.snapshot().dtls;
        assert_eq!(
            (
                d.engine.handshakes_started,
                d.engine.handshakes_completed,
                d.engine.handshakes_refused
            ),
            (5, 4, 1)
        );
        assert_eq!((d.handshakes_in_progress, d.sessions_established), (1, 4));
        assert_eq!((d.psk_lookups_failed, d.identity_mismatches), (1, 0));
    }
}
