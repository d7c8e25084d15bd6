//! leanp2p sim: under construction in this session.
