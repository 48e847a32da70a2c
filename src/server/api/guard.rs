//! Failed admin authentications: counted, logged, and locked out per client
//! address after a few, so a token cannot be guessed at thousands a second.
//!
//! After [`MAX_FAILURES`] wrong tokens from one address, its admin calls get
//! `429` with `Retry-After` until it has sent none for [`LOCKOUT`]. A console
//! session opened before goes on: it proved the token then, and guesses
//! nothing (see `auth.rs`). The log
//! line comes on an address's first failure and when it is locked out, not
//! per attempt.

use std::net::IpAddr;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

/// Wrong tokens an address may send before it is locked out.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked-out address must stay quiet.
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses remembered at once; the oldest are forgotten first.
const REMEMBERED: u64 = 100_000;

/// Wrong tokens by client address.
#[derive(Debug)]
pub struct AdminGuard {
    failures: moka::sync::Cache<IpAddr, u32>,
    /// `hookgate_admin_auth_failures_total`.
    counted: Counter,
}

impl AdminGuard {
    /// A guard counting into `counted`.
    pub fn new(counted: Counter) -> Self {
        let failures = moka::sync::Cache::builder()
            .max_capacity(REMEMBERED)
            // From an address's last wrong token: each one (while locked
            // out too) updates its entry, which restarts the time. A check
            // does not: a script with the right token, polling from the same
            // address (an SSH tunnel's 127.0.0.1), keeps no lockout alive.
            .time_to_live(LOCKOUT)
            .build();
        Self { failures, counted }
    }

    /// Whether `client` is locked out now.
    pub fn is_locked_out(&self, client: Option<IpAddr>) -> bool {
        client
            .and_then(|ip| self.failures.get(&ip))
            .is_some_and(|failures| failures >= MAX_FAILURES)
    }

    /// Records a wrong token from `client`.
    pub fn failed(&self, client: Option<IpAddr>) {
        self.counted.inc();
        let Some(ip) = client else { return };
        let entry = self
            .failures
            .entry(ip)
            .and_upsert_with(|failures| failures.map_or(1, |entry| entry.into_value() + 1));
        match entry.into_value() {
            1 => tracing::warn!(client = %ip, "wrong admin token"),
            MAX_FAILURES => tracing::warn!(
                client = %ip,
                lockout_secs = LOCKOUT.as_secs(),
                "wrong admin token {MAX_FAILURES} times: admin calls from this address are refused"
            ),
            _ => {}
        }
    }
}
