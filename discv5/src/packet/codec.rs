//! Encoding and decoding of whole packets.

use aes::cipher::{KeyIvInit, StreamCipher};

use super::{
    AuthData, Header, MessageNonce, PacketError, FLAG_HANDSHAKE, FLAG_MESSAGE, FLAG_WHOAREYOU,
    HANDSHAKE_AUTHDATA_HEAD_SIZE, MASKING_IV_SIZE, MAX_PACKET_SIZE, MESSAGE_AUTHDATA_SIZE,
    MIN_PACKET_SIZE, PROTOCOL_ID, STATIC_HEADER_SIZE, VERSION, WHOAREYOU_AUTHDATA_SIZE,
};
use crate::crypto::{self, Key, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, TAG_SIZE};
use crate::node_id::NodeId;

type Masker = ctr::Ctr128BE<aes::Aes128>;

fn masker(dest: &NodeId, iv: &[u8; MASKING_IV_SIZE]) -> Masker {
    let mut key = [0u8; 16];
    key.copy_from_slice(&dest.as_bytes()[..16]);
    Masker::new(&key.into(), iv.into())
}

/// A decoded packet: header unmasked, message still sealed.
#[derive(Clone, Debug)]
pub struct DecodedPacket<'a> {
    /// The masking IV.
    pub masking_iv: [u8; MASKING_IV_SIZE],
    /// The unmasked header.
    pub header: Header,
    /// `masking-iv || header` (unmasked): the message's additional data and, for a
    /// WHOAREYOU, the `challenge-data` of the handshake.
    pub authenticated_data: Vec<u8>,
    /// The sealed message (empty for WHOAREYOU).
    pub message: &'a [u8],
}

impl DecodedPacket<'_> {
    /// Decrypts and authenticates the message with `key`.
    pub fn open(&self, key: &Key) -> Result<Vec<u8>, PacketError> {
        crypto::decrypt_message(
            key,
            &self.header.nonce,
            self.message,
            &self.authenticated_data,
        )
        .map_err(|_| PacketError::DecryptionFailed)
    }
}

/// Decodes a packet addressed to `local` (whose ID is the masking key).
pub fn decode_packet<'a>(
    local: &NodeId,
    bytes: &'a [u8],
) -> Result<DecodedPacket<'a>, PacketError> {
    if bytes.len() < MIN_PACKET_SIZE {
        return Err(PacketError::TooSmall(bytes.len()));
    }
    if bytes.len() > MAX_PACKET_SIZE {
        return Err(PacketError::TooLarge(bytes.len()));
    }
    let mut masking_iv = [0u8; MASKING_IV_SIZE];
    masking_iv.copy_from_slice(&bytes[..MASKING_IV_SIZE]);
    let mut cipher = masker(local, &masking_iv);

    let mut static_header = [0u8; STATIC_HEADER_SIZE];
    static_header.copy_from_slice(&bytes[MASKING_IV_SIZE..MASKING_IV_SIZE + STATIC_HEADER_SIZE]);
    cipher.apply_keystream(&mut static_header);
    if &static_header[..6] != PROTOCOL_ID {
        return Err(PacketError::WrongProtocolId);
    }
    let version = u16::from_be_bytes([static_header[6], static_header[7]]);
    if version != VERSION {
        return Err(PacketError::UnsupportedVersion(version));
    }
    let flag = static_header[8];
    let mut nonce: MessageNonce = [0; 12];
    nonce.copy_from_slice(&static_header[9..21]);
    let authdata_size = usize::from(u16::from_be_bytes([static_header[21], static_header[22]]));

    let auth_start = MASKING_IV_SIZE + STATIC_HEADER_SIZE;
    let auth_end = auth_start + authdata_size;
    if auth_end > bytes.len() {
        return Err(PacketError::AuthDataOverflow(authdata_size));
    }
    let mut authdata = bytes[auth_start..auth_end].to_vec();
    cipher.apply_keystream(&mut authdata);
    let message = &bytes[auth_end..];

    let auth = match flag {
        FLAG_MESSAGE => {
            if authdata_size != MESSAGE_AUTHDATA_SIZE {
                return Err(PacketError::BadAuthDataSize {
                    flag,
                    size: authdata_size,
                });
            }
            if message.len() < TAG_SIZE {
                return Err(PacketError::MessageTooShort(message.len()));
            }
            AuthData::Message {
                src_id: node_id(&authdata[..32]),
            }
        }
        FLAG_WHOAREYOU => {
            if authdata_size != WHOAREYOU_AUTHDATA_SIZE {
                return Err(PacketError::BadAuthDataSize {
                    flag,
                    size: authdata_size,
                });
            }
            if !message.is_empty() {
                return Err(PacketError::WhoAreYouWithMessage(message.len()));
            }
            let mut id_nonce = [0u8; 16];
            id_nonce.copy_from_slice(&authdata[..16]);
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&authdata[16..24]);
            AuthData::WhoAreYou {
                id_nonce,
                enr_seq: u64::from_be_bytes(seq),
            }
        }
        FLAG_HANDSHAKE => {
            if authdata_size < HANDSHAKE_AUTHDATA_HEAD_SIZE {
                return Err(PacketError::BadAuthDataSize {
                    flag,
                    size: authdata_size,
                });
            }
            let sig_size = authdata[32];
            let key_size = authdata[33];
            if usize::from(sig_size) != SIGNATURE_SIZE {
                return Err(PacketError::UnsupportedSignatureSize(sig_size));
            }
            if usize::from(key_size) != PUBLIC_KEY_SIZE {
                return Err(PacketError::UnsupportedKeySize(key_size));
            }
            let sig_end = HANDSHAKE_AUTHDATA_HEAD_SIZE + SIGNATURE_SIZE;
            let key_end = sig_end + PUBLIC_KEY_SIZE;
            if authdata_size < key_end {
                return Err(PacketError::BadAuthDataSize {
                    flag,
                    size: authdata_size,
                });
            }
            if message.len() < TAG_SIZE {
                return Err(PacketError::MessageTooShort(message.len()));
            }
            let mut id_signature = [0u8; 64];
            id_signature.copy_from_slice(&authdata[HANDSHAKE_AUTHDATA_HEAD_SIZE..sig_end]);
            let mut eph_pubkey = [0u8; 33];
            eph_pubkey.copy_from_slice(&authdata[sig_end..key_end]);
            let record = (authdata_size > key_end).then(|| authdata[key_end..].to_vec());
            AuthData::Handshake {
                src_id: node_id(&authdata[..32]),
                id_signature,
                eph_pubkey,
                record,
            }
        }
        other => return Err(PacketError::UnknownFlag(other)),
    };

    let mut authenticated_data = Vec::with_capacity(auth_end);
    authenticated_data.extend_from_slice(&masking_iv);
    authenticated_data.extend_from_slice(&static_header);
    authenticated_data.extend_from_slice(&authdata);
    Ok(DecodedPacket {
        masking_iv,
        header: Header { nonce, auth },
        authenticated_data,
        message,
    })
}

