//! Live reload: watch the config's directory, rebuild off the request path, swap once.
//!
//! Editors save by rename, `git checkout` unlinks and recreates, Kubernetes
//! swaps a `..data` symlink: all of these are events in the *directory*, so
//! that is what is watched. An event naming the file (any event, when the
//! file is a symlink) re-reads it once it has stopped changing, unless it is
//! as it was last read, and reloads only when its content hash changed.
//! SIGHUP reloads unconditionally.
//!
//! # Layout
//!
//! - `watch`: the watcher (debounced file events and SIGHUP) and when a file
//!   event is worth reading the file.
//! - this file: [`Reloader`], one reload: read, refuse what must not go
//!   live, swap.

mod watch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::{error, info, warn};

use crate::config::{self, Config, ConfigError, Problem, Vars};
use crate::live::Live;
use crate::metrics::ReloadLabel;
use crate::systemd::{self, Notifier};
use watch::{Fingerprint, settle};
pub use watch::{Watch, watch};

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
    last_read: Mutex<LastRead>,
    /// systemd hears of each reload, as `RELOADING=1` then `READY=1`.
    notifier: Notifier,
}

/// The version of the file read last, valid or not: a refused version is
/// reported once rather than on every unrelated event in the directory, and
/// an event that finds the file as it was read (the gateway's own read is
/// an event too) reads nothing.
#[derive(Debug)]
struct LastRead {
    /// Its content hash.
    hash: String,
    /// The file as it was when read; `None` before the first reload.
    file: Option<Fingerprint>,
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
        let notifier = Notifier::new(vars.get(systemd::NOTIFY_SOCKET));
        Self {
            path,
            notifier,
            vars,
            live,
            prepare,
            last_read: Mutex::new(LastRead { hash, file: None }),
        }
    }

    /// Re-reads the file; `force` reloads even when its content is unchanged
    /// (a `secret_file` it names may have been rotated).
    pub fn reload(&self, force: bool) -> Result<Outcome, ConfigError> {
        let mut last_read = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
        // Taken before reading: a write in between is a change seen next time.
        let file = Fingerprint::of(&self.path).ok();
        let bytes = std::fs::read(&self.path).map_err(|source| self.unreadable(source))?;
        last_read.file = file;
        let hash = hash(&bytes);
        if !force && last_read.hash == hash {
            return Ok(Outcome::Unchanged);
        }
        last_read.hash = hash;
        let text = String::from_utf8(bytes).map_err(|e| {
            self.unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        // A file caught mid-write (`cat new > routes.toml` truncates it
        // first) is empty, which would be a valid config without a route:
        // every webhook would get 404, which no source retries.
        if text.trim().is_empty() {
            return Err(self.refused("", "the file is empty (caught mid-write?): refused"));
        }
        let mut config = config::from_text(&text, &self.path, &self.vars)?;
        for warning in &config.warnings {
            warn!("{}: {warning}", self.path.display());
        }
        self.keeps_a_route(&config)?;
        keep_what_needs_a_restart(&mut config, &self.live.peek().config);
        (self.prepare)(&config).map_err(|problem| ConfigError::Invalid {
            file: self.path.clone(),
            problems: vec![problem],
            warnings: Vec::new(),
        })?;
        let snapshot = self.live.publish(config);
        Ok(Outcome::Applied {
            generation: snapshot.generation,
            hash: snapshot.config.content_hash.clone(),
        })
    }

    /// Refuses `config` when it has no route while routes are served, unless
    /// it says so on purpose: a writer that writes `[server]` before the
    /// routes leaves a valid file without a route for a moment, under which
    /// every webhook would get 404.
    fn keeps_a_route(&self, config: &Config) -> Result<(), ConfigError> {
        let serving = !self.live.peek().config.routes.is_empty();
        if !serving || !config.routes.is_empty() || config.server.allow_no_routes {
            return Ok(());
        }
        Err(self.refused(
            "routes",
            "no route: this reload would remove every route served (a file caught \
             mid-write?); refused. Set `[server] allow_no_routes = true` to mean it",
        ))
    }

    fn refused(&self, field: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.path.clone(),
            problems: vec![Problem {
                route: None,
                field: field.into(),
                message: message.into(),
            }],
            warnings: Vec::new(),
        }
    }

    fn unreadable(&self, source: std::io::Error) -> ConfigError {
        ConfigError::Read {
            file: self.path.clone(),
            source,
        }
    }

    /// Reloads after file events: once the file has stopped changing, and
    /// not at all when it is as it was last read. The watcher reports any
    /// event, the gateway's own opening of the file to read it included, so
    /// reading on each would read the file again and again.
    pub(crate) fn follow(&self) {
        if self.as_last_read() {
            return;
        }
        settle(&self.path);
        self.reload_and_log(false);
    }

    /// Whether the file is, by its metadata, the one read last.
    fn as_last_read(&self) -> bool {
        let now = Fingerprint::of(&self.path).ok();
        let last_read = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
        now.is_some() && now == last_read.file
    }

    /// Reloads, logs and counts the outcome.
    pub fn reload_and_log(&self, force: bool) {
        let _ = self.reload_logged(force);
    }

    /// Reloads, logs and counts the outcome, and returns it (admin API).
    pub fn reload_logged(&self, force: bool) -> Result<Outcome, ConfigError> {
        self.notifier.reloading();
        let outcome = self.reload(force);
        // READY=1 whatever the outcome: a refused file leaves the last good
        // config serving, and systemd must not wait on a reload forever.
        self.notifier.ready(&self.status(&outcome));
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

    /// `systemctl status`'s line after a reload: the config now served.
    fn status(&self, outcome: &Result<Outcome, ConfigError>) -> String {
        let live = self.live.peek();
        let served = format!(
            "config {}, generation {}",
            live.config.content_hash, live.generation
        );
        match outcome {
            Ok(_) => format!("serving {served}"),
            Err(_) => format!("reload refused; serving the last good {served}"),
        }
    }
}

/// The content hash of `bytes`: the config's own for text, and one no text
/// has for bytes that are not UTF-8, so they too are reported once.
fn hash(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => config::content_hash(text),
        Err(_) => format!("not-utf8-{}", config::content_hash(&hex::encode(bytes))),
    }
}

/// Settings bound at start stay as they are, with a warning that a restart is needed.
fn keep_what_needs_a_restart(new: &mut Config, running: &Config) {
    if new.telemetry != running.telemetry {
        warn!("telemetry changed: restart required");
        new.telemetry = running.telemetry.clone();
    }
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

#[cfg(test)]
mod tests;
