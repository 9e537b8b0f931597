//! Node-id leases, membership and parked DTLS sessions ([`ClusterStore`]).
//! Leases expire by the backend's own clock (Redis TTLs), so these cases
//! pass the wall clock as `now_ms` and really wait where a lease must lapse.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cluster::Member;

use super::Harness;

const TTL_MS: i64 = 10_000;

fn wall_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn member(node_id: u8, holder: &str) -> Member {
    Member {
        node_id,
        holder: holder.to_owned(),
        grpc_addr: format!("10.0.0.{node_id}:50051"),
        forward_addr: format!("10.0.0.{node_id}:5690"),
        adopted: false,
    }
}

fn adopting(node_id: u8, holder: &str) -> Member {
    Member {
        adopted: true,
        ..member(node_id, holder)
    }
}

pub async fn node_ids_are_never_held_twice(h: Arc<dyn Harness>) {
    let (a, b) = (h.open_cluster().await, h.open_cluster().await);
    let now = wall_ms();
    assert!(a.claim(&member(7, "a"), TTL_MS, now).await.unwrap());
    assert!(!b.claim(&member(7, "b"), TTL_MS, now).await.unwrap());
    // Claiming again as the holder is a renewal; renewing as another is not.
    assert!(a.claim(&member(7, "a"), TTL_MS, now).await.unwrap());
    assert!(a.renew(7, "a", TTL_MS, now).await.unwrap());
    assert!(!b.renew(7, "b", TTL_MS, now).await.unwrap());
    // Nobody renews an id nobody holds.
    assert!(!b.renew(8, "b", TTL_MS, now).await.unwrap());
    assert_eq!(b.members(now).await.unwrap(), vec![member(7, "a")]);
    // Only the holder releases.
    b.release(7, "b").await.unwrap();
    assert!(!b.claim(&member(7, "b"), TTL_MS, now).await.unwrap());
    a.release(7, "a").await.unwrap();
    assert!(b.members(now).await.unwrap().is_empty());
    assert!(b.claim(&member(7, "b"), TTL_MS, now).await.unwrap());
    assert_eq!(a.members(now).await.unwrap(), vec![member(7, "b")]);
}

pub async fn racing_nodes_get_distinct_ids(h: Arc<dyn Harness>) {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = h.open_cluster().await;
        tasks.push(tokio::spawn(async move {
            let holder = format!("node-{i}");
            let id = store
                .claim_any(&member(0, &holder), TTL_MS, wall_ms())
                .await
                .unwrap()
                .expect("256 ids for 12 nodes");
            (id, holder)
        }));
    }
    let mut ids = BTreeSet::new();
    let mut expected = Vec::new();
    for task in tasks {
        let (id, holder) = task.await.unwrap();
        assert!(ids.insert(id), "node id {id} handed out twice");
        expected.push(member(id, &holder));
    }
    let store = h.open_cluster().await;
    let mut members = store.members(wall_ms()).await.unwrap();
    members.sort_by_key(|m| m.node_id);
    expected.sort_by_key(|m| m.node_id);
    // claim_any records the id it gave, with the caller's addresses.
    for (m, e) in members.iter().zip(&expected) {
        assert_eq!((m.node_id, &m.holder), (e.node_id, &e.holder));
    }
    assert_eq!(members.len(), 12);
}

pub async fn a_lapsed_lease_can_be_taken(h: Arc<dyn Harness>) {
    let (a, b) = (h.open_cluster().await, h.open_cluster().await);
    assert!(a.claim(&member(3, "a"), 300, wall_ms()).await.unwrap());
    assert!(!b.claim(&member(3, "b"), TTL_MS, wall_ms()).await.unwrap());
    // The holder stops its heartbeat (crash): the lease lapses.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(b.members(wall_ms()).await.unwrap().is_empty());
    assert!(!a.renew(3, "a", TTL_MS, wall_ms()).await.unwrap());
    assert!(b.claim(&member(3, "b"), TTL_MS, wall_ms()).await.unwrap());
    // The old holder, back, cannot take it over.
    assert!(!a.claim(&member(3, "a"), TTL_MS, wall_ms()).await.unwrap());
}

