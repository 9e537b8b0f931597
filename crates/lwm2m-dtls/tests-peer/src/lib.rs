//! **Test peer only — not part of the product.** An Mbed TLS 3.6 DTLS 1.2
//! client (from the `mbedtls-rs-sys` crate, which builds Mbed TLS from its
//! sources with RFC 9146 Connection ID support) behind a small safe API, so
//! `lwm2m-dtls` can be tested against an independent Connection ID
//! implementation. `lwm2m-dtls` is its only user, as a dev-dependency.
//!
//! It is driven like our sans-IO engine: datagrams in
//! ([`MbedtlsClient::handle_datagram`]), datagrams out
//! ([`MbedtlsClient::poll_transmit`]), a millisecond clock passed to
//! [`MbedtlsClient::step`]. Mbed TLS never touches a socket: its BIO and
//! timer callbacks read and write the queues and the clock held here, so
//! the test decides which socket (source port) each datagram leaves from.
//!
//! Building needs `clang`, `libclang-dev`, `cmake` and `ninja-build`
//! (Mbed TLS is compiled on the fly for this host).
//!
//! The workspace forbids `unsafe`; FFI cannot avoid it, so this crate alone
//! allows it. Every `unsafe` block is a call into Mbed TLS on objects this
//! struct owns (boxed, so their addresses never change) or a callback
//! dereferencing the context pointer we registered.

use std::collections::VecDeque;
use std::ffi::{c_int, c_uchar, c_void, CStr};

// Linked for its `std` critical-section implementation only.
use critical_section as _;
use mbedtls_rs_sys as sys;
use rand_core::{OsRng, RngCore};

/// What the client offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// PSK identity.
    pub identity: Vec<u8>,
    /// PSK.
    pub psk: Vec<u8>,
    /// Cipher suites (IANA ids), in order of preference.
    pub ciphersuites: Vec<u16>,
    /// `Some(cid)`: send the RFC 9146 connection_id extension asking the
    /// server to use `cid` (may be empty) in its records. `None`: no CID.
    pub connection_id: Option<Vec<u8>>,
    /// Path MTU for Mbed TLS's fragmentation.
    pub mtu: u16,
}

/// An Mbed TLS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerError {
    /// The Mbed TLS error code (negative).
    pub code: i32,
    /// Which call.
    pub during: &'static str,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: -0x{:04x}", self.during, -self.code)
    }
}

impl std::error::Error for PeerError {}

fn check(code: c_int, during: &'static str) -> Result<(), PeerError> {
    if code == 0 {
        Ok(())
    } else {
        Err(PeerError { code, during })
    }
}

/// The queues and clock the callbacks see.
#[derive(Default)]
struct Io {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
    now_ms: u64,
    /// Absolute deadlines of Mbed TLS's DTLS timer; `None`: cancelled.
    timer: Option<(u64, u64)>,
}

/// The Mbed TLS client.
pub struct MbedtlsClient {
    ssl: Box<sys::mbedtls_ssl_context>,
    conf: Box<sys::mbedtls_ssl_config>,
    drbg: Box<sys::mbedtls_ctr_drbg_context>,
    io: Box<Io>,
    /// Zero-terminated; Mbed TLS keeps the pointer, so it lives as long as `conf`.
    ciphersuites: Box<[c_int]>,
    established: bool,
    received: VecDeque<Vec<u8>>,
}

impl std::fmt::Debug for MbedtlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbedtlsClient")
            .field("established", &self.established)
            .finish_non_exhaustive()
    }
}

impl Drop for MbedtlsClient {
    fn drop(&mut self) {
        // SAFETY: the three objects were initialised in `new` and are freed once.
        unsafe {
            sys::mbedtls_ssl_free(&mut *self.ssl);
            sys::mbedtls_ssl_config_free(&mut *self.conf);
            sys::mbedtls_ctr_drbg_free(&mut *self.drbg);
        }
    }
}

