//! What a running device shows to the outside: published by the device task
//! through a `watch` channel after every loop iteration that changed it, so
//! tests can await a condition ("registered", "two notifications sent")
//! instead of sleeping.

use std::net::SocketAddr;

use serde::Serialize;

/// One observation as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservationStatus {
    /// Observed paths (one, or several for Observe-Composite).
    pub paths: Vec<String>,
    /// The token, hex.
    pub token: String,
    /// Content-Format of the notifications.
    pub content_format: u16,
    /// Notifications sent after the initial answer.
    pub notifications_sent: u64,
}

/// A snapshot of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    pub endpoint: String,
    /// Registered with the server right now.
    pub registered: bool,
    /// The registration location (`/rd/...`).
    pub location: Option<String>,
    /// The socket's local address (changes on rebind).
    pub local_addr: Option<SocketAddr>,
    /// Successful Register exchanges (re-registrations included).
    pub registrations: u64,
    /// Successful Update exchanges.
    pub updates: u64,
    /// Successful Send exchanges.
    pub sends: u64,
    /// Queue mode: sleeping, incoming datagrams are dropped.
    pub asleep: bool,
    /// Datagrams dropped while asleep.
    pub dropped_while_asleep: u64,
    /// Downlink requests answered.
    pub requests_served: u64,
    /// Active observations.
    pub observations: Vec<ObservationStatus>,
    /// All notifications sent, including those of ended observations.
    pub notifications_sent: u64,
    /// Reboots executed by the server.
    pub reboots: u64,
    /// The last failure (uplink request, socket), for diagnostics.
    pub last_error: Option<String>,
    /// The device task has ended.
    pub stopped: bool,
    /// DTLS: the session is up.
    pub dtls_established: bool,
    /// DTLS: handshakes this device completed (stays put across a NAT
    /// rebinding when a Connection ID was negotiated).
    pub dtls_handshakes: u64,
    /// DTLS: the server issued a Connection ID for the current session.
    pub dtls_connection_id: bool,
}

impl DeviceStatus {
    /// Whether `path` (e.g. `"/3303/0/5700"`) is observed, alone or in a composite.
    pub fn is_observed(&self, path: &str) -> bool {
        self.observations
            .iter()
            .any(|o| o.paths.iter().any(|p| p == path))
    }

    /// Notifications sent for the observations covering `path`.
    pub fn notifications_for(&self, path: &str) -> u64 {
        self.observations
            .iter()
            .filter(|o| o.paths.iter().any(|p| p == path))
            .map(|o| o.notifications_sent)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_lookups() {
        let s = DeviceStatus {
            observations: vec![
                ObservationStatus {
                    paths: vec!["/3/0/9".into()],
                    token: "01".into(),
                    content_format: 0,
                    notifications_sent: 2,
                },
                ObservationStatus {
                    paths: vec!["/3/0/9".into(), "/6/0".into()],
                    token: "02".into(),
                    content_format: 110,
                    notifications_sent: 3,
                },
            ],
            ..DeviceStatus::default()
        };
        assert!(s.is_observed("/6/0"));
        assert!(!s.is_observed("/6"));
        assert_eq!(s.notifications_for("/3/0/9"), 5);
    }
}
