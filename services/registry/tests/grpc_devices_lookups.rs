//! The device half of the gRPC surface end to end: tenants, devices and
//! credentials (keys never in answers or listings), duplicates across
//! tenants, CSV bulk registration, the lookup service, change streams and
//! the transport's `GrpcLookup` client — on SQLite and PostgreSQL, through
//! a real tonic server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::device_profile_service_client::DeviceProfileServiceClient;
use lwm2m_proto::registry::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::registry::v1::registry_lookup_service_client::RegistryLookupServiceClient;
use lwm2m_proto::registry::v1::tenant_service_client::TenantServiceClient;
use lwm2m_registry::client::GrpcLookup;
use lwm2m_registry::conformance::Harness;
use lwm2m_registry::models::ModelKey;
use lwm2m_registry::RegistryLookup;
use support::{models_client, psk, psk_of, start, Server, PATIENCE};
use tonic::transport::Channel;
use tonic::Code;

const KEY: &str = "000102030405060708090A0B0C0D0E0F";
const IMEI: &str = "urn:imei:490154203237518";

async fn tenants(channel: &Channel) {
    let mut tenants = TenantServiceClient::new(channel.clone());
    let create = |id: &str| pb::CreateTenantRequest {
        tenant: Some(pb::Tenant {
            id: id.into(),
            name: id.to_uppercase(),
            ..Default::default()
        }),
    };
    for id in ["acme", "other"] {
        tenants.create_tenant(create(id)).await.unwrap();
    }
    let dup = tenants.create_tenant(create("acme")).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let listed = tenants
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed.tenants.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["acme", "default", "other"]);
}

