//! The frame in which DTLS records travel between the nodes of a cluster,
//! still encrypted: a record for a session another node owns (its node id
//! is the first byte of the record's Connection ID) goes to that owner
//! (`Inbound`), and the owner's records for a device that was last heard
//! through another node go back out through that node (`Outbound`), because
//! the device's NAT and the load balancer expect answers from it.
//!
//! The header carries the device's address, which decides where replies
//! go, so frames are authenticated with the cluster key: nothing outside
//! the cluster can inject records under a forged source. The header also
//! carries the sender's wall-clock time, and a receiver's [`Freshness`]
//! refuses frames older (or newer) than its window and any frame it has
//! taken before, so a captured frame cannot be replayed later. The inner
//! DTLS record has its own replay protection besides.
//!
//! Layout, version 2 (integers big-endian):
//! ```text
//! "LWF" version(1)=2 kind(1) from_node(1) sent_ms(8) family(1)=4|6 ip(4|16) port(2)
//! mac(16) = HMAC-SHA256(key, everything before mac ‖ record)[..16]
//! record...
//! ```
//!
//! The module is self-contained (std, hmac, sha2, subtle, thiserror): the
//! fuzz target `cluster_frame` includes this file as it is, since the
//! transport crate itself (librdkafka) does not build under the fuzzer.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAGIC: &[u8; 3] = b"LWF";
const VERSION: u8 = 2;
const MAC_LEN: usize = 16;
/// How far a frame's `sent_ms` may be from the receiver's clock (the
/// nodes' clocks are NTP-synchronised; a frame is in flight for far less).
pub const FRESHNESS_WINDOW_MS: i64 = 10_000;
/// Most frames a receiver remembers within the window (about 50,000 frames
/// a second); beyond that it refuses frames rather than forget one.
pub const MAX_REMEMBERED: usize = 1 << 19;

/// Which way a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Receiving node → owner: `device` is where the record came from.
    Inbound = 1,
    /// Owner → the node the device was heard through: send the record to `device`.
    Outbound = 2,
}

/// A decoded, authenticated frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub direction: Direction,
    /// The node id of the sender.
    pub from_node: u8,
    /// The sender's wall clock when it sent the frame (ms since the epoch).
    pub sent_ms: i64,
    /// The frame's MAC: what a receiver remembers to refuse a replay.
    pub tag: [u8; MAC_LEN],
    /// The device's address as the receiving node sees it.
    pub device: SocketAddr,
    /// The DTLS datagram, as received from (or to be sent to) the device.
    pub record: &'a [u8],
}

/// Why a frame was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a cluster frame (magic or version)")]
    Foreign,
    #[error("truncated cluster frame")]
    Truncated,
    #[error("cluster frame with a bad MAC (wrong cluster key, or forged)")]
    BadMac,
    #[error("stale cluster frame (sent outside the freshness window: replayed, or clocks apart)")]
    Stale,
    #[error("cluster frame taken before (replayed)")]
    Replayed,
    #[error("too many recent cluster frames to tell replays apart")]
    Overloaded,
}

fn mac(key: &[u8], header: &[u8], record: &[u8]) -> [u8; MAC_LEN] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_key());
    m.update(header);
    m.update(record);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

#[cold]
fn unreachable_key() -> Hmac<Sha256> {
    // Only reached if the hmac crate ever refused a key length; an empty
    // key still authenticates nothing useful, so frames then fail to verify.
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
}

/// Builds a frame.
pub fn encode(
    key: &[u8],
    direction: Direction,
    from_node: u8,
    sent_ms: i64,
    device: SocketAddr,
    record: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 56);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(direction as u8);
    out.push(from_node);
    out.extend_from_slice(&sent_ms.to_be_bytes());
    match device.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&device.port().to_be_bytes());
    let tag = mac(key, &out, record);
    out.extend_from_slice(&tag);
    out.extend_from_slice(record);
    out
}

/// Reads and authenticates a frame.
pub fn decode<'a>(key: &[u8], frame: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    if frame.len() < 4 || &frame[..3] != MAGIC || frame[3] != VERSION {
        return Err(FrameError::Foreign);
    }
    let at = |i: usize| frame.get(i).copied().ok_or(FrameError::Truncated);
    let direction = match at(4)? {
        1 => Direction::Inbound,
        2 => Direction::Outbound,
        _ => return Err(FrameError::Foreign),
    };
    let from_node = at(5)?;
    let sent_ms = frame
        .get(6..14)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
        .ok_or(FrameError::Truncated)?;
    let (ip, next): (IpAddr, usize) = match at(14)? {
        4 => {
            let b: [u8; 4] = frame
                .get(15..19)
                .and_then(|b| b.try_into().ok())
                .ok_or(FrameError::Truncated)?;
            (IpAddr::V4(Ipv4Addr::from(b)), 19)
        }
        6 => {
            let b: [u8; 16] = frame
                .get(15..31)
                .and_then(|b| b.try_into().ok())
                .ok_or(FrameError::Truncated)?;
            (IpAddr::V6(Ipv6Addr::from(b)), 31)
        }
        _ => return Err(FrameError::Foreign),
    };
    let port = u16::from_be_bytes([at(next)?, at(next + 1)?]);
    let header_end = next + 2;
    let tag = frame
        .get(header_end..header_end + MAC_LEN)
        .ok_or(FrameError::Truncated)?;
    let record = frame.get(header_end + MAC_LEN..).unwrap_or_default();
    let header = frame.get(..header_end).unwrap_or_default();
    let expected = mac(key, header, record);
    // Constant time: a timing difference must not help forge a tag.
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
        return Err(FrameError::BadMac);
    }
    Ok(Frame {
        direction,
        from_node,
        sent_ms,
        tag: expected,
        device: SocketAddr::new(ip, port),
        record,
    })
}

