//! One test per flow of the reference (protocols/multistream.md), plus every error path.

use bytes::Bytes;

use super::*;
use crate::{ConfigError, Expected, Limits, MessageKind, Negotiated, NegotiationError, Role};

fn ok(n: &mut Negotiation) -> Negotiated {
    match n.outcome() {
        Some(Ok(n)) => n,
        other => panic!("expected success, got {other:?}"),
    }
}

// ---------------------------------------------------------------- dialer

#[test]
fn dialer_success_first_candidate() {
    let mut d = dialer(&[PING], &Config::default());
    assert_eq!(d.role(), Role::Dialer);
    // Header and proposal in one buffer.
    assert_eq!(
        d.poll_output().unwrap(),
        Bytes::from(cat(&[HEADER, &frame(&PING)]))
    );
    assert_eq!(d.poll_output(), None);
    assert_eq!(d.ready_to_send(), None, "V1 waits for the echo");
    assert_eq!(d.outcome(), None);
    d.handle_input(&cat(&[HEADER, &frame(&PING)])).unwrap();
    assert_eq!(drain(&mut d), b"");
    let n = ok(&mut d);
    assert_eq!((n.protocol, n.index, n.leftover.len()), (PING, 0, 0));
    assert_eq!(d.ready_to_send(), Some(&PING));
    assert_eq!(d.outcome(), None, "success is handed out once");
    assert!(d.is_finished());
}

#[test]
fn dialer_spec_bytes_for_meshsub() {
    let mut d = dialer(&[MESH_11], &Config::default());
    let hex: String = drain(&mut d).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "132f6d756c746973747265616d2f312e302e300a0f2f6d6573687375622f312e312e300a"
    );
}

#[test]
fn dialer_falls_back_on_na() {
    let mut d = dialer(&[MESH_12, MESH_11, MESH_10], &Config::default());
    assert_eq!(drain(&mut d), cat(&[HEADER, &frame(&MESH_12)]));
    d.handle_input(&cat(&[HEADER, NA])).unwrap();
    // Next proposal without a header.
    assert_eq!(drain(&mut d), frame(&MESH_11));
    assert_eq!(d.outcome(), None);
    d.handle_input(NA).unwrap();
    assert_eq!(drain(&mut d), frame(&MESH_10));
    d.handle_input(&frame(&MESH_10)).unwrap();
    let n = ok(&mut d);
    assert_eq!((n.protocol, n.index), (MESH_10, 2));
}

#[test]
fn dialer_na_for_all_fails_without_violation() {
    let mut d = dialer(&[MESH_12, MESH_11], &Config::default());
    drain(&mut d);
    d.handle_input(&cat(&[HEADER, NA])).unwrap();
    assert_eq!(drain(&mut d), frame(&MESH_11));
    let e = d.handle_input(NA).unwrap_err();
    assert_eq!(e, NegotiationError::NoProtocolInCommon);
    assert!(!e.is_protocol_violation());
    assert_eq!(d.poll_output(), None);
    assert_eq!(d.outcome(), Some(Err(NegotiationError::NoProtocolInCommon)));
    // Errors are sticky.
    assert_eq!(
        d.handle_input(HEADER),
        Err(NegotiationError::NoProtocolInCommon)
    );
    assert_eq!(d.handle_eof(), Err(NegotiationError::NoProtocolInCommon));
}

#[test]
fn dialer_requires_header_first() {
    let mut d = dialer(&[PING], &Config::default());
    let e = d.handle_input(&frame(&PING)).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::UnexpectedMessage {
            got: MessageKind::Protocol,
            expected: Expected::Header
        }
    );
    assert!(e.is_protocol_violation());
    assert_eq!(d.poll_output(), None, "queued output is dropped on failure");
}

#[test]
fn dialer_rejects_wrong_confirmation_and_other_messages() {
    let mut d = dialer(&[PING, MESH_11], &Config::default());
    assert_eq!(
        d.handle_input(&cat(&[HEADER, &frame(&MESH_11)])),
        Err(NegotiationError::WrongConfirmation),
        "echo of a candidate we have not proposed yet"
    );
    let mut d = dialer(&[PING], &Config::default());
    assert_eq!(
        d.handle_input(&cat(&[HEADER, &frame(&BY_ROOT)])),
        Err(NegotiationError::WrongConfirmation)
    );
    for (msg, kind) in [
        (HEADER, MessageKind::Header),
        (LS, MessageKind::ListRequest),
        (&b"\x01\n"[..], MessageKind::ListResponse),
    ] {
        let mut d = dialer(&[PING], &Config::default());
        assert_eq!(
            d.handle_input(&cat(&[HEADER, msg])),
            Err(NegotiationError::UnexpectedMessage {
                got: kind,
                expected: Expected::ConfirmationOrNa
            })
        );
    }
}

