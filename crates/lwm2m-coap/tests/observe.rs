//! Observe scenarios (RFC 7641) over the simulated link: registration, CON
//! and NON notifications, freshness, cancellation, unmatched notifications
//! and the server side's view of rejected observations.
// Test helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use lwm2m_coap::{
    CoapEndpoint, Event, RejectReason, Request, RequestId, RequestOptions, Response, ResponseCode,
    Token,
};

/// Registers an observation on /3/0/13 and returns (request id, server-side token).
fn observe(pair: &mut Pair) -> (RequestId, Token) {
    let token = Rc::new(RefCell::new(None));
    let seen = token.clone();
    pair.handler = Some(Box::new(move |req, token| {
        if req.observe() == Some(0) {
            *seen.borrow_mut() = Some(token);
            return Some(
                Response::content(0, b"t0".to_vec())
                    .with_observe(1)
                    .unwrap(),
            );
        }
        if req.observe() == Some(1) {
            return Some(Response::content(0, b"bye".to_vec()));
        }
        Some(Response::content(0, b"plain".to_vec()))
    }));
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0/13"),
            RequestOptions::con().observe(),
        )
        .unwrap();
    pair.run();
    match pair.client_events().as_slice() {
        [Event::Response {
            id: got, response, ..
        }] => {
            assert_eq!(*got, id);
            assert_eq!(response.observe(), Some(1));
            assert_eq!(response.payload, b"t0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.client.observations(), 1);
    let token = token.borrow().expect("server saw the registration");
    (id, token)
}

fn notify(pair: &mut Pair, token: Token, seq: u32, payload: &str, confirmable: bool) {
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            seq,
            Response::content(0, payload.as_bytes().to_vec()),
            confirmable,
        )
        .unwrap();
    pair.run();
}

fn notifications(events: &[Event<u8>]) -> Vec<(Option<u32>, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Notification { seq, response, .. } => Some((*seq, response.payload.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn con_and_non_notifications() {
    let mut pair = Pair::new();
    let (id, token) = observe(&mut pair);
    notify(&mut pair, token, 2, "t2", true);
    notify(&mut pair, token, 3, "t3", false);
    let events = pair.client_events();
    assert_eq!(
        notifications(&events),
        vec![(Some(2), b"t2".to_vec()), (Some(3), b"t3".to_vec())]
    );
    match &events[0] {
        Event::Notification {
            id: got,
            peer,
            token: t,
            ended,
            ..
        } => {
            assert_eq!((*got, *peer, *t, *ended), (id, SERVER, token, false));
        }
        other => panic!("{other:?}"),
    }
    // The CON notification was ACKed: the client sent GET + one ACK, no RST.
    let client_sent: Vec<Header> = pair
        .sent_by(Side::Client)
        .iter()
        .map(|s| header(&s.bytes))
        .collect();
    assert_eq!(client_sent.len(), 2);
    assert_eq!(client_sent[1].mtype, ACK);
    assert_eq!(pair.server.stats().retransmissions, 0);
}

#[test]
fn lost_con_notification_is_retransmitted_and_delivered_once() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    let already = pair.sent_by(Side::Server).len();
    pair.to_client.drop = [already].into();
    // The ACK is lost too: the client must ACK the retransmission without a second event.
    let client_sent = pair.sent_by(Side::Client).len();
    pair.to_server.drop = [client_sent].into();
    notify(&mut pair, token, 2, "t2", true);
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some(2), b"t2".to_vec())]
    );
    assert_eq!(pair.server.stats().retransmissions, 2);
    assert_eq!(pair.client.stats().duplicate_con, 1);
}

