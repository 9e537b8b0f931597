//! Redis bytes per session: `MEMORY USAGE` summed over every key under the
//! run's prefix (exact for our keys, whoever else uses the server), and the
//! change of `INFO memory`'s `used_memory` (includes allocator overhead, but
//! also anything other clients did meanwhile on a shared Redis).

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;

/// Connects to `url`.
pub async fn connect(url: &str) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(url).with_context(|| format!("bad Redis URL {url}"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("cannot connect to Redis at {url}"))
}

/// `used_memory` from `INFO memory`.
pub async fn used_memory(conn: &mut MultiplexedConnection) -> Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    parse_used_memory(&info).context("no used_memory in INFO memory")
}

fn parse_used_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Keys under `prefix:` and the sum of their `MEMORY USAGE`.
pub async fn usage_under(conn: &mut MultiplexedConnection, prefix: &str) -> Result<(u64, u64)> {
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    let (mut keys_seen, mut bytes) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for k in &keys {
                // SAMPLES 0: look at every element of a collection.
                pipe.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
            }
            let sizes: Vec<Option<u64>> = pipe.query_async(conn).await?;
            keys_seen += keys.len() as u64;
            bytes += sizes.into_iter().flatten().sum::<u64>();
        }
        if next == 0 {
            return Ok((keys_seen, bytes));
        }
        cursor = next;
    }
}

/// Deletes every key under `prefix:` (the run's sessions), returns how many.
pub async fn delete_under(conn: &mut MultiplexedConnection, prefix: &str) -> Result<u64> {
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    let mut deleted = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK").arg(&keys).query_async(conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_used_memory() {
        let info = "# Memory\r\nused_memory:1234567\r\nused_memory_human:1.18M\r\n";
        assert_eq!(parse_used_memory(info), Some(1_234_567));
        assert_eq!(parse_used_memory("# Memory\r\n"), None);
    }
}
