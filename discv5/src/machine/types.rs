//! Configuration, events, errors and counters of the [`Discv5`](super::Discv5) machine.

use std::net::SocketAddr;
use std::time::Duration;

use leanp2p_identity::Enr;

use crate::message::RequestId;
use crate::node_id::NodeId;
use crate::session::DEFAULT_SESSION_CAPACITY;
use crate::table::IpLimits;

/// Machine configuration. Every bound of the machine's memory is a field here.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time a request waits for its response (and a queued request for its session).
    pub request_timeout: Duration,
    /// Times a timed-out request is re-sent before it fails.
    pub request_retries: u8,
    /// Lifetime of a WHOAREYOU challenge we sent.
    pub handshake_timeout: Duration,
    /// Sessions kept (LRU).
    pub session_capacity: usize,
    /// Records of nodes we may contact ([`super::Discv5::add_enr`], NODES answers, inbound
    /// handshakes); oldest forgotten first.
    pub contact_capacity: usize,
    /// Outgoing requests in flight or queued, all nodes together.
    pub max_active_requests: usize,
    /// Outstanding WHOAREYOU challenges.
    pub max_challenges: usize,
    /// WHOAREYOU packets sent to one IP per [`Config::whoareyou_window`].
    pub whoareyou_per_ip: u32,
    /// Window of the per-IP WHOAREYOU limit.
    pub whoareyou_window: Duration,
    /// IPs tracked by the WHOAREYOU limit (beyond it, new IPs get no challenge).
    pub whoareyou_tracked_ips: usize,
    /// Inbound TALKREQs waiting for [`super::Discv5::talk_response`].
    pub max_inbound_talk: usize,
    /// Time an inbound TALKREQ waits for its answer (then an empty TALKRESP is sent).
    pub talk_timeout: Duration,
    /// Interval of table liveness PINGs (one node per interval).
    pub ping_interval: Duration,
    /// Per-/24 limits of the table; `None` disables them (private networks, tests).
    pub table_ip_limits: Option<IpLimits>,
    /// Datagrams queued for [`super::Discv5::poll_transmit`]; more are dropped.
    pub max_queued_transmits: usize,
    /// Events queued for [`super::Discv5::poll_event`]; more are dropped.
    pub max_queued_events: usize,
    /// Lookups running at once.
    pub max_lookups: usize,
    /// Interval of table refresh lookups (alternately our own ID and a random one);
    /// `None` disables them.
    pub refresh_interval: Option<Duration>,
    /// Distinct PONG senders that must agree on our address before it is reported.
    pub pong_vote_threshold: usize,
    /// Most recent PONG votes kept (one per voter).
    pub pong_vote_capacity: usize,
    /// Records from NODES answers whose signature was checked, kept by their bytes so an
    /// unchanged record arriving again is not verified again; when full the cache starts
    /// over. 0 turns it off.
    pub verified_record_cache: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(1),
            request_retries: 1,
            handshake_timeout: Duration::from_secs(1),
            session_capacity: DEFAULT_SESSION_CAPACITY,
            contact_capacity: 4096,
            max_active_requests: 1024,
            max_challenges: 1024,
            whoareyou_per_ip: 16,
            whoareyou_window: Duration::from_secs(1),
            whoareyou_tracked_ips: 4096,
            max_inbound_talk: 128,
            talk_timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(30),
            table_ip_limits: Some(IpLimits::default()),
            max_queued_transmits: 4096,
            max_queued_events: 4096,
            max_lookups: 16,
            refresh_interval: Some(Duration::from_secs(60)),
            pong_vote_threshold: 3,
            pong_vote_capacity: 32,
            verified_record_cache: 1024,
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddr,
    /// Packet bytes (at most 1280).
    pub bytes: Vec<u8>,
}

/// What the deadline of [`super::Discv5::poll_timeout`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReason {
    /// Output is queued: drain it now.
    QueuedIo,
    /// A request's response deadline (retry or failure).
    Request,
    /// A WHOAREYOU challenge we sent expires.
    Challenge,
    /// An inbound TALKREQ expires unanswered.
    TalkRequest,
    /// The next table liveness PING.
    Liveness,
    /// The next table refresh lookup.
    Refresh,
}

/// Handle of an inbound TALKREQ, answered with [`super::Discv5::talk_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboundTalkId(pub u64);

