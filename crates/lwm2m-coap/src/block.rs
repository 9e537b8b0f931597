//! The Block1/Block2 option value (RFC 7959 §2.2): `NUM | M | SZX`.

use crate::error::Error;

/// Largest block number that fits in the 3-byte option value (20 bits).
pub const MAX_BLOCK_NUM: u32 = (1 << 20) - 1;
/// Smallest block size (SZX 0).
pub const MIN_BLOCK_SIZE: u16 = 16;
/// Largest block size over UDP (SZX 6; SZX 7 is reserved for BERT over TCP).
pub const MAX_BLOCK_SIZE: u16 = 1024;

/// A decoded Block1 or Block2 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockOption {
    /// Block number (offset / size).
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// Size exponent: size = 2^(szx + 4). Always `<= 6` in a valid value.
    pub szx: u8,
}

impl BlockOption {
    /// Builds a block option from a byte size (power of two in 16..=1024).
    pub fn new(num: u32, more: bool, size: u16) -> Result<Self, Error> {
        if num > MAX_BLOCK_NUM {
            return Err(Error::InvalidBlockNumber(num));
        }
        Ok(Self {
            num,
            more,
            szx: szx_for_size(size)?,
        })
    }

    /// Block size in bytes.
    pub fn size(&self) -> usize {
        size_of_szx(self.szx)
    }

    /// Byte offset of this block in the whole body.
    pub fn offset(&self) -> usize {
        (self.num as usize).saturating_mul(self.size())
    }

    /// Encodes into the minimal option value (0 to 3 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let value = (self.num.min(MAX_BLOCK_NUM) << 4)
            | (u32::from(self.more) << 3)
            | u32::from(self.szx & 0x07);
        encode_uint(value)
    }

    /// Decodes an option value. `None` for values longer than 3 bytes or with
    /// the reserved SZX 7 (BERT is TCP-only).
    pub fn decode(value: &[u8]) -> Option<Self> {
        if value.len() > 3 {
            return None;
        }
        let raw = decode_uint(value)?;
        let szx = (raw & 0x07) as u8;
        if szx == 7 {
            return None;
        }
        Some(Self {
            num: raw >> 4,
            more: raw & 0x08 != 0,
            szx,
        })
    }
}

/// Size in bytes for an SZX exponent (SZX above 6 is clamped to 6).
pub fn size_of_szx(szx: u8) -> usize {
    16usize << szx.min(6)
}

/// The SZX for a byte size; errors unless it is a power of two in 16..=1024.
pub fn szx_for_size(size: u16) -> Result<u8, Error> {
    if !size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
        return Err(Error::InvalidBlockSize(u32::from(size)));
    }
    // trailing_zeros of 16 is 4, so this is in 0..=6.
    Ok((size.trailing_zeros() - 4) as u8)
}

/// The largest SZX, not above `max_szx`, whose block fits in `room` bytes.
pub(crate) fn szx_fitting(room: usize, max_szx: u8) -> Option<u8> {
    (0..=max_szx.min(6))
        .rev()
        .find(|szx| size_of_szx(*szx) <= room)
}

/// Encodes an unsigned option value in the minimal number of bytes (RFC 7252 §3.2).
pub(crate) fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Decodes an unsigned option value of up to 4 bytes; leading zeros are tolerated.
pub(crate) fn decode_uint(value: &[u8]) -> Option<u32> {
    if value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip() {
        for szx in 0..=6u8 {
            for num in [0u32, 1, 15, 16, 4095, 4096, MAX_BLOCK_NUM] {
                for more in [false, true] {
                    let b = BlockOption { num, more, szx };
                    let enc = b.encode();
                    assert!(enc.len() <= 3);
                    assert_eq!(BlockOption::decode(&enc), Some(b));
                }
            }
        }
    }

    #[test]
    fn known_encodings() {
        // RFC 7959 examples: 2:0/0/64 is SZX 2, 1:1/1/128 is NUM 1, M, SZX 3.
        assert_eq!(
            BlockOption {
                num: 0,
                more: false,
                szx: 0
            }
            .encode(),
            Vec::<u8>::new()
        );
        assert_eq!(
            BlockOption {
                num: 0,
                more: false,
                szx: 2
            }
            .encode(),
            vec![0x02]
        );
        assert_eq!(
            BlockOption {
                num: 1,
                more: true,
                szx: 3
            }
            .encode(),
            vec![0x1b]
        );
        assert_eq!(
            BlockOption {
                num: 16,
                more: false,
                szx: 6
            }
            .encode(),
            vec![0x01, 0x06]
        );
    }

    #[test]
    fn decode_rejects_bad_values() {
        assert_eq!(BlockOption::decode(&[0x07]), None, "SZX 7 is BERT");
        assert_eq!(BlockOption::decode(&[0, 0, 0, 1]), None, "too long");
        assert_eq!(
            BlockOption::decode(&[]),
            Some(BlockOption {
                num: 0,
                more: false,
                szx: 0
            })
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(szx_for_size(16), Ok(0));
        assert_eq!(szx_for_size(1024), Ok(6));
        assert_eq!(szx_for_size(2048), Err(Error::InvalidBlockSize(2048)));
        assert_eq!(szx_for_size(100), Err(Error::InvalidBlockSize(100)));
        assert_eq!(szx_for_size(8), Err(Error::InvalidBlockSize(8)));
        assert_eq!(size_of_szx(3), 128);
        assert_eq!(BlockOption::new(3, true, 256).map(|b| b.offset()), Ok(768));
        assert!(BlockOption::new(MAX_BLOCK_NUM + 1, true, 256).is_err());
    }

    #[test]
    fn fitting() {
        assert_eq!(szx_fitting(1100, 6), Some(6));
        assert_eq!(szx_fitting(1000, 6), Some(5));
        assert_eq!(szx_fitting(1100, 2), Some(2));
        assert_eq!(szx_fitting(15, 6), None);
    }

    #[test]
    fn uint_codec() {
        assert_eq!(encode_uint(0), Vec::<u8>::new());
        assert_eq!(encode_uint(255), vec![255]);
        assert_eq!(encode_uint(256), vec![1, 0]);
        assert_eq!(decode_uint(&[0, 0, 1]), Some(1));
        assert_eq!(decode_uint(&[1, 0, 0, 0, 0]), None);
    }
}
