//! Adopting a dead node's id, so its devices carry on without a handshake
//! even when no node with that id comes back soon (a crashed pod that
//! stays down, a scaled-down StatefulSet, a leased id nobody restarts).
//!
//! A record whose Connection ID names a node with no lease reaches some
//! live node (`Route::Gone`). Once such records have kept coming for a
//! lease TTL (a node restarting in a rolling update is back sooner, and
//! takes its parked sessions itself), that node claims the dead id's lease
//! as an *adoption* (`Member::adopted`), with its own forwarding address, so the
//! other nodes forward that id's records to it. It takes the id's parked
//! and reserved sessions and imports them (reserved ones a block ahead of
//! their last reservation, so no sequence number is reused), and renews
//! the adopted lease with its own.
//!
//! When the id's own node is back, its claim takes the adopted lease over
//! at once and it takes the reservations the adopter kept writing. The
//! adopter's next renewal fails: it hands the sessions over (forgets them
//! without sending anything). Until then it may still write, but only
//! below the limits it had confirmed, which the returning node starts
//! above; and it can confirm no new limit, since reservation writes check
//! the lease.
//!
//! On a graceful stop the adopter parks the adopted sessions under their
//! id and releases the adopted lease, like its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lwm2m_session::Member;
use tokio::sync::{mpsc, watch};

use super::parking::{Parking, Taken};
use crate::clock::now_ms;

/// What an adoption task tells the DTLS task.
#[derive(Debug)]
pub(crate) enum Adoption {
    /// The lease on `node_id` is ours: import these sessions.
    Adopted { node_id: u8, taken: Taken },
    /// The lease on `node_id` is gone (its own node is back, or it lapsed
    /// and another node has it): hand its sessions over.
    Lost { node_id: u8 },
}

/// Starts adoptions and remembers which ids this node holds for others.
pub(crate) struct Adopter {
    parking: Parking,
    /// This node's lease record: the adopted ones are copies of it.
    me: Member,
    ttl: Duration,
    heartbeat: Duration,
    /// Per id: since when records for it have found no member, and when
    /// the last one did.
    gone: HashMap<u8, (Instant, Instant)>,
    /// Last attempt per id: one try per heartbeat at most.
    tried: HashMap<u8, Instant>,
    /// Ids held for dead nodes.
    held: std::collections::BTreeSet<u8>,
    tx: mpsc::UnboundedSender<Adoption>,
    stop: watch::Receiver<bool>,
}

impl Adopter {
    pub(crate) fn new(
        parking: Parking,
        me: Member,
        ttl: Duration,
        heartbeat: Duration,
        stop: watch::Receiver<bool>,
    ) -> (Self, mpsc::UnboundedReceiver<Adoption>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let adopter = Adopter {
            parking,
            me,
            ttl,
            heartbeat,
            gone: HashMap::new(),
            tried: HashMap::new(),
            held: std::collections::BTreeSet::new(),
            tx,
            stop,
        };
        (adopter, rx)
    }

    /// A record named `node_id` and it has no lease: adopts it once that
    /// has lasted a lease TTL, trying at most once per heartbeat.
    pub(crate) fn try_adopt(&mut self, node_id: u8, now: Instant) {
        if node_id == self.me.node_id || self.held.contains(&node_id) {
            return;
        }
        let (since, last) = self.gone.entry(node_id).or_insert((now, now));
        if now.duration_since(*last) > self.ttl.saturating_mul(4) {
            // Records for it stopped for a while (longer than a device's
            // retransmission gaps): a new outage.
            *since = now;
        }
        *last = now;
        if now.duration_since(*since) < self.ttl {
            return;
        }
        if self
            .tried
            .get(&node_id)
            .is_some_and(|at| now.duration_since(*at) < self.heartbeat)
        {
            return;
        }
        self.tried.insert(node_id, now);
        let member = Member {
            node_id,
            adopted: true,
            ..self.me.clone()
        };
        tokio::spawn(adopt(
            self.parking.clone(),
            member,
            self.ttl,
            self.heartbeat,
            self.tx.clone(),
            self.stop.clone(),
        ));
    }

    /// The DTLS task imported an adopted id's sessions.
    pub(crate) fn adopted(&mut self, node_id: u8) {
        self.held.insert(node_id);
        self.gone.remove(&node_id);
    }

    /// The DTLS task handed an id's sessions over.
    pub(crate) fn lost(&mut self, node_id: u8) {
        self.held.remove(&node_id);
    }

