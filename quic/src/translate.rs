//! Translation of quinn connection events into [`crate::Event`]s.
//!
//! Nothing about a connection reaches the caller before its peer is verified: stream
//! events of a handshaking connection are dropped here (quinn keeps the streams, and
//! they are announced right after `Connected`).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use quinn_proto::{ConnectionError, Dir, StreamEvent, VarInt};
use tracing::debug;

use crate::connection::{Conn, ConnState};
use crate::error::DialFailure;
use crate::event::{CloseReason, ConnId, Direction, Event, StreamId};
use crate::stats::EndpointStats;
use crate::tls::{peer_id_of, take_rejection};
use leanp2p_identity::tls::CertificateError;

/// Application close code we use when we abandon a connection ourselves (PeerId
/// mismatch, unusable certificate, handshake timeout). libp2p uses 0 for every close.
const ABANDON_CODE: u32 = 0;

/// Translates one quinn event. Returns whether the connection may now have packets to
/// send (it was closed by us).
pub(crate) fn event(
    conn: &mut Conn,
    id: ConnId,
    now: Instant,
    event: quinn_proto::Event,
    events: &mut VecDeque<Event>,
    stats: &mut EndpointStats,
) -> bool {
    match event {
        quinn_proto::Event::Connected => return on_connected(conn, id, now, events, stats),
        quinn_proto::Event::ConnectionLost { reason } => {
            debug!(conn = %id, %reason, "connection lost");
            let failure = dial_failure(&reason, conn);
            end(
                conn,
                id,
                events,
                stats,
                failure,
                CloseReason::from_quinn(&reason),
            );
        }
        quinn_proto::Event::Stream(stream_event) => {
            if matches!(conn.state, ConnState::Established { .. }) {
                stream(conn, id, stream_event, events);
            }
        }
        quinn_proto::Event::HandshakeDataReady
        | quinn_proto::Event::DatagramReceived
        | quinn_proto::Event::DatagramsUnblocked => {}
    }
    false
}

fn stream(conn: &mut Conn, id: ConnId, event: StreamEvent, events: &mut VecDeque<Event>) {
    match event {
        StreamEvent::Opened { dir: Dir::Bi } => accept_streams(conn, id, events),
        // Unidirectional streams are not part of libp2p (limit 0); nothing to accept.
        StreamEvent::Opened { dir: Dir::Uni } => {}
        StreamEvent::Readable { id: stream } => events.push_back(Event::Readable {
            conn: id,
            stream: StreamId(stream),
        }),
        StreamEvent::Writable { id: stream } => events.push_back(Event::Writable {
            conn: id,
            stream: StreamId(stream),
        }),
        StreamEvent::Stopped {
            id: stream,
            error_code,
        } => events.push_back(Event::Stopped {
            conn: id,
            stream: StreamId(stream),
            code: error_code.into_inner(),
        }),
        StreamEvent::Available { dir: Dir::Bi } => {
            events.push_back(Event::StreamsAvailable { conn: id })
        }
        // Our FIN was acknowledged: nothing the caller needs to act on.
        StreamEvent::Finished { .. } | StreamEvent::Available { dir: Dir::Uni } => {}
    }
}

/// Announces every stream the peer opened that we have not announced yet.
fn accept_streams(conn: &mut Conn, id: ConnId, events: &mut VecDeque<Event>) {
    while let Some(stream) = conn.quinn.streams().accept(Dir::Bi) {
        events.push_back(Event::StreamOpened {
            conn: id,
            stream: StreamId(stream),
        });
        events.push_back(Event::Readable {
            conn: id,
            stream: StreamId(stream),
        });
    }
}

fn on_connected(
    conn: &mut Conn,
    id: ConnId,
    now: Instant,
    events: &mut VecDeque<Event>,
    stats: &mut EndpointStats,
) -> bool {
    let verified = peer_id_of(conn.quinn.crypto_session());
    let failure = match (verified, conn.expected) {
        (None, _) => DialFailure::InvalidCertificate(None),
        (Some(actual), Some(expected)) if actual != expected => DialFailure::WrongPeerId {
            expected,
            actual: Some(actual),
        },
        (Some(peer), _) => {
            conn.state = ConnState::Established { peer };
            stats.connections_established += 1;
            debug!(conn = %id, %peer, direction = ?conn.direction, "connected");
            events.push_back(Event::Connected {
                conn: id,
                peer,
                remote: conn.quinn.remote_address(),
                direction: conn.direction,
            });
            accept_streams(conn, id, events);
            return false;
        }
    };
    debug!(conn = %id, %failure, "handshake rejected after completion");
    end(conn, id, events, stats, failure, CloseReason::LocallyClosed);
    conn.quinn.close(
        now,
        VarInt::from_u32(ABANDON_CODE),
        Bytes::from_static(b"peer id"),
    );
    true
}

/// Reports the end of a connection once: `DialFailed` for a dial still handshaking
/// (a failed inbound handshake is only counted), `Closed` for an established one.
pub(crate) fn end(
    conn: &mut Conn,
    id: ConnId,
    events: &mut VecDeque<Event>,
    stats: &mut EndpointStats,
    failure: DialFailure,
    reason: CloseReason,
) {
    match conn.state {
        ConnState::Handshaking { .. } => match conn.direction {
            Direction::Outbound => {
                stats.dials_failed += 1;
                events.push_back(Event::DialFailed {
                    conn: id,
                    remote: conn.remote,
                    expected: conn.expected,
                    error: failure,
                });
            }
            Direction::Inbound => stats.incoming_failed += 1,
        },
        ConnState::Established { peer } => events.push_back(Event::Closed {
            conn: id,
            peer,
            reason,
        }),
        ConnState::Ended => {}
    }
    conn.state = ConnState::Ended;
}

/// What a handshake-time connection loss means for a dial: our verifier's recorded
/// rejection if there is one, otherwise the close reason.
fn dial_failure(reason: &ConnectionError, conn: &Conn) -> DialFailure {
    match conn.rejection.as_ref().and_then(take_rejection) {
        Some(CertificateError::PeerIdMismatch {
            expected,
            presented,
        }) => DialFailure::WrongPeerId {
            expected,
            actual: Some(presented),
        },
        Some(other) => DialFailure::InvalidCertificate(Some(other)),
        None => DialFailure::Closed(CloseReason::from_quinn(reason)),
    }
}
