//! [`ProtocolId`] (one validated protocol name) and [`ProtocolSet`] (an ordered, shared list
//! of them with their wire frames pre-encoded).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{len_prefix_size, put_len_prefix, HEADER_FRAME, HEADER_PAYLOAD, MAX_FRAME_LEN};
use crate::error::{ProtocolIdError, ProtocolSetError};

/// Longest protocol id in bytes: the id plus `\n` must fit in one frame.
pub const MAX_PROTOCOL_ID_LEN: usize = MAX_FRAME_LEN - 1;

/// A multistream protocol id such as `/meshsub/1.2.0`.
///
/// Valid ids are non-empty, start with `/`, contain no `\n`, are valid UTF-8 (they are
/// `str`), are at most [`MAX_PROTOCOL_ID_LEN`] bytes, and are not the header
/// `/multistream/1.0.0`. Comparison is byte-exact and case-sensitive.
///
/// Cheap to clone, never allocates on clone: ids made with [`from_static`](Self::from_static)
/// borrow a `&'static str`; others share one `Arc<str>`.
#[derive(Clone)]
pub struct ProtocolId(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Const-evaluable validation shared by every constructor.
const fn validate(s: &str) -> Result<(), ProtocolIdError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(ProtocolIdError::Empty);
    }
    if b[0] != b'/' {
        return Err(ProtocolIdError::MissingLeadingSlash);
    }
    if b.len() > MAX_PROTOCOL_ID_LEN {
        return Err(ProtocolIdError::TooLong {
            len: b.len(),
            max: MAX_PROTOCOL_ID_LEN,
        });
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' {
            return Err(ProtocolIdError::ContainsNewline);
        }
        i += 1;
    }
    // Header payload without its '\n'.
    let header = HEADER_PAYLOAD.split_at(HEADER_PAYLOAD.len() - 1).0;
    if b.len() == header.len() {
        let mut j = 0;
        let mut same = true;
        while j < b.len() {
            if b[j] != header[j] {
                same = false;
            }
            j += 1;
        }
        if same {
            return Err(ProtocolIdError::Reserved);
        }
    }
    Ok(())
}

impl ProtocolId {
    /// Wraps a static id without allocating; usable in `const` items, where an invalid id
    /// is a compile error.
    ///
    /// # Panics
    /// If `s` is not a valid id (see the type docs). Use [`try_from_static`](Self::try_from_static)
    /// for ids that are not compile-time constants.
    pub const fn from_static(s: &'static str) -> Self {
        match validate(s) {
            Ok(()) => Self(Repr::Static(s)),
            Err(_) => panic!("invalid multistream protocol id"),
        }
    }

    /// Wraps a static id without allocating, or says why it is invalid.
    pub const fn try_from_static(s: &'static str) -> Result<Self, ProtocolIdError> {
        match validate(s) {
            Ok(()) => Ok(Self(Repr::Static(s))),
            Err(e) => Err(e),
        }
    }

    /// Copies `s` into a shared id, or says why it is invalid.
    pub fn new(s: &str) -> Result<Self, ProtocolIdError> {
        validate(s)?;
        Ok(Self(Repr::Shared(Arc::from(s))))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Length of the payload line carrying this id (id plus `\n`).
    pub(crate) fn line_len(&self) -> usize {
        self.as_str().len() + 1
    }
}

impl PartialEq for ProtocolId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for ProtocolId {}
impl PartialOrd for ProtocolId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ProtocolId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl Hash for ProtocolId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}
impl PartialEq<str> for ProtocolId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for ProtocolId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl Borrow<str> for ProtocolId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}
impl AsRef<str> for ProtocolId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}
impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for ProtocolId {
    type Err = ProtocolIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}
impl TryFrom<&str> for ProtocolId {
    type Error = ProtocolIdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}
impl TryFrom<String> for ProtocolId {
    type Error = ProtocolIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(&s)?;
        Ok(Self(Repr::Shared(Arc::from(s))))
    }
}

/// An ordered list of distinct protocol ids — a dialer's offer in preference order, or a
/// listener's supported set — with every frame the negotiation may send pre-encoded.
///
/// Build one per offer/supported set when the node starts and clone it into each
/// [`Negotiation`](crate::Negotiation): cloning is a reference-count increment, and every
/// output of a negotiation is a zero-copy slice of the frames held here (or a static
/// frame), so negotiating a stream allocates nothing for output.
///
/// Listener lookup is a linear byte comparison over the set, which is the fastest choice
/// for the handful of protocols a node supports.
#[derive(Clone)]
pub struct ProtocolSet(Arc<SetInner>);

