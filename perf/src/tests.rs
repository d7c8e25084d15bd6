//! Unit tests of the perf machines: a client and a server joined by an in-memory pipe
//! whose capacity and read split the tests choose. The pipe plays the caller: it carries
//! out the machines' ops, holds the one write per stream the pipe had no room for, and
//! retries it at the next [`send`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

/// Why the pipe did not take a write.
enum Refusal {
    Full,
    Closed,
}

/// Both directions' caller: records what the machine asked for, with a byte capacity
/// per stream (all or nothing per write, like the host's send buffer).
#[derive(Default)]
struct Pipe {
    /// Bytes written and not yet delivered, per stream.
    queued: BTreeMap<u32, Vec<u8>>,
    finished: Vec<u32>,
    resets: Vec<u32>,
    opens: Vec<PerfRequestId>,
    closed: Vec<u32>,
    capacity: Option<usize>,
    /// Successful writes.
    writes: usize,
    /// The write each stream is waiting to get in (at most one: the machine's rule).
    blocked: BTreeMap<u32, Bytes>,
}

impl Pipe {
    fn write(&mut self, stream: u32, data: &Bytes) -> Result<(), Refusal> {
        if self.closed.contains(&stream) {
            return Err(Refusal::Closed);
        }
        let queued = self.queued.entry(stream).or_default();
        if self
            .capacity
            .is_some_and(|cap| queued.len() + data.len() > cap)
        {
            return Err(Refusal::Full);
        }
        queued.extend_from_slice(data);
        self.writes += 1;
        Ok(())
    }

    fn take(&mut self, stream: u32) -> Vec<u8> {
        self.queued.remove(&stream).unwrap_or_default()
    }

    fn is_finished(&self, stream: u32) -> bool {
        self.finished.contains(&stream)
    }
}

/// What [`send`] needs of a machine.
trait Machine {
    fn next_op(&mut self) -> Option<PerfOp<u32>>;
    fn written(&mut self, now: Instant, stream: u32);
    fn write_failed(&mut self, now: Instant, stream: u32);
}

impl Machine for PerfClient<u32> {
    fn next_op(&mut self) -> Option<PerfOp<u32>> {
        self.poll_outbound()
    }
    fn written(&mut self, now: Instant, stream: u32) {
        self.handle_written(now, stream).unwrap();
    }
    fn write_failed(&mut self, now: Instant, stream: u32) {
        self.handle_write_failed(now, stream);
    }
}

impl Machine for PerfServer<u32> {
    fn next_op(&mut self) -> Option<PerfOp<u32>> {
        self.poll_outbound()
    }
    fn written(&mut self, _: Instant, stream: u32) {
        self.handle_written(stream).unwrap();
    }
    fn write_failed(&mut self, _: Instant, stream: u32) {
        self.handle_write_failed(stream);
    }
}

/// Moves one write into the pipe and reports the outcome; true if it is still blocked.
fn try_write(m: &mut impl Machine, pipe: &mut Pipe, now: Instant, stream: u32, b: &Bytes) -> bool {
    match pipe.write(stream, b) {
        Ok(()) => m.written(now, stream),
        Err(Refusal::Full) => return true,
        Err(Refusal::Closed) => m.write_failed(now, stream),
    }
    false
}

/// The caller's turn: retries blocked writes, then drains `poll_outbound` into `pipe`.
fn send(m: &mut impl Machine, pipe: &mut Pipe, now: Instant) {
    for (stream, bytes) in std::mem::take(&mut pipe.blocked) {
        if try_write(m, pipe, now, stream, &bytes) {
            pipe.blocked.insert(stream, bytes);
        }
    }
    while let Some(op) = m.next_op() {
        match op {
            PerfOp::Open { request } => pipe.opens.push(request),
            PerfOp::Write { stream, bytes } => {
                assert!(
                    !pipe.blocked.contains_key(&stream),
                    "a second write while one is outstanding"
                );
                if try_write(m, pipe, now, stream, &bytes) {
                    pipe.blocked.insert(stream, bytes);
                }
            }
            PerfOp::Finish { stream } => {
                assert!(!pipe.blocked.contains_key(&stream), "finish before a write");
                pipe.finished.push(stream);
            }
            PerfOp::Reset { stream } => pipe.resets.push(stream),
        }
    }
}

