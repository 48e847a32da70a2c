//! Reading one signature header strictly: present once, ASCII, bounded.

use poem::http::HeaderMap;

use super::VerifyError;

/// Longer than any signature header a provider sends; refuses abuse early.
const MAX_HEADER_LEN: usize = 1024;

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
