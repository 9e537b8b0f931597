//! Bookkeeping of the notify scenario's closed loop, kept pure so its rules
//! are unit-tested: each device has at most one value in flight (set on the
//! device, not yet read back from Kafka); a value read back completes it,
//! and anything else read back is classified rather than silently counted.
//!
//! Values are `BASE + k` with k = 1, 2, 3... per device, so a value read
//! back tells exactly which change it was; values below `BASE` are the
//! initial answers to the Observe requests.

use std::time::{Duration, Instant};

/// First notified value; every initial value (a battery level) is below it.
pub const BASE: i64 = 1_000_000;

/// What a value read back from Kafka turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Read {
    /// The Observe response's initial value.
    Initial,
    /// The value in flight, `latency` after it was set.
    Delivered(Duration),
    /// A value given up as lost that arrived after all.
    Late,
    /// A value already read (or older than one already read).
    Duplicate,
    /// A value that was never set: a bug somewhere.
    Unexpected,
}

#[derive(Debug, Clone, Default)]
struct DeviceTrack {
    issued: i64,
    in_flight: Option<(i64, Instant)>,
    last_read: i64,
    initial_read: bool,
}

/// All devices' loops.
#[derive(Debug, Clone)]
pub struct Tracker {
    devices: Vec<DeviceTrack>,
    cursor: usize,
    in_flight: usize,
    pub initial: u64,
    pub delivered: u64,
    pub lost: u64,
    pub late: u64,
    pub duplicates: u64,
    pub unexpected: u64,
}

impl Tracker {
    pub fn new(devices: usize) -> Self {
        Tracker {
            devices: vec![DeviceTrack::default(); devices],
            cursor: 0,
            in_flight: 0,
            initial: 0,
            delivered: 0,
            lost: 0,
            late: 0,
            duplicates: 0,
            unexpected: 0,
        }
    }

    /// Values in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The next device without a value in flight, round-robin from the
    /// last one picked, so the load spreads over every device even when
    /// fewer values than devices are in flight.
    pub fn next_idle(&mut self) -> Option<usize> {
        let n = self.devices.len();
        for step in 0..n {
            let d = (self.cursor + step) % n;
            if self.devices.get(d).is_some_and(|t| t.in_flight.is_none()) {
                self.cursor = (d + 1) % n;
                return Some(d);
            }
        }
        None
    }

    /// Puts the device's next value in flight and returns it.
    pub fn issue(&mut self, device: usize, now: Instant) -> Option<i64> {
        let t = self.devices.get_mut(device)?;
        if t.in_flight.is_some() {
            return None;
        }
        t.issued += 1;
        let value = BASE + t.issued;
        t.in_flight = Some((value, now));
        self.in_flight += 1;
        Some(value)
    }

    /// Classifies a value read back for `device`.
    pub fn on_read(&mut self, device: usize, value: i64, now: Instant) -> Read {
        let Some(t) = self.devices.get_mut(device) else {
            self.unexpected += 1;
            return Read::Unexpected;
        };
        if value < BASE {
            if t.initial_read {
                self.duplicates += 1;
                return Read::Duplicate;
            }
            t.initial_read = true;
            self.initial += 1;
            return Read::Initial;
        }
        if value <= t.last_read {
            self.duplicates += 1;
            return Read::Duplicate;
        }
        match t.in_flight {
            Some((v, at)) if v == value => {
                t.in_flight = None;
                t.last_read = value;
                self.in_flight -= 1;
                self.delivered += 1;
                Read::Delivered(now.saturating_duration_since(at))
            }
            Some((v, _)) if value < v => {
                t.last_read = value;
                self.late += 1;
                Read::Late
            }
            None if value <= BASE + t.issued => {
                t.last_read = value;
                self.late += 1;
                Read::Late
            }
            _ => {
                self.unexpected += 1;
                Read::Unexpected
            }
        }
    }

    /// Gives up on values in flight for longer than `timeout`: they count
    /// as lost and their devices are free again. Returns those devices.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<usize> {
        let mut out = Vec::new();
        for (d, t) in self.devices.iter_mut().enumerate() {
            if let Some((_, at)) = t.in_flight {
                if now.saturating_duration_since(at) > timeout {
                    t.in_flight = None;
                    self.in_flight -= 1;
                    self.lost += 1;
                    out.push(d);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_delivers_in_order() {
        let t0 = Instant::now();
        let mut t = Tracker::new(2);
        assert_eq!(t.on_read(0, 57, t0), Read::Initial);
        assert_eq!(
            t.on_read(0, 57, t0),
            Read::Duplicate,
            "one initial value per device"
        );
        assert_eq!(t.issue(0, t0), Some(BASE + 1));
        assert_eq!(t.issue(0, t0), None, "one value in flight per device");
        assert_eq!(t.in_flight(), 1);
        let later = t0 + Duration::from_millis(7);
        assert_eq!(
            t.on_read(0, BASE + 1, later),
            Read::Delivered(Duration::from_millis(7))
        );
        assert_eq!(t.on_read(0, BASE + 1, later), Read::Duplicate);
        assert_eq!(t.issue(0, later), Some(BASE + 2));
        assert_eq!((t.delivered, t.duplicates, t.in_flight()), (1, 2, 1));
    }

    #[test]
    fn values_never_set_are_unexpected() {
        let now = Instant::now();
        let mut t = Tracker::new(1);
        assert_eq!(t.on_read(0, BASE + 5, now), Read::Unexpected);
        assert_eq!(
            t.on_read(3, BASE + 1, now),
            Read::Unexpected,
            "unknown device"
        );
        t.issue(0, now);
        assert_eq!(
            t.on_read(0, BASE + 2, now),
            Read::Unexpected,
            "ahead of what was set"
        );
        assert_eq!(t.unexpected, 3);
    }

    #[test]
    fn expired_values_are_lost_unless_they_show_up_late() {
        let t0 = Instant::now();
        let mut t = Tracker::new(3);
        t.issue(0, t0);
        t.issue(1, t0);
        let later = t0 + Duration::from_secs(5);
        t.issue(2, later);
        assert_eq!(t.expire(later, Duration::from_secs(2)), vec![0, 1]);
        assert_eq!((t.lost, t.in_flight()), (2, 1));
        assert_eq!(t.on_read(0, BASE + 1, later), Read::Late);
        assert_eq!(t.issue(1, later), Some(BASE + 2));
        assert_eq!(
            t.on_read(1, BASE + 1, later),
            Read::Late,
            "older than the one in flight"
        );
        assert_eq!(
            t.on_read(1, BASE + 2, later),
            Read::Delivered(Duration::ZERO)
        );
        assert_eq!(t.late, 2);
    }

    #[test]
    fn idle_devices_are_picked_round_robin() {
        let now = Instant::now();
        let mut t = Tracker::new(3);
        assert_eq!(t.next_idle(), Some(0));
        t.issue(0, now);
        assert_eq!(t.next_idle(), Some(1));
        t.issue(1, now);
        assert_eq!(t.next_idle(), Some(2));
        t.issue(2, now);
        assert_eq!(t.next_idle(), None, "everyone busy");
        t.on_read(1, BASE + 1, now);
        assert_eq!(t.next_idle(), Some(1));
    }
}
