//! Error types, one enum per operation.

use crate::protocol_id::ProtocolId;

/// Why a string is not a valid multistream protocol id (see [`ProtocolId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolIdError {
    /// The id is empty.
    #[error("protocol id is empty")]
    Empty,
    /// The id does not start with `/`.
    #[error("protocol id does not start with '/'")]
    MissingLeadingSlash,
    /// The id contains a `\n` (the multistream line terminator).
    #[error("protocol id contains a newline")]
    ContainsNewline,
    /// The id is longer than a multistream frame can carry.
    #[error("protocol id is {len} bytes, at most {max} fit in a multistream frame")]
    TooLong {
        /// Length of the rejected id in bytes.
        len: usize,
        /// Largest allowed length ([`crate::MAX_PROTOCOL_ID_LEN`]).
        max: usize,
    },
    /// The id is `/multistream/1.0.0`, which is the header line, not a protocol.
    #[error("'/multistream/1.0.0' is the multistream header, not a protocol id")]
    Reserved,
}

/// Why a list of protocol ids cannot form a [`ProtocolSet`](crate::ProtocolSet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolSetError {
    /// The same id appears twice.
    #[error("protocol id {0} appears more than once")]
    Duplicate(ProtocolId),
    /// More ids than an `ls` response may list.
    #[error("{count} protocol ids, at most {max} are allowed")]
    TooMany {
        /// Number of ids given.
        count: usize,
        /// Largest allowed number ([`ProtocolSet::MAX_LEN`](crate::ProtocolSet::MAX_LEN)).
        max: usize,
    },
    /// The `ls` response for these ids would not fit in one multistream frame.
    #[error("ls response would be {len} bytes, at most {max} fit in a frame")]
    ListResponseTooLarge {
        /// Encoded payload length of the `ls` response.
        len: usize,
        /// Largest frame payload ([`crate::MAX_FRAME_LEN`]).
        max: usize,
    },
}

/// Why a [`Config`](crate::Config) or a [`Negotiation`](crate::Negotiation) constructor
/// was rejected. Caller misuse: nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`Limits::max_line_len`](crate::Limits::max_line_len) is outside its range.
    #[error("max_line_len {value} is outside {min}..={max}")]
    LineLimitOutOfRange {
        /// The configured value.
        value: usize,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// [`Limits::max_attempts`](crate::Limits::max_attempts) is zero.
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// A dialer was given no protocol to propose.
    #[error("a dialer needs at least one protocol to propose")]
    EmptyOffer,
    /// A dialer was given more candidates than `max_attempts`.
    #[error("dialer offers {offered} protocols, max_attempts is {max_attempts}")]
    TooManyCandidates {
        /// Number of candidates given.
        offered: usize,
        /// The configured [`Limits::max_attempts`](crate::Limits::max_attempts).
        max_attempts: usize,
    },
    /// A protocol's line is longer than `max_line_len`, so it could never be matched
    /// (listener) or would be refused by a peer using the same limits (dialer).
    #[error("protocol {protocol} needs a {line_len}-byte line, max_line_len is {max_line_len}")]
    ProtocolTooLong {
        /// The offending protocol.
        protocol: ProtocolId,
        /// Its payload length (id plus `\n`).
        line_len: usize,
        /// The configured [`Limits::max_line_len`](crate::Limits::max_line_len).
        max_line_len: usize,
    },
}

/// Kind of a received multistream message, as reported in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// `/multistream/1.0.0\n`.
    Header,
    /// `na\n`.
    NotAvailable,
    /// `ls\n`.
    ListRequest,
    /// A protocol line (proposal or confirmation).
    Protocol,
    /// A list of protocols (answer to `ls`).
    ListResponse,
}

/// What a negotiation was waiting for when an unexpected message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// The peer's header, which must be its first message.
    Header,
    /// (Listener) a protocol proposal or `ls`.
    ProposalOrList,
    /// (Dialer) the echo of our proposal or `na`.
    ConfirmationOrNa,
}

