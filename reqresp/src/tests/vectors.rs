//! The byte vectors of `shared/protocols/reqresp.md` §5 through the codec.

use super::harness::hex;
use crate::lean::{self, BlocksByRangeRequest, BlocksByRootRequest, Status};
use crate::{Codec, DecodeError, ProtocolLimits, ResponseChunk, ResponseCode, SszSnappyCodec};
use bytes::Bytes;

const STATUS_FRAMES: &str = "ff060000734e61507059000d0000432bbb66500000fe01003a0100";
const NOT_FOUND_FRAMES: &str = "ff060000734e61507059010d0000dc89c0096e6f7420666f756e64";

fn status_limits() -> ProtocolLimits {
    lean::status_protocol().limits
}

fn encode_request(body: &[u8], limits: &ProtocolLimits) -> Vec<u8> {
    let mut out = Vec::new();
    SszSnappyCodec
        .encode_request(body, limits, &mut out)
        .unwrap();
    out
}

fn decode_request(wire: &[u8], limits: &ProtocolLimits) -> Result<Bytes, DecodeError> {
    let mut dec = SszSnappyCodec.request_decoder(limits);
    let mut input = wire;
    let body = dec.decode(&mut input)?.ok_or(DecodeError::Truncated)?;
    assert_eq!(dec.decode(&mut input)?, None);
    dec.finish()?;
    Ok(body)
}

fn decode_response(
    wire: &[u8],
    limits: &ProtocolLimits,
) -> Result<Vec<ResponseChunk>, DecodeError> {
    let mut dec = SszSnappyCodec.response_decoder(limits);
    let mut input = wire;
    let mut chunks = Vec::new();
    while let Some(c) = dec.decode(&mut input)? {
        chunks.push(c);
    }
    dec.finish()?;
    Ok(chunks)
}

#[test]
fn status_request_and_success_response() {
    let status = Status::default().to_ssz().unwrap();
    let request = hex(&format!("50 {STATUS_FRAMES}"));
    assert_eq!(encode_request(&status, &status_limits()), request);
    assert_eq!(decode_request(&request, &status_limits()).unwrap(), status);

    let response = hex(&format!("00 50 {STATUS_FRAMES}"));
    let mut wire = Vec::new();
    SszSnappyCodec
        .encode_response_chunk(
            &ResponseChunk::success(status.clone()),
            &status_limits(),
            &mut wire,
        )
        .unwrap();
    assert_eq!(wire, response);
    assert_eq!(
        decode_response(&response, &status_limits()).unwrap(),
        vec![ResponseChunk::success(status)]
    );
}

#[test]
fn blocks_by_root_request() {
    let limits = lean::blocks_by_root_protocol().limits;
    let body = BlocksByRootRequest {
        roots: vec![[0x11; 32]],
    }
    .to_ssz()
    .unwrap();
    let wire = hex("24 ff060000734e61507059000e000015a190f8241004000000117a0100");
    assert_eq!(encode_request(&body, &limits), wire);
    let decoded = decode_request(&wire, &limits).unwrap();
    assert_eq!(
        BlocksByRootRequest::from_ssz(&decoded).unwrap().roots,
        vec![[0x11; 32]]
    );
}

#[test]
fn blocks_by_range_request() {
    let limits = lean::blocks_by_range_protocol().limits;
    let body = BlocksByRangeRequest {
        start_slot: 5,
        count: 10,
    }
    .to_ssz()
    .unwrap();
    let wire =
        hex("10 | ff060000734e61507059 01 140000 4f375a2d 0500000000000000 0a00000000000000");
    assert_eq!(encode_request(&body, &limits), wire);
    let decoded = decode_request(&wire, &limits).unwrap();
    assert_eq!(
        BlocksByRangeRequest::from_ssz(&decoded).unwrap(),
        BlocksByRangeRequest {
            start_slot: 5,
            count: 10
        }
    );
}

#[test]
fn resource_unavailable_error_response() {
    let limits = lean::blocks_by_range_protocol().limits;
    let wire = hex(&format!("03 09 {NOT_FOUND_FRAMES}"));
    let chunk = ResponseChunk::error(
        ResponseCode::ResourceUnavailable,
        Bytes::from_static(b"not found"),
    );
    let mut out = Vec::new();
    SszSnappyCodec
        .encode_response_chunk(&chunk, &limits, &mut out)
        .unwrap();
    assert_eq!(out, wire);
    assert_eq!(decode_response(&wire, &limits).unwrap(), vec![chunk]);
}

#[test]
fn multi_chunk_response_then_error_decodes_at_every_split() {
    let limits = lean::blocks_by_root_protocol().limits;
    // Two "blocks" (80 zero bytes, and deadbeef) followed by an error chunk.
    let wire = hex(&format!(
        "00 50 {STATUS_FRAMES} \
         00 04 ff060000734e61507059 01 080000 90cea091 deadbeef \
         03 09 {NOT_FOUND_FRAMES}"
    ));
    let expected = vec![
        ResponseChunk::success(vec![0u8; 80]),
        ResponseChunk::success(hex("deadbeef")),
        ResponseChunk::error(
            ResponseCode::ResourceUnavailable,
            Bytes::from_static(b"not found"),
        ),
    ];
    let mut encoded = Vec::new();
    for c in &expected {
        SszSnappyCodec
            .encode_response_chunk(c, &limits, &mut encoded)
            .unwrap();
    }
    assert_eq!(encoded, wire);
    for split in 1..wire.len() {
        let mut dec = SszSnappyCodec.response_decoder(&limits);
        let mut got = Vec::new();
        for piece in [&wire[..split], &wire[split..]] {
            let mut input = piece;
            while let Some(c) = dec.decode(&mut input).unwrap() {
                got.push(c);
            }
            assert!(input.is_empty());
        }
        dec.finish().unwrap();
        assert_eq!(got, expected, "split at {split}");
    }
}

#[test]
fn alternative_compressed_form_is_accepted() {
    let limits = ProtocolLimits::default();
    let wire = hex("00 04 ff060000734e61507059 00 0a0000 90cea091 040cdeadbeef");
    assert_eq!(
        decode_response(&wire, &limits).unwrap(),
        vec![ResponseChunk::success(hex("deadbeef"))]
    );
}

#[test]
fn declared_lengths_are_checked_against_protocol_limits() {
    // A Status request must be exactly 80 bytes.
    let wire = hex(&format!("51 {STATUS_FRAMES}"));
    assert_eq!(
        decode_request(&wire, &status_limits()),
        Err(DecodeError::LengthTooLarge {
            declared: 81,
            max: 80
        })
    );
    // An error message is at most 256 bytes.
    assert_eq!(
        decode_response(&hex("03 81 02"), &status_limits()),
        Err(DecodeError::LengthTooLarge {
            declared: 257,
            max: 256
        })
    );
    // A missing result byte: the first byte 0x50 is read as a (reserved) code
    // and the next as a length, then the frames do not line up.
    assert!(decode_response(&hex(&format!("50 {STATUS_FRAMES}")), &status_limits()).is_err());
    // Truncated mid-chunk.
    let full = hex(&format!("00 50 {STATUS_FRAMES}"));
    assert_eq!(
        decode_response(&full[..full.len() - 1], &status_limits()),
        Err(DecodeError::Truncated)
    );
}