#[test]
fn dialer_eof_before_agreement() {
    let mut d = dialer(&[PING], &Config::default());
    d.handle_input(&HEADER[..5]).unwrap();
    let e = d.handle_eof().unwrap_err();
    assert_eq!(
        e,
        NegotiationError::PeerClosed {
            mid_frame: true,
            after_na: false
        }
    );
    assert!(!e.is_protocol_violation());
}

// ---------------------------------------------------------------- lazy dialer

#[test]
fn lazy_dialer_settles_immediately_and_confirms_later() {
    let mut d = dialer(&[PING], &lazy());
    assert_eq!(d.version(), Version::V1Lazy);
    // One buffer the host can append its request to.
    assert_eq!(
        d.poll_output().unwrap(),
        Bytes::from(cat(&[HEADER, &frame(&PING)]))
    );
    assert_eq!(d.poll_output(), None);
    assert_eq!(d.ready_to_send(), Some(&PING));
    assert!(d.is_optimistic());
    assert_eq!(d.outcome(), None, "not confirmed yet");
    // Header and echo arrive with the response's first bytes.
    d.handle_input(&cat(&[HEADER, &frame(&PING), b"pong"]))
        .unwrap();
    assert!(!d.is_optimistic());
    let n = ok(&mut d);
    assert_eq!((n.protocol, &n.leftover[..]), (PING, &b"pong"[..]));
}

#[test]
fn lazy_dialer_na_is_an_error() {
    let mut d = dialer(&[PING], &lazy());
    drain(&mut d);
    let e = d.handle_input(&cat(&[HEADER, NA])).unwrap_err();
    assert_eq!(e, NegotiationError::LazyRejected { protocol: PING });
    assert!(!e.is_protocol_violation());
    assert_eq!(d.ready_to_send(), None);
}

#[test]
fn lazy_dialer_with_candidates_settles_on_the_last() {
    let mut d = dialer(&[MESH_12, MESH_11], &lazy());
    assert_eq!(drain(&mut d), cat(&[HEADER, &frame(&MESH_12)]));
    assert_eq!(
        d.ready_to_send(),
        None,
        "not the last candidate: waits like V1"
    );
    d.handle_input(&cat(&[HEADER, NA])).unwrap();
    assert_eq!(drain(&mut d), frame(&MESH_11));
    assert_eq!(d.ready_to_send(), Some(&MESH_11));
    assert_eq!(
        d.handle_input(NA),
        Err(NegotiationError::LazyRejected { protocol: MESH_11 })
    );
}

// ---------------------------------------------------------------- listener

#[test]
fn listener_success() {
    let mut l = listener(&[MESH_11, PING]);
    assert_eq!(l.role(), Role::Listener);
    // Header is sent right away, before anything is read.
    assert_eq!(drain(&mut l), HEADER);
    l.handle_input(HEADER).unwrap();
    assert_eq!(drain(&mut l), b"");
    assert_eq!(l.ready_to_send(), None);
    l.handle_input(&frame(&PING)).unwrap();
    assert_eq!(drain(&mut l), frame(&PING));
    let n = ok(&mut l);
    assert_eq!((n.protocol, n.index, n.leftover.len()), (PING, 1, 0));
    assert_eq!(l.ready_to_send(), Some(&PING));
}

#[test]
fn listener_na_then_success() {
    let mut l = listener(&[MESH_11, MESH_10]);
    drain(&mut l);
    l.handle_input(&cat(&[HEADER, &frame(&MESH_12)])).unwrap();
    assert_eq!(drain(&mut l), NA);
    assert_eq!(l.outcome(), None);
    l.handle_input(&frame(&MESH_11)).unwrap();
    assert_eq!(drain(&mut l), frame(&MESH_11));
    assert_eq!(ok(&mut l).protocol, MESH_11);
}

#[test]
fn listener_na_for_all_then_dialer_gives_up() {
    let mut l = listener(&[PING]);
    drain(&mut l);
    l.handle_input(&cat(&[HEADER, &frame(&MESH_12), &frame(&MESH_11)]))
        .unwrap();
    assert_eq!(drain(&mut l), cat(&[NA, NA]));
    let e = l.handle_eof().unwrap_err();
    assert_eq!(
        e,
        NegotiationError::PeerClosed {
            mid_frame: false,
            after_na: true
        }
    );
    assert!(!e.is_protocol_violation());
}

