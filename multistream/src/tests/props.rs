//! Property tests: any split of a valid exchange negotiates identically; arbitrary input
//! never panics and never buffers beyond the limit.

use proptest::prelude::*;

use super::*;
use crate::fuzzing::{feed, UNIVERSE};
use crate::Limits;

/// A subset of [`UNIVERSE`] in a permuted order.
fn ids() -> impl Strategy<Value = Vec<ProtocolId>> {
    Just(UNIVERSE.to_vec())
        .prop_shuffle()
        .prop_flat_map(|all| (Just(all), 0..=UNIVERSE.len()))
        .prop_map(|(all, n)| all.into_iter().take(n).collect())
}

/// Chunk sizes, cycled; 1 means one byte at a time.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..24, 1..16)
}

fn cycler(cuts: Vec<usize>) -> impl FnMut() -> usize {
    let mut i = 0;
    move || {
        let c = cuts[i % cuts.len()];
        i += 1;
        c
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Listener fed a valid dialer transcript (header, proposals up to the first supported
    /// one, then application bytes) split anywhere: same protocol, same leftover, same
    /// output bytes as the reference answer.
    #[test]
    fn listener_any_split(
        offer in ids().prop_filter("non-empty", |o| !o.is_empty()),
        supported in ids(),
        app in prop::collection::vec(any::<u8>(), 0..48),
        cuts in cuts(),
        take_early in any::<bool>(),
        as_bytes in any::<bool>(),
    ) {
        let chosen = offer.iter().position(|p| supported.contains(p));
        let proposed = chosen.map_or(offer.len(), |i| i + 1);
        let mut input = HEADER.to_vec();
        let mut want_out = HEADER.to_vec();
        for p in offer.iter().take(proposed) {
            input.extend_from_slice(&frame(p));
            if supported.contains(p) {
                want_out.extend_from_slice(&frame(p));
            } else {
                want_out.extend_from_slice(NA);
            }
        }
        if chosen.is_some() {
            input.extend_from_slice(&app);
        }
        let limits = Limits::default();
        let mut l = listener(&supported);
        let run = feed(&mut l, &limits, &input, cycler(cuts), take_early, as_bytes);
        prop_assert_eq!(run.output, want_out);
        match chosen {
            Some(i) => {
                let (p, leftover) = run.result.unwrap().unwrap();
                prop_assert_eq!(&p, &offer[i]);
                prop_assert_eq!(&leftover[..], &app[..]);
            }
            None => prop_assert_eq!(run.result, None),
        }
    }

    /// Dialer fed a valid listener transcript (header, `na` per rejected candidate, echo,
    /// application bytes) split anywhere, in V1 and V1Lazy.
    #[test]
    fn dialer_any_split(
        offer in ids().prop_filter("non-empty", |o| !o.is_empty()),
        accept_at in any::<prop::sample::Index>(),
        app in prop::collection::vec(any::<u8>(), 0..48),
        cuts in cuts(),
        lazy_mode in any::<bool>(),
        take_early in any::<bool>(),
        as_bytes in any::<bool>(),
    ) {
        let k = accept_at.index(offer.len());
        let mut input = HEADER.to_vec();
        let mut want_out = HEADER.to_vec();
        for (i, p) in offer.iter().enumerate().take(k + 1) {
            want_out.extend_from_slice(&frame(p));
            if i < k {
                input.extend_from_slice(NA);
            }
        }
        input.extend_from_slice(&frame(&offer[k]));
        input.extend_from_slice(&app);
        let config = if lazy_mode { lazy() } else { Config::default() };
        let mut d = dialer(&offer, &config);
        let run = feed(&mut d, &config.limits, &input, cycler(cuts), take_early, as_bytes);
        prop_assert_eq!(run.output, want_out);
        let (p, leftover) = run.result.unwrap().unwrap();
        prop_assert_eq!(&p, &offer[k]);
        prop_assert_eq!(&leftover[..], &app[..]);
    }

    /// Our dialer against our listener with random offers, supported sets, versions and
    /// read splits (including one byte at a time).
    #[test]
    fn pair_agrees(data in prop::collection::vec(any::<u8>(), 5..8)) {
        crate::fuzzing::pair(&data);
    }

    /// Arbitrary bytes: no panic, buffering within the limit, split-independent result.
    #[test]
    fn arbitrary_input(data in prop::collection::vec(any::<u8>(), 0..256)) {
        crate::fuzzing::negotiate(&data);
    }

    /// Arbitrary bytes behind a valid header, so the fuzz reaches the message loop.
    #[test]
    fn arbitrary_after_header(
        flags in any::<u8>(),
        seed in any::<u8>(),
        tail in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut data = vec![flags, seed];
        data.extend_from_slice(HEADER);
        data.extend_from_slice(&tail);
        crate::fuzzing::negotiate(&data);
    }

    /// Arbitrary sequences of well-formed and malformed frames.
    #[test]
    fn arbitrary_frames(
        flags in any::<u8>(),
        seed in any::<u8>(),
        frames in prop::collection::vec(prop_oneof![
            Just(HEADER.to_vec()),
            Just(NA.to_vec()),
            Just(LS.to_vec()),
            (0..UNIVERSE.len()).prop_map(|i| frame(&UNIVERSE[i])),
            prop::collection::vec(any::<u8>(), 0..8),
        ], 0..12),
    ) {
        let mut data = vec![flags, seed];
        data.extend(frames.concat());
        crate::fuzzing::negotiate(&data);
    }
}

#[test]
fn fuzz_entry_points_accept_degenerate_input() {
    for data in [&b""[..], b"\x00", b"\x01\x02", b"\xff\xff\xff\xff\xff\xff"] {
        crate::fuzzing::negotiate(data);
        crate::fuzzing::pair(data);
    }
}
