//! From a route's `[signature]` table to its [`Verifier`], collecting every problem.

use std::time::Duration;

use super::secrets::Secrets;
use super::{
    Chatwoot, FieldProblem, GenericHmac, Github, HmacKeys, Shopify, Slack, StandardWebhooks,
    Stripe, Verifier, chatwoot, keys, slack, standard_webhooks, stripe,
};
use crate::config::schema::{Algorithm, Encoding, Environment, RawSignature};

/// Builds the verifier `raw` describes; a secret may be missing only in development.
///
/// Reads a `secret_file` now, so each config load sees its current content.
pub fn build(raw: &RawSignature, environment: Environment) -> Result<Verifier, Vec<FieldProblem>> {
    let Some(source) = secrets_of(raw) else {
        return Ok(Verifier::None);
    };
    let keys = || keys::from_config(source, Algorithm::Sha256, environment);
    let single = |problem| vec![problem];
    match raw {
        RawSignature::None {} => Ok(Verifier::None),
        RawSignature::Chatwoot { tolerance, .. } => {
            let default = chatwoot::DEFAULT_TOLERANCE;
            timed(keys(), tolerance, default, Chatwoot::new).map(Verifier::Chatwoot)
        }
        RawSignature::Hmac {
            header,
            encoding,
            prefix,
            algorithm,
            ..
        } => {
            let algorithm = algorithm.unwrap_or_default();
            let keys = keys::from_config(source, algorithm, environment);
            generic("hmac", algorithm, keys, header, *encoding, prefix)
        }
        RawSignature::HmacSha256 {
            header,
            encoding,
            prefix,
            ..
        } => generic(
            "hmac-sha256",
            Algorithm::Sha256,
            keys(),
            header,
            *encoding,
            prefix,
        ),
        RawSignature::Github { .. } => keys()
            .map(|k| Verifier::Github(Github::new(k)))
            .map_err(single),
        RawSignature::Shopify { .. } => keys()
            .map(|k| Verifier::Shopify(Shopify::new(k)))
            .map_err(single),
        RawSignature::Stripe { tolerance, .. } => {
            let default = stripe::DEFAULT_TOLERANCE;
            timed(keys(), tolerance, default, Stripe::new).map(Verifier::Stripe)
        }
        RawSignature::Slack { tolerance, .. } => {
            let default = slack::DEFAULT_TOLERANCE;
            timed(keys(), tolerance, default, Slack::new).map(Verifier::Slack)
        }
        RawSignature::StandardWebhooks { tolerance, .. } => {
            let keys = keys::decoded_from_config(
                source,
                Algorithm::Sha256,
                environment,
                standard_webhooks::decode_secret,
            );
            let default = standard_webhooks::DEFAULT_TOLERANCE;
            timed(keys, tolerance, default, StandardWebhooks::new).map(Verifier::StandardWebhooks)
        }
    }
}

/// Where the scheme's secrets come from; `None` for the scheme without any.
fn secrets_of(raw: &RawSignature) -> Option<Secrets<'_>> {
    match raw {
        RawSignature::None {} => None,
        RawSignature::Chatwoot {
            secret,
            secrets,
            secret_file,
            ..
        }
        | RawSignature::Hmac {
            secret,
            secrets,
            secret_file,
            ..
        }
        | RawSignature::HmacSha256 {
            secret,
            secrets,
            secret_file,
            ..
        }
        | RawSignature::Github {
            secret,
            secrets,
            secret_file,
        }
        | RawSignature::Shopify {
            secret,
            secrets,
            secret_file,
        }
        | RawSignature::Stripe {
            secret,
            secrets,
            secret_file,
            ..
        }
        | RawSignature::Slack {
            secret,
            secrets,
            secret_file,
            ..
        }
        | RawSignature::StandardWebhooks {
            secret,
            secrets,
            secret_file,
            ..
        } => Some(Secrets {
            secret,
            secrets,
            secret_file,
        }),
    }
}

/// The generic scheme under `name`; SHA-1 is accepted but logged as weak.
fn generic(
    name: &'static str,
    algorithm: Algorithm,
    keys: Result<HmacKeys, FieldProblem>,
    header: &str,
    encoding: Option<Encoding>,
    prefix: &Option<String>,
) -> Result<Verifier, Vec<FieldProblem>> {
    let scheme = GenericHmac::from_config(name, keys, header, encoding, prefix)?;
    if algorithm == Algorithm::Sha1 {
        tracing::warn!(
            scheme = name,
            "signature algorithm sha1 is weak: keep it only for a legacy source that cannot sign with sha256 or sha512"
        );
    }
    Ok(Verifier::Hmac(scheme))
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
