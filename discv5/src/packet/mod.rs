//! The discv5 packet codec: static header, header masking (AES-128-CTR), the three packet
//! kinds and their `authdata`, and the AES-128-GCM message seal.
//!
//! ```text
//! packet        = masking-iv || masked-header || message
//! header        = static-header || authdata
//! static-header = "discv5" || version (0x0001) || flag || nonce (12) || authdata-size (2)
//! message       = aesgcm(key, nonce, message-pt, masking-iv || header)
//! ```
//!
//! Decoding never allocates more than the packet's own size and rejects every malformed
//! input with a [`PacketError`].

mod codec;

pub use codec::{decode_packet, encode_message_packet, encode_whoareyou, DecodedPacket};

use crate::node_id::NodeId;

/// Protocol ID at the start of every unmasked header.
pub const PROTOCOL_ID: &[u8; 6] = b"discv5";
/// Wire protocol version.
pub const VERSION: u16 = 0x0001;
/// Length of the masking IV.
pub const MASKING_IV_SIZE: usize = 16;
/// Length of the static header: protocol-id, version, flag, nonce, authdata-size.
pub const STATIC_HEADER_SIZE: usize = 6 + 2 + 1 + 12 + 2;
/// Smallest valid packet (a WHOAREYOU: IV, static header, 24 bytes of authdata).
pub const MIN_PACKET_SIZE: usize = 63;
/// Largest packet sent or accepted.
pub const MAX_PACKET_SIZE: usize = 1280;
/// `authdata` of an ordinary message packet: the source node ID.
pub const MESSAGE_AUTHDATA_SIZE: usize = 32;
/// `authdata` of a WHOAREYOU packet: id-nonce (16) and enr-seq (8).
pub const WHOAREYOU_AUTHDATA_SIZE: usize = 24;
/// Fixed head of a handshake `authdata`: src-id, sig-size, eph-key-size.
pub const HANDSHAKE_AUTHDATA_HEAD_SIZE: usize = 34;

/// Flag byte of an ordinary message packet.
pub const FLAG_MESSAGE: u8 = 0;
/// Flag byte of a WHOAREYOU packet.
pub const FLAG_WHOAREYOU: u8 = 1;
/// Flag byte of a handshake message packet.
pub const FLAG_HANDSHAKE: u8 = 2;

/// A 96-bit message nonce.
pub type MessageNonce = [u8; 12];

/// The kind-specific part of a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthData {
    /// Ordinary message packet (flag 0).
    Message {
        /// Sender's node ID.
        src_id: NodeId,
    },
    /// WHOAREYOU challenge (flag 1); carries no message.
    WhoAreYou {
        /// Random challenge nonce.
        id_nonce: [u8; 16],
        /// Sequence number of the challenger's copy of our record (0 if it has none).
        enr_seq: u64,
    },
    /// Handshake message packet (flag 2), "v4" identity scheme only.
    Handshake {
        /// Sender's node ID.
        src_id: NodeId,
        /// ID-nonce signature (`r || s`).
        id_signature: [u8; 64],
        /// Compressed ephemeral public key.
        eph_pubkey: [u8; 33],
        /// The sender's record (RLP), when the challenge's enr-seq was stale.
        record: Option<Vec<u8>>,
    },
}

impl AuthData {
    /// The header flag of this kind.
    pub fn flag(&self) -> u8 {
        match self {
            AuthData::Message { .. } => FLAG_MESSAGE,
            AuthData::WhoAreYou { .. } => FLAG_WHOAREYOU,
            AuthData::Handshake { .. } => FLAG_HANDSHAKE,
        }
    }

    /// The encoded `authdata` bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            AuthData::Message { src_id } => src_id.as_bytes().to_vec(),
            AuthData::WhoAreYou { id_nonce, enr_seq } => {
                let mut out = Vec::with_capacity(WHOAREYOU_AUTHDATA_SIZE);
                out.extend_from_slice(id_nonce);
                out.extend_from_slice(&enr_seq.to_be_bytes());
                out
            }
            AuthData::Handshake {
                src_id,
                id_signature,
                eph_pubkey,
                record,
            } => {
                let record_len = record.as_ref().map_or(0, Vec::len);
                let mut out =
                    Vec::with_capacity(HANDSHAKE_AUTHDATA_HEAD_SIZE + 64 + 33 + record_len);
                out.extend_from_slice(src_id.as_bytes());
                out.push(id_signature.len() as u8);
                out.push(eph_pubkey.len() as u8);
                out.extend_from_slice(id_signature);
                out.extend_from_slice(eph_pubkey);
                if let Some(record) = record {
                    out.extend_from_slice(record);
                }
                out
            }
        }
    }
}

/// An unmasked packet header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message nonce (for WHOAREYOU: the nonce of the packet that caused it).
    pub nonce: MessageNonce,
    /// Kind-specific data.
    pub auth: AuthData,
}

impl Header {
    /// `static-header || authdata`, unmasked. Fails if `authdata` exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        let authdata = self.auth.encode();
        let size =
            u16::try_from(authdata.len()).map_err(|_| PacketError::TooLarge(authdata.len()))?;
        let mut out = Vec::with_capacity(STATIC_HEADER_SIZE + authdata.len());
        out.extend_from_slice(PROTOCOL_ID);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.push(self.auth.flag());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&authdata);
        Ok(out)
    }
}

/// Why a packet was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than [`MIN_PACKET_SIZE`].
    #[error("packet of {0} bytes is below the 63-byte minimum")]
    TooSmall(usize),
    /// Longer than [`MAX_PACKET_SIZE`].
    #[error("packet of {0} bytes exceeds the 1280-byte maximum")]
    TooLarge(usize),
    /// The unmasked protocol ID is not "discv5" (wrong destination or not discv5).
    #[error("protocol id mismatch (masked for another node?)")]
    WrongProtocolId,
    /// A version other than 0x0001.
    #[error("unsupported version {0:#06x}")]
    UnsupportedVersion(u16),
    /// A flag other than 0, 1, 2.
    #[error("unknown packet flag {0}")]
    UnknownFlag(u8),
    /// `authdata-size` runs past the end of the packet.
    #[error("authdata size {0} exceeds the packet")]
    AuthDataOverflow(usize),
    /// `authdata-size` does not fit the packet kind.
    #[error("authdata size {size} is invalid for flag {flag}")]
    BadAuthDataSize {
        /// Packet flag.
        flag: u8,
        /// Declared size.
        size: usize,
    },
    /// A WHOAREYOU packet followed by message bytes.
    #[error("WHOAREYOU packet carries {0} message bytes")]
    WhoAreYouWithMessage(usize),
    /// A message packet whose message is shorter than the GCM tag.
    #[error("message of {0} bytes is shorter than the authentication tag")]
    MessageTooShort(usize),
    /// A handshake signature size other than 64 ("v4").
    #[error("unsupported signature size {0}")]
    UnsupportedSignatureSize(u8),
    /// A handshake ephemeral key size other than 33 ("v4").
    #[error("unsupported ephemeral key size {0}")]
    UnsupportedKeySize(u8),
    /// The message did not authenticate with the given key.
    #[error("message decryption failed")]
    DecryptionFailed,
}

#[cfg(test)]
pub(crate) mod tests;
