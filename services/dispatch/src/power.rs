//! When a device can be sent to, and how long its answer may take, from its
//! registration (queue mode, `at=`) and its profile's radio power saving
//! (the "LWM2M client awake time" and PSM/eDRX settings of the seeds).
//!
//! - Queue mode: reachable for the awake time after its last uplink: the
//!   device's own `at=`, else the profile's PSM activity timer, else the
//!   configured default (93 s, CoAP's MAX_TRANSMIT_WAIT, as the spec says).
//! - PSM without queue mode: the radio still sleeps once the activity timer
//!   (T3324) runs out, so the timer bounds the window all the same.
//! - eDRX (and DRX): always reachable, but the device hears its paging only
//!   once per cycle, so a request may wait up to one cycle before it is even
//!   received: the cycle is added to the device timeout instead of failing
//!   operations that the device would have answered.

use std::time::Duration;

use lwm2m_registry::profile::{PowerMode, PowerSettings};
use lwm2m_session::Registration;

/// What the profile says about the device's radio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Power {
    /// PSM activity timer: how long the device listens after an uplink.
    pub activity_window: Option<Duration>,
    /// The longest a request may wait for the device's next paging window.
    pub paging_delay: Duration,
}

impl Power {
    pub fn of(settings: &PowerSettings) -> Power {
        let ms = |v: Option<u64>| v.filter(|&v| v > 0).map(Duration::from_millis);
        match settings.mode {
            Some(PowerMode::Psm) => Power {
                activity_window: ms(settings.psm_activity_timer_ms),
                paging_delay: Duration::ZERO,
            },
            Some(PowerMode::EDrx | PowerMode::Drx) => Power {
                activity_window: None,
                paging_delay: ms(settings.edrx_cycle_ms).unwrap_or_default(),
            },
            None => Power::default(),
        }
    }

    /// The device timeout of an operation: what the caller asked for plus
    /// the wait for the paging window.
    pub fn device_timeout(&self, requested: Duration) -> Duration {
        requested.saturating_add(self.paging_delay)
    }
}

/// Whether the device can be sent to at `now_ms`.
pub fn reachable(reg: &Registration, power: Power, now_ms: i64, default_awake: Duration) -> bool {
    let window = if reg.queue_mode {
        reg.awake_time_s
            .map(|s| Duration::from_secs(u64::from(s)))
            .or(power.activity_window)
            .unwrap_or(default_awake)
    } else if let Some(window) = power.activity_window {
        window
    } else {
        return true;
    };
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    now_ms < reg.last_seen_ms.saturating_add(window_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(queue_mode: bool) -> Registration {
        Registration {
            endpoint: "d".into(),
            registration_id: "r".into(),
            tenant: None,
            lwm2m_version: lwm2m_core::Version::V1_1,
            lifetime_s: 60,
            binding: if queue_mode { "UQ" } else { "U" }.into(),
            queue_mode,
            sms: None,
            awake_time_s: None,
            root_path: "/".into(),
            supported_formats: vec![],
            objects: Default::default(),
            address: "127.0.0.1:1".into(),
            node_id: String::new(),
            registered_at_ms: 0,
            last_update_ms: 1_000,
            last_seen_ms: 1_000,
            expires_at_ms: 0,
            revision: 1,
        }
    }

    fn psm(timer_ms: u64) -> Power {
        Power::of(&PowerSettings {
            mode: Some(PowerMode::Psm),
            psm_activity_timer_ms: Some(timer_ms),
            ..Default::default()
        })
    }

    #[test]
    fn queue_mode_devices_are_reachable_only_while_awake() {
        let mut reg = registration(true);
        let awake = Duration::from_millis(500);
        let none = Power::default();
        assert!(reachable(&reg, none, 1_499, awake));
        assert!(!reachable(&reg, none, 1_500, awake));
        reg.awake_time_s = Some(10);
        assert!(reachable(&reg, none, 10_999, awake));
        assert!(!reachable(&reg, none, 11_000, awake));
        reg.queue_mode = false;
        assert!(reachable(&reg, none, i64::MAX, awake));
    }

    #[test]
    fn the_psm_activity_timer_bounds_the_window_unless_the_device_says() {
        let awake = Duration::from_secs(93);
        let mut queued = registration(true);
        assert!(reachable(&queued, psm(2_000), 2_999, awake));
        assert!(!reachable(&queued, psm(2_000), 3_000, awake));
        // The device's own `at=` wins over the profile.
        queued.awake_time_s = Some(5);
        assert!(reachable(&queued, psm(2_000), 5_999, awake));
        // Without queue mode a PSM radio still sleeps after the timer.
        let plain = registration(false);
        assert!(reachable(&plain, psm(2_000), 2_999, awake));
        assert!(!reachable(&plain, psm(2_000), 3_000, awake));
    }

    #[test]
    fn edrx_devices_are_reachable_but_slower_to_answer() {
        let edrx = Power::of(&PowerSettings {
            mode: Some(PowerMode::EDrx),
            edrx_cycle_ms: Some(20_480),
            paging_transmission_window_ms: Some(2_560),
            ..Default::default()
        });
        assert!(reachable(
            &registration(false),
            edrx,
            i64::MAX,
            Duration::ZERO
        ));
        assert_eq!(
            edrx.device_timeout(Duration::from_secs(10)),
            Duration::from_millis(30_480)
        );
        assert_eq!(
            Power::default().device_timeout(Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        // A PSM mode without its timer changes nothing.
        let bare = Power::of(&PowerSettings {
            mode: Some(PowerMode::Psm),
            ..Default::default()
        });
        assert_eq!(bare, Power::default());
    }
}
