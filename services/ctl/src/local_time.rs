//! Event times as people read them: RFC 3339 in the local time zone with
//! milliseconds (`2026-12-07T17:03:12.345+01:00`). `--json` keeps the
//! epoch milliseconds, which scripts compute with.

use chrono::{DateTime, Local, SecondsFormat, TimeZone};

/// `ms` (Unix epoch milliseconds) in the local time zone.
pub fn rfc3339_local(ms: i64) -> String {
    rfc3339_in(ms, &Local)
}

/// Out-of-range times (a corrupt event) print as the number they are.
fn rfc3339_in<Tz: TimeZone>(ms: i64, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match DateTime::from_timestamp_millis(ms) {
        Some(utc) => utc
            .with_timezone(zone)
            .to_rfc3339_opts(SecondsFormat::Millis, false),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;

    use super::*;

    /// 2026-12-07T16:03:12.345Z.
    const MS: i64 = 1_796_659_392_345;

    #[test]
    fn milliseconds_and_the_offset_are_printed() {
        let cet = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(rfc3339_in(MS, &cet), "2026-12-07T17:03:12.345+01:00");
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(rfc3339_in(MS, &utc), "2026-12-07T16:03:12.345+00:00");
        let west = FixedOffset::west_opt(5 * 3600 + 1800).unwrap();
        assert_eq!(rfc3339_in(MS, &west), "2026-12-07T10:33:12.345-05:30");
    }

    #[test]
    fn local_time_is_the_same_instant() {
        let printed = rfc3339_local(MS);
        let parsed = DateTime::parse_from_rfc3339(&printed).unwrap();
        assert_eq!(parsed.timestamp_millis(), MS);
    }

    #[test]
    fn an_impossible_time_prints_as_its_number() {
        assert_eq!(rfc3339_local(i64::MAX), i64::MAX.to_string());
    }
}
