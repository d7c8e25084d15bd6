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
/// fed to the framed decoder in pieces.
pub fn snappy_frame(data: &[u8]) {
    let (step, data) = split(data);
    let (expected, body) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
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
