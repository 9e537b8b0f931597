//! Wall-clock time in milliseconds since the Unix epoch, for the
//! `created_at_ms`/`updated_at_ms` columns. Only the service layer reads the
//! clock; repositories store what they are given, so tests can pass fixed times.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
