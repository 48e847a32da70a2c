//! Hot reload and hot rollback: the running gateway follows edits of its file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::*;

/// Waits until the config generation reaches `generation`, and fails the
/// test if that took more than 1 s.
async fn wait_for_generation(app: &TestApp, generation: u64) {
    let started = Instant::now();
    eventually(format!("config generation {generation}"), || async {
        app.config_generation().await >= generation
    })
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "generation {generation} reached only after {took:?}"
    );
}

/// `hookgate_config_reloads_total{result="<result>"}`, 0 before the first.
async fn reloads(app: &TestApp, result: &str) -> u64 {
    let metrics = app.get_text("/metrics").await;
    let prefix = format!("hookgate_config_reloads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.parse().unwrap())
}

/// Waits until the gateway has counted one more reload with `result` than
/// `before`: proof that it has read the file since.
async fn wait_for_reload(app: &TestApp, result: &str, before: u64) {
    eventually(format!("a reload counted as {result}"), || async {
        reloads(app, result).await > before
    })
    .await;
}

fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn write_in_place(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn unlink_and_recreate(path: &Path, text: &str) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Kubernetes ConfigMap style: the file is a symlink into a `..data` link
/// that is atomically swapped to a new directory.
fn swap_symlinked_directory(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    let version = dir.join(format!(
        "..v{}",
        std::process::id() as u128 + Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&version).unwrap();
    std::fs::write(version.join("routes.toml"), text).unwrap();
    let next = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&next);
    std::os::unix::fs::symlink(&version, &next).unwrap();
    std::fs::rename(&next, dir.join("..data")).unwrap();
    if std::fs::symlink_metadata(path)
        .map(|m| !m.file_type().is_symlink())
        .unwrap_or(true)
    {
        let _ = std::fs::remove_file(path);
        std::os::unix::fs::symlink(dir.join("..data/routes.toml"), path).unwrap();
    }
}

/// One way of writing the config file.
type Writer = fn(&Path, &str);

async fn post_event(app: &TestApp) -> u16 {
    app.post_event().await.status().as_u16()
}

#[tokio::test]
async fn every_way_of_writing_the_file_is_picked_up_within_a_second() {
    let writers: [(&str, Writer); 4] = [
        ("rename", write_by_rename),
        ("in place", write_in_place),
        ("unlink and recreate", unlink_and_recreate),
        ("symlink swap", swap_symlinked_directory),
    ];
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let app = spawn_app(&config).await;
    for (generation, (how, write)) in (2..).zip(writers) {
        let enabled = generation % 2 == 1;
        write(
            &app.config_path,
            &chatwoot_config(&downstream.url("/hook"), &format!("enabled = {enabled}")),
        );
        wait_for_generation(&app, generation).await;
        let expected = if enabled { 200 } else { 503 };
        assert_eq!(post_event(&app).await, expected, "after writing by {how}");
    }
    app.stop().await;
}

#[tokio::test]
async fn disabling_a_route_rolls_it_back_and_enabling_restores_it() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    assert_eq!(post_event(&app).await, 200);

    write_by_rename(
        &app.config_path,
        &chatwoot_config(&downstream.url("/hook"), "enabled = false"),
    );
    wait_for_generation(&app, 2).await;
    assert_eq!(post_event(&app).await, 503);
    assert_eq!(downstream.received().len(), 1);

    write_by_rename(
        &app.config_path,
        &chatwoot_config(&downstream.url("/hook"), "enabled = true"),
    );
    wait_for_generation(&app, 3).await;
    assert_eq!(post_event(&app).await, 200);
    assert_eq!(downstream.received().len(), 2);
}

#[tokio::test]
async fn a_changed_downstream_receives_the_next_requests() {
    let (blue, green) = (Downstream::start().await, Downstream::start().await);
    let app = spawn_app(&chatwoot_config(&blue.url("/hook"), "")).await;

    write_by_rename(&app.config_path, &chatwoot_config(&green.url("/hook"), ""));
    wait_for_generation(&app, 2).await;
    assert_eq!(post_event(&app).await, 200);

    assert_eq!((blue.received().len(), green.received().len()), (0, 1));
}

#[tokio::test]
async fn a_broken_edit_is_refused_and_the_last_good_config_keeps_serving() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let refused = reloads(&app, "refused").await;
    let unreadable = reloads(&app, "unreadable").await;

    write_by_rename(&app.config_path, "[routes.chatwoot\nthis is not toml");
    wait_for_reload(&app, "refused", refused).await;
    assert_eq!(post_event(&app).await, 200);

    std::fs::remove_file(&app.config_path).unwrap();
    wait_for_reload(&app, "unreadable", unreadable).await;
    assert_eq!(post_event(&app).await, 200);

    write_by_rename(
        &app.config_path,
        &chatwoot_config(&downstream.url("/hook"), "enabled = false"),
    );
    wait_for_generation(&app, 2).await;
    assert_eq!(post_event(&app).await, 503);
}