#[test]
fn listener_answers_ls() {
    let mut l = listener(&[PING, MESH_11]);
    drain(&mut l);
    l.handle_input(&cat(&[HEADER, LS])).unwrap();
    // The spec's example response.
    assert_eq!(
        drain(&mut l),
        b"\x23\x11/ipfs/ping/1.0.0\n\x0f/meshsub/1.1.0\n\n".to_vec()
    );
    l.handle_input(&frame(&MESH_11)).unwrap();
    assert_eq!(drain(&mut l), frame(&MESH_11));
    assert_eq!(ok(&mut l).protocol, MESH_11);
}

#[test]
fn listener_with_empty_set_answers_na_and_empty_ls() {
    let mut l = Negotiation::listener(ProtocolSet::new([]).unwrap(), &Config::default()).unwrap();
    drain(&mut l);
    l.handle_input(&cat(&[HEADER, LS, &frame(&PING)])).unwrap();
    assert_eq!(drain(&mut l), cat(&[b"\x01\n", NA]));
}

#[test]
fn listener_accepts_lazy_dialer_in_one_read() {
    let mut l = listener(&[PING]);
    // header ‖ proposal ‖ request ‖ (FIN) in one read, before we even drained our header.
    l.handle_input(&cat(&[HEADER, &frame(&PING), b"\x00\x01request"]))
        .unwrap();
    // Our header and echo come out together.
    assert_eq!(drain(&mut l), cat(&[HEADER, &frame(&PING)]));
    let n = ok(&mut l);
    assert_eq!(
        (n.protocol, &n.leftover[..]),
        (PING, &b"\x00\x01request"[..])
    );
    assert_eq!(
        l.handle_eof(),
        Ok(()),
        "FIN after agreement belongs to the application"
    );
}

#[test]
fn listener_rejecting_a_lazy_dialer_is_not_a_violation() {
    // A V1Lazy dialer's request follows its (unsupported) proposal in the same write.
    let mut l = listener(&[PING]);
    let e = l
        .handle_input(&cat(&[HEADER, &frame(&MESH_11), b"\x00request"]))
        .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::DataAfterNa {
            cause: Box::new(NegotiationError::EmptyMessage)
        }
    );
    assert!(!e.is_protocol_violation());
    // Request bytes that happen to decode as a misplaced message count the same.
    let mut l = listener(&[PING]);
    let e = l
        .handle_input(&cat(&[HEADER, &frame(&MESH_11), NA]))
        .unwrap_err();
    assert!(matches!(e, NegotiationError::DataAfterNa { .. }), "{e:?}");
    // Without a preceding na, the same bytes are a violation.
    let mut l = listener(&[PING]);
    let e = l.handle_input(&cat(&[HEADER, LS, b"\x00"])).unwrap_err();
    assert_eq!(e, NegotiationError::EmptyMessage);
    assert!(e.is_protocol_violation());
}

#[test]
fn listener_requires_header_first_and_rejects_misplaced_messages() {
    let mut l = listener(&[PING]);
    assert_eq!(
        l.handle_input(&frame(&PING)),
        Err(NegotiationError::UnexpectedMessage {
            got: MessageKind::Protocol,
            expected: Expected::Header
        })
    );
    for (msg, kind) in [
        (HEADER, MessageKind::Header),
        (NA, MessageKind::NotAvailable),
        (&b"\x01\n"[..], MessageKind::ListResponse),
    ] {
        let mut l = listener(&[PING]);
        assert_eq!(
            l.handle_input(&cat(&[HEADER, msg])),
            Err(NegotiationError::UnexpectedMessage {
                got: kind,
                expected: Expected::ProposalOrList
            })
        );
    }
}

#[test]
fn listener_bounds_attempts() {
    let mut l = listener(&[PING]);
    drain(&mut l);
    l.handle_input(HEADER).unwrap();
    for i in 0..16 {
        let p = ProtocolId::new(&format!("/unknown/{i}")).unwrap();
        let msg = if i % 4 == 3 { LS.to_vec() } else { frame(&p) };
        l.handle_input(&msg).unwrap();
        drain(&mut l);
    }
    let e = l.handle_input(&frame(&MESH_11)).unwrap_err();
    assert_eq!(e, NegotiationError::TooManyAttempts { max: 16 });
    assert!(e.is_protocol_violation());
    // A supported proposal after 16 answers would still have been accepted.
    let mut l = listener(&[PING]);
    l.handle_input(HEADER).unwrap();
    for _ in 0..16 {
        l.handle_input(&frame(&MESH_11)).unwrap();
    }
    l.handle_input(&frame(&PING)).unwrap();
    assert_eq!(ok(&mut l).protocol, PING);
}

