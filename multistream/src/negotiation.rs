//! The per-stream [`Negotiation`] state machine.

use bytes::{Bytes, BytesMut};

use crate::codec::{classify, FrameReader, Message, HEADER_FRAME, NA_FRAME};
use crate::error::{ConfigError, Expected, MessageKind, NegotiationError};
use crate::limits::{Config, Limits, Version};
use crate::protocol_id::{ProtocolId, ProtocolSet};

/// Which side of the stream a negotiation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that opened the stream: proposes protocols.
    Dialer,
    /// The side that accepted the stream: answers proposals.
    Listener,
}

/// A successful negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The agreed protocol.
    pub protocol: ProtocolId,
    /// Its index in the [`ProtocolSet`] the negotiation was built with (handy for routing).
    pub index: usize,
    /// Bytes received after the final negotiation frame: the start of the application's
    /// data, to be handed to the protocol handler before anything read later. Often
    /// non-empty (a V1Lazy dialer's request, or a fast listener's first response).
    pub leftover: Bytes,
}

/// Role-specific progress.
#[derive(Debug)]
enum Side {
    Dialer {
        /// Index (in the set) of the proposal awaiting an answer.
        current: usize,
        /// The listener's header has arrived.
        header_seen: bool,
        /// V1Lazy has settled on `current` optimistically.
        settled: bool,
    },
    Listener {
        /// The dialer's header has arrived.
        header_seen: bool,
        /// `na`/`ls` answers given so far.
        answers: usize,
        /// Our last answer was `na`.
        last_sent_na: bool,
    },
}

/// Overall progress.
#[derive(Debug)]
enum State {
    Running,
    /// Agreed; the outcome has not been taken yet.
    Done {
        index: usize,
        leftover: Bytes,
    },
    /// Agreed; the outcome was taken.
    Taken {
        index: usize,
    },
    Failed(NegotiationError),
}

/// Pending output: usually exactly one zero-copy frame; several are concatenated.
#[derive(Debug, Default)]
struct OutQueue {
    single: Option<Bytes>,
    merged: BytesMut,
}

impl OutQueue {
    fn push(&mut self, b: Bytes) {
        if let Some(first) = self.single.take() {
            self.merged.extend_from_slice(&first);
            self.merged.extend_from_slice(&b);
        } else if self.merged.is_empty() {
            self.single = Some(b);
        } else {
            self.merged.extend_from_slice(&b);
        }
    }

    fn pop(&mut self) -> Option<Bytes> {
        if let Some(b) = self.single.take() {
            return Some(b);
        }
        if self.merged.is_empty() {
            None
        } else {
            Some(self.merged.split().freeze())
        }
    }

    fn len(&self) -> usize {
        self.single.as_ref().map_or(0, Bytes::len) + self.merged.len()
    }

    fn clear(&mut self) {
        self.single = None;
        self.merged = BytesMut::new();
    }
}

/// Multistream-select 1.0 negotiation for one stream, as a sans-IO state machine.
///
/// Bytes read from the stream go in through [`handle_input`](Self::handle_input) (or
/// [`handle_input_bytes`](Self::handle_input_bytes), which avoids copying the leftover);
/// bytes to write come out of [`poll_output`](Self::poll_output); the result is read with
/// [`outcome`](Self::outcome). No clock: the host applies its own negotiation timeout and
/// resets the stream when it fires.
///
/// **Drain rule:** after constructing and after every `handle_*` call, call `poll_output`
/// until it returns `None` and write those bytes in order, then check `outcome`.
#[derive(Debug)]
pub struct Negotiation {
    protocols: ProtocolSet,
    limits: Limits,
    version: Version,
    side: Side,
    state: State,
    reader: FrameReader,
    out: OutQueue,
}

impl Negotiation {
    /// Starts a dialer that proposes `offer` in order. The first output is the header and
    /// the first proposal in one buffer.
    ///
    /// With [`Version::V1Lazy`] and a single candidate the dialer settles immediately:
    /// [`ready_to_send`](Self::ready_to_send) is `Some` right away, so the host may write
    /// application bytes right after the first output.
    pub fn dialer(offer: ProtocolSet, config: &Config) -> Result<Self, ConfigError> {
        config.validate()?;
        if offer.is_empty() {
            return Err(ConfigError::EmptyOffer);
        }
        if offer.len() > config.limits.max_attempts {
            return Err(ConfigError::TooManyCandidates {
                offered: offer.len(),
                max_attempts: config.limits.max_attempts,
            });
        }
        check_line_lengths(&offer, &config.limits)?;
        let mut out = OutQueue::default();
        out.push(offer.header_and_first());
        let settled = config.version == Version::V1Lazy && offer.len() == 1;
        if settled {
            tracing::trace!(protocol = ?offer.get(0), "multistream dialer: settled lazily");
        }
        Ok(Self {
            limits: config.limits,
            version: config.version,
            side: Side::Dialer {
                current: 0,
                header_seen: false,
                settled,
            },
            state: State::Running,
            reader: FrameReader::new(config.limits.max_line_len),
            out,
            protocols: offer,
        })
    }