/// Why a negotiation failed. After any of these the stream must be reset (both directions);
/// [`is_protocol_violation`](Self::is_protocol_violation) says whether the peer misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// A length prefix declared more payload than [`Limits::max_line_len`](crate::Limits::max_line_len).
    #[error("message of {len} bytes exceeds the {max}-byte line limit")]
    LineTooLong {
        /// Declared payload length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A length prefix used more than 2 bytes (more than 16383 bytes; rust-libp2p's limit too).
    #[error("length prefix longer than 2 bytes")]
    LengthPrefixTooLong,
    /// A length prefix was not minimally encoded (e.g. `80 00`).
    #[error("length prefix is not minimally encoded")]
    NonMinimalLengthPrefix,
    /// A frame with a zero length prefix (no payload, not even `\n`).
    #[error("empty message")]
    EmptyMessage,
    /// A payload that is neither header, `na`, `ls`, a protocol line nor an `ls` response.
    #[error("invalid multistream message")]
    InvalidMessage,
    /// A protocol line (starts with `/`, ends with `\n`) that is not valid UTF-8.
    #[error("protocol line is not valid UTF-8")]
    InvalidProtocolName,
    /// A well-formed message that is not allowed at this point.
    #[error("unexpected {got:?} message while waiting for {expected:?}")]
    UnexpectedMessage {
        /// What arrived.
        got: MessageKind,
        /// What was allowed.
        expected: Expected,
    },
    /// (Dialer) the listener confirmed a protocol other than the one we proposed.
    #[error("listener confirmed a protocol we did not propose")]
    WrongConfirmation,
    /// (Listener) the dialer made more unsupported proposals (or `ls` requests) than
    /// [`Limits::max_attempts`](crate::Limits::max_attempts).
    #[error("more than {max} proposals without agreement")]
    TooManyAttempts {
        /// The configured limit.
        max: usize,
    },
    /// (Dialer) the listener answered `na` to every candidate: protocol not supported by
    /// the peer. Not a protocol violation.
    #[error("peer supports none of the offered protocols")]
    NoProtocolInCommon,
    /// (Dialer, [`Version::V1Lazy`](crate::Version::V1Lazy)) the listener answered `na` to
    /// the protocol we had settled on optimistically; application data already written for
    /// it must be discarded. Not a protocol violation.
    #[error("peer rejected the optimistically selected protocol {protocol}")]
    LazyRejected {
        /// The rejected protocol.
        protocol: ProtocolId,
    },
    /// The peer closed its sending side before negotiation finished. Not a protocol
    /// violation (pitfall 6: fail without penalising).
    #[error(
        "peer closed the stream during negotiation (mid-frame: {mid_frame}, after na: {after_na})"
    )]
    PeerClosed {
        /// The stream ended inside a frame.
        mid_frame: bool,
        /// (Listener) our last answer was `na`: the dialer gave up.
        after_na: bool,
    },
    /// (Listener) after our `na`, the dialer sent bytes that are not an acceptable
    /// multistream message. This is what a V1Lazy dialer does when we reject its only
    /// protocol: its application data follows the proposal. rust-libp2p treats it as the
    /// dialer giving up, and so do we: not a protocol violation.
    #[error("dialer sent non-negotiation data after our na ({cause})")]
    DataAfterNa {
        /// The decoding error the data caused.
        cause: Box<NegotiationError>,
    },
    /// Caller misuse: input was given after the outcome had been taken. Later bytes belong
    /// to the application. The negotiation's state is unchanged.
    #[error("input after the negotiation outcome was taken")]
    InputAfterOutcome,
}

impl NegotiationError {
    /// `true` if the peer broke the protocol (malformed or unexpected bytes, too many
    /// attempts); `false` for an honest failure (no common protocol, peer closed) and for
    /// caller misuse. Hosts may penalise the peer only for violations.
    pub fn is_protocol_violation(&self) -> bool {
        match self {
            Self::LineTooLong { .. }
            | Self::LengthPrefixTooLong
            | Self::NonMinimalLengthPrefix
            | Self::EmptyMessage
            | Self::InvalidMessage
            | Self::InvalidProtocolName
            | Self::UnexpectedMessage { .. }
            | Self::WrongConfirmation
            | Self::TooManyAttempts { .. } => true,
            Self::NoProtocolInCommon
            | Self::LazyRejected { .. }
            | Self::PeerClosed { .. }
            | Self::DataAfterNa { .. }
            | Self::InputAfterOutcome => false,
        }
    }
}