#[test]
fn length_byte_0x2f_frame_is_matched() {
    let by_root_frame = frame(&BY_ROOT);
    assert_eq!(by_root_frame[..2], *b"//");
    let mut l = listener(&[PING, BY_ROOT]);
    l.handle_input(&cat(&[HEADER, &by_root_frame, b"/x"]))
        .unwrap();
    assert_eq!(drain(&mut l), cat(&[HEADER, &by_root_frame]));
    let n = ok(&mut l);
    assert_eq!((n.protocol, &n.leftover[..]), (BY_ROOT, &b"/x"[..]));
    let mut d = dialer(&[BY_ROOT], &Config::default());
    drain(&mut d);
    d.handle_input(&cat(&[HEADER, &by_root_frame])).unwrap();
    assert_eq!(ok(&mut d).protocol, BY_ROOT);
}

#[test]
fn matching_is_byte_exact() {
    let mut l = listener(&[PING]);
    l.handle_input(HEADER).unwrap();
    l.handle_input(b"\x11/IPFS/ping/1.0.0\n").unwrap();
    l.handle_input(b"\x12/ipfs/ping/1.0.0 \n").unwrap();
    assert_eq!(drain(&mut l), cat(&[HEADER, NA, NA]));
}

// ---------------------------------------------------------------- both / simultaneous

#[test]
fn simultaneous_headers_before_draining() {
    // The listener's header and echo reach the dialer before the dialer's own first write
    // was drained: no lock-step is assumed.
    let mut d = dialer(&[PING], &Config::default());
    d.handle_input(HEADER).unwrap();
    d.handle_input(&frame(&PING)).unwrap();
    assert_eq!(drain(&mut d), cat(&[HEADER, &frame(&PING)]));
    assert_eq!(ok(&mut d).protocol, PING);
    // The listener receives the dialer's header after its own went out, and the
    // proposal in the same read.
    let mut l = listener(&[PING]);
    assert_eq!(drain(&mut l), HEADER);
    l.handle_input(&cat(&[HEADER, &frame(&PING)])).unwrap();
    assert_eq!(drain(&mut l), frame(&PING));
    assert_eq!(ok(&mut l).protocol, PING);
}

#[test]
fn dialer_and_listener_pair_one_byte_at_a_time() {
    for version in [Version::V1, Version::V1Lazy] {
        let config = Config {
            version,
            ..Config::default()
        };
        let mut d = dialer(&[MESH_12, MESH_11], &config);
        let mut l = listener(&[MESH_11, MESH_10]);
        let out = crate::fuzzing::run_pair(&mut d, &mut l, 1, 2, true);
        let want = |data: &[u8]| Ok((MESH_11, data.to_vec()));
        assert_eq!(
            out.dialer,
            want(crate::fuzzing::LISTENER_DATA),
            "{version:?}"
        );
        assert_eq!(
            out.listener,
            want(crate::fuzzing::DIALER_DATA),
            "{version:?}"
        );
    }
}

// ---------------------------------------------------------------- leftover

#[test]
fn leftover_collects_later_input_until_taken() {
    let mut d = dialer(&[PING], &Config::default());
    d.handle_input(&cat(&[HEADER, &frame(&PING), b"ab"]))
        .unwrap();
    d.handle_input(b"cd").unwrap();
    d.handle_input(b"").unwrap();
    assert_eq!(&ok(&mut d).leftover[..], b"abcd");
    assert_eq!(
        d.handle_input(b"e"),
        Err(NegotiationError::InputAfterOutcome)
    );
    // Caller misuse leaves the state alone.
    assert_eq!(d.ready_to_send(), Some(&PING));
}

#[test]
fn leftover_from_bytes_input_is_zero_copy() {
    let mut l = listener(&[PING]);
    let input = Bytes::from(cat(&[HEADER, &frame(&PING), b"request"]));
    l.handle_input_bytes(input.clone()).unwrap();
    let n = ok(&mut l);
    assert_eq!(&n.leftover[..], b"request");
    let start = input.as_ptr() as usize + input.len() - 7;
    assert_eq!(
        n.leftover.as_ptr() as usize,
        start,
        "leftover should be a slice of the input"
    );
}

