//! `--metrics-addr HOST:PORT`: Prometheus text exposition at `GET /metrics`, served by
//! one thread with blocking std sockets (one short request at a time). The node's
//! [`leanp2p_host::Stats`] are read on the reactor's thread through the handle.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use leanp2p_host::Stats;
use leanp2p_mio::ReactorHandle;

/// Largest request head read; longer requests are answered 400.
const MAX_REQUEST: usize = 8 * 1024;
/// Read / write timeout per scrape connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `addr` (so a bad address fails at start, exit 2) and serves it on a thread.
pub(crate) fn start(addr: SocketAddr, handle: ReactorHandle) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Err(e) = serve(stream, &handle) {
                    tracing::debug!(%e, "metrics request");
                }
                // The reactor is gone once the handle is closed: stop serving.
                if handle.run(|_, _| ()).is_err() {
                    break;
                }
            }
        })?;
    Ok(local)
}

fn serve(mut stream: TcpStream, handle: &ReactorHandle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return respond(&mut stream, "400 Bad Request", "");
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !(head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?")) {
        return respond(&mut stream, "404 Not Found", "");
    }
    let (tx, rx) = mpsc::channel();
    let asked = handle.run(move |node, _| {
        let _ = tx.send(node.stats());
    });
    match asked.ok().and_then(|()| rx.recv_timeout(IO_TIMEOUT).ok()) {
        Some(stats) => respond(&mut stream, "200 OK", &render(&stats)),
        None => respond(&mut stream, "503 Service Unavailable", ""),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The Prometheus text of the node stats (the leanMetrics `lean_*` series we have).
pub(crate) fn render(stats: &Stats) -> String {
    let mut out = String::new();
    let c = &stats.counters;
    let _ = writeln!(out, "# TYPE lean_connected_peers gauge");
    let _ = writeln!(out, "lean_connected_peers {}", stats.connected_peers);
    let _ = writeln!(out, "# TYPE lean_peer_connection_events_total counter");
    for (direction, result, n) in [
        ("inbound", "success", c.connections_inbound),
        ("outbound", "success", c.connections_outbound),
        ("outbound", "failure", c.dials_failed),
    ] {
        let _ = writeln!(
            out,
            "lean_peer_connection_events_total{{direction=\"{direction}\",result=\"{result}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# TYPE lean_peer_disconnection_events_total counter");
    for ((direction, reason), n) in &c.disconnections {
        let _ = writeln!(
            out,
            "lean_peer_disconnection_events_total{{direction=\"{direction}\",reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# TYPE lean_gossip_mesh_peers gauge");
    for (topic, n) in &stats.mesh_peers {
        let topic = topic.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(out, "lean_gossip_mesh_peers{{topic=\"{topic}\"}} {n}");
    }
    for (name, n) in [
        ("leanp2p_gossip_frames_sent_total", c.gossip_frames_sent),
        ("leanp2p_gossip_bytes_sent_total", c.gossip_bytes_sent),
        (
            "leanp2p_gossip_frames_received_total",
            c.gossip_frames_received,
        ),
        (
            "leanp2p_gossip_bytes_received_total",
            c.gossip_bytes_received,
        ),
        (
            "leanp2p_gossip_frames_dropped_total",
            c.gossip_frames_dropped,
        ),
        ("leanp2p_reqresp_bytes_sent_total", c.reqresp_bytes_sent),
        (
            "leanp2p_reqresp_bytes_received_total",
            c.reqresp_bytes_received,
        ),
        ("leanp2p_datagrams_sent_total", c.datagrams_sent),
        ("leanp2p_bytes_sent_total", c.bytes_sent),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {n}");
    }
    out
}
