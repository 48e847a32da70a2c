//! The `token` scheme: where a token may travel, how it is read, what is refused.

use super::*;
use crate::signature::testing::{assert_hostile_values_are_malformed, assert_malformed, headers};

const TOKEN: &str = "chatwoot-shared-token-4f9a";
const HEADER: &str = "X-Webhook-Token";

fn in_header(name: &str, tokens: &[&str]) -> Token {
    Token::new(Carrier::header(name).unwrap(), tokens).unwrap()
}

fn in_query(name: &str, tokens: &[&str]) -> Token {
    Token::new(Carrier::query(name).unwrap(), tokens).unwrap()
}

fn with_header(token: &Token, name: &str, value: &str) -> Result<(), VerifyError> {
    token.verify(Presented::from(&headers(&[(name, value)])))
}

fn with_query(token: &Token, query: Option<&str>) -> Result<(), VerifyError> {
    token.verify(Presented::new(&HeaderMap::new(), query))
}

fn assert_missing(result: Result<(), VerifyError>, place: &str) {
    assert_eq!(result, Err(VerifyError::MissingToken(place.to_string())));
}

fn assert_malformed_query(result: Result<(), VerifyError>, expected: &str) {
    let is_it = matches!(
        &result,
        Err(VerifyError::MalformedQuery { parameter, reason }) if parameter == "token" && *reason == expected
    );
    assert!(is_it, "{expected}: {result:?}");
}

#[test]
fn the_token_in_its_header_is_accepted() {
    let token = in_header(HEADER, &[TOKEN]);
    assert_eq!(with_header(&token, HEADER, TOKEN), Ok(()));
    assert_eq!(with_header(&token, "x-webhook-token", TOKEN), Ok(()));
}

#[test]
fn the_token_in_its_query_parameter_is_accepted_among_other_parameters() {
    let token = in_query("token", &[TOKEN]);
    assert_eq!(with_query(&token, Some(&format!("token={TOKEN}"))), Ok(()));
    let among = format!("account=1&token={TOKEN}&event");
    assert_eq!(with_query(&token, Some(&among)), Ok(()));
}

#[test]
fn during_a_rotation_any_of_the_tokens_is_accepted() {
    let header = in_header(HEADER, &["the-new-one", TOKEN]);
    let query = in_query("token", &["the-new-one", TOKEN]);
    for presented in ["the-new-one", TOKEN] {
        assert_eq!(with_header(&header, HEADER, presented), Ok(()));
        let parameter = format!("token={presented}");
        assert_eq!(with_query(&query, Some(&parameter)), Ok(()));
    }
}

#[test]
fn a_wrong_token_a_prefix_or_a_longer_one_is_a_mismatch() {
    let header = in_header(HEADER, &[TOKEN]);
    let query = in_query("token", &[TOKEN]);
    let longer = format!("{TOKEN}x");
    for wrong in ["guess", &TOKEN[..TOKEN.len() - 1], &longer] {
        assert_eq!(
            with_header(&header, HEADER, wrong),
            Err(VerifyError::TokenMismatch)
        );
        let parameter = format!("token={wrong}");
        let result = with_query(&query, Some(&parameter));
        assert_eq!(result, Err(VerifyError::TokenMismatch));
    }
}

#[test]
fn a_missing_token_is_refused_naming_where_it_was_expected() {
    let header = in_header(HEADER, &[TOKEN]);
    assert_missing(
        with_header(&header, "X-Other", TOKEN),
        "header x-webhook-token",
    );
    let query = in_query("token", &[TOKEN]);
    let expected = "query parameter token";
    assert_missing(with_query(&query, None), expected);
    assert_missing(with_query(&query, Some("")), expected);
    assert_missing(with_query(&query, Some("tokens=x&xtoken=y")), expected);
    // A token sent in a header does not stand in for the query parameter.
    let in_a_header = headers(&[("token", TOKEN)]);
    assert_missing(query.verify(Presented::new(&in_a_header, None)), expected);
}

#[test]
fn a_duplicated_oversized_non_ascii_or_empty_token_header_is_malformed() {
    let token = in_header(HEADER, &[TOKEN]);
    let valid = headers(&[(HEADER, TOKEN)]);
    assert_hostile_values_are_malformed(&valid, HEADER, |h| token.verify(Presented::from(h)));
}

#[test]
fn a_token_sent_twice_oversized_or_empty_in_the_query_is_malformed() {
    let token = in_query("token", &[TOKEN]);
    let twice = format!("token={TOKEN}&token={TOKEN}");
    assert_malformed_query(with_query(&token, Some(&twice)), "sent more than once");
    let huge = format!("token={}", "a".repeat(2048));
    assert_malformed_query(with_query(&token, Some(&huge)), "too long");
    assert_malformed_query(with_query(&token, Some("token=")), "empty");
    assert_malformed_query(with_query(&token, Some("token")), "empty");
}