struct SetInner {
    ids: Box<[ProtocolId]>,
    /// `header ‖ frame(id0) ‖ frame(id1) ‖ …`.
    wire: Bytes,
    /// Per id: (frame start, payload start, frame end) in `wire`.
    spans: Box<[(usize, usize, usize)]>,
    /// The complete `ls` response frame.
    ls_response: Bytes,
}

impl ProtocolSet {
    /// Most ids in a set (rust-libp2p rejects `ls` responses with more entries).
    pub const MAX_LEN: usize = 1000;

    /// Builds a set from ids in preference order. Fails on duplicates, more than
    /// [`MAX_LEN`](Self::MAX_LEN) ids, or an `ls` response that would not fit in a frame.
    pub fn new(ids: impl IntoIterator<Item = ProtocolId>) -> Result<Self, ProtocolSetError> {
        let ids: Vec<ProtocolId> = ids.into_iter().collect();
        if ids.len() > Self::MAX_LEN {
            return Err(ProtocolSetError::TooMany {
                count: ids.len(),
                max: Self::MAX_LEN,
            });
        }
        for (i, id) in ids.iter().enumerate() {
            if ids.iter().take(i).any(|earlier| earlier == id) {
                return Err(ProtocolSetError::Duplicate(id.clone()));
            }
        }
        let ls_payload_len = ids
            .iter()
            .map(|id| len_prefix_size(id.line_len()) + id.line_len())
            .sum::<usize>()
            + 1;
        if ls_payload_len > MAX_FRAME_LEN {
            return Err(ProtocolSetError::ListResponseTooLarge {
                len: ls_payload_len,
                max: MAX_FRAME_LEN,
            });
        }

        let mut wire =
            Vec::with_capacity(HEADER_FRAME.len() + ls_payload_len.saturating_sub(1) + ids.len());
        wire.extend_from_slice(HEADER_FRAME);
        let mut spans = Vec::with_capacity(ids.len());
        let mut ls = Vec::with_capacity(2 + ls_payload_len);
        put_len_prefix(ls_payload_len, &mut ls);
        for id in &ids {
            let start = wire.len();
            put_len_prefix(id.line_len(), &mut wire);
            let payload_start = wire.len();
            wire.extend_from_slice(id.as_str().as_bytes());
            wire.push(b'\n');
            spans.push((start, payload_start, wire.len()));
            // Every ls entry is exactly the frame of the id.
            ls.extend_from_slice(wire.get(start..).unwrap_or_default());
        }
        ls.push(b'\n');

        Ok(Self(Arc::new(SetInner {
            ids: ids.into_boxed_slice(),
            wire: Bytes::from(wire),
            spans: spans.into_boxed_slice(),
            ls_response: Bytes::from(ls),
        })))
    }

    /// A set of one id (the common dialer case).
    pub fn single(id: ProtocolId) -> Result<Self, ProtocolSetError> {
        Self::new([id])
    }

    /// The ids in preference order.
    pub fn ids(&self) -> &[ProtocolId] {
        &self.0.ids
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.0.ids.len()
    }

    /// `true` if the set has no ids.
    pub fn is_empty(&self) -> bool {
        self.0.ids.is_empty()
    }

    /// The id at `index`.
    pub fn get(&self, index: usize) -> Option<&ProtocolId> {
        self.0.ids.get(index)
    }

    /// Index of the id equal to `id`, if any.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.0.ids.iter().position(|p| p.as_str() == id)
    }

    /// Index of the id whose line (`id ‖ \n`) equals `payload`, byte-exact.
    pub(crate) fn position_of_line(&self, payload: &[u8]) -> Option<usize> {
        let inner = &*self.0;
        inner
            .spans
            .iter()
            .position(|&(_, p, e)| inner.wire.get(p..e) == Some(payload))
    }

    /// The frame proposing/echoing id `index`.
    pub(crate) fn frame(&self, index: usize) -> Bytes {
        match self.0.spans.get(index) {
            Some(&(s, _, e)) => self.0.wire.slice(s..e),
            None => Bytes::new(),
        }
    }

    /// `header ‖ frame(id0)`: a dialer's first write, in one buffer.
    pub(crate) fn header_and_first(&self) -> Bytes {
        match self.0.spans.first() {
            Some(&(_, _, e)) => self.0.wire.slice(..e),
            None => Bytes::from_static(HEADER_FRAME),
        }
    }

    /// The complete `ls` response frame.
    pub(crate) fn ls_response(&self) -> Bytes {
        self.0.ls_response.clone()
    }
}

impl fmt::Debug for ProtocolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.ids.iter()).finish()
    }
}

