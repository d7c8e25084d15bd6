//! The `ssz_snappy` request-response codec of the rust-libp2p side, written as
//! rust-libp2p clients (ethlambda, Lighthouse) write theirs, on `snap`'s frame encoder and
//! decoder.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response as rr;
use libp2p::StreamProtocol;

/// One response chunk on the wire: result code and SSZ payload.
pub type Chunk = (u8, Vec<u8>);

/// The `ssz_snappy` request-response codec as rust-libp2p clients write it: request =
/// `uvarint(len) ‖ snappy frames`, response = chunks of `code ‖ uvarint(len) ‖ frames`,
/// each read exactly up to its declared length.
#[derive(Clone, Copy, Debug, Default)]
pub struct SszSnappy;

/// Most bytes one request or response may take on the wire.
const MAX_WIRE: u64 = 32 << 20;
/// Largest payload the codec accepts (lean `MAX_PAYLOAD_SIZE`).
const MAX_PAYLOAD: usize = 10 << 20;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn write_uvarint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_uvarint(input: &mut &[u8]) -> io::Result<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = input
            .split_first()
            .ok_or_else(|| invalid("truncated length prefix"))?;
        *input = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(invalid("length prefix too long"))
}

fn write_payload(ssz: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Write;
    write_uvarint(ssz.len() as u64, out);
    let mut encoder = snap::write::FrameEncoder::new(Vec::new());
    encoder.write_all(ssz)?;
    out.extend_from_slice(&encoder.into_inner().map_err(|e| invalid(e.error()))?);
    Ok(())
}

/// Reads `uvarint ‖ frames`, stopping exactly at the declared length.
fn read_payload(input: &mut &[u8]) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let len = usize::try_from(read_uvarint(input)?).map_err(invalid)?;
    if len > MAX_PAYLOAD {
        return Err(invalid(format!("declared length {len} over {MAX_PAYLOAD}")));
    }
    let mut out = vec![0u8; len];
    if len > 0 {
        snap::read::FrameDecoder::new(&mut *input).read_exact(&mut out)?;
    }
    Ok(out)
}

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut wire = Vec::new();
    io.take(MAX_WIRE).read_to_end(&mut wire).await?;
    Ok(wire)
}

impl rr::Codec for SszSnappy {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<Chunk>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let wire = read_all(io).await?;
        let mut input = &wire[..];
        let body = read_payload(&mut input)?;
        if !input.is_empty() {
            return Err(invalid("trailing bytes after the request"));
        }
        Ok(body)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<Chunk>> {
        let wire = read_all(io).await?;
        let mut input = &wire[..];
        let mut chunks = Vec::new();
        while let Some((&code, rest)) = input.split_first() {
            input = rest;
            chunks.push((code, read_payload(&mut input)?));
        }
        Ok(chunks)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        let mut wire = Vec::new();
        write_payload(&request, &mut wire)?;
        io.write_all(&wire).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<Chunk>,
    ) -> io::Result<()> {
        let mut wire = Vec::new();
        for (code, payload) in response {
            wire.push(code);
            write_payload(&payload, &mut wire)?;
        }
        io.write_all(&wire).await
    }
}
