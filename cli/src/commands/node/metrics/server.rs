//! The `/metrics` endpoint on `tiny_http`: one thread takes requests one at a time,
//! asks the reactor for a [`leanp2p_host::Stats`] snapshot (bounded wait) and answers
//! with the OpenMetrics text. Any other path is 404, any other method 405.
//!
//! `tiny_http` reads request heads on a thread per open connection and hands us requests
//! through a channel; we never read a request body. It sets no read timeout and no limit
//! on the size of a request head, so the endpoint trusts its clients: bind it to
//! 127.0.0.1 or a monitoring network, never to the peer-to-peer interface (docs/CLI.md).
//! The listener is bound before the node starts, so a bad `--metrics-addr` fails at start
//! (exit 2).

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use leanp2p_mio::ReactorHandle;
use tiny_http::{Header, Method, Response, Server};

use super::Metrics;

/// Longest wait for the reactor's stats before answering 503.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);
/// The OpenMetrics text content type (Prometheus negotiates it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` and serves `metrics` on a thread; returns the bound address.
pub(crate) fn start(
    addr: SocketAddr,
    metrics: Metrics,
    handle: ReactorHandle,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let server = Server::from_listener(listener, None).map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                answer(request, &metrics, &handle);
                // The reactor is gone once its handle is closed: stop serving.
                if handle.run(|_, _| ()).is_err() {
                    break;
                }
            }
        })?;
    Ok(local)
}

fn answer(request: tiny_http::Request, metrics: &Metrics, handle: &ReactorHandle) {
    let path = request.url().split('?').next().unwrap_or("");
    let result = if path != "/metrics" {
        request.respond(Response::empty(404))
    } else if *request.method() != Method::Get && *request.method() != Method::Head {
        request.respond(Response::empty(405))
    } else {
        let (tx, rx) = mpsc::channel();
        let asked = handle.run(move |node, _| {
            let _ = tx.send(node.stats());
        });
        match asked
            .ok()
            .and_then(|()| rx.recv_timeout(STATS_TIMEOUT).ok())
        {
            Some(stats) => {
                let mut response = Response::from_string(metrics.render(stats));
                if let Ok(header) = Header::from_bytes("Content-Type", CONTENT_TYPE) {
                    response = response.with_header(header);
                }
                request.respond(response)
            }
            None => request.respond(Response::empty(503)),
        }
    };
    if let Err(e) = result {
        tracing::debug!(%e, "metrics response");
    }
}