unsafe extern "C" fn bio_send(ctx: *mut c_void, buf: *const c_uchar, len: usize) -> c_int {
    // SAFETY: ctx is the boxed `Io` registered in `new`; buf/len come from Mbed TLS.
    let io = unsafe { &mut *(ctx as *mut Io) };
    let data = unsafe { std::slice::from_raw_parts(buf, len) };
    io.outgoing.push_back(data.to_vec());
    c_int::try_from(len).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn bio_recv(ctx: *mut c_void, buf: *mut c_uchar, len: usize) -> c_int {
    // SAFETY: as in `bio_send`.
    let io = unsafe { &mut *(ctx as *mut Io) };
    let Some(d) = io.incoming.pop_front() else {
        return sys::MBEDTLS_ERR_SSL_WANT_READ;
    };
    let n = d.len().min(len);
    let out = unsafe { std::slice::from_raw_parts_mut(buf, n) };
    out.copy_from_slice(d.get(..n).unwrap_or_default());
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

/// `mbedtls_timing_set_delay` semantics: `fin_ms == 0` cancels.
unsafe extern "C" fn timer_set(ctx: *mut c_void, int_ms: u32, fin_ms: u32) {
    // SAFETY: as in `bio_send`.
    let io = unsafe { &mut *(ctx as *mut Io) };
    io.timer =
        (fin_ms != 0).then(|| (io.now_ms + u64::from(int_ms), io.now_ms + u64::from(fin_ms)));
}

/// -1 cancelled, 0 running, 1 intermediate delay passed, 2 final delay passed.
unsafe extern "C" fn timer_get(ctx: *mut c_void) -> c_int {
    // SAFETY: as in `bio_send`.
    let io = unsafe { &*(ctx as *const Io) };
    match io.timer {
        None => -1,
        Some((_, fin)) if io.now_ms >= fin => 2,
        Some((int, _)) if io.now_ms >= int => 1,
        Some(_) => 0,
    }
}

/// Entropy for the CTR-DRBG: the OS CSPRNG (the build has no platform
/// entropy source of its own).
unsafe extern "C" fn entropy(_ctx: *mut c_void, out: *mut c_uchar, len: usize) -> c_int {
    // SAFETY: out/len come from Mbed TLS.
    let buf = unsafe { std::slice::from_raw_parts_mut(out, len) };
    OsRng.fill_bytes(buf);
    0
}

/// Randomness for PSA crypto, which this Mbed TLS build takes from outside
/// (`MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG`); `mbedtls-rs-sys` leaves it to us.
///
/// # Safety
/// Called by Mbed TLS with a writable buffer of `output_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn mbedtls_psa_external_get_random(
    _context: *mut sys::mbedtls_psa_external_random_context_t,
    output: *mut u8,
    output_size: usize,
    output_length: *mut usize,
) -> sys::psa_status_t {
    // SAFETY: see the function's contract.
    let buf = unsafe { std::slice::from_raw_parts_mut(output, output_size) };
    OsRng.fill_bytes(buf);
    unsafe { *output_length = output_size };
    0
}

impl MbedtlsClient {
    /// Configures the client; the first flight is produced by the first
    /// [`step`](Self::step).
    pub fn new(config: &PeerConfig) -> Result<Self, PeerError> {
        // SAFETY: plain C structs that Mbed TLS expects zeroed before `*_init`.
        let mut client = unsafe {
            Self {
                ssl: Box::new(std::mem::zeroed()),
                conf: Box::new(std::mem::zeroed()),
                drbg: Box::new(std::mem::zeroed()),
                io: Box::default(),
                ciphersuites: config
                    .ciphersuites
                    .iter()
                    .map(|s| c_int::from(*s))
                    .chain([0])
                    .collect(),
                established: false,
                received: VecDeque::new(),
            }
        };
        let io_ptr = &mut *client.io as *mut Io as *mut c_void;
        // SAFETY: every pointer is to an object owned (boxed) by `client`,
        // which outlives the Mbed TLS context that keeps them.
        unsafe {
            check(sys::psa_crypto_init(), "psa_crypto_init")?;
            sys::mbedtls_ssl_init(&mut *client.ssl);
            sys::mbedtls_ssl_config_init(&mut *client.conf);
            sys::mbedtls_ctr_drbg_init(&mut *client.drbg);
            let pers = b"lwm2m-dtls test peer";
            check(
                sys::mbedtls_ctr_drbg_seed(
                    &mut *client.drbg,
                    Some(entropy),
                    std::ptr::null_mut(),
                    pers.as_ptr(),
                    pers.len(),
                ),
                "mbedtls_ctr_drbg_seed",
            )?;
            check(
                sys::mbedtls_ssl_config_defaults(
                    &mut *client.conf,
                    sys::MBEDTLS_SSL_IS_CLIENT as c_int,
                    sys::MBEDTLS_SSL_TRANSPORT_DATAGRAM as c_int,
                    sys::MBEDTLS_SSL_PRESET_DEFAULT as c_int,
                ),
                "mbedtls_ssl_config_defaults",
            )?;
            sys::mbedtls_ssl_conf_rng(
                &mut *client.conf,
                Some(sys::mbedtls_ctr_drbg_random),
                &mut *client.drbg as *mut _ as *mut c_void,
            );
            sys::mbedtls_ssl_conf_ciphersuites(&mut *client.conf, client.ciphersuites.as_ptr());
            check(
                sys::mbedtls_ssl_conf_psk(
                    &mut *client.conf,
                    config.psk.as_ptr(),
                    config.psk.len(),
                    config.identity.as_ptr(),
                    config.identity.len(),
                ),
                "mbedtls_ssl_conf_psk",
            )?;
            if let Some(cid) = &config.connection_id {
                check(
                    sys::mbedtls_ssl_conf_cid(
                        &mut *client.conf,
                        cid.len(),
                        sys::MBEDTLS_SSL_UNEXPECTED_CID_IGNORE as c_int,
                    ),
                    "mbedtls_ssl_conf_cid",
                )?;
            }
            sys::mbedtls_ssl_conf_handshake_timeout(&mut *client.conf, 1000, 60_000);
            check(
                sys::mbedtls_ssl_setup(&mut *client.ssl, &*client.conf),
                "mbedtls_ssl_setup",
            )?;
            sys::mbedtls_ssl_set_bio(
                &mut *client.ssl,
                io_ptr,
                Some(bio_send),
                Some(bio_recv),
                None,
            );
            sys::mbedtls_ssl_set_timer_cb(
                &mut *client.ssl,
                io_ptr,
                Some(timer_set),
                Some(timer_get),
            );
            sys::mbedtls_ssl_set_mtu(&mut *client.ssl, config.mtu);
            if let Some(cid) = &config.connection_id {
                check(
                    sys::mbedtls_ssl_set_cid(
                        &mut *client.ssl,
                        sys::MBEDTLS_SSL_CID_ENABLED as c_int,
                        cid.as_ptr(),
                        cid.len(),
                    ),
                    "mbedtls_ssl_set_cid",
                )?;
            }
        }
        Ok(client)
    }

    /// A datagram from the server.
    pub fn handle_datagram(&mut self, datagram: &[u8]) {
        self.io.incoming.push_back(datagram.to_vec());
    }

    /// Next datagram for the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.io.outgoing.pop_front()
    }

    /// When [`step`](Self::step) should run again at the latest (ms), if a
    /// DTLS timer is armed.
    pub fn next_timeout_ms(&self) -> Option<u64> {
        self.io.timer.map(|(int, _)| int)
    }

    /// Runs Mbed TLS at `now_ms`: the handshake (incl. retransmissions)
    /// until established, then reads application data. Returns whether the
    /// handshake is complete.
    pub fn step(&mut self, now_ms: u64) -> Result<bool, PeerError> {
        self.io.now_ms = now_ms;
        if !self.established {
            // SAFETY: `ssl` was set up in `new`.
            let r = unsafe { sys::mbedtls_ssl_handshake(&mut *self.ssl) };
            match r {
                0 => self.established = true,
                sys::MBEDTLS_ERR_SSL_WANT_READ | sys::MBEDTLS_ERR_SSL_WANT_WRITE => {
                    return Ok(false)
                }
                code => {
                    return Err(PeerError {
                        code,
                        during: "mbedtls_ssl_handshake",
                    })
                }
            }
        }
        let mut buf = vec![0u8; 2048];
        loop {
            // SAFETY: `buf` is writable for its length.
            let r = unsafe { sys::mbedtls_ssl_read(&mut *self.ssl, buf.as_mut_ptr(), buf.len()) };
            match usize::try_from(r) {
                Ok(n) if n > 0 => self
                    .received
                    .push_back(buf.get(..n).unwrap_or_default().to_vec()),
                _ if r == sys::MBEDTLS_ERR_SSL_WANT_READ
                    || r == sys::MBEDTLS_ERR_SSL_WANT_WRITE =>
                {
                    return Ok(true)
                }
                _ => {
                    return Err(PeerError {
                        code: r,
                        during: "mbedtls_ssl_read",
                    })
                }
            }
        }
    }

    /// Sends application data in one record.
    pub fn send(&mut self, data: &[u8]) -> Result<(), PeerError> {
        // SAFETY: `data` is readable for its length.
        let r = unsafe { sys::mbedtls_ssl_write(&mut *self.ssl, data.as_ptr(), data.len()) };
        if usize::try_from(r).ok() == Some(data.len()) {
            Ok(())
        } else {
            Err(PeerError {
                code: r,
                during: "mbedtls_ssl_write",
            })
        }
    }

    /// Application data received so far, oldest first.
    pub fn recv(&mut self) -> Option<Vec<u8>> {
        self.received.pop_front()
    }

    /// The CID the server asked us to put in our records (RFC 9146), once
    /// the handshake negotiated one.
    pub fn server_cid(&mut self) -> Option<Vec<u8>> {
        let mut enabled: c_int = 0;
        let mut cid = [0u8; 32];
        let mut len: usize = 0;
        // SAFETY: the out-parameters are writable; `cid` has room for the
        // largest CID Mbed TLS supports by default (32).
        let r = unsafe {
            sys::mbedtls_ssl_get_peer_cid(&mut *self.ssl, &mut enabled, cid.as_mut_ptr(), &mut len)
        };
        (r == 0 && enabled == sys::MBEDTLS_SSL_CID_ENABLED as c_int)
            .then(|| cid.get(..len).unwrap_or_default().to_vec())
    }

    /// The negotiated suite's Mbed TLS name.
    pub fn ciphersuite(&self) -> String {
        // SAFETY: Mbed TLS returns a static string or null.
        let name = unsafe { sys::mbedtls_ssl_get_ciphersuite(&*self.ssl) };
        if name.is_null() {
            return String::new();
        }
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    }

    /// Sends close_notify.
    pub fn close_notify(&mut self) {
        // SAFETY: `ssl` was set up in `new`.
        let _ = unsafe { sys::mbedtls_ssl_close_notify(&mut *self.ssl) };
    }
}
