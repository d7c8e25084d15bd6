//! leanp2p-reqresp against a reference `ssz_snappy` codec written the way
//! rust-libp2p clients (ethlambda, Lighthouse) write theirs: on
//! `snap::write::FrameEncoder` / `snap::read::FrameDecoder`, reading each
//! chunk exactly up to its declared length. Frames produced by either side
//! must decode on the other.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use leanp2p_identity::Keypair;
use leanp2p_reqresp::{
    lean, Codec, Config, Event, ReqResp, ResponseChunk, ResponseCode, SszSnappyCodec, StreamKey,
    StreamOp,
};
use std::io::{Read, Write};
use std::time::Instant;

/// The reference codec (test code only).
mod reference {
    use super::*;

    pub fn write_uvarint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    pub fn read_uvarint(input: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&b, rest) = input.split_first()?;
            *input = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn write_payload(ssz: &[u8], out: &mut Vec<u8>) {
        write_uvarint(ssz.len() as u64, out);
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(ssz).unwrap();
        out.extend_from_slice(&enc.into_inner().unwrap());
    }

    pub fn encode_request(ssz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_payload(ssz, &mut out);
        out
    }

    pub fn encode_response_chunk(code: u8, ssz: &[u8]) -> Vec<u8> {
        let mut out = vec![code];
        write_payload(ssz, &mut out);
        out
    }

    /// Reads `uvarint ‖ frames` and stops exactly at the declared length.
    fn read_payload(input: &mut &[u8], max: usize) -> Vec<u8> {
        let len = read_uvarint(input).expect("length prefix") as usize;
        assert!(len <= max, "declared length {len} over {max}");
        let mut out = vec![0u8; len];
        if len > 0 {
            let mut dec = snap::read::FrameDecoder::new(&mut *input);
            dec.read_exact(&mut out).expect("snappy frames");
        }
        out
    }

    pub fn decode_request(mut input: &[u8], max: usize) -> Vec<u8> {
        let body = read_payload(&mut input, max);
        assert!(input.is_empty(), "trailing bytes after request");
        body
    }

    pub fn decode_response(mut input: &[u8], max: usize) -> Vec<(u8, Vec<u8>)> {
        let mut chunks = Vec::new();
        while let Some((&code, rest)) = input.split_first() {
            input = rest;
            chunks.push((code, read_payload(&mut input, max)));
        }
        chunks
    }
}

fn payloads() -> Vec<Vec<u8>> {
    let mut seed = 0x1234_5678_u32;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed & 0xff) as u8
    };
    vec![
        vec![0; 80],
        vec![0xde, 0xad, 0xbe, 0xef],
        (0..100_000u32).map(|i| (i % 251) as u8).collect(),
        (0..70_000).map(|_| noise()).collect(),
        (0..200_000u32).map(|i| (i / 1000) as u8).collect(),
        b"x".to_vec(),
    ]
}

fn limits() -> leanp2p_reqresp::ProtocolLimits {
    leanp2p_reqresp::ProtocolLimits {
        max_request_size: 1 << 20,
        max_response_size: 1 << 20,
        ..Default::default()
    }
}

#[test]
fn reference_requests_decode_here_and_ours_decode_there() {
    for p in payloads() {
        let theirs = reference::encode_request(&p);
        let mut ours = Vec::new();
        SszSnappyCodec
            .encode_request(&p, &limits(), &mut ours)
            .unwrap();
        assert_eq!(
            ours,
            theirs,
            "byte-identical encoding for {} bytes",
            p.len()
        );
        assert_eq!(reference::decode_request(&ours, 1 << 20), p);

        // Ours, fed in 1000-byte pieces.
        let mut dec = SszSnappyCodec.request_decoder(&limits());
        let mut got = None;
        for piece in theirs.chunks(1000) {
            let mut input = piece;
            if let Some(body) = dec.decode(&mut input).unwrap() {
                got = Some(body);
            }
        }
        dec.finish().unwrap();
        assert_eq!(got.as_deref(), Some(&p[..]));
    }
}

