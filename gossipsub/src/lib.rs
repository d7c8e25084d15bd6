//! leanp2p gossipsub: under construction in this session.
