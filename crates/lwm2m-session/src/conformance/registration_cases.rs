//! Conformance cases: Register, Update, touch, De-register, lookups.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{sample_observation, sample_registration, Harness};
use crate::error::SessionError;
use crate::registration::{ObjectEntry, RegistrationUpdate};
use crate::validate::MAX_ENDPOINT_LEN;
use lwm2m_core::Version;

/// Stored registrations read back by endpoint and by id; revision starts at 1.
pub async fn register_and_lookup(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let reg = sample_registration("urn:imei:490154203237518", 1_000);
    let out = s.register(reg.clone()).await.unwrap();
    assert_eq!(out.replaced, None);
    assert!(out.cancelled_observations.is_empty());

    let mut expected = reg.clone();
    expected.revision = 1;
    assert_eq!(
        s.get_by_endpoint(&reg.endpoint).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        s.get_by_registration_id(&reg.registration_id)
            .await
            .unwrap(),
        Some(expected.clone())
    );
    let got = s.get_by_endpoint(&reg.endpoint).await.unwrap().unwrap();
    assert_eq!(got.object_version(1), Some(Version::V1_1));
    assert_eq!(s.get_by_endpoint("someone-else").await.unwrap(), None);
    assert_eq!(s.get_by_registration_id("nope").await.unwrap(), None);
}

