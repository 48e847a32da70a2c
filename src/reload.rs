//! Live reload: watch the config's directory, rebuild off the request path, swap once.
//!
//! Editors save by rename, `git checkout` unlinks and recreates, Kubernetes
//! swaps a `..data` symlink: all of these are events in the *directory*, so
//! that is what is watched. An event naming the file (any event, when the
//! file is a symlink) re-reads it and reloads only when its content hash
//! changed. SIGHUP reloads unconditionally.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebouncedEvent, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{self, Config, ConfigError, Problem, Vars};
use crate::live::Live;
use crate::metrics::ReloadLabel;

/// Quiet time that ends a burst of file events (an editor's save is several).
const DEBOUNCE: Duration = Duration::from_millis(100);

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file's content is the one already served.
    Unchanged,
    /// A new snapshot is live.
    Applied {
        /// Its generation.
        generation: u64,
        /// Its content hash.
        hash: String,
    },
}

/// What must hold before a new config goes live (e.g. its store can be
/// opened); a problem refuses the config and keeps the running one.
pub type Prepare = Box<dyn Fn(&Config) -> Result<(), Problem> + Send + Sync>;

/// Reloads one config file into one [`Live`]. Reloads run one at a time.
pub struct Reloader {
    path: PathBuf,
    vars: Vars,
    live: Arc<Live>,
    prepare: Prepare,
    /// Hash of the last content tried, valid or not, so a refused version is
    /// reported once rather than on every unrelated event in the directory.
    last_seen: Mutex<String>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for `path`, read with `vars`, whose current content `live`
    /// already serves; `prepare` runs on each new config before it goes live.
    pub fn new(path: PathBuf, vars: Vars, live: Arc<Live>, prepare: Prepare) -> Self {
        let hash = live.peek().config.content_hash.clone();
        Self {
            path,
            vars,
            live,
            prepare,
            last_seen: Mutex::new(hash),
        }
    }

    /// Re-reads the file; `force` reloads even when its content is unchanged
    /// (a `secret_file` it names may have been rotated).
    pub fn reload(&self, force: bool) -> Result<Outcome, ConfigError> {
        let mut last_seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        let text = config::read(&self.path)?;
        // A file caught mid-write (`cat new > routes.toml` truncates it
        // first) is empty, which would be a valid config without a route:
        // every webhook would get 404, which no source retries.
        if text.trim().is_empty() {
            return Err(ConfigError::Invalid {
                file: self.path.clone(),
                problems: vec![Problem {
                    route: None,
                    field: String::new(),
                    message: "the file is empty (caught mid-write?): refused".into(),
                }],
            });
        }
        let hash = config::content_hash(&text);
        if !force && *last_seen == hash {
            return Ok(Outcome::Unchanged);
        }
        *last_seen = hash;
        let mut config = config::from_text(&text, &self.path, &self.vars)?;
        for warning in &config.warnings {
            warn!("{}: {warning}", self.path.display());
        }
        keep_what_needs_a_restart(&mut config, &self.live.peek().config);
        (self.prepare)(&config).map_err(|problem| ConfigError::Invalid {
            file: self.path.clone(),
            problems: vec![problem],
        })?;
        let snapshot = self.live.publish(config);
        Ok(Outcome::Applied {
            generation: snapshot.generation,
            hash: snapshot.config.content_hash.clone(),
        })
    }

    /// Reloads, logs and counts the outcome.
    pub fn reload_and_log(&self, force: bool) {
        let _ = self.reload_logged(force);
    }

    /// Reloads, logs and counts the outcome, and returns it (admin API).
    pub fn reload_logged(&self, force: bool) -> Result<Outcome, ConfigError> {
        let outcome = self.reload(force);
        let result = match &outcome {
            Ok(Outcome::Unchanged) => "unchanged",
            Ok(Outcome::Applied { .. }) => "applied",
            Err(ConfigError::Read { .. }) => "unreadable",
            Err(ConfigError::Invalid { .. }) => "refused",
        };
        let label = ReloadLabel { result };
        self.live.metrics().reloads.get_or_create(&label).inc();
        match &outcome {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Applied { generation, hash }) => {
                info!(generation, config_hash = %hash, "config reloaded");
            }
            Err(ConfigError::Read { file, source }) => warn!(
                file = %file.display(),
                error = %source,
                "config file unreadable; keeping the last good config"
            ),
            Err(refused) => {
                error!("config refused; keeping the last good config:\n{refused}")
            }
        }
        outcome
    }
}

