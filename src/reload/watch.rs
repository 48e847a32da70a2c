//! The watcher: debounced events in the config's directory and SIGHUP, and
//! the wait for a file being written to stop changing before it is read.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebouncedEvent, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Reloader;

/// Quiet time that ends a burst of file events (an editor's save is several).
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long the file must stay the same before it is read: a writer that
/// pauses for less mid-file is not caught half-way.
const SETTLE: Duration = Duration::from_millis(200);
/// The most rounds of [`SETTLE`] waited: a file rewritten without end is
/// read anyway, after about 2 s.
const MAX_SETTLE_ROUNDS: u32 = 10;

/// A file as its metadata shows it, to tell whether it changed: its inode
/// (a rename or a symlink swap), size and modification and change times. An
/// open or a read changes none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Fingerprint {
    /// The file at `path`, behind any symlink.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Waits until the file at `path` has stayed the same for [`SETTLE`]
/// (or is gone), at most [`MAX_SETTLE_ROUNDS`] times over.
pub(super) fn settle(path: &Path) {
    let mut last = Fingerprint::of(path).ok();
    for _ in 0..MAX_SETTLE_ROUNDS {
        std::thread::sleep(SETTLE);
        let now = Fingerprint::of(path).ok();
        if now == last {
            return;
        }
        last = now;
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
            // Events that queued up during the last reload are the same news.
            while self.changed.try_recv().is_ok() {}
            let reloader = self.reloader.clone();
            let reload = move || match force {
                true => reloader.reload_and_log(true),
                false => reloader.follow(),
            };
            let _ = tokio::task::spawn_blocking(reload).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_file_leaves_its_fingerprint_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.toml");
        std::fs::write(&path, "[server]\n").unwrap();
        let before = Fingerprint::of(&path).unwrap();

        std::fs::read(&path).unwrap();

        assert_eq!(Fingerprint::of(&path).unwrap(), before);
    }

    #[test]
    fn the_same_bytes_written_later_change_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.toml");
        std::fs::write(&path, "[server]\n").unwrap();
        let before = Fingerprint::of(&path).unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(1);

        std::fs::write(&path, "[server]\n").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(later).unwrap();

        assert_ne!(Fingerprint::of(&path).unwrap(), before);
    }
}
