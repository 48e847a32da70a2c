//! Generic HMAC-SHA256 of the raw body, in a configured header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::{HeaderMap, HeaderName};

use super::{FieldProblem, HmacKeys, VerifyError, header};
use crate::config::schema::Encoding;

/// The generic scheme: `<header>: <prefix><hex or base64 digest>`.
#[derive(Debug)]
pub struct HmacSha256 {
    keys: HmacKeys,
    header: String,
    encoding: Encoding,
    prefix: String,
}

impl HmacSha256 {
    pub(super) fn from_config(
        keys: Result<HmacKeys, FieldProblem>,
        header: &str,
        encoding: Option<Encoding>,
        prefix: &Option<String>,
    ) -> Result<Self, Vec<FieldProblem>> {
        let header = HeaderName::try_from(header)
            .map(|name| name.as_str().to_string())
            .map_err(|_| ("header", format!("`{header}` is not a valid header name")));
        match (keys, header) {
            (Ok(keys), Ok(header)) => Ok(Self {
                keys,
                header,
                encoding: encoding.unwrap_or_default(),
                prefix: prefix.clone().unwrap_or_default(),
            }),
            (keys, header) => Err(keys.err().into_iter().chain(header.err()).collect()),
        }
    }

    pub(super) fn keys(&self) -> &HmacKeys {
        &self.keys
    }

    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        let value = header::single(headers, &self.header)?;
        let malformed = |reason| VerifyError::Malformed {
            header: self.header.clone(),
            reason,
        };
        let digest = value
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| malformed("missing the configured prefix"))?;
        let tag = match self.encoding {
            Encoding::Hex => header::hex_digest(&self.header, digest, header::SHA256_LEN)?,
            Encoding::Base64 => header::base64_digest(&self.header, digest, header::SHA256_LEN)?,
        };
        self.keys.check(&[body], &[tag])
    }

    pub(super) fn sign(&self, body: &[u8]) -> Vec<(&str, String)> {
        let tag = self.keys.sign(&[body]);
        let digest = match self.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => STANDARD.encode(tag),
        };
        vec![(self.header.as_str(), format!("{}{digest}", self.prefix))]
    }
}
