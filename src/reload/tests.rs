//! One reload at a time, on a real file: what is refused, what is read once.

use std::path::Path;

use super::*;

const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n";
const ROUTE: &str = "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
                     [routes.hook.signature]\nscheme = \"none\"\n";

/// A reloader of a file holding `text`, which the gateway serves.
fn serving(dir: &Path, text: &str) -> Reloader {
    let path = dir.join("routes.toml");
    std::fs::write(&path, text).unwrap();
    let config = config::from_text(text, &path, &Vars::default()).unwrap();
    let live = Arc::new(Live::new(config));
    Reloader::new(path, Vars::default(), live, Box::new(|_| Ok(())))
}

/// Every `hookgate_config_reloads_total` line.
fn reloads(reloader: &Reloader) -> Vec<String> {
    let metrics = reloader.live.metrics().render();
    (metrics.lines())
        .filter(|line| line.starts_with("hookgate_config_reloads_total"))
        .map(str::to_string)
        .collect()
}

fn routes(reloader: &Reloader) -> usize {
    reloader.live.peek().config.routes.len()
}

#[test]
fn a_reload_that_would_remove_every_route_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reloader = serving(dir.path(), &format!("{SERVER}{ROUTE}"));

    std::fs::write(&reloader.path, SERVER).unwrap();
    let refused = reloader.reload(false);

    assert!(
        matches!(&refused, Err(ConfigError::Invalid { problems, .. })
            if problems[0].message.contains("allow_no_routes")),
        "{refused:?}"
    );
    assert_eq!(routes(&reloader), 1);
}

#[test]
fn a_reload_removes_every_route_when_the_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let reloader = serving(dir.path(), &format!("{SERVER}{ROUTE}"));

    let on_purpose = format!("{SERVER}allow_no_routes = true\n");
    std::fs::write(&reloader.path, on_purpose).unwrap();
    let applied = reloader.reload(false);

    assert!(
        matches!(applied, Ok(Outcome::Applied { .. })),
        "{applied:?}"
    );
    assert_eq!(routes(&reloader), 0);
}

#[test]
fn a_file_that_is_not_utf8_is_unreadable_once_then_unchanged_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let reloader = serving(dir.path(), &format!("{SERVER}{ROUTE}"));
    std::fs::write(&reloader.path, b"[server]\n# \xff\n").unwrap();

    let first = reloader.reload(false);
    let again = reloader.reload(false);
    std::fs::write(&reloader.path, b"[server]\n# \xfe\n").unwrap();
    let changed = reloader.reload(false);

    assert!(matches!(first, Err(ConfigError::Read { .. })), "{first:?}");
    assert!(matches!(again, Ok(Outcome::Unchanged)), "{again:?}");
    assert!(
        matches!(changed, Err(ConfigError::Read { .. })),
        "{changed:?}"
    );
}

#[test]
fn an_event_that_finds_the_file_as_last_read_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{SERVER}{ROUTE}");
    let reloader = serving(dir.path(), &text);
    std::fs::write(&reloader.path, format!("{text}# edited\n")).unwrap();
    reloader.reload_and_log(false);
    let before = reloads(&reloader);

    reloader.follow();

    assert_eq!(reloads(&reloader), before, "no reload was counted");
}

#[test]
fn a_changed_telemetry_table_is_kept_as_started_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let reloader = serving(dir.path(), &format!("{SERVER}{ROUTE}"));

    let traced = "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n";
    std::fs::write(&reloader.path, format!("{SERVER}{ROUTE}{traced}")).unwrap();
    let applied = reloader.reload(false);

    assert!(
        matches!(applied, Ok(Outcome::Applied { .. })),
        "{applied:?}"
    );
    let telemetry = reloader.live.peek().config.telemetry.clone();
    assert_eq!(telemetry, config::TelemetrySettings::default());
}
