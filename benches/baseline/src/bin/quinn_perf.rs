//! `quinn-perf`: the bulk baseline. Plain `quinn` on tokio (rustls with ring, a
//! self-signed rcgen certificate), server and client in one process, one connection over
//! 127.0.0.1 UDP, K concurrent bidirectional streams, each running the libp2p perf
//! exchange: the client writes the download size as an 8-byte big-endian u64, uploads
//! its share, finishes; the server reads to the end, then sends the requested bytes back
//! and finishes. Prints one JSON object with the fields of `leanp2p perf`.
//!
//! ```text
//! quinn-perf --workload bulk --streams 8 --total-mib 256 [--direction upload]
//!            [--windows leanp2p|quinn] [--run-secs 120]
//! ```
//!
//! As `leanp2p perf`: `--total-mib` is moved in total, split evenly across the streams;
//! `--direction upload` (default) sends it client to server and asks for nothing back,
//! `download` has each stream ask the server for its share, `both` uploads and downloads
//! half each. `bytes` counts both directions. The timer starts once the connection is
//! established and stops when every stream has been read to its end on both sides.
//!
//! Transport: quinn's defaults, except (with `--windows leanp2p`, the default) the flow
//! control windows, raised to leanp2p's QUIC defaults so both stacks run with the same
//! windows: stream receive window 10 000 000 (quinn: 1 250 000), connection receive
//! window 15 000 000 (quinn: unlimited), send window 10 000 000 (quinn: 10 000 000),
//! 256 concurrent bidirectional streams (quinn: 100). `--windows quinn` keeps quinn's
//! values. quinn batches datagrams with GSO where the kernel has it, as `leanp2p perf`
//! does by default. Both UDP sockets ask for 8 MiB send and receive buffers as
//! leanp2p's reactor does (`--socket-buffer BYTES`; 0 keeps the OS default); the sizes
//! granted are reported as `sndbuf_bytes` / `rcvbuf_bytes`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use leanp2p_baseline::{result_json, round3, usage_error, Flags};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, TransportConfig, VarInt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Size of the shared chunk every write hands to quinn (a cheap `Bytes` clone).
const CHUNK: usize = 1024 * 1024;

struct Args {
    streams: u64,
    upload: u64,
    download: u64,
    leanp2p_windows: bool,
    socket_buffer: usize,
    run_secs: u64,
}

fn parse_args() -> Result<Args, String> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&[
        "workload",
        "streams",
        "total-mib",
        "direction",
        "windows",
        "socket-buffer",
        "run-secs",
    ])?;
    let workload = flags.get_str("workload", "bulk");
    if workload != "bulk" {
        return Err(format!("--workload {workload}: quinn-perf runs only bulk"));
    }
    let streams: u64 = flags.get("streams", 1)?;
    if streams == 0 || streams > 256 {
        return Err("--streams must be 1..=256".into());
    }
    let windows = flags.get_str("windows", "leanp2p");
    let leanp2p_windows = match windows.as_str() {
        "leanp2p" => true,
        "quinn" => false,
        other => return Err(format!("--windows {other}: expected leanp2p or quinn")),
    };
    let total = flags.get::<u64>("total-mib", 256)? * 1024 * 1024;
    let (upload, download) = match flags.get_str("direction", "upload").as_str() {
        "upload" => (total, 0),
        "download" => (0, total),
        "both" => (total / 2, total - total / 2),
        other => {
            return Err(format!(
                "--direction {other}: expected upload, download or both"
            ))
        }
    };
    Ok(Args {
        streams,
        upload,
        download,
        leanp2p_windows,
        socket_buffer: flags.get("socket-buffer", 8 << 20)?,
        run_secs: flags.get("run-secs", 120)?,
    })
}

fn transport(leanp2p_windows: bool) -> TransportConfig {
    let mut t = TransportConfig::default();
    if leanp2p_windows {
        t.stream_receive_window(VarInt::from_u32(10_000_000))
            .receive_window(VarInt::from_u32(15_000_000))
            .send_window(10_000_000)
            .max_concurrent_bidi_streams(VarInt::from_u32(256));
    }
    t
}

/// A UDP socket on 127.0.0.1 (any port) with `buffer`-byte send and receive buffers
/// requested (0: the OS default); also returns the sizes granted.
fn udp_socket(buffer: usize) -> anyhow::Result<(std::net::UdpSocket, (usize, usize))> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if buffer > 0 {
        socket.set_send_buffer_size(buffer)?;
        socket.set_recv_buffer_size(buffer)?;
    }
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    let granted = (socket.send_buffer_size()?, socket.recv_buffer_size()?);
    Ok((socket.into(), granted))
}

/// Server and client endpoints, and the socket buffer sizes granted to the client.
fn endpoints(
    leanp2p_windows: bool,
    socket_buffer: usize,
) -> anyhow::Result<(Endpoint, Endpoint, (usize, usize))> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert_der = CertificateDer::from(cert.cert);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));

    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)?;
    let mut server_config =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server_tls)?));
    server_config.transport_config(Arc::new(transport(leanp2p_windows)));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der)?;
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client_config =
        quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client_tls)?));
    client_config.transport_config(Arc::new(transport(leanp2p_windows)));

    let runtime = Arc::new(quinn::TokioRuntime);
    let (server_socket, _) = udp_socket(socket_buffer)?;
    let server = Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config),
        server_socket,
        runtime.clone(),
    )?;
    let (client_socket, granted) = udp_socket(socket_buffer)?;
    let mut client = Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        client_socket,
        runtime,
    )?;
    client.set_default_client_config(client_config);
    Ok((server, client, granted))
}