    /// Ids held for dead nodes.
    pub(crate) fn held(&self) -> impl Iterator<Item = u8> + '_ {
        self.held.iter().copied()
    }

    /// Gives the adopted ids up (at the end of a graceful stop, after their
    /// sessions were parked).
    pub(crate) async fn release_all(&self) {
        for node_id in &self.held {
            if let Err(e) = self.parking.store.release(*node_id, &self.me.holder).await {
                tracing::warn!(node_id, error = %e, "adopted node id not released; it lapses with its TTL");
            }
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Claims the dead id, hands its sessions to the DTLS task, then renews
/// the lease until it is lost or the node stops.
async fn adopt(
    parking: Parking,
    member: Member,
    ttl: Duration,
    heartbeat: Duration,
    tx: mpsc::UnboundedSender<Adoption>,
    mut stop: watch::Receiver<bool>,
) {
    let node_id = member.node_id;
    // The CID byte naming a dead node is not authenticated: forged records
    // could name every free id. Only an id with sessions to serve is
    // adopted (and an adopted id never keeps a new node from its own:
    // `claim_any` takes adopted leases over when no id is free).
    match parking.store.has_dtls_sessions(node_id, now_ms()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(node_id, "no sessions under a dead node id; not adopted");
            return;
        }
        Err(e) => {
            tracing::warn!(node_id, error = %e, "dead node id not adopted");
            return;
        }
    }
    match parking.store.claim(&member, ms(ttl), now_ms()).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(node_id, error = %e, "dead node id not adopted");
            return;
        }
    }
    let taken = parking.take(node_id).await;
    tracing::info!(
        node_id,
        parked = taken.parked.len(),
        reserved = taken.reserved.len(),
        "adopted the node id of a dead node"
    );
    if tx.send(Adoption::Adopted { node_id, taken }).is_err() {
        return;
    }
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // The DTLS task parks the sessions, then releases the lease.
            () = crate::stop::stopped(&mut stop) => return,
        }
        match parking
            .store
            .renew(node_id, &member.holder, ms(ttl), now_ms())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(node_id, "adopted node id taken back; its sessions go");
                let _ = tx.send(Adoption::Lost { node_id });
                return;
            }
            // Redis away: keep trying; the lease may still be ours.
            Err(e) => tracing::warn!(node_id, error = %e, "adopted node id lease not renewed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lwm2m_session::{ClusterStore, MemoryCluster};

    use super::*;

    fn member(node_id: u8, holder: &str, adopted: bool) -> Member {
        Member {
            node_id,
            holder: holder.into(),
            grpc_addr: "127.0.0.1:1".into(),
            forward_addr: "127.0.0.1:2".into(),
            adopted,
        }
    }

    /// Finding 3: forged records naming a free id without sessions make no
    /// node adopt it; an id with parked sessions is adopted.
    #[tokio::test]
    async fn only_ids_with_sessions_are_adopted() {
        let store: Arc<dyn ClusterStore> = Arc::new(MemoryCluster::new());
        let parking = Parking {
            store: Arc::clone(&store),
            node_id: 1,
            holder: "me".into(),
            ttl: Duration::from_secs(60),
            block: Some(64),
        };
        let ttl = Duration::from_secs(10);
        let (stop_tx, stop) = watch::channel(false);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let adopter = member(5, "me", true);
        adopt(
            parking.clone(),
            adopter.clone(),
            ttl,
            ttl / 4,
            tx.clone(),
            stop.clone(),
        )
        .await;
        assert!(
            store.members(now_ms()).await.unwrap().is_empty(),
            "not claimed"
        );
        assert!(rx.try_recv().is_err());

        // A node that held 5 parked its sessions and is gone.
        assert!(store
            .claim(&member(5, "dead", false), 60_000, now_ms())
            .await
            .unwrap());
        assert!(store
            .park_dtls_sessions(5, "dead", vec![b"blob".to_vec()], 60_000, now_ms())
            .await
            .unwrap());
        store.release(5, "dead").await.unwrap();
        let task = tokio::spawn(adopt(parking, adopter, ttl, ttl / 4, tx, stop));
        match rx.recv().await.unwrap() {
            Adoption::Adopted { node_id, taken } => {
                assert_eq!((node_id, taken.parked), (5, vec![b"blob".to_vec()]));
            }
            other => panic!("{other:?}"),
        }
        let _ = stop_tx.send(true);
        task.await.unwrap();
    }
}
