//! Cross-check of `leanp2p-multistream` against rust-libp2p's `multistream-select` (the
//! version libp2p 0.57 uses): our dialer ↔ their listener and their dialer ↔ our listener,
//! V1 and V1Lazy, over an in-memory duplex, with reads split at 1 byte, a few bytes, or
//! not at all.
//!
//! Runs single-threaded and deterministically: their future is polled with a no-op waker
//! and our sans-IO machine is stepped between polls, for at most `MAX_STEPS` rounds, so
//! the test's runtime is bounded without wall-clock timeouts.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use leanp2p_multistream::{
    Config, Negotiation, NegotiationError, ProtocolId, ProtocolSet, Version as OurVersion,
};
use multistream_select::{
    dialer_select_proto, listener_select_proto, NegotiationError as TheirError,
    Version as TheirVersion,
};

const MAX_STEPS: usize = 20_000;

const MESH_12: ProtocolId = ProtocolId::from_static("/meshsub/1.2.0");
const MESH_11: ProtocolId = ProtocolId::from_static("/meshsub/1.1.0");
const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
const BY_ROOT: ProtocolId =
    ProtocolId::from_static("/leanconsensus/req/blocks_by_root/1/ssz_snappy");

const REQUEST: &[u8] = b"request from the dialer";
const RESPONSE: &[u8] = b"response from the listener";

/// Read split sizes: one byte at a time, small chunks, whole buffers.
const CHUNKS: [usize; 3] = [1, 3, 1 << 16];

/// Shared state of the in-memory duplex.
#[derive(Default)]
struct WireState {
    /// Bytes we wrote, not yet read by them.
    to_them: VecDeque<u8>,
    /// Bytes they wrote, not yet read by us.
    to_us: VecDeque<u8>,
    /// We closed (FIN or reset) our sending side.
    our_fin: bool,
    /// They closed their sending side (or dropped the stream).
    their_fin: bool,
    /// Most bytes one of their reads returns.
    their_read_chunk: usize,
}

#[derive(Clone, Default)]
struct Wire(Arc<Mutex<WireState>>);

impl Wire {
    /// Locks the shared state (a panicking test thread cannot leave it half-updated in a
    /// way that matters, so poisoning is ignored).
    fn lock(&self) -> std::sync::MutexGuard<'_, WireState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn new(their_read_chunk: usize) -> Self {
        let w = Wire::default();
        w.lock().their_read_chunk = their_read_chunk;
        w
    }
}

/// Their end of the duplex: a futures `AsyncRead + AsyncWrite`.
struct TheirEnd(Wire);

