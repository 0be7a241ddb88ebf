//! `SelectorKey`: what the registry remembers about one registration.

use crate::source::RawSource;
use crate::Events;

/// One registration, as Python's `selectors.SelectorKey` (without `fileobj`: the selector
/// borrows sources, it never owns them, so the key names the source by its number).
///
/// Keys handed out by [`select`](crate::Selector::select) are snapshots: changing or
/// unregistering the source afterwards does not change a key you already hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectorKey<T> {
    /// The registered descriptor: a `RawFd` on Unix, a `RawSocket` on Windows.
    pub fd: RawSource,
    /// The events the source is registered for.
    pub events: Events,
    /// The data given at registration (or by the last `modify`).
    pub data: T,
}