    /// Starts a listener that accepts any protocol in `supported` (an empty set answers
    /// `na` to everything). It sends its header at once, without waiting for the dialer's.
    pub fn listener(supported: ProtocolSet, config: &Config) -> Result<Self, ConfigError> {
        config.validate()?;
        check_line_lengths(&supported, &config.limits)?;
        let mut out = OutQueue::default();
        out.push(Bytes::from_static(HEADER_FRAME));
        Ok(Self {
            limits: config.limits,
            version: config.version,
            side: Side::Listener {
                header_seen: false,
                answers: 0,
                last_sent_na: false,
            },
            state: State::Running,
            reader: FrameReader::new(config.limits.max_line_len),
            out,
            protocols: supported,
        })
    }

    /// Feeds bytes read from the stream. Input may be split at any byte boundary.
    ///
    /// Returns the failure, if negotiation failed now or earlier (then reset the stream).
    /// Once the protocol is agreed, the rest of this input (and any further input before
    /// [`outcome`](Self::outcome) is taken) becomes [`Negotiated::leftover`]; input after
    /// the outcome was taken is refused with [`NegotiationError::InputAfterOutcome`].
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), NegotiationError> {
        self.handle(bytes, None)
    }

    /// Like [`handle_input`](Self::handle_input), but the leftover is a zero-copy slice of
    /// `bytes` (QUIC reads already come as `Bytes`).
    pub fn handle_input_bytes(&mut self, bytes: Bytes) -> Result<(), NegotiationError> {
        self.handle(&bytes, Some(&bytes))
    }

    /// Reports that the peer finished (FIN) its side of the stream. Before agreement this
    /// fails the negotiation with [`NegotiationError::PeerClosed`] (not a violation); after
    /// agreement it is the application's business and returns `Ok(())`.
    pub fn handle_eof(&mut self) -> Result<(), NegotiationError> {
        match &self.state {
            State::Running => {
                let after_na = matches!(
                    self.side,
                    Side::Listener {
                        last_sent_na: true,
                        ..
                    }
                );
                let err = NegotiationError::PeerClosed {
                    mid_frame: self.reader.is_mid_frame(),
                    after_na,
                };
                Err(self.fail(err))
            }
            State::Done { .. } | State::Taken { .. } => Ok(()),
            State::Failed(e) => Err(e.clone()),
        }
    }

    /// Next bytes to write on the stream, in order; `None` when nothing is pending.
    /// Always empty after a failure.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.out.pop()
    }

    /// The result: `None` while running (or once a success has been taken), `Some(Ok(_))`
    /// exactly once after agreement, `Some(Err(_))` on every call after a failure.
    ///
    /// For a V1Lazy dialer, success means the listener has confirmed the protocol.
    pub fn outcome(&mut self) -> Option<Result<Negotiated, NegotiationError>> {
        match &mut self.state {
            State::Running | State::Taken { .. } => None,
            State::Failed(e) => Some(Err(e.clone())),
            State::Done { index, leftover } => {
                let index = *index;
                let leftover = std::mem::take(leftover);
                self.state = State::Taken { index };
                let protocol = self.protocols.get(index).cloned()?;
                Some(Ok(Negotiated {
                    protocol,
                    index,
                    leftover,
                }))
            }
        }
    }

    /// The protocol the host may already write application data for, once `poll_output`
    /// has been drained; `None` if it must not write yet.
    ///
    /// * V1Lazy dialer: `Some` as soon as it settles on its last candidate (at
    ///   construction for a single candidate) — optimistic; [`outcome`](Self::outcome)
    ///   confirms it later, and an `na` fails with [`NegotiationError::LazyRejected`].
    /// * Otherwise: `Some` once the protocol is agreed.
    /// * `None` after a failure.
    pub fn ready_to_send(&self) -> Option<&ProtocolId> {
        match (&self.state, &self.side) {
            (State::Done { index, .. } | State::Taken { index }, _) => self.protocols.get(*index),
            (
                State::Running,
                Side::Dialer {
                    current,
                    settled: true,
                    ..
                },
            ) => self.protocols.get(*current),
            _ => None,
        }
    }

    /// `true` while a V1Lazy dialer has settled but the listener has not confirmed yet.
    pub fn is_optimistic(&self) -> bool {
        matches!(
            (&self.state, &self.side),
            (State::Running, Side::Dialer { settled: true, .. })
        )
    }

    /// `true` once the negotiation succeeded or failed.
    pub fn is_finished(&self) -> bool {
        !matches!(self.state, State::Running)
    }

    /// This negotiation's role.
    pub fn role(&self) -> Role {
        match self.side {
            Side::Dialer { .. } => Role::Dialer,
            Side::Listener { .. } => Role::Listener,
        }
    }

    /// The offer (dialer) or supported set (listener).
    pub fn protocols(&self) -> &ProtocolSet {
        &self.protocols
    }

    /// Dialer mode from the [`Config`] (ignored by listeners).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Bytes of an incomplete frame held between inputs; at most
    /// [`Limits::max_line_len`] + 2.
    pub fn buffered_input(&self) -> usize {
        self.reader.buffered()
    }

    /// Bytes queued for [`poll_output`](Self::poll_output).
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    fn handle(&mut self, input: &[u8], owner: Option<&Bytes>) -> Result<(), NegotiationError> {
        match &mut self.state {
            State::Running => {}
            State::Failed(e) => return Err(e.clone()),
            State::Taken { .. } => return Err(NegotiationError::InputAfterOutcome),
            State::Done { leftover, .. } => {
                if !input.is_empty() {
                    let mut joined = BytesMut::with_capacity(leftover.len() + input.len());
                    joined.extend_from_slice(leftover);
                    joined.extend_from_slice(input);
                    *leftover = joined.freeze();
                }
                return Ok(());
            }
        }
        let mut rest = input;
        loop {
            let max_ls_entries = self.limits.max_ls_entries;
            let protocols = &self.protocols;
            let step = self.reader.next_frame(&mut rest, |payload| {
                classify(payload, max_ls_entries).map(|m| Incoming::from_message(m, protocols))
            });
            let incoming = match step {
                Ok(None) => return Ok(()),
                Ok(Some(Ok(incoming))) => incoming,
                Ok(Some(Err(e))) | Err(e) => return Err(self.fail_on_peer_bytes(e)),
            };
            if let Err(e) = self.on_message(incoming) {
                return Err(self.fail_on_peer_bytes(e));
            }
            if let State::Done { leftover, .. } = &mut self.state {
                *leftover = match owner {
                    Some(b) if !rest.is_empty() => b.slice_ref(rest),
                    _ => Bytes::copy_from_slice(rest),
                };
                self.reader.clear();
                return Ok(());
            }
        }
    }

    fn on_message(&mut self, msg: Incoming) -> Result<(), NegotiationError> {
        let max_attempts = self.limits.max_attempts;
        match &mut self.side {
            Side::Dialer {
                current,
                header_seen,
                settled,
            } => {
                if !*header_seen {
                    return match msg {
                        Incoming::Header => {
                            *header_seen = true;
                            Ok(())
                        }
                        other => Err(unexpected(other, Expected::Header)),
                    };
                }
                match msg {
                    Incoming::Protocol(Some(i)) if i == *current => {
                        tracing::debug!(protocol = ?self.protocols.get(i), "multistream dialer: confirmed");
                        self.state = State::Done {
                            index: i,
                            leftover: Bytes::new(),
                        };
                        Ok(())
                    }
                    Incoming::Protocol(_) => Err(NegotiationError::WrongConfirmation),
                    Incoming::NotAvailable if *settled => {
                        let protocol = self.protocols.get(*current).cloned();
                        tracing::debug!(?protocol, "multistream dialer: lazy proposal rejected");
                        match protocol {
                            Some(protocol) => Err(NegotiationError::LazyRejected { protocol }),
                            None => Err(NegotiationError::NoProtocolInCommon),
                        }
                    }
                    Incoming::NotAvailable => {
                        let next = *current + 1;
                        if next >= self.protocols.len() {
                            tracing::debug!("multistream dialer: no protocol in common");
                            return Err(NegotiationError::NoProtocolInCommon);
                        }
                        *current = next;
                        *settled =
                            self.version == Version::V1Lazy && next + 1 == self.protocols.len();
                        tracing::trace!(protocol = ?self.protocols.get(next), "multistream dialer: proposing next");
                        self.out.push(self.protocols.frame(next));
                        Ok(())
                    }
                    other => Err(unexpected(other, Expected::ConfirmationOrNa)),
                }
            }
            Side::Listener {
                header_seen,
                answers,
                last_sent_na,
            } => {
                if !*header_seen {
                    return match msg {
                        Incoming::Header => {
                            *header_seen = true;
                            Ok(())
                        }
                        other => Err(unexpected(other, Expected::Header)),
                    };
                }
                match msg {
                    Incoming::Protocol(Some(i)) => {
                        tracing::debug!(protocol = ?self.protocols.get(i), "multistream listener: agreed");
                        self.out.push(self.protocols.frame(i));
                        self.state = State::Done {
                            index: i,
                            leftover: Bytes::new(),
                        };
                        Ok(())
                    }
                    Incoming::Protocol(None) | Incoming::ListRequest => {
                        *answers += 1;
                        if *answers > max_attempts {
                            return Err(NegotiationError::TooManyAttempts { max: max_attempts });
                        }
                        if matches!(msg, Incoming::ListRequest) {
                            *last_sent_na = false;
                            self.out.push(self.protocols.ls_response());
                        } else {
                            tracing::trace!("multistream listener: na");
                            *last_sent_na = true;
                            self.out.push(Bytes::from_static(NA_FRAME));
                        }
                        Ok(())
                    }
                    other => Err(unexpected(other, Expected::ProposalOrList)),
                }
            }
        }
    }

    /// Fails because of bytes the peer sent; a listener that has just answered `na` blames
    /// undecodable or misplaced input on a V1Lazy dialer giving up (see
    /// [`NegotiationError::DataAfterNa`]).
    fn fail_on_peer_bytes(&mut self, e: NegotiationError) -> NegotiationError {
        let after_na = matches!(
            self.side,
            Side::Listener {
                last_sent_na: true,
                ..
            }
        );
        let decoding = matches!(
            e,
            NegotiationError::LineTooLong { .. }
                | NegotiationError::LengthPrefixTooLong
                | NegotiationError::NonMinimalLengthPrefix
                | NegotiationError::EmptyMessage
                | NegotiationError::InvalidMessage
                | NegotiationError::InvalidProtocolName
                | NegotiationError::UnexpectedMessage { .. }
        );
        if after_na && decoding {
            self.fail(NegotiationError::DataAfterNa { cause: Box::new(e) })
        } else {
            self.fail(e)
        }
    }

    /// Enters the failed state (dropping buffers and queued output) and returns `e`.
    fn fail(&mut self, e: NegotiationError) -> NegotiationError {
        tracing::debug!(error = %e, role = ?self.role(), "multistream negotiation failed");
        self.state = State::Failed(e.clone());
        self.out.clear();
        self.reader.clear();
        e
    }
}

