//! Plain `fn(&[u8])` fuzz entry points (feature `fuzzing`), wrapped by the cargo-fuzz
//! targets. Each one panics (only) when an invariant is broken.

use bytes::Bytes;

use crate::{Config, Limits, Negotiation, NegotiationError, ProtocolId, ProtocolSet, Version};

/// The ids the fuzz entry points draw offers and supported sets from.
pub(crate) const UNIVERSE: [ProtocolId; 6] = [
    ProtocolId::from_static("/meshsub/1.2.0"),
    ProtocolId::from_static("/meshsub/1.1.0"),
    ProtocolId::from_static("/meshsub/1.0.0"),
    ProtocolId::from_static("/ipfs/ping/1.0.0"),
    ProtocolId::from_static("/leanconsensus/req/blocks_by_root/1/ssz_snappy"),
    ProtocolId::from_static("/leanconsensus/req/status/1/ssz_snappy"),
];

/// A deterministic chunk-size source (xorshift), so one byte of fuzz input picks a split.
#[derive(Debug, Clone)]
pub(crate) struct Splitter(u32);

impl Splitter {
    /// A splitter seeded with `seed`.
    pub(crate) fn new(seed: u8) -> Self {
        Self(u32::from(seed).wrapping_mul(0x9e37_79b9) | 1)
    }

    /// Next chunk size in `1..=max`.
    pub(crate) fn next(&mut self, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as usize % max.max(1)) + 1
    }
}

/// Everything observable from feeding one input to one negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// Concatenated `poll_output`.
    pub(crate) output: Vec<u8>,
    /// `None` if still running at the end; the leftover includes any input after agreement.
    pub(crate) result: Option<Result<(ProtocolId, Bytes), NegotiationError>>,
}

/// Feeds `input` in the chunks `cuts` produces (drain rule after every call), checking the
/// buffer limit after each call. With `take_early` the outcome is taken as soon as it is
/// available and the rest of the input is appended by hand; otherwise the negotiation keeps
/// collecting leftover until the end.
pub(crate) fn feed(
    neg: &mut Negotiation,
    limits: &Limits,
    input: &[u8],
    mut cuts: impl FnMut() -> usize,
    take_early: bool,
    as_bytes: bool,
) -> Run {
    let mut output = Vec::new();
    let drain = |neg: &mut Negotiation, output: &mut Vec<u8>| {
        while let Some(b) = neg.poll_output() {
            output.extend_from_slice(&b);
        }
    };
    drain(neg, &mut output);
    let mut rest = input;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(cuts().min(rest.len()));
        rest = tail;
        let r = if as_bytes {
            neg.handle_input_bytes(Bytes::copy_from_slice(chunk))
        } else {
            neg.handle_input(chunk)
        };
        assert!(
            neg.buffered_input() <= limits.max_line_len + 2,
            "buffered beyond limit"
        );
        if let Err(e) = r {
            assert_eq!(neg.poll_output(), None, "output after failure");
            assert_eq!(neg.outcome(), Some(Err(e.clone())));
            assert_eq!(neg.ready_to_send(), None);
            return Run {
                output,
                result: Some(Err(e)),
            };
        }
        drain(neg, &mut output);
        if take_early && neg.is_finished() {
            if let Some(Ok(n)) = neg.outcome() {
                assert_eq!(neg.ready_to_send(), Some(&n.protocol));
                assert_eq!(
                    neg.handle_input(b"x"),
                    Err(NegotiationError::InputAfterOutcome)
                );
                let mut leftover = n.leftover.to_vec();
                leftover.extend_from_slice(rest);
                return Run {
                    output,
                    result: Some(Ok((n.protocol, Bytes::from(leftover)))),
                };
            }
        }
    }
    let result = neg.outcome().map(|r| r.map(|n| (n.protocol, n.leftover)));
    Run { output, result }
}

