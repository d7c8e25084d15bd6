//! discv5 protocol messages: `message-type || rlp(message-data)`.
//!
//! Bounds enforced on decode (on top of the 1280-byte packet limit):
//! request IDs are at most [`MAX_REQUEST_ID_SIZE`] bytes, FINDNODE carries at most
//! [`MAX_FINDNODE_DISTANCES`] distances (each ≤ 256), one NODES message at most
//! [`MAX_NODES_PER_MESSAGE`] records, and its `total` at most [`MAX_NODES_TOTAL`].
//! Every record in NODES must be a valid, signed "v4" ENR.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_rlp::{Decodable, Encodable, Header};
use leanp2p_identity::{Enr, EnrError};

/// Longest request ID (bytes).
pub const MAX_REQUEST_ID_SIZE: usize = 8;
/// Most distances accepted in one FINDNODE.
pub const MAX_FINDNODE_DISTANCES: usize = 32;
/// Largest log-distance.
pub const MAX_DISTANCE: u16 = 256;
/// Most records accepted in one NODES message (the FINDNODE result limit).
pub const MAX_NODES_PER_MESSAGE: usize = 16;
/// Largest `total` accepted in NODES: 16 records never need more than 16 messages.
pub const MAX_NODES_TOTAL: u64 = 16;

/// Message type bytes.
pub mod kind {
    /// PING.
    pub const PING: u8 = 0x01;
    /// PONG.
    pub const PONG: u8 = 0x02;
    /// FINDNODE.
    pub const FINDNODE: u8 = 0x03;
    /// NODES.
    pub const NODES: u8 = 0x04;
    /// TALKREQ.
    pub const TALKREQ: u8 = 0x05;
    /// TALKRESP.
    pub const TALKRESP: u8 = 0x06;
}

/// A request ID: an opaque byte string of at most 8 bytes, mirrored in the response.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    bytes: [u8; MAX_REQUEST_ID_SIZE],
    len: u8,
}

impl RequestId {
    /// A request ID from its bytes; `None` if longer than 8 bytes.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_REQUEST_ID_SIZE {
            return None;
        }
        let mut out = [0u8; MAX_REQUEST_ID_SIZE];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(Self {
            bytes: out,
            len: bytes.len() as u8,
        })
    }

    /// The 8-byte big-endian encoding of `n`.
    pub fn from_u64(n: u64) -> Self {
        Self {
            bytes: n.to_be_bytes(),
            len: 8,
        }
    }

    /// The ID's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestId(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A discv5 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// PING: liveness check carrying the sender's ENR sequence number.
    Ping {
        /// Request ID.
        id: RequestId,
        /// Sender's ENR sequence number.
        enr_seq: u64,
    },
    /// PONG: answer to PING with the address the PING came from.
    Pong {
        /// Request ID of the PING.
        id: RequestId,
        /// Sender's ENR sequence number.
        enr_seq: u64,
        /// IP of the PING's UDP envelope.
        ip: IpAddr,
        /// Port of the PING's UDP envelope.
        port: u16,
    },
    /// FINDNODE: records at the given log-distances from the recipient.
    FindNode {
        /// Request ID.
        id: RequestId,
        /// Requested log-distances (0 = the recipient's own record).
        distances: Vec<u16>,
    },
    /// NODES: one part of a FINDNODE answer.
    Nodes {
        /// Request ID of the FINDNODE.
        id: RequestId,
        /// Number of NODES messages in the whole answer.
        total: u64,
        /// Records in this part.
        enrs: Vec<Enr>,
    },
    /// TALKREQ: application request.
    TalkReq {
        /// Request ID.
        id: RequestId,
        /// Application protocol name.
        protocol: Vec<u8>,
        /// Request payload.
        request: Vec<u8>,
    },
    /// TALKRESP: application response (empty when the protocol is unknown).
    TalkResp {
        /// Request ID of the TALKREQ.
        id: RequestId,
        /// Response payload.
        response: Vec<u8>,
    },
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// No bytes at all.
    #[error("empty message")]
    Empty,
    /// A message type this implementation does not know.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// Bad RLP framing or a non-canonical integer.
    #[error("rlp: {0}")]
    Rlp(String),
    /// The message data or a nested field is not a list where one is required.
    #[error("expected an RLP list")]
    NotAList,
    /// Bytes after the message data or a list with extra items.
    #[error("trailing bytes in message")]
    TrailingBytes,
    /// A request ID longer than 8 bytes.
    #[error("request id of {0} bytes")]
    RequestIdTooLong(usize),
    /// More than [`MAX_FINDNODE_DISTANCES`] distances.
    #[error("{0} distances in FINDNODE")]
    TooManyDistances(usize),
    /// A distance above 256.
    #[error("distance {0} out of range")]
    DistanceOutOfRange(u64),
    /// More than [`MAX_NODES_PER_MESSAGE`] records.
    #[error("{0} records in NODES")]
    TooManyNodes(usize),
    /// `total` of zero or above [`MAX_NODES_TOTAL`].
    #[error("NODES total {0} out of range")]
    BadTotal(u64),
    /// A PONG IP that is neither 4 nor 16 bytes.
    #[error("IP address of {0} bytes")]
    BadIp(usize),
    /// A record in NODES that does not decode or verify.
    #[error("invalid record: {0}")]
    InvalidEnr(String),
}