#[test]
fn percent_escapes_in_the_query_are_decoded_and_a_plus_stays_a_plus() {
    let token = in_query("token", &["a+b/c d"]);
    assert_eq!(with_query(&token, Some("token=a+b%2Fc%20d")), Ok(()));
    assert_eq!(with_query(&token, Some("t%6Fken=a%2Bb/c%20d")), Ok(()));
    let form_encoded_space = with_query(&token, Some("token=a+b/c+d"));
    assert_eq!(form_encoded_space, Err(VerifyError::TokenMismatch));
    let not_utf8 = with_query(&token, Some("token=%FF%FE"));
    assert_eq!(not_utf8, Err(VerifyError::TokenMismatch));
}

#[test]
fn authorization_carries_the_token_after_bearer_in_any_case() {
    let token = in_header("Authorization", &[TOKEN]);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let value = format!("{scheme} {TOKEN}");
        assert_eq!(with_header(&token, "Authorization", &value), Ok(()));
    }
    let wrong = with_header(&token, "Authorization", "Bearer guess");
    assert_eq!(wrong, Err(VerifyError::TokenMismatch));
    for value in [TOKEN, "Bearer", &format!("Basic {TOKEN}")] {
        assert_malformed(with_header(&token, "Authorization", value));
    }
}

#[test]
fn any_other_header_carries_the_raw_token_without_a_bearer_prefix() {
    let token = in_header(HEADER, &[TOKEN]);
    let prefixed = with_header(&token, HEADER, &format!("Bearer {TOKEN}"));
    assert_eq!(prefixed, Err(VerifyError::TokenMismatch));
}

#[test]
fn what_sign_writes_is_accepted() {
    for name in [HEADER, "Authorization"] {
        let token = in_header(name, &[TOKEN, "old"]);
        let signed = headers(&token.sign());
        assert_eq!(token.verify(Presented::from(&signed)), Ok(()), "{name}");
        assert_eq!(token.sign_query(), None);
    }
    let token = in_query("the token", &["a+b/c d", "old"]);
    assert_eq!(token.sign(), Vec::new());
    let query = token.sign_query().unwrap();
    assert_eq!(query, "the%20token=a%2Bb%2Fc%20d");
    assert_eq!(with_query(&token, Some(&query)), Ok(()));
}

#[test]
fn errors_and_debug_never_show_the_token() {
    let header = in_header(HEADER, &[TOKEN]);
    let query = in_query("token", &[TOKEN]);
    let errors = [
        with_header(&header, HEADER, "guess").unwrap_err(),
        with_header(&header, "X-Other", TOKEN).unwrap_err(),
        with_query(&query, Some(&format!("token={TOKEN}&token={TOKEN}"))).unwrap_err(),
        with_query(&query, Some("token=guess")).unwrap_err(),
    ];
    for error in errors {
        assert!(!error.to_string().contains(TOKEN), "{error}");
        assert!(!format!("{error:?}").contains(TOKEN), "{error:?}");
    }
    let debug = format!("{header:?} {query:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("1 redacted"), "{debug}");
}

#[test]
fn a_header_that_is_invalid_hop_by_hop_or_the_gateways_cannot_carry_a_token() {
    let cases = [
        ("X Token", "is not a valid header name"),
        ("Connection", "a hop-by-hop header"),
        ("Transfer-Encoding", "a hop-by-hop header"),
        ("Proxy-Authorization", "a hop-by-hop header"),
        ("Host", "a hop-by-hop header"),
        ("X-Request-Id", "logged with every request"),
        ("X-Forwarded-For", "set by the gateway"),
        ("X-Hookgate-Route", "set by the gateway"),
        ("Forwarded", "set by the gateway"),
    ];
    for (name, reason) in cases {
        let message = Carrier::header(name).unwrap_err();
        assert!(message.contains(&format!("`{name}`")), "{message}");
        assert!(message.contains(reason), "{message}");
    }
    for name in [HEADER, "Authorization", "X-Api-Key"] {
        assert!(Carrier::header(name).is_ok(), "{name}");
    }
    assert!(Carrier::query("").is_err());
}

#[test]
fn a_token_that_could_not_arrive_intact_is_refused() {
    let header = || Carrier::header(HEADER).unwrap();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    for bad in ["", " padded", "padded ", "tab\there", "ünïcode", &long] {
        assert!(Token::new(header(), &[TOKEN, bad]).is_err(), "{bad:?}");
    }
    // A query parameter is percent-encoded on the way: any text can travel.
    let query = || Carrier::query("token").unwrap();
    assert!(Token::new(query(), &[" ünïcode with spaces "]).is_ok());
    assert!(Token::new(query(), &[""]).is_err());
    assert!(Token::new(header(), &[]).is_ok_and(|t| !t.has_secret()));
}
