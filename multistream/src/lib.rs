//! leanp2p multistream: under construction in this session.
