//! Message-layer scenarios (RFC 7252): retransmission, deduplication,
//! separate responses, RST, zero-length tokens and garbage input.
// Test helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_coap::{
    CoapEndpoint, Config, Error, Event, FailureReason, Request, RequestOptions, Response,
    ResponseCode, Token,
};

fn content(req: &Request) -> Response {
    Response::content(0, format!("hello {}", req.path_string()).into_bytes())
}

fn responses(events: &[Event<u8>]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Response { .. }))
        .count()
}

#[test]
fn con_lost_twice_then_delivered() {
    let mut pair = Pair::new();
    pair.respond_with(content);
    pair.to_server.drop = [0, 1].into();
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();

    let sent = pair.sent_by(Side::Client);
    assert_eq!(sent.len(), 3, "original + 2 retransmissions");
    let mids: Vec<u16> = sent.iter().map(|s| header(&s.bytes).mid).collect();
    assert!(
        mids.iter().all(|m| *m == mids[0]),
        "retransmissions reuse the message id"
    );
    assert!(
        sent.iter().all(|s| s.bytes == sent[0].bytes),
        "byte-identical"
    );
    assert_eq!(pair.client.stats().retransmissions, 2);
    // Timing: T in [2, 3] s, then 2T.
    let t1 = sent[1].at - sent[0].at;
    let t2 = sent[2].at - sent[1].at;
    assert!(
        t1 >= Duration::from_secs(2) && t1 <= Duration::from_secs(3),
        "{t1:?}"
    );
    assert_eq!(t2, t1 * 2);

    assert_eq!(pair.server_seen.len(), 1);
    let events = pair.client_events();
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        Event::Response {
            id: got,
            peer,
            response,
        } => {
            assert_eq!(*got, id);
            assert_eq!(*peer, SERVER);
            assert_eq!(response.code, ResponseCode::CONTENT);
            assert_eq!(response.payload, b"hello /3/0");
        }
        other => panic!("{other:?}"),
    }
    // The response was piggybacked on the ACK.
    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(server_sent.len(), 1);
    assert_eq!(header(&server_sent[0].bytes).mtype, ACK);
    assert_eq!(header(&server_sent[0].bytes).mid, mids[0]);
    assert_eq!(pair.client.outstanding_requests(), 0);
    assert_eq!(pair.client.poll_timeout(), None, "nothing left to do");
}

#[test]
fn all_lost_times_out_after_max_retransmit() {
    let mut pair = Pair::new();
    pair.to_server.blackhole = true;
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();

    let sent = pair.sent_by(Side::Client);
    assert_eq!(sent.len(), 5, "1 + MAX_RETRANSMIT(4)");
    let t = sent[1].at - sent[0].at;
    assert!(
        t >= Duration::from_secs(2) && t <= Duration::from_secs(3),
        "{t:?}"
    );
    for (i, k) in [0u32, 1, 3, 7, 15].iter().enumerate() {
        assert_eq!(sent[i].at - pair.start, t * *k, "transmission {i}");
    }
    assert_eq!(pair.client_events.len(), 1);
    let (at, event) = pair.client_events.pop_front().unwrap();
    assert_eq!(
        at - pair.start,
        t * 31,
        "gives up at 31 T (<= MAX_TRANSMIT_WAIT)"
    );
    assert!(at - pair.start <= Duration::from_secs(93));
    assert_eq!(
        event,
        Event::RequestFailed {
            id,
            peer: SERVER,
            reason: FailureReason::Timeout
        }
    );
    let stats = pair.client.stats();
    assert_eq!(stats.retransmissions, 4);
    assert_eq!(stats.transmit_timeouts, 1);
    assert_eq!(pair.client.outstanding_requests(), 0);
}

