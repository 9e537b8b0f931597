//! Registration interface: Register, Update, re-registration, NAT rebinding,
//! reboot and De-register, against a bare CoAP server in the test.

mod support;

use std::time::Duration;

use lwm2m_coap::{Request, ResponseCode};
use lwm2m_core::Version;
use lwm2m_sim::Device;
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn registers_with_query_and_object_links() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-reg"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let reg = &server.registrations[0];
    assert_eq!(reg.request.path_string(), "/rd");
    assert_eq!(reg.request.options.content_format(), Some(40));
    let parsed = &reg.parsed;
    assert_eq!(parsed.endpoint, "sim-reg");
    assert_eq!(parsed.lifetime, Some(30));
    assert_eq!(parsed.lwm2m_version, Version::V1_1);
    assert!(!parsed.queue_mode);
    assert_eq!(parsed.binding_or_default().to_string(), "U");
    for (object, instance) in [(1, 0), (3, 0), (4, 0), (5, 0), (6, 0), (3303, 0)] {
        assert!(
            parsed.objects.has_instance(object, instance),
            "/{object}/{instance}"
        );
    }
    assert_eq!(parsed.objects.objects[&3].version, Some(Version::V1_1));
    assert!(parsed.objects.content_formats.contains(&112));
    let payload = String::from_utf8(reg.request.payload.clone()).unwrap();
    assert!(
        payload.starts_with(r#"</>;rt="oma.lwm2m";ct="#),
        "{payload}"
    );

    let status = device.wait_registered(WAIT).await.unwrap();
    assert_eq!(status.location.as_deref(), Some("/rd/1"));
    device.shutdown(false).await;
}

#[tokio::test]
async fn lwm2m_1_0_registers_without_ct() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-v10");
    config.lwm2m_version = Version::V1_0;
    let mut device = Device::start(config).await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let parsed = &server.registrations[0].parsed;
    assert_eq!(parsed.lwm2m_version, Version::V1_0);
    assert!(parsed.objects.content_formats.is_empty());
    device.shutdown(false).await;
}

#[tokio::test]
async fn updates_on_command_and_before_the_lifetime_ends() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-upd");
    config.lifetime = 1;
    let mut device = Device::start(config).await.unwrap();
    // Lifetime 1 s: the periodic Update comes after 0.8 s.
    assert!(server.run_until(WAIT, |s| !s.updates.is_empty()).await);
    let update = &server.updates[0];
    assert_eq!(update.location, "/rd/1");
    assert!(update.request.query().is_empty(), "lt only when changed");
    assert!(update.request.payload.is_empty());
    let before = server.updates.len();
    device.update_now().await.unwrap();
    assert!(server.run_until(WAIT, |s| s.updates.len() > before).await);
    device.shutdown(false).await;
}

#[tokio::test]
async fn registers_again_when_the_server_forgot_it() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-404"))
        .await
        .unwrap();
    assert!(server.run_until(WAIT, |s| s.registrations.len() == 1).await);
    server.update_code = Some(ResponseCode::NOT_FOUND);
    device.update_now().await.unwrap();
    assert!(server.run_until(WAIT, |s| s.registrations.len() == 2).await);
    assert_eq!(server.registrations[1].parsed.endpoint, "sim-404");
    let status = device
        .wait_for(WAIT, |s| s.registrations == 2)
        .await
        .unwrap();
    assert_eq!(status.location.as_deref(), Some("/rd/2"));
    device.shutdown(false).await;
}

#[tokio::test]
async fn rebind_changes_the_source_port() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-nat"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let old = server.registrations[0].peer;
    device.wait_registered(WAIT).await.unwrap();
    assert_eq!(device.status().local_addr, Some(old));
    device.rebind().await.unwrap();
    assert!(server.run_until(WAIT, |s| !s.updates.is_empty()).await);
    let new = server.updates[0].peer;
    assert_ne!(new.port(), old.port());
    assert_eq!(server.updates[0].location, "/rd/1");
    let status = device
        .wait_for(WAIT, |s| s.local_addr == Some(new))
        .await
        .unwrap();
    assert!(status.registered);
    // The device answers from its new address.
    let response = server.request(new, Request::get("/3/0/0")).await;
    assert_eq!(response.code, ResponseCode::CONTENT);
    device.shutdown(false).await;
}

#[tokio::test]
async fn reboot_registers_again() {
    let mut server = TestServer::start().await;
    let mut device = Device::start(server.device_config("sim-reboot"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    let peer = server.peer_of("sim-reboot");
    let response = server.request(peer, Request::post("/3/0/4")).await;
    assert_eq!(response.code, ResponseCode::CHANGED);
    assert!(server.run_until(WAIT, |s| s.registrations.len() == 2).await);
    device
        .wait_for(WAIT, |s| s.reboots == 1 && s.registered)
        .await
        .unwrap();
    device.shutdown(false).await;
}

#[tokio::test]
async fn deregisters_on_command_and_on_shutdown() {
    let mut server = TestServer::start().await;
    let device = Device::start(server.device_config("sim-bye"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    device.deregister().await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| s.deregistrations.len() == 1)
            .await
    );
    assert_eq!(server.deregistrations[0], "/rd/1");
    device.wait_for(WAIT, |s| !s.registered).await.unwrap();

    // Register again, then a shutdown de-registers too (served concurrently).
    device.register().await.unwrap();
    assert!(server.run_until(WAIT, |s| s.registrations.len() == 2).await);
    device.wait_registered(WAIT).await.unwrap();
    let mut device = device;
    let shutdown = tokio::spawn(async move {
        device.shutdown(true).await;
        device
    });
    assert!(
        server
            .run_until(WAIT, |s| s.deregistrations.len() == 2)
            .await
    );
    let device = shutdown.await.unwrap();
    assert!(device.status().stopped);
}

#[tokio::test]
async fn dropping_the_handle_deregisters() {
    let mut server = TestServer::start().await;
    let device = Device::start(server.device_config("sim-drop"))
        .await
        .unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    device.wait_registered(WAIT).await.unwrap();
    drop(device);
    assert!(
        server
            .run_until(WAIT, |s| s.deregistrations.len() == 1)
            .await
    );
}