#[test]
fn out_of_order_notifications_are_dropped() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    // Reorder on the link: seq 5 is delayed behind seq 6.
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            5,
            Response::content(0, b"t5".to_vec()),
            false,
        )
        .unwrap();
    pair.flush();
    pair.delay = Duration::from_millis(1);
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            6,
            Response::content(0, b"t6".to_vec()),
            false,
        )
        .unwrap();
    pair.run();
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some(6), b"t6".to_vec())]
    );
    assert_eq!(pair.client.stats().stale_notifications, 1);
    // Sequence numbers wrap around at 2^24 (in steps below 2^23).
    notify(&mut pair, token, (1 << 23) + 5, "half", false);
    notify(&mut pair, token, (1 << 24) - 1, "max", false);
    notify(&mut pair, token, 0, "wrapped", false);
    assert_eq!(notifications(&pair.client_events()).len(), 3);
    // A jump of 2^23 or more forward is taken as an old value.
    notify(&mut pair, token, 1 << 23, "too far", false);
    assert!(
        notifications(&pair.client_events()).is_empty(),
        "elapsed {:?}",
        pair.elapsed()
    );
    // After 128 s any value is fresh again.
    notify(&mut pair, token, (1 << 24) - 2, "stale", false);
    assert!(notifications(&pair.client_events()).is_empty());
    pair.run_for(Duration::from_secs(129));
    notify(&mut pair, token, (1 << 24) - 2, "fresh", false);
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some((1 << 24) - 2), b"fresh".to_vec())]
    );
}

#[test]
fn local_cancel_answers_next_notification_with_rst() {
    let mut pair = Pair::new();
    let (id, token) = observe(&mut pair);
    pair.client.cancel(id).unwrap();
    assert_eq!(pair.client.observations(), 0);
    notify(&mut pair, token, 2, "t2", true);
    assert!(pair.client_events().is_empty());
    assert_eq!(
        header(&pair.sent_by(Side::Client).last().unwrap().bytes).mtype,
        RST
    );
    assert_eq!(
        pair.server_events(),
        vec![Event::ObservationRejected {
            peer: CLIENT,
            token,
            reason: RejectReason::Reset
        }]
    );
    // A NON notification is rejected as well.
    notify(&mut pair, token, 3, "t3", false);
    assert_eq!(pair.server_events().len(), 1);
}

#[test]
fn cancel_with_get_observe_1() {
    let mut pair = Pair::new();
    let (id, token) = observe(&mut pair);
    let dereg = pair.client.cancel_observation(pair.now, id).unwrap();
    pair.run();
    let last_seen = pair.server_seen.last().unwrap();
    assert_eq!(last_seen.observe(), Some(1));
    assert_eq!(last_seen.path_string(), "/3/0/13");
    match pair.client_events().as_slice() {
        [Event::Response {
            id: got, response, ..
        }] => {
            assert_eq!(*got, dereg);
            assert_eq!(response.payload, b"bye");
        }
        other => panic!("{other:?}"),
    }
    // Same token as the registration (RFC 7641 §3.6).
    let dereg_packet = pair
        .sent_by(Side::Client)
        .iter()
        .map(|s| packet(&s.bytes))
        .find(|p| p.get_observe_value().and_then(Result::ok) == Some(1))
        .unwrap();
    assert_eq!(dereg_packet.get_token(), token.as_bytes());
    assert_eq!(pair.client.observations(), 0);
    notify(&mut pair, token, 9, "late", false);
    assert!(pair.client_events().is_empty());
    assert_eq!(
        header(&pair.sent_by(Side::Client).last().unwrap().bytes).mtype,
        RST
    );
}

#[test]
fn server_ends_observation_with_error() {
    let mut pair = Pair::new();
    let (id, token) = observe(&mut pair);
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            2,
            Response::new(ResponseCode::NOT_FOUND),
            true,
        )
        .unwrap();
    pair.run();
    match pair.client_events().as_slice() {
        [Event::Notification {
            id: got,
            ended: true,
            response,
            ..
        }] => {
            assert_eq!(*got, id);
            assert_eq!(response.code, ResponseCode::NOT_FOUND);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.client.observations(), 0);
}

#[test]
fn con_notification_timeout_is_reported() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    pair.to_client.blackhole = true;
    notify(&mut pair, token, 2, "t2", true);
    assert_eq!(pair.server.stats().retransmissions, 4);
    assert_eq!(
        pair.server_events(),
        vec![Event::ObservationRejected {
            peer: CLIENT,
            token,
            reason: RejectReason::Timeout
        }]
    );
}