fn limits(chunk: usize) -> PerfLimits {
    PerfLimits {
        write_chunk: chunk,
        ..PerfLimits::default()
    }
}

/// Starts a request and opens it on `stream` (no other op may be queued).
fn open(
    client: &mut PerfClient<u32>,
    now: Instant,
    stream: u32,
    up: u64,
    down: u64,
) -> PerfRequestId {
    let request = client.start(now, up, down).unwrap();
    assert_eq!(client.poll_outbound(), Some(PerfOp::Open { request }));
    client.handle_stream_opened(now, request, stream).unwrap();
    request
}

/// Runs client ⇄ server until both are idle, delivering at most `split` bytes per
/// `handle_data` call; returns the events of both sides.
fn run_pair(
    client: &mut PerfClient<u32>,
    server: &mut PerfServer<u32>,
    up: &mut Pipe,
    down: &mut Pipe,
    t0: Instant,
    split: usize,
) -> (Vec<PerfEvent<u32>>, Vec<PerfEvent<u32>>) {
    let mut client_events = Vec::new();
    let mut server_events = Vec::new();
    let mut up_done = Vec::new();
    let mut down_done = Vec::new();
    for step in 0..100_000u64 {
        let now = t0 + Duration::from_millis(step);
        send(client, up, now);
        let streams: Vec<u32> = up.queued.keys().copied().collect();
        let mut progressed = false;
        for s in streams {
            let bytes = up.take(s);
            progressed |= !bytes.is_empty();
            for piece in bytes.chunks(split) {
                let _ = server.handle_data(s, piece);
            }
        }
        for s in up.finished.clone() {
            if !up_done.contains(&s) {
                up_done.push(s);
                let _ = server.handle_finished(s);
                progressed = true;
            }
        }
        send(server, down, now);
        let streams: Vec<u32> = down.queued.keys().copied().collect();
        for s in streams {
            let bytes = down.take(s);
            progressed |= !bytes.is_empty();
            for piece in bytes.chunks(split) {
                let _ = client.handle_data(now, s, piece);
            }
        }
        for s in down.finished.clone() {
            if !down_done.contains(&s) {
                down_done.push(s);
                let _ = client.handle_finished(now, s);
                progressed = true;
            }
        }
        client_events.extend(std::iter::from_fn(|| client.poll_event()));
        server_events.extend(std::iter::from_fn(|| server.poll_event()));
        if !progressed && client.active() == 0 && server.active() == 0 {
            break;
        }
    }
    (client_events, server_events)
}

#[test]
fn upload_and_download_complete_with_one_byte_reads() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(limits(7));
    let mut server = PerfServer::new(limits(5));
    let request = open(&mut client, t0, 1, 100, 33);
    server.handle_stream_opened(1).unwrap();
    let (mut up, mut down) = (Pipe::default(), Pipe::default());
    let (c, s) = run_pair(&mut client, &mut server, &mut up, &mut down, t0, 1);
    assert!(
        matches!(
            c.as_slice(),
            [PerfEvent::Completed {
                request: r,
                stream: 1,
                uploaded: 100,
                downloaded: 33,
                ..
            }] if *r == request
        ),
        "{c:?}"
    );
    assert_eq!(
        s,
        vec![PerfEvent::Served {
            stream: 1,
            received: 100,
            sent: 33
        }]
    );
    assert_eq!(client.stats().bytes_sent, 100);
    assert_eq!(client.stats().bytes_received, 33);
    assert_eq!(server.stats().bytes_received, 100);
    assert_eq!(server.stats().bytes_sent, 33);
}

#[test]
fn many_streams_in_large_pieces_and_zero_sizes() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    let mut server = PerfServer::new(PerfLimits::default());
    let sizes = [(0u64, 0u64), (0, 200_000), (300_000, 0), (70_000, 70_000)];
    for (i, &(up, down)) in sizes.iter().enumerate() {
        let s = i as u32;
        open(&mut client, t0, s, up, down);
        server.handle_stream_opened(s).unwrap();
    }
    let (mut up, mut down) = (Pipe::default(), Pipe::default());
    let (c, s) = run_pair(&mut client, &mut server, &mut up, &mut down, t0, 50_000);
    assert_eq!(c.len(), 4, "{c:?}");
    assert_eq!(s.len(), 4, "{s:?}");
    for event in c {
        let PerfEvent::Completed {
            stream,
            uploaded,
            downloaded,
            ..
        } = event
        else {
            panic!("{event:?}");
        };
        assert_eq!((uploaded, downloaded), sizes[stream as usize]);
    }
}

