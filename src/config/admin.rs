//! `[admin] listen`: where the admin API is served. An operator surface, so
//! by default on loopback, never on the internet-facing listener unless the
//! file says so.

use std::fmt;
use std::net::SocketAddr;

/// The admin API's own address when `[admin] listen` is not set: loopback,
/// reached through an SSH tunnel, `fly proxy` or a private network.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9180";

/// The spelling of "serve the admin API on the public listener".
pub const PUBLIC: &str = "public";

/// Where the admin API (and anything served beside it) listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    /// On a listener of its own, bound at start even while no token is set.
    Own(SocketAddr),
    /// On the public listener, beside the routes (`listen = "public"`).
    Public,
}

impl Default for AdminListen {
    fn default() -> Self {
        Self::Own(DEFAULT_ADMIN_LISTEN.parse().expect("the default parses"))
    }
}

impl AdminListen {
    /// `[admin] listen` as written: absent, `"public"`, or an `ip:port`.
    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(Self::default()),
            Some(PUBLIC) => Ok(Self::Public),
            Some(text) => text
                .parse()
                .map(Self::Own)
                .map_err(|_| format!("`{text}` is neither an ip:port address nor `{PUBLIC}`")),
        }
    }

    /// The address of its own listener; `None` on the public one.
    pub fn own(self) -> Option<SocketAddr> {
        match self {
            Self::Own(addr) => Some(addr),
            Self::Public => None,
        }
    }
}

impl fmt::Display for AdminListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own(addr) => write!(f, "{addr}"),
            Self::Public => f.write_str("the public listener"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_listen_the_admin_api_is_on_loopback_port_9180() {
        let listen = AdminListen::parse(None).unwrap();
        assert_eq!(listen, AdminListen::Own("127.0.0.1:9180".parse().unwrap()));
        assert!(listen.own().unwrap().ip().is_loopback());
    }

    #[test]
    fn public_puts_the_admin_api_on_the_public_listener() {
        assert_eq!(AdminListen::parse(Some("public")), Ok(AdminListen::Public));
        assert_eq!(AdminListen::Public.own(), None);
    }

    #[test]
    fn anything_else_must_be_an_address() {
        let own = AdminListen::parse(Some("10.0.0.5:9180")).unwrap();
        assert_eq!(own.own(), Some("10.0.0.5:9180".parse().unwrap()));
        let err = AdminListen::parse(Some("Public")).unwrap_err();
        assert!(err.contains("`Public` is neither"), "{err}");
    }
}
