//! leanp2p reqresp: under construction in this session.