/// A second Register of the same endpoint replaces the first, retires its
/// id and cancels its observations.
pub async fn reregistration_replaces_and_cancels_observations(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let first = sample_registration("dev", 1_000);
    s.register(first.clone()).await.unwrap();
    let obs = sample_observation(&first, &[1, 2, 3, 4]);
    s.add_observation(obs.clone()).await.unwrap();

    let second = sample_registration("dev", 2_000);
    let out = s.register(second.clone()).await.unwrap();
    let replaced = out.replaced.unwrap();
    assert_eq!(replaced.registration_id, first.registration_id);
    assert_eq!(out.cancelled_observations, vec![obs.clone()]);

    let now = s.get_by_endpoint("dev").await.unwrap().unwrap();
    assert_eq!(now.registration_id, second.registration_id);
    assert_eq!(
        now.revision,
        replaced.revision + 1,
        "revision keeps increasing"
    );
    assert_eq!(
        s.get_by_registration_id(&first.registration_id)
            .await
            .unwrap(),
        None
    );
    assert!(s
        .get_by_registration_id(&second.registration_id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.observation_by_token(&obs.token).await.unwrap(), None);
    assert!(s.observations("dev").await.unwrap().is_empty());
    // The old id is dead for Update and De-register too.
    assert_eq!(
        s.update(&first.registration_id, update_at(3_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.deregister(&first.registration_id).await.unwrap(), None);
}

fn update_at(now_ms: i64) -> RegistrationUpdate {
    RegistrationUpdate {
        address: "192.0.2.1:5683".into(),
        node_id: "node-a".into(),
        now_ms,
        ..Default::default()
    }
}

/// Update replaces the fields it carries, keeps the others, renews the
/// lifetime from its own time and bumps the revision.
pub async fn update_applies_fields_and_moves_expiry(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let reg = sample_registration("dev", 1_000);
    s.register(reg.clone()).await.unwrap();

    let objects = [(
        3303u16,
        ObjectEntry {
            version: Version::V1_1,
            instances: vec![0, 1],
        },
    )]
    .into();
    let upd = RegistrationUpdate {
        lifetime_s: Some(300),
        binding: Some("UQ".into()),
        sms: Some("+15550100".into()),
        queue_mode: Some(true),
        objects: Some(objects),
        address: "198.51.100.7:40000".into(),
        node_id: "node-b".into(),
        now_ms: 30_000,
        grace_ms: 2_000,
        ..Default::default()
    };
    let (old, new) = s.update(&reg.registration_id, upd).await.unwrap().unwrap();
    assert_eq!(old.revision, 1);
    assert_eq!(new.revision, 2);
    assert_eq!(new.lifetime_s, 300);
    assert_eq!(new.binding, "UQ");
    assert_eq!(new.sms.as_deref(), Some("+15550100"));
    assert!(new.queue_mode);
    assert_eq!(new.object_version(3303), Some(Version::V1_1));
    assert_eq!(
        new.object_version(3),
        None,
        "a payload replaces the object list"
    );
    assert_eq!(
        new.supported_formats, reg.supported_formats,
        "absent fields are kept"
    );
    assert_eq!(new.address, "198.51.100.7:40000");
    assert_eq!(new.node_id, "node-b");
    assert_eq!(new.registered_at_ms, 1_000);
    assert_eq!(new.last_update_ms, 30_000);
    assert_eq!(new.expires_at_ms, 30_000 + 300_000 + 2_000);
    assert_eq!(s.get_by_endpoint("dev").await.unwrap(), Some(new.clone()));

    // Without lt= the stored lifetime is renewed.
    let (_, again) = s
        .update(&reg.registration_id, update_at(40_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.lifetime_s, 300);
    assert_eq!(again.expires_at_ms, 40_000 + 300_000);
    assert_eq!(again.revision, 3);
}

/// Update of an id nobody issued answers "unknown" (4.04), not an error.
pub async fn update_of_unknown_id_is_none(h: Arc<dyn Harness>) {
    let s = h.open().await;
    assert_eq!(s.update("doesNotExist", update_at(1)).await.unwrap(), None);
    assert_eq!(s.update("../../etc", update_at(1)).await.unwrap(), None);
    assert_eq!(s.update("", update_at(1)).await.unwrap(), None);
    assert_eq!(s.deregister("doesNotExist").await.unwrap(), None);
}

/// 20 concurrent writers from 4 "nodes" (10 touches, 10 updates): every
/// write lands on its own revision, none is lost.
pub async fn concurrent_writers_lose_nothing(h: Arc<dyn Harness>) {
    let nodes = [
        h.open().await,
        h.open().await,
        h.open().await,
        h.open().await,
    ];
    let reg = sample_registration("busy", 1_000);
    nodes[0].register(reg.clone()).await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let s = nodes[i as usize % nodes.len()].clone();
        let id = reg.registration_id.clone();
        tasks.push(tokio::spawn(async move {
            let address = format!("203.0.113.{i}:5683");
            let node = format!("node-{i}");
            let now = 2_000 + i64::from(i);
            if i % 2 == 0 {
                s.touch("busy", &address, &node, now)
                    .await
                    .unwrap()
                    .unwrap()
                    .revision
            } else {
                let upd = RegistrationUpdate {
                    lifetime_s: Some(100 + i),
                    address,
                    node_id: node,
                    now_ms: now,
                    ..Default::default()
                };
                s.update(&id, upd).await.unwrap().unwrap().1.revision
            }
        }));
    }
    let mut revisions = BTreeSet::new();
    for t in tasks {
        assert!(
            revisions.insert(t.await.unwrap()),
            "two writes claimed the same revision"
        );
    }
    assert_eq!(revisions, (2..=21).collect::<BTreeSet<u64>>());

    let last = nodes[1].get_by_endpoint("busy").await.unwrap().unwrap();
    assert_eq!(last.revision, 21);
    assert!(last.address.starts_with("203.0.113."));
    assert!(
        last.lifetime_s > 100 && last.lifetime_s % 2 == 1,
        "lifetime from an update"
    );
}

/// NAT rebinding: any uplink moves the address (and the node that serves
/// the device) without renewing the lifetime; Update moves them too.
pub async fn nat_rebinding_follows_the_device(h: Arc<dyn Harness>) {
    let a = h.open().await;
    let b = h.open().await;
    let reg = sample_registration("roamer", 1_000);
    a.register(reg.clone()).await.unwrap();

    let touched = b
        .touch("roamer", "198.51.100.9:61000", "node-b", 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.address, "198.51.100.9:61000");
    assert_eq!(touched.node_id, "node-b");
    assert_eq!(touched.last_seen_ms, 5_000);
    assert_eq!(touched.expires_at_ms, reg.expires_at_ms);
    assert_eq!(a.get_by_endpoint("roamer").await.unwrap(), Some(touched));

    let upd = RegistrationUpdate {
        address: "198.51.100.9:62000".into(),
        node_id: "node-c".into(),
        now_ms: 9_000,
        ..Default::default()
    };
    let (_, new) = a.update(&reg.registration_id, upd).await.unwrap().unwrap();
    assert_eq!(new.address, "198.51.100.9:62000");
    assert_eq!(
        b.get_by_registration_id(&reg.registration_id)
            .await
            .unwrap()
            .unwrap()
            .node_id,
        "node-c"
    );

    assert_eq!(
        a.touch("stranger", "1.2.3.4:5", "node-a", 1).await.unwrap(),
        None
    );
}

/// De-register returns the registration with its observations and leaves
/// nothing behind.
pub async fn deregister_removes_everything(h: Arc<dyn Harness>) {
    let s = h.open().await;
    let reg = sample_registration("leaver", 1_000);
    s.register(reg.clone()).await.unwrap();
    let obs = sample_observation(&reg, &[9, 9]);
    s.add_observation(obs.clone()).await.unwrap();

    let (gone, observations) = s.deregister(&reg.registration_id).await.unwrap().unwrap();
    assert_eq!(gone.registration_id, reg.registration_id);
    assert_eq!(observations, vec![obs.clone()]);
    assert_eq!(s.get_by_endpoint("leaver").await.unwrap(), None);
    assert_eq!(
        s.get_by_registration_id(&reg.registration_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.observation_by_token(&obs.token).await.unwrap(), None);
    assert!(s.observations("leaver").await.unwrap().is_empty());
    assert_eq!(s.deregister(&reg.registration_id).await.unwrap(), None);
    assert!(
        s.take_expired(i64::MAX, 10).await.unwrap().is_empty(),
        "nothing left to expire"
    );
}

fn invalid<T>(r: Result<T, SessionError>) -> bool {
    matches!(r, Err(SessionError::InvalidInput { .. }))
}

/// Endpoint names are 1..=255 bytes; tokens at most 8 bytes; registration
/// ids come from a safe alphabet.
pub async fn input_limits_are_enforced(h: Arc<dyn Harness>) {
    let s = h.open().await;

    assert!(invalid(s.register(sample_registration("", 0)).await));
    let too_long = "x".repeat(MAX_ENDPOINT_LEN + 1);
    assert!(invalid(s.register(sample_registration(&too_long, 0)).await));
    let longest = "y".repeat(MAX_ENDPOINT_LEN);
    s.register(sample_registration(&longest, 0)).await.unwrap();
    assert!(s.get_by_endpoint(&longest).await.unwrap().is_some());

    let mut bad_id = sample_registration("ok", 0);
    bad_id.registration_id = "a/b".into();
    assert!(invalid(s.register(bad_id).await));

    assert!(invalid(s.get_by_endpoint("").await));
    assert!(invalid(s.get_by_endpoint(&too_long).await));
    assert!(invalid(s.touch("", "a", "n", 0).await));
    assert!(invalid(s.observations("").await));

    let reg = s.get_by_endpoint(&longest).await.unwrap().unwrap();
    assert!(invalid(
        s.add_observation(sample_observation(&reg, &[0; 9])).await
    ));
    assert!(invalid(s.observation_by_token(&[0; 9]).await));
    let mut no_paths = sample_observation(&reg, &[1]);
    no_paths.paths.clear();
    assert!(invalid(s.add_observation(no_paths).await));
    // Lookups by an id that could never exist are just "unknown".
    assert_eq!(s.get_by_registration_id("").await.unwrap(), None);
    assert_eq!(
        s.get_by_registration_id(&"z".repeat(1000)).await.unwrap(),
        None
    );
}

/// A node that starts later (a new store handle) sees everything earlier
/// nodes stored: the nodes themselves hold no state.
pub async fn state_survives_node_restart(h: Arc<dyn Harness>) {
    let reg = sample_registration("survivor", 1_000);
    let obs = sample_observation(&reg, &[0xab, 0xcd]);
    {
        let old_node = h.open().await;
        old_node.register(reg.clone()).await.unwrap();
        old_node.add_observation(obs.clone()).await.unwrap();
        old_node
            .touch("survivor", "192.0.2.99:1", "node-old", 2_000)
            .await
            .unwrap();
    }
    let new_node = h.open().await;
    let got = new_node
        .get_by_registration_id(&reg.registration_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.node_id, "node-old");
    assert_eq!(got.revision, 2);
    assert_eq!(
        new_node.observation_by_token(&obs.token).await.unwrap(),
        Some(obs.clone())
    );
    assert_eq!(
        new_node.list(None, 10).await.unwrap().items,
        vec![got.clone()]
    );
    let (_, new) = new_node
        .update(&reg.registration_id, update_at(3_000))
        .await
        .unwrap()
        .unwrap();
    let expired = new_node.take_expired(new.expires_at_ms, 10).await.unwrap();
    assert_eq!(expired, vec![(new, vec![obs])]);
}
