//! The conformance suite: every case of `common::cases`, against every selector type this
//! platform has (see `for_every_selector!`).

mod common;
use common::*;

/// One `#[test]` per case, each calling the case with the enclosing module's `new()`.
macro_rules! cases {
    ($($(#[$attr:meta])* $case:ident),* $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $case() {
                common::cases::$case(new())
            }
        )*
    };
}

macro_rules! suite {
    ($name:ident, $selector:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $selector {
                $new.expect("create selector")
            }

            cases!(
                register,
                invalid_fd,
                unregister,
                unregister_after_fd_close,
                unregister_after_fd_close_and_reuse,
                unregister_after_socket_close,
                modify,
                modify_data_only_makes_no_syscall,
                modify_refused_keeps_registration,
                modify_invalid_events_keeps_registration,
                close,
                get_key,
                get_map,
                select,
                select_read_write,
                selector,
                empty_select,
                timeout,
                empty_select_timeout,
                sub_millisecond_timeout,
                stale_registration_after_close,
                snapshot_and_callbacks,
                level_triggered,
                masked_by_interest,
                hangup_is_ready,
                all_ready_in_one_call,
                select_into_reuses_buffer,
                waker_unblocks_select,
                send_and_debug,
                failed_connect_is_writable,
                listener_accept_is_readable,
                udp_datagram_is_readable,
                unregister_keeps_the_rest,
                reregister_after_unregister,
                modify_cycles,
                half_close_is_readable_eof,
                closed_source_does_not_disturb_others,
                connect_success_is_writable,
                waker_interrupts_timed_select,
            );
        }
    };
}

for_every_selector!(suite);