#[test]
fn client_writes_big_endian_header_then_zeros_then_finishes() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(limits(4));
    open(&mut client, t0, 9, 6, 0x0102_0304_0506_0708);
    let mut pipe = Pipe::default();
    send(&mut client, &mut pipe, t0);
    assert_eq!(
        pipe.take(9),
        [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0].to_vec()
    );
    assert!(pipe.is_finished(9));
    // header, then 4 + 2 bytes of upload
    assert_eq!(pipe.writes, 3);
}

#[test]
fn full_sink_holds_writes_until_there_is_room() {
    let t0 = Instant::now();
    let mut server = PerfServer::new(limits(10));
    server.handle_stream_opened(1).unwrap();
    server.handle_data(1, &25u64.to_be_bytes()).unwrap();
    server.handle_finished(1).unwrap();
    let mut pipe = Pipe {
        capacity: Some(10),
        ..Pipe::default()
    };
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.take(1).len(), 10);
    assert!(!pipe.is_finished(1));
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.take(1).len(), 10);
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.take(1).len(), 5);
    assert!(pipe.is_finished(1));
    assert_eq!(
        server.poll_event(),
        Some(PerfEvent::Served {
            stream: 1,
            received: 0,
            sent: 25
        })
    );
}

#[test]
fn stream_ending_inside_the_header_is_reset() {
    let t0 = Instant::now();
    let mut server = PerfServer::new(PerfLimits::default());
    server.handle_stream_opened(3).unwrap();
    server.handle_data(3, &[0, 0, 0]).unwrap();
    assert_eq!(
        server.handle_finished(3),
        Err(PerfError::HeaderTruncated { got: 3 })
    );
    let mut pipe = Pipe::default();
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.resets, vec![3]);
    assert!(matches!(
        server.poll_event(),
        Some(PerfEvent::Failed {
            stream: 3,
            error: PerfError::HeaderTruncated { got: 3 }
        })
    ));
    assert_eq!(server.active(), 0);
    assert_eq!(server.stats().streams_failed, 1);
    // The stream is forgotten: later input is refused, not a panic.
    assert_eq!(server.handle_data(3, &[1]), Err(PerfError::UnknownStream));
}

#[test]
fn empty_stream_is_a_truncated_header() {
    let mut server = PerfServer::<u32>::new(PerfLimits::default());
    server.handle_stream_opened(1).unwrap();
    assert_eq!(
        server.handle_finished(1),
        Err(PerfError::HeaderTruncated { got: 0 })
    );
}

#[test]
fn response_over_the_limit_is_refused() {
    let t0 = Instant::now();
    let mut server = PerfServer::new(PerfLimits {
        max_response_bytes: 1000,
        ..PerfLimits::default()
    });
    server.handle_stream_opened(1).unwrap();
    assert_eq!(
        server.handle_data(1, &u64::MAX.to_be_bytes()),
        Err(PerfError::ResponseTooLarge {
            requested: u64::MAX,
            max: 1000
        })
    );
    let mut pipe = Pipe::default();
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.resets, vec![1]);
    assert!(pipe.queued.is_empty());
}

