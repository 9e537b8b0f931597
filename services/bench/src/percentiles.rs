//! Latency percentiles by the nearest-rank method: the p-th percentile of n
//! sorted samples is the sample at rank ⌈p·n⌉. It never interpolates, so
//! every reported figure is a latency that was actually observed, and a p999
//! of fewer than 1,000 samples is honestly the maximum.

use std::time::Duration;

use serde::Serialize;

/// The figures a latency distribution is reported with, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The sample at rank ⌈q·n⌉ of `sorted` (ascending); `None` when empty or
/// `q` is outside (0, 1].
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    let n = sorted.len();
    // The epsilon keeps 0.99 * 100 = 99.00000000000001 from becoming rank 100.
    let rank = ((q * n as f64) - 1e-9).ceil().max(1.0) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

/// Summarizes `samples` (sorted in place); `None` when there are none.
pub fn summarize(samples: &mut [Duration]) -> Option<LatencySummary> {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total: f64 = samples.iter().map(|d| d.as_secs_f64()).sum();
    Some(LatencySummary {
        count: samples.len(),
        p50_ms: ms(percentile(samples, 0.50)?),
        p99_ms: ms(percentile(samples, 0.99)?),
        p999_ms: ms(percentile(samples, 0.999)?),
        max_ms: ms(*samples.last()?),
        mean_ms: total * 1000.0 / samples.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_on_one_to_a_hundred() {
        let sorted: Vec<_> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.50), Some(ms(50)));
        assert_eq!(percentile(&sorted, 0.99), Some(ms(99)));
        assert_eq!(
            percentile(&sorted, 0.999),
            Some(ms(100)),
            "p999 of 100 is the max"
        );
        assert_eq!(percentile(&sorted, 1.0), Some(ms(100)));
        assert_eq!(percentile(&sorted, 0.001), Some(ms(1)));
    }

    #[test]
    fn p999_of_ten_thousand_is_the_tenth_largest() {
        let sorted: Vec<_> = (1..=10_000).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.999), Some(ms(9_990)));
        assert_eq!(percentile(&sorted, 0.99), Some(ms(9_900)));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[ms(7)], 0.5), Some(ms(7)));
        assert_eq!(percentile(&[ms(7)], 0.0), None);
        assert_eq!(percentile(&[ms(7)], 1.5), None);
        assert!(summarize(&mut []).is_none());
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut samples = vec![ms(30), ms(10), ms(20)];
        let s = summarize(&mut samples).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (20.0, 30.0, 30.0));
        assert!((s.mean_ms - 20.0).abs() < 1e-9);
    }
}
