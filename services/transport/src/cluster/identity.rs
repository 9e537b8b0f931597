//! The node id lease: taken at start, renewed by a heartbeat, released at
//! stop. A node that loses its lease (a pause longer than the TTL, Redis
//! flushed) stops: two live nodes with one id would issue colliding
//! Connection IDs, and while the lease was not ours another node may have
//! taken our sessions over (`cluster::adoption`), so ours are stale.

use std::sync::Arc;
use std::time::Duration;

use lwm2m_session::{ClusterStore, Member};
use tokio::sync::watch;

use super::{ClusterConfig, NodeIdSource};
use crate::clock::now_ms;
use crate::error::Error;

/// The ordinal of a StatefulSet pod from its hostname.
pub(crate) fn ordinal(hostname: &str) -> Result<u8, Error> {
    let digits = hostname.rsplit('-').next().unwrap_or_default();
    let bad = || {
        Error::Config(format!(
            "node id from the StatefulSet ordinal: hostname {hostname:?} does not end in -<0..255>"
        ))
    };
    if digits.is_empty()
        || digits.len() == hostname.len()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    digits.parse::<u8>().map_err(|_| bad())
}

/// A held lease.
#[derive(Clone)]
pub(crate) struct Lease {
    store: Arc<dyn ClusterStore>,
    member: Member,
    ttl_ms: i64,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Settles the node id: `configured` for a fixed id, the hostname's
/// ordinal, or the lowest free id; with a cluster store, holds its lease.
/// A fixed or ordinal id still held by another node (a crashed
/// predecessor's lease has not lapsed yet) is waited for, up to one TTL.
pub(crate) async fn acquire(
    config: &ClusterConfig,
    configured: u8,
    store: Option<&Arc<dyn ClusterStore>>,
    grpc_addr: &str,
    forward_addr: &str,
) -> Result<(u8, Option<Lease>), Error> {
    let wanted = match &config.node_id_source {
        NodeIdSource::Fixed => Some(configured),
        NodeIdSource::Ordinal { hostname } => Some(ordinal(hostname)?),
        NodeIdSource::Lease => None,
    };
    let Some(store) = store else {
        return match wanted {
            Some(id) => Ok((id, None)),
            None => Err(Error::Config(
                "a leased node id needs the cluster store (storage.sessions on Redis)".into(),
            )),
        };
    };
    let ttl_ms = ms(config.lease_ttl);
    let mut member = Member {
        node_id: wanted.unwrap_or(0),
        holder: uuid::Uuid::new_v4().simple().to_string(),
        grpc_addr: grpc_addr.to_owned(),
        forward_addr: forward_addr.to_owned(),
        adopted: false,
    };
    let unavailable = |e: lwm2m_session::SessionError| Error::Config(format!("cluster store: {e}"));
    match wanted {
        None => {
            let id = store
                .claim_any(&member, ttl_ms, now_ms())
                .await
                .map_err(unavailable)?
                .ok_or_else(|| Error::Config("all 256 node ids are held by live nodes".into()))?;
            member.node_id = id;
        }
        Some(id) => {
            let give_up = tokio::time::Instant::now() + config.lease_ttl + config.heartbeat;
            while !store
                .claim(&member, ttl_ms, now_ms())
                .await
                .map_err(unavailable)?
            {
                if tokio::time::Instant::now() >= give_up {
                    let holder = store
                        .members(now_ms())
                        .await
                        .ok()
                        .and_then(|m| m.into_iter().find(|m| m.node_id == id))
                        .map(|m| m.grpc_addr)
                        .unwrap_or_else(|| "another node".into());
                    return Err(Error::Config(format!(
                        "node id {id} is held by the live node at {holder}; give each node its own id"
                    )));
                }
                tokio::time::sleep(config.heartbeat.min(Duration::from_secs(1))).await;
            }
        }
    }
    tracing::info!(node_id = member.node_id, holder = %member.holder, "node id lease taken");
    Ok((
        member.node_id,
        Some(Lease {
            store: Arc::clone(store),
            member,
            ttl_ms,
        }),
    ))
}

impl Lease {
    /// The lease record (this node's membership).
    pub(crate) fn member(&self) -> &Member {
        &self.member
    }

