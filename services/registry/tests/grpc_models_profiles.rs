//! The model and profile half of the gRPC surface end to end: health,
//! reflection, importing the whole OMA registry, model reads and the
//! deletion rule, profiles with generated keys, validation and revisions —
//! on SQLite and PostgreSQL, through a real tonic server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::device_profile_service_client::DeviceProfileServiceClient;
use lwm2m_registry::conformance::fixtures::oma_registry_files;
use lwm2m_registry::conformance::Harness;
use support::{models_client, start};
use tonic::transport::Channel;
use tonic::Code;

async fn health_and_reflection(channel: &Channel) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "DeviceService",
        "ObjectModelService",
        "DeviceProfileService",
        "TenantService",
        "RegistryLookupService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: format!("lwm2m.registry.v1.{service}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            status.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"lwm2m.registry.v1.DeviceService"),
        "{names:?}"
    );
    assert!(
        names.contains(&"lwm2m.registry.v1.ObjectModelService"),
        "{names:?}"
    );
}

async fn models_over_grpc(channel: &Channel, database: &str) {
    // The whole OMA registry in one upload, as an operator's tool sends it.
    let mut models = models_client(channel);
    let files: Vec<pb::DdfFile> = oma_registry_files()
        .into_iter()
        .map(|f| pb::DdfFile {
            name: f.name,
            content: f.content,
        })
        .collect();
    let started = Instant::now();
    let imported = models
        .import_object_models(pb::ImportObjectModelsRequest {
            tenant_id: String::new(),
            files,
            skip_non_definitions: true,
        })
        .await
        .unwrap()
        .into_inner();
    // A measurement for the record, not an assertion.
    println!(
        "MEASUREMENT: ImportObjectModels of the whole OMA registry over gRPC into {database}: {:?}",
        started.elapsed()
    );
    assert_eq!(imported.models.len(), 424);
    assert_eq!(imported.skipped.len(), 3);

    let broken = models
        .import_object_models(pb::ImportObjectModelsRequest {
            tenant_id: String::new(),
            files: vec![pb::DdfFile {
                name: "vendor/33000.xml".into(),
                content: b"<LWM2M><Object>".to_vec(),
            }],
            skip_non_definitions: false,
        })
        .await
        .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument);
    assert!(
        broken.message().contains("vendor/33000.xml"),
        "{}",
        broken.message()
    );

    let device_model = models
        .get_object_model(pb::GetObjectModelRequest {
            tenant_id: "default".into(),
            object_id: 3,
            version: "1.2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(device_model.name, "Device");
    assert!(device_model.ddf_xml.contains("<ObjectID>3</ObjectID>"));
    let battery = device_model.resources.iter().find(|r| r.id == 9).unwrap();
    assert_eq!(
        (
            battery.name.as_str(),
            battery.operations.as_str(),
            battery.r#type.as_str()
        ),
        ("Battery Level", "R", "Integer")
    );
    let listed = models
        .list_object_models(pb::ListObjectModelsRequest {
            name_contains: "temperature".into(),
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed.models.iter().map(|m| m.name.as_str()).collect();
    assert!(
        listed.models.iter().any(|m| m.object_id == 3303),
        "{names:?}"
    );
    assert!(listed.models.iter().all(|m| m.resources.is_empty()));
    let denied = models
        .delete_object_model(pb::DeleteObjectModelRequest {
            tenant_id: "default".into(),
            object_id: 3,
            version: "1.2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

fn mapping(
    resource_id: u32,
    attribute: bool,
    telemetry: bool,
    observe: bool,
) -> pb::ResourceMapping {
    pb::ResourceMapping {
        instance_id: 0,
        resource_id,
        attribute,
        telemetry,
        observe,
        key: String::new(),
        key_generated: false,
    }
}

async fn profiles_over_grpc(channel: &Channel) {
    let mut profiles = DeviceProfileServiceClient::new(channel.clone());
    let profile = profiles
        .create_device_profile(pb::CreateDeviceProfileRequest {
            profile: Some(pb::DeviceProfile {
                tenant_id: "default".into(),
                name: "trackers".into(),
                objects: vec![pb::ProfileObject {
                    object_id: 3,
                    version: "1.2".into(),
                    resources: vec![
                        mapping(0, true, false, false),
                        mapping(9, false, true, true),
                    ],
                    attributes: vec![pb::NotificationAttributes {
                        instance_id: Some(0),
                        resource_id: Some(9),
                        pmin: Some(10),
                        pmax: Some(600),
                        st: Some(5.0),
                        ..Default::default()
                    }],
                }],
                observe_strategy: pb::ObserveStrategy::CompositeByObject as i32,
                power: Some(pb::PowerSettings {
                    mode: pb::PowerMode::Psm as i32,
                    psm_activity_timer_ms: Some(10_000),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<&str> = profile.objects[0]
        .resources
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(keys, ["manufacturer", "batteryLevel"]);
    assert_eq!(profile.default_object_version, "1.0");
    assert_eq!(
        profile.observe_strategy,
        pb::ObserveStrategy::CompositeByObject as i32
    );

    let invalid = profiles
        .create_device_profile(pb::CreateDeviceProfileRequest {
            profile: Some(pb::DeviceProfile {
                tenant_id: "default".into(),
                name: "bad".into(),
                objects: vec![pb::ProfileObject {
                    object_id: 3,
                    version: "1.2".into(),
                    resources: vec![mapping(4, false, true, true)],
                    attributes: vec![],
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(
        invalid
            .message()
            .contains("profile.objects[0].resources[0].observe"),
        "{}",
        invalid.message()
    );
    assert!(
        invalid.message().contains("Reboot"),
        "{}",
        invalid.message()
    );

    let mut edited = profile.clone();
    edited.objects[0].resources[1].key = "battery".into();
    edited.objects[0].resources[1].key_generated = false;
    let updated = profiles
        .update_device_profile(pb::UpdateDeviceProfileRequest {
            profile: Some(edited.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            updated.revision,
            updated.objects[0].resources[1].key.as_str()
        ),
        (2, "battery")
    );
    let stale = profiles
        .update_device_profile(pb::UpdateDeviceProfileRequest {
            profile: Some(edited),
        })
        .await
        .unwrap_err();
    assert_eq!(
        stale.code(),
        Code::Aborted,
        "revision 1 is no longer current"
    );
}

async fn models_profiles_health_and_reflection(harness: Arc<dyn Harness>) {
    let server = start(&*harness).await;
    let database = harness.database_url();
    let database = database.split(':').next().unwrap_or_default();
    health_and_reflection(&server.channel).await;
    models_over_grpc(&server.channel, database).await;
    profiles_over_grpc(&server.channel).await;
    server.handle.shutdown().await.unwrap();
}

on_both_databases!(models_profiles_health_and_reflection);
