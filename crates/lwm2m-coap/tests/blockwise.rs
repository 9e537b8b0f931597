//! Block-wise transfer scenarios (RFC 7959) over the simulated link.
// Test helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use coap_lite::CoapOption;
use common::*;
use lwm2m_coap::{
    option_number, CoapEndpoint, Config, Event, FailureReason, Request, RequestOptions, Response,
    ResponseCode,
};

fn only_response(pair: &mut Pair) -> Response {
    match pair.client_events().as_slice() {
        [Event::Response { response, .. }] => response.clone(),
        other => panic!("expected one response, got {other:?}"),
    }
}

fn client_blocks(pair: &Pair, option: CoapOption) -> Vec<(u32, bool, usize, usize)> {
    pair.sent_by(Side::Client)
        .iter()
        .map(|s| packet(&s.bytes))
        .filter_map(|p| block(&p, option).map(|(n, m, size)| (n, m, size, p.payload.len())))
        .collect()
}

#[test]
fn block1_upload_over_lossy_link_arrives_intact() {
    let mut pair = Pair::new();
    pair.to_server.loss = 0.2;
    pair.to_client.loss = 0.2;
    pair.seed_link(11);
    pair.respond_with(|req| {
        Response::new(ResponseCode::CHANGED).with_payload(req.payload.len().to_string())
    });
    let firmware = body(5000);
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::put("/5/0/0")
                .with_content_format(42)
                .with_payload(firmware.clone()),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();

    let response = only_response(&mut pair);
    assert_eq!(response.code, ResponseCode::CHANGED);
    assert_eq!(response.payload, b"5000");
    assert!(
        response.options.block1().is_none(),
        "block options are hidden from the upper layer"
    );
    assert_eq!(pair.server_seen.len(), 1, "one reassembled request");
    let seen = &pair.server_seen[0];
    assert_eq!(seen.payload, firmware);
    assert_eq!(seen.path_string(), "/5/0/0");
    assert_eq!(seen.options.content_format(), Some(42));
    assert!(
        !seen.options.contains(option_number::BLOCK1)
            && !seen.options.contains(option_number::SIZE1)
    );
    // The link really was lossy and block 0 announced the size.
    assert!(pair.log.iter().any(|s| !s.delivered));
    assert!(pair.client.stats().retransmissions > 0);
    let first = packet(&pair.sent_by(Side::Client)[0].bytes);
    assert_eq!(block(&first, CoapOption::Block1), Some((0, true, 1024)));
    assert_eq!(
        first.get_first_option(CoapOption::Size1),
        Some(&vec![0x13, 0x88])
    );
    let mut nums: Vec<u32> = client_blocks(&pair, CoapOption::Block1)
        .iter()
        .map(|b| b.0)
        .collect();
    nums.dedup();
    assert_eq!(nums, vec![0, 1, 2, 3, 4]);
}

#[test]
fn block2_download_is_reassembled_and_served_from_cache() {
    let mut pair = Pair::new();
    let doc = body(5000);
    let served = doc.clone();
    pair.respond_with(move |_| Response::content(112, served.clone()));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0").with_accept(112),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();

    let response = only_response(&mut pair);
    assert_eq!(response.payload, doc);
    assert_eq!(response.content_format(), Some(112));
    assert!(response.options.block2().is_none() && response.options.size2().is_none());
    assert_eq!(
        pair.server_seen.len(),
        1,
        "follow-ups never reach the upper layer"
    );
    assert_eq!(pair.server.stats().block2_served_from_cache, 4);
    let first_block = packet(&pair.sent_by(Side::Server)[0].bytes);
    assert_eq!(
        block(&first_block, CoapOption::Block2),
        Some((0, true, 1024))
    );
    assert_eq!(
        first_block.get_first_option(CoapOption::Size2),
        Some(&vec![0x13, 0x88])
    );
    assert!(
        first_block.get_first_option(CoapOption::ETag).is_some(),
        "ETag added for block-wise bodies"
    );
    let asked: Vec<u32> = client_blocks(&pair, CoapOption::Block2)
        .iter()
        .map(|b| b.0)
        .collect();
    assert_eq!(asked, vec![1, 2, 3, 4]);
}

#[test]
fn block2_download_over_lossy_link() {
    let mut pair = Pair::new();
    pair.to_server.loss = 0.25;
    pair.to_client.loss = 0.25;
    pair.seed_link(5);
    let doc = body(7000);
    let served = doc.clone();
    pair.respond_with(move |_| Response::content(60, served.clone()));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    assert_eq!(only_response(&mut pair).payload, doc);
    assert!(pair.client.stats().retransmissions > 0);
    assert_eq!(pair.server_seen.len(), 1);
}

