//! Wall-clock time for the session store and events. The store never reads a
//! clock itself (it is passed `now_ms`), so this is the only place the
//! transport does; the CoAP endpoint gets `Instant`s from the driver.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch as a float, for SenML time resolution.
pub(crate) fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// SenML seconds (float) to milliseconds, saturating.
pub(crate) fn secs_to_ms(secs: f64) -> i64 {
    // `as` saturates for floats out of range and maps NaN to 0.
    (secs * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_agree_and_convert() {
        let ms = now_ms();
        let secs = now_secs_f64();
        assert!((secs_to_ms(secs) - ms).abs() < 5_000);
        assert_eq!(secs_to_ms(1.5), 1500);
        assert_eq!(secs_to_ms(f64::NAN), 0);
    }
}
