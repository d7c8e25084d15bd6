//! Fuzz entry points (feature `fuzzing`): plain `fn(&[u8])` bodies for
//! cargo-fuzz targets. Each must never panic on any input.

use crate::codec::{Codec, LengthDelimitedCodec, SszSnappyCodec};
use crate::protocol::ProtocolLimits;
use crate::snappy::FrameDecoder;

/// Splits `data` into a split-pattern byte and the payload.
fn split(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&s, rest)) => (usize::from(s % 17) + 1, rest),
        None => (1, data),
    }
}

/// `snappy_frame`: the first two bytes give the expected length; the rest is
/// fed to the framed decoder in pieces. Then the same rest, taken as a payload, is
/// framed by our encoder and must decode (in the same pieces) to itself exactly.
pub fn snappy_frame(data: &[u8]) {
    let (step, data) = split(data);
    let (expected, body) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    decode_in_pieces(body, expected, step);
    let encoded = crate::snappy::framed(body);
    assert!(encoded.len() <= crate::snappy::max_compressed_len(body.len()));
    let mut dec = FrameDecoder::new(body.len());
    let mut finished = body.is_empty();
    for piece in encoded.chunks(step) {
        let mut input = piece;
        match dec.decode(&mut input) {
            Ok(true) => {
                assert!(input.is_empty(), "our own stream has trailing bytes");
                finished = true;
            }
            Ok(false) => assert!(input.is_empty(), "decoder left input while not done"),
            Err(e) => panic!("our own framed stream does not decode: {e}"),
        }
    }
    assert!(
        finished && dec.is_done(),
        "our own framed stream is incomplete"
    );
    assert_eq!(
        dec.into_output(),
        body,
        "snappy round trip changed the payload"
    );
}

/// Feeds `body` to a [`FrameDecoder`] expecting `expected` bytes, `step` bytes at a time.
fn decode_in_pieces(body: &[u8], expected: usize, step: usize) {
    let mut dec = FrameDecoder::new(expected);
    for piece in body.chunks(step) {
        let mut input = piece;
        match dec.decode(&mut input) {
            Ok(true) | Err(_) => break,
            Ok(false) => assert!(input.is_empty(), "decoder left input while not done"),
        }
    }
    let done = dec.is_done();
    let out = dec.into_output();
    assert!(out.len() <= expected);
    assert!(!done || out.len() == expected);
}

fn limits() -> ProtocolLimits {
    ProtocolLimits {
        max_request_size: 1 << 20,
        max_response_size: 1 << 20,
        ..ProtocolLimits::default()
    }
}

/// `reqresp_chunk`: arbitrary bytes as a response stream of both built-in codecs.
pub fn reqresp_chunk(data: &[u8]) {
    let (step, data) = split(data);
    let limits = limits();
    for codec in [&SszSnappyCodec as &dyn Codec, &LengthDelimitedCodec] {
        let mut dec = codec.response_decoder(&limits);
        let mut failed = false;
        'outer: for piece in data.chunks(step) {
            let mut input = piece;
            loop {
                match dec.decode(&mut input) {
                    Ok(Some(chunk)) => {
                        let max = if chunk.is_success() {
                            limits.max_response_size
                        } else {
                            limits.max_error_message_size
                        };
                        assert!(chunk.payload.len() <= max);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break 'outer;
                    }
                }
            }
        }
        if !failed {
            let _ = dec.finish();
        }
    }
}

