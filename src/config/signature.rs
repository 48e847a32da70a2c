//! `[routes.NAME.signature]` → [`Verifier`]: secrets resolved (a
//! `secret_file` read now, so each load sees its current content), the
//! replay window bounded, a token's place checked, every problem collected
//! with its field.

use std::time::Duration;

use poem::http::HeaderName;
use secrecy::{ExposeSecret, SecretString};

use super::schema::{Generic, GenericSha256, RawSignature, SecretSource, SharedToken, Timed};
use super::{Environment, secrets};
use crate::signature::{
    Algorithm, Carrier, Chatwoot, DEFAULT_TOLERANCE, Encoding, GenericHmac, HmacKeys, Slack,
    StandardWebhooks, Stripe, Token, Verifier, decode_standard_webhooks_secret,
};

/// A problem found in the table: the field (relative to `signature`) and what is wrong.
pub type FieldProblem = (&'static str, String);

/// Builds the verifier `raw` describes; a secret may be missing only in development.
pub fn build(raw: &RawSignature, environment: Environment) -> Result<Verifier, Vec<FieldProblem>> {
    let keys = |source| keys(source, Algorithm::Sha256, environment, as_bytes);
    let single = |problem| vec![problem];
    match raw {
        RawSignature::None(_) => Ok(Verifier::None),
        RawSignature::Chatwoot(t) => {
            timed(keys(t.source()), t, Chatwoot::new).map(Verifier::Chatwoot)
        }
        RawSignature::Stripe(t) => timed(keys(t.source()), t, Stripe::new).map(Verifier::Stripe),
        RawSignature::Slack(t) => timed(keys(t.source()), t, Slack::new).map(Verifier::Slack),
        RawSignature::StandardWebhooks(t) => {
            let keys = self::keys(t.source(), Algorithm::Sha256, environment, |secret| {
                decode_standard_webhooks_secret(secret.expose_secret())
            });
            timed(keys, t, StandardWebhooks::new).map(Verifier::StandardWebhooks)
        }
        RawSignature::Github(k) => keys(k.source())
            .map(|k| Verifier::Hmac(GenericHmac::github(k)))
            .map_err(single),
        RawSignature::Shopify(k) => keys(k.source())
            .map(|k| Verifier::Hmac(GenericHmac::shopify(k)))
            .map_err(single),
        RawSignature::Hmac(g) => {
            let algorithm = g.algorithm.unwrap_or_default();
            let keys = self::keys(g.source(), algorithm, environment, as_bytes);
            generic("hmac", keys, Shape::from(g))
        }
        RawSignature::HmacSha256(g) => generic("hmac-sha256", keys(g.source()), Shape::from(g)),
        RawSignature::Token(t) => token(t, environment).map(Verifier::Token),
    }
}

/// What `check` should say of a table that is valid but risky.
pub fn warning(raw: &RawSignature) -> Option<&'static str> {
    matches!(raw, RawSignature::Hmac(g) if g.algorithm == Some(Algorithm::Sha1)).then_some(
        "signature algorithm sha1 is weak: keep it only for a legacy source that cannot sign with sha256 or sha512",
    )
}

fn as_bytes(secret: &SecretString) -> Result<Vec<u8>, String> {
    Ok(secret.expose_secret().as_bytes().to_vec())
}

/// Keys of `algorithm` from the table's secrets, each turned into key bytes
/// by `decode` (whose error must not quote the secret); refuses an absent
/// secret in production.
fn keys(
    source: SecretSource<'_>,
    algorithm: Algorithm,
    environment: Environment,
    decode: impl Fn(&SecretString) -> Result<Vec<u8>, String>,
) -> Result<HmacKeys, FieldProblem> {
    let (field, list) = required_secrets(source, environment)?;
    let bytes = list
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| (field, message))?;
    HmacKeys::with_algorithm(algorithm, &bytes)
        .ok_or_else(|| (field, "a secret must not be empty".into()))
}

/// The table's secrets and the field they came from; none is allowed only
/// in development.
fn required_secrets(
    source: SecretSource<'_>,
    environment: Environment,
) -> Result<(&'static str, Vec<SecretString>), FieldProblem> {
    let (field, list) = secrets::resolve(source)?;
    if list.is_empty() && environment == Environment::Production {
        return Err((
            field,
            "a secret is required in production (set `secret`, `secrets` or `secret_file`)".into(),
        ));
    }
    Ok((field, list))
}

