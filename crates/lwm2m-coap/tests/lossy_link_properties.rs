//! Property test: whatever the link does (bounded loss, duplication,
//! reordering, delay), a request reaches the server application at most
//! once, and every request ends with exactly one terminal event carrying the
//! right body.
// Test helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use lwm2m_coap::{Event, Request, RequestId, RequestOptions, Response};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    requests: Vec<(bool, usize, usize)>,
    loss_to_server: f64,
    loss_to_client: f64,
    duplicate: f64,
    delay_ms: u64,
    jitter_ms: u64,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((any::<bool>(), 0usize..3000, 0usize..3000), 1..4),
        0.0..0.35f64,
        0.0..0.35f64,
        0.0..0.3f64,
        1u64..200,
        0u64..4000,
        any::<u64>(),
    )
        .prop_map(
            |(requests, loss_to_server, loss_to_client, duplicate, delay_ms, jitter_ms, seed)| {
                Case {
                    requests,
                    loss_to_server,
                    loss_to_client,
                    duplicate,
                    delay_ms,
                    jitter_ms,
                    seed,
                }
            },
        )
}

/// Outcome counts, to check that the generated cases exercise both paths.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    responses: usize,
    failures: usize,
    retransmissions: u64,
    lost: usize,
}

fn run_case(case: &Case) -> Result<Outcome, TestCaseError> {
    let mut pair = Pair::with_configs(config(case.seed), config(case.seed.wrapping_add(1)));
    pair.seed_link(case.seed ^ 0xabcdef);
    pair.to_server.loss = case.loss_to_server;
    pair.to_client.loss = case.loss_to_client;
    pair.to_server.duplicate = case.duplicate;
    pair.to_client.duplicate = case.duplicate;
    pair.delay = Duration::from_millis(case.delay_ms);
    pair.jitter = Duration::from_millis(case.jitter_ms);
    pair.respond_with(|req| {
        let len: usize = req
            .query_value("reply")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Response::content(42, body(len))
    });

    let mut ids: HashMap<RequestId, (usize, usize)> = HashMap::new();
    for (i, (confirmable, up, down)) in case.requests.iter().enumerate() {
        let request = Request::post("/bench")
            .with_query("i", &i.to_string())
            .with_query("reply", &down.to_string())
            .with_payload(body(*up));
        let options = if *confirmable {
            RequestOptions::con()
        } else {
            RequestOptions::non()
        };
        let id = pair
            .client
            .send_request(pair.now, SERVER, request, options)
            .unwrap();
        ids.insert(id, (*up, *down));
    }
    pair.run();

    // At most once to the application, always with the whole body.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for req in &pair.server_seen {
        let i = req.query_value("i").unwrap_or_default();
        *seen.entry(i.clone()).or_default() += 1;
        let (_, up, _) = case.requests[i.parse::<usize>().unwrap()];
        prop_assert_eq!(req.payload.clone(), body(up), "request {} body", i);
    }
    for (i, count) in &seen {
        prop_assert!(*count <= 1, "request {} delivered {} times", i, count);
    }
    // Exactly one terminal event per request.
    let mut done: HashMap<RequestId, usize> = HashMap::new();
    let mut outcome = Outcome {
        retransmissions: pair.client.stats().retransmissions + pair.server.stats().retransmissions,
        lost: pair.log.iter().filter(|s| !s.delivered).count(),
        ..Outcome::default()
    };
    for event in pair.client_events() {
        match event {
            Event::Response { id, response, .. } => {
                outcome.responses += 1;
                *done.entry(id).or_default() += 1;
                let (_, down) = ids[&id];
                prop_assert_eq!(response.payload, body(down));
            }
            Event::RequestFailed { id, .. } => {
                outcome.failures += 1;
                *done.entry(id).or_default() += 1;
            }
            other => prop_assert!(false, "unexpected event {:?}", other),
        }
    }
    for id in ids.keys() {
        prop_assert_eq!(done.get(id).copied(), Some(1), "request {:?}", id);
    }
    prop_assert_eq!(pair.client.outstanding_requests(), 0);
    prop_assert_eq!(pair.client.poll_timeout(), None);
    Ok(outcome)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lossy_link_never_duplicates_and_always_terminates(case in case()) {
        run_case(&case)?;
    }
}

/// A fixed, harsh case kept as a regression test.
#[test]
fn harsh_link_regression() {
    let case = Case {
        requests: vec![(true, 2500, 2900), (false, 100, 1500), (true, 0, 0)],
        loss_to_server: 0.3,
        loss_to_client: 0.3,
        duplicate: 0.3,
        delay_ms: 50,
        jitter_ms: 3500,
        seed: 77,
    };
    let outcome = run_case(&case).unwrap();
    assert!(
        outcome.lost > 5 && outcome.retransmissions > 5,
        "{outcome:?}"
    );
    assert!(outcome.responses >= 1, "{outcome:?}");
}

/// Many seeds of a moderately lossy link: most requests must still succeed,
/// so the property above is not satisfied vacuously by timeouts.
#[test]
fn moderate_loss_mostly_succeeds() {
    let mut total = Outcome::default();
    for seed in 0..40 {
        let case = Case {
            requests: vec![(true, 1500, 1500), (true, 10, 3000), (false, 10, 10)],
            loss_to_server: 0.15,
            loss_to_client: 0.15,
            duplicate: 0.1,
            delay_ms: 20,
            jitter_ms: 500,
            seed,
        };
        let o = run_case(&case).unwrap();
        total.responses += o.responses;
        total.failures += o.failures;
        total.retransmissions += o.retransmissions;
    }
    assert!(total.responses >= 100, "{total:?}");
    assert!(total.retransmissions > 40, "{total:?}");
}
