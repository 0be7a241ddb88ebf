//! A map from descriptor number to value, tuned for the `select()` hot path.
//!
//! Unix descriptors are small dense integers, so the map is a vector indexed by fd: a
//! lookup is one bounds check, with no hashing (the same trick as libuv's watcher array).
//! Windows sockets are opaque handle values, so there it is a `HashMap`.

use crate::source::RawSource;

#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct FdMap<V> {
    slots: Vec<Option<V>>,
    len: usize,
}

#[cfg(unix)]
impl<V> FdMap<V> {
    pub(crate) fn new() -> Self {
        FdMap {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, fd: RawSource) -> Option<&V> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, fd: RawSource) -> Option<&mut V> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// Stores `value` for a non-negative `fd` that has no value yet.
    pub(crate) fn insert(&mut self, fd: RawSource, value: V) -> &mut V {
        let index = usize::try_from(fd).expect("FdMap::insert takes validated, non-negative fds");
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        debug_assert!(self.slots[index].is_none());
        self.len += 1;
        self.slots[index].insert(value)
    }

    pub(crate) fn remove(&mut self, fd: RawSource) -> Option<V> {
        let value = self.slots.get_mut(usize::try_from(fd).ok()?)?.take();
        if value.is_some() {
            self.len -= 1;
        }
        value
    }

    pub(crate) fn clear(&mut self) {
        self.slots = Vec::new();
        self.len = 0;
    }

    /// Entries in ascending fd order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RawSource, &V)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, slot)| Some((fd as RawSource, slot.as_ref()?)))
    }
}

#[cfg(windows)]
#[derive(Debug)]
pub(crate) struct FdMap<V> {
    map: std::collections::HashMap<RawSource, V>,
}

#[cfg(windows)]
impl<V> FdMap<V> {
    pub(crate) fn new() -> Self {
        FdMap {
            map: std::collections::HashMap::new(),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    pub(crate) fn get(&self, fd: RawSource) -> Option<&V> {
        self.map.get(&fd)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, fd: RawSource) -> Option<&mut V> {
        self.map.get_mut(&fd)
    }

    pub(crate) fn insert(&mut self, fd: RawSource, value: V) -> &mut V {
        match self.map.entry(fd) {
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(value),
            std::collections::hash_map::Entry::Occupied(entry) => {
                let slot = entry.into_mut();
                *slot = value;
                slot
            }
        }
    }

    pub(crate) fn remove(&mut self, fd: RawSource) -> Option<V> {
        self.map.remove(&fd)
    }

    pub(crate) fn clear(&mut self) {
        self.map = std::collections::HashMap::new();
    }

    /// Entries in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RawSource, &V)> + '_ {
        self.map.iter().map(|(fd, value)| (*fd, value))
    }
}