#[test]
fn server_sending_too_much_or_too_early_fails_the_client_stream() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    open(&mut client, t0, 1, 10, 4);
    // Before our upload ended, the server may send nothing.
    assert_eq!(
        client.handle_data(t0, 1, &[0]),
        Err(PerfError::UnexpectedData {
            expected: 0,
            got: 1
        })
    );
    let second = client.start(t0, 0, 4).unwrap();
    let mut pipe = Pipe::default();
    send(&mut client, &mut pipe, t0);
    assert_eq!(pipe.resets, vec![1]);
    assert_eq!(pipe.opens, vec![second]);
    client.handle_stream_opened(t0, second, 2).unwrap();
    send(&mut client, &mut pipe, t0);
    assert!(pipe.is_finished(2));
    client.handle_data(t0, 2, &[0, 0, 0]).unwrap();
    assert_eq!(
        client.handle_data(t0, 2, &[0, 0]),
        Err(PerfError::UnexpectedData {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(client.active(), 0);
}

#[test]
fn server_finishing_early_truncates_the_response() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    open(&mut client, t0, 1, 0, 10);
    let mut pipe = Pipe::default();
    send(&mut client, &mut pipe, t0);
    client.handle_data(t0, 1, &[0; 6]).unwrap();
    assert_eq!(
        client.handle_finished(t0, 1),
        Err(PerfError::ResponseTruncated {
            expected: 10,
            got: 6
        })
    );
}

#[test]
fn data_after_the_client_finished_is_a_violation() {
    let mut server = PerfServer::<u32>::new(PerfLimits::default());
    server.handle_stream_opened(1).unwrap();
    server.handle_data(1, &0u64.to_be_bytes()).unwrap();
    server.handle_finished(1).unwrap();
    assert_eq!(server.handle_data(1, &[7]), Err(PerfError::DataAfterFinish));
}

#[test]
fn stream_limits_and_duplicates_are_refused() {
    let t0 = Instant::now();
    let small = PerfLimits {
        max_streams: 1,
        ..PerfLimits::default()
    };
    let mut client = PerfClient::<u32>::new(small.clone());
    let first = client.start(t0, 0, 0).unwrap();
    assert_eq!(client.start(t0, 0, 0), Err(PerfError::TooManyStreams(1)));
    // A request on its stream still counts.
    assert_eq!(
        client.poll_outbound(),
        Some(PerfOp::Open { request: first })
    );
    client.handle_stream_opened(t0, first, 1).unwrap();
    assert_eq!(client.start(t0, 0, 0), Err(PerfError::TooManyStreams(1)));
    // The same stream for two requests is refused and changes nothing.
    let mut client = PerfClient::<u32>::new(PerfLimits::default());
    let a = open(&mut client, t0, 1, 0, 0);
    let b = client.start(t0, 0, 0).unwrap();
    assert_eq!(client.poll_outbound(), Some(PerfOp::Open { request: b }));
    assert_eq!(
        client.handle_stream_opened(t0, b, 1),
        Err(PerfError::DuplicateStream)
    );
    client.handle_stream_opened(t0, b, 2).unwrap();
    assert_ne!(a, b);
    assert_eq!(client.active(), 2);
    let mut server = PerfServer::new(small);
    server.handle_stream_opened(1).unwrap();
    assert_eq!(
        server.handle_stream_opened(1),
        Err(PerfError::DuplicateStream)
    );
    assert_eq!(
        server.handle_stream_opened(2),
        Err(PerfError::TooManyStreams(1))
    );
    let mut pipe = Pipe::default();
    send(&mut server, &mut pipe, t0);
    assert_eq!(pipe.resets, vec![2]);
}

#[test]
fn reset_and_closed_streams_fail_without_panicking() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    open(&mut client, t0, 1, 100, 0);
    open(&mut client, t0, 2, 100, 0);
    client.handle_reset(t0, 1);
    let mut pipe = Pipe {
        closed: vec![2],
        ..Pipe::default()
    };
    send(&mut client, &mut pipe, t0);
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(matches!(
        events.as_slice(),
        [
            PerfEvent::Failed {
                stream: 1,
                error: PerfError::Reset
            },
            PerfEvent::Failed {
                stream: 2,
                error: PerfError::Closed
            }
        ]
    ));
    assert!(pipe.resets.is_empty(), "a reset stream is not reset again");
    client.handle_reset(t0, 1); // unknown now: ignored
    client.handle_write_failed(t0, 2); // unknown now: ignored
    assert_eq!(client.stats().streams_failed, 2);
}

#[test]
fn every_stream_fills_its_own_room_in_each_poll() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(limits(10));
    open(&mut client, t0, 1, 1000, 0);
    open(&mut client, t0, 2, 1000, 0);
    let mut pipe = Pipe {
        capacity: Some(28),
        ..Pipe::default()
    };
    for _ in 0..5 {
        send(&mut client, &mut pipe, t0);
        pipe.take(1);
        pipe.take(2);
    }
    // A full stream does not stop the others: both progress by their room each time.
    let sent = client.stats().bytes_sent;
    assert_eq!(sent, 5 * 2 * 20);
}

