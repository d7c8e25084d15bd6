//! leanp2p quic: under construction in this session.