#[test]
fn custom_transmission_parameters() {
    let client = Config {
        ack_timeout: Duration::from_millis(500),
        ack_random_factor: 1.0,
        max_retransmit: 2,
        ..config(1)
    };
    let mut pair = Pair::with_configs(client, config(2));
    pair.to_server.blackhole = true;
    pair.client
        .send_request(pair.now, SERVER, Request::get("/x"), RequestOptions::con())
        .unwrap();
    pair.run();
    let times: Vec<Duration> = pair
        .sent_by(Side::Client)
        .iter()
        .map(|s| s.at - pair.start)
        .collect();
    assert_eq!(
        times,
        vec![
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_millis(1500)
        ]
    );
    let (at, _) = pair.client_events.pop_front().unwrap();
    assert_eq!(at - pair.start, Duration::from_millis(3500));
}

#[test]
fn overall_deadline_fails_request() {
    let mut pair = Pair::new();
    // The server ACKs (auto-ACK after 1 s) but never responds.
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/slow"),
            RequestOptions::con().with_timeout(Duration::from_secs(30)),
        )
        .unwrap();
    pair.run_until_client_event();
    let (at, event) = pair.client_events.pop_front().unwrap();
    assert_eq!(at - pair.start, Duration::from_secs(30));
    assert_eq!(
        event,
        Event::RequestFailed {
            id,
            peer: SERVER,
            reason: FailureReason::Timeout
        }
    );
    assert_eq!(pair.client.stats().request_deadlines, 1);
    assert_eq!(
        pair.client.stats().retransmissions,
        0,
        "the empty ACK stopped retransmission"
    );
}

#[test]
fn duplicated_request_reaches_app_once_and_is_answered_from_cache() {
    let mut pair = Pair::new();
    let mut calls = 0;
    pair.respond_with(move |req| {
        calls += 1;
        assert_eq!(calls, 1, "handler called twice");
        content(req)
    });
    pair.to_server.dup = [0].into();
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/1/0"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();

    assert_eq!(pair.server_seen.len(), 1);
    assert_eq!(pair.server.stats().duplicate_con, 1);
    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(
        server_sent.len(),
        2,
        "the duplicate gets the cached response again"
    );
    assert_eq!(server_sent[0].bytes, server_sent[1].bytes);
    let events = pair.client_events();
    assert_eq!(responses(&events), 1, "{events:?}");
    assert_eq!(
        pair.client.stats().unmatched,
        1,
        "second ACK matches nothing"
    );
}

#[test]
fn duplicated_non_request_is_dropped() {
    let mut pair = Pair::new();
    pair.respond_with(content);
    pair.to_server.dup = [0].into();
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/1/0"),
            RequestOptions::non(),
        )
        .unwrap();
    pair.run_until_client_event();
    assert_eq!(pair.server_seen.len(), 1);
    assert_eq!(pair.server.stats().duplicate_non, 1);
    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(server_sent.len(), 1);
    assert_eq!(
        header(&server_sent[0].bytes).mtype,
        NON,
        "NON request gets a NON response"
    );
    assert_eq!(responses(&pair.client_events()), 1);
}