#[test]
fn newer_con_notification_replaces_unacked_one() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    pair.to_client.blackhole = true;
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            2,
            Response::content(0, b"old".to_vec()),
            true,
        )
        .unwrap();
    pair.run_for(Duration::from_secs(4)); // one retransmission of "old"
    pair.to_client.blackhole = false;
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            3,
            Response::content(0, b"new".to_vec()),
            true,
        )
        .unwrap();
    pair.run();
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some(3), b"new".to_vec())]
    );
    let old_copies = pair
        .sent_by(Side::Server)
        .iter()
        .filter(|s| packet(&s.bytes).payload == b"old")
        .count();
    assert_eq!(
        old_copies, 2,
        "the old notification stopped being retransmitted"
    );
    assert_eq!(pair.server.stats().retransmissions, 1);
}

#[test]
fn unmatched_notification_accept_and_reject() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    // Another cluster node takes over: the client endpoint is replaced.
    pair.client = CoapEndpoint::new(config(99)).unwrap();
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            2,
            Response::content(0, b"t2".to_vec()),
            true,
        )
        .unwrap();
    pair.run_for(Duration::from_millis(100));
    let handle = match pair.client_events().as_slice() {
        [Event::UnmatchedResponse {
            peer,
            handle,
            response,
        }] => {
            assert_eq!(*peer, SERVER);
            assert_eq!(handle.token(), token);
            assert_eq!(handle.seq(), 2);
            assert!(handle.confirmable());
            assert_eq!(response.payload, b"t2");
            *handle
        }
        other => panic!("{other:?}"),
    };
    // Undecided: the server retransmits, the duplicate is not surfaced again.
    pair.run_for(Duration::from_secs(4));
    assert!(pair.client_events().is_empty());
    assert!(pair.server.stats().retransmissions >= 1);
    let id = pair
        .client
        .accept_unmatched(pair.now, SERVER, handle, None)
        .unwrap();
    pair.run();
    let server_events = pair.server_events();
    assert!(
        server_events.is_empty(),
        "ACKed, not rejected: {server_events:?}"
    );
    notify(&mut pair, token, 3, "t3", false);
    match pair.client_events().as_slice() {
        [Event::Notification {
            id: got,
            seq: Some(3),
            ..
        }] => assert_eq!(*got, id),
        other => panic!("{other:?}"),
    }
    // Stale ones are filtered from the accepted sequence number on.
    notify(&mut pair, token, 2, "old", false);
    assert!(pair.client_events().is_empty());

    // Rejecting: a second observer token unknown to the client.
    pair.client.cancel(id).unwrap();
    let (_, token2) = {
        pair.client = CoapEndpoint::new(config(100)).unwrap();
        (0, Token::new(&[9, 9, 9]).unwrap())
    };
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token2,
            7,
            Response::content(0, b"x".to_vec()),
            true,
        )
        .unwrap();
    pair.run_for(Duration::from_millis(100));
    let handle = match pair.client_events().as_slice() {
        [Event::UnmatchedResponse { handle, .. }] => *handle,
        other => panic!("{other:?}"),
    };
    pair.client.reject_unmatched(pair.now, SERVER, handle);
    pair.run();
    assert_eq!(
        pair.server_events(),
        vec![Event::ObservationRejected {
            peer: CLIENT,
            token: token2,
            reason: RejectReason::Reset
        }]
    );
}

#[test]
fn unmatched_notifications_can_be_rejected_automatically() {
    let client = lwm2m_coap::Config {
        surface_unmatched_notifications: false,
        ..config(1)
    };
    let mut pair = Pair::with_configs(client, config(2));
    notify(&mut pair, Token::new(&[1]).unwrap(), 1, "x", true);
    assert!(pair.client_events().is_empty());
    assert!(matches!(
        pair.server_events().as_slice(),
        [Event::ObservationRejected { .. }]
    ));
}

#[test]
fn block_wise_notification_is_fetched_and_delivered_whole() {
    let mut pair = Pair::new();
    let (id, token) = observe(&mut pair);
    let big = body(3000);
    notify_bytes(&mut pair, token, 2, big.clone());
    match pair.client_events().as_slice() {
        [Event::Notification {
            id: got,
            seq: Some(2),
            response,
            ..
        }] => {
            assert_eq!(*got, id);
            assert_eq!(response.payload, big);
            assert!(response.options.block2().is_none());
        }
        other => panic!("{other:?}"),
    }
    // The rest was fetched with GETs without Observe and served from the cache.
    assert_eq!(pair.server.stats().block2_served_from_cache, 2);
    assert_eq!(
        pair.server_seen.len(),
        1,
        "only the registration reached the app"
    );
    // The observation survives.
    notify(&mut pair, token, 3, "small", false);
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some(3), b"small".to_vec())]
    );
}