/// The `token` scheme: where the token travels, and the tokens, or the
/// problems with both.
fn token(table: &SharedToken, environment: Environment) -> Result<Token, Vec<FieldProblem>> {
    match (
        carrier(table),
        required_secrets(table.source(), environment),
    ) {
        (Ok(carrier), Ok((field, list))) => {
            let tokens: Vec<&str> = list.iter().map(|s| s.expose_secret()).collect();
            Token::new(carrier, &tokens).map_err(|message| vec![(field, message.into())])
        }
        (carrier, secrets) => Err(carrier.err().into_iter().chain(secrets.err()).collect()),
    }
}

/// Exactly one of `header` and `query`, and a usable one.
fn carrier(table: &SharedToken) -> Result<Carrier, FieldProblem> {
    match (&table.header, &table.query) {
        (Some(header), None) => Carrier::header(header).map_err(|m| ("header", m)),
        (None, Some(query)) => Carrier::query(query).map_err(|m| ("query", m)),
        (Some(_), Some(_)) => Err((
            "query",
            "set either `header` or `query`, not both: the token travels in one place".into(),
        )),
        (None, None) => Err((
            "header",
            "set `header` (e.g. \"X-Webhook-Token\") or `query` (e.g. \"token\"): where the token travels"
                .into(),
        )),
    }
}

/// The header, encoding and prefix of the generic scheme under either name.
struct Shape<'a> {
    header: &'a str,
    encoding: Option<Encoding>,
    prefix: &'a Option<String>,
}

impl<'a> From<&'a Generic> for Shape<'a> {
    fn from(g: &'a Generic) -> Self {
        Shape {
            header: &g.header,
            encoding: g.encoding,
            prefix: &g.prefix,
        }
    }
}

impl<'a> From<&'a GenericSha256> for Shape<'a> {
    fn from(g: &'a GenericSha256) -> Self {
        Shape {
            header: &g.header,
            encoding: g.encoding,
            prefix: &g.prefix,
        }
    }
}

fn generic(
    name: &'static str,
    keys: Result<HmacKeys, FieldProblem>,
    shape: Shape<'_>,
) -> Result<Verifier, Vec<FieldProblem>> {
    let header = HeaderName::try_from(shape.header).map_err(|_| {
        (
            "header",
            format!("`{}` is not a valid header name", shape.header),
        )
    });
    match (keys, header) {
        (Ok(keys), Ok(header)) => {
            let encoding = shape.encoding.unwrap_or_default();
            let prefix = shape.prefix.clone().unwrap_or_default();
            Ok(Verifier::Hmac(GenericHmac::new(
                name, keys, header, encoding, prefix,
            )))
        }
        (keys, header) => Err(keys.err().into_iter().chain(header.err()).collect()),
    }
}

/// A timestamped scheme made by `new` from its keys and replay window, or
/// the problems with both.
fn timed<S>(
    keys: Result<HmacKeys, FieldProblem>,
    table: &Timed,
    new: fn(HmacKeys, Duration) -> S,
) -> Result<S, Vec<FieldProblem>> {
    match (keys, tolerance(&table.tolerance)) {
        (Ok(keys), Ok(tolerance)) => Ok(new(keys, tolerance)),
        (keys, tolerance) => Err(keys.err().into_iter().chain(tolerance.err()).collect()),
    }
}

/// A scheme's `tolerance`, or the default; bounded to a sane window.
fn tolerance(text: &Option<String>) -> Result<Duration, FieldProblem> {
    let Some(text) = text else {
        return Ok(DEFAULT_TOLERANCE);
    };
    let tolerance = humantime::parse_duration(text)
        .map_err(|e| ("tolerance", format!("`{text}` is not a duration: {e}")))?;
    let bounds = Duration::from_secs(1)..=Duration::from_secs(3600);
    if !bounds.contains(&tolerance) {
        return Err(("tolerance", format!("`{text}` must be between 1s and 1h")));
    }
    Ok(tolerance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_header_name_is_a_problem_of_the_header_field() {
        let keys = HmacKeys::new(&["secret"]).unwrap();
        let shape = Shape {
            header: "x sig",
            encoding: None,
            prefix: &None,
        };
        let problems = generic("hmac", Ok(keys), shape).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "header");
    }
}
