//! A node's block store: blocks by root and by slot, the head, and the chain check.
//! It holds at most one block per scheduled slot (bounded by the run's slot count); a
//! second block claiming a taken slot is kept by root but not by slot.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use leanp2p_reqresp::lean::Root;

use super::payload::{self, Kind};

/// The root of "no block" (genesis parent).
pub(crate) const ZERO_ROOT: Root = [0u8; 32];

/// A stored block.
#[derive(Clone, Debug)]
pub(crate) struct StoredBlock {
    pub slot: u64,
    pub parent: Root,
    pub data: Bytes,
}

/// What [`BlockStore::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// New block.
    Added { root: Root, slot: u64, parent: Root },
    /// Already stored.
    Known,
    /// Not a workload block.
    Invalid,
}

/// Blocks by root and by slot.
#[derive(Debug, Default)]
pub(crate) struct BlockStore {
    by_root: BTreeMap<Root, StoredBlock>,
    by_slot: BTreeMap<u64, Root>,
}

impl BlockStore {
    /// Stores a block (the uncompressed message bytes).
    pub(crate) fn insert(&mut self, data: Bytes) -> Insert {
        let Some(header) = payload::parse(&data) else {
            return Insert::Invalid;
        };
        if header.key.kind != Kind::Block || header.key.slot == 0 {
            return Insert::Invalid;
        }
        let root = payload::root_of(&data);
        if self.by_root.contains_key(&root) {
            return Insert::Known;
        }
        let slot = header.key.slot;
        self.by_slot.entry(slot).or_insert(root);
        self.by_root.insert(
            root,
            StoredBlock {
                slot,
                parent: header.root,
                data,
            },
        );
        Insert::Added {
            root,
            slot,
            parent: header.root,
        }
    }

    pub(crate) fn contains(&self, root: &Root) -> bool {
        self.by_root.contains_key(root)
    }

    pub(crate) fn get(&self, root: &Root) -> Option<&StoredBlock> {
        self.by_root.get(root)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_root.len()
    }

    /// The block of the highest slot: `(root, slot)`, or `(ZERO_ROOT, 0)` when empty.
    pub(crate) fn head(&self) -> (Root, u64) {
        self.by_slot
            .iter()
            .next_back()
            .map_or((ZERO_ROOT, 0), |(slot, root)| (*root, *slot))
    }

    /// Blocks of slots `start..start + count`, in slot order.
    pub(crate) fn range(&self, start: u64, count: u64) -> impl Iterator<Item = &StoredBlock> {
        let end = start.saturating_add(count);
        self.by_slot
            .range(start..end)
            .filter_map(|(_, root)| self.by_root.get(root))
            .filter(move |block| block.slot >= start && block.slot < end)
    }

    /// The first missing ancestor walking back from the head (`None`: the chain down
    /// to genesis is complete).
    pub(crate) fn missing_ancestor(&self) -> Option<Root> {
        let (mut root, _) = self.head();
        // Each step goes to a strictly lower slot, so this ends.
        while root != ZERO_ROOT {
            let block = self.by_root.get(&root)?;
            if block.parent != ZERO_ROOT && !self.by_root.contains_key(&block.parent) {
                return Some(block.parent);
            }
            root = block.parent;
        }
        None
    }

    /// Every root.
    pub(crate) fn roots(&self) -> BTreeSet<Root> {
        self.by_root.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::workload::payload::{build, root_of, MsgKey};

    fn block(slot: u64, parent: &Root) -> Bytes {
        Bytes::from(build(
            1,
            MsgKey::new(slot, Kind::Block, 0),
            slot,
            parent,
            100,
        ))
    }

    #[test]
    fn head_range_and_missing_ancestors() {
        let mut store = BlockStore::default();
        assert_eq!(store.head(), (ZERO_ROOT, 0));
        assert_eq!(store.missing_ancestor(), None);
        let b1 = block(1, &ZERO_ROOT);
        let b2 = block(2, &root_of(&b1));
        let b3 = block(3, &root_of(&b2));
        assert!(matches!(
            store.insert(b3.clone()),
            Insert::Added { slot: 3, .. }
        ));
        assert_eq!(store.head(), (root_of(&b3), 3));
        assert_eq!(store.missing_ancestor(), Some(root_of(&b2)));
        store.insert(b1.clone());
        assert_eq!(store.missing_ancestor(), Some(root_of(&b2)));
        store.insert(b2.clone());
        assert_eq!(store.missing_ancestor(), None);
        assert_eq!(store.insert(b2), Insert::Known);
        let slots: Vec<u64> = store.range(2, 5).map(|b| b.slot).collect();
        assert_eq!(slots, vec![2, 3]);
        let attestation = build(1, MsgKey::new(1, Kind::Attestation, 0), 1, &ZERO_ROOT, 100);
        assert_eq!(store.insert(Bytes::from(attestation)), Insert::Invalid);
        assert_eq!(store.len(), 3);
    }
}
