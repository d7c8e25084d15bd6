//! Two-node scenario tests on the in-memory [`harness::Net`].

mod gossip;
mod harness;
mod reqresp;
mod routing;
