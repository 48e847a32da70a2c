//! The event log's writer runs ahead of the request workers where the
//! system permits it (src/events/priority.rs), and no other thread moves.

use support::*;

use crate::process::{serve, write_config};

/// Each thread of process `pid`: its name (cut to 15 bytes) and nice value.
fn threads(pid: u32) -> Vec<(String, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // The fields after the name, which may hold spaces: nice is the 19th field.
            let after_name = &stat[stat.rfind(')')? + 2..];
            let nice = after_name.split(' ').nth(19 - 3)?.parse().ok()?;
            Some((name.trim_end().to_string(), nice))
        })
        .collect()
}

/// Whether this process, and so the gateway it starts, may take nice -5
/// (tried on a thread of its own, which then ends).
fn permitted() -> bool {
    std::thread::spawn(|| {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), -5).is_ok()
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn the_event_log_s_writer_runs_ahead_of_the_request_workers_where_permitted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("hookgate.db");
    let text = format!(
        "{}\n[store]\npath = {:?}\n",
        chatwoot_config("http://127.0.0.1:9/hook", ""),
        store.display().to_string()
    );
    let (gateway, _addr) = serve(&write_config(&dir, &text));
    let pid = gateway.id();
    let started_with = threads(pid)
        .into_iter()
        .find(|(name, _)| name == "hookgate")
        .expect("the main thread")
        .1;
    let log_nice = if permitted() { -5 } else { started_with };
    if log_nice == started_with {
        eprintln!("nice -5 is not permitted here: only checks that no thread moves");
    }

    // Names are cut to 15 bytes: the writer's reads `hookgate-event-`. Only
    // the writer is raised; its checkpointer stays. The request workers may
    // start after the `listening` line.
    let nice_of = |threads: &[(String, i32)], name: &str| {
        threads
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, nice)| *nice)
    };
    eventually(
        "the log's writer at its priority, a worker started",
        || async {
            let threads = threads(pid);
            let worker = threads.iter().any(|(name, _)| name == "hookgate-worker");
            worker
                && nice_of(&threads, "hookgate-event-") == Some(log_nice)
                && nice_of(&threads, "hookgate-log-ck") == Some(started_with)
        },
    )
    .await;
    let moved: Vec<_> = (threads(pid).into_iter())
        .filter(|(name, nice)| name != "hookgate-event-" && *nice != started_with)
        .collect();
    assert!(moved.is_empty(), "only the log's writer moves: {moved:?}");
}
