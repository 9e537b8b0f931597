//! One observation per device and path, against a simulated device through
//! a real transport, Redis sessions and PostgreSQL: a second Observe of a
//! path joins the first instead of making the device report twice,
//! ObserveReadAll lists the path once (even with a duplicate stored by an
//! older node), and ObserveCancel ends every observation of the path, so
//! the device stops notifying.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, Setup, PATIENCE};
use lwm2m_core::Version;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_is_observed_once_and_cancelled_everywhere() {
    let setup = Setup::start(|_| {}).await;
    let dev = setup.device("observed-once", Version::V1_1, None).await;
    let mut c = setup.client(0).await;
    let ep = "observed-once";
    let observe = r#"{"method":"Observe","params":{"id":"/3/0/9"}}"#;

    for _ in 0..2 {
        let (r, _) = call(&mut c, ep, observe).await;
        assert_eq!(r["result"], "CONTENT", "{r}");
        assert!(r["value"].is_number(), "{r}");
    }
    let observations = dev.status().observations;
    assert_eq!(
        observations
            .iter()
            .filter(|o| o.paths == ["/3/0/9"])
            .count(),
        1,
        "the device reports /3/0/9 once: {observations:?}"
    );

    // A duplicate an older node stored before observations were reused.
    let sessions = &setup.store.as_ref().unwrap().sessions;
    let mut duplicate = sessions.observations(ep).await.unwrap().remove(0);
    duplicate.token = vec![0xd0, 0x0b, 0x1e];
    sessions.add_observation(duplicate).await.unwrap();
    let (r, _) = call(&mut c, ep, r#"{"method":"ObserveReadAll","params":{}}"#).await;
    assert_eq!(r, json!({"result":"CONTENT","value":["/3/0/9"]}));

    let (r, _) = call(
        &mut c,
        ep,
        r#"{"method":"ObserveCancel","params":{"id":"/3/0/9"}}"#,
    )
    .await;
    assert_eq!(r["result"], "CONTENT", "{r}");
    assert!(sessions.observations(ep).await.unwrap().is_empty());
    dev.wait_for(PATIENCE, |s| !s.is_observed("/3/0/9"))
        .await
        .unwrap();
    let (r, _) = call(&mut c, ep, r#"{"method":"ObserveReadAll","params":{}}"#).await;
    assert_eq!(r, json!({"result":"CONTENT","value":[]}));

    drop(dev);
    setup.stop().await;
}