/// `reqresp_request`: arbitrary bytes as a request stream of both built-in codecs.
pub fn reqresp_request(data: &[u8]) {
    let (step, data) = split(data);
    let limits = limits();
    for codec in [&SszSnappyCodec as &dyn Codec, &LengthDelimitedCodec] {
        let mut dec = codec.request_decoder(&limits);
        let mut requests = 0;
        let mut failed = false;
        for piece in data.chunks(step) {
            let mut input = piece;
            match dec.decode(&mut input) {
                Ok(Some(body)) => {
                    requests += 1;
                    assert!(body.len() <= limits.max_request_size);
                    let mut rest = input;
                    if dec.decode(&mut rest).is_err() {
                        failed = true;
                        break;
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(requests <= 1);
        if !failed {
            let _ = dec.finish();
        }
    }
}

/// `reqresp_ops`: arbitrary bytes drive two peers' worth of commands and
/// stream inputs into one machine (requests, inbound streams, data, FIN,
/// reset, responses, time, disconnects). After everything, disconnecting
/// every peer and letting time pass must leave nothing tracked. The fuzz
/// target passes a base instant (`Instant::now()` in the target).
pub fn reqresp_ops(data: &[u8], t0: std::time::Instant) {
    use crate::{lean, Config, Event, ReqResp, ResponseChunk, ResponseCode, StreamKey, StreamOp};
    use bytes::Bytes;
    use leanp2p_identity::Keypair;
    use std::time::Duration;

    let peers: Vec<_> = (1u8..=2)
        .filter_map(|i| Keypair::from_secret_bytes(&[i; 32]).ok())
        .map(|k| k.peer_id())
        .collect();
    let Ok(mut m) = ReqResp::new(Config::lean()) else {
        return;
    };
    let protocols = [
        lean::STATUS,
        lean::BLOCKS_BY_ROOT,
        lean::BLOCKS_BY_ROOT_LEGACY,
        lean::BLOCKS_BY_RANGE,
    ];
    let mut now = t0;
    let mut opening = Vec::new();
    let mut channels = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        let Some(&peer) = peers.get(usize::from(arg) % peers.len()) else {
            return;
        };
        let protocol_id = protocols.get(usize::from(arg >> 4) % protocols.len());
        let protocol = protocol_id.map_or("", |p| p.as_str());
        let key = StreamKey::new(0, u64::from(arg % 8));
        match op % 10 {
            0 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                if let Some(id) = protocol_id {
                    let _ = m.request(now, peer, id, Bytes::from(vec![arg; len]));
                }
            }
            1 => {
                let _ = m.handle_stream_opened(now, peer, key, protocol);
            }
            2 => {
                let len = usize::from(bytes.next().unwrap_or(0) % 64);
                let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                let _ = m.handle_stream_data(now, key, &chunk);
            }
            3 => {
                let _ = m.handle_stream_finished(now, key);
            }
            4 => {
                let _ = m.handle_stream_reset(now, key);
            }
            5 => {
                if !opening.is_empty() {
                    let request = opening.remove(usize::from(arg) % opening.len());
                    let _ = m.handle_outbound_stream_opened(
                        now,
                        request,
                        StreamKey::new(1, u64::from(arg)),
                    );
                }
            }
            6 | 7 => {
                if let Some(&ch) = channels.get(usize::from(arg) % channels.len().max(1)) {
                    let result = if op % 10 == 6 {
                        let chunk = if arg & 1 == 0 {
                            ResponseChunk::success(vec![arg; usize::from(arg) + 1])
                        } else {
                            ResponseChunk::error(ResponseCode::from_u8(arg), Bytes::new())
                        };
                        m.respond(now, ch, chunk)
                    } else {
                        m.end_response(now, ch)
                    };
                    let _ = result;
                }
            }
            8 => {
                now += Duration::from_millis(u64::from(arg) * 100);
                m.handle_timeout(now);
            }
            _ => m.handle_peer_disconnected(now, peer),
        }
        while let Some(op) = m.poll_outbound() {
            if let StreamOp::Open { request, .. } = op {
                opening.push(request);
            }
        }
        while let Some(ev) = m.poll_event() {
            if let Event::InboundRequest { channel, .. } = ev {
                channels.push(channel);
            }
        }
        if let Some(deadline) = m.poll_timeout() {
            assert!(deadline >= t0, "deadline before the start");
        }
    }
    for peer in &peers {
        m.handle_peer_disconnected(now, *peer);
    }
    assert_eq!(m.active_requests(), 0);
    assert_eq!(m.active_inbound(), 0);
    assert_eq!(m.tracked_streams(), 0);
    now += Duration::from_secs(3600);
    m.handle_timeout(now);
    while m.poll_outbound().is_some() {}
    while m.poll_event().is_some() {}
    assert_eq!(m.tracked_peers(), 0);
    assert_eq!(m.poll_timeout(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_frame_round_trips_sample_payloads() {
        let compressible = [&[7u8, 0, 0][..], &[b'a'; 3000][..]].concat();
        let incompressible: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let inputs: [&[u8]; 5] = [
            &[],
            &[3],
            &[0, 5, 0, b'h', b'e', b'l', b'l', b'o'],
            &compressible,
            &incompressible,
        ];
        for data in inputs {
            snappy_frame(data);
            reqresp_chunk(data);
            reqresp_request(data);
        }
        // The decoder half still sees a valid stream whole: expected length 5, then
        // the framed encoding of "hello".
        let mut valid = vec![16, 5, 0];
        valid.extend_from_slice(&crate::snappy::framed(b"hello"));
        snappy_frame(&valid);
    }
}
