//! The circuit breaker's state machine, pure: each call is given the
//! instant it happens at, so its tests need no clock and no sleep.
//!
//! Closed: attempts start freely; each [`Health::Down`] result lengthens
//! the run of failures, each [`Health::Up`] ends it. The run reaching
//! `failures` opens the breaker: no attempt starts until `next_probe`. Then
//! one attempt, the probe, is allowed (half open); its success closes the
//! breaker, its failure opens it again for twice the cool-down, at most
//! `max_cooldown`. Any success closes it, a probe's or not: an attempt
//! started before the breaker opened may still succeed.

use std::time::{Duration, Instant};

use crate::routes::BreakerSettings;

/// What an attempt's result says about the destination (not the event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered 2xx, or judged the event itself (a 4xx but 408 and 429):
    /// it is up, whatever it thinks of the event.
    Up,
    /// No answer in time, no connection, a 5xx, 408 or 429.
    Down,
}

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Attempts start as the rate limit and concurrency allow.
    #[default]
    Closed,
    /// No attempt starts before `next_probe`.
    Open {
        /// When it opened (a failed probe does not move it).
        since: Instant,
        /// When the probe may start.
        next_probe: Instant,
        /// The cool-down that led to `next_probe`.
        cooldown: Duration,
    },
    /// The probe is in flight; nothing else starts.
    HalfOpen {
        /// When it opened.
        since: Instant,
        /// The cool-down before this probe.
        cooldown: Duration,
    },
}

/// Whether attempts may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// As many as the rate limit and concurrency allow.
    Any,
    /// One, the probe.
    Probe,
    /// None; look again at this instant, or (`None`) when the probe ends.
    Wait(Option<Instant>),
}

/// A change worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed → open.
    Opened,
    /// Open or half open → closed, after `open_for`.
    Closed {
        /// How long it was open.
        open_for: Duration,
    },
}

/// One destination's breaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breaker {
    phase: Phase,
    failures: u32,
}

impl Breaker {
    /// Where it is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Failed attempts since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether attempts start freely.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether attempts may start at `now`.
    pub fn admit(&self, now: Instant) -> Admission {
        match self.phase {
            Phase::Closed => Admission::Any,
            Phase::Open { next_probe, .. } if now >= next_probe => Admission::Probe,
            Phase::Open { next_probe, .. } => Admission::Wait(Some(next_probe)),
            Phase::HalfOpen { .. } => Admission::Wait(None),
        }
    }

    /// The probe [`admit`](Self::admit) allowed has started. Until then the
    /// breaker stays open: a probe allowed when no event was due is not
    /// waited for.
    pub fn probe_started(&mut self) {
        if let Phase::Open {
            since, cooldown, ..
        } = self.phase
        {
            self.phase = Phase::HalfOpen { since, cooldown };
        }
    }

    /// The probe ended without a result (its task was lost): another may
    /// start at once.
    pub fn probe_lost(&mut self, now: Instant) {
        if let Phase::HalfOpen { since, cooldown } = self.phase {
            self.phase = Phase::Open {
                since,
                next_probe: now,
                cooldown,
            };
        }
    }

