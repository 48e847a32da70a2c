//! The budget of bodies still unverified: what an unauthenticated client can
//! make the gateway hold before its signature is checked.
//!
//! A route's `max_in_flight` is taken only once a request is verified, so
//! stalled unauthenticated uploads cannot take a signed request's place.
//! Instead, bodies being read are bounded on their own: their bytes, all
//! clients together (`max_unverified_bytes`), and the bodies one client
//! address reads at once (`max_unverified_per_client`). A body must also
//! arrive within the body timeout. Past a bound the request gets `503` with
//! `Retry-After` at once, and memory stays bounded.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use prometheus_client::metrics::gauge::Gauge;

use crate::config::UnverifiedSettings;

/// Counters per client address, by hash: two addresses that share a counter
/// share their allowance, which only makes the bound stricter.
const CLIENT_COUNTERS: usize = 4096;

/// Past a bound of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exhausted {
    /// The client reads too many bodies at once.
    #[error("too many unverified uploads from this address")]
    Client,
    /// Bodies being read hold too many bytes, all clients together.
    #[error("too many unverified bytes in flight")]
    Bytes,
}

/// Shared by every worker.
#[derive(Debug)]
pub struct Budget {
    max_bytes: usize,
    max_per_client: u32,
    bytes: AtomicUsize,
    clients: Box<[AtomicU32]>,
    hasher: std::collections::hash_map::RandomState,
    /// `hookgate_unverified_bodies`.
    bodies: Gauge,
}

impl Budget {
    /// A budget of `settings`, showing the bodies being read in `bodies`.
    pub fn new(settings: UnverifiedSettings, bodies: Gauge) -> Self {
        Self {
            max_bytes: settings.max_bytes,
            max_per_client: settings.max_per_client,
            bytes: AtomicUsize::new(0),
            clients: (0..CLIENT_COUNTERS).map(|_| AtomicU32::new(0)).collect(),
            hasher: Default::default(),
            bodies,
        }
    }

    /// Starts reading a body from `client`.
    pub fn start(&self, client: Option<IpAddr>) -> Result<Reading<'_>, Exhausted> {
        let slot = client.map(|ip| self.slot(ip));
        self.bodies.inc();
        let mut reading = Reading {
            budget: self,
            slot: None,
            bytes: 0,
        };
        if let Some(slot) = slot {
            let before = self.clients[slot].fetch_add(1, Ordering::Relaxed);
            reading.slot = Some(slot);
            if before >= self.max_per_client {
                return Err(Exhausted::Client);
            }
        }
        Ok(reading)
    }

    fn slot(&self, ip: IpAddr) -> usize {
        self.hasher.hash_one(ip) as usize % CLIENT_COUNTERS
    }
}

/// One body being read; gives its share back when dropped (once verified,
/// refused, or abandoned).
#[derive(Debug)]
pub struct Reading<'a> {
    budget: &'a Budget,
    slot: Option<usize>,
    bytes: usize,
}

impl Reading<'_> {
    /// Takes `more` bytes from the budget for a chunk just received.
    pub fn take(&mut self, more: usize) -> Result<(), Exhausted> {
        let before = self.budget.bytes.fetch_add(more, Ordering::Relaxed);
        self.bytes += more;
        if before + more > self.budget.max_bytes {
            return Err(Exhausted::Bytes);
        }
        Ok(())
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.budget.bodies.dec();
        self.budget.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        if let Some(slot) = self.slot {
            self.budget.clients[slot].fetch_sub(1, Ordering::Relaxed);
        }
    }
}