    /// Renews the lease every `every` until `stop`; on a lost lease that
    /// cannot be taken back, stops the node through `stop_node`.
    pub(crate) async fn heartbeat(
        self,
        every: Duration,
        mut stop: watch::Receiver<bool>,
        stop_node: impl FnOnce(),
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = crate::stop::stopped(&mut stop) => return,
            }
            let id = self.member.node_id;
            match self
                .store
                .renew(id, &self.member.holder, self.ttl_ms, now_ms())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    // Not taken again even if free: while it was not ours,
                    // another node may have taken this id's sessions over
                    // and carried them on, and ours are stale now (their
                    // sequence numbers could repeat that node's). A restart
                    // takes the id and the sessions from the store afresh.
                    tracing::error!(
                        node_id = id,
                        "node id lease lost (lapsed or taken over): stopping"
                    );
                    stop_node();
                    return;
                }
                Err(e) => tracing::warn!(node_id = id, error = %e, "node id lease not renewed"),
            }
        }
    }

    /// Gives the id up (at the end of a graceful stop).
    pub(crate) async fn release(&self) {
        if let Err(e) = self
            .store
            .release(self.member.node_id, &self.member.holder)
            .await
        {
            tracing::warn!(node_id = self.member.node_id, error = %e, "node id lease not released; it lapses with its TTL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_the_hostname_suffix() {
        assert_eq!(ordinal("lwm2m-transport-0").unwrap(), 0);
        assert_eq!(ordinal("lwm2m-transport-17").unwrap(), 17);
        for bad in ["lwm2m-transport", "transport-256", "x-", "7", "a-b-1x", ""] {
            assert!(ordinal(bad).is_err(), "{bad:?}");
        }
    }

    fn fixed() -> ClusterConfig {
        ClusterConfig {
            lease_ttl: Duration::from_millis(400),
            heartbeat: Duration::from_millis(100),
            ..ClusterConfig::default()
        }
    }

    #[tokio::test]
    async fn a_taken_fixed_id_is_refused_after_waiting_one_ttl() {
        let store: Arc<dyn ClusterStore> = Arc::new(lwm2m_session::MemoryCluster::new());
        let (id, first) = acquire(&fixed(), 4, Some(&store), "a:1", "").await.unwrap();
        assert_eq!(id, 4);
        let (stop_tx, stop) = watch::channel(false);
        let beat = tokio::spawn(first.clone().unwrap().heartbeat(
            Duration::from_millis(100),
            stop,
            || {},
        ));
        let e = acquire(&fixed(), 4, Some(&store), "b:1", "")
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("node id 4 is held by the live node at a:1"),
            "{e}"
        );
        // Once the first node stops renewing, its id is free after the TTL.
        let _ = stop_tx.send(true);
        beat.await.unwrap();
        let (id, _) = acquire(&fixed(), 4, Some(&store), "b:1", "").await.unwrap();
        assert_eq!(id, 4);
    }

    #[tokio::test]
    async fn a_lost_lease_stops_the_node_even_if_the_id_is_free_again() {
        let store: Arc<dyn ClusterStore> = Arc::new(lwm2m_session::MemoryCluster::new());
        let (_, lease) = acquire(&fixed(), 4, Some(&store), "a:1", "").await.unwrap();
        let lease = lease.unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        let beat = tokio::spawn(lease.clone().heartbeat(
            Duration::from_millis(100),
            stop,
            move || {
                let _ = stopped_tx.send(());
            },
        ));
        // The lease goes (as when it lapses during a long pause).
        store.release(4, &lease.member().holder).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), stopped)
            .await
            .expect("the node is stopped")
            .unwrap();
        beat.await.unwrap();
        assert!(
            store.members(now_ms()).await.unwrap().is_empty(),
            "not taken again"
        );
    }

    #[tokio::test]
    async fn leased_ids_are_distinct_and_released() {
        let store: Arc<dyn ClusterStore> = Arc::new(lwm2m_session::MemoryCluster::new());
        let config = ClusterConfig {
            node_id_source: NodeIdSource::Lease,
            ..fixed()
        };
        let (a, lease_a) = acquire(&config, 0, Some(&store), "a:1", "").await.unwrap();
        let (b, _) = acquire(&config, 0, Some(&store), "b:1", "").await.unwrap();
        assert_eq!((a, b), (0, 1));
        lease_a.unwrap().release().await;
        let (c, _) = acquire(&config, 0, Some(&store), "c:1", "").await.unwrap();
        assert_eq!(c, 0);
        // Without a store only a configured id makes sense.
        assert!(acquire(&config, 0, None, "d:1", "").await.is_err());
        assert_eq!(acquire(&fixed(), 9, None, "d:1", "").await.unwrap().0, 9);
    }
}
