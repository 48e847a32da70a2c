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

/// A decoded digest, on the stack: the longest tag (HMAC-SHA512) fits.
#[derive(Debug, Clone, Copy)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: usize,
}

const MAX_DIGEST_LEN: usize = 64;

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Decodes a hex digest of `len` bytes.
pub fn hex_digest(name: &str, text: &str, len: usize) -> Result<Digest, VerifyError> {
    let malformed = |reason| VerifyError::Malformed {
        header: name.to_string(),
        reason,
    };
    let is_hex = text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex {
        return Err(malformed("not hexadecimal"));
    }
    if text.len() != 2 * len || len > MAX_DIGEST_LEN {
        return Err(malformed("wrong digest length"));
    }
    let mut digest = Digest {
        bytes: [0; MAX_DIGEST_LEN],
        len,
    };
    hex::decode_to_slice(text, &mut digest.bytes[..len])
        .map_err(|_| malformed("not hexadecimal"))?;
    Ok(digest)
}

/// Decodes a standard (padded) base64 digest of `len` bytes.
pub fn base64_digest(name: &str, text: &str, len: usize) -> Result<Digest, VerifyError> {
    let malformed = |reason| VerifyError::Malformed {
        header: name.to_string(),
        reason,
    };
    // Room for a longer value to decode, so that it reads as the wrong
    // length rather than as not base64.
    let mut buffer = [0u8; 2 * MAX_DIGEST_LEN];
    let decoded = STANDARD
        .decode_slice(text, &mut buffer)
        .map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => malformed("wrong digest length"),
            base64::DecodeSliceError::DecodeError(_) => malformed("not base64"),
        })?;
    if decoded != len || len > MAX_DIGEST_LEN {
        return Err(malformed("wrong digest length"));
    }
    let mut digest = Digest {
        bytes: [0; MAX_DIGEST_LEN],
        len,
    };
    digest.bytes[..len].copy_from_slice(&buffer[..len]);
    Ok(digest)
}

/// The SHA-256 digest in header `name`, written `<prefix><hex>`; `expected`
/// names that form in the error.
pub fn prefixed_hex(
    headers: &HeaderMap,
    name: &str,
    prefix: &str,
    expected: &'static str,
) -> Result<Digest, VerifyError> {
    let value = single(headers, name)?;
    let hex = value
        .strip_prefix(prefix)
        .ok_or_else(|| VerifyError::Malformed {
            header: name.to_string(),
            reason: expected,
        })?;
    hex_digest(name, hex, SHA256_LEN)
}
