//! Per-request knobs for [`crate::CoapEndpoint::send_request`].

use std::time::Duration;

use crate::token::Token;

/// How to send one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// CON (retransmitted until ACKed) or NON. Default CON.
    pub confirmable: bool,
    /// Overall deadline from now, covering retransmissions, all blocks and a
    /// separate response. `None` uses `Config::request_timeout`.
    pub timeout: Option<Duration>,
    /// Register an observation (adds Observe = 0 unless the request already
    /// carries an Observe option).
    pub observe: bool,
    /// Use this token instead of a generated one (e.g. to deregister an
    /// observation with a GET carrying Observe = 1 and the original token).
    pub token: Option<Token>,
    /// Block size for this request's Block1 upload and Block2 download
    /// (power of two in 16..=1024). `None` uses `Config::preferred_block_size`.
    pub block_size: Option<u16>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            confirmable: true,
            timeout: None,
            observe: false,
            token: None,
            block_size: None,
        }
    }
}

impl RequestOptions {
    /// A confirmable request with defaults.
    pub fn con() -> Self {
        Self::default()
    }

    /// A non-confirmable request with defaults.
    pub fn non() -> Self {
        Self {
            confirmable: false,
            ..Self::default()
        }
    }

    /// Sets the overall deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Registers an observation.
    pub fn observe(mut self) -> Self {
        self.observe = true;
        self
    }

    /// Forces the token.
    pub fn with_token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    /// Sets the block size.
    pub fn with_block_size(mut self, size: u16) -> Self {
        self.block_size = Some(size);
        self
    }
}