#[test]
fn separate_response_after_empty_ack() {
    let mut pair = Pair::new();
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::post("/rd").with_query("ep", "dev"),
            RequestOptions::con(),
        )
        .unwrap();
    // The upper layer takes 5 s; the endpoint ACKs after 1 s on its own.
    pair.run_for(Duration::from_secs(5));
    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(server_sent.len(), 1);
    let ack = header(&server_sent[0].bytes);
    assert_eq!((ack.mtype, ack.code), (ACK, 0), "empty ACK");
    assert_eq!(
        server_sent[0].at - pair.start,
        Duration::from_secs(1) + pair.delay
    );
    assert_eq!(pair.server.stats().empty_acks_sent, 1);

    let (exchange, _, request) = pair.server_requests.pop_front().unwrap();
    assert_eq!(request.query_value("ep").as_deref(), Some("dev"));
    pair.server
        .respond(
            pair.now,
            exchange,
            Response::new(ResponseCode::CREATED).with_location_path("/rd/1"),
        )
        .unwrap();
    pair.run();

    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(server_sent.len(), 2);
    let separate = header(&server_sent[1].bytes);
    assert_eq!(
        (separate.mtype, separate.code),
        (CON, ResponseCode::CREATED.raw())
    );
    // The client ACKed the separate response, so the server did not retransmit.
    let client_sent = pair.sent_by(Side::Client);
    assert_eq!(client_sent.len(), 2);
    assert_eq!(
        header(&client_sent[1].bytes),
        Header {
            mtype: ACK,
            code: 0,
            mid: separate.mid
        }
    );
    assert_eq!(pair.server.stats().retransmissions, 0);
    assert_eq!(pair.client.stats().retransmissions, 0);
    match pair.client_events().as_slice() {
        [Event::Response {
            id: got, response, ..
        }] => {
            assert_eq!(*got, id);
            assert_eq!(response.location_path(), "/rd/1");
        }
        other => panic!("{other:?}"),
    }
    // Responding twice is an error, not a second message.
    assert_eq!(
        pair.server
            .respond(pair.now, exchange, Response::new(ResponseCode::CHANGED)),
        Err(Error::UnknownExchange(exchange))
    );
}

#[test]
fn separate_response_is_retransmitted_until_acked() {
    let server = Config {
        auto_ack_delay: Some(Duration::from_millis(100)),
        ..config(2)
    };
    let mut pair = Pair::with_configs(config(1), server);
    pair.client
        .send_request(pair.now, SERVER, Request::get("/a"), RequestOptions::con())
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let (exchange, _, _) = pair.server_requests.pop_front().unwrap();
    // The empty ACK went out (index 0); drop the separate CON response twice (1 and 2).
    pair.to_client.drop = [1, 2].into();
    pair.server
        .respond(pair.now, exchange, Response::new(ResponseCode::CONTENT))
        .unwrap();
    pair.run();
    assert_eq!(pair.server.stats().retransmissions, 2);
    assert_eq!(responses(&pair.client_events()), 1);
}

#[test]
fn duplicate_while_app_is_slow_gets_empty_ack() {
    // No auto-ACK: the client's retransmission makes the server ACK early.
    let server = Config {
        auto_ack_delay: None,
        ..config(2)
    };
    let mut pair = Pair::with_configs(config(1), server);
    pair.client
        .send_request(pair.now, SERVER, Request::get("/a"), RequestOptions::con())
        .unwrap();
    pair.run_for(Duration::from_secs(4));
    assert_eq!(pair.client.stats().retransmissions, 1);
    assert_eq!(
        pair.server_seen.len(),
        1,
        "retransmission not delivered to the app"
    );
    let server_sent = pair.sent_by(Side::Server);
    assert_eq!(server_sent.len(), 1);
    assert_eq!(
        header(&server_sent[0].bytes).code,
        0,
        "empty ACK for the duplicate"
    );
    let (exchange, _, _) = pair.server_requests.pop_front().unwrap();
    pair.server
        .respond(pair.now, exchange, Response::new(ResponseCode::CONTENT))
        .unwrap();
    pair.run();
    assert_eq!(responses(&pair.client_events()), 1);
    assert_eq!(
        pair.client.stats().retransmissions,
        1,
        "no more retransmissions after the ACK"
    );
}

#[test]
fn late_response_after_cancel_is_rejected() {
    let mut pair = Pair::new();
    let id = pair
        .client
        .send_request(pair.now, SERVER, Request::get("/a"), RequestOptions::con())
        .unwrap();
    pair.run_for(Duration::from_secs(2));
    pair.client.cancel(id).unwrap();
    assert_eq!(pair.client.cancel(id), Err(Error::UnknownRequest(id)));
    let (exchange, _, _) = pair.server_requests.pop_front().unwrap();
    pair.server
        .respond(pair.now, exchange, Response::new(ResponseCode::CONTENT))
        .unwrap();
    pair.run();
    assert!(pair.client_events().is_empty(), "no event after cancel");
    let last = pair
        .sent_by(Side::Client)
        .last()
        .map(|s| header(&s.bytes))
        .unwrap();
    assert_eq!(
        last.mtype, RST,
        "separate response to a cancelled request is rejected"
    );
    assert_eq!(pair.server.stats().resets_received, 1);
}