#[test]
fn reference_multi_chunk_responses_decode_here_and_ours_decode_there() {
    let mut theirs = Vec::new();
    let mut ours = Vec::new();
    let mut expected = Vec::new();
    for p in payloads() {
        theirs.extend(reference::encode_response_chunk(0, &p));
        SszSnappyCodec
            .encode_response_chunk(&ResponseChunk::success(p.clone()), &limits(), &mut ours)
            .unwrap();
        expected.push((0u8, p));
    }
    theirs.extend(reference::encode_response_chunk(3, b"not found"));
    SszSnappyCodec
        .encode_response_chunk(
            &ResponseChunk::error(ResponseCode::ResourceUnavailable, &b"not found"[..]),
            &limits(),
            &mut ours,
        )
        .unwrap();
    expected.push((3, b"not found".to_vec()));
    assert_eq!(ours, theirs);
    assert_eq!(reference::decode_response(&ours, 1 << 20), expected);

    for split in [1usize, 3, 4096, 65_536] {
        let mut dec = SszSnappyCodec.response_decoder(&limits());
        let mut got = Vec::new();
        for piece in theirs.chunks(split) {
            let mut input = piece;
            while let Some(c) = dec.decode(&mut input).unwrap() {
                got.push((c.code.to_u8(), c.payload.to_vec()));
            }
        }
        dec.finish().unwrap();
        assert_eq!(got, expected, "split {split}");
    }
}

#[test]
fn machine_speaks_to_a_reference_peer() {
    let t0 = Instant::now();
    let peer = Keypair::from_secret_bytes(&[2; 32]).unwrap().peer_id();
    let mut rr = ReqResp::new(Config::lean()).unwrap();
    let req = lean::BlocksByRangeRequest {
        start_slot: 10,
        count: 2,
    };
    let id = rr
        .request(
            t0,
            peer,
            &lean::BLOCKS_BY_RANGE,
            req.to_ssz().unwrap().into(),
        )
        .unwrap();
    assert!(matches!(rr.poll_outbound(), Some(StreamOp::Open { .. })));
    let key = StreamKey::new(1, 4);
    rr.handle_outbound_stream_opened(t0, id, key).unwrap();
    let Some(StreamOp::Write { data, .. }) = rr.poll_outbound() else {
        panic!("expected the request bytes")
    };
    assert_eq!(rr.poll_outbound(), Some(StreamOp::Finish { stream: key }));
    // The reference responder reads our request...
    let body = reference::decode_request(&data, 16);
    assert_eq!(lean::BlocksByRangeRequest::from_ssz(&body).unwrap(), req);
    // ...and answers with two blocks, which arrive byte by byte.
    let blocks = [vec![1u8; 300_000], vec![2u8; 5]];
    let mut wire = Vec::new();
    for b in &blocks {
        wire.extend(reference::encode_response_chunk(0, b));
    }
    for b in wire.chunks(7) {
        rr.handle_stream_data(t0, key, b).unwrap();
    }
    let events: Vec<_> = std::iter::from_fn(|| rr.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            Event::Response {
                request: id,
                peer,
                payload: blocks[0].clone().into()
            },
            Event::Response {
                request: id,
                peer,
                payload: blocks[1].clone().into()
            },
            Event::Completed {
                request: id,
                peer,
                chunks: 2
            },
        ]
    );
}

#[test]
fn machine_answers_a_reference_requester() {
    let t0 = Instant::now();
    let peer = Keypair::from_secret_bytes(&[3; 32]).unwrap().peer_id();
    let mut rr = ReqResp::new(Config::lean()).unwrap();
    let key = StreamKey::new(9, 1);
    rr.handle_stream_opened(t0, peer, key, lean::STATUS.as_str())
        .unwrap();
    let status = lean::Status {
        head: lean::Checkpoint {
            root: [7; 32],
            slot: 42,
        },
        ..Default::default()
    };
    rr.handle_stream_data(
        t0,
        key,
        &reference::encode_request(&status.to_ssz().unwrap()),
    )
    .unwrap();
    rr.handle_stream_finished(t0, key).unwrap();
    let Some(Event::InboundRequest { channel, body, .. }) = rr.poll_event() else {
        panic!("expected a request")
    };
    assert_eq!(lean::Status::from_ssz(&body).unwrap(), status);
    rr.respond(
        t0,
        channel,
        ResponseChunk::success(status.to_ssz().unwrap()),
    )
    .unwrap();
    rr.end_response(t0, channel).unwrap();
    let mut wire = Vec::new();
    while let Some(op) = rr.poll_outbound() {
        match op {
            StreamOp::Write { data, .. } => wire.extend_from_slice(&data),
            StreamOp::Finish { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        reference::decode_response(&wire, 80),
        vec![(0, status.to_ssz().unwrap())]
    );
    assert_eq!(rr.active_inbound(), 0);
}