/// Which side started a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We answered their WHOAREYOU.
    Outbound,
    /// They answered our WHOAREYOU.
    Inbound,
}

/// Something the application should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A session was verified (inbound: their handshake checked; outbound: their first
    /// message decrypted). The node was offered to the table.
    SessionEstablished {
        /// Remote node.
        node: NodeId,
        /// Remote endpoint.
        addr: SocketAddr,
        /// Remote record.
        enr: Enr,
        /// Who started the handshake.
        direction: Direction,
    },
    /// Answer to [`super::Discv5::ping`].
    Pong {
        /// Remote node.
        node: NodeId,
        /// Our request.
        request: RequestId,
        /// Remote ENR sequence number.
        enr_seq: u64,
        /// Our address as the remote saw it.
        observed: SocketAddr,
    },
    /// Answer to [`super::Discv5::find_node`] (records that match the distances asked).
    Nodes {
        /// Remote node.
        node: NodeId,
        /// Our request.
        request: RequestId,
        /// Records received (at most 16).
        enrs: Vec<Enr>,
    },
    /// A TALKREQ to answer with [`super::Discv5::talk_response`] within
    /// [`Config::talk_timeout`].
    TalkRequest {
        /// Handle for the answer.
        id: InboundTalkId,
        /// Remote node.
        node: NodeId,
        /// Remote endpoint.
        addr: SocketAddr,
        /// Application protocol.
        protocol: Vec<u8>,
        /// Request payload.
        request: Vec<u8>,
    },
    /// Answer to [`super::Discv5::talk_request`].
    TalkResponse {
        /// Remote node.
        node: NodeId,
        /// Our request.
        request: RequestId,
        /// Response payload.
        response: Vec<u8>,
    },
    /// A newer record of a known node arrived.
    EnrUpdated {
        /// Node.
        node: NodeId,
        /// New record.
        enr: Enr,
    },
    /// An iterative lookup ended.
    LookupFinished {
        /// The lookup.
        id: super::LookupId,
        /// Its target.
        target: NodeId,
        /// Up to 16 nodes that answered, closest to the target first.
        closest: Vec<Enr>,
    },
    /// PONG senders agree on a new external address for us (the application may put it
    /// in its record with [`super::Discv5::update_local_enr`]).
    ExternalAddress {
        /// Our address as seen from outside.
        addr: SocketAddr,
    },
    /// A request of ours got no answer.
    RequestFailed {
        /// Remote node.
        node: NodeId,
        /// Our request.
        request: RequestId,
        /// Why.
        error: RequestError,
    },
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No answer after all retries.
    #[error("request timed out")]
    Timeout,
    /// The packet would exceed 1280 bytes.
    #[error("request does not fit in a packet")]
    TooLarge,
    /// The handshake failed on our side (bad remote key).
    #[error("handshake failed")]
    HandshakeFailed,
}

/// Why a command was refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No record of the node: call [`super::Discv5::add_enr`] first.
    #[error("unknown node")]
    UnknownNode,
    /// The record has no IPv4/IPv6 UDP endpoint.
    #[error("record has no UDP endpoint")]
    NoUdpEndpoint,
    /// The record is our own.
    #[error("record is the local node")]
    LocalNode,
    /// [`Config::max_active_requests`] reached.
    #[error("too many requests in flight")]
    TooManyRequests,
    /// More than 32 distances or a distance above 256.
    #[error("invalid distances")]
    InvalidDistances,
    /// The message would not fit in a packet.
    #[error("message too large")]
    TooLarge,
    /// No such inbound TALKREQ (answered, expired or never seen).
    #[error("unknown talk request")]
    UnknownTalkRequest,
    /// The new local record has another key or a sequence number that is not higher.
    #[error("local record must keep the key and raise the sequence number")]
    BadLocalEnr,
}