#[test]
fn reset_fails_request() {
    // A raw peer that answers every CON with RST.
    let mut client = CoapEndpoint::<u8>::new(config(7)).unwrap();
    let now = std::time::Instant::now();
    let id = client
        .send_request(now, SERVER, Request::get("/x"), RequestOptions::con())
        .unwrap();
    let t = client.poll_transmit().unwrap();
    let mid = header(&t.bytes).mid;
    let rst = [0x70, 0, (mid >> 8) as u8, mid as u8];
    client.handle_datagram(now, SERVER, &rst);
    assert_eq!(
        client.poll_event(),
        Some(Event::RequestFailed {
            id,
            peer: SERVER,
            reason: FailureReason::Reset
        })
    );
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn zero_length_token_exchange() {
    let client = Config {
        token_length: 0,
        ..config(1)
    };
    let mut pair = Pair::with_configs(client, config(2));
    let mut tokens = Vec::new();
    pair.handler = Some(Box::new(move |req, token| {
        tokens.push(token);
        assert!(token.is_empty());
        Some(content(req))
    }));
    for path in ["/1", "/2"] {
        pair.client
            .send_request(pair.now, SERVER, Request::get(path), RequestOptions::con())
            .unwrap();
        // Only one zero-length token can be outstanding per peer.
        assert_eq!(
            pair.client
                .send_request(pair.now, SERVER, Request::get(path), RequestOptions::con()),
            Err(Error::TokenExhausted)
        );
        pair.run();
    }
    for s in pair.log.iter() {
        assert_eq!(s.bytes[0] & 0x0f, 0, "TKL 0 everywhere");
    }
    let events = pair.client_events();
    assert_eq!(responses(&events), 2);
    // A separate response with a zero-length token is matched too.
    pair.client
        .send_request(pair.now, SERVER, Request::get("/3"), RequestOptions::con())
        .unwrap();
    pair.handler = None;
    pair.run_for(Duration::from_secs(2));
    let (exchange, token, _) = pair.server_requests.pop_front().unwrap();
    assert_eq!(token, Token::EMPTY);
    pair.server
        .respond(pair.now, exchange, Response::new(ResponseCode::CONTENT))
        .unwrap();
    pair.run();
    assert_eq!(responses(&pair.client_events()), 1);
}

#[test]
fn garbage_is_counted_and_ignored() {
    let mut server = CoapEndpoint::<u8>::new(config(3)).unwrap();
    let now = std::time::Instant::now();
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x40],
        vec![0x40, 0x01, 0x00],
        vec![0x80, 0x01, 0x00, 0x01],          // version 2
        vec![0x00, 0x01, 0x00, 0x01],          // version 0
        vec![0x49, 0x01, 0x12, 0x34, 1, 2, 3], // TKL 9 (CON, parseable header)
        vec![0x40, 0x01, 0x12, 0x35, 0xf0],    // option delta 15
        vec![0x50, 0x45, 0x12, 0x36, 0xff],    // NON, marker without payload
        vec![0x60, 0x01, 0x12, 0x37],          // ACK carrying a request code
        vec![0x50, 0x00, 0x12, 0x38],          // empty NON
        vec![0x40, 0xe0, 0x12, 0x39],          // CON, reserved class 7
        vec![0x40, 0x01, 0x00, 0x01]
            .into_iter()
            .chain(vec![0; 2000])
            .collect(), // oversized
    ];
    for bytes in &inputs {
        server.handle_datagram(now, CLIENT, bytes);
    }
    let stats = server.stats();
    assert_eq!(stats.datagrams_received, inputs.len() as u64);
    assert_eq!(stats.wrong_version, 2);
    assert_eq!(stats.oversized, 1);
    assert_eq!(stats.malformed, 9);
    assert_eq!(server.poll_event(), None, "nothing reaches the upper layer");
    // Malformed CON messages with a readable header are rejected with RST.
    let rsts: Vec<Header> = std::iter::from_fn(|| server.poll_transmit())
        .map(|t| header(&t.bytes))
        .collect();
    assert_eq!(
        rsts,
        vec![
            Header {
                mtype: RST,
                code: 0,
                mid: 0x1234
            },
            Header {
                mtype: RST,
                code: 0,
                mid: 0x1235
            },
            Header {
                mtype: RST,
                code: 0,
                mid: 0x1239
            },
        ]
    );
    assert_eq!(stats.resets_sent, 3);
    // CoAP ping: an empty CON is answered with RST.
    server.handle_datagram(now, CLIENT, &[0x40, 0x00, 0xab, 0xcd]);
    assert_eq!(
        server.poll_transmit().map(|t| t.bytes),
        Some(vec![0x70, 0x00, 0xab, 0xcd])
    );
    assert_eq!(server.poll_event(), None);
}

