//! RPC decoding section by section, and frame encoding.
//!
//! A frame is walked at the top level by hand; each subscription, each published message
//! and each control sub-message is then decoded on its own with prost. A malformed or
//! over-limit section is skipped and counted, and everything else in the frame is still
//! processed. Unknown fields are skipped at every level.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message as _;

use super::frame::put_uvarint;
use super::proto::{
    ControlGraft, ControlIDontWant, ControlIHave, ControlIWant, ControlMessage, ControlPrune,
    Message, Rpc, SubOpts,
};
use crate::limits::Limits;

/// Everything usable in one RPC, decoded section by section.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedRpc {
    /// Subscription changes.
    pub subscriptions: Vec<SubOpts>,
    /// Published messages.
    pub messages: Vec<Message>,
    /// IHAVE entries.
    pub ihave: Vec<ControlIHave>,
    /// IWANT entries.
    pub iwant: Vec<ControlIWant>,
    /// GRAFT entries.
    pub graft: Vec<ControlGraft>,
    /// PRUNE entries.
    pub prune: Vec<ControlPrune>,
    /// IDONTWANT entries.
    pub idontwant: Vec<ControlIDontWant>,
    /// Sections skipped because they were malformed or over a limit. If the top-level
    /// structure itself breaks, the rest of the frame counts as one dropped section.
    pub dropped_sections: usize,
    /// Subscription changes skipped undecoded because the RPC carried more than
    /// [`Limits::max_subscriptions_per_rpc`] of them (0 otherwise). Such an RPC is
    /// refused the way rust-libp2p refuses it: the router reports
    /// [`crate::RpcError::TooManySubscriptions`] and the host resets the stream.
    pub subscriptions_refused: usize,
}

/// Wire types of the protobuf encoding.
const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// One field of a protobuf message: number and, for length-delimited fields, the range.
enum Field {
    Len {
        number: u64,
        start: usize,
        end: usize,
    },
    Other {
        number: u64,
    },
}

/// Iterates over the fields of a protobuf message without decoding them.
struct FieldWalker<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> FieldWalker<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A protobuf varint: prost's reader, which (unlike a uvarint length prefix, see
    /// `leanp2p_identity::varint`) accepts non-minimal encodings, as protobuf requires.
    fn varint(&mut self) -> Option<u64> {
        let mut rest = self.buf.get(self.pos..)?;
        let before = rest.len();
        let value = prost::encoding::decode_varint(&mut rest).ok()?;
        self.pos += before - rest.len();
        Some(value)
    }

    /// The next field, `Ok(None)` at the end, `Err(())` if the structure is broken.
    fn next_field(&mut self) -> Result<Option<Field>, ()> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint().ok_or(())?;
        let number = key >> 3;
        if number == 0 {
            return Err(());
        }
        match (key & 7) as u8 {
            WIRE_VARINT => {
                self.varint().ok_or(())?;
                Ok(Some(Field::Other { number }))
            }
            WIRE_FIXED64 => self.skip(8).map(|()| Some(Field::Other { number })),
            WIRE_FIXED32 => self.skip(4).map(|()| Some(Field::Other { number })),
            WIRE_LEN => {
                let len = self.varint().ok_or(())?;
                let start = self.pos;
                let end = start
                    .checked_add(usize::try_from(len).map_err(|_| ())?)
                    .ok_or(())?;
                if end > self.buf.len() {
                    return Err(());
                }
                self.pos = end;
                Ok(Some(Field::Len { number, start, end }))
            }
            // Groups (3, 4) and reserved wire types are not used by this schema.
            _ => Err(()),
        }
    }

    fn skip(&mut self, n: usize) -> Result<(), ()> {
        let end = self.pos.checked_add(n).ok_or(())?;
        if end > self.buf.len() {
            return Err(());
        }
        self.pos = end;
        Ok(())
    }
}

/// Decodes one RPC body (without length prefix), section by section.
///
/// Never panics and never allocates more than the frame size plus per-section structs
/// bounded by `limits`.
pub fn decode_rpc(body: &Bytes, limits: &Limits) -> DecodedRpc {
    let mut out = DecodedRpc::default();
    // An RPC with more subscription changes than `max_subscriptions_per_rpc` has all of
    // them skipped undecoded (counted), as rust-libp2p refuses such RPCs: a churn flood
    // then costs a field walk, not an allocation per change.
    let subscription_fields = count_fields(body, 1).unwrap_or(0);
    let too_many_subscriptions = subscription_fields > limits.max_subscriptions_per_rpc;
    if too_many_subscriptions {
        out.subscriptions_refused = subscription_fields;
    }
    let mut walker = FieldWalker::new(body);
    loop {
        let field = match walker.next_field() {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(()) => {
                out.dropped_sections += 1;
                break;
            }
        };
        let (number, start, end) = match field {
            Field::Len { number, start, end } => (number, start, end),
            Field::Other { number } => {
                if (1..=3).contains(&number) {
                    // A known field with the wrong wire type.
                    out.dropped_sections += 1;
                }
                continue;
            }
        };
        let section = body.slice(start..end);
        match number {
            1 => {
                if too_many_subscriptions
                    || out.subscriptions.len() >= limits.max_subscriptions_per_rpc
                    || section.len() > limits.max_control_entry_size
                {
                    out.dropped_sections += 1;
                    continue;
                }
                match SubOpts::decode(section) {
                    Ok(sub) => out.subscriptions.push(sub),
                    Err(_) => out.dropped_sections += 1,
                }
            }
            2 => {
                if out.messages.len() >= limits.max_messages_per_rpc {
                    out.dropped_sections += 1;
                    continue;
                }
                match Message::decode(section) {
                    Ok(msg) => out.messages.push(unpin_message(msg, body.len())),
                    Err(_) => out.dropped_sections += 1,
                }
            }
            3 => decode_control(&section, limits, &mut out),
            _ => {} // unknown field (e.g. v1.3 `partial` = 10): skipped
        }
    }
    out
}

