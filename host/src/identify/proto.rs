//! The identify protobuf (proto2) and its length-delimited framing.

use bytes::Bytes;
use prost::Message as _;

/// `Identify` message of `/ipfs/id/1.0.0` (field numbers are the contract).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct IdentifyMessage {
    /// libp2p `PublicKey` protobuf.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub public_key: Option<Vec<u8>>,
    /// Binary multiaddrs we listen on.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub listen_addrs: Vec<Vec<u8>>,
    /// Protocols we accept inbound.
    #[prost(string, repeated, tag = "3")]
    pub protocols: Vec<String>,
    /// The remote's address as we see it.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub observed_addr: Option<Vec<u8>>,
    /// Protocol family version.
    #[prost(string, optional, tag = "5")]
    pub protocol_version: Option<String>,
    /// Implementation name and version.
    #[prost(string, optional, tag = "6")]
    pub agent_version: Option<String>,
    /// Signed peer record envelope (never sent, ignored on receipt).
    #[prost(bytes = "vec", optional, tag = "8")]
    pub signed_peer_record: Option<Vec<u8>>,
}

/// Why an identify message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifyError {
    /// The message (prefix included) is longer than the limit.
    #[error("identify message of {len} bytes exceeds {max}")]
    TooLarge {
        /// Bytes received or declared.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The length prefix or protobuf is malformed, or bytes trail the message.
    #[error("malformed identify message")]
    Malformed,
    /// The stream ended before a complete message.
    #[error("truncated identify message")]
    Truncated,
    /// `publicKey` is missing, undecodable, or not the connection's PeerId.
    #[error("identify public key does not match the peer")]
    WrongKey,
}

/// `uvarint(len) ‖ message`.
pub(crate) fn encode(message: &IdentifyMessage) -> Bytes {
    Bytes::from(message.encode_length_delimited_to_vec())
}

/// Decodes one complete length-delimited message (the whole stream's bytes).
pub(crate) fn decode(bytes: &[u8], max: usize) -> Result<IdentifyMessage, IdentifyError> {
    if bytes.len() > max {
        return Err(IdentifyError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (len, rest) =
        unsigned_varint::decode::usize(bytes).map_err(|_| match bytes.is_empty() {
            true => IdentifyError::Truncated,
            false => IdentifyError::Malformed,
        })?;
    if len > rest.len() {
        return Err(IdentifyError::Truncated);
    }
    if len < rest.len() {
        return Err(IdentifyError::Malformed);
    }
    IdentifyMessage::decode(rest).map_err(|_| IdentifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of identify-ping.md §1 (127-byte body).
    const SPEC_EXAMPLE: &str = concat!(
        "7f",
        "0a250802122102130c9c6175ae620f43db5682a7e4366bec1be688c9cf44254e49168dd37a0cac",
        "120b047f00000191022328cd03",
        "1a102f697066732f70696e672f312e302e30",
        "1a0e2f6d6573687375622f312e322e30",
        "220b047f0000019102232acd03",
        "2a0b2f697066732f302e312e30",
        "320d6578616d706c652f302e312e30",
    );

    #[test]
    fn spec_example_round_trips_byte_for_byte() {
        let wire = hex::decode(SPEC_EXAMPLE).unwrap();
        let message = decode(&wire, 4096).unwrap();
        assert_eq!(message.protocols, ["/ipfs/ping/1.0.0", "/meshsub/1.2.0"]);
        assert_eq!(message.protocol_version.as_deref(), Some("/ipfs/0.1.0"));
        assert_eq!(message.agent_version.as_deref(), Some("example/0.1.0"));
        let addr = leanp2p_identity::Multiaddr::from_bytes(&message.listen_addrs[0]).unwrap();
        assert_eq!(addr.to_string(), "/ip4/127.0.0.1/udp/9000/quic-v1");
        assert_eq!(&encode(&message)[..], &wire[..]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let wire = hex::decode(SPEC_EXAMPLE).unwrap();
        assert_eq!(decode(&wire[..50], 4096), Err(IdentifyError::Truncated));
        assert_eq!(decode(&[], 4096), Err(IdentifyError::Truncated));
        let mut trailing = wire.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing, 4096), Err(IdentifyError::Malformed));
        assert!(matches!(
            decode(&wire, 64),
            Err(IdentifyError::TooLarge { .. })
        ));
        assert_eq!(
            decode(&[0x02, 0xff, 0xff], 4096),
            Err(IdentifyError::Malformed)
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = decode(&bytes, 4096);
        }
    }
}
