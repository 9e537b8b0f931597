//! When to send a notification: a pure function of the notification
//! attributes, what was last sent and when, the current value and the time.
//! Keeping it pure lets the device loop simply re-evaluate every
//! observation after anything happened, and lets unit tests pin the rules
//! down without sockets or clocks.
//!
//! Rules (LwM2M 1.1.1 Core TS §5.1.2):
//! - a change is notified, but never earlier than `pmin` after the last one;
//! - with `gt`/`lt` on a numeric resource only crossing the threshold counts
//!   as a change, with `st` only a step of at least `st` from the last sent
//!   value (any one of the set conditions suffices);
//! - without a notifiable change, `pmax` after the last notification one is
//!   sent anyway (0 or absent: never).

use std::time::{Duration, Instant};

use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{LwM2mPath, Value};

/// The leaves of an observed target and their values, in tree order.
pub type Snapshot = Vec<(LwM2mPath, Value)>;

/// The attributes that drive notifications, resolved to durations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NotifyRules {
    pub pmin: Duration,
    pub pmax: Option<Duration>,
    pub gt: Option<f64>,
    pub lt: Option<f64>,
    pub st: Option<f64>,
}

impl NotifyRules {
    /// From effective attributes, with the Server object's default periods
    /// (`/1/x/2`, `/1/x/3`) where the attributes do not say.
    pub fn from_attributes(
        attrs: &LwM2mAttributes,
        default_pmin: Option<u32>,
        default_pmax: Option<u32>,
    ) -> Self {
        let pmin = attrs.pmin.or(default_pmin).unwrap_or(0);
        let pmax = attrs.pmax.or(default_pmax).filter(|p| *p > 0 && *p >= pmin);
        Self {
            pmin: Duration::from_secs(u64::from(pmin)),
            pmax: pmax.map(|p| Duration::from_secs(u64::from(p))),
            gt: attrs.gt,
            lt: attrs.lt,
            st: attrs.st,
        }
    }
}

/// What to do with one observation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send a notification now.
    Notify,
    /// Nothing now; evaluate again at this instant.
    WaitUntil(Instant),
    /// Nothing until the value changes.
    Idle,
}

/// Decides whether the observation whose last notification carried
/// `last_sent` at `last_sent_at` must notify `current` at `now`.
pub fn decide(
    rules: &NotifyRules,
    last_sent: &[(LwM2mPath, Value)],
    last_sent_at: Instant,
    current: &[(LwM2mPath, Value)],
    now: Instant,
) -> Decision {
    let earliest = last_sent_at + rules.pmin;
    if notifiable_change(rules, last_sent, current) {
        return if now >= earliest {
            Decision::Notify
        } else {
            Decision::WaitUntil(earliest)
        };
    }
    match rules.pmax {
        Some(pmax) => {
            let due = (last_sent_at + pmax).max(earliest);
            if now >= due {
                Decision::Notify
            } else {
                Decision::WaitUntil(due)
            }
        }
        None => Decision::Idle,
    }
}

/// Whether `current` differs from `last_sent` in a way the thresholds let through.
fn notifiable_change(
    rules: &NotifyRules,
    last_sent: &[(LwM2mPath, Value)],
    current: &[(LwM2mPath, Value)],
) -> bool {
    if last_sent == current {
        return false;
    }
    let thresholds = rules.gt.is_some() || rules.lt.is_some() || rules.st.is_some();
    let (Some(old), Some(new), true) =
        (single_number(last_sent), single_number(current), thresholds)
    else {
        return true;
    };
    let crossed = |t: f64| (old > t) != (new > t) || (old < t) != (new < t);
    rules.gt.is_some_and(crossed)
        || rules.lt.is_some_and(crossed)
        || rules.st.is_some_and(|st| (new - old).abs() >= st)
}

/// The number of a snapshot holding exactly one numeric leaf.
fn single_number(snapshot: &[(LwM2mPath, Value)]) -> Option<f64> {
    match snapshot {
        [(_, v)] => number(v),
        _ => None,
    }
}

