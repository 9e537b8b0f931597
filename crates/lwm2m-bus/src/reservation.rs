//! Room in the outgoing buffer, reserved before a CoAP uplink is
//! acknowledged.
//!
//! Events are published after the response is handed to the socket, so by
//! the time `publish` could say "buffer full" the device has already been
//! told its uplink was taken. The transport therefore reserves one slot per
//! event it will publish *before* it acknowledges; if that fails it does not
//! acknowledge, and the device retransmits later. A reservation that is
//! dropped unused gives its slots back.

use tokio::sync::OwnedSemaphorePermit;

use crate::BusError;

/// Slots reserved with [`UplinkBus::try_reserve`](crate::UplinkBus::try_reserve),
/// spent one per event by `publish_reserved`.
#[derive(Debug)]
pub struct Reservation {
    slots: u32,
    /// Buffer permits of a bounded bus (one per slot); `None` for a bus that
    /// never refuses (the memory bus).
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Slots of a bus without a bounded buffer.
    pub(crate) fn unbounded(slots: u32) -> Self {
        Reservation {
            slots,
            permit: None,
        }
    }

    /// Slots backed by `slots` buffer permits.
    pub(crate) fn bounded(slots: u32, permit: OwnedSemaphorePermit) -> Self {
        Reservation {
            slots,
            permit: Some(permit),
        }
    }

    /// Whether the slots are permits of `slots` (a reservation must be spent
    /// on the bus that made it).
    pub(crate) fn is_backed_by(&self, slots: &std::sync::Arc<tokio::sync::Semaphore>) -> bool {
        self.permit
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p.semaphore(), slots))
            || (self.permit.is_none() && self.slots == 0)
    }

    /// Slots not yet spent.
    pub fn remaining(&self) -> u32 {
        self.slots
    }

    /// Spends one slot; the returned permit (bounded buses) travels with the
    /// event and frees its buffer slot when the event is delivered.
    /// Carves one slot out as a reservation of its own (to publish several
    /// events concurrently); `None` when no slot is left.
    pub fn split_one(&mut self) -> Option<Reservation> {
        let permit = self.take_one().ok()?;
        Some(Reservation { slots: 1, permit })
    }

    pub(crate) fn take_one(&mut self) -> Result<Option<OwnedSemaphorePermit>, BusError> {
        if self.slots == 0 {
            return Err(BusError::ReservationExhausted);
        }
        self.slots -= 1;
        Ok(match &mut self.permit {
            None => None,
            Some(_) if self.slots == 0 => self.permit.take(),
            Some(permit) => permit.split(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    #[test]
    fn spending_slots_moves_permits_and_stops_at_zero() {
        let sem = Arc::new(Semaphore::new(5));
        let permit = sem.clone().try_acquire_many_owned(3).unwrap();
        let mut r = Reservation::bounded(3, permit);
        let a = r.take_one().unwrap().unwrap();
        let b = r.take_one().unwrap().unwrap();
        assert_eq!(sem.available_permits(), 2);
        drop(a);
        assert_eq!(sem.available_permits(), 3);
        let c = r.take_one().unwrap().unwrap();
        assert_eq!(r.remaining(), 0);
        assert!(matches!(r.take_one(), Err(BusError::ReservationExhausted)));
        drop((b, c));
        assert_eq!(sem.available_permits(), 5);
    }

    #[test]
    fn split_slots_keep_their_permits() {
        let sem = Arc::new(Semaphore::new(5));
        let mut r = Reservation::bounded(2, sem.clone().try_acquire_many_owned(2).unwrap());
        let mut one = r.split_one().unwrap();
        assert!(one.is_backed_by(&sem) && one.remaining() == 1);
        let two = r.split_one().unwrap();
        assert!(r.split_one().is_none());
        assert_eq!(sem.available_permits(), 3);
        drop(one.take_one().unwrap());
        drop(two);
        assert_eq!(sem.available_permits(), 5);
        let mut unbounded = Reservation::unbounded(1);
        assert!(unbounded.split_one().is_some_and(|r| r.remaining() == 1));
        assert!(unbounded.split_one().is_none());
    }

    #[test]
    fn dropping_an_unused_reservation_frees_its_slots() {
        let sem = Arc::new(Semaphore::new(4));
        let r = Reservation::bounded(4, sem.clone().try_acquire_many_owned(4).unwrap());
        assert_eq!(sem.available_permits(), 0);
        drop(r);
        assert_eq!(sem.available_permits(), 4);
    }

    #[test]
    fn unbounded_reservation_counts_slots_only() {
        let mut r = Reservation::unbounded(1);
        assert!(r.take_one().unwrap().is_none());
        assert!(r.take_one().is_err());
    }
}
