//! The balancer lives in `lwm2m_sim::udp_balancer` (the bench uses it too).
// Not every test binary that includes `common` uses it.
#![allow(unused_imports)]
pub use lwm2m_sim::udp_balancer::*;