// ----- the op interface and its backpressure ---------------------------------------------

#[test]
fn one_write_outstanding_per_stream_until_it_is_written() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(limits(10));
    open(&mut client, t0, 1, 25, 0);
    let header = client.poll_outbound();
    assert!(
        matches!(&header, Some(PerfOp::Write { stream: 1, bytes }) if bytes.len() == HEADER_LEN),
        "{header:?}"
    );
    // Nothing more for the stream, however often the caller asks.
    assert_eq!(client.poll_outbound(), None);
    assert_eq!(client.poll_outbound(), None);
    client.handle_written(t0, 1).unwrap();
    for expected in [10, 10, 5] {
        let op = client.poll_outbound();
        assert!(
            matches!(&op, Some(PerfOp::Write { stream: 1, bytes }) if bytes.len() == expected),
            "{op:?}"
        );
        assert_eq!(client.poll_outbound(), None, "finish waits for the write");
        let before = client.stats().bytes_sent;
        client.handle_written(t0, 1).unwrap();
        // Bytes count when the caller reports them written, not when handed out.
        assert_eq!(client.stats().bytes_sent, before + expected as u64);
    }
    assert_eq!(client.poll_outbound(), Some(PerfOp::Finish { stream: 1 }));
    assert_eq!(client.poll_outbound(), None);
}

#[test]
fn unacknowledged_writes_are_bounded_by_streams_not_by_transfer_size() {
    let t0 = Instant::now();
    let mut server = PerfServer::new(limits(MAX_WRITE_CHUNK));
    for s in 0..3u32 {
        server.handle_stream_opened(s).unwrap();
        server.handle_data(s, &u64::MAX.to_be_bytes()).unwrap();
        server.handle_finished(s).unwrap();
    }
    // The caller never reports a write: exactly one write per stream comes out.
    let ops: Vec<_> = std::iter::from_fn(|| server.poll_outbound()).collect();
    assert_eq!(ops.len(), 3, "{}", ops.len());
    let mut pointers = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let PerfOp::Write { stream, bytes } = op else {
            panic!("{op:?}");
        };
        assert_eq!(*stream, i as u32);
        assert_eq!(bytes.len(), MAX_WRITE_CHUNK);
        assert!(bytes.iter().all(|b| *b == 0));
        pointers.push(bytes.as_ptr());
    }
    // All payload is the same static block: nothing is allocated per write.
    assert!(pointers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(server.poll_outbound(), None);
    assert_eq!(server.stats().bytes_sent, 0);
    // Same on the client side with a huge upload.
    let mut client = PerfClient::new(PerfLimits::default());
    for s in 0..4u32 {
        open(&mut client, t0, s, u64::MAX, 0);
    }
    let ops: Vec<_> = std::iter::from_fn(|| client.poll_outbound()).collect();
    assert_eq!(ops.len(), 4);
    assert!(ops
        .iter()
        .all(|op| matches!(op, PerfOp::Write { bytes, .. } if bytes.len() == HEADER_LEN)));
}

