//! `Type=notify` as systemd sees it: the test binds the notification socket
//! systemd would, hands it over in `NOTIFY_SOCKET` and reads what arrives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::*;

use crate::process::{Gateway, hookgate, write_config};

/// The socket systemd reads notifications on, in a directory of its own
/// (not the config's, which the gateway watches).
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        Self {
            socket,
            path,
            _dir: dir,
        }
    }

    /// The next notification's `KEY=value` lines; fails the test when none
    /// arrives within [`PATIENCE`].
    fn next(&self) -> Vec<String> {
        let mut buffer = [0; 4096];
        let length = (self.socket.recv(&mut buffer))
            .unwrap_or_else(|e| panic!("no notification within {PATIENCE:?}: {e}"));
        let text = String::from_utf8(buffer[..length].to_vec()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// Waits for the next notification and checks it holds `state` (`READY=1`).
    fn expect(&self, state: &str) -> Vec<String> {
        let notification = self.next();
        assert!(
            notification.iter().any(|line| line == state),
            "expected {state}, got {notification:?}"
        );
        notification
    }
}

/// `hookgate serve` on a chatwoot config in `dir`, notifying `socket`.
fn serve_notifying(dir: &tempfile::TempDir, socket: &NotifySocket) -> (Gateway, PathBuf) {
    let config = write_config(dir, &chatwoot_config("http://127.0.0.1:9/hook", ""));
    let child = hookgate()
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket.path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Gateway(child), config)
}

fn signal(gateway: &Gateway, name: &str) {
    let pid = gateway.id().to_string();
    let sent = Command::new("kill").args([name, &pid]).status().unwrap();
    assert!(sent.success());
}

/// The `STATUS=` line's value.
fn status(notification: &[String]) -> &str {
    (notification.iter())
        .find_map(|line| line.strip_prefix("STATUS="))
        .unwrap_or_else(|| panic!("no STATUS in {notification:?}"))
}

/// The answer to `GET /healthz` over a single connection, without retries.
fn healthz(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the port accepts");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn ready_is_sent_once_the_port_accepts_with_the_config_loaded() {
    let socket = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, _) = serve_notifying(&dir, &socket);

    let ready = socket.expect("READY=1");

    // The address comes from READY itself: it is bound by then, and one
    // connection, made at once, is answered with the config's routes.
    let status = status(&ready);
    let addr = (status.strip_prefix("listening on "))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {status:?}"));
    let answer = healthz(addr);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(status.contains("1 routes"), "{status}");
}

#[test]
fn a_sighup_is_announced_as_reloading_then_ready() {
    let socket = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _) = serve_notifying(&dir, &socket);
    socket.expect("READY=1");

    signal(&gateway, "-HUP");

    let reloading = socket.expect("RELOADING=1");
    // systemd ≥ 253 fails a reload announced without the monotonic clock.
    assert!(
        reloading.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let ready = socket.expect("READY=1");
    assert!(status(&ready).starts_with("serving config"), "{ready:?}");
}

#[test]
fn a_refused_file_still_ends_its_reload_with_ready() {
    let socket = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, config) = serve_notifying(&dir, &socket);
    socket.expect("READY=1");

    write_invalid(&config);

    socket.expect("RELOADING=1");
    let ready = socket.expect("READY=1");
    assert!(status(&ready).contains("refused"), "{ready:?}");
}

/// Rewrites the config with a route missing its downstream.
fn write_invalid(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let broken: String = (text.lines())
        .filter(|line| !line.starts_with("downstream"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(config, broken).unwrap();
}

#[test]
fn sigterm_is_announced_as_stopping() {
    let socket = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let (mut gateway, _) = serve_notifying(&dir, &socket);
    socket.expect("READY=1");

    signal(&gateway, "-TERM");

    socket.expect("STOPPING=1");
    let exit = gateway.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}
