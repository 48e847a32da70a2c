//! The memory the records waiting for the writer may take.
//!
//! A count bounds the channel, but not what its records hold when a body
//! may be megabytes: 4,096 waiting records of 1 MiB bodies are 4 GiB. So
//! the bytes of every record sent and not yet written or given up are
//! bounded too; a record past the budget is dropped and counted like one
//! the channel could not take, never waited for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes waiting records may hold: a stalled writer (a checkpoint, a
/// `sqlite3` shell holding a lock) costs at most this much memory.
pub const BUDGET: usize = 16 * 1024 * 1024;

/// Bytes claimed by waiting records, out of a limit.
#[derive(Debug, Clone)]
pub struct Budget {
    claimed: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            claimed: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// `bytes` of the budget, given back when the claim is dropped; `None`
    /// when they would take it past its limit.
    pub fn claim(&self, bytes: usize) -> Option<Claim> {
        let before = self.claimed.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.limit {
            self.claimed.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(Claim {
            budget: self.clone(),
            bytes,
        })
    }
}

/// A waiting record's share of its [`Budget`].
#[derive(Debug)]
pub struct Claim {
    budget: Budget,
    bytes: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.budget.claimed.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_past_the_limit_is_refused_until_an_earlier_one_is_given_back() {
        let budget = Budget::new(100);
        let first = budget.claim(60).expect("within the limit");
        assert!(budget.claim(60).is_none(), "60 + 60 is past 100");
        drop(first);
        assert!(budget.claim(60).is_some(), "given back when dropped");
    }
}
