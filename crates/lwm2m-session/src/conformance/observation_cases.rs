//! Conformance cases: observations and notification bookkeeping.

use std::sync::Arc;

use super::{sample_observation, sample_registration, Harness};
use crate::error::SessionError;
use crate::observation::Freshness;

/// Add, list, match by token (from any node), remove.
pub async fn observation_lifecycle(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let other_node = h.open().await;
    let reg = sample_registration("watched", 1_000);
    s.register(reg.clone()).await.unwrap();

    let single = sample_observation(&reg, &[1, 2, 3]);
    let mut composite = sample_observation(&reg, &[4]);
    composite.composite = true;
    composite.paths = vec!["/3/0/9".into(), "/3303/0/5700".into()];
    let empty_token = sample_observation(&reg, &[]);
    for o in [&single, &composite, &empty_token] {
        s.add_observation(o.clone()).await.unwrap();
    }
    // Adding again with the same token replaces, it does not duplicate.
    s.add_observation(single.clone()).await.unwrap();

    let mut all = other_node.observations("watched").await.unwrap();
    all.sort_by(|a, b| a.token.cmp(&b.token));
    assert_eq!(
        all,
        vec![empty_token.clone(), single.clone(), composite.clone()]
    );

    assert_eq!(
        other_node.observation_by_token(&[1, 2, 3]).await.unwrap(),
        Some(single.clone())
    );
    assert_eq!(
        other_node.observation_by_token(&[4]).await.unwrap(),
        Some(composite.clone())
    );
    assert_eq!(
        other_node.observation_by_token(&[]).await.unwrap(),
        Some(empty_token)
    );
    assert_eq!(
        other_node.observation_by_token(&[9, 9]).await.unwrap(),
        None
    );

    assert_eq!(
        other_node
            .remove_observation("watched", &[1, 2, 3])
            .await
            .unwrap(),
        Some(single)
    );
    assert_eq!(s.observation_by_token(&[1, 2, 3]).await.unwrap(), None);
    assert_eq!(
        s.remove_observation("watched", &[1, 2, 3]).await.unwrap(),
        None
    );
    assert_eq!(s.remove_observation("nobody", &[4]).await.unwrap(), None);
    assert_eq!(s.observations("watched").await.unwrap().len(), 2);
    assert!(s.observations("nobody").await.unwrap().is_empty());
}

/// An observation must belong to the endpoint's current registration.
pub async fn observation_requires_current_registration(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let old = sample_registration("dev", 1_000);
    let not_registered =
        |r: Result<(), SessionError>| matches!(r, Err(SessionError::NotRegistered { .. }));

    assert!(not_registered(
        s.add_observation(sample_observation(&old, &[1])).await
    ));
    s.register(old.clone()).await.unwrap();
    let current = sample_registration("dev", 2_000);
    s.register(current.clone()).await.unwrap();
    // An Observe sent under the previous registration arrives late.
    assert!(not_registered(
        s.add_observation(sample_observation(&old, &[1])).await
    ));
    assert_eq!(s.observation_by_token(&[1]).await.unwrap(), None);
    assert!(s.observations("dev").await.unwrap().is_empty());
    s.add_observation(sample_observation(&current, &[1]))
        .await
        .unwrap();
}

/// Tokens are matched cluster-wide, so two endpoints cannot share one.
pub async fn token_is_unique_across_endpoints(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let a = sample_registration("a", 1_000);
    let b = sample_registration("b", 1_000);
    s.register(a.clone()).await.unwrap();
    s.register(b.clone()).await.unwrap();
    s.add_observation(sample_observation(&a, &[7; 8]))
        .await
        .unwrap();
    assert!(matches!(
        s.add_observation(sample_observation(&b, &[7; 8])).await,
        Err(SessionError::TokenInUse { endpoint, .. }) if endpoint == "a"
    ));
    s.remove_observation("a", &[7; 8]).await.unwrap();
    s.add_observation(sample_observation(&b, &[7; 8]))
        .await
        .unwrap();
    assert_eq!(
        s.observation_by_token(&[7; 8])
            .await
            .unwrap()
            .unwrap()
            .endpoint,
        "b"
    );
}

