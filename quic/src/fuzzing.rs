//! Fuzz entry points (feature `fuzzing`): plain `fn(&[u8])` bodies that the cargo-fuzz
//! targets wrap, and that regression tests replay on stable.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use leanp2p_identity::Keypair;

use crate::{Config, Datagram, Endpoint, Event};

#[cfg(feature = "fuzzing")]
pub use memo::memoize_tls;
#[cfg(feature = "fuzzing")]
pub(crate) use memo::{memoized_tls, tls_memo_enabled};

/// A memo of endpoint TLS state for fuzzing harnesses.
///
/// Building an endpoint's TLS state generates two libp2p certificates (a P-256 key each,
/// a secp256k1 signature over it, an ECDSA certificate signature): far more work than a
/// fuzz input usually causes, and the same for every input when the harness uses fixed
/// keys and seeds. Once [`memoize_tls`] has been called, `Tls::new` returns a clone of the
/// state it built earlier for the same host key and seed. The certificates depend on
/// nothing else (the certificate key and serial come from the seed), so this changes no
/// behaviour a harness can observe, except that the certificate's own ECDSA signature
/// (whose nonce ring draws from system randomness) is also the same every time.
#[cfg(feature = "fuzzing")]
mod memo {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use leanp2p_identity::Keypair;
    use sha2::{Digest, Sha256};

    use crate::error::ConfigError;
    use crate::tls::Tls;

    /// Entries kept at most; the memo is emptied when it would grow past this.
    const MAX_ENTRIES: usize = 256;

    static ENABLED: AtomicBool = AtomicBool::new(false);
    static MEMO: Mutex<BTreeMap<[u8; 32], Tls>> = Mutex::new(BTreeMap::new());

    /// Makes every later endpoint construction in this process reuse the TLS state
    /// (certificates and rustls configurations) built for the same host key and seed.
    /// Process-wide and permanent: for fuzzing harnesses only (this module exists only
    /// with the `fuzzing` feature). Holds at most 256 entries.
    pub fn memoize_tls() {
        ENABLED.store(true, Ordering::Relaxed);
    }

    /// Whether [`memoize_tls`] has been called.
    pub(crate) fn tls_memo_enabled() -> bool {
        ENABLED.load(Ordering::Relaxed)
    }

    /// The memoized TLS state for (`keypair`, `seed`), built with `build` on a miss.
    pub(crate) fn memoized_tls(
        keypair: &Keypair,
        seed: [u8; 32],
        build: fn(&Keypair, [u8; 32]) -> Result<Tls, ConfigError>,
    ) -> Result<Tls, ConfigError> {
        let key: [u8; 32] = {
            let mut hasher = Sha256::new();
            hasher.update(keypair.secret_bytes().as_slice());
            hasher.update(seed);
            hasher.finalize().into()
        };
        let cached = MEMO
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&key)
            .cloned();
        if let Some(tls) = cached {
            return Ok(tls);
        }
        let tls = build(keypair, seed)?;
        let mut memo = MEMO.lock().unwrap_or_else(|poison| poison.into_inner());
        if memo.len() >= MAX_ENTRIES {
            memo.clear();
        }
        memo.insert(key, tls.clone());
        Ok(tls)
    }
}

/// The endpoint's host key (secret `[7; 32]`), derived once per process.
fn host_key() -> Option<&'static Keypair> {
    static KEY: OnceLock<Option<Keypair>> = OnceLock::new();
    KEY.get_or_init(|| Keypair::from_secret_bytes(&[7; 32]).ok())
        .as_ref()
}