/// A classified message, reduced to what the state machine needs (no borrow of the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Incoming {
    Header,
    NotAvailable,
    ListRequest,
    /// A protocol line and its index in our set, if it is in it.
    Protocol(Option<usize>),
    ListResponse,
}

impl Incoming {
    fn from_message(m: Message<'_>, set: &ProtocolSet) -> Self {
        match m {
            Message::Header => Self::Header,
            Message::NotAvailable => Self::NotAvailable,
            Message::ListRequest => Self::ListRequest,
            Message::Protocol(line) => Self::Protocol(set.position_of_line(line)),
            Message::ListResponse(_) => Self::ListResponse,
        }
    }

    fn kind(self) -> MessageKind {
        match self {
            Self::Header => MessageKind::Header,
            Self::NotAvailable => MessageKind::NotAvailable,
            Self::ListRequest => MessageKind::ListRequest,
            Self::Protocol(_) => MessageKind::Protocol,
            Self::ListResponse => MessageKind::ListResponse,
        }
    }
}

fn unexpected(got: Incoming, expected: Expected) -> NegotiationError {
    NegotiationError::UnexpectedMessage {
        got: got.kind(),
        expected,
    }
}

fn check_line_lengths(set: &ProtocolSet, limits: &Limits) -> Result<(), ConfigError> {
    match set
        .ids()
        .iter()
        .find(|p| p.line_len() > limits.max_line_len)
    {
        Some(p) => Err(ConfigError::ProtocolTooLong {
            protocol: p.clone(),
            line_len: p.line_len(),
            max_line_len: limits.max_line_len,
        }),
        None => Ok(()),
    }
}
