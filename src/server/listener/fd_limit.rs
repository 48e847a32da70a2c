//! The file-descriptor limit, and the connection cap derived from it.
//!
//! At start the soft limit is raised to the hard one (systemd's default soft
//! limit is 1024, its hard limit 524288). Each connection can take two
//! descriptors (the client's socket and a downstream one), and the process
//! keeps some for itself (listeners, log files, the store, Redis), so the
//! default cap is what is left after that reserve, halved, shared by the
//! public listeners.

/// Descriptors kept for the process itself and the admin listener.
pub const RESERVED: u64 = 256;

/// Connections the admin listener serves at once.
pub const ADMIN_CONNECTIONS: usize = 64;

/// Raises the soft limit to the hard limit; returns the limit now in force.
pub fn raise() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the file-descriptor limit");
            rlimit::Resource::NOFILE
                .get()
                .map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The default connection cap of all public listeners together under `limit`.
pub fn default_cap(limit: u64) -> usize {
    let usable = limit.saturating_sub(RESERVED) / 2;
    usable.clamp(16, 1 << 20) as usize
}

/// Warns when `cap` connections could exhaust `limit` descriptors.
pub fn check(cap: usize, limit: u64) {
    if cap > default_cap(limit) {
        tracing::warn!(
            max_connections = cap,
            fd_limit = limit,
            "max_connections exceeds what the file-descriptor limit allows; \
             accepts will fail when descriptors run out"
        );
    }
}
