//! Anti-replay window (RFC 6347 §4.1.2.6) for one epoch: the highest
//! sequence number seen and a 64-bit bitmap of the ones just below it.

/// Sliding window of received record sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest sequence number accepted so far (valid when `bitmap != 0`).
    pub(crate) max: u64,
    /// Bit `i` set: `max - i` was received. Bit 0 is `max` itself.
    pub(crate) bitmap: u64,
}

impl ReplayWindow {
    /// Would `seq` be fresh? Checked before decrypting; the window is only
    /// updated by [`accept`](Self::accept) after the record authenticated,
    /// so forged records cannot move it.
    pub(crate) fn is_fresh(&self, seq: u64) -> bool {
        if self.bitmap == 0 || seq > self.max {
            return true;
        }
        let age = self.max - seq;
        age < 64 && self.bitmap & (1u64 << age) == 0
    }

    /// Marks `seq` as received. Returns true if it is the new highest.
    pub(crate) fn accept(&mut self, seq: u64) -> bool {
        if self.bitmap == 0 {
            self.max = seq;
            self.bitmap = 1;
            return true;
        }
        if seq > self.max {
            let shift = seq - self.max;
            self.bitmap = if shift >= 64 { 0 } else { self.bitmap << shift };
            self.bitmap |= 1;
            self.max = seq;
            return true;
        }
        let age = self.max - seq;
        if age < 64 {
            self.bitmap |= 1u64 << age;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused() {
        let mut w = ReplayWindow::default();
        assert!(w.is_fresh(5));
        w.accept(5);
        assert!(!w.is_fresh(5));
        assert!(w.is_fresh(4));
        assert!(w.is_fresh(6));
    }

    #[test]
    fn window_slides_and_forgets_old() {
        let mut w = ReplayWindow::default();
        w.accept(0);
        w.accept(100);
        assert!(!w.is_fresh(0), "too old is refused");
        assert!(!w.is_fresh(36), "outside the 64-record window");
        assert!(w.is_fresh(37));
        w.accept(37);
        assert!(!w.is_fresh(37));
        assert!(!w.accept(50));
        assert_eq!(w.max, 100);
    }

    #[test]
    fn big_jump_clears_bitmap() {
        let mut w = ReplayWindow::default();
        w.accept(1);
        w.accept(1000);
        assert!(!w.is_fresh(1000));
        assert!(w.is_fresh(999));
    }
}
