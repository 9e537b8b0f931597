//! Conformance cases: the expiry sweep.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{sample_observation, sample_registration, Harness};
use crate::registration::RegistrationUpdate;

/// 4 nodes sweep 200 expired registrations at once, in small batches:
/// every expiry is returned exactly once, and live ones are left alone.
pub async fn expiry_is_claimed_exactly_once(h: Arc<dyn Harness>) {
    let s = h.open().await;
    for i in 0..200 {
        let mut reg = sample_registration(&format!("exp-{i:03}"), 0);
        reg.expires_at_ms = 1_000 + i;
        s.register(reg).await.unwrap();
    }
    for i in 0..10 {
        s.register(sample_registration(&format!("live-{i}"), 1_000_000))
            .await
            .unwrap();
    }

    let mut sweepers = Vec::new();
    for _ in 0..4 {
        let node = h.open().await;
        sweepers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = node.take_expired(100_000, 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                assert!(batch.len() <= 7);
                mine.extend(batch.into_iter().map(|(r, _)| r.endpoint));
            }
        }));
    }
    let mut all = Vec::new();
    for sweeper in sweepers {
        all.extend(sweeper.await.unwrap());
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an expiry was returned twice");
    assert_eq!(all.len(), 200);
    assert!(unique.iter().all(|ep| ep.starts_with("exp-")));

    assert!(s.take_expired(100_000, 1000).await.unwrap().is_empty());
    for i in 0..10 {
        assert!(s
            .get_by_endpoint(&format!("live-{i}"))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(s.get_by_endpoint("exp-000").await.unwrap(), None);
}

/// A registration renewed by an Update before its expiry is not taken,
/// and is taken once the renewed lifetime is over.
pub async fn expiry_spares_renewed_registrations(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let reg = sample_registration("renewed", 0); // expires at 60 000
    s.register(reg.clone()).await.unwrap();
    assert!(
        s.take_expired(59_999, 10).await.unwrap().is_empty(),
        "not due yet"
    );

    let upd = RegistrationUpdate {
        address: reg.address.clone(),
        node_id: "n".into(),
        now_ms: 50_000,
        ..Default::default()
    };
    let (_, new) = s.update(&reg.registration_id, upd).await.unwrap().unwrap();
    assert_eq!(new.expires_at_ms, 110_000);

    assert!(s.take_expired(60_000, 10).await.unwrap().is_empty());
    assert!(s.take_expired(109_999, 10).await.unwrap().is_empty());
    assert!(s.get_by_endpoint("renewed").await.unwrap().is_some());

    // A shorter lifetime moves the expiry earlier, and the sweep follows.
    let upd = RegistrationUpdate {
        lifetime_s: Some(1),
        address: reg.address.clone(),
        node_id: "n".into(),
        now_ms: 60_000,
        ..Default::default()
    };
    let (_, short) = s.update(&reg.registration_id, upd).await.unwrap().unwrap();
    assert_eq!(short.expires_at_ms, 61_000);
    let taken = s.take_expired(61_000, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].0, short);
    assert_eq!(s.get_by_endpoint("renewed").await.unwrap(), None);
    assert_eq!(
        s.get_by_registration_id(&reg.registration_id)
            .await
            .unwrap(),
        None
    );
}

/// An expired registration leaves with its observations and token index.
pub async fn expiry_takes_observations_along(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let reg = sample_registration("sleeper", 0);
    s.register(reg.clone()).await.unwrap();
    let o1 = sample_observation(&reg, &[1]);
    let mut o2 = sample_observation(&reg, &[2]);
    o2.composite = true;
    o2.paths = vec!["/3/0/9".into(), "/1/0/1".into()];
    s.add_observation(o1.clone()).await.unwrap();
    s.add_observation(o2.clone()).await.unwrap();

    let taken = s.take_expired(reg.expires_at_ms, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    let (gone, mut observations) = taken.into_iter().next().unwrap();
    assert_eq!(gone.endpoint, "sleeper");
    observations.sort_by(|a, b| a.token.cmp(&b.token));
    assert_eq!(observations, vec![o1.clone(), o2]);
    assert_eq!(s.observation_by_token(&o1.token).await.unwrap(), None);
    assert!(s.observations("sleeper").await.unwrap().is_empty());
    assert!(s.take_expired(i64::MAX, 10).await.unwrap().is_empty());
}
