//! The machine's documented bounds as one check, for the fuzz targets and tests
//! (`cfg(any(test, feature = "fuzzing"))`): every queue, map and table is within its
//! [`Config`](super::Config) limit, and the request bookkeeping is consistent (no nonce or
//! handshake entry outlives its request, which would leak memory).

use super::lookup::{MAX_LOOKUP_CANDIDATES, MAX_LOOKUP_QUERIES};
use super::{Discv5, RequestState};
use crate::message::MAX_NODES_PER_MESSAGE;

impl Discv5 {
    /// `Err` naming the first bound or consistency rule that does not hold.
    pub(crate) fn check_bounds(&self) -> Result<(), String> {
        let c = &self.config;
        let within = |what: &str, len: usize, max: usize| {
            if len <= max {
                Ok(())
            } else {
                Err(format!("{what}: {len} > {max}"))
            }
        };
        within("sessions", self.sessions.len(), c.session_capacity.max(1))?;
        within("contacts", self.contacts.len(), c.contact_capacity.max(1))?;
        if self.contact_order.len() != self.contacts.len() {
            return Err(format!(
                "contact order {} != contacts {}",
                self.contact_order.len(),
                self.contacts.len()
            ));
        }
        within("active requests", self.active.len(), c.max_active_requests)?;
        within("challenges", self.challenges.len(), c.max_challenges)?;
        within(
            "WHOAREYOU budget IPs",
            self.whoareyou_budget.len(),
            c.whoareyou_tracked_ips,
        )?;
        within(
            "inbound TALKREQs",
            self.inbound_talk.len(),
            c.max_inbound_talk,
        )?;
        within("lookups", self.lookups.len(), c.max_lookups)?;
        within("PONG votes", self.votes.len(), c.pong_vote_capacity.max(1))?;
        within("transmits", self.transmits.len(), c.max_queued_transmits)?;
        within("events", self.events.len(), c.max_queued_events)?;
        within(
            "verified records",
            self.verified.len(),
            self.verified.capacity(),
        )?;
        for (nonce, id) in &self.nonces {
            let owner = self.active.get(id).map(|r| r.state);
            let carries = matches!(
                owner,
                Some(RequestState::AwaitingChallenge(n) | RequestState::Sent(n)) if n == *nonce
            );
            if !carries {
                return Err(format!(
                    "nonce of {id:?} outlived its request state {owner:?}"
                ));
            }
        }
        for (node, id) in &self.handshaking {
            if self.active.get(id).is_none_or(|r| r.node != *node) {
                return Err(format!(
                    "handshake entry {id:?} of {node} outlived its request"
                ));
            }
        }
        for (id, req) in &self.active {
            within(
                "records of one FINDNODE",
                req.found.len(),
                MAX_NODES_PER_MESSAGE,
            )
            .map_err(|e| format!("{id:?}: {e}"))?;
        }
        for lookup in self.lookups.values() {
            let (candidates, queried) = lookup.sizes();
            within("lookup candidates", candidates, MAX_LOOKUP_CANDIDATES)?;
            within("lookup queries", queried, MAX_LOOKUP_QUERIES)?;
        }
        self.table.check_bounds()
    }
}
