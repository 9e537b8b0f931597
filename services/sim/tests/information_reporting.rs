//! Send (`POST /dp`, LwM2M 1.1) with timestamped SenML.

mod support;

use std::time::Duration;

use lwm2m_coap::content_format as cf;
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_cbor::SenmlCborCodec;
use lwm2m_core::codec::senml_json::SenmlJsonCodec;
use lwm2m_core::{ContentFormat, LwM2mPath};
use lwm2m_sim::{sim_registry, Device};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn periodic_send_in_senml_cbor_with_timestamps() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-send");
    config.send_interval = Some(Duration::from_millis(400));
    let mut device = Device::start(config).await.unwrap();
    assert!(server.run_until(WAIT, |s| !s.sends.is_empty()).await);
    let send = &server.sends[0];
    assert_eq!(send.path_string(), "/dp");
    assert_eq!(send.options.content_format(), Some(cf::SENML_CBOR));
    let groups = SenmlCborCodec
        .decode_timestamped(&send.payload, &sim_registry())
        .unwrap();
    assert!(!groups.is_empty());
    let temperature: LwM2mPath = "/3303/0/5700".parse().unwrap();
    for g in &groups {
        assert!(g.time.unwrap() > 1.0e9, "absolute Unix time");
        assert!(g.nodes.contains_key(&temperature));
    }
    device.wait_for(WAIT, |s| s.sends >= 1).await.unwrap();
    device.shutdown(false).await;
}

#[tokio::test]
async fn send_now_in_senml_json() {
    let mut server = TestServer::start().await;
    let mut config = server.device_config("sim-send-json");
    config.send_interval = Some(Duration::from_secs(3600));
    config.send_format = ContentFormat::SenmlJson;
    let mut device = Device::start(config).await.unwrap();
    assert!(
        server
            .run_until(WAIT, |s| !s.registrations.is_empty())
            .await
    );
    device.wait_registered(WAIT).await.unwrap();
    device.send_now().await.unwrap();
    assert!(server.run_until(WAIT, |s| !s.sends.is_empty()).await);
    let send = &server.sends[0];
    assert_eq!(send.options.content_format(), Some(cf::SENML_JSON));
    let groups = SenmlJsonCodec
        .decode_timestamped(&send.payload, &sim_registry())
        .unwrap();
    let nodes: usize = groups.iter().map(|g| g.nodes.len()).sum();
    assert!(nodes >= 4, "{groups:?}");
    device.shutdown(false).await;
}
