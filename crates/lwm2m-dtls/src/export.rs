//! Session export/import: an established session as a compact, versioned
//! binary blob (keys, epoch, sequence numbers, replay window, CIDs, peer
//! address, credential), so a node can hand sessions to its successor or
//! persist them (Redis, a later issue) and devices need no new handshake.
//!
//! Layout, version 1 (all integers big-endian):
//! ```text
//! "LWD" version(1)=1  suite(2)  epoch(2)=1
//! family(1)=4|6  ip(4|16)  port(2)
//! credential kind(1): 0 = PSK        identity<0..2^16-1>
//!                     1 = RPK        spki<0..2^16-1>
//!                     2 = X.509      has_cn(1) [cn<0..2^16-1>] count(1) count × cert<0..2^24-1>
//! write_seq(6)  replay.max(6)  replay.bitmap(8)
//! cid_send<0..255>  cid_recv<0..255>
//! write: key(16) iv(4) mac_key(32)   read: key(16) iv(4) mac_key(32)
//! ```
//! The blob holds traffic keys in the clear: whoever stores it must protect
//! it like a private key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::codec::{Reader, Writer};
use crate::error::Error;
use crate::event::PeerCredential;
use crate::record_layer::{RecordLayer, MAX_SEQ};
use crate::replay::ReplayWindow;
use crate::suites::{CipherSuite, DirectionKeys};

const MAGIC: &[u8; 3] = b"LWD";
const VERSION: u8 = 1;

/// What an exported session holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub(crate) suite: CipherSuite,
    pub(crate) addr: SocketAddr,
    pub(crate) credential: PeerCredential,
    pub(crate) rl: RecordLayer,
}

fn put_keys(out: &mut Vec<u8>, k: &DirectionKeys) {
    out.extend_from_slice(&k.key);
    out.extend_from_slice(&k.iv);
    out.extend_from_slice(&k.mac_key);
}

fn read_keys(r: &mut Reader<'_>, suite: CipherSuite) -> Option<DirectionKeys> {
    let key = r.array::<16>()?;
    let iv = r.array::<4>()?;
    let mac_key = r.array::<32>()?;
    Some(DirectionKeys {
        suite,
        key,
        iv,
        mac_key,
    })
}

