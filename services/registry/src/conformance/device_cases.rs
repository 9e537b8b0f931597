//! Devices: CRUD and paging, every credential mode, uniqueness across
//! tenants, the transport's lookups with their change events, and
//! concurrent writers.

use std::sync::Arc;

use futures::StreamExt;
use lwm2m_proto::registry::v1::registry_change::Change;

use super::fixtures::{nosec, psk, tenant};
use super::{open, Harness};
use crate::device::credentials::{decode_der, MAX_CERTIFICATE_LEN, MAX_PUBLIC_KEY_LEN};
use crate::device::{Credentials, DeviceFilter, DeviceSettings};
use crate::error::Error;
use crate::ids::Scope;
use crate::lookup::RegistryLookup;
use crate::models::ModelKey;
use crate::profile::ProfileConfig;

/// The RPK of the ThingsBoard guide (P-256 SubjectPublicKeyInfo, base64).
pub const RPK_BASE64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdvBZZ2vQRK9wgDhctj6B1c7bxR3Z0wYg1+YdoYFnVUKWb+rIfTTyYK9tmQJx5Vlb5fxdLnVv1RJOPiwsLIQbAA==";

/// Structurally a certificate (SEQUENCE of SEQUENCE); enough for storage.
pub const FAKE_CERT_DER: &[u8] = &[0x30, 0x08, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

pub async fn device_lifecycle_and_paging(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    let profile = reg
        .create_profile(
            acme.clone(),
            "p".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    for i in 0..7 {
        let mut d = nosec(&acme, &format!("acme-{i:02}"));
        d.name = format!("Meter {i}");
        d.profile_id = (i % 2 == 0).then(|| profile.id.clone());
        d.settings = DeviceSettings {
            registration_lifetime_s: Some(300),
            binding_mode: Some("UQ".into()),
            ..DeviceSettings::default()
        };
        reg.create_device(d).await.unwrap();
    }
    reg.create_device(nosec(&other, "other-00")).await.unwrap();

    let d = reg.device_by_endpoint("acme-03").await.unwrap();
    assert_eq!((d.name.as_str(), d.revision), ("Meter 3", 1));
    assert_eq!(d.settings.registration_lifetime_s, Some(300));
    assert_eq!(reg.get_device(&d.id).await.unwrap(), d);
    let unnamed = reg.device_by_endpoint("other-00").await.unwrap();
    assert_eq!(
        unnamed.name, "other-00",
        "an empty name becomes the endpoint"
    );

    let list = |filter: DeviceFilter, token: String, size| {
        let reg = reg.clone();
        async move { reg.list_devices(&filter, &token, size).await.unwrap() }
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    let acme_only = DeviceFilter {
        tenant: Some(acme.clone()),
        ..DeviceFilter::default()
    };
    loop {
        let page = list(acme_only.clone(), token, 3).await;
        seen.extend(page.items.iter().map(|d| d.endpoint.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..7).map(|i| format!("acme-{i:02}")).collect();
    assert_eq!(seen, expected);
    let with_profile = list(
        DeviceFilter {
            profile: Some(profile.id.clone()),
            ..DeviceFilter::default()
        },
        String::new(),
        100,
    )
    .await;
    assert_eq!(with_profile.items.len(), 4);
    let by_name = list(
        DeviceFilter {
            name_contains: Some("METER 5".into()),
            ..DeviceFilter::default()
        },
        String::new(),
        100,
    )
    .await;
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(by_name.items[0].endpoint, "acme-05");
    assert_eq!(
        list(DeviceFilter::default(), String::new(), 100)
            .await
            .items
            .len(),
        8
    );

    let updated = reg
        .update_device(&d.id, Some(1), |d| {
            d.name = "Renamed".into();
            d.profile_id = None;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((updated.revision, updated.name.as_str()), (2, "Renamed"));
    assert_eq!(updated.created_at_ms, d.created_at_ms);
    let stale = reg
        .update_device(&d.id, Some(1), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::RevisionMismatch { .. }), "{stale}");
    let foreign = reg
        .update_device(&d.id, None, |d| {
            d.profile_id = Some(profile.id.clone());
            d.tenant_id = other.clone();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(foreign.tenant_id, acme, "the tenant cannot be changed");
    let bad = reg
        .update_device(&d.id, None, |d| {
            d.endpoint = String::new();
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(bad.field_errors()[0].field, "endpoint");
    let other_profile = reg
        .create_profile(
            other.clone(),
            "q".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    let cross = reg
        .update_device(&d.id, None, |d| {
            d.profile_id = Some(other_profile.id.clone());
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(cross.field_errors()[0].field, "device.profile_id");

    let deleted = reg.delete_device(&d.id).await.unwrap();
    assert_eq!(deleted.endpoint, "acme-03");
    assert!(matches!(
        reg.get_device(&d.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        reg.delete_device(&d.id).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn credentials_of_every_mode(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let rpk = decode_der(RPK_BASE64.as_bytes(), MAX_PUBLIC_KEY_LEN, "public key").unwrap();
    let cert = decode_der(FAKE_CERT_DER, MAX_CERTIFICATE_LEN, "certificate").unwrap();
    let cases = [
        ("nosec", Credentials::NoSec, None),
        ("psk", psk("psk-id", 1), Some(psk("bs-psk-id", 2))),
        ("rpk", Credentials::Rpk { public_key: rpk }, None),
        (
            "x509-chain",
            Credentials::X509 { certificate: None },
            Some(Credentials::X509 { certificate: None }),
        ),
        (
            "x509-cert",
            Credentials::X509 {
                certificate: Some(cert),
            },
            None,
        ),
    ];
    for (endpoint, credentials, bootstrap) in cases {
        let mut d = nosec(&acme, endpoint);
        d.credentials = credentials.clone();
        d.bootstrap_credentials = bootstrap.clone();
        reg.create_device(d).await.unwrap();
        let stored = reg.device_by_endpoint(endpoint).await.unwrap();
        assert_eq!(stored.credentials, credentials, "{endpoint}");
        assert_eq!(stored.bootstrap_credentials, bootstrap, "{endpoint}");
    }
    // Switching modes frees the PSK identity for others.
    let psk_device = reg.device_by_endpoint("psk").await.unwrap();
    reg.update_device(&psk_device.id, None, |d| {
        d.credentials = Credentials::NoSec;
        Ok(())
    })
    .await
    .unwrap();
    let mut d = nosec(&acme, "psk-2");
    d.credentials = psk("psk-id", 3);
    reg.create_device(d).await.unwrap();
}

pub async fn duplicates_are_refused_across_tenants(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    let mut first = nosec(&acme, "shared-ep");
    first.credentials = psk("id-1", 1);
    first.bootstrap_credentials = Some(psk("bs-1", 2));
    reg.create_device(first).await.unwrap();

    let same_endpoint = reg
        .create_device(nosec(&other, "shared-ep"))
        .await
        .unwrap_err();
    assert!(matches!(same_endpoint, Error::AlreadyExists { .. }));
    assert_eq!(
        same_endpoint.to_string(),
        "endpoint \"shared-ep\" already exists"
    );

    let mut same_psk = nosec(&other, "ep-2");
    same_psk.credentials = psk("id-1", 3);
    let err = reg.create_device(same_psk).await.unwrap_err();
    assert_eq!(err.to_string(), "PSK identity \"id-1\" already exists");

    let mut same_bs = nosec(&other, "ep-3");
    same_bs.bootstrap_credentials = Some(psk("bs-1", 4));
    let err = reg.create_device(same_bs).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "bootstrap PSK identity \"bs-1\" already exists"
    );

    assert!(reg
        .list_devices(
            &DeviceFilter {
                tenant: Some(other.clone()),
                ..DeviceFilter::default()
            },
            "",
            10
        )
        .await
        .unwrap()
        .items
        .is_empty());

    let mover = reg.create_device(nosec(&other, "ep-4")).await.unwrap();
    let err = reg
        .update_device(&mover.id, None, |d| {
            d.endpoint = "shared-ep".into();
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "endpoint \"shared-ep\" already exists");
    assert_eq!(reg.get_device(&mover.id).await.unwrap().revision, 1);
}

pub async fn lookups_and_change_events(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let mut changes = reg.changes();
    let mut d = nosec(&acme, "meter-1");
    d.credentials = psk("meter-1-id", 7);
    d.bootstrap_credentials = Some(psk("meter-1-bs", 8));
    let created = reg.create_device(d).await.unwrap();

    let found = reg.lookup_endpoint("meter-1").await.unwrap().unwrap();
    assert_eq!(found.device, created);
    assert_eq!(found.tenant.id, acme);
    let key = reg.lookup_psk("meter-1-id").await.unwrap().unwrap();
    assert_eq!(
        (key.endpoint.as_str(), key.key.expose()),
        ("meter-1", &[7u8; 16][..])
    );
    let bs = reg
        .lookup_bootstrap_psk("meter-1-bs")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bs.key.expose(), &[8u8; 16]);
    assert!(reg.lookup_endpoint("nobody").await.unwrap().is_none());
    assert!(reg.lookup_psk("meter-1-bs").await.unwrap().is_none());

    reg.update_device(&created.id, None, |d| {
        d.endpoint = "meter-1b".into();
        d.credentials = psk("meter-1-id2", 9);
        Ok(())
    })
    .await
    .unwrap();
    assert!(reg.lookup_psk("meter-1-id").await.unwrap().is_none());
    assert!(reg.lookup_endpoint("meter-1").await.unwrap().is_none());
    reg.delete_device(&created.id).await.unwrap();
    let profile = reg
        .create_profile(
            acme.clone(),
            "p".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    assert_eq!(*reg.profile(&profile.id).await.unwrap().unwrap(), profile);
    reg.import_models(
        Scope::Tenant(acme.clone()),
        vec![super::fixtures::ddf(40600, "1.0", "X", &[])],
        false,
    )
    .await
    .unwrap();
    let models = reg.models(&acme).await.unwrap();
    assert!(models.get(40600, None).is_some() && models.get(3, None).is_some());

    let mut kinds = Vec::new();
    for _ in 0..5 {
        let change = changes.next().await.unwrap().unwrap();
        kinds.push(change.change.unwrap());
    }
    let Change::DeviceChanged(c) = &kinds[0] else {
        panic!("{kinds:?}")
    };
    assert_eq!(
        (c.endpoint.as_str(), c.previous_endpoint.as_str()),
        ("meter-1", "")
    );
    let Change::DeviceChanged(c) = &kinds[1] else {
        panic!("{kinds:?}")
    };
    assert_eq!(
        (
            c.endpoint.as_str(),
            c.previous_endpoint.as_str(),
            c.previous_psk_identity.as_str(),
            c.revision
        ),
        ("meter-1b", "meter-1", "meter-1-id", 2)
    );
    let Change::DeviceDeleted(c) = &kinds[2] else {
        panic!("{kinds:?}")
    };
    assert_eq!(
        (c.endpoint.as_str(), c.psk_identity.as_str()),
        ("meter-1b", "meter-1-id2")
    );
    let Change::ProfileChanged(c) = &kinds[3] else {
        panic!("{kinds:?}")
    };
    assert_eq!(
        (c.profile_id.as_str(), c.revision),
        (profile.id.as_str(), 1)
    );
    let Change::ModelsChanged(c) = &kinds[4] else {
        panic!("{kinds:?}")
    };
    assert_eq!(
        (c.models[0].object_id, c.models[0].version.as_str()),
        (40600, "1.0")
    );

    let unknown = RegistryLookup::record_announced_objects(
        &reg,
        &acme,
        "meter-1b",
        &[ModelKey {
            object_id: 40601,
            version: lwm2m_core::Version::V1_0,
        }],
    )
    .await
    .unwrap();
    assert_eq!(unknown.len(), 1);
}

pub async fn concurrent_writers_all_succeed(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (reg, acme) = (reg.clone(), acme.clone());
        tasks.push(tokio::spawn(async move {
            let mut d = nosec(&acme, &format!("c-{i:02}"));
            d.credentials = psk(&format!("c-id-{i}"), 1);
            reg.create_device(d).await.map(|_| ())?;
            reg.create_profile(
                acme,
                format!("p-{i}"),
                String::new(),
                ProfileConfig::default(),
            )
            .await
            .map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let all = reg
        .list_devices(&DeviceFilter::default(), "", 100)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 24);
}