/// A decoded field shorter than `1 / UNPIN_RATIO` of its frame is copied out.
pub(crate) const UNPIN_RATIO: usize = 8;

/// Copies the byte fields of `msg` that are small relative to the frame they were sliced
/// from out of it.
///
/// Decoding from a `Bytes` frame is zero-copy: every `Bytes` field of a message is a
/// slice that keeps the whole frame allocation alive. A 100-byte message in a 12 MB frame
/// (padded with an unknown field, say) would pin 12 MB per pending validation, per event
/// and per cached copy. Rule: a field whose length times [`UNPIN_RATIO`] is below
/// `frame_len` is copied into its own allocation, so what a decoded message retains is
/// at most `UNPIN_RATIO` times its own size (or the frame, if the field is that large).
/// The fields of one frame are disjoint, so copying costs at most one frame length.
fn unpin_message(mut msg: Message, frame_len: usize) -> Message {
    let unpin = |field: &mut Option<Bytes>| {
        if let Some(bytes) = field {
            if bytes.len().saturating_mul(UNPIN_RATIO) < frame_len {
                *bytes = Bytes::copy_from_slice(bytes);
            }
        }
    };
    unpin(&mut msg.from);
    unpin(&mut msg.data);
    unpin(&mut msg.seqno);
    unpin(&mut msg.signature);
    unpin(&mut msg.key);
    msg
}

/// Length-delimited fields numbered `number` at the top level of `body` (`None` if the
/// walk fails; the decoder then counts that failure itself).
fn count_fields(body: &Bytes, number: u64) -> Option<usize> {
    let mut walker = FieldWalker::new(body);
    let mut count = 0;
    loop {
        match walker.next_field() {
            Ok(Some(Field::Len { number: n, .. })) if n == number => count += 1,
            Ok(Some(_)) => {}
            Ok(None) => return Some(count),
            Err(()) => return None,
        }
    }
}

fn idontwant_ids(out: &DecodedRpc) -> usize {
    out.idontwant.iter().map(|e| e.message_ids.len()).sum()
}

fn control_entries(out: &DecodedRpc) -> usize {
    out.ihave.len() + out.iwant.len() + out.graft.len() + out.prune.len() + out.idontwant.len()
}

fn decode_control(control: &Bytes, limits: &Limits, out: &mut DecodedRpc) {
    let mut walker = FieldWalker::new(control);
    // Ids decoded so far in this RPC (a control section may repeat).
    let mut idontwant_so_far = idontwant_ids(out);
    loop {
        let field = match walker.next_field() {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(()) => {
                out.dropped_sections += 1;
                break;
            }
        };
        let (number, start, end) = match field {
            Field::Len { number, start, end } => (number, start, end),
            Field::Other { number } => {
                if (1..=5).contains(&number) {
                    out.dropped_sections += 1;
                }
                continue;
            }
        };
        if !(1..=5).contains(&number) {
            continue; // e.g. v1.3 ControlExtensions (6): skipped
        }
        if end - start > limits.max_control_entry_size
            || control_entries(out) >= limits.max_control_entries_per_rpc
        {
            out.dropped_sections += 1;
            continue;
        }
        // IDONTWANT ids past the per-RPC budget would be ignored by the router: skip
        // their entries here, before a `Vec` is allocated per id.
        if number == 5 && idontwant_so_far >= limits.max_idontwant_ids_per_rpc {
            out.dropped_sections += 1;
            continue;
        }
        let entry = control.slice(start..end);
        let ok = match number {
            1 => ControlIHave::decode(entry)
                .map(|e| out.ihave.push(e))
                .is_ok(),
            2 => ControlIWant::decode(entry)
                .map(|e| out.iwant.push(e))
                .is_ok(),
            3 => ControlGraft::decode(entry)
                .map(|e| out.graft.push(e))
                .is_ok(),
            4 => ControlPrune::decode(entry)
                .map(|e| out.prune.push(e))
                .is_ok(),
            _ => ControlIDontWant::decode(entry)
                .map(|e| {
                    idontwant_so_far += e.message_ids.len();
                    out.idontwant.push(e);
                })
                .is_ok(),
        };
        if !ok {
            out.dropped_sections += 1;
        }
    }
}

/// Encodes an RPC as a complete frame (`uvarint(len) ‖ protobuf`).
pub fn encode_rpc_frame(rpc: &Rpc) -> Bytes {
    let len = rpc.encoded_len();
    let mut buf = BytesMut::with_capacity(len + 10);
    put_uvarint(&mut buf, len as u64);
    // Encoding into a buffer with enough capacity cannot fail.
    let _ = rpc.encode(&mut buf);
    buf.freeze()
}

/// Encodes `RPC { publish: [msg] }` as a complete frame without cloning `msg`.
pub fn encode_message_frame(msg: &Message) -> Bytes {
    let msg_len = msg.encoded_len();
    let body_len = 1 + prost::encoding::encoded_len_varint(msg_len as u64) + msg_len;
    let mut buf = BytesMut::with_capacity(body_len + 10);
    put_uvarint(&mut buf, body_len as u64);
    buf.put_u8(0x12); // field 2, wire type LEN
    put_uvarint(&mut buf, msg_len as u64);
    let _ = msg.encode(&mut buf);
    buf.freeze()
}

/// Encodes `RPC { control }` as a complete frame.
pub fn encode_control_frame(subscriptions: Vec<SubOpts>, control: Option<ControlMessage>) -> Bytes {
    encode_rpc_frame(&Rpc {
        subscriptions,
        publish: Vec::new(),
        control,
    })
}
