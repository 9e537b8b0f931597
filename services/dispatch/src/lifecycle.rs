//! The operation lifecycle (Cumulocity's shell-command lifecycle):
//!
//! ```text
//! PENDING ──claim──▶ EXECUTING ──2.xx──▶ SUCCESSFUL
//!    │  ▲                │ └──4.xx/5.xx, stuck──▶ FAILED
//!    │  └──no answer─────┘
//!    ├──expired──▶ FAILED
//!    └──cancel───▶ CANCELLED
//! ```
//!
//! Pure. The store applies transitions as compare-and-set updates on the
//! `from` state, so two replicas can never both make the same one.

use lwm2m_proto::dispatch::v1::{OperationEventKind, OperationState};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Pending,
    Executing,
    Successful,
    Failed,
    Cancelled,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Pending,
        State::Executing,
        State::Successful,
        State::Failed,
        State::Cancelled,
    ];

    /// The stored name (the `state` column).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "PENDING",
            State::Executing => "EXECUTING",
            State::Successful => "SUCCESSFUL",
            State::Failed => "FAILED",
            State::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Successful | State::Failed | State::Cancelled)
    }

    pub fn to_proto(self) -> OperationState {
        match self {
            State::Pending => OperationState::Pending,
            State::Executing => OperationState::Executing,
            State::Successful => OperationState::Successful,
            State::Failed => OperationState::Failed,
            State::Cancelled => OperationState::Cancelled,
        }
    }

    pub fn from_proto(state: OperationState) -> Option<State> {
        Some(match state {
            OperationState::Unspecified => return None,
            OperationState::Pending => State::Pending,
            OperationState::Executing => State::Executing,
            OperationState::Successful => State::Successful,
            OperationState::Failed => State::Failed,
            OperationState::Cancelled => State::Cancelled,
        })
    }
}

/// A change of state and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A replica takes the operation to send it.
    Claim,
    /// The device answered 2.xx.
    Succeed,
    /// The device answered 4.xx/5.xx, or a request could never succeed.
    Fail,
    /// No answer (timeout, device gone): wait for the next wake-up.
    Requeue,
    /// Its expiry passed while it waited.
    Expire,
    /// It stayed EXECUTING far beyond its timeout (a replica died).
    Unstick,
    Cancel,
}

impl Transition {
    /// The state it leaves and the state it reaches.
    pub fn states(self) -> (State, State) {
        match self {
            Transition::Claim => (State::Pending, State::Executing),
            Transition::Succeed => (State::Executing, State::Successful),
            Transition::Fail => (State::Executing, State::Failed),
            Transition::Requeue => (State::Executing, State::Pending),
            Transition::Expire => (State::Pending, State::Failed),
            Transition::Unstick => (State::Executing, State::Failed),
            Transition::Cancel => (State::Pending, State::Cancelled),
        }
    }

    /// The event published when it happens.
    pub fn event(self) -> OperationEventKind {
        match self {
            Transition::Claim => OperationEventKind::Executing,
            Transition::Succeed => OperationEventKind::Successful,
            Transition::Fail | Transition::Expire | Transition::Unstick => {
                OperationEventKind::Failed
            }
            Transition::Requeue => OperationEventKind::Requeued,
            Transition::Cancel => OperationEventKind::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_text_and_proto() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(State::from_proto(s.to_proto()), Some(s));
        }
        assert_eq!(State::parse("pending"), None);
        assert_eq!(State::from_proto(OperationState::Unspecified), None);
    }

    #[test]
    fn terminal_states_are_never_left() {
        let all = [
            Transition::Claim,
            Transition::Succeed,
            Transition::Fail,
            Transition::Requeue,
            Transition::Expire,
            Transition::Unstick,
            Transition::Cancel,
        ];
        for t in all {
            let (from, to) = t.states();
            assert!(!from.is_terminal(), "{t:?} leaves a terminal state");
            assert_ne!(from, to);
        }
        // Only PENDING operations can be cancelled: one on the wire cannot
        // be taken back.
        assert_eq!(Transition::Cancel.states().0, State::Pending);
    }
}