/// RFC 7641 freshness is decided on shared state: a notification recorded
/// by one node makes an older one arriving at another node stale.
pub async fn notification_freshness_is_shared(h: Arc<dyn Harness>) {
    let a = h.open().await;
    let b = h.open().await;
    let reg = sample_registration("sensor", 1_000);
    a.register(reg.clone()).await.unwrap();
    let obs = sample_observation(&reg, &[5, 5]);
    a.add_observation(obs.clone()).await.unwrap();

    assert_eq!(
        a.record_notification("sensor", &[5, 5], 10, 2_000)
            .await
            .unwrap(),
        Some(Freshness::Fresh)
    );
    assert_eq!(
        b.record_notification("sensor", &[5, 5], 9, 2_001)
            .await
            .unwrap(),
        Some(Freshness::Stale)
    );
    assert_eq!(
        b.record_notification("sensor", &[5, 5], 10, 2_002)
            .await
            .unwrap(),
        Some(Freshness::Stale)
    );
    assert_eq!(
        b.record_notification("sensor", &[5, 5], 11, 2_003)
            .await
            .unwrap(),
        Some(Freshness::Fresh)
    );
    // 128 s later anything is fresh again (the device may have rebooted).
    assert_eq!(
        a.record_notification("sensor", &[5, 5], 1, 200_000)
            .await
            .unwrap(),
        Some(Freshness::Fresh)
    );

    let now = a.observation_by_token(&[5, 5]).await.unwrap().unwrap();
    assert_eq!(now.last_seq, Some(1));
    assert_eq!(now.last_notification_ms, Some(200_000));
    assert_eq!(now.paths, obs.paths);
    assert_eq!(
        a.record_notification("sensor", &[6], 1, 1).await.unwrap(),
        None
    );
    assert_eq!(
        a.record_notification("nobody", &[5, 5], 1, 1)
            .await
            .unwrap(),
        None
    );
}

/// One observation per device and path: a second Observe of an observed
/// path gets the existing observation back and stores nothing, also when
/// several nodes race; other paths, the other kind (composite) and a path
/// whose observation ended are observed anew.
pub async fn an_observed_path_is_observed_once(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let other_node = h.open().await;
    let reg = sample_registration("watched-once", 1_000);
    s.register(reg.clone()).await.unwrap();

    let first = sample_observation(&reg, &[1]);
    assert_eq!(
        s.add_observation_unless_observed(first.clone())
            .await
            .unwrap(),
        None
    );
    let reused = other_node
        .add_observation_unless_observed(sample_observation(&reg, &[2]))
        .await
        .unwrap();
    assert_eq!(reused, Some(first.clone()));
    assert_eq!(s.observations("watched-once").await.unwrap(), vec![first]);
    assert_eq!(
        s.observation_by_token(&[2]).await.unwrap(),
        None,
        "the refused token left no index entry"
    );

    let mut other_path = sample_observation(&reg, &[3]);
    other_path.paths = vec!["/3/0/13".into()];
    let mut composite = sample_observation(&reg, &[4]);
    composite.composite = true;
    for added in [other_path, composite.clone()] {
        assert_eq!(
            s.add_observation_unless_observed(added).await.unwrap(),
            None
        );
    }
    let mut same_composite = composite.clone();
    same_composite.token = vec![5];
    assert_eq!(
        s.add_observation_unless_observed(same_composite)
            .await
            .unwrap(),
        Some(composite)
    );
    assert_eq!(s.observations("watched-once").await.unwrap().len(), 3);

    // Nodes racing to observe one path: one adds, the rest reuse it.
    let racers: Vec<_> = (10u8..18)
        .map(|token| {
            let store = if token % 2 == 0 {
                s.clone()
            } else {
                other_node.clone()
            };
            let mut o = sample_observation(&reg, &[token]);
            o.paths = vec!["/1/0/1".into()];
            tokio::spawn(async move { store.add_observation_unless_observed(o).await })
        })
        .collect();
    let mut added = Vec::new();
    let mut reused_tokens = Vec::new();
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            None => added.push(()),
            Some(existing) => reused_tokens.push(existing.token),
        }
    }
    assert_eq!(added.len(), 1, "exactly one racer adds");
    let stored: Vec<_> = s
        .observations("watched-once")
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.paths == ["/1/0/1"])
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(reused_tokens.iter().all(|t| *t == stored[0].token));

    // Once the observation ended, the path is observed anew.
    s.remove_observation("watched-once", &[1]).await.unwrap();
    assert_eq!(
        s.add_observation_unless_observed(sample_observation(&reg, &[2]))
            .await
            .unwrap(),
        None
    );
    assert!(s.observation_by_token(&[2]).await.unwrap().is_some());

    // The registration rule still holds.
    let newer = sample_registration("watched-once", 2_000);
    s.register(newer).await.unwrap();
    assert!(matches!(
        s.add_observation_unless_observed(sample_observation(&reg, &[6]))
            .await,
        Err(SessionError::NotRegistered { .. })
    ));
}