#[test]
fn unknown_method_and_critical_option_are_answered_automatically() {
    let mut server = CoapEndpoint::<u8>::new(config(3)).unwrap();
    let now = std::time::Instant::now();
    // CON, code 0.08 (unassigned method), mid 1, token 0xaa.
    server.handle_datagram(now, CLIENT, &[0x41, 0x08, 0x00, 0x01, 0xaa]);
    let reply = server.poll_transmit().unwrap();
    assert_eq!(
        header(&reply.bytes),
        Header {
            mtype: ACK,
            code: 0x85,
            mid: 1
        }
    );
    assert_eq!(reply.bytes[4], 0xaa, "token echoed");
    // CON GET with critical option 2049 (unknown): delta 14 ext (2049 - 269 = 1780 = 0x06f4).
    server.handle_datagram(now, CLIENT, &[0x40, 0x01, 0x00, 0x02, 0xe0, 0x06, 0xf4]);
    let reply = server.poll_transmit().unwrap();
    assert_eq!(
        header(&reply.bytes),
        Header {
            mtype: ACK,
            code: 0x82,
            mid: 2
        }
    );
    assert_eq!(server.poll_event(), None);
    assert_eq!(server.stats().auto_error_responses, 2);
}

#[test]
fn dedup_state_is_bounded_per_peer() {
    let server = Config {
        limits: lwm2m_coap::Limits {
            max_dedup_entries_per_peer: 10,
            ..Default::default()
        },
        auto_ack_delay: None,
        ..config(3)
    };
    let mut server = CoapEndpoint::<u8>::new(server).unwrap();
    let now = std::time::Instant::now();
    for mid in 0..100u16 {
        let [hi, lo] = mid.to_be_bytes();
        server.handle_datagram(now, CLIENT, &[0x50, 0x01, hi, lo]);
    }
    let mut requests = 0;
    while let Some(e) = server.poll_event() {
        assert!(matches!(e, Event::Request { .. }));
        requests += 1;
    }
    assert_eq!(requests, 10);
    assert_eq!(server.stats().dropped_overload, 90);
    // Another peer is unaffected, and the records expire after NON_LIFETIME.
    server.handle_datagram(now, 9, &[0x50, 0x01, 0, 0]);
    assert!(server.poll_event().is_some());
    let later = now + Duration::from_secs(146);
    server.handle_datagram(later, CLIENT, &[0x50, 0x01, 0x10, 0x00]);
    assert!(server.poll_event().is_some());
}
