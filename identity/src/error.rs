//! Error types, one enum per operation.

use thiserror::Error;

/// Decoding a key (protobuf or raw key bytes) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodingError {
    /// The bytes are not a valid key protobuf.
    #[error("malformed key protobuf")]
    Protobuf,
    /// The protobuf parsed but is not in the canonical libp2p encoding (unknown, repeated or
    /// reordered fields, or non-minimal varints).
    #[error("key protobuf is not canonically encoded")]
    NonCanonicalProtobuf,
    /// The key type is unknown or not supported (RSA).
    #[error("unsupported key type {0}")]
    UnsupportedKeyType(i32),
    /// A fixed-size field had the wrong length.
    #[error("invalid key length: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// The key bytes do not describe a valid key (not on the curve, bad encoding, ...).
    #[error("invalid key bytes")]
    InvalidKey,
}

/// A secret key scalar was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecretKeyError {
    /// The scalar is zero or not below the secp256k1 group order.
    #[error("secret key is zero or not below the secp256k1 group order")]
    OutOfRange,
}

/// Parsing a PeerId failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerIdError {
    /// Empty input.
    #[error("empty peer id")]
    Empty,
    /// The multihash is shorter than its declared length (or longer).
    #[error("truncated or oversized multihash")]
    Truncated,
    /// The multihash code is neither identity (0x00) nor sha2-256 (0x12).
    #[error("unsupported multihash code 0x{0:02x}")]
    UnsupportedMultihash(u8),
    /// Identity multihash with more than 42 bytes.
    #[error("identity multihash of {0} bytes exceeds 42")]
    InlineKeyTooLong(usize),
    /// sha2-256 multihash whose digest is not 32 bytes.
    #[error("sha2-256 multihash with a {0}-byte digest")]
    BadDigestLength(usize),
    /// Not valid base58btc.
    #[error("invalid base58btc peer id")]
    InvalidBase58,
    /// Multibase prefix other than `b`, `B`, `z`.
    #[error("unsupported multibase prefix {0:?}")]
    UnsupportedMultibase(char),
    /// Not a CIDv1 with the libp2p-key codec.
    #[error("invalid CID peer id (want CIDv1, codec libp2p-key)")]
    InvalidCid,
}

/// Parsing or interpreting a multiaddr failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MultiaddrError {
    /// Text form must start with `/`.
    #[error("multiaddr must start with '/'")]
    MissingLeadingSlash,
    /// `//` in the text form.
    #[error("empty protocol name in multiaddr")]
    EmptyComponent,
    /// A protocol name this stack does not know.
    #[error("unsupported multiaddr protocol {0:?}")]
    UnknownProtocol(String),
    /// A binary protocol code this stack does not know.
    #[error("unsupported multiaddr protocol code {0}")]
    UnknownProtocolCode(u64),
    /// A protocol that needs a value has none.
    #[error("multiaddr protocol /{0} needs a value")]
    MissingValue(&'static str),
    /// A value that does not parse for its protocol.
    #[error("invalid value for multiaddr protocol /{0}")]
    InvalidValue(&'static str),
    /// A DNS name that is empty, too long or has invalid characters.
    #[error("invalid DNS name in multiaddr")]
    InvalidDnsName,
    /// A `/p2p` value that is not a PeerId.
    #[error("invalid peer id in multiaddr: {0}")]
    PeerId(#[from] PeerIdError),
    /// Malformed varint in the binary form.
    #[error("malformed varint in multiaddr")]
    InvalidVarint,
    /// Binary form ends inside a component.
    #[error("truncated multiaddr")]
    Truncated,
    /// More than [`crate::multiaddr::MAX_COMPONENTS`] components.
    #[error("too many multiaddr components")]
    TooManyComponents,
    /// Well-formed, but not an address we can dial over QUIC v1.
    #[error("not a dialable QUIC v1 address: {0}")]
    NotDialable(&'static str),
}

/// Reading or writing a node-key file failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key text is not 64 hex characters (after trimming and an optional `0x`).
    #[error("node key must be 64 hex characters (32 bytes), got {0} characters")]
    WrongLength(usize),
    /// The key text has a non-hex character.
    #[error("node key is not hex: invalid character {0:?}")]
    NotHex(char),
    /// The scalar is zero or not below the group order.
    #[error("node key is not a valid secp256k1 secret: {0}")]
    Scalar(#[from] SecretKeyError),
}

/// Decoding, verifying or building an ENR failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnrError {
    /// Text form does not start with `enr:`.
    #[error("ENR text must start with \"enr:\"")]
    MissingPrefix,
    /// Text form is not base64url.
    #[error("ENR text is not valid base64url")]
    InvalidBase64,
    /// Record larger than the 300 bytes EIP-778 allows.
    #[error("ENR of {0} bytes exceeds the 300-byte limit")]
    TooLarge(usize),
    /// Malformed or non-canonical RLP (including truncation).
    #[error("malformed ENR RLP: {0}")]
    Rlp(String),
    /// The record is not an RLP list.
    #[error("ENR is not an RLP list")]
    NotAList,
    /// Signature is not 64 bytes.
    #[error("ENR signature must be 64 bytes, got {0}")]
    BadSignatureLength(usize),
    /// Keys are not sorted and unique.
    #[error("ENR keys are not sorted and unique")]
    UnsortedKeys,
    /// A key without a value.
    #[error("ENR key without a value")]
    MissingValue,
    /// A required key is absent.
    #[error("ENR has no {0:?} key")]
    MissingKey(&'static str),
    /// Identity scheme other than "v4".
    #[error("unknown ENR identity scheme {0:?}")]
    UnknownScheme(String),
    /// A known key with a malformed value.
    #[error("invalid ENR value for {0:?}")]
    InvalidValue(&'static str),
    /// The signature does not verify.
    #[error("ENR signature does not verify")]
    BadSignature,
    /// The record has no `ip`+`quic` or `ip6`+`quic6` pair to dial.
    #[error("ENR advertises no QUIC address (needs ip+quic or ip6+quic6)")]
    NoQuicAddress,
}
