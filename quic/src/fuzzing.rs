//! Fuzz entry points (feature `fuzzing`): plain `fn(&[u8])` bodies that the cargo-fuzz
//! targets wrap, and that regression tests replay on stable.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_identity::Keypair;

use crate::{Config, Datagram, Endpoint, Event};

/// Feeds arbitrary datagrams to a fresh endpoint (listening, with one dial in progress)
/// and drains it after each one. Input
/// layout: repeated `[len_hi, len_lo, flags, payload[len]]`; `flags` picks the sender
/// (IPv4/IPv6, one of 4 ports) and whether to advance the clock. Must never panic.
/// `t0` is the start time (the caller reads the clock; this crate never does).
pub fn endpoint_datagrams(data: &[u8], t0: Instant) {
    let Ok(keypair) = Keypair::from_secret_bytes(&[7; 32]) else {
        return;
    };
    let Ok(mut endpoint) = Endpoint::new(Config::default(), &keypair, [9; 32]) else {
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