fn notify_bytes(pair: &mut Pair, token: Token, seq: u32, payload: Vec<u8>) {
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            seq,
            Response::content(0, payload),
            true,
        )
        .unwrap();
    pair.run();
}

#[test]
fn notification_to_unknown_observer_cannot_be_block_wise() {
    let mut server = CoapEndpoint::<u8>::new(config(2)).unwrap();
    let now = std::time::Instant::now();
    let result = server.send_notification(
        now,
        CLIENT,
        Token::EMPTY,
        1,
        Response::content(0, body(3000)),
        false,
    );
    assert!(
        matches!(result, Err(lwm2m_coap::Error::PayloadTooLarge { .. })),
        "{result:?}"
    );
}

#[test]
fn block_wise_registration_response() {
    let mut pair = Pair::new();
    let big = body(2500);
    let served = big.clone();
    let token = Rc::new(RefCell::new(None));
    let seen = token.clone();
    pair.handler = Some(Box::new(move |req, t| {
        if req.observe() == Some(0) {
            *seen.borrow_mut() = Some(t);
            return Some(
                Response::content(60, served.clone())
                    .with_observe(7)
                    .unwrap(),
            );
        }
        None
    }));
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3303/0"),
            RequestOptions::con().observe(),
        )
        .unwrap();
    pair.run();
    match pair.client_events().as_slice() {
        [Event::Response {
            id: got, response, ..
        }] => {
            assert_eq!(*got, id);
            assert_eq!(response.payload, big);
            assert_eq!(response.observe(), Some(7));
        }
        other => panic!("{other:?}"),
    }
    let token = token.borrow().unwrap();
    // Follow-ups use another token and no Observe, so the server does not
    // mistake them for a (de)registration.
    let follow_ups: Vec<_> = pair
        .sent_by(Side::Client)
        .iter()
        .map(|s| packet(&s.bytes))
        .filter(|p| block(p, coap_lite::CoapOption::Block2).is_some())
        .collect();
    assert_eq!(follow_ups.len(), 2);
    for p in &follow_ups {
        assert_ne!(p.get_token(), token.as_bytes());
        assert!(p.get_observe_value().is_none());
    }
    assert_eq!(pair.server_seen.len(), 1);
    assert_eq!(pair.client.observations(), 1);
    notify(&mut pair, token, 8, "next", false);
    assert_eq!(
        notifications(&pair.client_events()),
        vec![(Some(8), b"next".to_vec())]
    );
}

#[test]
fn accepted_observation_with_template_can_be_cancelled() {
    let mut pair = Pair::new();
    let (_, token) = observe(&mut pair);
    pair.client = CoapEndpoint::new(config(42)).unwrap();
    pair.server
        .send_notification(
            pair.now,
            CLIENT,
            token,
            2,
            Response::content(0, b"t2".to_vec()),
            false,
        )
        .unwrap();
    pair.run();
    let handle = match pair.client_events().as_slice() {
        [Event::UnmatchedResponse { handle, .. }] => *handle,
        other => panic!("{other:?}"),
    };
    assert!(!handle.confirmable());
    let id = pair
        .client
        .accept_unmatched(pair.now, SERVER, handle, Some(Request::get("/3/0/13")))
        .unwrap();
    // Accepting twice is refused: the token is taken.
    assert!(pair
        .client
        .accept_unmatched(pair.now, SERVER, handle, None)
        .is_err());
    pair.client.cancel_observation(pair.now, id).unwrap();
    pair.run();
    let dereg = pair.server_seen.last().unwrap();
    assert_eq!(
        (dereg.observe(), dereg.path_string().as_str()),
        (Some(1), "/3/0/13")
    );
    assert!(matches!(
        pair.client_events().as_slice(),
        [Event::Response { .. }]
    ));
}