/// A receiver's memory of recent frames: refuses frames sent outside
/// [`FRESHNESS_WINDOW_MS`] of its clock and frames it has taken before.
/// Bounded: a frame is remembered for two windows of arrival time (it is
/// stale by then), and at most [`MAX_REMEMBERED`] at once.
#[derive(Debug, Default)]
pub struct Freshness {
    seen: HashSet<[u8; MAC_LEN]>,
    /// Remembered tags in arrival order, with when they may be forgotten.
    order: VecDeque<(i64, [u8; MAC_LEN])>,
}

impl Freshness {
    /// Takes an authenticated frame if it is fresh and new; `now_ms` is
    /// the receiver's wall clock.
    pub fn admit(&mut self, frame: &Frame<'_>, now_ms: i64) -> Result<(), FrameError> {
        while let Some((until, tag)) = self.order.front().copied() {
            if until > now_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&tag);
        }
        if frame.sent_ms.abs_diff(now_ms) > FRESHNESS_WINDOW_MS.unsigned_abs() {
            return Err(FrameError::Stale);
        }
        if self.seen.contains(&frame.tag) {
            return Err(FrameError::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err(FrameError::Overloaded);
        }
        self.seen.insert(frame.tag);
        let until = now_ms.saturating_add(FRESHNESS_WINDOW_MS.saturating_mul(2));
        self.order.push_back((until, frame.tag));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"cluster key for tests";
    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn frames_round_trip_for_both_families() {
        for device in ["192.0.2.7:40000", "[2001:db8::1]:5684"] {
            let device: SocketAddr = device.parse().unwrap();
            for direction in [Direction::Inbound, Direction::Outbound] {
                let bytes = encode(KEY, direction, 9, NOW, device, b"\x19\xfe\xfdrecord");
                let frame = decode(KEY, &bytes).unwrap();
                assert_eq!(
                    frame,
                    Frame {
                        direction,
                        from_node: 9,
                        sent_ms: NOW,
                        tag: frame.tag,
                        device,
                        record: b"\x19\xfe\xfdrecord",
                    }
                );
            }
        }
    }

    #[test]
    fn forged_or_foreign_frames_are_refused() {
        let device: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let bytes = encode(KEY, Direction::Inbound, 1, NOW, device, b"record");
        assert_eq!(decode(b"another key", &bytes), Err(FrameError::BadMac));
        // A changed source address (the point of forging) breaks the MAC,
        // and so does a changed time (to make an old frame look fresh).
        for byte in [18, 13] {
            let mut forged = bytes.clone();
            forged[byte] ^= 1;
            assert_eq!(decode(KEY, &forged), Err(FrameError::BadMac));
        }
        let mut forged = bytes.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(decode(KEY, &forged), Err(FrameError::BadMac));
        assert_eq!(decode(KEY, b"\x16\xfe\xfd"), Err(FrameError::Foreign));
        for cut in 0..bytes.len() - "record".len() {
            assert!(decode(KEY, &bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}

#[cfg(test)]
mod freshness_tests {
    use super::*;

    const KEY: &[u8] = b"cluster key for tests";
    const NOW: i64 = 1_800_000_000_000;

    /// A captured frame is refused when replayed, at once or later.
    #[test]
    fn replayed_and_stale_frames_are_refused() {
        let device: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let mut fresh = Freshness::default();
        let bytes = encode(KEY, Direction::Inbound, 1, NOW, device, b"record");
        let frame = decode(KEY, &bytes).unwrap();
        assert_eq!(fresh.admit(&frame, NOW + 5), Ok(()));
        assert_eq!(fresh.admit(&frame, NOW + 6), Err(FrameError::Replayed));
        // Later, after the receiver forgot it, it is stale.
        let later = NOW + 3 * FRESHNESS_WINDOW_MS;
        assert_eq!(fresh.admit(&frame, later), Err(FrameError::Stale));
        assert!(fresh.seen.is_empty(), "forgotten after two windows");
        // From the future (a sender's clock far ahead) too.
        let ahead = encode(
            KEY,
            Direction::Inbound,
            1,
            later + FRESHNESS_WINDOW_MS + 1,
            device,
            b"r",
        );
        let ahead = decode(KEY, &ahead).unwrap();
        assert_eq!(fresh.admit(&ahead, later), Err(FrameError::Stale));
        // Another record from the same device and instant is its own frame.
        let other = encode(KEY, Direction::Inbound, 1, later, device, b"record 2");
        assert_eq!(fresh.admit(&decode(KEY, &other).unwrap(), later), Ok(()));
    }
}
