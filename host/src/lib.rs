//! leanp2p host: under construction in this session.
