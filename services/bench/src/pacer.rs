//! The open-loop pacer of the RPC scenarios: request i is due at
//! start + i/rate whatever happened before, and its latency counts from
//! when it was due, not from when it was sent, so a server or client that
//! falls behind shows up in the percentiles instead of silently lowering
//! the rate (coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::sync::Semaphore;

/// What one paced run measured.
pub struct Paced {
    /// From due time to answer, one per request, in request order.
    pub latencies: Vec<Duration>,
    /// From the first due time to the last answer.
    pub elapsed: Duration,
}

/// Sends `total` requests at `rate` per second, at most `max_in_flight` at
/// once (waiting for a slot counts as latency). `request(i)` performs the
/// i-th request and checks its answer: `Err` says what was wrong. Any
/// wrong answer fails the run, naming how many and the first one, because
/// a latency of broken work is not a figure.
pub async fn paced<F, Fut>(
    what: &str,
    rate: u64,
    total: u64,
    max_in_flight: usize,
    mut request: F,
) -> Result<Paced>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate.max(1) as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let answer = request(i);
        tasks.push(tokio::spawn(async move {
            let outcome = answer.await;
            let done = Instant::now();
            drop(permit);
            outcome.map(|()| (done, done.saturating_duration_since(due)))
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut last = start;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok((done, latency)) => {
                last = last.max(done);
                latencies.push(latency);
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(first) = errors.first() {
        bail!(
            "{what} at {rate}/s: {} of {total} requests failed; first: {first}",
            errors.len()
        );
    }
    Ok(Paced {
        latencies,
        elapsed: last.saturating_duration_since(start),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_paced_and_failures_fail_the_run() {
        let ok = paced("t", 1000, 20, 4, |_| async { Ok(()) }).await.unwrap();
        assert_eq!(ok.latencies.len(), 20);
        // 20 requests at 1,000/s: the last is due after 19 ms.
        assert!(ok.elapsed >= Duration::from_millis(19), "{:?}", ok.elapsed);
        let err = paced("t", 1000, 5, 4, |i| async move {
            if i % 2 == 0 {
                Err(format!("bad {i}"))
            } else {
                Ok(())
            }
        })
        .await
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("3 of 5 requests failed; first: bad 0"),
            "{err}"
        );
    }
}
