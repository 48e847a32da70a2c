//! The `[store]` table, validated: where queued events and dedupe keys live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::schema::{Backend, RawStore};
use super::validate::duration;
use super::{Problem, Vars};

/// The validated `[store]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The SQLite file; a relative path is relative to `$STATE_DIRECTORY`
    /// when systemd sets it, else to the working directory.
    pub path: PathBuf,
    /// Where dedupe keys and queued events live.
    pub backend: StoreBackend,
    /// On Redis: how long an event being delivered by an instance may go
    /// unacknowledged before another instance reclaims it.
    pub visibility_timeout: Duration,
    /// With `Embedded`: the most bytes the event log's file may use.
    pub log_max_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_STORE_PATH),
            backend: StoreBackend::Embedded,
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
        }
    }
}

/// Where dedupe keys and queued events live.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// In this process, and the SQLite file at `path`.
    Embedded,
    /// On Redis (dedupe keys, and queued events on Redis Streams), shared by
    /// every instance.
    Redis {
        /// `redis://` URL (may hold a password: never printed).
        url: SecretString,
        /// Key prefix.
        prefix: String,
    },
}

impl PartialEq for StoreBackend {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreBackend::Embedded, StoreBackend::Embedded) => true,
            (
                StoreBackend::Redis { url, prefix },
                StoreBackend::Redis {
                    url: other_url,
                    prefix: other_prefix,
                },
            ) => url.expose_secret() == other_url.expose_secret() && prefix == other_prefix,
            _ => false,
        }
    }
}

impl Eq for StoreBackend {}

/// The variable systemd sets to the unit's `StateDirectory=` (several,
/// colon-separated, when the unit names several).
pub const STATE_DIRECTORY: &str = "STATE_DIRECTORY";

const DEFAULT_STORE_PATH: &str = "data/hookgate.db";
/// Well above the default route timeout (10 s): a slow attempt in progress
/// is not taken for an abandoned one.
const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(3600);
/// Room for the default `max_events` (100,000) of a route or two with
/// bodies of a few KiB, on a disk that is not the log's alone.
const DEFAULT_LOG_MAX_BYTES: u64 = 2 << 30;
/// A log smaller than this would hold next to nothing with its bodies.
const MIN_LOG_MAX_BYTES: u64 = 1 << 20;

/// `[store]`; an empty path is refused.
pub(super) fn store_settings(raw: &RawStore, problems: &mut Vec<Problem>) -> StoreSettings {
    let path = raw.path.as_deref().unwrap_or(DEFAULT_STORE_PATH);
    if path.trim().is_empty() {
        problems.push(Problem {
            route: None,
            field: "store.path".into(),
            message: "must not be empty".into(),
        });
    }
    let visibility_timeout = duration(
        &raw.visibility_timeout,
        DEFAULT_VISIBILITY_TIMEOUT,
        MAX_VISIBILITY_TIMEOUT,
    )
    .unwrap_or_else(|message| {
        problems.push(Problem {
            route: None,
            field: "store.visibility_timeout".into(),
            message,
        });
        DEFAULT_VISIBILITY_TIMEOUT
    });
    let log_max_bytes = match raw.log_max_bytes.unwrap_or(DEFAULT_LOG_MAX_BYTES) {
        bytes if bytes >= MIN_LOG_MAX_BYTES => bytes,
        bytes => {
            problems.push(Problem {
                route: None,
                field: "store.log_max_bytes".into(),
                message: format!("{bytes} is below {MIN_LOG_MAX_BYTES} (1 MiB)"),
            });
            DEFAULT_LOG_MAX_BYTES
        }
    };
    StoreSettings {
        path: PathBuf::from(path),
        backend: store_backend(raw, problems),
        visibility_timeout,
        log_max_bytes,
    }
}

fn store_backend(raw: &RawStore, problems: &mut Vec<Problem>) -> StoreBackend {
    if raw.backend.unwrap_or_default() == Backend::Embedded {
        return StoreBackend::Embedded;
    }
    let url = raw.url.clone().unwrap_or_else(|| SecretString::from(""));
    if redis::Client::open(url.expose_secret()).is_err() {
        problems.push(Problem {
            route: None,
            field: "store.url".into(),
            message: "a redis:// URL is required with backend = \"redis\"".into(),
        });
    }
    let prefix = raw.prefix.clone().unwrap_or_else(|| "hookgate:".into());
    StoreBackend::Redis { url, prefix }
}

/// Places a relative store path under systemd's state directory when `vars`
/// name one: a unit's working directory is `/`, read-only under
/// `ProtectSystem=strict`, and the state directory is the one it may write.
pub(super) fn place_in_state_directory(store: &mut StoreSettings, vars: &Vars) {
    store.path = in_state_directory(&store.path, vars.get(STATE_DIRECTORY));
}

fn in_state_directory(path: &Path, state_directory: Option<&str>) -> PathBuf {
    let first = state_directory.and_then(|dirs| dirs.split(':').next());
    match first {
        Some(dir) if !dir.is_empty() && path.is_relative() => Path::new(dir).join(path),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_goes_under_the_first_state_directory() {
        let cases = [
            (
                "data/hookgate.db",
                Some("/var/lib/hookgate"),
                "/var/lib/hookgate/data/hookgate.db",
            ),
            ("q.db", Some("/var/lib/a:/var/lib/b"), "/var/lib/a/q.db"),
            ("/srv/q.db", Some("/var/lib/hookgate"), "/srv/q.db"),
            ("data/hookgate.db", None, "data/hookgate.db"),
            ("data/hookgate.db", Some(""), "data/hookgate.db"),
        ];
        for (path, state_directory, expected) in cases {
            let placed = in_state_directory(Path::new(path), state_directory);
            assert_eq!(placed, Path::new(expected), "{path} in {state_directory:?}");
        }
    }

    #[test]
    fn a_loaded_config_keeps_its_store_under_state_directory() {
        let vars: Vars = [(STATE_DIRECTORY, "/var/lib/hookgate")]
            .into_iter()
            .collect();
        let file = Path::new("routes.toml");

        let config = crate::config::from_text("[server]\n", file, &vars).unwrap();

        let expected = Path::new("/var/lib/hookgate/data/hookgate.db");
        assert_eq!(config.server.store.path, expected);
    }
}
