//! A map from descriptor number to value, tuned for the `select()` hot path and for memory
//! that follows the number of entries, not the largest descriptor.
//!
//! Descriptors are small dense integers, so numbers below [`PAGED`] live in pages of 64
//! slots, allocated when the first number of a page is stored and freed with its last one:
//! a lookup is two indexed loads, with no hashing (libuv's watcher array, paged). Larger
//! numbers (servers raise `RLIMIT_NOFILE` into the millions; Windows socket handles are
//! arbitrary) go to a hash map whose hash is one multiplication. One entry at any number
//! costs at most a page directory (2 KiB) and one page.

use crate::source::RawSource;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Numbers below this are stored in pages.
const PAGED: usize = 1 << 14;
/// Slots per page.
const PAGE: usize = 64;

#[derive(Debug)]
pub(crate) struct FdMap<V> {
    /// Page `i` holds the numbers `i * PAGE ..`; the directory grows to the highest page used.
    pages: Vec<Entry<V>>,
    /// Numbers from `PAGED` up (and, on Windows, any that do not fit the pages).
    large: HashMap<RawSource, V, BuildHasherDefault<FdHasher>>,
    len: usize,
    /// The page freed last, kept for the next one needed: a registration that comes and goes
    /// alone in its page (a short-lived connection) allocates nothing.
    spare: Option<Box<Page<V>>>,
}

type Page<V> = [Option<V>; PAGE];

/// A page of the directory, with how many of its slots are used.
#[derive(Debug)]
struct Entry<V> {
    page: Option<Box<Page<V>>>,
    used: u8,
}

fn new_page<V>() -> Box<Page<V>> {
    // Built on the heap, not on the stack: `V` may be large.
    let slots: Box<[Option<V>]> = (0..PAGE).map(|_| None).collect();
    match slots.try_into() {
        Ok(page) => page,
        Err(_) => unreachable!("PAGE slots were collected"),
    }
}

/// Where `fd` lives: `Some((page, slot))` if it is paged.
#[inline(always)]
fn paged(fd: RawSource) -> Option<(usize, usize)> {
    let index = usize::try_from(fd).ok().filter(|&index| index < PAGED)?;
    Some((index / PAGE, index % PAGE))
}

impl<V> FdMap<V> {
    pub(crate) fn new() -> Self {
        FdMap {
            pages: Vec::new(),
            large: HashMap::default(),
            len: 0,
            spare: None,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn get(&self, fd: RawSource) -> Option<&V> {
        match paged(fd) {
            Some((page, slot)) => self.pages.get(page)?.page.as_ref()?[slot].as_ref(),
            None => self.large.get(&fd),
        }
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, fd: RawSource) -> Option<&mut V> {
        match paged(fd) {
            Some((page, slot)) => self.pages.get_mut(page)?.page.as_mut()?[slot].as_mut(),
            None => self.large.get_mut(&fd),
        }
    }

    /// Stores `value` for `fd`, replacing any value it had.
    pub(crate) fn insert(&mut self, fd: RawSource, value: V) -> &mut V {
        let Some((page, slot)) = paged(fd) else {
            let len = &mut self.len;
            return match self.large.entry(fd) {
                std::collections::hash_map::Entry::Vacant(entry) => {
                    *len += 1;
                    entry.insert(value)
                }
                std::collections::hash_map::Entry::Occupied(entry) => {
                    let stored = entry.into_mut();
                    *stored = value;
                    stored
                }
            };
        };
        if page >= self.pages.len() {
            self.pages.resize_with(page + 1, || Entry {
                page: None,
                used: 0,
            });
        }
        let entry = &mut self.pages[page];
        let spare = &mut self.spare;
        let page = entry
            .page
            .get_or_insert_with(|| spare.take().unwrap_or_else(new_page));
        let stored = &mut page[slot];
        if stored.is_none() {
            self.len += 1;
            entry.used += 1;
        }
        stored.insert(value)
    }

    pub(crate) fn remove(&mut self, fd: RawSource) -> Option<V> {
        let value = match paged(fd) {
            Some((index, slot)) => {
                let entry = self.pages.get_mut(index)?;
                let value = entry.page.as_mut()?[slot].take()?;
                entry.used -= 1;
                if entry.used == 0 {
                    self.spare = entry.page.take();
                    while self.pages.last().is_some_and(|entry| entry.used == 0) {
                        self.pages.pop();
                    }
                    // Some slack, so that a map that empties and fills again (one
                    // connection at a time) does not reallocate its directory each time.
                    if self.pages.capacity() > 16 && self.pages.len() < self.pages.capacity() / 4 {
                        self.pages.shrink_to(self.pages.len() * 2);
                    }
                }
                value
            }
            None => {
                let value = self.large.remove(&fd)?;
                // Give memory back once the map is mostly empty, so a burst of large
                // numbers does not pin its peak for the selector's whole life.
                if self.large.capacity() > 64 && self.large.len() < self.large.capacity() / 4 {
                    self.large.shrink_to(self.large.len() * 2);
                }
                value
            }
        };
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn clear(&mut self) {
        *self = FdMap::new();
    }

    /// Entries: the paged ones in ascending order, then the others in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RawSource, &V)> + '_ {
        let paged = self.pages.iter().enumerate().flat_map(|(index, entry)| {
            entry.page.iter().flat_map(move |page| {
                page.iter().enumerate().filter_map(move |(slot, value)| {
                    Some(((index * PAGE + slot) as RawSource, value.as_ref()?))
                })
            })
        });
        paged.chain(self.large.iter().map(|(fd, value)| (*fd, value)))
    }
}

/// Fibonacci hashing of a descriptor number: one multiplication, which spreads consecutive
/// numbers over the whole table. Descriptors need no protection against collision attacks.
#[derive(Default)]
pub(crate) struct FdHasher(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for FdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for key types this map does not use; kept correct all the same.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(GOLDEN);
        }
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.0 = u64::from(n as u32).wrapping_mul(GOLDEN);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(GOLDEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_and_large_numbers_round_trip() {
        let mut map = FdMap::new();
        let numbers: [RawSource; 6] = [0, 63, 64, 1000, PAGED as RawSource - 1, PAGED as RawSource];
        for (i, &fd) in numbers.iter().enumerate() {
            map.insert(fd, i);
        }
        assert_eq!(map.len(), numbers.len());
        for (i, &fd) in numbers.iter().enumerate() {
            assert_eq!(map.get(fd), Some(&i));
        }
        let mut seen: Vec<RawSource> = map.iter().map(|(fd, _)| fd).collect();
        seen.sort_unstable();
        assert_eq!(seen, numbers);
        // Replacing keeps the count.
        map.insert(64, 99);
        assert_eq!(map.len(), numbers.len());
        assert_eq!(map.remove(64), Some(99));
        assert_eq!(map.remove(64), None);
        assert_eq!(map.get(64), None);
        for &fd in &numbers {
            map.remove(fd);
        }
        assert_eq!(map.len(), 0);
        assert!(map.pages.is_empty(), "empty pages are freed");
        assert!(map.spare.is_some(), "the last one is kept for the next");
    }
}
