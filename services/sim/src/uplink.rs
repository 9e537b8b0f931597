//! Bookkeeping of the requests a device sends to the server and of its
//! registration, separate from the IO loop so the rules are easy to read.

use std::time::Duration;

/// Where the device stands with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not registered (never, after De-register, or after losing it).
    Unregistered,
    /// A Register is in flight.
    Registering,
    /// Registered at this location (`/rd/...`).
    Registered { location: String },
    /// A De-register is in flight.
    Deregistering,
}

impl RegistrationState {
    pub fn location(&self) -> Option<&str> {
        match self {
            RegistrationState::Registered { location } => Some(location),
            _ => None,
        }
    }
}

/// What an outstanding request was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    Register {
        lifetime: u32,
    },
    /// `lifetime` is the `lt` it carried, if any.
    Update {
        lifetime: Option<u32>,
    },
    Deregister,
    Send,
}

/// When to send the regular Update: well before the lifetime runs out, so
/// a retransmitted Update still arrives in time.
pub fn update_period(lifetime: u32) -> Duration {
    let lifetime = Duration::from_secs(u64::from(lifetime));
    let early = lifetime.mul_f64(0.8);
    let margin = lifetime.saturating_sub(Duration::from_secs(30));
    early.max(margin).max(Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_period_leaves_a_margin() {
        assert_eq!(update_period(300), Duration::from_secs(270));
        assert_eq!(update_period(10), Duration::from_secs(8));
        assert_eq!(update_period(1), Duration::from_millis(800));
        assert!(update_period(86_400) < Duration::from_secs(86_400));
    }

    #[test]
    fn only_registered_has_a_location() {
        let r = RegistrationState::Registered {
            location: "/rd/1".into(),
        };
        assert_eq!(r.location(), Some("/rd/1"));
        assert_eq!(RegistrationState::Registering.location(), None);
    }
}
