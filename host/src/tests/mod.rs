//! Two-node scenario tests on the in-memory [`harness::Net`].

mod app;
mod conn_manager;
mod gossip;
mod harness;
mod limits;
mod peer_target;
mod reqresp;
mod routing;