impl PartialEq for ProtocolSet {
    fn eq(&self, other: &Self) -> bool {
        self.0.ids == other.0.ids
    }
}
impl Eq for ProtocolSet {}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
    const MESHSUB_11: ProtocolId = ProtocolId::from_static("/meshsub/1.1.0");

    #[test]
    fn validation() {
        assert_eq!(ProtocolId::new(""), Err(ProtocolIdError::Empty));
        assert_eq!(
            ProtocolId::new("a"),
            Err(ProtocolIdError::MissingLeadingSlash)
        );
        assert_eq!(
            ProtocolId::new("/a\nb"),
            Err(ProtocolIdError::ContainsNewline)
        );
        assert_eq!(
            ProtocolId::new("/multistream/1.0.0"),
            Err(ProtocolIdError::Reserved)
        );
        assert!(ProtocolId::new("/multistream/1.0.1").is_ok());
        let long = format!("/{}", "a".repeat(MAX_PROTOCOL_ID_LEN));
        assert!(matches!(
            ProtocolId::new(&long),
            Err(ProtocolIdError::TooLong { .. })
        ));
        let max = format!("/{}", "a".repeat(MAX_PROTOCOL_ID_LEN - 1));
        assert!(ProtocolId::new(&max).is_ok());
        assert_eq!(
            ProtocolId::try_from_static("x"),
            Err(ProtocolIdError::MissingLeadingSlash)
        );
        assert_eq!(ProtocolId::try_from("/x".to_string()).unwrap(), "/x");
    }

    #[test]
    fn static_and_shared_compare_equal() {
        let shared: ProtocolId = "/ipfs/ping/1.0.0".parse().unwrap();
        assert_eq!(shared, PING);
        assert_eq!(PING.to_string(), "/ipfs/ping/1.0.0");
        assert_eq!(format!("{PING:?}"), "\"/ipfs/ping/1.0.0\"");
        let mut set = std::collections::HashSet::new();
        set.insert(shared);
        assert!(set.contains("/ipfs/ping/1.0.0"));
    }

    #[test]
    fn set_frames_match_the_spec_vectors() {
        let set = ProtocolSet::new([PING, MESHSUB_11]).unwrap();
        assert_eq!(&set.frame(0)[..], b"\x11/ipfs/ping/1.0.0\n");
        assert_eq!(&set.frame(1)[..], b"\x0f/meshsub/1.1.0\n");
        assert_eq!(
            &set.header_and_first()[..],
            b"\x13/multistream/1.0.0\n\x11/ipfs/ping/1.0.0\n"
        );
        assert_eq!(
            &set.ls_response()[..],
            b"\x23\x11/ipfs/ping/1.0.0\n\x0f/meshsub/1.1.0\n\n"
        );
        assert_eq!(set.position_of_line(b"/meshsub/1.1.0\n"), Some(1));
        assert_eq!(set.position_of_line(b"/meshsub/1.1.0"), None);
        assert_eq!(set.position_of_line(b"/MESHSUB/1.1.0\n"), None);
        assert_eq!(set.position("/ipfs/ping/1.0.0"), Some(0));
        assert_eq!(
            format!("{set:?}"),
            "[\"/ipfs/ping/1.0.0\", \"/meshsub/1.1.0\"]"
        );
    }

    #[test]
    fn set_rejects_duplicates_and_oversize() {
        assert_eq!(
            ProtocolSet::new([PING, MESHSUB_11, PING]),
            Err(ProtocolSetError::Duplicate(PING))
        );
        let big: Vec<ProtocolId> = (0..2)
            .map(|i| ProtocolId::new(&format!("/{i}{}", "x".repeat(9000))).unwrap())
            .collect();
        assert!(matches!(
            ProtocolSet::new(big),
            Err(ProtocolSetError::ListResponseTooLarge { .. })
        ));
        let many = (0..=ProtocolSet::MAX_LEN).map(|i| ProtocolId::new(&format!("/{i}")).unwrap());
        assert!(matches!(
            ProtocolSet::new(many),
            Err(ProtocolSetError::TooMany { .. })
        ));
        let empty = ProtocolSet::new([]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(&empty.ls_response()[..], b"\x01\n");
    }

    #[test]
    fn lean_protocol_frames() {
        let status = ProtocolId::from_static("/leanconsensus/req/status/1/ssz_snappy");
        let by_root = ProtocolId::from_static("/leanconsensus/req/blocks_by_root/1/ssz_snappy");
        let by_range = ProtocolId::from_static("/leanconsensus/req/blocks_by_range/1/ssz_snappy");
        let set = ProtocolSet::new([status, by_root, by_range]).unwrap();
        assert_eq!(set.frame(0)[0], 0x27);
        assert_eq!(set.frame(1)[0], 0x2f);
        assert_eq!(set.frame(1).len(), 48);
        assert_eq!(set.frame(2)[0], 0x30);
    }
}
