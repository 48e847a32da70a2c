//! The log's writer runs ahead of the request workers, where the system
//! allows it.
//!
//! At saturation the writer was one thread among the request workers (and,
//! in the benchmark, the load generator and the downstream stub) and got
//! no more than its share of a core. It fell behind in bursts; records then
//! waited up to the budget of [`super::budget`] and past it were dropped.
//! Its work per record is the same either way: a higher priority lets it do
//! that work as records arrive, so they do not pile up. (Bodies kept, 64
//! connections: RSS after the benchmark's sync runs 35.5 MiB against 46.8;
//! in runs that raised the checkpointer too, records waiting at most 7 to 8
//! MiB against 13 to 16, none dropped.)
//!
//! The checkpointer is not raised: its work is mostly I/O, and where the
//! I/O scheduler follows a thread's nice value its writes would go ahead of
//! the queue's fsyncs, which a queued request's `202` waits for.

use std::io;

/// The nice value of the log's writer: under Linux's scheduler, three times
/// the share of a core that a request worker at nice 0 gets (weights 3121
/// against 1024).
pub const NICE: i32 = -5;

/// Gives the calling thread [`NICE`] where it is permitted: as root, with
/// `CAP_SYS_NICE`, or with an `RLIMIT_NICE` of 25 or more (the systemd
/// unit's `LimitNICE=-5`). Elsewhere the thread keeps the priority it was
/// started with, and this answers false.
pub fn raise_this_thread() -> bool {
    set_this_thread(NICE).is_ok()
}

/// Sets the calling thread's nice value, and only that thread's: on Linux
/// `setpriority` given a thread id changes that thread alone.
fn set_this_thread(nice: i32) -> io::Result<()> {
    let id = rustix::thread::gettid();
    rustix::process::setpriority_process(Some(id), nice).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use rustix::process::getpriority_process;

    use super::*;

    #[test]
    fn a_thread_s_priority_changes_alone_not_the_thread_that_started_it() {
        let spawner = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        // A higher nice value (a lower priority) is always permitted.
        let wanted = (spawner + 5).min(19);

        let set = std::thread::spawn(move || {
            set_this_thread(wanted).unwrap();
            getpriority_process(Some(rustix::thread::gettid())).unwrap()
        });

        assert_eq!(set.join().unwrap(), wanted);
        let after = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, spawner, "the spawning thread keeps its priority");
    }
}