#[test]
fn frame_split_in_the_length_prefix_and_payload() {
    let mut l = listener(&[PING]);
    let wire = cat(&[HEADER, &frame(&PING)]);
    for b in &wire {
        l.handle_input(std::slice::from_ref(b)).unwrap();
        assert!(l.buffered_input() <= 20);
    }
    assert_eq!(drain(&mut l), cat(&[HEADER, &frame(&PING)]));
    assert_eq!(ok(&mut l).leftover.len(), 0);
}

// ---------------------------------------------------------------- framing errors

#[test]
fn framing_errors() {
    let cases: [(&[u8], NegotiationError); 6] = [
        (
            b"\x81\x08",
            NegotiationError::LineTooLong {
                len: 1025,
                max: 1024,
            },
        ),
        (b"\xff\xff\x01", NegotiationError::LengthPrefixTooLong),
        (b"\x80\x00", NegotiationError::NonMinimalLengthPrefix),
        (b"\x00", NegotiationError::EmptyMessage),
        (b"\x03ab\n", NegotiationError::InvalidMessage),
        (b"\x04/\xc3\x28\n", NegotiationError::InvalidProtocolName),
    ];
    for (input, want) in cases {
        let mut l = listener(&[PING]);
        assert_eq!(l.handle_input(input), Err(want.clone()), "{input:02x?}");
        assert!(want.is_protocol_violation());
        assert_eq!(l.buffered_input(), 0);
        let mut d = dialer(&[PING], &Config::default());
        assert_eq!(d.handle_input(input), Err(want), "{input:02x?}");
    }
}

#[test]
fn oversized_line_is_rejected_before_buffering() {
    let mut l = listener(&[PING]);
    // A declared 16383-byte frame fails on its prefix; nothing is buffered.
    assert_eq!(
        l.handle_input(b"\xff\x7f"),
        Err(NegotiationError::LineTooLong {
            len: 16383,
            max: 1024
        })
    );
    // At the limit, the payload is buffered (and no more).
    let mut l = listener(&[PING]);
    l.handle_input(HEADER).unwrap();
    l.handle_input(b"\x80\x08/").unwrap();
    l.handle_input(&[b'a'; 1022]).unwrap();
    assert_eq!(l.buffered_input(), 2 + 1023);
    l.handle_input(b"\n").unwrap();
    assert_eq!(drain(&mut l), cat(&[HEADER, NA]));
    assert_eq!(l.buffered_input(), 0);
}

// ---------------------------------------------------------------- config

#[test]
fn constructor_errors() {
    let c = Config::default();
    assert_eq!(
        Negotiation::dialer(ProtocolSet::new([]).unwrap(), &c).unwrap_err(),
        ConfigError::EmptyOffer
    );
    let tight = Config {
        limits: Limits {
            max_attempts: 1,
            max_line_len: 19,
            ..Limits::default()
        },
        ..Config::default()
    };
    assert_eq!(
        Negotiation::dialer(set(&[MESH_12, MESH_11]), &tight).unwrap_err(),
        ConfigError::TooManyCandidates {
            offered: 2,
            max_attempts: 1
        }
    );
    assert_eq!(
        Negotiation::listener(set(&[BY_ROOT]), &tight).unwrap_err(),
        ConfigError::ProtocolTooLong {
            protocol: BY_ROOT,
            line_len: 47,
            max_line_len: 19
        }
    );
    let bad = Config {
        limits: Limits {
            max_attempts: 0,
            ..Limits::default()
        },
        ..Config::default()
    };
    assert_eq!(
        Negotiation::listener(set(&[PING]), &bad).unwrap_err(),
        ConfigError::ZeroAttempts
    );
}

#[test]
fn undrained_output_stays_bounded() {
    let mut l = listener(&[PING, MESH_11]);
    let ls_response_len = 1 + 0x23;
    let mut input = HEADER.to_vec();
    for _ in 0..16 {
        input.extend_from_slice(LS);
    }
    l.handle_input(&input).unwrap();
    assert_eq!(l.pending_output(), HEADER.len() + 16 * ls_response_len);
    assert_eq!(
        l.handle_input(LS),
        Err(NegotiationError::TooManyAttempts { max: 16 })
    );
    assert_eq!(l.pending_output(), 0);
}
