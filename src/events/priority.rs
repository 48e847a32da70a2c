//! The log's own threads run ahead of the request workers, where the
//! system allows it.
//!
//! At saturation the writer was one thread among the request workers (and,
//! in the benchmark, the load generator and the downstream stub) and got
//! no more than its share of a core. It fell behind in bursts; records then
//! waited up to the budget of [`super::budget`] and past it were dropped.
//! Its work per record is the same either way: a higher priority lets it do
//! that work as records arrive, so they do not pile up. (Bodies kept, 64
//! connections, two runs each: peak RSS 36 and 37 MiB against 42 and 47,
//! records waiting at most 7 to 8 MiB against 13 to 16, none dropped;
//! throughput the same or higher.)

/// The nice value of the log's threads: under Linux's scheduler, three times
/// the share of a core that a request worker at nice 0 gets (weights 3121
/// against 1024).
pub const NICE: i32 = -5;

/// Gives the calling thread [`NICE`] where it is permitted: as root, with
/// `CAP_SYS_NICE`, or with an `RLIMIT_NICE` of 25 or more (the systemd
/// unit's `LimitNICE=-5`). Elsewhere the thread keeps the default priority.
pub fn raise_this_thread(thread: &str) {
    let id = rustix::thread::gettid();
    // On Linux a thread id names one thread: the others keep their priority.
    if let Err(error) = rustix::process::setpriority_process(Some(id), NICE) {
        tracing::debug!(%error, thread, "runs at the default priority");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use prometheus_client::metrics::counter::Counter;
    use rustix::process::{Pid, getpriority_process, setpriority_process};

    use super::*;

    /// The writer and the checkpointer: a thread's name is cut to 15 bytes.
    const NAME: &str = "hookgate-event-";

    /// The ids of this process's threads called [`NAME`].
    fn log_threads() -> HashSet<i32> {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().flatten();
        tasks
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|c| c.trim_end() == NAME)
            })
            .filter_map(|task| task.file_name().to_str()?.parse().ok())
            .collect()
    }

    fn nice(thread: i32) -> Option<i32> {
        getpriority_process(Pid::from_raw(thread)).ok()
    }

    /// Whether this process may give a thread [`NICE`] (tried on a thread of
    /// its own, which then ends).
    fn permitted() -> bool {
        std::thread::spawn(|| setpriority_process(Some(rustix::thread::gettid()), NICE).is_ok())
            .join()
            .unwrap()
    }

    #[test]
    fn the_log_s_writer_and_checkpointer_run_ahead_of_request_workers_where_permitted() {
        let dir = tempfile::tempdir().unwrap();
        let before = log_threads();
        let _log =
            super::super::EventLog::open(&dir.path().join("log.db"), Counter::default()).unwrap();
        let expected = if permitted() { NICE } else { 0 };

        // Other tests may start logs meanwhile: every new log thread is
        // checked, each once it has set its priority.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let new: Vec<(i32, Option<i32>)> = (log_threads().difference(&before))
                .map(|&thread| (thread, nice(thread)))
                .collect();
            let (ours, at_expected) = (new.len(), new.iter().filter(|(_, n)| *n == Some(expected)));
            if ours >= 2 && at_expected.count() == ours {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "log threads and their nice values: {new:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
