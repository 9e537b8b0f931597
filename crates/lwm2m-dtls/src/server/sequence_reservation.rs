//! Sequence numbers reserved in blocks, so a session can be taken over
//! after its node crashed without ever reusing a record sequence number
//! (with AES-CCM/GCM a reused sequence number is a reused nonce).
//!
//! With `ServerConfig::sequence_reservation = Some(block)`, an established
//! session writes epoch-1 records only below `write_limit`. Once half of
//! the current block is used (or at once, for a new or imported session,
//! whose limit starts at its next sequence number) it asks its driver for
//! the next block with `Event::ReserveSequenceNumbers`: an export blob
//! taken now, at sequence number `s`, and the limit `s + block` that
//! becomes valid once the blob is stored where a successor would find it.
//! Whoever imports that blob with `seq_skip = block` starts at `s + block`,
//! above anything this node could have written: it never passes a limit
//! it has not had confirmed, and every limit it had confirmed is at most
//! `s + block` of the newest stored blob. One request is outstanding at a
//! time, so stored blobs cannot overtake each other.
//!
//! At the limit, application data is held (a few records per session) and
//! sealed when the reservation is confirmed; the driver sees no
//! difference.

use super::session::{Ctx, Phase, Session};
use crate::event::Event;
use crate::record::CT_APPLICATION_DATA;

/// Reservation state of one session.
#[derive(Debug, Default)]
pub(crate) struct Reservation {
    /// A request is with the driver (no other is made meanwhile).
    pending: bool,
    /// Application data waiting for the next confirmed limit.
    held: std::collections::VecDeque<Vec<u8>>,
}

impl Session {
    /// Starts reserving for a session that just became established (or
    /// was imported): nothing more is written until the first block is
    /// confirmed.
    pub(crate) fn start_reserving(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.config.sequence_reservation.is_none() {
            return;
        }
        let [_, next] = self.rl.write_seq;
        self.rl.write_limit = Some(next);
        self.request_reservation_if_low(ctx);
    }

    /// Sends application data now, or holds it until the next block.
    pub(crate) fn send_or_hold(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> bool {
        if self.phase != Phase::Established {
            return false;
        }
        if self.rl.may_write() && self.reservation.held.is_empty() {
            let sent = self.seal_application_data(ctx, data);
            self.request_reservation_if_low(ctx);
            return sent;
        }
        if self.rl.write_limit.is_none() {
            // Out of sequence space: the session is finished.
            return false;
        }
        if self.reservation.held.len() >= ctx.config.limits.max_records_awaiting_reservation {
            ctx.stats.records_dropped_unreserved += 1;
        } else {
            ctx.stats.records_awaiting_reservation += 1;
            self.reservation.held.push_back(data.to_vec());
        }
        self.request_reservation_if_low(ctx);
        true
    }

    /// The driver stored the blob of the outstanding request: `limit` is
    /// now safe to write up to. Held records go out.
    pub(crate) fn confirm_reservation(&mut self, ctx: &mut Ctx<'_>, limit: u64) {
        self.reservation.pending = false;
        if self.phase != Phase::Established {
            return;
        }
        let current = self.rl.write_limit.unwrap_or(0);
        self.rl.write_limit = Some(current.max(limit));
        while self.rl.may_write() {
            let Some(data) = self.reservation.held.pop_front() else {
                break;
            };
            self.seal_application_data(ctx, &data);
        }
        self.request_reservation_if_low(ctx);
    }

    /// The driver could not store the blob: ask again (with a fresh blob)
    /// the next time. The driver paces its retries.
    pub(crate) fn reservation_failed(&mut self, ctx: &mut Ctx<'_>) {
        self.reservation.pending = false;
        self.request_reservation_if_low(ctx);
    }

    fn seal_application_data(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> bool {
        match self.rl.seal(1, CT_APPLICATION_DATA, data, ctx.rng) {
            Some(bytes) => {
                self.transmit(ctx, bytes);
                true
            }
            None => false,
        }
    }

    /// Asks for the next block once half the current one is used.
    fn request_reservation_if_low(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(block), Some(limit)) = (ctx.config.sequence_reservation, self.rl.write_limit)
        else {
            return;
        };
        let [_, next] = self.rl.write_seq;
        if self.reservation.pending || self.phase != Phase::Established {
            return;
        }
        if next.saturating_add(block / 2) < limit {
            return;
        }
        let Some(state) = self.export_state() else {
            return;
        };
        let Ok(blob) = crate::export::encode(&state) else {
            return;
        };
        self.reservation.pending = true;
        ctx.stats.sequence_reservations_requested += 1;
        ctx.events.push_back(Event::ReserveSequenceNumbers {
            session: self.id,
            blob,
            limit: next.saturating_add(block),
        });
    }
}
