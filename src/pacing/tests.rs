//! A lane's pace with explicit instants: pauses, what an attempt is charged,
//! the view and gauge, and the limiter across reloads.

use std::path::Path;

use super::*;
use crate::config;

/// The delivery settings of a queued route with `extra` keys.
fn settings(extra: &str) -> QueueSettings {
    let text = format!(
        "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
         delivery = \"queued\"\n{extra}\n[routes.hook.signature]\nscheme = \"none\"\n"
    );
    let config = config::from_text(&text, Path::new("t.toml"), &config::Vars::default()).unwrap();
    config
        .routes
        .by_name("hook")
        .unwrap()
        .primary()
        .queue
        .clone()
}

fn ended(health: Health) -> Ended {
    Ended {
        health,
        probe: false,
        retry_after: None,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_retry_after_holds_every_attempt_back_until_it_ends() {
    let pacing = Pacing::new(&Metrics::new(), "hook", "default");
    let settings = settings("");
    let t0 = Instant::now();
    let throttled = Ended {
        retry_after: Some(secs(2)),
        ..ended(Health::Down)
    };

    let charged = pacing.record(throttled, &settings, t0);

    assert!(charged, "one 429 is an ordinary failure for its event");
    assert_eq!(
        pacing.admit(t0 + secs(1)),
        Admission::Wait(Some(t0 + secs(2)))
    );
    assert_eq!(pacing.admit(t0 + secs(2)), Admission::Any);
    assert!(pacing.view().paused_until.is_some());
}

#[test]
fn a_retry_after_is_capped_at_the_retry_schedules_max_backoff_and_never_shortened() {
    let pacing = Pacing::new(&Metrics::new(), "hook", "default");
    let settings = settings("retry = { initial_backoff = \"1s\", max_backoff = \"30s\" }");
    let t0 = Instant::now();
    let asking = |seconds| Ended {
        retry_after: Some(secs(seconds)),
        ..ended(Health::Down)
    };

    pacing.record(asking(24 * 3600), &settings, t0);
    pacing.record(asking(5), &settings, t0);

    assert_eq!(pacing.admit(t0), Admission::Wait(Some(t0 + secs(30))));
}

#[test]
fn attempts_stop_counting_against_their_events_once_the_breaker_opens() {
    let pacing = Pacing::new(&Metrics::new(), "hook", "default");
    let settings = settings("breaker = { failures = 2 }");
    let t0 = Instant::now();

    let first = pacing.record(ended(Health::Down), &settings, t0);
    let opening = pacing.record(ended(Health::Down), &settings, t0);
    let in_flight = pacing.record(ended(Health::Down), &settings, t0);

    assert_eq!((first, opening, in_flight), (true, false, false));
    assert_eq!(pacing.admit(t0), Admission::Wait(Some(t0 + secs(10))));
}

#[test]
fn the_view_and_the_gauge_follow_the_breaker() {
    let metrics = Metrics::new();
    let pacing = Pacing::new(&metrics, "hook", "agent");
    let settings = settings("breaker = { failures = 1, cooldown = \"1s\" }");
    let gauge = "hookgate_destination_breaker_open{route=\"hook\",destination=\"agent\"}";
    assert!(metrics.render().contains(&format!("{gauge} 0")));
    let t0 = Instant::now();

    pacing.record(ended(Health::Down), &settings, t0);
    let open = pacing.view();
    pacing.probe_started(t0 + secs(1));
    let probing = pacing.view();
    let open_text = metrics.render();
    let probe = Ended {
        probe: true,
        ..ended(Health::Up)
    };
    pacing.record(probe, &settings, t0 + secs(1));
    let closed = pacing.view();

    assert_eq!(open.state, BreakerState::Open);
    assert_eq!(open.consecutive_failures, 1);
    let (since, next) = (open.open_since.unwrap(), open.next_probe_at.unwrap());
    assert_eq!(next.duration_since(since).unwrap(), secs(1));
    assert_eq!(probing.state, BreakerState::HalfOpen);
    assert!(open_text.contains(&format!("{gauge} 1")), "{open_text}");
    assert_eq!(*closed, PacingView::default());
    assert!(metrics.render().contains(&format!("{gauge} 0")));
}

#[test]
fn the_limiter_is_kept_while_the_rate_is_unchanged_and_rebuilt_when_it_changes() {
    let pacing = Pacing::new(&Metrics::new(), "hook", "default");
    let rate = |events| {
        Some(RateLimit {
            events,
            period: secs(60),
        })
    };

    let first = pacing.take(rate(1), 1);
    let same_rate = pacing.take(rate(1), 1);
    let new_rate = pacing.take(rate(2), 1);
    let unlimited = pacing.take(None, 3);

    assert_eq!(first.count, 1);
    assert_eq!(same_rate.count, 0, "a kept limiter remembers the first");
    assert!(same_rate.wait.unwrap() > secs(59));
    assert_eq!(new_rate.count, 1, "a new rate starts afresh");
    assert_eq!(unlimited, Taken::all(3));
}
