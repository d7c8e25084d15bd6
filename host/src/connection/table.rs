//! The node's table of connections, which remembers which connections changed.

use std::collections::btree_map;
use std::collections::{BTreeMap, BTreeSet};

use leanp2p_quic::{ConnId, StreamId};

use super::{Connection, Stream};

/// Established connections by id. Every mutable borrow ([`Connections::get_mut`]) and
/// every insert or removal marks the connection as changed; the node re-evaluates the
/// changed connections only (idleness, next deadline) when it settles after a pump.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    map: BTreeMap<ConnId, Connection>,
    changed: BTreeSet<ConnId>,
}

impl Connections {
    /// A connection, read-only.
    pub(crate) fn get(&self, id: &ConnId) -> Option<&Connection> {
        self.map.get(id)
    }

    /// A connection to change (marked as changed).
    pub(crate) fn get_mut(&mut self, id: &ConnId) -> Option<&mut Connection> {
        let c = self.map.get_mut(id)?;
        self.changed.insert(*id);
        Some(c)
    }

    /// A stream of a connection, read-only.
    pub(crate) fn stream(&self, conn: &ConnId, stream: StreamId) -> Option<&Stream> {
        self.map.get(conn)?.stream(stream)
    }

    /// A stream of a connection to change (marks both: see
    /// [`Connection::stream_mut`]).
    pub(crate) fn stream_mut(&mut self, conn: &ConnId, stream: StreamId) -> Option<&mut Stream> {
        let c = self.map.get_mut(conn)?;
        self.changed.insert(*conn);
        c.stream_mut(stream)
    }

    /// Whether `id` is established.
    pub(crate) fn contains_key(&self, id: &ConnId) -> bool {
        self.map.contains_key(id)
    }

    /// Adds a connection.
    pub(crate) fn insert(&mut self, id: ConnId, conn: Connection) {
        self.changed.insert(id);
        self.map.insert(id, conn);
    }

    /// Removes a connection.
    pub(crate) fn remove(&mut self, id: &ConnId) -> Option<Connection> {
        self.changed.insert(*id);
        self.map.remove(id)
    }

    /// Marks a connection as changed (something the node knows about it changed).
    pub(crate) fn mark(&mut self, id: ConnId) {
        self.changed.insert(id);
    }

    /// Takes the set of changed connections.
    pub(crate) fn take_changed(&mut self) -> BTreeSet<ConnId> {
        std::mem::take(&mut self.changed)
    }

    /// A connection to change without marking it (for the settle pass itself).
    pub(crate) fn get_mut_unmarked(&mut self, id: &ConnId) -> Option<&mut Connection> {
        self.map.get_mut(id)
    }

    /// Number of connections.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Connections, read-only, in id order.
    pub(crate) fn values(&self) -> btree_map::Values<'_, ConnId, Connection> {
        self.map.values()
    }

    /// Connections with their ids, read-only, in id order.
    pub(crate) fn iter(&self) -> btree_map::Iter<'_, ConnId, Connection> {
        self.map.iter()
    }

    /// Connection ids in order (debug checks).
    #[cfg(debug_assertions)]
    pub(crate) fn keys(&self) -> btree_map::Keys<'_, ConnId, Connection> {
        self.map.keys()
    }

    /// Every connection, mutably, without marking (debug checks).
    #[cfg(debug_assertions)]
    pub(crate) fn values_mut_unmarked(&mut self) -> btree_map::ValuesMut<'_, ConnId, Connection> {
        self.map.values_mut()
    }
}