/// Feeds arbitrary bytes to a dialer or listener (chosen by the first byte), once in one
/// piece and once split as the second byte dictates, and checks that both runs agree, that
/// the leftover is a suffix of the input, and that buffering stays within the limits.
pub fn negotiate(data: &[u8]) {
    let [flags, split_seed, input @ ..] = data else {
        return;
    };
    let dialer = flags & 1 == 1;
    let version = if flags & 2 != 0 {
        Version::V1Lazy
    } else {
        Version::V1
    };
    let limits = if flags & 4 != 0 {
        Limits {
            max_line_len: Limits::MIN_LINE_LEN + 40,
            max_attempts: 4,
            max_ls_entries: 2,
        }
    } else {
        Limits::default()
    };
    let config = Config { limits, version };
    let take_early = flags & 8 != 0;
    let as_bytes = flags & 16 != 0;
    let count = 1 + usize::from(flags >> 6);
    let set = match ProtocolSet::new(UNIVERSE.iter().take(count).cloned()) {
        Ok(s) => s,
        Err(e) => panic!("fixed set invalid: {e}"),
    };
    let make = || {
        let n = if dialer {
            Negotiation::dialer(set.clone(), &config)
        } else {
            Negotiation::listener(set.clone(), &config)
        };
        match n {
            Ok(n) => n,
            Err(e) => panic!("fixed config invalid: {e}"),
        }
    };

    let whole = feed(&mut make(), &limits, input, || usize::MAX, false, false);
    let mut splitter = Splitter::new(*split_seed);
    let max_chunk = 1 + usize::from(split_seed % 9);
    let split = feed(
        &mut make(),
        &limits,
        input,
        || splitter.next(max_chunk),
        take_early,
        as_bytes,
    );

    assert_eq!(whole.result, split.result, "split changed the result");
    match &whole.result {
        Some(Err(_)) => {}
        Some(Ok((protocol, leftover))) => {
            assert!(
                input.ends_with(leftover),
                "leftover is not a suffix of the input"
            );
            assert!(set.position(protocol.as_str()).is_some());
            assert_eq!(whole.output, split.output);
        }
        None => assert_eq!(whole.output, split.output),
    }
}

/// Runs one of our dialers against one of our listeners, with offer, supported set,
/// version and read splits drawn from `data`, and checks they agree on the first offered
/// protocol the listener supports (or both fail), and that application data written as
/// soon as [`Negotiation::ready_to_send`] allows reaches the other side intact.
pub fn pair(data: &[u8]) {
    let [offer_bits, support_bits, flags, seed_a, seed_b, ..] = data else {
        return;
    };
    let rotate = usize::from(flags >> 2) % UNIVERSE.len();
    let offer: Vec<ProtocolId> = (0..UNIVERSE.len())
        .map(|i| (i + rotate) % UNIVERSE.len())
        .filter(|i| offer_bits & (1 << i) != 0)
        .filter_map(|i| UNIVERSE.get(i).cloned())
        .collect();
    let supported: Vec<ProtocolId> = UNIVERSE
        .iter()
        .enumerate()
        .filter(|(i, _)| support_bits & (1 << i) != 0)
        .map(|(_, p)| p.clone())
        .collect();
    if offer.is_empty() {
        return;
    }
    let version = if flags & 1 != 0 {
        Version::V1Lazy
    } else {
        Version::V1
    };
    let config = Config {
        limits: Limits::default(),
        version,
    };
    let expected = offer.iter().find(|p| supported.contains(p)).cloned();
    let (Ok(offer_set), Ok(supported_set)) = (ProtocolSet::new(offer), ProtocolSet::new(supported))
    else {
        panic!("fixed universe gives valid sets");
    };
    let (Ok(mut dialer), Ok(mut listener)) = (
        Negotiation::dialer(offer_set, &config),
        Negotiation::listener(supported_set, &config),
    ) else {
        panic!("default config is valid");
    };
    let outcome = run_pair(&mut dialer, &mut listener, *seed_a, *seed_b, flags & 2 != 0);
    match expected {
        Some(p) => {
            assert_eq!(
                outcome.dialer.as_ref().map(|(p, _)| p),
                Ok(&p),
                "{outcome:?}"
            );
            assert_eq!(
                outcome.listener.as_ref().map(|(p, _)| p),
                Ok(&p),
                "{outcome:?}"
            );
            assert_eq!(
                outcome.listener.as_ref().map(|(_, d)| &d[..]),
                Ok(DIALER_DATA)
            );
            assert_eq!(
                outcome.dialer.as_ref().map(|(_, d)| &d[..]),
                Ok(LISTENER_DATA)
            );
        }
        None => {
            let lazy_last = version == Version::V1Lazy;
            match &outcome.dialer {
                Err(NegotiationError::NoProtocolInCommon) => assert!(!lazy_last),
                Err(NegotiationError::LazyRejected { .. }) => assert!(lazy_last),
                // The listener choked on our optimistic data and reset before its `na`
                // went out.
                Err(NegotiationError::PeerClosed { .. }) => assert!(lazy_last),
                other => panic!("dialer should fail, got {other:?}"),
            }
            assert!(outcome.listener.is_err(), "{outcome:?}");
        }
    }
}

