//! A fault told once per interval: a store that keeps refusing (a full
//! disk, a lock held elsewhere) is logged when it starts, then summed up at
//! most every [`EVERY`], rather than once per try.

use std::time::{Duration, Instant};

/// The longest a lasting fault goes without a log line.
pub const EVERY: Duration = Duration::from_secs(30);

/// The log lines of one kind of fault.
#[derive(Debug, Default)]
pub struct Quiet {
    /// When the last line was logged.
    logged_at: Option<Instant>,
    /// Occurrences since the fault began.
    occurrences: u32,
    /// Occurrences not logged since the last line.
    held_back: u64,
}

impl Quiet {
    /// One more occurrence. `Some(n)` when this one is to be logged, `n`
    /// being how many were held back since the last line.
    pub fn occurred(&mut self) -> Option<u64> {
        self.occurrences = self.occurrences.saturating_add(1);
        let now = Instant::now();
        if self
            .logged_at
            .is_some_and(|at| now.duration_since(at) < EVERY)
        {
            self.held_back += 1;
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }

    /// Occurrences since the fault began (0: none is going on).
    pub fn occurrences(&self) -> u32 {
        self.occurrences
    }

    /// The fault is over: how many occurrences it had, if there was one.
    /// The next occurrence starts a new fault, logged at once.
    pub fn ended(&mut self) -> Option<u32> {
        let occurrences = std::mem::take(self).occurrences;
        (occurrences > 0).then_some(occurrences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_fault_is_logged_once_then_held_back() {
        let mut quiet = Quiet::default();

        let logged: Vec<Option<u64>> = (0..5).map(|_| quiet.occurred()).collect();

        assert_eq!(logged, [Some(0), None, None, None, None]);
        assert_eq!(quiet.occurrences(), 5);
    }

    #[test]
    fn a_fault_logged_again_after_the_interval_says_how_many_were_held_back() {
        let mut quiet = Quiet::default();
        quiet.occurred();
        quiet.occurred();
        quiet.logged_at = Instant::now().checked_sub(EVERY);

        assert_eq!(quiet.occurred(), Some(1));
    }

    #[test]
    fn after_a_fault_ends_the_next_one_is_logged_at_once() {
        let mut quiet = Quiet::default();
        assert_eq!(quiet.ended(), None);
        quiet.occurred();
        quiet.occurred();

        assert_eq!(quiet.ended(), Some(2));
        assert_eq!(quiet.occurred(), Some(0));
    }
}