fn node_id(bytes: &[u8]) -> NodeId {
    let mut id = [0u8; 32];
    id.copy_from_slice(&bytes[..32]);
    NodeId(id)
}

/// Encodes an ordinary or handshake message packet to `dest`: seals `plaintext`
/// (`message-type || message-data`) with `key` and masks the header.
pub fn encode_message_packet(
    masking_iv: [u8; MASKING_IV_SIZE],
    dest: &NodeId,
    header: &Header,
    key: &Key,
    plaintext: &[u8],
) -> Result<Vec<u8>, PacketError> {
    let header_bytes = header.encode()?;
    let total = MASKING_IV_SIZE + header_bytes.len() + plaintext.len() + TAG_SIZE;
    if total > MAX_PACKET_SIZE {
        return Err(PacketError::TooLarge(total));
    }
    let mut aad = Vec::with_capacity(MASKING_IV_SIZE + header_bytes.len());
    aad.extend_from_slice(&masking_iv);
    aad.extend_from_slice(&header_bytes);
    let sealed = crypto::encrypt_message(key, &header.nonce, plaintext, &aad);
    let mut out = aad;
    masker(dest, &masking_iv).apply_keystream(&mut out[MASKING_IV_SIZE..]);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Encodes a WHOAREYOU packet to `dest` answering the packet with `nonce`; returns the
/// packet and its `challenge-data` (`masking-iv || header`, unmasked).
pub fn encode_whoareyou(
    masking_iv: [u8; MASKING_IV_SIZE],
    dest: &NodeId,
    nonce: MessageNonce,
    id_nonce: [u8; 16],
    enr_seq: u64,
) -> (Vec<u8>, Vec<u8>) {
    let header = Header {
        nonce,
        auth: AuthData::WhoAreYou { id_nonce, enr_seq },
    };
    let mut challenge = Vec::with_capacity(MIN_PACKET_SIZE);
    challenge.extend_from_slice(&masking_iv);
    // A WHOAREYOU authdata is 24 bytes: encoding cannot fail.
    challenge.extend_from_slice(&header.encode().unwrap_or_default());
    let mut packet = challenge.clone();
    masker(dest, &masking_iv).apply_keystream(&mut packet[MASKING_IV_SIZE..]);
    (packet, challenge)
}
