//! The console's sessions: a random id in an `HttpOnly` cookie, standing in
//! for the admin token, with its own CSRF token.
//!
//! A session remembers which token it was opened with (as a hash): a token
//! changed by a reload ends every session opened with the old one.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "hookgate_session";
/// The header a cookie session's POST and DELETE must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long is forgotten.
pub const IDLE: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions kept at once; the least recently used go first.
const MAX_SESSIONS: u64 = 10_000;

/// One logged-in console.
#[derive(Debug)]
pub struct Session {
    /// What the page sends as `X-CSRF-Token`.
    pub csrf: String,
    /// SHA-256 of the admin token it was opened with.
    token_hash: [u8; 32],
}

impl Session {
    /// Whether `token` is the one this session was opened with.
    pub fn opened_with(&self, token: &[u8]) -> bool {
        bool::from(self.token_hash.ct_eq(&Sha256::digest(token)[..]))
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// The open sessions, by id, forgotten after [`IDLE`].
#[derive(Debug)]
pub struct Sessions {
    open: moka::sync::Cache<String, Arc<Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        let open = moka::sync::Cache::builder()
            .max_capacity(MAX_SESSIONS)
            .time_to_idle(IDLE)
            .build();
        Self { open }
    }
}

impl Sessions {
    /// A new session for `token`; returns its id.
    pub fn open(&self, token: &[u8]) -> (String, Arc<Session>) {
        let session = Arc::new(Session {
            csrf: random_hex(),
            token_hash: Sha256::digest(token).into(),
        });
        let id = random_hex();
        self.open.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session with `id`, if open.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.open.get(id)
    }

    /// Ends the session with `id`.
    pub fn close(&self, id: &str) {
        self.open.invalidate(id);
    }
}

/// 244 random bits as 64 hex digits: two UUIDv4, whose bits come from the
/// operating system's CSPRNG (seeding `rand`'s ChaCha with `fast-rng`).
fn random_hex() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{}{}", a.simple(), b.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_knows_its_token_and_its_csrf_token() {
        let sessions = Sessions::default();
        let (id, session) = sessions.open(b"token-one");
        assert_eq!(id.len(), 64);
        assert!(sessions.get(&id).unwrap().opened_with(b"token-one"));
        assert!(!session.opened_with(b"token-two"));
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches(""));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }
}