impl From<alloy_rlp::Error> for MessageError {
    fn from(e: alloy_rlp::Error) -> Self {
        MessageError::Rlp(e.to_string())
    }
}

fn list(payload: &[u8], out: &mut Vec<u8>) {
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(out);
    out.extend_from_slice(payload);
}

impl Message {
    /// The request ID of any message.
    pub fn id(&self) -> RequestId {
        match self {
            Message::Ping { id, .. }
            | Message::Pong { id, .. }
            | Message::FindNode { id, .. }
            | Message::Nodes { id, .. }
            | Message::TalkReq { id, .. }
            | Message::TalkResp { id, .. } => *id,
        }
    }

    /// Whether this message is a request (PING, FINDNODE, TALKREQ).
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::Ping { .. } | Message::FindNode { .. } | Message::TalkReq { .. }
        )
    }

    /// `message-type || rlp(message-data)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        self.id().as_bytes().encode(&mut payload);
        let kind = match self {
            Message::Ping { enr_seq, .. } => {
                enr_seq.encode(&mut payload);
                kind::PING
            }
            Message::Pong {
                enr_seq, ip, port, ..
            } => {
                enr_seq.encode(&mut payload);
                match ip {
                    IpAddr::V4(v4) => v4.octets().as_slice().encode(&mut payload),
                    IpAddr::V6(v6) => v6.octets().as_slice().encode(&mut payload),
                }
                port.encode(&mut payload);
                kind::PONG
            }
            Message::FindNode { distances, .. } => {
                let mut inner = Vec::new();
                for d in distances {
                    d.encode(&mut inner);
                }
                list(&inner, &mut payload);
                kind::FINDNODE
            }
            Message::Nodes { total, enrs, .. } => {
                total.encode(&mut payload);
                let mut inner = Vec::new();
                for enr in enrs {
                    inner.extend_from_slice(enr.to_rlp());
                }
                list(&inner, &mut payload);
                kind::NODES
            }
            Message::TalkReq {
                protocol, request, ..
            } => {
                protocol.as_slice().encode(&mut payload);
                request.as_slice().encode(&mut payload);
                kind::TALKREQ
            }
            Message::TalkResp { response, .. } => {
                response.as_slice().encode(&mut payload);
                kind::TALKRESP
            }
        };
        let mut out = Vec::with_capacity(payload.len() + 4);
        out.push(kind);
        list(&payload, &mut out);
        out
    }

    /// Decodes `message-type || rlp(message-data)`; every NODES record is decoded and its
    /// signature verified ([`Enr::decode_rlp`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        Self::decode_with(bytes, Enr::decode_rlp)
    }

    /// [`Message::decode`] with NODES records made by `record` from their RLP bytes: a
    /// caller that keeps records it verified before may return one of those when the
    /// bytes are identical instead of verifying them again.
    pub fn decode_with(
        bytes: &[u8],
        mut record: impl FnMut(&[u8]) -> Result<Enr, EnrError>,
    ) -> Result<Self, MessageError> {
        let (&kind, rest) = bytes.split_first().ok_or(MessageError::Empty)?;
        if !(kind::PING..=kind::TALKRESP).contains(&kind) {
            return Err(MessageError::UnknownType(kind));
        }
        let mut buf = rest;
        let mut body = take_list(&mut buf)?;
        if !buf.is_empty() {
            return Err(MessageError::TrailingBytes);
        }
        let id_bytes = Header::decode_bytes(&mut body, false)?;
        let id = RequestId::new(id_bytes).ok_or(MessageError::RequestIdTooLong(id_bytes.len()))?;
        let message = match kind {
            kind::PING => Message::Ping {
                id,
                enr_seq: u64::decode(&mut body)?,
            },
            kind::PONG => {
                let enr_seq = u64::decode(&mut body)?;
                let ip = Header::decode_bytes(&mut body, false)?;
                let ip = match ip.len() {
                    4 => IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
                    16 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(ip);
                        IpAddr::V6(Ipv6Addr::from(octets))
                    }
                    n => return Err(MessageError::BadIp(n)),
                };
                let port = u16::decode(&mut body)?;
                Message::Pong {
                    id,
                    enr_seq,
                    ip,
                    port,
                }
            }
            kind::FINDNODE => {
                let mut inner = take_list(&mut body)?;
                let mut distances = Vec::new();
                while !inner.is_empty() {
                    if distances.len() == MAX_FINDNODE_DISTANCES {
                        return Err(MessageError::TooManyDistances(distances.len() + 1));
                    }
                    let d = u64::decode(&mut inner)?;
                    if d > u64::from(MAX_DISTANCE) {
                        return Err(MessageError::DistanceOutOfRange(d));
                    }
                    distances.push(d as u16);
                }
                Message::FindNode { id, distances }
            }
            kind::NODES => {
                let total = u64::decode(&mut body)?;
                if total == 0 || total > MAX_NODES_TOTAL {
                    return Err(MessageError::BadTotal(total));
                }
                let mut inner = take_list(&mut body)?;
                let mut enrs = Vec::new();
                while !inner.is_empty() {
                    if enrs.len() == MAX_NODES_PER_MESSAGE {
                        return Err(MessageError::TooManyNodes(enrs.len() + 1));
                    }
                    let item = take_item(&mut inner)?;
                    let enr = record(item).map_err(|e| MessageError::InvalidEnr(e.to_string()))?;
                    enrs.push(enr);
                }
                Message::Nodes { id, total, enrs }
            }
            kind::TALKREQ => {
                let protocol = Header::decode_bytes(&mut body, false)?.to_vec();
                let request = Header::decode_bytes(&mut body, false)?.to_vec();
                Message::TalkReq {
                    id,
                    protocol,
                    request,
                }
            }
            _ => Message::TalkResp {
                id,
                response: Header::decode_bytes(&mut body, false)?.to_vec(),
            },
        };
        if !body.is_empty() {
            return Err(MessageError::TrailingBytes);
        }
        Ok(message)
    }
}

