//! A route's and a destination's pacing keys, validated: `rate_limit`
//! (`"20/s"`, `"600/m"`) and `[breaker]`.

use std::time::Duration;

use super::queue::within;
use super::schema::RawBreaker;
use super::validate::{FieldProblems, duration, not_below};
use crate::routes::{BreakerSettings, RateLimit, Route};

/// More would be spaced by less than 10 µs: no downstream asks for that.
const MAX_RATE_EVENTS: u32 = 100_000;
/// A few failures in a row, not one: a single timeout is not an outage.
const DEFAULT_FAILURES: u64 = 5;
const MAX_FAILURES: u64 = 1000;
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);
/// A day-long outage then costs 144 probes, and a recovery is noticed
/// within 10 minutes.
const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(600);
const COOLDOWN_CEILING: Duration = Duration::from_secs(24 * 3600);

/// `rate_limit`: `Some(None)` when absent, `None` when invalid (recorded).
pub(super) fn rate_limit(
    text: &Option<String>,
    problems: &mut FieldProblems,
) -> Option<Option<RateLimit>> {
    match text {
        None => Some(None),
        Some(text) => parse_rate(text)
            .map(Some)
            .map_err(|m| problems.push(("rate_limit", m)))
            .ok(),
    }
}

/// `N/s` or `N/m`, N from 1 to [`MAX_RATE_EVENTS`].
fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let wrong = || {
        format!(
            "`{text}` must be deliveries per second or per minute, e.g. \"20/s\" or \"600/m\", \
             from 1 to {MAX_RATE_EVENTS}"
        )
    };
    let (events, unit) = text.trim().split_once('/').ok_or_else(wrong)?;
    let period = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        _ => return Err(wrong()),
    };
    let events: u32 = events.trim().parse().map_err(|_| wrong())?;
    if !(1..=MAX_RATE_EVENTS).contains(&events) {
        return Err(wrong());
    }
    Ok(RateLimit { events, period })
}

/// A destination's `breaker` over its route's, key by key.
pub(super) fn merged(own: &RawBreaker, route: Option<&RawBreaker>) -> RawBreaker {
    let inherited = route.cloned().unwrap_or_default();
    RawBreaker {
        failures: own.failures.or(inherited.failures),
        cooldown: own.cooldown.clone().or(inherited.cooldown),
        max_cooldown: own.max_cooldown.clone().or(inherited.max_cooldown),
    }
}

/// A `[breaker]` table, each key or its default.
pub(super) fn breaker(raw: &RawBreaker, problems: &mut FieldProblems) -> Option<BreakerSettings> {
    let failures = within(
        raw.failures,
        DEFAULT_FAILURES,
        MAX_FAILURES,
        ("breaker.failures", problems),
    );
    let cooldown = duration(&raw.cooldown, DEFAULT_COOLDOWN, COOLDOWN_CEILING)
        .map_err(|m| problems.push(("breaker.cooldown", m)))
        .ok();
    let default_max = DEFAULT_MAX_COOLDOWN.max(cooldown.unwrap_or_default());
    let max_cooldown = duration(&raw.max_cooldown, default_max, COOLDOWN_CEILING)
        .map_err(|m| problems.push(("breaker.max_cooldown", m)))
        .ok();
    let (cooldown, max_cooldown) = (cooldown?, max_cooldown?);
    not_below(max_cooldown, cooldown, "breaker.cooldown")
        .map_err(|m| problems.push(("breaker.max_cooldown", m)))
        .ok()?;
    Some(BreakerSettings {
        failures: failures? as u32,
        cooldown,
        max_cooldown,
    })
}

/// Destinations whose events can run out of attempts in an outage before
/// the breaker opens: it takes `failures` in a row, and an event alone is
/// charged all but the last of them.
pub(super) fn outlived_schedules(route: &Route) -> Vec<(String, String)> {
    let field = |name: &str| match route.destinations.len() {
        1 if name == crate::routes::DEFAULT_DESTINATION => "breaker.failures".to_string(),
        _ => format!("destinations.{name}.breaker.failures"),
    };
    (route.destinations.iter())
        .filter(|d| d.queue.breaker.failures > d.queue.retry.max_attempts)
        .map(|d| {
            let (failures, attempts) = (d.queue.breaker.failures, d.queue.retry.max_attempts);
            let message = format!(
                "{failures} is above retry.max_attempts {attempts}: an event alone can become \
                 a dead letter in an outage before the breaker opens; keep it at most \
                 max_attempts"
            );
            (field(&d.name), message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_read_per_second_or_per_minute() {
        let per = |events, secs| RateLimit {
            events,
            period: Duration::from_secs(secs),
        };

        assert_eq!(parse_rate("20/s"), Ok(per(20, 1)));
        assert_eq!(parse_rate(" 600 / m "), Ok(per(600, 60)));
        for wrong in ["20", "0/s", "20/h", "-1/s", "1.5/s", "/s", "100001/s"] {
            assert!(parse_rate(wrong).is_err(), "{wrong} was taken");
        }
    }

    #[test]
    fn breaker_defaults_are_five_failures_and_ten_seconds_doubling_to_ten_minutes() {
        let mut problems = FieldProblems::new();

        let settings = breaker(&RawBreaker::default(), &mut problems).unwrap();

        assert_eq!(settings.failures, 5);
        assert_eq!(settings.cooldown, Duration::from_secs(10));
        assert_eq!(settings.max_cooldown, Duration::from_secs(600));
    }

    #[test]
    fn a_max_cooldown_below_the_cooldown_is_refused() {
        let raw = RawBreaker {
            failures: Some(0),
            cooldown: Some("1m".into()),
            max_cooldown: Some("10s".into()),
        };
        let mut problems = FieldProblems::new();

        assert_eq!(breaker(&raw, &mut problems), None);

        let fields: Vec<&str> = problems.iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["breaker.failures", "breaker.max_cooldown"]);
    }

    #[test]
    fn a_breaker_slower_than_the_retry_schedule_is_a_warning_naming_the_destination() {
        let text = "[routes.hook]\npath = \"/hook\"\ndelivery = \"queued\"\n\
                    retry = { max_attempts = 3 }\nsignature = { scheme = \"none\" }\n\
                    [routes.hook.destinations.a]\nurl = \"http://127.0.0.1:9/a\"\n\
                    [routes.hook.destinations.b]\nurl = \"http://127.0.0.1:9/b\"\n\
                    breaker = { failures = 3 }\n";
        let vars = crate::config::Vars::default();

        let config = crate::config::from_text(text, std::path::Path::new("t.toml"), &vars).unwrap();

        let [warning] = &config.warnings[..] else {
            panic!("one warning expected: {:?}", config.warnings);
        };
        assert_eq!(warning.field, "destinations.a.breaker.failures");
        assert!(
            warning.message.contains("above retry.max_attempts 3"),
            "{warning}"
        );
    }

    #[test]
    fn a_destination_breaker_key_overrides_only_that_key_of_the_route() {
        let route = RawBreaker {
            failures: Some(3),
            cooldown: Some("1s".into()),
            max_cooldown: None,
        };
        let own = RawBreaker {
            cooldown: Some("2s".into()),
            ..RawBreaker::default()
        };

        let merged = merged(&own, Some(&route));

        assert_eq!(merged.failures, Some(3));
        assert_eq!(merged.cooldown.as_deref(), Some("2s"));
        assert_eq!(merged.max_cooldown, None);
    }
}
