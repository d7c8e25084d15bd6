//! One devnet node's thread: the reactor runs on this thread (`Reactor::run`, the
//! callback form, so the driver reacts to an event — validate, respond — in the same
//! wakeup), sliced at the driver's deadlines; between slices the driver publishes. At
//! the end (or on a stop), known peers are dropped and connections closed gracefully.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leanp2p_mio::{IoStats, Reactor};

use super::discovery::{NodeDiscovery, Outcome};
use super::progress::LiveBoard;
use crate::commands::workload::NodeDriver;

/// Longest slice of the loop between live-board updates.
const LIVE_INTERVAL: Duration = Duration::from_millis(200);
/// Connections and discovery are measured until this long before the end of the run:
/// at the very end other nodes are already closing theirs.
const MEASURE_MARGIN: Duration = Duration::from_secs(1);
/// Longest wait for the graceful close of our connections.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What a node thread shares with the others.
pub(super) struct NodeThread {
    pub start: Instant,
    pub end: Instant,
    pub stop: Arc<AtomicBool>,
    pub board: Arc<Mutex<LiveBoard>>,
}

impl NodeThread {
    /// Runs the node until the end of the run or a stop; gives the driver, the
    /// reactor's I/O counters and the node's connections / discovery outcome back.
    pub(super) fn run(
        self,
        mut reactor: Reactor,
        mut driver: NodeDriver,
        mut discovery: Option<NodeDiscovery>,
    ) -> (NodeDriver, IoStats, Outcome) {
        let start = self.start;
        let mut outcome = None;
        loop {
            let now = Instant::now();
            let t = now.saturating_duration_since(start);
            if driver.poll_timeout().is_some_and(|at| at <= t) {
                // Commands made here are drained at the start of the next `run`.
                driver.handle_timeout(reactor.node_mut(), now, t);
            }
            if driver.stats().started_at.is_some() {
                if let Some(d) = discovery.as_mut() {
                    d.on_started(&mut reactor, now);
                }
            }
            if self.stop.load(Ordering::Relaxed) || now >= self.end {
                break;
            }
            if outcome.is_none() || now + MEASURE_MARGIN < self.end {
                outcome = Some(Outcome::measure(&reactor, discovery.as_ref()));
            }
            let until = driver
                .poll_timeout()
                .map_or(self.end, |at| start + at)
                .min(self.end)
                .min(now + LIVE_INTERVAL);
            let result = reactor.run(Some(until), |node, now, event| {
                driver.handle_event(node, now, now.saturating_duration_since(start), event);
                ControlFlow::Continue(())
            });
            let t = Instant::now().saturating_duration_since(start);
            driver.sample(reactor.node(), t, false);
            self.publish_live(&mut driver);
            if let Err(e) = result {
                tracing::error!(node = driver.index(), %e, "reactor failed");
                break;
            }
        }
        let t = Instant::now().saturating_duration_since(start);
        driver.sample(reactor.node(), t, true);
        let outcome = outcome.unwrap_or_else(|| Outcome::measure(&reactor, discovery.as_ref()));
        self.close(&mut reactor, &mut driver);
        (driver, reactor.io_stats(), outcome)
    }

    fn publish_live(&self, driver: &mut NodeDriver) {
        let fresh = driver.take_fresh_latencies();
        let mut board = self
            .board
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        board.update(
            driver.index(),
            driver.delivered(),
            driver.peer_count(),
            fresh,
        );
    }

    /// Stops redialling, closes every connection and runs until they are gone (at most
    /// [`CLOSE_GRACE`]), so peers see a CONNECTION_CLOSE rather than a timeout.
    fn close(&self, reactor: &mut Reactor, driver: &mut NodeDriver) {
        let now = Instant::now();
        let node = reactor.node_mut();
        let known: Vec<_> = node.known_peers().map(|(peer, _)| *peer).collect();
        for peer in &known {
            node.remove_known_peer(peer);
        }
        let peers: Vec<_> = node.connected_peers().copied().collect();
        for peer in &peers {
            if let Err(e) = node.disconnect(now, peer) {
                tracing::debug!(%peer, %e, "disconnect");
            }
        }
        let start = self.start;
        let result = reactor.run(Some(now + CLOSE_GRACE), |node, now, event| {
            driver.handle_event(node, now, now.saturating_duration_since(start), event);
            if node.connected_peers().next().is_none() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Err(e) = result {
            tracing::debug!(%e, "reactor during close");
        }
    }
}
