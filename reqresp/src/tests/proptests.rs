//! Property tests: round trips under random chunking, arbitrary input never
//! panics, over-limit lengths rejected on the header.

use crate::snappy::{self, FrameDecoder};
use crate::{
    Codec, DecodeError, LengthDelimitedCodec, ProtocolLimits, ResponseChunk, ResponseCode,
    SszSnappyCodec,
};
use bytes::Bytes;
use leanp2p_identity::varint;
use proptest::prelude::*;
use std::io::{Read, Write};

fn limits() -> ProtocolLimits {
    ProtocolLimits {
        max_request_size: 200_000,
        max_response_size: 200_000,
        ..ProtocolLimits::default()
    }
}

/// Payloads mixing random and highly compressible data, sometimes over 64 KiB.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2_000),
        (any::<u8>(), 0usize..140_000).prop_map(|(b, n)| vec![b; n]),
        (0usize..100_000).prop_map(|n| (0..n).map(|i| (i % 251) as u8).collect()),
    ]
}

fn chunk() -> impl Strategy<Value = ResponseChunk> {
    prop_oneof![
        3 => payload().prop_map(ResponseChunk::success),
        1 => (1u8..=255, proptest::collection::vec(any::<u8>(), 0..=256))
            .prop_map(|(c, m)| ResponseChunk::error(ResponseCode::from_u8(c), m)),
    ]
}

/// Cuts `data` at the given (sorted, deduplicated) fractions.
fn pieces(data: &[u8], cuts: &[u16]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) * data.len() / usize::from(u16::MAX))
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([data.len()]) {
        out.push(data[prev..a.max(prev)].to_vec());
        prev = a.max(prev);
    }
    out
}

fn decode_responses(
    codec: &dyn Codec,
    parts: &[Vec<u8>],
) -> Result<Vec<ResponseChunk>, DecodeError> {
    let mut dec = codec.response_decoder(&limits());
    let mut got = Vec::new();
    for part in parts {
        let mut input = part.as_slice();
        while let Some(c) = dec.decode(&mut input)? {
            got.push(c);
        }
        assert!(input.is_empty());
    }
    dec.finish()?;
    Ok(got)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn framing_matches_snap_and_round_trips(data in payload(), cuts in proptest::collection::vec(any::<u16>(), 0..12)) {
        let ours = snappy::framed(&data);
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(&data).unwrap();
        prop_assert_eq!(&ours, &enc.into_inner().unwrap());
        let mut dec = FrameDecoder::new(data.len());
        for part in pieces(&ours, &cuts) {
            let mut input = part.as_slice();
            dec.decode(&mut input).unwrap();
            prop_assert!(input.is_empty());
        }
        prop_assert!(dec.is_done());
        prop_assert_eq!(dec.into_output(), data.clone());
        let mut back = Vec::new();
        snap::read::FrameDecoder::new(ours.as_slice()).read_to_end(&mut back).unwrap();
        prop_assert_eq!(back, data);
    }

    #[test]
    fn ssz_snappy_request_round_trip(body in payload(), cuts in proptest::collection::vec(any::<u16>(), 0..12)) {
        let mut wire = Vec::new();
        SszSnappyCodec.encode_request(&body, &limits(), &mut wire).unwrap();
        let mut dec = SszSnappyCodec.request_decoder(&limits());
        let mut got = None;
        for part in pieces(&wire, &cuts) {
            let mut input = part.as_slice();
            if let Some(b) = dec.decode(&mut input).unwrap() {
                prop_assert!(got.is_none());
                got = Some(b);
            }
            prop_assert_eq!(dec.decode(&mut input).unwrap(), None);
        }
        dec.finish().unwrap();
        prop_assert_eq!(got, Some(Bytes::from(body)));
    }

    #[test]
    fn ssz_snappy_response_round_trip(chunks in proptest::collection::vec(chunk(), 0..5), cuts in proptest::collection::vec(any::<u16>(), 0..16)) {
        let mut wire = Vec::new();
        for c in &chunks {
            SszSnappyCodec.encode_response_chunk(c, &limits(), &mut wire).unwrap();
        }
        prop_assert_eq!(decode_responses(&SszSnappyCodec, &pieces(&wire, &cuts)).unwrap(), chunks);
    }

    #[test]
    fn length_delimited_round_trip(bodies in proptest::collection::vec(payload(), 0..4), cuts in proptest::collection::vec(any::<u16>(), 0..16)) {
        let chunks: Vec<_> = bodies.into_iter().map(ResponseChunk::success).collect();
        let mut wire = Vec::new();
        for c in &chunks {
            LengthDelimitedCodec.encode_response_chunk(c, &limits(), &mut wire).unwrap();
        }
        prop_assert_eq!(decode_responses(&LengthDelimitedCodec, &pieces(&wire, &cuts)).unwrap(), chunks);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4_000)) {
        crate::fuzzing::snappy_frame(&data);
        crate::fuzzing::reqresp_chunk(&data);
        crate::fuzzing::reqresp_request(&data);
    }

    #[test]
    fn machine_survives_arbitrary_operations(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        crate::fuzzing::reqresp_ops(&data, std::time::Instant::now());
    }

    #[test]
    fn mutated_valid_streams_never_panic(chunks in proptest::collection::vec(chunk(), 1..3), flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8)) {
        let mut wire = Vec::new();
        for c in &chunks {
            SszSnappyCodec.encode_response_chunk(c, &limits(), &mut wire).unwrap();
        }
        for (at, x) in flips {
            let i = usize::from(at) % wire.len();
            wire[i] ^= x;
        }
        let _ = decode_responses(&SszSnappyCodec, &[wire.clone()]);
        crate::fuzzing::reqresp_chunk(&wire);
    }

    /// A declared length over the limit is refused right after the header,
    /// with no payload byte sent: nothing was allocated for it.
    #[test]
    fn over_limit_lengths_rejected_on_the_header(extra in 1u64..=u64::MAX - 200_000, code in any::<u8>()) {
        let limits = limits();
        let max = if code == 0 { limits.max_response_size } else { limits.max_error_message_size };
        let declared = (max as u64).saturating_add(extra);
        let mut header = vec![code];
        varint::write(declared, &mut header);
        let mut dec = SszSnappyCodec.response_decoder(&limits);
        let mut input = header.as_slice();
        prop_assert_eq!(dec.decode(&mut input), Err(DecodeError::LengthTooLarge { declared, max }));

        let mut req = Vec::new();
        varint::write(declared.max(200_001), &mut req);
        for codec in [&SszSnappyCodec as &dyn Codec, &LengthDelimitedCodec] {
            let mut dec = codec.request_decoder(&limits);
            let mut input = req.as_slice();
            let refused = matches!(dec.decode(&mut input), Err(DecodeError::LengthTooLarge { .. }));
            prop_assert!(refused);
        }
    }
}
