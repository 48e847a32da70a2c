//! The sample event and Chatwoot's signature, computed here independently
//! of the gateway's code.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The chatwoot route's first secret in [`crate::chatwoot_config`].
pub const SECRET: &str = "test-secret";
/// The chatwoot route's path in [`crate::chatwoot_config`].
pub const CHATWOOT_PATH: &str = "/api/webhooks/chatwoot";
/// The sample event.
pub const EVENT: &[u8] = br#"{"event":"message_created","id":42,"content":"hello"}"#;

/// Now, in unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Chatwoot's headers for `body` signed with `secret` at unix time `ts`.
pub fn chatwoot_headers(secret: &str, ts: u64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let signature = hex::encode(mac.finalize().into_bytes());
    vec![
        ("X-Chatwoot-Signature", format!("sha256={signature}")),
        ("X-Chatwoot-Timestamp", ts.to_string()),
        (
            "X-Chatwoot-Delivery",
            "7f1c2d9e-5b8a-4c3e-9f0a-1b2c3d4e5f60".to_string(),
        ),
    ]
}