/// Feeds arbitrary datagrams to a fresh endpoint (listening, with one dial in progress)
/// and drains it after each one. Input
/// layout: repeated `[len_hi, len_lo, flags, payload[len]]`; `flags` picks the sender
/// (IPv4/IPv6, one of 4 ports) and whether to advance the clock. Must never panic.
/// `t0` is the start time (the caller reads the clock; this crate never does). The host
/// key and seed are fixed, so with [`memoize_tls`] (feature `fuzzing`) the endpoint's
/// certificates are generated once per process rather than once per input.
pub fn endpoint_datagrams(data: &[u8], t0: Instant) {
    let Some(keypair) = host_key() else {
        return;
    };
    let Ok(mut endpoint) = Endpoint::new(fuzz_config(), keypair, [9; 32]) else {
        return;
    };
    let mut now = t0;
    let mut buf = Vec::new();
    // A dial in progress, so datagrams "from" 127.0.0.1:4000 also reach a client-side
    // connection (Initial/Handshake parsing, version negotiation, retry handling).
    let _ = endpoint.dial(now, SocketAddr::from((Ipv4Addr::LOCALHOST, 4000)), None);
    drain(&mut endpoint, now, &mut buf);
    let mut rest = data;
    while let [hi, lo, flags, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let port = 4000 + u16::from(flags & 3);
        let remote = if flags & 4 == 0 {
            SocketAddr::from((Ipv4Addr::LOCALHOST, port))
        } else {
            SocketAddr::from((Ipv6Addr::LOCALHOST, port))
        };
        if flags & 8 != 0 {
            now += Duration::from_millis(u64::from(flags >> 4) * 100);
            endpoint.handle_timeout(now);
        }
        endpoint.handle_datagram(
            now,
            Datagram {
                remote,
                local_ip: None,
                ecn: None,
                data: payload,
            },
        );
        drain(&mut endpoint, now, &mut buf);
    }
    // Let every timer fire once so closing paths run too.
    for _ in 0..8 {
        let Some(deadline) = endpoint.poll_timeout() else {
            break;
        };
        now = now.max(deadline);
        endpoint.handle_timeout(now);
        drain(&mut endpoint, now, &mut buf);
    }
}

/// The default configuration with 8 rather than 256 concurrent streams: quinn sets up
/// per-stream state for the whole allowance when it creates a connection (most of a
/// connection's construction cost), and junk datagrams never get as far as streams.
fn fuzz_config() -> Config {
    let mut config = Config::default();
    config.max_concurrent_bidi_streams(8);
    config
}

fn drain(endpoint: &mut Endpoint, now: Instant, buf: &mut Vec<u8>) {
    let mut budget = 10_000;
    while endpoint.poll_transmit(now, buf).is_some() && budget > 0 {
        budget -= 1;
    }
    while let Some(event) = endpoint.poll_event() {
        // No connection can be established by junk: a Connected event would be a bug.
        debug_assert!(!matches!(event, Event::Connected { .. }));
    }
}

/// Replays seeded inputs through the entry point on every `cargo test` (with or without
/// the `fuzzing` feature). A unit test because this module exists only under `cfg(test)`
/// or that feature; it needs no network.
#[cfg(test)]
mod seeded {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;

    #[test]
    fn fuzz_entry_point_survives_seeded_inputs() {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        let t0 = Instant::now();
        for len in [0usize, 3, 100, 1300, 5000] {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            endpoint_datagrams(&data, t0);
        }
    }
}

#[cfg(all(test, feature = "fuzzing"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::ConfigError;
    use crate::tls::Tls;

    static BUILDS: AtomicUsize = AtomicUsize::new(0);

    fn counting_build(keypair: &Keypair, seed: [u8; 32]) -> Result<Tls, ConfigError> {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        Tls::generate(keypair, seed)
    }

    #[test]
    fn tls_memo_builds_once_per_key_and_seed() {
        let a = Keypair::from_secret_bytes(&[0x41; 32]).unwrap();
        let b = Keypair::from_secret_bytes(&[0x42; 32]).unwrap();
        let builds = || BUILDS.load(Ordering::SeqCst);
        memoized_tls(&a, [1; 32], counting_build).unwrap();
        assert_eq!(builds(), 1);
        memoized_tls(&a, [1; 32], counting_build).unwrap();
        assert_eq!(builds(), 1, "same key and seed: served from the memo");
        memoized_tls(&a, [2; 32], counting_build).unwrap();
        assert_eq!(builds(), 2, "another seed means another certificate");
        memoized_tls(&b, [1; 32], counting_build).unwrap();
        assert_eq!(builds(), 3, "another host key means another certificate");
    }

    #[test]
    fn memoized_endpoints_still_handle_junk() {
        memoize_tls();
        assert!(tls_memo_enabled());
        let t0 = Instant::now();
        for data in [&[][..], &[0, 4, 1, 0x40, 1, 2, 3][..], &[0xff; 64][..]] {
            endpoint_datagrams(data, t0);
            endpoint_datagrams(data, t0);
        }
    }
}