#[test]
fn block1_and_block2_in_one_post() {
    let mut pair = Pair::new();
    pair.respond_with(|req| {
        Response::new(ResponseCode::CHANGED)
            .with_payload(req.payload.iter().rev().copied().collect::<Vec<u8>>())
    });
    let data = body(3000);
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::post("/1/0/8").with_payload(data.clone()),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    let response = only_response(&mut pair);
    assert_eq!(response.code, ResponseCode::CHANGED);
    assert_eq!(
        response.payload,
        data.iter().rev().copied().collect::<Vec<u8>>()
    );
    assert_eq!(pair.server_seen.len(), 1);
}

#[test]
fn server_asks_for_smaller_blocks_with_2_31() {
    let server = Config {
        preferred_block_size: 256,
        ..config(2)
    };
    let mut pair = Pair::with_configs(config(1), server);
    pair.respond_with(|req| {
        Response::new(ResponseCode::CHANGED).with_payload(req.payload.len().to_string())
    });
    let data = body(3000);
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::put("/5/0/0").with_payload(data.clone()),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    assert_eq!(only_response(&mut pair).payload, b"3000");
    assert_eq!(pair.server_seen[0].payload, data);
    let blocks = client_blocks(&pair, CoapOption::Block1);
    assert_eq!(blocks[0], (0, true, 1024, 1024));
    // Acked as 0/1/256: continue at offset 1024 = block 4 of 256 bytes.
    assert_eq!(blocks[1], (4, true, 256, 256));
    assert!(blocks[1..].iter().all(|b| b.2 == 256));
    assert_eq!(
        blocks.last().map(|b| (b.0, b.1, b.3)),
        Some((11, false, 3000 - 11 * 256))
    );
}

/// Pumps datagrams between a client endpoint and a hand-written server.
fn exchange_raw(
    client: &mut CoapEndpoint<u8>,
    now: Instant,
    mut reply: impl FnMut(&coap_lite::Packet) -> Option<Vec<u8>>,
) -> Vec<coap_lite::Packet> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let Some(t) = client.poll_transmit() else {
            break;
        };
        let p = packet(&t.bytes);
        if let Some(answer) = reply(&p) {
            client.handle_datagram(now, SERVER, &answer);
        }
        seen.push(p);
    }
    seen
}

fn mid(p: &coap_lite::Packet) -> u16 {
    p.header.message_id
}

