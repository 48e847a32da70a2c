//! The memory the records waiting for the writer may take.
//!
//! A count bounds the channel, but not what its records hold when a body
//! may be megabytes: 4,096 waiting records of 1 MiB bodies are 4 GiB. So
//! the bytes of every record sent and not yet written or given up are
//! bounded too. Once the records waiting hold [`BODIES`], a new one waits
//! without its body and headers (still listed, no longer replayable);
//! one that would take them past [`BUDGET`] is dropped and counted like one
//! the channel could not take, never waited for.

use std::sync::atomic::Ordering;

use prometheus_client::metrics::gauge::Gauge;

/// The bytes waiting records may hold: a stalled writer (a checkpoint, a
/// `sqlite3` shell holding a lock) costs at most this much memory.
pub const BUDGET: usize = 16 * 1024 * 1024;

/// The bytes waiting records may hold before a new one waits without its
/// body and headers (what the records before it hold counts, so a single
/// body of more is kept while the writer keeps up). Under a writer that
/// falls behind, bodies are what the waiting memory is made of (a 2 KB
/// body is most of its record); shed first, the records themselves are
/// kept: the channel's 4,096 records without bodies take about 2 MiB
/// more, and the writer, given rows a third of the work of one with a
/// body (bench/README.md), catches up sooner.
pub const BODIES: usize = 8 * 1024 * 1024;

/// Bytes claimed by waiting records, out of a limit; the claimed bytes are
/// `hookgate_event_log_waiting_bytes`, how far behind the writer is.
#[derive(Debug, Clone)]
pub struct Budget {
    claimed: Gauge,
    limit: i64,
}

impl Budget {
    /// A budget of `limit` bytes, its claims counted in `claimed`.
    pub fn new(limit: usize, claimed: Gauge) -> Self {
        Self {
            claimed,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }

    /// `bytes` of the budget, given back when the claim is dropped; `None`
    /// when they would take it past its limit.
    pub fn claim(&self, bytes: usize) -> Option<Claim> {
        self.claim_if(bytes, |_| true)
    }

    /// `bytes` of the budget, as [`Budget::claim`], if what is claimed
    /// before them is below `bytes_before`.
    pub fn claim_below(&self, bytes: usize, bytes_before: usize) -> Option<Claim> {
        let bytes_before = i64::try_from(bytes_before).unwrap_or(i64::MAX);
        self.claim_if(bytes, |before| before < bytes_before)
    }

    /// Claims `bytes` in one step (a compare-and-swap), so that a claim
    /// refused never shows in the gauge nor crowds out a smaller one at
    /// the same moment.
    fn claim_if(&self, bytes: usize, wanted: impl Fn(i64) -> bool) -> Option<Claim> {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let claimed = self.claimed.inner();
        let fits = |before: i64| {
            let after = before.checked_add(bytes).filter(|a| *a <= self.limit)?;
            wanted(before).then_some(after)
        };
        claimed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, fits)
            .ok()?;
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
    bytes: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.budget.claimed.dec_by(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_past_the_limit_is_refused_until_an_earlier_one_is_given_back() {
        let claimed = Gauge::default();
        let budget = Budget::new(100, claimed.clone());
        let first = budget.claim(60).expect("within the limit");
        assert!(budget.claim(60).is_none(), "60 + 60 is past 100");
        assert_eq!(claimed.get(), 60, "a refused claim takes nothing");
        drop(first);
        assert_eq!(claimed.get(), 0);
        assert!(budget.claim(60).is_some(), "given back when dropped");
    }

    #[test]
    fn a_claim_below_a_mark_depends_on_what_is_claimed_before_it_not_on_its_own_size() {
        let claimed = Gauge::default();
        let budget = Budget::new(100, claimed.clone());
        let big = budget.claim_below(70, 50).expect("nothing before it");
        assert!(budget.claim_below(10, 50).is_none(), "70 claimed before it");
        assert!(budget.claim(10).is_some(), "within the limit all the same");
        drop(big);
        assert!(budget.claim_below(10, 50).is_some());
    }
}