/// Settings bound at start stay as they are, with a warning that a restart is needed.
fn keep_what_needs_a_restart(new: &mut Config, running: &Config) {
    let (new, running) = (&mut new.server, &running.server);
    if new.listen != running.listen {
        warn!(running = %running.listen, configured = %new.listen, "server.listen changed: restart required");
        new.listen = running.listen;
    }
    if new.admin_listen != running.admin_listen {
        warn!("admin.listen changed: restart required");
        new.admin_listen = running.admin_listen;
    }
    if new.store.backend != running.store.backend {
        warn!("store.backend, url or prefix changed: restart required");
        new.store.backend = running.store.backend.clone();
    }
    if new.workers != running.workers {
        warn!("server.workers changed: restart required");
        new.workers = running.workers;
    }
    if new.store != running.store {
        warn!("store.path or store.visibility_timeout changed: restart required");
        new.store = running.store.clone();
    }
    if new.shutdown_timeout != running.shutdown_timeout {
        warn!("server.shutdown_timeout changed: restart required");
        new.shutdown_timeout = running.shutdown_timeout;
    }
}

/// A started watch: file events and SIGHUP are already being captured, so
/// nothing written after [`watch`] returns is missed.
pub struct Watch {
    reloader: Arc<Reloader>,
    watcher: Option<Watcher>,
    changed: mpsc::UnboundedReceiver<()>,
    hangup: tokio::signal::unix::Signal,
}

/// Starts watching the directory of `reloader`'s file, and SIGHUP.
pub fn watch(reloader: Reloader) -> std::io::Result<Watch> {
    let reloader = Arc::new(reloader);
    let (events, changed) = mpsc::unbounded_channel();
    let watcher = watch_directory(&reloader.path, events);
    // Registered now, so a SIGHUP right after start reloads instead of killing us.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(Watch {
        reloader,
        watcher,
        changed,
        hangup,
    })
}

impl Watch {
    /// The reloader, for an explicit reload (admin API).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// Applies reloads until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let _watcher = self.watcher;
        loop {
            let force = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(()) = self.changed.recv() => false,
                _ = self.hangup.recv() => true,
            };
            let reloader = self.reloader.clone();
            let _ = tokio::task::spawn_blocking(move || reloader.reload_and_log(force)).await;
        }
    }
}

type Watcher = notify_debouncer_mini::Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>;

/// Watches the file's directory; `None` (logged) when watching is impossible,
/// in which case SIGHUP still reloads.
fn watch_directory(path: &Path, events: mpsc::UnboundedSender<()>) -> Option<Watcher> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The directory may hold busy files (a log, a database): only a change
    // to the config file itself is worth a reload. A config reached through a
    // symlink (a Kubernetes ConfigMap swaps `..data`) changes with whatever
    // the link leads to, so then every change in the directory counts.
    let config = path.to_path_buf();
    let on_event = move |result: notify_debouncer_mini::DebounceEventResult| {
        let touched = |event: &DebouncedEvent| {
            event.path.file_name() == config.file_name() || config.is_symlink()
        };
        if result.is_ok_and(|batch| batch.iter().any(touched)) {
            let _ = events.send(());
        }
    };
    let started = new_debouncer(DEBOUNCE, on_event).and_then(|mut debouncer| {
        debouncer
            .watcher()
            .watch(&dir, RecursiveMode::NonRecursive)
            .map(|()| debouncer)
    });
    match started {
        Ok(debouncer) => Some(debouncer),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; reload with SIGHUP");
            None
        }
    }
}
