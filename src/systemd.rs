//! Telling systemd what the gateway is doing (`Type=notify`): `READY=1` once
//! it listens with its config loaded, `RELOADING=1` then `READY=1` around
//! each reload, `STOPPING=1` on shutdown. A gateway that systemd did not
//! start (no `NOTIFY_SOCKET`) sends nothing.

use sd_notify::NotifyState;

/// The variable systemd sets to the socket it reads notifications on.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends state changes to systemd, when it asked for them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// A notifier for `socket`, the value of [`NOTIFY_SOCKET`] taken from
    /// the injected environment: tests that inject none notify nothing.
    pub fn new(socket: Option<&str>) -> Self {
        Self {
            enabled: socket.is_some_and(|socket| !socket.is_empty()),
        }
    }

    /// Ready (again), with a one-line status for `systemctl status`.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A reload starts; [`Notifier::ready`] must follow, whatever its outcome.
    pub fn reloading(&self) {
        // systemd ≥ 253 (`Type=notify-reload`) tells this reload from an
        // earlier one by the monotonic clock sent with it, and fails the
        // reload without; older versions ignore the field.
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// Shutdown has begun: in-flight requests are being drained.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        // `notify`, not `notify_and_unset_env`: every later state goes to
        // the same socket.
        if let Err(error) = sd_notify::notify(states) {
            tracing::warn!(%error, "cannot notify systemd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_or_empty_socket_notifies_nothing() {
        assert!(!Notifier::new(None).enabled);
        assert!(!Notifier::new(Some("")).enabled);
        assert!(Notifier::new(Some("/run/systemd/notify")).enabled);
    }
}