impl AsyncRead for TheirEnd {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.0.lock();
        if s.to_them.is_empty() {
            // The driver re-polls after every step of ours, so no waker is needed.
            return if s.our_fin {
                Poll::Ready(Ok(0))
            } else {
                Poll::Pending
            };
        }
        let n = buf.len().min(s.to_them.len()).min(s.their_read_chunk);
        for (dst, src) in buf.iter_mut().zip(s.to_them.drain(..n)) {
            *dst = src;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for TheirEnd {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.0.lock();
        if s.our_fin {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        s.to_us.extend(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.lock().their_fin = true;
        Poll::Ready(Ok(()))
    }
}

impl Drop for TheirEnd {
    fn drop(&mut self) {
        self.0.lock().their_fin = true;
    }
}

/// Our side: the sans-IO machine plus the application behaviour of the test.
struct Ours {
    neg: Negotiation,
    wire: Wire,
    /// Most bytes fed to `handle_input` at once.
    read_chunk: usize,
    /// Application data to write as soon as `ready_to_send` allows.
    app_out: &'static [u8],
    wrote_app: bool,
    /// Agreed protocol, or the failure.
    result: Option<Result<ProtocolId, NegotiationError>>,
    /// Application bytes received (leftover plus later reads).
    app_in: Vec<u8>,
}

impl Ours {
    fn new(neg: Negotiation, wire: &Wire, read_chunk: usize, app_out: &'static [u8]) -> Self {
        let mut ours = Ours {
            neg,
            wire: wire.clone(),
            read_chunk,
            app_out,
            wrote_app: false,
            result: None,
            app_in: Vec::new(),
        };
        ours.flush();
        ours
    }

    /// Drain rule: poll_output until None, then app data if allowed, then the outcome.
    fn flush(&mut self) {
        let mut s = self.wire.lock();
        if self.result.is_none() {
            while let Some(b) = self.neg.poll_output() {
                s.to_them.extend(&b[..]);
            }
        }
        if !self.wrote_app && !s.our_fin && self.neg.ready_to_send().is_some() {
            s.to_them.extend(self.app_out);
            self.wrote_app = true;
        }
        drop(s);
        if self.result.is_none() {
            if let Some(r) = self.neg.outcome() {
                self.result = Some(r.map(|n| {
                    self.app_in.extend_from_slice(&n.leftover);
                    n.protocol
                }));
            }
        }
        if matches!(self.result, Some(Err(_))) {
            // A failed negotiation resets the stream.
            self.wire.lock().our_fin = true;
        }
    }

    /// Reads one chunk from the wire. Returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut s = self.wire.lock();
        let n = self.read_chunk.min(s.to_us.len());
        let chunk: Vec<u8> = s.to_us.drain(..n).collect();
        let eof = s.their_fin && s.to_us.is_empty();
        drop(s);
        let mut progressed = !chunk.is_empty();
        match self.result {
            Some(Ok(_)) => self.app_in.extend_from_slice(&chunk),
            Some(Err(_)) => {}
            None => {
                if !chunk.is_empty() {
                    if let Err(e) = self.neg.handle_input(&chunk) {
                        self.result = Some(Err(e));
                    }
                }
                if self.result.is_none() && eof {
                    if let Err(e) = self.neg.handle_eof() {
                        self.result = Some(Err(e));
                        progressed = true;
                    }
                }
            }
        }
        self.flush();
        progressed
    }
}

/// Polls `fut` (their side) and steps `ours` alternately until `fut` completes and our
/// side has nothing more to read. Panics after `MAX_STEPS` rounds.
fn drive<F: Future>(fut: F, ours: &mut Ours) -> F::Output {
    let mut fut = pin!(fut);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut output = None;
    for _ in 0..MAX_STEPS {
        if output.is_none() {
            if let Poll::Ready(o) = fut.as_mut().poll(&mut cx) {
                output = Some(o);
            }
        }
        let progressed = ours.step();
        if let Some(o) = output.take() {
            if !progressed && ours.wire.lock().to_us.is_empty() {
                return o;
            }
            output = Some(o);
        }
    }
    panic!("negotiation did not finish within {MAX_STEPS} steps");
}

fn set(ids: &[ProtocolId]) -> ProtocolSet {
    ProtocolSet::new(ids.iter().cloned()).unwrap_or_else(|e| panic!("test set: {e}"))
}

fn their_version(v: OurVersion) -> TheirVersion {
    match v {
        OurVersion::V1 => TheirVersion::V1,
        OurVersion::V1Lazy => TheirVersion::V1Lazy,
    }
}

fn config(version: OurVersion) -> Config {
    Config {
        version,
        ..Config::default()
    }
}

/// Their listener: negotiate, read the request, answer, close.
async fn their_listener(
    end: TheirEnd,
    supported: Vec<ProtocolId>,
) -> Result<(ProtocolId, Vec<u8>), TheirError> {
    let (proto, mut io) = listener_select_proto(end, supported).await?;
    let mut request = vec![0; REQUEST.len()];
    io.read_exact(&mut request)
        .await
        .map_err(TheirError::from)?;
    io.write_all(RESPONSE).await.map_err(TheirError::from)?;
    io.flush().await.map_err(TheirError::from)?;
    io.close().await.map_err(TheirError::from)?;
    Ok((proto, request))
}

/// Their dialer: negotiate, send the request, read the answer.
async fn their_dialer(
    end: TheirEnd,
    offer: Vec<ProtocolId>,
    version: TheirVersion,
) -> Result<(ProtocolId, Vec<u8>), TheirError> {
    let (proto, mut io) = dialer_select_proto(end, offer, version).await?;
    io.write_all(REQUEST).await.map_err(TheirError::from)?;
    io.flush().await.map_err(TheirError::from)?;
    let mut response = vec![0; RESPONSE.len()];
    io.read_exact(&mut response)
        .await
        .map_err(TheirError::from)?;
    Ok((proto, response))
}

/// Their API is generic over `AsRef<str> + Clone` names, which `ProtocolId` is.
fn names(ids: &[ProtocolId]) -> Vec<ProtocolId> {
    ids.to_vec()
}

#[test]
fn our_dialer_their_listener() {
    let cases: [(&[ProtocolId], &[ProtocolId], ProtocolId); 4] = [
        (&[PING], &[MESH_11, PING], PING),
        (&[MESH_12, MESH_11], &[MESH_11, PING], MESH_11),
        (&[BY_ROOT], &[PING, BY_ROOT], BY_ROOT),
        (&[PING, MESH_12, MESH_11], &[MESH_11], MESH_11),
    ];
    for version in [OurVersion::V1, OurVersion::V1Lazy] {
        for chunk in CHUNKS {
            for &(offer, supported, ref want) in &cases {
                let ctx =
                    format!("{version:?} chunk {chunk} offer {offer:?} supported {supported:?}");
                let wire = Wire::new(chunk);
                let neg = Negotiation::dialer(set(offer), &config(version)).unwrap();
                let mut ours = Ours::new(neg, &wire, chunk, REQUEST);
                if version == OurVersion::V1Lazy && offer.len() == 1 {
                    // Optimistic: header, proposal and request went out in one write.
                    let mut first = b"\x13/multistream/1.0.0\n".to_vec();
                    first.push(want.as_str().len() as u8 + 1);
                    first.extend_from_slice(want.as_str().as_bytes());
                    first.push(b'\n');
                    first.extend_from_slice(REQUEST);
                    let sent: Vec<u8> = wire.lock().to_them.iter().copied().collect();
                    assert_eq!(sent, first, "{ctx}");
                }
                let theirs = drive(
                    their_listener(TheirEnd(wire.clone()), names(supported)),
                    &mut ours,
                );
                let (their_proto, request) = theirs.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(&their_proto, want, "{ctx}");
                assert_eq!(request, REQUEST, "{ctx}");
                assert_eq!(ours.result, Some(Ok(want.clone())), "{ctx}");
                assert_eq!(ours.app_in, RESPONSE, "{ctx}");
            }
        }
    }
}

#[test]
fn their_dialer_our_listener() {
    let cases: [(&[ProtocolId], &[ProtocolId], ProtocolId); 4] = [
        (&[PING], &[MESH_11, PING], PING),
        (&[MESH_12, MESH_11], &[MESH_11, PING], MESH_11),
        (&[BY_ROOT], &[PING, BY_ROOT], BY_ROOT),
        (&[PING, MESH_12, MESH_11], &[MESH_11], MESH_11),
    ];
    for version in [OurVersion::V1, OurVersion::V1Lazy] {
        for chunk in CHUNKS {
            for &(offer, supported, ref want) in &cases {
                let ctx =
                    format!("{version:?} chunk {chunk} offer {offer:?} supported {supported:?}");
                let wire = Wire::new(chunk);
                let neg = Negotiation::listener(set(supported), &Config::default()).unwrap();
                let mut ours = Ours::new(neg, &wire, chunk, RESPONSE);
                let fut =
                    their_dialer(TheirEnd(wire.clone()), names(offer), their_version(version));
                let (their_proto, response) =
                    drive(fut, &mut ours).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(&their_proto, want, "{ctx}");
                assert_eq!(response, RESPONSE, "{ctx}");
                assert_eq!(ours.result, Some(Ok(want.clone())), "{ctx}");
                assert_eq!(ours.app_in, REQUEST, "{ctx}");
            }
        }
    }
}

#[test]
fn their_lazy_dialer_request_arrives_as_leftover() {
    // Whole-buffer reads: header, proposal and request reach our listener in one input.
    let wire = Wire::new(1 << 16);
    let neg = Negotiation::listener(set(&[PING]), &Config::default()).unwrap();
    let mut ours = Ours::new(neg, &wire, 1 << 16, RESPONSE);
    // Let their lazy dialer write everything before we read anything.
    let fut = their_dialer(TheirEnd(wire.clone()), vec![PING], TheirVersion::V1Lazy);
    let mut fut = pin!(fut);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let pending: Vec<u8> = wire.lock().to_us.iter().copied().collect();
    assert!(
        pending.ends_with(REQUEST),
        "lazy dialer sent the request optimistically"
    );
    assert!(ours.step());
    assert_eq!(ours.result, Some(Ok(PING)));
    assert_eq!(ours.app_in, REQUEST, "request handed back as leftover");
    let (proto, response) = drive(fut, &mut ours).unwrap();
    assert_eq!((proto, &response[..]), (PING, RESPONSE));
}

#[test]
fn no_common_protocol_our_dialer() {
    for version in [OurVersion::V1, OurVersion::V1Lazy] {
        for chunk in CHUNKS {
            let ctx = format!("{version:?} chunk {chunk}");
            let wire = Wire::new(chunk);
            let neg = Negotiation::dialer(set(&[MESH_12, MESH_11]), &config(version)).unwrap();
            let mut ours = Ours::new(neg, &wire, chunk, REQUEST);
            let theirs = drive(
                their_listener(TheirEnd(wire.clone()), vec![PING]),
                &mut ours,
            );
            assert!(
                matches!(theirs, Err(TheirError::Failed)),
                "{ctx}: {theirs:?}"
            );
            let ours_err = ours.result.clone().unwrap().unwrap_err();
            match version {
                OurVersion::V1 => {
                    assert_eq!(ours_err, NegotiationError::NoProtocolInCommon, "{ctx}")
                }
                OurVersion::V1Lazy => assert_eq!(
                    ours_err,
                    NegotiationError::LazyRejected { protocol: MESH_11 },
                    "{ctx}"
                ),
            }
            assert!(!ours_err.is_protocol_violation());
        }
    }
}

#[test]
fn no_common_protocol_their_dialer() {
    for version in [OurVersion::V1, OurVersion::V1Lazy] {
        for chunk in CHUNKS {
            let ctx = format!("{version:?} chunk {chunk}");
            let wire = Wire::new(chunk);
            let neg = Negotiation::listener(set(&[PING]), &Config::default()).unwrap();
            let mut ours = Ours::new(neg, &wire, chunk, RESPONSE);
            let fut = their_dialer(
                TheirEnd(wire.clone()),
                vec![MESH_12, MESH_11],
                their_version(version),
            );
            let theirs = drive(fut, &mut ours);
            assert!(theirs.is_err(), "{ctx}: {theirs:?}");
            let ours_err = ours.result.clone().unwrap().unwrap_err();
            match version {
                // They give up after the last na and drop the stream.
                OurVersion::V1 => assert_eq!(
                    ours_err,
                    NegotiationError::PeerClosed {
                        mid_frame: false,
                        after_na: true
                    },
                    "{ctx}"
                ),
                // Their lazy dialer writes its request behind the last proposal; we answer
                // na and then fail on (or at the end of) the request bytes.
                OurVersion::V1Lazy => assert!(
                    matches!(
                        ours_err,
                        NegotiationError::PeerClosed { after_na: true, .. }
                            | NegotiationError::DataAfterNa { .. }
                    ),
                    "{ctx}: {ours_err:?}"
                ),
            }
            assert!(!ours_err.is_protocol_violation(), "{ctx}");
        }
    }
}
