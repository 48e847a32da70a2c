//! Reading one signature header strictly: present once, ASCII, bounded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::HeaderMap;

use super::VerifyError;

/// Longer than any signature header a provider sends; refuses abuse early.
const MAX_HEADER_LEN: usize = 1024;

/// Bytes in an HMAC-SHA256 tag.
pub const SHA256_LEN: usize = 32;

/// The single value of header `name`.
pub fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or_else(|| VerifyError::MissingHeader(name.to_string()))?;
    let malformed = |reason| VerifyError::Malformed {
        header: name.to_string(),
        reason,
    };
    if values.next().is_some() {
        return Err(malformed("sent more than once"));
    }
    if value.len() > MAX_HEADER_LEN {
        return Err(malformed("too long"));
    }
    let text = value.to_str().map_err(|_| malformed("not ASCII"))?;
    if text.trim().is_empty() {
        return Err(malformed("empty"));
    }
    Ok(text.trim())
}

/// Decodes a hex digest of `len` bytes.
pub fn hex_digest(name: &str, text: &str, len: usize) -> Result<Vec<u8>, VerifyError> {
    let bytes = hex::decode(text).map_err(|_| VerifyError::Malformed {
        header: name.to_string(),
        reason: "not hexadecimal",
    })?;
    if bytes.len() != len {
        return Err(VerifyError::Malformed {
            header: name.to_string(),
            reason: "wrong digest length",
        });
    }
    Ok(bytes)
}

/// Decodes a standard (padded) base64 digest of `len` bytes.
pub fn base64_digest(name: &str, text: &str, len: usize) -> Result<Vec<u8>, VerifyError> {
    let malformed = |reason| VerifyError::Malformed {
        header: name.to_string(),
        reason,
    };
    let bytes = STANDARD.decode(text).map_err(|_| malformed("not base64"))?;
    if bytes.len() != len {
        return Err(malformed("wrong digest length"));
    }
    Ok(bytes)
}

/// The SHA-256 digest in header `name`, written `<prefix><hex>`; `expected`
/// names that form in the error.
pub fn prefixed_hex(
    headers: &HeaderMap,
    name: &str,
    prefix: &str,
    expected: &'static str,
) -> Result<Vec<u8>, VerifyError> {
    let value = single(headers, name)?;
    let hex = value
        .strip_prefix(prefix)
        .ok_or_else(|| VerifyError::Malformed {
            header: name.to_string(),
            reason: expected,
        })?;
    hex_digest(name, hex, SHA256_LEN)
}
