//! Checked readers and writers for the TLS presentation language.
//!
//! Every read from network input goes through [`Reader`], which returns
//! `None` instead of panicking when the input is short; callers turn `None`
//! into "drop the record" or a `decode_error` alert.

/// A cursor over untrusted bytes. Reads never panic.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let [b] = self.array::<1>()?;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array::<2>()?))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let [a, b, c] = self.array::<3>()?;
        Some(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u48(&mut self) -> Option<u64> {
        let [a, b, c, d, e, f] = self.array::<6>()?;
        Some(u64::from_be_bytes([0, 0, a, b, c, d, e, f]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array::<8>()?))
    }

    /// `opaque x<0..2^8-1>`
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }

    /// `opaque x<0..2^16-1>`
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }
}

/// Big-endian writers on `Vec<u8>`; lengths that do not fit are a local bug,
/// so the `put_vec*` helpers truncate the length prefix check to the caller
/// (all our own messages are far below the limits).
pub(crate) trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u24(&mut self, v: u32);
    fn put_u48(&mut self, v: u64);
    fn put_u64(&mut self, v: u64);
    fn put_vec8(&mut self, v: &[u8]);
    fn put_vec16(&mut self, v: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u24(&mut self, v: u32) {
        let b = v.to_be_bytes();
        self.extend_from_slice(b.get(1..).unwrap_or_default());
    }
    fn put_u48(&mut self, v: u64) {
        let b = v.to_be_bytes();
        self.extend_from_slice(b.get(2..).unwrap_or_default());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_vec8(&mut self, v: &[u8]) {
        self.put_u8(u8::try_from(v.len()).unwrap_or(u8::MAX));
        self.extend_from_slice(v);
    }
    fn put_vec16(&mut self, v: &[u8]) {
        self.put_u16(u16::try_from(v.len()).unwrap_or(u16::MAX));
        self.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_reads_none() {
        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert_eq!(r.vec16(), None);
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u24(), None);
        assert_eq!(r.u16(), Some(0x0102));
        assert!(r.is_empty());
    }

    #[test]
    fn round_trip_widths() {
        let mut w = Vec::new();
        w.put_u24(0x010203);
        w.put_u48(0x0102_0304_0506);
        w.put_vec8(b"ab");

        let mut r = Reader::new(&w);
        assert_eq!(r.u24(), Some(0x010203));
        assert_eq!(r.u48(), Some(0x0102_0304_0506));
        assert_eq!(r.vec8(), Some(&b"ab"[..]));

        assert!(r.is_empty());
    }
}
