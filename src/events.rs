//! The readiness mask: Python's `EVENT_READ` / `EVENT_WRITE`.

bitflags::bitflags! {
    /// A set of I/O events: what a registration waits for, and what `select()` found ready.
    ///
    /// The only valid bits are [`EVENT_READ`] and [`EVENT_WRITE`]; combine them with `|`.
    /// A mask with other bits (built with [`Events::from_bits_retain`]) or an empty mask is
    /// refused by `register` and `modify` with [`std::io::ErrorKind::InvalidInput`].
    ///
    /// ```
    /// use ioselectors::{Events, EVENT_READ, EVENT_WRITE};
    ///
    /// let both = EVENT_READ | EVENT_WRITE;
    /// assert!(both.contains(EVENT_WRITE));
    /// assert_eq!(both.bits(), 3); // the same numbers as Python's selectors module
    /// assert_eq!(Events::from_bits(4), None);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Events: u32 {
        /// Available for read (Python's `selectors.EVENT_READ`, `1`).
        const READ = 1;
        /// Available for write (Python's `selectors.EVENT_WRITE`, `2`).
        const WRITE = 2;
    }
}

/// Available for read: Python's `selectors.EVENT_READ`.
pub const EVENT_READ: Events = Events::READ;

/// Available for write: Python's `selectors.EVENT_WRITE`.
pub const EVENT_WRITE: Events = Events::WRITE;

impl Events {
    /// Whether this mask is acceptable for `register`/`modify`: non-empty, no unknown bits.
    pub(crate) fn is_valid_interest(self) -> bool {
        !self.is_empty() && Events::all().contains(self)
    }
}