/// Application bytes the dialer writes as soon as it may.
pub(crate) const DIALER_DATA: &[u8] = b"\x05hello dialer data";
/// Application bytes the listener writes as soon as it may.
pub(crate) const LISTENER_DATA: &[u8] = b"listener data";

/// What each side ended with: the protocol and all application bytes it received, or its
/// error.
#[derive(Debug)]
pub(crate) struct PairOutcome {
    pub(crate) dialer: Result<(ProtocolId, Vec<u8>), NegotiationError>,
    pub(crate) listener: Result<(ProtocolId, Vec<u8>), NegotiationError>,
}

/// One side of an in-memory exchange.
struct Side<'a> {
    neg: &'a mut Negotiation,
    app_data: &'static [u8],
    wrote_app: bool,
    /// Bytes in flight towards this side.
    inbox: Vec<u8>,
    received_app: Vec<u8>,
    result: Option<Result<ProtocolId, NegotiationError>>,
    splitter: Splitter,
    saw_eof: bool,
}

impl Side<'_> {
    /// Drains output into `peer_inbox`, then appends app data if allowed.
    fn flush(&mut self, peer_inbox: &mut Vec<u8>) {
        while let Some(b) = self.neg.poll_output() {
            peer_inbox.extend_from_slice(&b);
        }
        if !self.wrote_app && self.neg.ready_to_send().is_some() {
            peer_inbox.extend_from_slice(self.app_data);
            self.wrote_app = true;
        }
    }

    /// Delivers one chunk of the inbox. Returns `true` if something happened.
    fn deliver(&mut self, max_chunk: usize, peer_closed: bool) -> bool {
        if self.inbox.is_empty() {
            if peer_closed && !self.saw_eof {
                self.saw_eof = true;
                if let Err(e) = self.neg.handle_eof() {
                    if self.result.is_none() {
                        self.result = Some(Err(e));
                    }
                }
                return true;
            }
            return false;
        }
        let n = self.splitter.next(max_chunk).min(self.inbox.len());
        let chunk: Vec<u8> = self.inbox.drain(..n).collect();
        match &self.result {
            Some(Ok(_)) => self.received_app.extend_from_slice(&chunk),
            Some(Err(_)) => {}
            None => match self.neg.handle_input(&chunk) {
                Err(e) => self.result = Some(Err(e)),
                Ok(()) => {
                    if let Some(r) = self.neg.outcome() {
                        self.result = Some(r.map(|n| {
                            self.received_app.extend_from_slice(&n.leftover);
                            n.protocol
                        }));
                    }
                }
            },
        }
        true
    }
}

/// Moves bytes between `dialer` and `listener` in seeded random chunks until neither
/// has anything left to do. A side that failed "resets": the other sees end of stream.
pub(crate) fn run_pair(
    dialer: &mut Negotiation,
    listener: &mut Negotiation,
    seed_a: u8,
    seed_b: u8,
    one_byte: bool,
) -> PairOutcome {
    let max_chunk = if one_byte { 1 } else { 64 };
    let mut d = Side {
        neg: dialer,
        app_data: DIALER_DATA,
        wrote_app: false,
        inbox: Vec::new(),
        received_app: Vec::new(),
        result: None,
        splitter: Splitter::new(seed_a),
        saw_eof: false,
    };
    let mut l = Side {
        neg: listener,
        app_data: LISTENER_DATA,
        wrote_app: false,
        inbox: Vec::new(),
        received_app: Vec::new(),
        result: None,
        splitter: Splitter::new(seed_b),
        saw_eof: false,
    };
    // Generous bound: every step moves at least one byte or ends a side.
    for _ in 0..10_000 {
        d.flush(&mut l.inbox);
        l.flush(&mut d.inbox);
        let d_failed = matches!(d.result, Some(Err(_)));
        let l_failed = matches!(l.result, Some(Err(_)));
        let moved_l = l.deliver(max_chunk, d_failed);
        let moved_d = d.deliver(max_chunk, l_failed);
        if !moved_l && !moved_d {
            break;
        }
    }
    let finish = |s: Side<'_>| match s.result {
        Some(Ok(p)) => Ok((p, s.received_app)),
        Some(Err(e)) => Err(e),
        None => Err(NegotiationError::PeerClosed {
            mid_frame: false,
            after_na: false,
        }),
    };
    PairOutcome {
        dialer: finish(d),
        listener: finish(l),
    }
}