#[tokio::test]
async fn a_file_emptied_by_a_writer_is_refused_rather_than_serving_no_route() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let refused = reloads(&app, "refused").await;

    // What `cat new > routes.toml` leaves between truncating and writing.
    std::fs::write(&app.config_path, "").unwrap();
    wait_for_reload(&app, "refused", refused).await;

    assert_eq!(post_event(&app).await, 200);
    assert_eq!(app.config_generation().await, 1);
}

/// Several clients post while the file is rewritten dozens of times, broken
/// versions included: no connection error, every answer is one a valid
/// version gives (200 enabled, 503 disabled), never one of a broken version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_storm_under_load_drops_nothing_and_never_applies_a_bad_version() {
    let downstream = Downstream::start().await;
    let app = Arc::new(spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    answers.push(post_event(&app).await);
                }
                answers
            })
        })
        .collect();

    let valid =
        |enabled: bool| chatwoot_config(&downstream.url("/hook"), &format!("enabled = {enabled}"));
    let broken = chatwoot_config("ftp://broken", "");
    let wrong_path = valid(true).replace(CHATWOOT_PATH, "/elsewhere");
    for round in 0..40 {
        let text = match round % 4 {
            0 => valid(false),
            1 => broken.clone(),
            2 => valid(true),
            _ => format!("{wrong_path}\n[[[ broken"),
        };
        write_by_rename(&app.config_path, &text);
        // The storm's pace, the subject of the test: a write every 25 ms,
        // faster than the watcher's 100 ms debounce.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = valid(true);
    write_by_rename(&app.config_path, &last);
    let last_hash = hookgate::config::content_hash(&last);
    eventually("the last valid version is served", || async {
        app.get_json("/healthz").await["config_hash"] == last_hash.as_str()
    })
    .await;
    stop.store(true, Ordering::SeqCst);

    let mut total = 0;
    for client in clients {
        let answers = client.await.expect("no client saw a connection error");
        assert!(
            answers.iter().all(|s| *s == 200 || *s == 503),
            "{answers:?}"
        );
        total += answers.len();
    }
    assert!(total > 40, "the clients kept posting: {total}");
    assert_eq!(
        post_event(&app).await,
        200,
        "alive, on the last valid version"
    );
    let app = Arc::into_inner(app).expect("the clients have ended");
    app.stop().await;
}

#[tokio::test]
async fn a_busy_file_beside_the_config_does_not_reload_it() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let app = spawn_app(&config).await;
    let before = reloads(&app, "unchanged").await;
    let log = app.config_path.with_file_name("access.log");
    for line in 0..30 {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        std::io::Write::write_all(&mut file, format!("request {line}\n").as_bytes()).unwrap();
        // A busy file, the subject of the test: a line every 10 ms, over
        // several of the watcher's 100 ms debounce periods.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An edit of the config after the log's: once it is served, the watcher
    // has handled every event of the log before it.
    write_by_rename(&app.config_path, &format!("{config}# edited\n"));
    wait_for_generation(&app, 2).await;
    assert_eq!(reloads(&app, "unchanged").await, before);
    // The watcher still follows the config itself.
    write_in_place(&app.config_path, &format!("{config}# edited\n"));
    wait_for_reload(&app, "unchanged", before).await;
    assert!(reloads(&app, "unchanged").await > before);
}

/// The chatwoot route and an unsigned route `other` at `/other`.
fn two_routes(downstream: &Downstream, extra_chatwoot_keys: &str) -> String {
    format!(
        "{}\n[routes.other]\npath = \"/other\"\ndownstream = \"{}\"\n\n\
         [routes.other.signature]\nscheme = \"none\"\n",
        chatwoot_config(&downstream.url("/hook"), extra_chatwoot_keys),
        downstream.url("/other")
    )
}