pub async fn parked_sessions_go_to_the_next_holder_once(h: Arc<dyn Harness>) {
    let (a, b) = (h.open_cluster().await, h.open_cluster().await);
    let now = wall_ms();
    for id in [5, 6] {
        assert!(a.claim(&member(id, "a"), TTL_MS, now).await.unwrap());
    }
    assert!(a
        .park_dtls_sessions(5, "a", vec![b"old".to_vec()], TTL_MS, now)
        .await
        .unwrap());
    // Parking again replaces: a node parks all it has, each time.
    let blobs = vec![vec![0u8, 1, 2, 255], Vec::new(), b"second".to_vec()];
    assert!(a
        .park_dtls_sessions(5, "a", blobs.clone(), TTL_MS, now)
        .await
        .unwrap());
    // Only the lease holder parks: a node that lost its id may hold
    // sessions another node has carried on with.
    assert!(!b
        .park_dtls_sessions(5, "b", vec![b"stale".to_vec()], TTL_MS, now)
        .await
        .unwrap());
    assert!(!b
        .park_dtls_sessions(4, "b", vec![b"no lease".to_vec()], TTL_MS, now)
        .await
        .unwrap());
    // Sessions are per node id: another id sees none of them.
    assert!(b.take_dtls_sessions(4, now).await.unwrap().is_empty());
    assert_eq!(b.take_dtls_sessions(5, now).await.unwrap(), blobs);
    assert!(b.take_dtls_sessions(5, now).await.unwrap().is_empty());
    // Parking nothing leaves nothing; parked sessions lapse with their TTL.
    assert!(a
        .park_dtls_sessions(6, "a", Vec::new(), TTL_MS, now)
        .await
        .unwrap());
    assert!(b.take_dtls_sessions(6, now).await.unwrap().is_empty());
    assert!(a
        .park_dtls_sessions(6, "a", vec![b"x".to_vec()], 300, wall_ms())
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(b.take_dtls_sessions(6, wall_ms()).await.unwrap().is_empty());
    // A whole node's sessions park at once.
    let many: Vec<Vec<u8>> = (0..5_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert!(a
        .park_dtls_sessions(5, "a", many.clone(), TTL_MS, wall_ms())
        .await
        .unwrap());
    assert_eq!(b.take_dtls_sessions(5, wall_ms()).await.unwrap(), many);
}

pub async fn reservations_are_written_only_by_the_lease_holder(h: Arc<dyn Harness>) {
    let (a, b) = (h.open_cluster().await, h.open_cluster().await);
    let now = wall_ms();
    assert!(a.claim(&member(7, "a"), TTL_MS, now).await.unwrap());
    // Storing again for one session replaces its blob (the newest
    // reservation is the one a successor must start above).
    for (key, blob) in [
        (&b"cid-1"[..], &b"first"[..]),
        (b"cid-1", b"newer"),
        (&[0, 255], &[9, 9]),
        (b"closed", b"gone"),
    ] {
        assert!(a
            .store_dtls_reservation(7, "a", key, blob.to_vec(), now)
            .await
            .unwrap());
    }
    a.drop_dtls_reservation(7, "a", b"closed", now)
        .await
        .unwrap();
    // Not the holder: neither written nor dropped.
    assert!(!b
        .store_dtls_reservation(7, "b", b"cid-1", b"intruder".to_vec(), now)
        .await
        .unwrap());
    b.drop_dtls_reservation(7, "b", &[0, 255], now)
        .await
        .unwrap();
    assert!(!b
        .store_dtls_reservation(8, "a", b"cid-1", b"no lease".to_vec(), now)
        .await
        .unwrap());
    let mut taken = b.take_dtls_reservations(7).await.unwrap();
    taken.sort();
    assert_eq!(taken, vec![vec![9, 9], b"newer".to_vec()]);
    assert!(b.take_dtls_reservations(7).await.unwrap().is_empty());
    assert!(b.take_dtls_reservations(8).await.unwrap().is_empty());
    // Parking leaves the reservations (the exact parked blobs win at import).
    assert!(a
        .store_dtls_reservation(7, "a", b"cid-2", b"reserved".to_vec(), now)
        .await
        .unwrap());
    assert!(a
        .park_dtls_sessions(7, "a", vec![b"exact".to_vec()], TTL_MS, now)
        .await
        .unwrap());
    assert_eq!(
        b.take_dtls_reservations(7).await.unwrap(),
        vec![b"reserved".to_vec()]
    );
    // A lapsed lease writes nothing either.
    assert!(a.claim(&member(9, "a"), 300, wall_ms()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!a
        .store_dtls_reservation(9, "a", b"late", b"x".to_vec(), wall_ms())
        .await
        .unwrap());
}

pub async fn an_adopted_id_goes_back_to_its_own_node(h: Arc<dyn Harness>) {
    let (a, b, c) = (
        h.open_cluster().await,
        h.open_cluster().await,
        h.open_cluster().await,
    );
    let now = wall_ms();
    // b adopts the dead node's id 4 (free now); another adopter cannot
    // take it from b.
    assert!(b.claim(&adopting(4, "b"), TTL_MS, now).await.unwrap());
    assert!(!c.claim(&adopting(4, "c"), TTL_MS, now).await.unwrap());
    let listed = a.members(now).await.unwrap();
    assert!(listed
        .iter()
        .any(|m| m.node_id == 4 && m.adopted && m.holder == "b"));
    assert!(b.renew(4, "b", TTL_MS, now).await.unwrap());
    // Node 4 itself is back: it takes its id at once, and b's renewal
    // fails from then on.
    assert!(a.claim(&member(4, "a"), TTL_MS, now).await.unwrap());
    assert!(!b.renew(4, "b", TTL_MS, now).await.unwrap());
    assert!(!b
        .store_dtls_reservation(4, "b", b"cid", b"late".to_vec(), now)
        .await
        .unwrap());
    // An own lease is not taken over, by an adopter or another own claim.
    assert!(!b.claim(&adopting(4, "b"), TTL_MS, now).await.unwrap());
    assert!(!c.claim(&member(4, "c"), TTL_MS, now).await.unwrap());
}

/// Issue 16 finding 3: a record naming a node id is not authenticated, so a
/// node adopts only ids with sessions to serve; and adoptions, however
/// many, never keep a new node from an id of its own.
pub async fn adoptions_neither_starve_new_nodes_nor_take_empty_ids(h: Arc<dyn Harness>) {
    let (a, b) = (h.open_cluster().await, h.open_cluster().await);
    let now = wall_ms();
    // Nothing parked or reserved: not worth adopting.
    assert!(!b.has_dtls_sessions(3, now).await.unwrap());
    assert!(a.claim(&member(3, "a"), TTL_MS, now).await.unwrap());
    assert!(a
        .park_dtls_sessions(3, "a", vec![b"s".to_vec()], TTL_MS, now)
        .await
        .unwrap());
    assert!(b.has_dtls_sessions(3, now).await.unwrap());
    b.take_dtls_sessions(3, now).await.unwrap();
    assert!(!b.has_dtls_sessions(3, now).await.unwrap());
    assert!(a
        .store_dtls_reservation(3, "a", b"key", b"r".to_vec(), now)
        .await
        .unwrap());
    assert!(b.has_dtls_sessions(3, now).await.unwrap());
    assert!(!b.has_dtls_sessions(4, now).await.unwrap());
    b.take_dtls_reservations(3).await.unwrap();
    assert!(!b.has_dtls_sessions(3, now).await.unwrap());
    a.release(3, "a").await.unwrap();

    // Every id held, all but one as adoptions by b.
    for id in 0..=u8::MAX {
        let lease = if id == 0 {
            member(0, "own")
        } else {
            adopting(id, "b")
        };
        assert!(b.claim(&lease, TTL_MS, now).await.unwrap(), "id {id}");
    }
    // A new node still gets an id: the lowest adopted one.
    assert_eq!(
        a.claim_any(&member(0, "new"), TTL_MS, now).await.unwrap(),
        Some(1)
    );
    assert!(!b.renew(1, "b", TTL_MS, now).await.unwrap());
    // Another adopter does not pre-empt an adoption.
    assert_eq!(
        a.claim_any(&adopting(0, "c"), TTL_MS, now).await.unwrap(),
        None
    );
}