    /// An attempt ended at `now` with `health`; `probe` when it was the
    /// probe.
    pub fn record(
        &mut self,
        health: Health,
        probe: bool,
        settings: &BreakerSettings,
        now: Instant,
    ) -> Option<Transition> {
        if health == Health::Up {
            self.failures = 0;
            let since = match std::mem::take(&mut self.phase) {
                Phase::Closed => return None,
                Phase::Open { since, .. } | Phase::HalfOpen { since, .. } => since,
            };
            let open_for = now.saturating_duration_since(since);
            return Some(Transition::Closed { open_for });
        }
        self.failures = self.failures.saturating_add(1);
        match self.phase {
            Phase::Closed if self.failures >= settings.failures => {
                self.phase = Phase::Open {
                    since: now,
                    next_probe: now + settings.cooldown,
                    cooldown: settings.cooldown,
                };
                Some(Transition::Opened)
            }
            Phase::HalfOpen { since, cooldown } if probe => {
                let cooldown = cooldown.saturating_mul(2).min(settings.max_cooldown);
                self.phase = Phase::Open {
                    since,
                    next_probe: now + cooldown,
                    cooldown,
                };
                None
            }
            // Below the threshold, or an attempt started before the breaker
            // opened: counted, nothing else changes.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failures: 3,
        cooldown: Duration::from_secs(10),
        max_cooldown: Duration::from_secs(30),
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A breaker opened at `t0` by three failures.
    fn opened(t0: Instant) -> Breaker {
        let mut breaker = Breaker::default();
        for _ in 0..2 {
            assert_eq!(breaker.record(Health::Down, false, &SETTINGS, t0), None);
        }
        let opened = breaker.record(Health::Down, false, &SETTINGS, t0);
        assert_eq!(opened, Some(Transition::Opened));
        breaker
    }

    /// Starts the probe at `at` and fails it there.
    fn fail_probe(breaker: &mut Breaker, at: Instant) {
        assert_eq!(breaker.admit(at), Admission::Probe);
        breaker.probe_started();
        assert_eq!(breaker.admit(at), Admission::Wait(None));
        assert_eq!(breaker.record(Health::Down, true, &SETTINGS, at), None);
    }

    #[test]
    fn failures_below_the_threshold_keep_it_closed_and_a_success_resets_the_run() {
        let t0 = Instant::now();
        let mut breaker = Breaker::default();

        breaker.record(Health::Down, false, &SETTINGS, t0);
        breaker.record(Health::Down, false, &SETTINGS, t0);
        breaker.record(Health::Up, false, &SETTINGS, t0);
        breaker.record(Health::Down, false, &SETTINGS, t0);
        breaker.record(Health::Down, false, &SETTINGS, t0);

        assert!(breaker.is_closed());
        assert_eq!(breaker.failures(), 2);
        assert_eq!(breaker.admit(t0), Admission::Any);
    }

    #[test]
    fn the_threshold_opens_it_and_nothing_starts_before_the_cooldown() {
        let t0 = Instant::now();
        let breaker = opened(t0);

        assert_eq!(breaker.admit(t0), Admission::Wait(Some(t0 + ms(10_000))));
        assert_eq!(
            breaker.admit(t0 + ms(9_999)),
            Admission::Wait(Some(t0 + ms(10_000)))
        );
        assert_eq!(breaker.admit(t0 + ms(10_000)), Admission::Probe);
    }

    #[test]
    fn each_failed_probe_doubles_the_cooldown_up_to_max_cooldown() {
        let t0 = Instant::now();
        let mut breaker = opened(t0);
        let mut at = t0 + ms(10_000);
        let mut next_probes = Vec::new();

        for _ in 0..3 {
            fail_probe(&mut breaker, at);
            let Admission::Wait(Some(next)) = breaker.admit(at) else {
                panic!("open again after a failed probe");
            };
            next_probes.push(next.duration_since(at));
            at = next;
        }

        assert_eq!(next_probes, [ms(20_000), ms(30_000), ms(30_000)]);
        assert_eq!(breaker.failures(), 6);
        assert!(matches!(breaker.phase(), Phase::Open { since, .. } if since == t0));
    }

    #[test]
    fn a_successful_probe_closes_it_and_says_for_how_long_it_was_open() {
        let t0 = Instant::now();
        let mut breaker = opened(t0);
        fail_probe(&mut breaker, t0 + ms(10_000));
        let at = t0 + ms(30_000);
        assert_eq!(breaker.admit(at), Admission::Probe);
        breaker.probe_started();

        let closed = breaker.record(Health::Up, true, &SETTINGS, at);

        assert_eq!(
            closed,
            Some(Transition::Closed {
                open_for: ms(30_000)
            })
        );
        assert_eq!((breaker.admit(at), breaker.failures()), (Admission::Any, 0));
    }

    #[test]
    fn a_late_failure_of_an_attempt_started_before_opening_is_no_failed_probe() {
        let t0 = Instant::now();
        let mut breaker = opened(t0);
        let at = t0 + ms(10_000);
        breaker.probe_started();

        breaker.record(Health::Down, false, &SETTINGS, at);

        assert_eq!(breaker.admit(at), Admission::Wait(None), "still probing");
        assert_eq!(breaker.failures(), 4);
    }

    #[test]
    fn a_late_success_closes_it_even_while_open() {
        let t0 = Instant::now();
        let mut breaker = opened(t0);

        let closed = breaker.record(Health::Up, false, &SETTINGS, t0 + ms(1));

        assert_eq!(closed, Some(Transition::Closed { open_for: ms(1) }));
        assert!(breaker.is_closed());
    }

    #[test]
    fn a_probe_allowed_but_never_started_keeps_it_open_and_a_lost_one_is_replaced() {
        let t0 = Instant::now();
        let mut breaker = opened(t0);
        let at = t0 + ms(10_000);
        assert_eq!(breaker.admit(at), Admission::Probe);
        // No event was due: nothing started, the probe is still to come.
        assert_eq!(breaker.admit(at + ms(5)), Admission::Probe);
        breaker.probe_started();

        breaker.probe_lost(at + ms(7));

        assert_eq!(breaker.admit(at + ms(7)), Admission::Probe);
    }
}