/// Splits an RLP list off the front of `buf` and returns its payload.
fn take_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], MessageError> {
    let header = Header::decode(buf)?;
    if !header.list {
        return Err(MessageError::NotAList);
    }
    if header.payload_length > buf.len() {
        return Err(MessageError::Rlp("list longer than its input".into()));
    }
    let (payload, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    Ok(payload)
}

/// Splits one complete RLP item (header and payload) off the front of `buf`.
fn take_item<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], MessageError> {
    let start = *buf;
    let header = Header::decode(buf)?;
    let header_len = start.len() - buf.len();
    let total = header_len
        .checked_add(header.payload_length)
        .filter(|&t| t <= start.len())
        .ok_or_else(|| MessageError::Rlp("item longer than its input".into()))?;
    let (item, rest) = start.split_at(total);
    *buf = rest;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leanp2p_identity::Keypair;

    fn id4() -> RequestId {
        RequestId::new(&[0, 0, 0, 1]).unwrap()
    }

    fn enr(seed: u8) -> Enr {
        let key = Keypair::from_secret_bytes(&[seed; 32]).unwrap();
        Enr::builder()
            .ip4(Ipv4Addr::new(10, 0, 0, seed))
            .udp4(9000)
            .build(&key)
            .unwrap()
    }

    #[test]
    fn ping_matches_vector_plaintext() {
        let ping = Message::Ping {
            id: id4(),
            enr_seq: 2,
        };
        assert_eq!(ping.encode(), vec![0x01, 0xc6, 0x84, 0, 0, 0, 1, 2]);
        assert_eq!(Message::decode(&ping.encode()).unwrap(), ping);
    }

    #[test]
    fn every_message_roundtrips() {
        let messages = vec![
            Message::Ping {
                id: RequestId::new(&[]).unwrap(),
                enr_seq: 0,
            },
            Message::Pong {
                id: RequestId::from_u64(u64::MAX),
                enr_seq: 7,
                ip: IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
                port: 30303,
            },
            Message::Pong {
                id: id4(),
                enr_seq: 0,
                ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                port: 0,
            },
            Message::FindNode {
                id: id4(),
                distances: vec![0, 1, 255, 256],
            },
            Message::Nodes {
                id: id4(),
                total: 2,
                enrs: vec![enr(1), enr(2)],
            },
            Message::Nodes {
                id: id4(),
                total: 1,
                enrs: vec![],
            },
            Message::TalkReq {
                id: id4(),
                protocol: b"eth2".to_vec(),
                request: vec![1; 100],
            },
            Message::TalkResp {
                id: id4(),
                response: vec![],
            },
        ];
        for m in messages {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m, "{m:?}");
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let findnode = Message::FindNode {
            id: id4(),
            distances: vec![1; MAX_FINDNODE_DISTANCES + 1],
        };
        assert_eq!(
            Message::decode(&findnode.encode()),
            Err(MessageError::TooManyDistances(MAX_FINDNODE_DISTANCES + 1))
        );
        let far = Message::FindNode {
            id: id4(),
            distances: vec![257],
        };
        assert_eq!(
            Message::decode(&far.encode()),
            Err(MessageError::DistanceOutOfRange(257))
        );
        let one = enr(3);
        let nodes = Message::Nodes {
            id: id4(),
            total: 1,
            enrs: vec![one; MAX_NODES_PER_MESSAGE + 1],
        };
        assert_eq!(
            Message::decode(&nodes.encode()),
            Err(MessageError::TooManyNodes(MAX_NODES_PER_MESSAGE + 1))
        );
        let total = Message::Nodes {
            id: id4(),
            total: MAX_NODES_TOTAL + 1,
            enrs: vec![],
        };
        assert_eq!(
            Message::decode(&total.encode()),
            Err(MessageError::BadTotal(MAX_NODES_TOTAL + 1))
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(Message::decode(&[]), Err(MessageError::Empty));
        assert_eq!(
            Message::decode(&[0x07, 0xc0]),
            Err(MessageError::UnknownType(7))
        );
        assert_eq!(Message::decode(&[0x01, 0x80]), Err(MessageError::NotAList));
        // Request id of 9 bytes.
        let mut long = vec![0x01, 0xcb, 0x89];
        long.extend_from_slice(&[1; 9]);
        long.push(0x01);
        assert_eq!(
            Message::decode(&long),
            Err(MessageError::RequestIdTooLong(9))
        );
        // Trailing bytes after the list, and an extra item inside it.
        assert_eq!(
            Message::decode(&[0x01, 0xc2, 0x80, 0x01, 0x00]),
            Err(MessageError::TrailingBytes)
        );
        assert_eq!(
            Message::decode(&[0x01, 0xc3, 0x80, 0x01, 0x01]),
            Err(MessageError::TrailingBytes)
        );
        // Non-canonical integer (leading zero).
        assert!(matches!(
            Message::decode(&[0x01, 0xc3, 0x80, 0x81, 0x00]),
            Err(MessageError::Rlp(_))
        ));
        // Truncated list.
        assert!(matches!(
            Message::decode(&[0x01, 0xc5, 0x80]),
            Err(MessageError::Rlp(_))
        ));
        // PONG with a 5-byte IP.
        let mut pong = vec![
            0x02, 0xcb, 0x80, 0x01, 0x85, 1, 2, 3, 4, 5, 0x82, 0x76, 0x5f,
        ];
        assert_eq!(Message::decode(&pong), Err(MessageError::BadIp(5)));
        pong[1] = 0xcc;
        assert!(Message::decode(&pong).is_err());
        // NODES with a record that is not an ENR.
        assert!(matches!(
            Message::decode(&[0x04, 0xc5, 0x80, 0x01, 0xc2, 0x81, 0x01]),
            Err(MessageError::InvalidEnr(_)) | Err(MessageError::Rlp(_))
        ));
    }
}
