//! Client side of a Block1 upload (RFC 7959 §2.5): which block to send next,
//! following the server's 2.31 acknowledgements and size requests.

use crate::block::{size_of_szx, BlockOption};

/// Progress of one block-wise request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockUpload {
    num: u32,
    szx: u8,
}

/// The server did something RFC 7959 does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProtocolViolation;

impl BlockUpload {
    pub(crate) fn new(szx: u8) -> Self {
        Self { num: 0, szx }
    }

    /// The Block1 option for the block in flight.
    pub(crate) fn current(&self, body_len: usize) -> BlockOption {
        let end = self.offset().saturating_add(size_of_szx(self.szx));
        BlockOption {
            num: self.num,
            more: end < body_len,
            szx: self.szx,
        }
    }

    /// The payload of the block in flight.
    pub(crate) fn chunk<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        let start = self.offset().min(body.len());
        let end = start.saturating_add(size_of_szx(self.szx)).min(body.len());
        body.get(start..end).unwrap_or(&[])
    }

    /// Handles 2.31 Continue carrying `ack`. The server may ask for a smaller
    /// size; the next block then starts right after what it already has.
    pub(crate) fn on_continue(
        &mut self,
        ack: BlockOption,
        body_len: usize,
    ) -> Result<(), ProtocolViolation> {
        let same_block = ack.num == self.num || ack.offset() == self.offset();
        if !same_block || !self.current(body_len).more {
            return Err(ProtocolViolation);
        }
        let next_offset = self.offset().saturating_add(size_of_szx(self.szx));
        // A server can only shrink the size (§2.5); ignore a larger SZX.
        let szx = self.szx.min(ack.szx);
        let num = next_offset / size_of_szx(szx);
        self.num = u32::try_from(num).map_err(|_| ProtocolViolation)?;
        self.szx = szx;
        Ok(())
    }

    /// Handles 4.13 with a Block1 size hint: restart from block 0 with the
    /// smaller size. Returns false if the hint does not make blocks smaller.
    pub(crate) fn restart_smaller(&mut self, hint_szx: u8) -> bool {
        if hint_szx >= self.szx {
            return false;
        }
        self.num = 0;
        self.szx = hint_szx;
        true
    }

    fn offset(&self) -> usize {
        (self.num as usize).saturating_mul(size_of_szx(self.szx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_the_body() {
        let body: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let mut up = BlockUpload::new(3); // 128 bytes
        assert_eq!(
            up.current(body.len()),
            BlockOption {
                num: 0,
                more: true,
                szx: 3
            }
        );
        assert_eq!(up.chunk(&body).len(), 128);
        up.on_continue(
            BlockOption {
                num: 0,
                more: true,
                szx: 3,
            },
            body.len(),
        )
        .unwrap();
        assert_eq!(up.chunk(&body).first(), Some(&128));
        up.on_continue(
            BlockOption {
                num: 1,
                more: true,
                szx: 3,
            },
            body.len(),
        )
        .unwrap();
        assert_eq!(
            up.current(body.len()),
            BlockOption {
                num: 2,
                more: false,
                szx: 3
            }
        );
        assert_eq!(up.chunk(&body).len(), 44);
        assert_eq!(
            up.on_continue(
                BlockOption {
                    num: 2,
                    more: true,
                    szx: 3
                },
                body.len()
            ),
            Err(ProtocolViolation),
            "2.31 after the last block"
        );
    }

    #[test]
    fn server_shrinks_size_mid_transfer() {
        // RFC 7959 Figure 4: 1:0/1/128 acked as 1:0/1/32, next is 1:4/1/32.
        let body = vec![0u8; 300];
        let mut up = BlockUpload::new(3);
        up.on_continue(
            BlockOption {
                num: 0,
                more: true,
                szx: 1,
            },
            body.len(),
        )
        .unwrap();
        assert_eq!(
            up.current(body.len()),
            BlockOption {
                num: 4,
                more: true,
                szx: 1
            }
        );
    }

    #[test]
    fn rejects_ack_for_other_block() {
        let mut up = BlockUpload::new(3);
        assert_eq!(
            up.on_continue(
                BlockOption {
                    num: 5,
                    more: true,
                    szx: 3
                },
                1000
            ),
            Err(ProtocolViolation)
        );
    }

    #[test]
    fn restart_on_4_13() {
        let mut up = BlockUpload::new(6);
        up.on_continue(
            BlockOption {
                num: 0,
                more: true,
                szx: 6,
            },
            5000,
        )
        .unwrap();
        assert!(up.restart_smaller(4));
        assert_eq!(
            up.current(5000),
            BlockOption {
                num: 0,
                more: true,
                szx: 4
            }
        );
        assert!(!up.restart_smaller(4), "not smaller");
    }

    #[test]
    fn empty_body_single_block() {
        let up = BlockUpload::new(0);
        assert_eq!(
            up.current(0),
            BlockOption {
                num: 0,
                more: false,
                szx: 0
            }
        );
        assert!(up.chunk(&[]).is_empty());
    }
}