fn device(tenant: &str, endpoint: &str, identity: &str, key: &str) -> pb::CreateDeviceRequest {
    pb::CreateDeviceRequest {
        device: Some(pb::Device {
            tenant_id: tenant.into(),
            endpoint: endpoint.into(),
            credentials: Some(psk(identity, key)),
            settings: Some(pb::DeviceSettings {
                registration_lifetime_s: Some(300),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// Creates, refuses duplicates, hides keys, updates, and sees both writes
/// on a change stream opened before them.
async fn devices_and_credentials(channel: &Channel) {
    let mut devices = DeviceServiceClient::new(channel.clone());
    let mut lookups = RegistryLookupServiceClient::new(channel.clone());
    let mut watch = lookups
        .watch_changes(pb::WatchChangesRequest {})
        .await
        .unwrap()
        .into_inner();

    let created = devices
        .create_device(device("acme", IMEI, "tracker-1", KEY))
        .await
        .unwrap()
        .into_inner();
    let answered = psk_of(&created);
    assert!(
        answered.key_hex.is_empty() && answered.key_redacted,
        "no key in answers"
    );

    let err = devices
        .create_device(device("other", IMEI, "fresh", KEY))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(
        err.message().contains(&format!("endpoint {IMEI:?}")),
        "{}",
        err.message()
    );
    let err = devices
        .create_device(device("other", "fresh", "tracker-1", KEY))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(
        err.message().contains("PSK identity \"tracker-1\""),
        "{}",
        err.message()
    );
    let err = devices
        .create_device(device("acme", "short-key", "short", "0badc0de"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("device.credentials.psk.key_hex"),
        "{}",
        err.message()
    );
    assert!(
        !err.message().contains("0badc0de"),
        "a key never appears in messages"
    );

    let listed = devices
        .list_devices(pb::ListDevicesRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.devices.len(), 1);
    assert!(
        psk_of(&listed.devices[0]).key_hex.is_empty(),
        "listings never carry keys"
    );
    let revealed = devices
        .get_device(pb::GetDeviceRequest {
            key: Some(pb::get_device_request::Key::Endpoint(IMEI.into())),
            reveal_secrets: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(psk_of(&revealed).key_hex, KEY);

    // An update that leaves the key empty keeps it.
    let mut change = revealed.clone();
    change.name = "Tracker one".into();
    change.credentials = Some(psk("tracker-1b", ""));
    let updated = devices
        .update_device(pb::UpdateDeviceRequest {
            device: Some(change),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.revision, updated.name.as_str()),
        (2, "Tracker one")
    );

    let change = tokio::time::timeout(PATIENCE, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(pb::registry_change::Change::DeviceChanged(c)) = change.change else {
        panic!("{change:?}")
    };
    assert_eq!((c.endpoint.as_str(), c.revision), (IMEI, 1));
    let change = tokio::time::timeout(PATIENCE, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(pb::registry_change::Change::DeviceChanged(c)) = change.change else {
        panic!("{change:?}")
    };
    assert_eq!(
        (c.psk_identity.as_str(), c.previous_psk_identity.as_str()),
        ("tracker-1b", "tracker-1")
    );
}

async fn lookup_service(channel: &Channel) {
    let mut lookups = RegistryLookupServiceClient::new(channel.clone());
    let found = lookups
        .lookup_psk_identity(pb::LookupPskIdentityRequest {
            identity: "tracker-1b".into(),
            bootstrap: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(found.found);
    assert_eq!(hex::encode_upper(&found.key), KEY);
    let endpoint = lookups
        .lookup_endpoint(pb::LookupEndpointRequest {
            endpoint: IMEI.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(endpoint.tenant.unwrap().id, "acme");
    assert_eq!(
        psk_of(&endpoint.device.unwrap()).key_hex,
        KEY,
        "lookups carry the key"
    );
    let missing = lookups
        .lookup_endpoint(pb::LookupEndpointRequest {
            endpoint: "nobody".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!missing.found);
}

async fn csv_bulk_registration(channel: &Channel) {
    let mut devices = DeviceServiceClient::new(channel.clone());
    let csv = format!(
        "endpoint id;securityMode;lwm2m psk_id;lwm2m psk_key;awakeTimeRegistrationParameter\n\
         csv-1;NO_SEC;;;\n\
         csv-2;PSK;csv-2-id;{KEY};180000\n\
         csv-3;PSK;tracker-1b;{KEY};\n\
         csv-4;PSK;csv-4-id;abc;\n"
    );
    let request = pb::ImportDevicesCsvRequest {
        tenant_id: "acme".into(),
        csv: csv.into_bytes(),
        ..Default::default()
    };
    let report = devices
        .import_devices_csv(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.created, report.failed), (2, 2), "{report:?}");
    let failed: Vec<(u32, &str)> = report
        .rows
        .iter()
        .filter(|r| r.status == pb::CsvRowStatus::Failed as i32)
        .map(|r| (r.line, r.message.as_str()))
        .collect();
    assert_eq!(failed[0], (4, "PSK identity \"tracker-1b\" already exists"));
    assert_eq!(failed[1].0, 5);
    assert!(failed[1].1.contains("lwm2m psk_key"), "{failed:?}");
    let again = devices
        .import_devices_csv(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.created, again.unchanged, again.failed), (0, 2, 2));
}

/// The transport's client, over the network.
async fn grpc_lookup_client(server: &Server) {
    let lookup = GrpcLookup::connect(format!("http://{}", server.handle.grpc_addr))
        .await
        .unwrap();
    let record = lookup.lookup_endpoint("csv-2").await.unwrap().unwrap();
    assert_eq!(record.device.settings.awake_time_ms, Some(180_000));
    assert_eq!(record.tenant.id.as_str(), "acme");
    let key_record = lookup.lookup_psk("csv-2-id").await.unwrap().unwrap();
    assert_eq!(hex::encode_upper(key_record.key.expose()), KEY);
    assert!(lookup.lookup_psk("nobody").await.unwrap().is_none());
    let acme = record.tenant.id.clone();
    let models = lookup.models(&acme).await.unwrap();
    assert!(
        models.get(3, None).is_some(),
        "the built-in models are there"
    );
    let announced = [
        ModelKey {
            object_id: 3,
            version: lwm2m_core::Version::V1_1,
        },
        ModelKey {
            object_id: 33333,
            version: lwm2m_core::Version::V1_0,
        },
    ];
    let unknown = lookup
        .record_announced_objects(&acme, "csv-1", &announced)
        .await
        .unwrap();
    assert_eq!(unknown, announced[1..]);
    let listed = models_client(&server.channel)
        .list_unknown_objects(pb::ListUnknownObjectsRequest {
            tenant_id: "acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.objects[0].object_id, 33333);

    // The client opens its stream when first polled, so a change made before
    // that is not seen: create profiles until one comes through (the first
    // or second, in practice).
    let mut remote_changes = lookup.changes();
    let mut profiles = DeviceProfileServiceClient::new(server.channel.clone());
    let mut seen = None;
    for attempt in 0..10 {
        let p = profiles
            .create_device_profile(pb::CreateDeviceProfileRequest {
                profile: Some(pb::DeviceProfile {
                    tenant_id: "acme".into(),
                    name: format!("p-{attempt}"),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let next = tokio::time::timeout(Duration::from_secs(2), remote_changes.next()).await;
        if let Ok(Some(Ok(change))) = next {
            seen = Some((p, change));
            break;
        }
    }
    let (p, change) = seen.expect("no change event came through GrpcLookup::changes");
    let Some(pb::registry_change::Change::ProfileChanged(c)) = change.change else {
        panic!("{change:?}")
    };
    assert_eq!(c.profile_id, p.id);
    let id = lwm2m_registry::ids::ProfileId::parse(&p.id, "id").unwrap();
    let via_client = lookup.profile(&id).await.unwrap().unwrap();
    assert_eq!(via_client.name, p.name);
}

async fn devices_csv_lookups_and_changes(harness: Arc<dyn Harness>) {
    let server = start(&*harness).await;
    tenants(&server.channel).await;
    devices_and_credentials(&server.channel).await;
    lookup_service(&server.channel).await;
    csv_bulk_registration(&server.channel).await;
    grpc_lookup_client(&server).await;
    // An open change stream must not hold the shutdown up.
    let _open = RegistryLookupServiceClient::new(server.channel.clone())
        .watch_changes(pb::WatchChangesRequest {})
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, server.handle.shutdown())
        .await
        .unwrap()
        .unwrap();
}

on_both_databases!(devices_csv_lookups_and_changes);