#[test]
fn renegotiates_after_4_13_with_block1_hint() {
    let mut client = CoapEndpoint::<u8>::new(config(1)).unwrap();
    let now = Instant::now();
    let data = body(3000);
    let id = client
        .send_request(
            now,
            SERVER,
            Request::post("/x").with_payload(data.clone()),
            RequestOptions::con(),
        )
        .unwrap();
    let mut received = Vec::new();
    let mut first = true;
    let seen = exchange_raw(&mut client, now, |p| {
        let token = p.get_token().to_vec();
        let (num, more, size) = block(p, CoapOption::Block1).expect("block-wise");
        if first {
            first = false;
            assert_eq!(size, 1024);
            // 4.13 with a preferred size of 256 (RFC 7959 §2.9.3).
            return Some(raw(
                ACK,
                0x8d,
                mid(p),
                &token,
                &[(27, block_value(0, false, 256))],
                &[],
            ));
        }
        assert_eq!(size, 256, "all later blocks use the smaller size");
        assert_eq!(num as usize * 256, received.len(), "restarted from block 0");
        received.extend_from_slice(&p.payload);
        let code = if more { 0x5f } else { 0x44 };
        Some(raw(
            ACK,
            code,
            mid(p),
            &token,
            &[(27, block_value(num, more, 256))],
            &[],
        ))
    });
    assert_eq!(seen.len(), 1 + 12);
    assert_eq!(received, data);
    match client.poll_event() {
        Some(Event::Response {
            id: got, response, ..
        }) => {
            assert_eq!(got, id);
            assert_eq!(response.code, ResponseCode::CHANGED);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn single_message_request_goes_block_wise_after_4_13() {
    let mut client = CoapEndpoint::<u8>::new(config(1)).unwrap();
    let now = Instant::now();
    let data = body(800);
    client
        .send_request(
            now,
            SERVER,
            Request::put("/x").with_payload(data.clone()),
            RequestOptions::con(),
        )
        .unwrap();
    let mut received = Vec::new();
    let seen = exchange_raw(&mut client, now, |p| {
        let token = p.get_token().to_vec();
        match block(p, CoapOption::Block1) {
            None => {
                assert_eq!(p.payload.len(), 800, "fits in one block at first");
                Some(raw(
                    ACK,
                    0x8d,
                    mid(p),
                    &token,
                    &[(27, block_value(0, false, 512))],
                    &[],
                ))
            }
            Some((num, more, size)) => {
                assert_eq!(size, 512);
                assert_eq!(num as usize * 512, received.len());
                received.extend_from_slice(&p.payload);
                let code = if more { 0x5f } else { 0x44 };
                Some(raw(
                    ACK,
                    code,
                    mid(p),
                    &token,
                    &[(27, block_value(num, more, 512))],
                    &[],
                ))
            }
        }
    });
    assert_eq!(seen.len(), 3);
    assert_eq!(received, data);
    assert!(matches!(client.poll_event(), Some(Event::Response { .. })));
}

#[test]
fn upload_over_reassembly_limit_gets_4_13_with_size1() {
    let server = Config {
        max_body_size: 2000,
        ..config(2)
    };
    let mut pair = Pair::with_configs(config(1), server);
    pair.respond_with(|_| Response::new(ResponseCode::CHANGED));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::put("/5/0/0").with_payload(body(5000)),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    let response = only_response(&mut pair);
    assert_eq!(response.code, ResponseCode::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(response.options.size1(), Some(2000));
    assert!(pair.server_seen.is_empty());
    assert_eq!(
        pair.sent_by(Side::Client).len(),
        1,
        "rejected at block 0 thanks to Size1"
    );
}

#[test]
fn missing_block_gets_4_08() {
    let mut server = CoapEndpoint::<u8>::new(config(2)).unwrap();
    let now = Instant::now();
    let b1 = raw(
        CON,
        0x03,
        10,
        &[1],
        &[(11, b"x".to_vec()), (27, block_value(1, true, 16))],
        &[0; 16],
    );
    server.handle_datagram(now, CLIENT, &b1);
    let reply = server.poll_transmit().unwrap();
    assert_eq!(
        header(&reply.bytes),
        Header {
            mtype: ACK,
            code: 0x88,
            mid: 10
        }
    );
    // A block of the wrong size is a bad request.
    let bad = raw(
        CON,
        0x03,
        11,
        &[1],
        &[(11, b"x".to_vec()), (27, block_value(0, true, 16))],
        &[0; 10],
    );
    server.handle_datagram(now, CLIENT, &bad);
    assert_eq!(header(&server.poll_transmit().unwrap().bytes).code, 0x80);
    assert_eq!(server.poll_event(), None);
}

#[test]
fn early_block2_negotiation_is_honoured() {
    let mut pair = Pair::new();
    let doc = body(300);
    let served = doc.clone();
    pair.respond_with(move |_| Response::content(0, served.clone()));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0").with_block2_size(64).unwrap(),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    assert_eq!(only_response(&mut pair).payload, doc);
    let sizes: Vec<usize> = pair
        .sent_by(Side::Server)
        .iter()
        .map(|s| packet(&s.bytes).payload.len())
        .collect();
    assert_eq!(sizes, vec![64, 64, 64, 64, 44]);
    assert!(
        pair.server_seen[0].options.block2().is_none(),
        "block options hidden from the app"
    );
}

#[test]
fn client_prefers_smaller_blocks_than_server() {
    let mut pair = Pair::new();
    let doc = body(2000);
    let served = doc.clone();
    pair.respond_with(move |_| Response::content(0, served.clone()));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/big"),
            RequestOptions::con().with_block_size(256),
        )
        .unwrap();
    pair.run();
    assert_eq!(only_response(&mut pair).payload, doc);
    let asked: Vec<(u32, usize)> = client_blocks(&pair, CoapOption::Block2)
        .iter()
        .map(|b| (b.0, b.2))
        .collect();
    assert_eq!(
        asked,
        vec![(4, 256), (5, 256), (6, 256), (7, 256)],
        "offset 1024 at 256-byte blocks"
    );
}

#[test]
fn oversized_download_fails() {
    let client = Config {
        max_body_size: 3000,
        ..config(1)
    };
    let mut pair = Pair::with_configs(client, config(2));
    pair.respond_with(|_| Response::content(0, body(5000)));
    let id = pair
        .client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/big"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    assert_eq!(
        pair.client_events(),
        vec![Event::RequestFailed {
            id,
            peer: SERVER,
            reason: FailureReason::TooLarge
        }]
    );
}

#[test]
fn block2_cache_miss_asks_the_app_again() {
    let mut pair = Pair::new();
    pair.respond_with(|_| Response::content(0, body(3000)));
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/big"),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    assert_eq!(only_response(&mut pair).payload, body(3000));
    pair.run_for(Duration::from_secs(200)); // cache (120 s) expired
    let req = Request::get("/big").with_option(option_number::BLOCK2, block_value(2, false, 1024));
    pair.client
        .send_request(pair.now, SERVER, req, RequestOptions::con())
        .unwrap();
    pair.run();
    assert_eq!(pair.server_seen.len(), 2, "the app produced the body again");
    assert_eq!(
        only_response(&mut pair).payload,
        body(3000)[2048..].to_vec()
    );
}
