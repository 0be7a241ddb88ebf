//! A map from descriptor number to value, tuned for the `select()` hot path.
//!
//! A hash map, so memory follows the number of entries and not the largest descriptor
//! (servers raise `RLIMIT_NOFILE` into the millions, and one registration at fd 5,000,000
//! must not cost a 5,000,000-slot table). Descriptors are integers that need no
//! protection against collision attacks, so the hash is one multiplication (Fibonacci
//! hashing) instead of SipHash: a lookup costs a few nanoseconds.

use crate::source::RawSource;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug)]
pub(crate) struct FdMap<V> {
    map: HashMap<RawSource, V, BuildHasherDefault<FdHasher>>,
}

impl<V> FdMap<V> {
    pub(crate) fn new() -> Self {
        FdMap {
            map: HashMap::default(),
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

    /// Stores `value` for `fd`, replacing any value it had.
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
        let value = self.map.remove(&fd);
        // Give memory back once the map is mostly empty, so a burst of registrations does
        // not pin its peak for the selector's whole life.
        if self.map.capacity() > 64 && self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to(self.map.len() * 2);
        }
        value
    }

    pub(crate) fn clear(&mut self) {
        self.map = HashMap::default();
    }

    /// Entries in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RawSource, &V)> + '_ {
        self.map.iter().map(|(fd, value)| (*fd, value))
    }
}

/// Fibonacci hashing of a descriptor number: one multiplication, which spreads consecutive
/// numbers over the whole table.
#[derive(Default)]
pub(crate) struct FdHasher(u64);

impl Hasher for FdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for key types this map does not use; kept correct all the same.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.0 = u64::from(n as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
