//! Helpers shared by the integration test binaries `tests/api` and `tests/binary`:
//! the gateway in process, a recording downstream, a Redis to kill, signing,
//! `eventually()`.
//!
//! Layout: a dev crate of its own rather than a module each binary compiles,
//! so that a helper one binary does not use is not dead code there, with
//! neither `#[path]` nor `#[allow(dead_code)]`.

mod app;
mod downstream;
mod eventually;
mod redis;
mod signing;

pub use app::{
    TestApp, chatwoot_config, redis_url, spawn_app, with_admin_on_port_0, with_server_keys,
};
pub use downstream::{Downstream, Recorded};
pub use eventually::{PATIENCE, eventually};
pub use redis::ThrowawayRedis;
pub use signing::{CHATWOOT_PATH, EVENT, SECRET, chatwoot_headers, now_secs};
