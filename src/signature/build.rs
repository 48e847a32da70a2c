//! From a route's `[signature]` table to its [`Verifier`], collecting every problem.

use std::time::Duration;

use super::{
    Chatwoot, FieldProblem, Github, HmacKeys, HmacSha256, Shopify, Slack, StandardWebhooks, Stripe,
    Verifier, chatwoot, keys, slack, standard_webhooks, stripe,
};
use crate::config::schema::{Environment, RawSignature};

/// Builds the verifier `raw` describes; a secret may be missing only in development.
pub fn build(raw: &RawSignature, environment: Environment) -> Result<Verifier, Vec<FieldProblem>> {
    let keys = |secret: &Option<String>, secrets: &Option<Vec<String>>| {
        keys::from_config(secret, secrets, environment)
    };
    match raw {
        RawSignature::None {} => Ok(Verifier::None),
        RawSignature::Chatwoot {
            secret,
            secrets,
            tolerance,
        } => timed(
            keys(secret, secrets),
            tolerance,
            chatwoot::DEFAULT_TOLERANCE,
            Chatwoot::new,
        )
        .map(Verifier::Chatwoot),
        RawSignature::HmacSha256 {
            secret,
            secrets,
            header,
            encoding,
            prefix,
        } => HmacSha256::from_config(keys(secret, secrets), header, *encoding, prefix)
            .map(Verifier::HmacSha256),
        RawSignature::Github { secret, secrets } => keys(secret, secrets)
            .map(Github::new)
            .map(Verifier::Github)
            .map_err(|problem| vec![problem]),
        RawSignature::Shopify { secret, secrets } => keys(secret, secrets)
            .map(Shopify::new)
            .map(Verifier::Shopify)
            .map_err(|problem| vec![problem]),
        RawSignature::Stripe {
            secret,
            secrets,
            tolerance,
        } => timed(
            keys(secret, secrets),
            tolerance,
            stripe::DEFAULT_TOLERANCE,
            Stripe::new,
        )
        .map(Verifier::Stripe),
        RawSignature::Slack {
            secret,
            secrets,
            tolerance,
        } => timed(
            keys(secret, secrets),
            tolerance,
            slack::DEFAULT_TOLERANCE,
            Slack::new,
        )
        .map(Verifier::Slack),
        RawSignature::StandardWebhooks {
            secret,
            secrets,
            tolerance,
        } => {
            let keys = keys::decoded_from_config(
                secret,
                secrets,
                environment,
                standard_webhooks::decode_secret,
            );
            let default = standard_webhooks::DEFAULT_TOLERANCE;
            timed(keys, tolerance, default, StandardWebhooks::new).map(Verifier::StandardWebhooks)
        }
    }
}

/// A timestamped scheme made by `new` from its keys and replay window, or
/// the problems with both.
fn timed<S>(
    keys: Result<HmacKeys, FieldProblem>,
    tolerance: &Option<String>,
    default: Duration,
    new: fn(HmacKeys, Duration) -> S,
) -> Result<S, Vec<FieldProblem>> {
    match (keys, parse_tolerance(tolerance, default)) {
        (Ok(keys), Ok(tolerance)) => Ok(new(keys, tolerance)),
        (keys, tolerance) => Err(keys.err().into_iter().chain(tolerance.err()).collect()),
    }
}

/// Parses a scheme's `tolerance`, or gives its default; bounds it to a sane window.
fn parse_tolerance(text: &Option<String>, default: Duration) -> Result<Duration, FieldProblem> {
    let Some(text) = text else {
        return Ok(default);
    };
    let tolerance = humantime::parse_duration(text)
        .map_err(|e| ("tolerance", format!("`{text}` is not a duration: {e}")))?;
    let bounds = Duration::from_secs(1)..=Duration::from_secs(3600);
    if !bounds.contains(&tolerance) {
        return Err(("tolerance", format!("`{text}` must be between 1s and 1h")));
    }
    Ok(tolerance)
}
