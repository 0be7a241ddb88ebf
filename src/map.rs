//! `get_map()`'s read-only view.

use crate::fd_map::FdMap;
use crate::selector::Slot;
use crate::source::{Fileno, RawSource};
use crate::SelectorKey;
use std::fmt;

/// A read-only view of a selector's registrations, keyed by fd (Python's `get_map()`).
///
/// Iteration yields fds in no particular order.
/// The borrow checker makes the view read-only and keeps it from outliving a change.
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::{DefaultSelector, EVENT_READ};
/// use std::os::unix::io::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let mut sel = DefaultSelector::new()?;
/// let (rd, _wr) = UnixStream::pair()?;
/// sel.register(&rd, EVENT_READ, "data")?;
/// let map = sel.get_map()?;
/// assert_eq!(map.len(), 1);
/// assert!(map.contains(&rd));
/// assert_eq!(map.get(rd.as_raw_fd()).map(|key| key.data), Some("data"));
/// assert_eq!(map.keys().collect::<Vec<_>>(), [rd.as_raw_fd()]);
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SelectorMap<'a, T> {
    keys: &'a FdMap<Slot<T>>,
}

impl<'a, T> SelectorMap<'a, T> {
    pub(crate) fn new(keys: &'a FdMap<Slot<T>>) -> Self {
        SelectorMap { keys }
    }

    /// The number of registrations.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    /// The key of a source (given as a source or by number), if registered.
    pub fn get(&self, fileobj: impl Fileno) -> Option<&'a SelectorKey<T>> {
        self.keys.get(fileobj.fileno()).map(|slot| &slot.key)
    }

    /// Whether a source (given as a source or by number) is registered.
    pub fn contains(&self, fileobj: impl Fileno) -> bool {
        self.get(fileobj).is_some()
    }

    /// The registered fds.
    pub fn keys(&self) -> impl Iterator<Item = RawSource> + 'a {
        self.keys.iter().map(|(fd, _)| fd)
    }

    /// The keys of all registrations.
    pub fn values(&self) -> impl Iterator<Item = &'a SelectorKey<T>> + 'a {
        self.keys.iter().map(|(_, slot)| &slot.key)
    }

    /// `(fd, key)` for every registration.
    pub fn iter(&self) -> impl Iterator<Item = (RawSource, &'a SelectorKey<T>)> + 'a {
        self.keys.iter().map(|(fd, slot)| (fd, &slot.key))
    }
}

impl<T> Clone for SelectorMap<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SelectorMap<'_, T> {}

impl<T: fmt::Debug> fmt::Debug for SelectorMap<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