/// Numeric view of a value, for thresholds.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) | Value::Time(i) => Some(*i as f64),
        Value::UnsignedInteger(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(v: f64) -> Snapshot {
        vec![("/3303/0/5700".parse().unwrap(), Value::Float(v))]
    }

    fn rules(pmin: u64, pmax: Option<u64>) -> NotifyRules {
        NotifyRules {
            pmin: Duration::from_secs(pmin),
            pmax: pmax.map(Duration::from_secs),
            ..NotifyRules::default()
        }
    }

    #[test]
    fn change_after_pmin_notifies_and_before_waits() {
        let t0 = Instant::now();
        let r = rules(2, None);
        assert_eq!(
            decide(&r, &snap(1.0), t0, &snap(2.0), t0 + Duration::from_secs(3)),
            Decision::Notify
        );
        assert_eq!(
            decide(&r, &snap(1.0), t0, &snap(2.0), t0 + Duration::from_secs(1)),
            Decision::WaitUntil(t0 + Duration::from_secs(2))
        );
        assert_eq!(
            decide(&r, &snap(1.0), t0, &snap(1.0), t0 + Duration::from_secs(9)),
            Decision::Idle
        );
    }

    #[test]
    fn pmax_forces_a_notification_without_change() {
        let t0 = Instant::now();
        let r = rules(1, Some(10));
        assert_eq!(
            decide(&r, &snap(1.0), t0, &snap(1.0), t0 + Duration::from_secs(5)),
            Decision::WaitUntil(t0 + Duration::from_secs(10))
        );
        assert_eq!(
            decide(&r, &snap(1.0), t0, &snap(1.0), t0 + Duration::from_secs(10)),
            Decision::Notify
        );
    }

    #[test]
    fn thresholds_need_a_crossing() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        let gt = NotifyRules {
            gt: Some(25.0),
            ..NotifyRules::default()
        };
        assert_eq!(
            decide(&gt, &snap(20.0), t0, &snap(22.0), later),
            Decision::Idle,
            "below both"
        );
        assert_eq!(
            decide(&gt, &snap(20.0), t0, &snap(26.0), later),
            Decision::Notify,
            "crossed up"
        );
        assert_eq!(
            decide(&gt, &snap(26.0), t0, &snap(27.0), later),
            Decision::Idle,
            "above both"
        );
        assert_eq!(
            decide(&gt, &snap(26.0), t0, &snap(24.0), later),
            Decision::Notify,
            "crossed down"
        );
        let lt = NotifyRules {
            lt: Some(0.0),
            ..NotifyRules::default()
        };
        assert_eq!(
            decide(&lt, &snap(1.0), t0, &snap(-1.0), later),
            Decision::Notify
        );
        assert_eq!(
            decide(&lt, &snap(1.0), t0, &snap(2.0), later),
            Decision::Idle
        );
    }

    #[test]
    fn step_measures_from_the_last_sent_value() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        let st = NotifyRules {
            st: Some(1.0),
            ..NotifyRules::default()
        };
        assert_eq!(
            decide(&st, &snap(20.0), t0, &snap(20.5), later),
            Decision::Idle
        );
        assert_eq!(
            decide(&st, &snap(20.0), t0, &snap(21.0), later),
            Decision::Notify
        );
        assert_eq!(
            decide(&st, &snap(20.0), t0, &snap(18.9), later),
            Decision::Notify
        );
        let st_pmax = NotifyRules {
            pmax: Some(Duration::from_secs(5)),
            ..st
        };
        assert_eq!(
            decide(&st_pmax, &snap(20.0), t0, &snap(20.5), later),
            Decision::WaitUntil(t0 + Duration::from_secs(5))
        );
    }

    #[test]
    fn containers_notify_on_any_change_and_ignore_thresholds() {
        let t0 = Instant::now();
        let a: Snapshot = vec![
            ("/3/0/9".parse().unwrap(), Value::Integer(90)),
            ("/3/0/0".parse().unwrap(), Value::String("x".into())),
        ];
        let mut b = a.clone();
        b[0].1 = Value::Integer(89);
        let r = NotifyRules {
            gt: Some(1000.0),
            ..NotifyRules::default()
        };
        assert_eq!(decide(&r, &a, t0, &b, t0), Decision::Notify);
    }

    #[test]
    fn rules_from_attributes_use_server_defaults() {
        let attrs = LwM2mAttributes {
            pmax: Some(30),
            ..LwM2mAttributes::default()
        };
        let r = NotifyRules::from_attributes(&attrs, Some(2), Some(60));
        assert_eq!(r.pmin, Duration::from_secs(2));
        assert_eq!(r.pmax, Some(Duration::from_secs(30)));
        let none = NotifyRules::from_attributes(&LwM2mAttributes::default(), None, Some(0));
        assert_eq!(none.pmax, None, "pmax 0 means no maximum period");
        let inverted = LwM2mAttributes {
            pmin: Some(10),
            pmax: Some(5),
            ..LwM2mAttributes::default()
        };
        assert_eq!(
            NotifyRules::from_attributes(&inverted, None, None).pmax,
            None
        );
    }
}