/// Rewrites `path` in place in two steps, `text` up to `split` then the
/// rest after `pause`, as a generator that flushes as it goes. On a thread
/// of its own, so that the pause is what it says.
async fn write_in_two_steps(path: &Path, text: &str, split: usize, pause: Duration) {
    let path = path.to_path_buf();
    let (head, rest) = text.split_at(split);
    let (head, rest) = (head.to_string(), rest.to_string());
    let writing = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut file, head.as_bytes()).unwrap();
        std::thread::sleep(pause);
        std::io::Write::write_all(&mut file, rest.as_bytes()).unwrap();
    });
    writing.await.unwrap();
}

/// Posts to `path` of `app` until `stop`; every status answered.
fn poll_route(
    app: Arc<TestApp>,
    path: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    tokio::spawn(async move {
        let mut statuses = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let status = match path {
                CHATWOOT_PATH => app.post_event().await.status(),
                _ => app.post(path, &[], b"{}").await.status(),
            };
            statuses.push(status.as_u16());
        }
        statuses
    })
}

/// Waits until the gateway serves exactly `text`.
async fn wait_until_served(app: &TestApp, text: &str) {
    let hash = hookgate::config::content_hash(text);
    eventually("the new version is served", || async {
        app.get_json("/healthz").await["config_hash"] == hash.as_str()
    })
    .await;
}

#[tokio::test]
async fn a_writer_pausing_after_the_server_table_never_makes_a_route_404() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let app = Arc::new(spawn_app(&config).await);
    let refused = reloads(&app, "refused").await;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll_route(app.clone(), CHATWOOT_PATH, stop.clone());
    let edited = config.replace("timeout = \"2s\"", "timeout = \"3s\"");

    // `[server]` first, then the routes: the pause, the subject of the test,
    // outlasts the watcher's wait for a file to settle (200 ms), so the half
    // is read: a valid file without a route.
    let split = edited.find("[routes.").unwrap();
    write_in_two_steps(&app.config_path, &edited, split, Duration::from_millis(500)).await;
    wait_until_served(&app, &edited).await;
    stop.store(true, Ordering::SeqCst);

    let statuses = poller.await.unwrap();
    let not_found = statuses.iter().filter(|s| **s == 404).count();
    assert_eq!(
        not_found,
        0,
        "{not_found} of {} answers were 404",
        statuses.len()
    );
    assert!(
        reloads(&app, "refused").await > refused,
        "the half without a route was read, and refused"
    );
}

#[tokio::test]
async fn a_file_is_read_only_once_its_writer_has_stopped_writing() {
    let downstream = Downstream::start().await;
    let app = Arc::new(spawn_app(&two_routes(&downstream, "")).await);
    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll_route(app.clone(), "/other", stop.clone());
    let edited = two_routes(&downstream, "max_in_flight = 100");

    // The first route, then the second after a pause (the subject of the
    // test) longer than the watcher's debounce (100 ms) and shorter than
    // its wait for a file to settle (200 ms).
    let split = edited.find("[routes.other]").unwrap();
    write_in_two_steps(&app.config_path, &edited, split, Duration::from_millis(120)).await;
    wait_until_served(&app, &edited).await;
    stop.store(true, Ordering::SeqCst);

    let statuses = poller.await.unwrap();
    let not_found = statuses.iter().filter(|s| **s == 404).count();
    assert_eq!(
        not_found,
        0,
        "{not_found} of {} answers were 404",
        statuses.len()
    );
    assert_eq!(
        app.config_generation().await,
        2,
        "only the whole file was applied"
    );
}

#[tokio::test]
async fn after_a_write_the_watcher_does_not_keep_reading_the_file() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), "");
    let app = spawn_app(&config).await;
    let edited = format!("{config}# edited\n");
    write_in_place(&app.config_path, &edited);
    wait_for_generation(&app, 2).await;
    let unchanged = reloads(&app, "unchanged").await;

    // Five of the watcher's debounce periods, the subject of the test: the
    // old watcher took its own read of the file for a change and read it
    // again, about 10 times a second, forever.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The same content written again: once it is counted, the watcher has
    // handled every event before it.
    write_in_place(&app.config_path, &edited);
    wait_for_reload(&app, "unchanged", unchanged).await;

    assert_eq!(reloads(&app, "unchanged").await, unchanged + 1);
}
