//! Unit tests of the perf machines: a client and a server joined by an in-memory pipe
//! whose capacity and read split the tests choose.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

/// A sink that records what was written, with a byte capacity per stream.
#[derive(Default)]
struct Pipe {
    /// Bytes written and not yet delivered, per stream.
    queued: BTreeMap<u32, Vec<u8>>,
    finished: Vec<u32>,
    resets: Vec<u32>,
    closed: Vec<u32>,
    capacity: Option<usize>,
    writes: usize,
}

impl StreamSink<u32> for Pipe {
    fn write(&mut self, stream: u32, data: Bytes) -> Result<(), SinkRefusal> {
        if self.closed.contains(&stream) {
            return Err(SinkRefusal::Closed);
        }
        let queued = self.queued.entry(stream).or_default();
        if self
            .capacity
            .is_some_and(|cap| queued.len() + data.len() > cap)
        {
            return Err(SinkRefusal::Full);
        }
        queued.extend_from_slice(&data);
        self.writes += 1;
        Ok(())
    }

    fn finish(&mut self, stream: u32) {
        self.finished.push(stream);
    }

    fn reset(&mut self, stream: u32) {
        self.resets.push(stream);
    }
}

impl Pipe {
    fn take(&mut self, stream: u32) -> Vec<u8> {
        self.queued.remove(&stream).unwrap_or_default()
    }

    fn is_finished(&self, stream: u32) -> bool {
        self.finished.contains(&stream)
    }
}

fn limits(chunk: usize) -> PerfLimits {
    PerfLimits {
        write_chunk: chunk,
        ..PerfLimits::default()
    }
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
        client.poll_send(now, up);
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
        server.poll_send(down);
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
    client.start(t0, 1, 100, 33).unwrap();
    server.handle_opened(1).unwrap();
    let (mut up, mut down) = (Pipe::default(), Pipe::default());
    let (c, s) = run_pair(&mut client, &mut server, &mut up, &mut down, t0, 1);
    assert!(
        matches!(
            c.as_slice(),
            [PerfEvent::Completed {
                stream: 1,
                uploaded: 100,
                downloaded: 33,
                ..
            }]
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
        client.start(t0, s, up, down).unwrap();
        server.handle_opened(s).unwrap();
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
    client.start(t0, 9, 6, 0x0102_0304_0506_0708).unwrap();
    let mut pipe = Pipe::default();
    client.poll_send(t0, &mut pipe);
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
    server.handle_opened(1).unwrap();
    server.handle_data(1, &25u64.to_be_bytes()).unwrap();
    server.handle_finished(1).unwrap();
    let mut pipe = Pipe {
        capacity: Some(10),
        ..Pipe::default()
    };
    server.poll_send(&mut pipe);
    assert_eq!(pipe.take(1).len(), 10);
    assert!(!pipe.is_finished(1));
    server.poll_send(&mut pipe);
    assert_eq!(pipe.take(1).len(), 10);
    server.poll_send(&mut pipe);
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
    let _ = t0;
}

#[test]
fn stream_ending_inside_the_header_is_reset() {
    let mut server = PerfServer::new(PerfLimits::default());
    server.handle_opened(3).unwrap();
    server.handle_data(3, &[0, 0, 0]).unwrap();
    assert_eq!(
        server.handle_finished(3),
        Err(PerfError::HeaderTruncated { got: 3 })
    );
    let mut pipe = Pipe::default();
    server.poll_send(&mut pipe);
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
    let mut server = PerfServer::new(PerfLimits::default());
    server.handle_opened(1).unwrap();
    assert_eq!(
        server.handle_finished(1),
        Err(PerfError::HeaderTruncated { got: 0 })
    );
}

#[test]
fn response_over_the_limit_is_refused() {
    let mut server = PerfServer::new(PerfLimits {
        max_response_bytes: 1000,
        ..PerfLimits::default()
    });
    server.handle_opened(1).unwrap();
    assert_eq!(
        server.handle_data(1, &u64::MAX.to_be_bytes()),
        Err(PerfError::ResponseTooLarge {
            requested: u64::MAX,
            max: 1000
        })
    );
    let mut pipe = Pipe::default();
    server.poll_send(&mut pipe);
    assert_eq!(pipe.resets, vec![1]);
    assert!(pipe.queued.is_empty());
}

#[test]
fn server_sending_too_much_or_too_early_fails_the_client_stream() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    client.start(t0, 1, 10, 4).unwrap();
    // Before our upload ended, the server may send nothing.
    assert_eq!(
        client.handle_data(t0, 1, &[0]),
        Err(PerfError::UnexpectedData {
            expected: 0,
            got: 1
        })
    );
    client.start(t0, 2, 0, 4).unwrap();
    let mut pipe = Pipe::default();
    client.poll_send(t0, &mut pipe);
    assert_eq!(pipe.resets, vec![1]);
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
    client.start(t0, 1, 0, 10).unwrap();
    let mut pipe = Pipe::default();
    client.poll_send(t0, &mut pipe);
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
    let mut server = PerfServer::new(PerfLimits::default());
    server.handle_opened(1).unwrap();
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
    let mut client = PerfClient::new(small.clone());
    client.start(t0, 1, 0, 0).unwrap();
    assert_eq!(client.start(t0, 1, 0, 0), Err(PerfError::DuplicateStream));
    assert_eq!(client.start(t0, 2, 0, 0), Err(PerfError::TooManyStreams(1)));
    let mut server = PerfServer::new(small);
    server.handle_opened(1).unwrap();
    assert_eq!(server.handle_opened(2), Err(PerfError::TooManyStreams(1)));
    let mut pipe = Pipe::default();
    server.poll_send(&mut pipe);
    assert_eq!(pipe.resets, vec![2]);
}

#[test]
fn reset_and_closed_streams_fail_without_panicking() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(PerfLimits::default());
    client.start(t0, 1, 100, 0).unwrap();
    client.start(t0, 2, 100, 0).unwrap();
    client.handle_reset(1);
    let mut pipe = Pipe {
        closed: vec![2],
        ..Pipe::default()
    };
    client.poll_send(t0, &mut pipe);
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
    client.handle_reset(1); // unknown now: ignored
    assert_eq!(client.stats().streams_failed, 2);
}

#[test]
fn every_stream_fills_its_own_room_in_each_poll() {
    let t0 = Instant::now();
    let mut client = PerfClient::new(limits(10));
    client.start(t0, 1, 1000, 0).unwrap();
    client.start(t0, 2, 1000, 0).unwrap();
    let mut pipe = Pipe {
        capacity: Some(28),
        ..Pipe::default()
    };
    for _ in 0..5 {
        client.poll_send(t0, &mut pipe);
        pipe.take(1);
        pipe.take(2);
    }
    // A full stream does not stop the others: both progress by their room each time.
    let sent = client.stats().bytes_sent;
    assert_eq!(sent, 5 * 2 * 20);
}
