//! Downlinks for sleeping queue-mode devices (`b=UQ` in 1.0, `Q` in 1.1).
//!
//! A queue-mode device only listens for a while after it sent something
//! (LwM2M 1.1 §6.5). Downlinks that arrive while it sleeps are held here, in
//! order and bounded per device, and flushed in that order when the device
//! is heard from (Register, Update, Send, notification). It then counts as
//! awake for its awake time (per-device override > registration `at` >
//! global default). Held requests keep their deadline: the caller stops
//! waiting at the deadline and the flush skips them.
//!
//! In memory on this node only: if the device's next uplink reaches another
//! node, held downlinks time out. The dispatch service will add a durable
//! queue in front of this one.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::driver::Outgoing;
use crate::error::Error;

/// A request waiting for its device to wake up.
#[derive(Debug)]
pub(crate) struct Held {
    pub out: Outgoing,
    pub deadline: Instant,
}

impl Held {
    /// Whether anyone still waits for the answer.
    fn is_live(&self, now: Instant) -> bool {
        !self.out.reply.is_closed() && self.deadline > now
    }
}

/// Whether to send now or wait.
#[derive(Debug)]
pub(crate) enum Dispatch {
    /// The device is awake: send it.
    Now(Outgoing),
    /// Held until the device wakes up.
    Held,
}

#[derive(Debug, Default)]
struct DeviceQueue {
    awake_until: Option<Instant>,
    held: VecDeque<Held>,
}

/// All queue-mode devices this node holds downlinks for.
#[derive(Debug)]
pub(crate) struct QueueMode {
    devices: Mutex<HashMap<String, DeviceQueue>>,
    max_held: usize,
}

impl QueueMode {
    pub fn new(max_held: usize) -> Self {
        QueueMode {
            devices: Mutex::new(HashMap::new()),
            max_held,
        }
    }

    /// Sends `out` now if the device is awake (this node's knowledge first;
    /// without any, `store_says_awake` from the registration's last uplink),
    /// else holds it. Requests already held go first, so order is kept.
    pub fn send_or_hold(
        &self,
        endpoint: &str,
        now: Instant,
        store_says_awake: bool,
        out: Outgoing,
        deadline: Instant,
    ) -> Result<Dispatch, Error> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let device = devices.entry(endpoint.to_owned()).or_default();
        device.held.retain(|h| h.is_live(now));
        let awake = match device.awake_until {
            Some(until) => until > now,
            None => store_says_awake,
        };
        if awake && device.held.is_empty() {
            return Ok(Dispatch::Now(out));
        }
        if device.held.len() >= self.max_held {
            return Err(Error::QueueFull(endpoint.to_owned()));
        }
        device.held.push_back(Held { out, deadline });
        Ok(Dispatch::Held)
    }

    /// The device was just heard from: it is awake for `awake_for`. Returns
    /// the held requests still wanted, oldest first, for sending now.
    pub fn wake(&self, endpoint: &str, now: Instant, awake_for: Duration) -> Vec<Held> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let device = devices.entry(endpoint.to_owned()).or_default();
        device.awake_until = now.checked_add(awake_for);
        device.held.drain(..).filter(|h| h.is_live(now)).collect()
    }

    /// Forgets a device (de-registered, expired); returns what it held so
    /// the callers can be told.
    pub fn forget(&self, endpoint: &str) -> Vec<Held> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices
            .remove(endpoint)
            .map(|d| d.held.into_iter().collect())
            .unwrap_or_default()
    }

    /// Downlinks currently held for `endpoint`.
    pub fn held(&self, endpoint: &str) -> usize {
        let devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices.get(endpoint).map_or(0, |d| d.held.len())
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_coap::{Request, RequestOptions, Response};
    use tokio::sync::oneshot;

    use super::*;

    fn out(path: &str) -> (Outgoing, oneshot::Receiver<Result<Response, Error>>) {
        let (reply, rx) = oneshot::channel();
        (
            Outgoing {
                request: Request::get(path),
                options: RequestOptions::con(),
                observe_token: None,
                reply,
            },
            rx,
        )
    }

    #[test]
    fn sleeping_device_holds_in_order_until_woken() {
        let q = QueueMode::new(4);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let (a, _ra) = out("/1");
        let (b, _rb) = out("/2");
        assert!(matches!(
            q.send_or_hold("d", now, false, a, later).unwrap(),
            Dispatch::Held
        ));
        assert!(matches!(
            q.send_or_hold("d", now, false, b, later).unwrap(),
            Dispatch::Held
        ));
        assert_eq!(q.held("d"), 2);
        let flushed = q.wake("d", now, Duration::from_secs(10));
        let paths: Vec<_> = flushed
            .iter()
            .map(|h| h.out.request.path_string())
            .collect();
        assert_eq!(paths, ["/1", "/2"]);
        let (c, _rc) = out("/3");
        assert!(matches!(
            q.send_or_hold("d", now, false, c, later).unwrap(),
            Dispatch::Now(_)
        ));
    }

    #[test]
    fn awake_expires_and_store_hint_applies_only_without_local_knowledge() {
        let q = QueueMode::new(4);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let (a, _ra) = out("/1");
        assert!(matches!(
            q.send_or_hold("x", now, true, a, later).unwrap(),
            Dispatch::Now(_)
        ));
        q.wake("x", now, Duration::ZERO);
        let (b, _rb) = out("/2");
        assert!(matches!(
            q.send_or_hold("x", now + Duration::from_millis(1), true, b, later)
                .unwrap(),
            Dispatch::Held
        ));
    }

    #[test]
    fn bounded_and_skips_abandoned_or_late_requests() {
        let q = QueueMode::new(2);
        let now = Instant::now();
        let (a, ra) = out("/1");
        let (b, _rb) = out("/2");
        let (c, _rc) = out("/3");
        q.send_or_hold("d", now, false, a, now + Duration::from_secs(60))
            .unwrap();
        q.send_or_hold("d", now, false, b, now + Duration::from_millis(5))
            .unwrap();
        assert!(matches!(
            q.send_or_hold("d", now, false, c, now + Duration::from_secs(60)),
            Err(Error::QueueFull(_))
        ));
        drop(ra);
        let flushed = q.wake("d", now + Duration::from_millis(10), Duration::from_secs(1));
        assert!(flushed.is_empty(), "caller gone and deadline passed");
        assert!(q.forget("d").is_empty());
    }
}