pub(crate) fn encode(s: &SessionState) -> Result<Vec<u8>, Error> {
    let (Some(write), Some(read)) = (&s.rl.write_keys, &s.rl.read_keys) else {
        return Err(Error::Crypto("session has no traffic keys"));
    };
    let mut out = Vec::with_capacity(200);
    out.extend_from_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u16(s.suite.id());
    out.put_u16(1);
    match s.addr.ip() {
        IpAddr::V4(ip) => {
            out.put_u8(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.put_u8(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.put_u16(s.addr.port());
    match &s.credential {
        PeerCredential::Psk { identity } => {
            out.put_u8(0);
            out.put_vec16(identity);
        }
        PeerCredential::RawPublicKey { spki_der } => {
            out.put_u8(1);
            out.put_vec16(spki_der);
        }
        PeerCredential::X509 {
            subject_cn,
            chain_der,
        } => {
            out.put_u8(2);
            match subject_cn {
                Some(cn) => {
                    out.put_u8(1);
                    out.put_vec16(cn.as_bytes());
                }
                None => out.put_u8(0),
            }
            out.put_u8(u8::try_from(chain_der.len()).unwrap_or(u8::MAX));
            for cert in chain_der.iter().take(usize::from(u8::MAX)) {
                out.put_u24(u32::try_from(cert.len()).unwrap_or(0));
                out.extend_from_slice(cert);
            }
        }
    }
    let [_, seq1] = s.rl.write_seq;
    out.put_u48(seq1);
    let [_, window] = s.rl.replay;
    out.put_u48(window.max);
    out.put_u64(window.bitmap);
    out.put_vec8(&s.rl.cid_send);
    out.put_vec8(&s.rl.cid_recv);
    put_keys(&mut out, write);
    put_keys(&mut out, read);
    Ok(out)
}

/// A stable name for a session: a one-way hash of its traffic keys, which
/// are fresh for every handshake and unchanged by export and import. Two
/// blobs of one session (a parked one and a reservation) share it, so the
/// engine never imports one session twice; sessions without a Connection
/// ID have no other stable name (their address moves). The keys cannot be
/// derived from it.
pub(crate) fn key_id(rl: &RecordLayer) -> Option<[u8; 16]> {
    use sha2::{Digest, Sha256};
    let (write, read) = (rl.write_keys.as_ref()?, rl.read_keys.as_ref()?);
    let mut h = Sha256::new();
    h.update(b"lwm2m-dtls session key id");
    for k in [write, read] {
        h.update(k.key);
        h.update(k.iv);
        h.update(k.mac_key);
    }
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(digest.get(..16)?);
    Some(id)
}

pub(crate) fn decode(blob: &[u8]) -> Result<SessionState, Error> {
    decode_inner(blob).ok_or(Error::InvalidBlob("truncated or malformed"))?
}

fn decode_inner(blob: &[u8]) -> Option<Result<SessionState, Error>> {
    let mut r = Reader::new(blob);
    if &r.array::<3>()? != MAGIC {
        return Some(Err(Error::InvalidBlob("not a session blob")));
    }
    if r.u8()? != VERSION {
        return Some(Err(Error::InvalidBlob("unknown version")));
    }
    let Some(suite) = CipherSuite::from_id(r.u16()?) else {
        return Some(Err(Error::InvalidBlob("unknown cipher suite")));
    };
    if r.u16()? != 1 {
        return Some(Err(Error::InvalidBlob("unsupported epoch")));
    }
    let ip = match r.u8()? {
        4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
        6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
        _ => return Some(Err(Error::InvalidBlob("bad address family"))),
    };
    let addr = SocketAddr::new(ip, r.u16()?);
    let credential = match r.u8()? {
        0 => PeerCredential::Psk {
            identity: r.vec16()?.to_vec(),
        },
        1 => PeerCredential::RawPublicKey {
            spki_der: r.vec16()?.to_vec(),
        },
        2 => {
            let subject_cn = match r.u8()? {
                0 => None,
                1 => match String::from_utf8(r.vec16()?.to_vec()) {
                    Ok(cn) => Some(cn),
                    Err(_) => return Some(Err(Error::InvalidBlob("common name is not UTF-8"))),
                },
                _ => return Some(Err(Error::InvalidBlob("bad common name flag"))),
            };
            let count = r.u8()?;
            let mut chain_der = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let len = usize::try_from(r.u24()?).ok()?;
                chain_der.push(r.bytes(len)?.to_vec());
            }
            PeerCredential::X509 {
                subject_cn,
                chain_der,
            }
        }
        _ => return Some(Err(Error::InvalidBlob("unknown credential kind"))),
    };
    let write_seq = r.u48()?;
    let window = ReplayWindow {
        max: r.u48()?,
        bitmap: r.u64()?,
    };
    let cid_send = r.vec8()?.to_vec();
    let cid_recv = r.vec8()?.to_vec();
    let write = read_keys(&mut r, suite)?;
    let read = read_keys(&mut r, suite)?;
    if !r.is_empty() {
        return Some(Err(Error::InvalidBlob("trailing bytes")));
    }
    let rl = RecordLayer {
        write_seq: [0, write_seq.min(MAX_SEQ + 1)],
        write_keys: Some(write),
        read_keys: Some(read),
        replay: [ReplayWindow::default(), window],
        cid_send,
        cid_recv,
        write_limit: None,
    };
    Some(Ok(SessionState {
        suite,
        addr,
        credential,
        rl,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SessionState {
        let suite = CipherSuite::PskAes128CbcSha256;
        let block: Vec<u8> = (0..suite.key_block_len()).map(|i| i as u8).collect();
        let (c, s) = suite.split_key_block(&block).unwrap();
        let mut window = ReplayWindow::default();
        window.accept(70);
        window.accept(68);
        SessionState {
            suite,
            addr: "[2001:db8::1]:5684".parse().unwrap(),
            credential: PeerCredential::Psk {
                identity: b"dev".to_vec(),
            },
            rl: RecordLayer {
                write_seq: [0, 42],
                write_keys: Some(s),
                read_keys: Some(c),
                replay: [ReplayWindow::default(), window],
                cid_send: vec![],
                cid_recv: vec![1, 2, 3, 4, 5, 6, 7, 8],
                write_limit: None,
            },
        }
    }

    #[test]
    fn round_trip_and_compact() {
        let s = state();
        let blob = encode(&s).unwrap();
        assert!(blob.len() < 200, "{}", blob.len());
        let back = decode(&blob).unwrap();
        assert_eq!(back.rl.write_seq, s.rl.write_seq);
        assert_eq!(back.rl.replay, s.rl.replay);
        assert_eq!(back.rl.write_keys, s.rl.write_keys);
        assert_eq!(back.rl.read_keys, s.rl.read_keys);
        assert_eq!(
            (back.addr, back.credential, back.suite),
            (s.addr, s.credential, s.suite)
        );
        assert_eq!(
            (back.rl.cid_send, back.rl.cid_recv),
            (s.rl.cid_send, s.rl.cid_recv)
        );
    }

    #[test]
    fn certificate_credentials_round_trip() {
        for credential in [
            PeerCredential::RawPublicKey {
                spki_der: vec![0x30, 1, 2],
            },
            PeerCredential::X509 {
                subject_cn: Some("urn:imei:1".into()),
                chain_der: vec![vec![1; 300], vec![2; 5]],
            },
            PeerCredential::X509 {
                subject_cn: None,
                chain_der: vec![vec![3]],
            },
        ] {
            let mut s = state();
            s.credential = credential.clone();
            let blob = encode(&s).unwrap();
            assert_eq!(decode(&blob).unwrap().credential, credential);
            for n in 0..blob.len() {
                assert!(decode(&blob[..n]).is_err());
            }
        }
    }

    #[test]
    fn every_truncation_and_bad_header_is_an_error() {
        let blob = encode(&state()).unwrap();
        for n in 0..blob.len() {
            assert!(decode(&blob[..n]).is_err());
        }
        let mut bad = blob.clone();
        bad[3] = 2;
        assert_eq!(decode(&bad), Err(Error::InvalidBlob("unknown version")));
        let mut long = blob;
        long.push(0);
        assert_eq!(decode(&long), Err(Error::InvalidBlob("trailing bytes")));
    }
}