/// Counters of everything the machine dropped or did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams passed to `handle_packet`.
    pub packets_received: u64,
    /// Datagrams queued for sending.
    pub packets_sent: u64,
    /// Dropped: below 63 bytes.
    pub dropped_too_small: u64,
    /// Dropped: above 1280 bytes.
    pub dropped_too_large: u64,
    /// Dropped: protocol ID mismatch after unmasking (not for us / not discv5).
    pub dropped_wrong_protocol: u64,
    /// Dropped: any other header malformation (version, flag, authdata sizes, tag).
    pub dropped_malformed: u64,
    /// Dropped: a packet claiming our own node ID as source.
    pub dropped_from_self: u64,
    /// Ordinary packets without a session (answered by WHOAREYOU).
    pub messages_without_session: u64,
    /// Ordinary packets that failed to decrypt (answered by WHOAREYOU).
    pub messages_undecryptable: u64,
    /// Dropped: decrypted messages that do not decode.
    pub messages_invalid: u64,
    /// Dropped: responses that match no request of ours.
    pub responses_unexpected: u64,
    /// WHOAREYOU packets sent.
    pub whoareyou_sent: u64,
    /// WHOAREYOU not sent: per-IP rate limit or too many tracked IPs.
    pub whoareyou_rate_limited: u64,
    /// WHOAREYOU not sent: [`Config::max_challenges`] reached.
    pub whoareyou_challenges_full: u64,
    /// WHOAREYOU not sent: our own handshake with that node is in progress and wins
    /// the tie-break (our node ID is larger).
    pub challenges_yielded: u64,
    /// WHOAREYOU not sent: a challenge to that node and address is still outstanding
    /// (its handshake is on the way, or the remote re-sends after its timeout).
    pub whoareyou_already_pending: u64,
    /// Dropped: WHOAREYOU matching no packet of ours (or from another address).
    pub whoareyou_unsolicited: u64,
    /// Dropped: handshake without an outstanding challenge (includes replays).
    pub handshakes_unsolicited: u64,
    /// Dropped: handshake with a bad record, signature, key or message.
    pub handshakes_invalid: u64,
    /// Handshakes completed that we started.
    pub handshakes_outbound: u64,
    /// Handshakes completed that they started.
    pub handshakes_inbound: u64,
    /// Sessions evicted from the LRU cache.
    pub sessions_evicted: u64,
    /// NODES records dropped: wrong distance, or beyond 16 per request.
    pub nodes_records_dropped: u64,
    /// Requests re-sent after a timeout.
    pub requests_retried: u64,
    /// Requests failed after all retries.
    pub requests_timed_out: u64,
    /// Inbound TALKREQs dropped unanswered: [`Config::max_inbound_talk`] reached.
    pub talk_requests_dropped: u64,
    /// Inbound TALKREQs not answered within [`Config::talk_timeout`] (an empty TALKRESP
    /// was sent).
    pub talk_requests_expired: u64,
    /// Datagrams or events dropped because their queue was full.
    pub queue_overflows: u64,
    /// NODES records taken from the verified-record cache (their signature not checked
    /// again, [`Config::verified_record_cache`]).
    pub nodes_records_cached: u64,
}

impl Event {
    /// The node records this event carries (verified sessions, updated records, lookup
    /// results, FINDNODE answers); empty for the others.
    pub fn records(&self) -> &[Enr] {
        match self {
            Event::SessionEstablished { enr, .. } | Event::EnrUpdated { enr, .. } => {
                std::slice::from_ref(enr)
            }
            Event::LookupFinished { closest, .. } => closest,
            Event::Nodes { enrs, .. } => enrs,
            _ => &[],
        }
    }
}

/// Records a driver already handed on (to a node's address book, say), by node ID with
/// their `seq`, so each record is handed on once per `seq`. Bounded: at
/// [`MAX_FED_RECORDS`] entries it forgets everything and starts over (records are then
/// handed on again, which their consumer must tolerate).
#[derive(Debug, Default)]
pub struct FedRecords {
    seqs: std::collections::HashMap<NodeId, u64>,
}

/// Records remembered by [`FedRecords`] before it starts over.
pub const MAX_FED_RECORDS: usize = 4_096;

impl FedRecords {
    /// Whether `enr` is new (not handed on at this `seq` or later).
    pub fn is_new(&self, enr: &Enr) -> bool {
        self.seqs
            .get(&NodeId(enr.node_id()))
            .is_none_or(|seq| *seq < enr.seq())
    }

    /// Remembers that `enr` was handed on.
    pub fn remember(&mut self, enr: &Enr) {
        if self.seqs.len() >= MAX_FED_RECORDS {
            self.seqs.clear();
        }
        self.seqs.insert(NodeId(enr.node_id()), enr.seq());
    }

    /// Records remembered.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}