/// Reads `recv` to its end, counting bytes without copying them.
async fn drain(recv: &mut quinn::RecvStream) -> anyhow::Result<u64> {
    let mut n = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await? {
        n += chunk.bytes.len() as u64;
    }
    Ok(n)
}

/// Writes `len` bytes of `chunk` (repeated) to `send`.
async fn send_bytes(send: &mut quinn::SendStream, chunk: &Bytes, len: u64) -> anyhow::Result<()> {
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        send.write_chunk(chunk.slice(..n)).await?;
        left -= n as u64;
    }
    Ok(())
}

/// The server side of one perf stream; returns the bytes it received.
async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    chunk: Bytes,
) -> anyhow::Result<u64> {
    let mut header = [0u8; 8];
    recv.read_exact(&mut header).await?;
    let download = u64::from_be_bytes(header);
    let received = drain(&mut recv).await?;
    send_bytes(&mut send, &chunk, download).await?;
    send.finish()?;
    // Keep the stream until the client has everything (finish only queues the FIN).
    let _ = send.stopped().await;
    Ok(received)
}

/// Accepts one connection and serves its streams until the client closes it.
async fn server(endpoint: Endpoint, chunk: Bytes) -> anyhow::Result<u64> {
    let incoming = endpoint
        .accept()
        .await
        .ok_or_else(|| anyhow!("endpoint closed"))?;
    let conn = incoming.await?;
    let mut tasks = Vec::new();
    while let Ok((send, recv)) = conn.accept_bi().await {
        tasks.push(tokio::spawn(serve_stream(send, recv, chunk.clone())));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total)
}

/// The client side of one perf stream; returns the bytes it downloaded.
async fn client_stream(
    conn: Connection,
    chunk: Bytes,
    upload: u64,
    download: u64,
) -> anyhow::Result<u64> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&download.to_be_bytes()).await?;
    send_bytes(&mut send, &chunk, upload).await?;
    send.finish()?;
    let got = drain(&mut recv).await?;
    if got != download {
        return Err(anyhow!("downloaded {got} bytes, asked for {download}"));
    }
    Ok(got)
}

async fn run(args: Args) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let (server_ep, client_ep, (sndbuf, rcvbuf)) =
        endpoints(args.leanp2p_windows, args.socket_buffer)?;
    let chunk = Bytes::from(vec![0xa5u8; CHUNK]);
    let server_addr = server_ep.local_addr()?;
    let server_task = tokio::spawn(server(server_ep.clone(), chunk.clone()));

    let conn = client_ep
        .connect(server_addr, "localhost")?
        .await
        .context("handshake")?;
    let k = args.streams;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..k {
        // Spread the remainder over the first streams so the totals are exact.
        let share = |total: u64| total / k + u64::from(i < total % k);
        tasks.push(tokio::spawn(client_stream(
            conn.clone(),
            chunk.clone(),
            share(args.upload),
            share(args.download),
        )));
    }
    let mut downloaded = 0;
    for task in tasks {
        downloaded += task.await??;
    }
    let elapsed = start.elapsed();
    let stats = conn.stats();
    conn.close(VarInt::from_u32(0), b"done");
    let uploaded_seen = server_task.await??;
    if uploaded_seen != args.upload {
        return Err(anyhow!(
            "server read {uploaded_seen} bytes, client sent {}",
            args.upload
        ));
    }
    client_ep.wait_idle().await;

    let mut out = result_json("bulk", "quinn", args.upload + downloaded, None, elapsed);
    out.insert("streams".into(), k.into());
    out.insert(
        "windows".into(),
        if args.leanp2p_windows {
            "leanp2p"
        } else {
            "quinn"
        }
        .into(),
    );
    // Client side of the connection (the uploader).
    out.insert("datagrams_sent".into(), stats.udp_tx.datagrams.into());
    out.insert("send_calls".into(), stats.udp_tx.ios.into());
    out.insert("datagrams_received".into(), stats.udp_rx.datagrams.into());
    out.insert("lost_packets".into(), stats.path.lost_packets.into());
    out.insert(
        "congestion_events".into(),
        stats.path.congestion_events.into(),
    );
    out.insert(
        "rtt_ms".into(),
        round3(stats.path.rtt.as_secs_f64() * 1e3).into(),
    );
    out.insert("cwnd".into(), stats.path.cwnd.into());
    out.insert("mtu".into(), stats.path.current_mtu.into());
    out.insert("sndbuf_bytes".into(), sndbuf.into());
    out.insert("rcvbuf_bytes".into(), rcvbuf.into());
    Ok(out)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| usage_error(&e));
    let limit = Duration::from_secs(args.run_secs);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async { tokio::time::timeout(limit, run(args)).await });
    match result {
        Ok(Ok(out)) => {
            println!("{}", serde_json::Value::Object(out));
            std::process::exit(0);
        }
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("error: not done within --run-secs {}", limit.as_secs());
            std::process::exit(3);
        }
    }
}