#[test]
fn streams_take_turns_when_the_transport_takes_everything() {
    let mut server = PerfServer::new(limits(4));
    for s in [1u32, 2, 3] {
        server.handle_stream_opened(s).unwrap();
        server.handle_data(s, &8u64.to_be_bytes()).unwrap();
        server.handle_finished(s).unwrap();
    }
    let mut order = Vec::new();
    while let Some(op) = server.poll_outbound() {
        match op {
            PerfOp::Write { stream, .. } => {
                order.push(stream);
                server.handle_written(stream).unwrap();
            }
            PerfOp::Finish { stream } => order.push(stream + 10),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(order, vec![1, 2, 3, 1, 2, 3, 11, 12, 13]);
}

#[test]
fn written_reports_without_a_write_are_refused_and_change_nothing() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    assert_eq!(client.handle_written(t0, 5), Err(PerfError::UnknownStream));
    open(&mut client, t0, 1, 10, 0);
    assert_eq!(client.handle_written(t0, 1), Err(PerfError::NoPendingWrite));
    assert!(matches!(client.poll_outbound(), Some(PerfOp::Write { .. })));
    client.handle_written(t0, 1).unwrap();
    assert_eq!(client.handle_written(t0, 1), Err(PerfError::NoPendingWrite));
    assert_eq!(client.stats().bytes_sent, 0);
    let mut server = PerfServer::new(PerfLimits::default());
    assert_eq!(server.handle_written(5), Err(PerfError::UnknownStream));
    server.handle_stream_opened(1).unwrap();
    assert_eq!(server.handle_written(1), Err(PerfError::NoPendingWrite));
    assert_eq!(server.active(), 1);
    assert_eq!(server.stats(), PerfStats::default());
}

#[test]
fn open_failure_ends_the_request() {
    let t0 = Instant::now();
    let mut client = PerfClient::<u32>::new(PerfLimits::default());
    let request = client.start(t0, 1, 1).unwrap();
    // Not asked to open yet: a failure report is misuse.
    assert_eq!(
        client.handle_open_failed(t0, request),
        Err(PerfError::UnknownRequest)
    );
    assert_eq!(client.poll_outbound(), Some(PerfOp::Open { request }));
    client.handle_open_failed(t0, request).unwrap();
    assert_eq!(client.poll_event(), Some(PerfEvent::OpenFailed { request }));
    assert_eq!(client.active(), 0);
    assert_eq!(client.stats().streams_failed, 1);
    assert_eq!(
        client.handle_open_failed(t0, request),
        Err(PerfError::UnknownRequest)
    );
    // A stream opened for it anyway is reset.
    assert_eq!(
        client.handle_stream_opened(t0, request, 4),
        Err(PerfError::UnknownRequest)
    );
    assert_eq!(client.poll_outbound(), Some(PerfOp::Reset { stream: 4 }));
    assert_eq!(client.poll_outbound(), None);
    assert_eq!(
        client.handle_data(t0, 4, &[0]),
        Err(PerfError::UnknownStream)
    );
}

#[test]
fn elapsed_runs_from_start_to_completion() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    let request = client.start(t0, 0, 3).unwrap();
    let t1 = t0 + Duration::from_millis(5);
    assert_eq!(client.poll_outbound(), Some(PerfOp::Open { request }));
    client.handle_stream_opened(t1, request, 1).unwrap();
    let mut pipe = Pipe::default();
    send(&mut client, &mut pipe, t1);
    assert!(pipe.is_finished(1));
    let t2 = t0 + Duration::from_millis(40);
    client.handle_data(t2, 1, &[0, 0, 0]).unwrap();
    client.handle_finished(t2, 1).unwrap();
    assert_eq!(
        client.poll_event(),
        Some(PerfEvent::Completed {
            request,
            stream: 1,
            uploaded: 0,
            downloaded: 3,
            elapsed: Duration::from_millis(40),
        })
    );
}

#[test]
fn write_chunk_is_clamped() {
    for (chunk, expected) in [(0, 1), (usize::MAX, MAX_WRITE_CHUNK)] {
        let mut server = PerfServer::new(limits(chunk));
        server.handle_stream_opened(1u32).unwrap();
        server.handle_data(1, &u64::MAX.to_be_bytes()).unwrap();
        server.handle_finished(1).unwrap();
        let op = server.poll_outbound();
        assert!(
            matches!(&op, Some(PerfOp::Write { bytes, .. }) if bytes.len() == expected),
            "{op:?}"
        );
    }
}

#[test]
fn side_queues_are_bounded_when_the_caller_does_not_drain() {
    let mut server = PerfServer::new(PerfLimits {
        max_streams: 1,
        ..PerfLimits::default()
    });
    server.handle_stream_opened(0u32).unwrap();
    for s in 1..=100 {
        assert_eq!(
            server.handle_stream_opened(s),
            Err(PerfError::TooManyStreams(1))
        );
    }
    // Capacity 2 × max_streams each: 2 resets and 2 events kept, the rest counted.
    let ops: Vec<_> = std::iter::from_fn(|| server.poll_outbound()).collect();
    assert_eq!(
        ops,
        vec![PerfOp::Reset { stream: 1 }, PerfOp::Reset { stream: 2 }]
    );
    assert_eq!(std::iter::from_fn(|| server.poll_event()).count(), 2);
    let stats = server.stats();
    assert_eq!(stats.streams_failed, 100);
    assert_eq!(stats.outputs_dropped, 2 * 98);
    assert_eq!(server.active(), 1);
}
