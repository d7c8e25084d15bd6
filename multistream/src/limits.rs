//! Limits on what a peer can make a [`Negotiation`](crate::Negotiation) buffer or do, and the
//! per-stream [`Config`].

use crate::codec::{HEADER_PAYLOAD, MAX_FRAME_LEN};
use crate::error::ConfigError;

/// Bounds on untrusted input during one negotiation.
///
/// Every byte a negotiation holds on to is covered by one of these:
///
/// * the partial-frame input buffer is at most [`max_line_len`](Self::max_line_len) bytes
///   (plus at most 2 length-prefix bytes kept in a counter);
/// * the output queue holds at most one answer per received message, and the listener
///   answers at most [`max_attempts`](Self::max_attempts) times before failing, so even
///   if the host never drained it, it stays below header + echo + `max_attempts` × the
///   set's `ls` response (itself at most 16383 bytes; a few hundred for real sets);
/// * a received `ls` response is rejected once it has more than
///   [`max_ls_entries`](Self::max_ls_entries) entries.
///
/// Application bytes that arrive after the final negotiation frame are not buffered: they
/// are handed back as [`Negotiated::leftover`](crate::Negotiated::leftover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message payload in bytes (the length-prefixed part, including the
    /// trailing `\n`). A larger length prefix fails the negotiation before any payload
    /// byte is buffered.
    ///
    /// Default: **1024**. Protocol ids in our network are under 64 bytes and the header
    /// is 19 bytes, so 1024 leaves plenty of room for foreign ids while keeping a
    /// per-stream buffer small. Must lie in `19..=16383`: 19 is the header's payload,
    /// 16383 the largest payload a 2-byte length prefix (the most rust-libp2p accepts)
    /// can express.
    pub max_line_len: usize,
    /// Most `na` (or `ls`) answers a listener gives before it fails the negotiation with
    /// [`NegotiationError::TooManyAttempts`](crate::NegotiationError::TooManyAttempts); also
    /// the most candidates a dialer may offer.
    ///
    /// Default: **16** (gossipsub offers at most 4 versions; nothing in our network needs more).
    pub max_attempts: usize,
    /// Most entries accepted in a received `ls` response before it is treated as an invalid
    /// message. We never send `ls`, so such a response is always unexpected; the limit only
    /// bounds the work of classifying it.
    ///
    /// Default: **128** (rust-libp2p caps at 1000; a 1024-byte line holds at most 341).
    pub max_ls_entries: usize,
}

impl Limits {
    /// Smallest allowed [`max_line_len`](Self::max_line_len): the header payload
    /// `/multistream/1.0.0\n` must fit.
    pub const MIN_LINE_LEN: usize = HEADER_PAYLOAD.len();
    /// Largest allowed [`max_line_len`](Self::max_line_len): what a 2-byte uvarint can say.
    pub const MAX_LINE_LEN: usize = MAX_FRAME_LEN;

    /// Checks that every limit is in its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(Self::MIN_LINE_LEN..=Self::MAX_LINE_LEN).contains(&self.max_line_len) {
            return Err(ConfigError::LineLimitOutOfRange {
                value: self.max_line_len,
                min: Self::MIN_LINE_LEN,
                max: Self::MAX_LINE_LEN,
            });
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_len: 1024,
            max_attempts: 16,
            max_ls_entries: 128,
        }
    }
}

/// How a dialer settles on its protocol. Listeners treat both identically (they must accept
/// either from a peer; the wire format is the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    /// Plain multistream-select 1.0: the dialer waits for the listener's echo before the
    /// application may write.
    #[default]
    V1,
    /// rust-libp2p's optimistic variant: when proposing its **last** (for a single-protocol
    /// offer: its only) candidate, the dialer settles on it at once, so the application may
    /// append its first bytes to the same write as the header and proposal (0-RTT).
    /// The echo is checked later; an `na` then fails with
    /// [`NegotiationError::LazyRejected`](crate::NegotiationError::LazyRejected).
    V1Lazy,
}

/// Per-stream negotiation settings; build one per node and share it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Input limits, see [`Limits`].
    pub limits: Limits,
    /// Dialer mode (ignored by listeners). Default [`Version::V1`].
    pub version: Version,
}

impl Config {
    /// Checks the limits; see [`Limits::validate`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Limits::MIN_LINE_LEN, 19);
        assert_eq!(Limits::MAX_LINE_LEN, 16383);
    }

    #[test]
    fn out_of_range_limits_are_rejected() {
        let short = Limits {
            max_line_len: 18,
            ..Limits::default()
        };
        assert!(matches!(
            short.validate(),
            Err(ConfigError::LineLimitOutOfRange { value: 18, .. })
        ));
        let long = Limits {
            max_line_len: 16384,
            ..Limits::default()
        };
        assert!(long.validate().is_err());
        let zero = Limits {
            max_attempts: 0,
            ..Limits::default()
        };
        assert_eq!(zero.validate(), Err(ConfigError::ZeroAttempts));
    }
}
