//! Fast formatting of trace records (see [`super::Sim::trace_hash`]).
//!
//! Records are formatted straight into the trace hasher, no string is built. Gossip message
//! payloads are most of the bytes a run formats, and `bytes`' own `Debug` writes them one
//! `write!` per byte; [`EscapedBytes`] writes the same text a few KiB at a time, so a
//! [`NodeEvent::Message`] record hashes exactly what `format!("{event:?}")` would give,
//! at a small fraction of the cost (the `message_record_matches_debug` test holds the
//! two equal).

use std::fmt;

use leanp2p_host::NodeEvent;

/// Formats a [`NodeEvent`] exactly as its derived `Debug` does, with the payload of a
/// [`NodeEvent::Message`] written by [`EscapedBytes`].
pub(super) struct EventRecord<'a>(pub(super) &'a NodeEvent);

impl fmt::Debug for EventRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            NodeEvent::Message {
                id,
                propagation_source,
                topic,
                data,
            } => f
                .debug_struct("Message")
                .field("id", id)
                .field("propagation_source", propagation_source)
                .field("topic", topic)
                .field("data", &EscapedBytes(data))
                .finish(),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

/// `bytes::Bytes`' `Debug` text (`b"…"` with `\n`, `\r`, `\t`, `\\`, `\"`, `\0`,
/// printable ASCII as is, `\xNN` for the rest), written in chunks.
struct EscapedBytes<'a>(&'a [u8]);

/// Bytes of escaped text gathered before one `write_str`.
const ESCAPE_CHUNK: usize = 4096;

impl fmt::Debug for EscapedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut chunk = [0u8; ESCAPE_CHUNK];
        let mut len = 0;
        f.write_str("b\"")?;
        for &b in self.0 {
            // At most four bytes per input byte: flush while there is room for them.
            if len + 4 > ESCAPE_CHUNK {
                write_ascii(f, &chunk[..len])?;
                len = 0;
            }
            let escaped: &[u8] = match b {
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                b'\\' => b"\\\\",
                b'"' => b"\\\"",
                b'\0' => b"\\0",
                0x20..=0x7e => {
                    chunk[len] = b;
                    len += 1;
                    continue;
                }
                _ => &[
                    b'\\',
                    b'x',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ],
            };
            chunk[len..len + escaped.len()].copy_from_slice(escaped);
            len += escaped.len();
        }
        write_ascii(f, &chunk[..len])?;
        f.write_str("\"")
    }
}

/// Writes escaped text (ASCII by construction).
fn write_ascii(f: &mut fmt::Formatter<'_>, text: &[u8]) -> fmt::Result {
    f.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use leanp2p_host::{MessageId, TopicHash};
    use leanp2p_identity::Keypair;

    fn message(data: Vec<u8>) -> NodeEvent {
        NodeEvent::Message {
            id: MessageId::new(&[0, 1, 0xab, 0xff]),
            propagation_source: Keypair::from_secret_bytes(&[7; 32])
                .expect("valid key")
                .peer_id(),
            topic: TopicHash::new("/leanconsensus/devnet0/block/ssz_snappy"),
            data: Bytes::from(data),
        }
    }

    #[test]
    fn message_record_matches_debug() {
        // Every byte value, a long payload crossing chunk boundaries, and the empty one.
        let every: Vec<u8> = (0..=255u8).collect();
        let long: Vec<u8> = (0..3 * ESCAPE_CHUNK + 17)
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        let escapes = b"\\\"\n\r\t\0\x7f\x80 ~".repeat(ESCAPE_CHUNK / 5);
        for data in [every, long, escapes, Vec::new()] {
            let event = message(data);
            assert_eq!(format!("{:?}", EventRecord(&event)), format!("{event:?}"));
        }
    }

    #[test]
    fn other_events_use_their_debug() {
        let event = NodeEvent::PublishReady;
        assert_eq!(format!("{:?}", EventRecord(&event)), format!("{event:?}"));
    }
}
