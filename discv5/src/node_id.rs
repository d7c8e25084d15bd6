//! Node IDs (keccak256 of the uncompressed secp256k1 public key, "v4" scheme) and the
//! XOR log-distance between them.

use std::fmt;

use leanp2p_identity::Secp256k1PublicKey;
use sha3::{Digest, Keccak256};

/// A 256-bit discv5 node ID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The "v4" node ID of a secp256k1 public key: keccak256 of its 64-byte `x || y`.
    pub fn from_public_key(key: &Secp256k1PublicKey) -> Self {
        let uncompressed = key.to_uncompressed_bytes();
        Self(Keccak256::digest(&uncompressed[1..]).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `log2(self XOR other)` rounded down plus one, i.e. the bit length of the XOR
    /// distance: 0 for equal IDs, 256 when the first bit differs.
    pub fn log_distance(&self, other: &NodeId) -> u16 {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                let bits_after = (31 - i) as u16 * 8;
                return bits_after + (8 - x.leading_zeros() as u16);
            }
        }
        0
    }

    /// The XOR distance as a big-endian 256-bit number (compare with `Ord` on arrays).
    pub fn distance(&self, other: &NodeId) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        out
    }
}

impl From<[u8; 32]> for NodeId {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_distance_bounds() {
        let a = NodeId([0u8; 32]);
        assert_eq!(a.log_distance(&a), 0);
        let mut b = [0u8; 32];
        b[31] = 1;
        assert_eq!(a.log_distance(&NodeId(b)), 1);
        b[31] = 0x80;
        assert_eq!(a.log_distance(&NodeId(b)), 8);
        let mut c = [0u8; 32];
        c[0] = 0x80;
        assert_eq!(a.log_distance(&NodeId(c)), 256);
        c[0] = 0x01;
        assert_eq!(a.log_distance(&NodeId(c)), 249);
    }
}
