//! Wire format: protobuf RPC types, framing and section-wise decoding.

mod codec;
mod frame;
pub mod proto;

pub use codec::{
    decode_rpc, encode_control_frame, encode_message_frame, encode_rpc_frame, DecodedRpc,
};
pub(crate) use frame::uvarint_len;
pub use frame::{decode_frame, prefix_frame, FrameDecoder, ReceivedFrame};
