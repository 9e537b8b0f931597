//! Bulk registration from CSV: per-row results, duplicates in the file and
//! in the database, idempotent re-upload, explicit updates, limits.

use std::sync::Arc;

use super::fixtures::{nosec, psk, psk_hex, tenant};
use super::{open, Harness};
use crate::device::{Credentials, DeviceFilter};
use crate::error::Error;
use crate::profile::ProfileConfig;
use crate::service::{CsvReport, CsvRowStatus};

fn statuses(report: &CsvReport) -> Vec<(u64, &str, CsvRowStatus)> {
    report
        .rows
        .iter()
        .map(|r| (r.line, r.endpoint.as_str(), r.status))
        .collect()
}

pub async fn csv_good_and_bad_rows_then_idempotent_reupload(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    let mut taken = nosec(&other, "taken-ep");
    taken.credentials = psk("taken-id", 1);
    reg.create_device(taken).await.unwrap();
    let profile = reg
        .create_profile(
            acme.clone(),
            "meters".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    let (k1, k2, k3) = (psk_hex(0x11), psk_hex(0x22), psk_hex(0x33));
    let csv = format!(
        "endpoint id,securityMode,lwm2m psk_id,lwm2m psk_key,bootstrap psk_id,bootstrap psk_key,lwm2m server uri,registrationLifetime,profile\n\
         good-1,NO_SEC,,,,,coap://lwm2m.example.com:5683,300,meters\n\
         good-2,PSK,psk-good-2,{k1},bs-good-2,{k2},coaps://lwm2m.example.com:5684,,\n\
         bad-key,PSK,psk-bad,0102,,,,,\n\
         good-1,NO_SEC,,,,,,,\n\
         taken-ep,NO_SEC,,,,,,,\n\
         steal-id,PSK,taken-id,{k3},,,,,\n\
         no-profile,NO_SEC,,,,,,,ghost\n\
         \n\
         good-3,NO_SEC,,,,,,,\n"
    );
    let first = reg
        .import_devices_csv(&acme, csv.as_bytes(), None, false)
        .await
        .unwrap();
    use CsvRowStatus::*;
    assert_eq!(
        statuses(&first),
        [
            (2, "good-1", Created),
            (3, "good-2", Created),
            (4, "bad-key", Failed),
            (5, "good-1", Failed),
            (6, "taken-ep", Failed),
            (7, "steal-id", Failed),
            (8, "no-profile", Failed),
            (10, "good-3", Created),
        ]
    );
    let message = |line: u64| {
        first
            .rows
            .iter()
            .find(|r| r.line == line)
            .map(|r| r.message.clone())
            .unwrap()
    };
    assert!(message(4).contains("lwm2m psk_key"), "{}", message(4));
    assert!(message(5).contains("line 2"), "{}", message(5));
    assert_eq!(message(6), "endpoint \"taken-ep\" already exists");
    assert_eq!(message(7), "PSK identity \"taken-id\" already exists");
    assert!(message(8).contains("ghost"), "{}", message(8));
    assert_eq!((first.count(Created), first.count(Failed)), (3, 5));

    let good_1 = reg.device_by_endpoint("good-1").await.unwrap();
    assert_eq!(good_1.profile_id, Some(profile.id.clone()));
    assert_eq!(good_1.settings.registration_lifetime_s, Some(300));
    assert_eq!(good_1.bootstrap_credentials, Some(Credentials::NoSec));
    let good_2 = reg.device_by_endpoint("good-2").await.unwrap();
    assert_eq!(good_2.credentials, psk("psk-good-2", 0x11));
    assert_eq!(good_2.bootstrap_credentials, Some(psk("bs-good-2", 0x22)));

    // The same file again: nothing new, nothing changed, the same failures.
    let second = reg
        .import_devices_csv(&acme, csv.as_bytes(), None, false)
        .await
        .unwrap();
    assert_eq!(
        (
            second.count(Created),
            second.count(Unchanged),
            second.count(Failed)
        ),
        (0, 3, 5)
    );
    let acme_devices = reg
        .list_devices(
            &DeviceFilter {
                tenant: Some(acme.clone()),
                ..DeviceFilter::default()
            },
            "",
            100,
        )
        .await
        .unwrap();
    assert_eq!(acme_devices.items.len(), 3);
    assert_eq!(reg.device_by_endpoint("good-1").await.unwrap(), good_1);
}

pub async fn csv_updates_only_when_asked(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let v1 = "endpoint id;securityMode;registrationLifetime\nm-1;NO_SEC;300\n";
    let v2 = "endpoint id;securityMode;registrationLifetime\nm-1;NO_SEC;600\n";
    reg.import_devices_csv(&acme, v1.as_bytes(), None, false)
        .await
        .unwrap();
    let refused = reg
        .import_devices_csv(&acme, v2.as_bytes(), None, false)
        .await
        .unwrap();
    assert_eq!(refused.rows[0].status, CsvRowStatus::Failed);
    assert!(
        refused.rows[0].message.contains("update_existing"),
        "{:?}",
        refused.rows[0]
    );
    let updated = reg
        .import_devices_csv(&acme, v2.as_bytes(), None, true)
        .await
        .unwrap();
    assert_eq!(updated.rows[0].status, CsvRowStatus::Updated);
    let device = reg.device_by_endpoint("m-1").await.unwrap();
    assert_eq!(
        (device.revision, device.settings.registration_lifetime_s),
        (2, Some(600))
    );
    let again = reg
        .import_devices_csv(&acme, v2.as_bytes(), None, true)
        .await
        .unwrap();
    assert_eq!(again.rows[0].status, CsvRowStatus::Unchanged);
}

pub async fn csv_limits_and_file_faults(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    let limit = reg.limits().max_csv_bytes;
    let mut big = b"endpoint id,securityMode\n".to_vec();
    big.resize(limit + 1, b' ');
    let err = reg
        .import_devices_csv(&acme, &big, None, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");

    let err = reg
        .import_devices_csv(&acme, b"endpoint id,securityMode,colour\n", None, false)
        .await
        .unwrap_err();
    assert_eq!(err.field_errors()[0].field, "csv");
    assert!(err.to_string().contains("colour"), "{err}");

    let foreign = reg
        .create_profile(
            other,
            "theirs".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    let err = reg
        .import_devices_csv(
            &acme,
            b"endpoint id,securityMode\nx,NO_SEC\n",
            Some(&foreign.id),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field_errors()[0].field, "device.profile_id");
    let ghost = super::fixtures::tenant_id("ghost");
    assert!(matches!(
        reg.import_devices_csv(&ghost, b"endpoint id,securityMode\n", None, false)
            .await,
        Err(Error::NotFound { .. })
    ));
}

/// The repository's bulk import on its own (the service filters what the
/// CSV repeats; the repository must still be right when given repeats).
pub async fn bulk_import_repository_contract(h: Arc<dyn Harness>) {
    use crate::device::Device;
    use crate::ids::DeviceId;
    use crate::store::ImportOutcome;

    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    reg.create_device(nosec(&other, "theirs")).await.unwrap();
    let device = |endpoint: &str, identity: Option<&str>| Device {
        id: DeviceId::generate(),
        tenant_id: acme.clone(),
        endpoint: endpoint.into(),
        name: endpoint.into(),
        profile_id: None,
        credentials: identity.map_or(Credentials::NoSec, |i| psk(i, 1)),
        bootstrap_credentials: None,
        settings: Default::default(),
        revision: 1,
        created_at_ms: 1,
        updated_at_ms: 1,
    };
    // More than one transaction's worth, with repeats inside one chunk.
    let mut devices: Vec<Device> = (0..600)
        .map(|i| device(&format!("bulk-{i:03}"), Some(&format!("bulk-id-{i:03}"))))
        .collect();
    devices.insert(1, device("bulk-000", None));
    devices.insert(2, device("bulk-dup-id", Some("bulk-id-000")));
    devices.insert(3, device("theirs", None));
    let outcomes = reg.store().import_devices(&devices, false).await.unwrap();
    assert_eq!(outcomes.len(), devices.len());
    let reason = |i: usize| match &outcomes[i] {
        ImportOutcome::Rejected {
            reason,
            already_exists: true,
        } => reason.clone(),
        other => panic!("row {i}: {other:?}"),
    };
    assert!(reason(1).contains("appears twice"), "{}", reason(1));
    assert_eq!(reason(2), "PSK identity \"bulk-id-000\" already exists");
    assert_eq!(reason(3), "endpoint \"theirs\" already exists");
    let created = outcomes
        .iter()
        .filter(|o| **o == ImportOutcome::Created)
        .count();
    assert_eq!(created, 600);
    let again = reg
        .store()
        .import_devices(&devices[4..], false)
        .await
        .unwrap();
    assert!(
        again.iter().all(|o| *o == ImportOutcome::Unchanged),
        "{:?}",
        &again[..3]
    );
    let stored = reg.device_by_endpoint("bulk-599").await.unwrap();
    assert_eq!(stored.credentials, psk("bulk-id-599", 1));
}
