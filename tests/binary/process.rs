//! The `hookgate` binary as a child process, in an environment of the
//! test's choosing: `hookgate serve` started with JSON logs, its bound
//! addresses (public and admin) read from the `listening` line.

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// `hookgate` without any `HOOKGATE_*` variable of this process, nor
/// systemd's (a test run from a unit would otherwise notify it): the child
/// sees only those a test sets on purpose (with `.env`, after this), and
/// [`ADMIN_ON_PORT_0`].
pub fn hookgate() -> Command {
    without_our_variables(Command::new(BIN))
}

/// `hookgate` run by `sh` under `ulimit -n fd_limit` (soft and hard).
pub fn hookgate_with_fd_limit(fd_limit: u32) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {fd_limit} && exec \"$0\" \"$@\""))
        .arg(BIN);
    without_our_variables(command)
}

fn without_our_variables(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"HOOKGATE_") {
            command.env_remove(name);
        }
    }
    for name in SYSTEMD_VARIABLES {
        command.env_remove(name);
    }
    let (name, value) = ADMIN_ON_PORT_0;
    command.env(name, value);
    command
}

/// The admin API on a port the system picks: its default, 127.0.0.1:9180,
/// would be shared by the gateways of tests running at once. Its address
/// is read from the `listening` line.
pub const ADMIN_ON_PORT_0: (&str, &str) = ("HOOKGATE_ADMIN__LISTEN", "127.0.0.1:0");

/// What systemd sets for a unit that the gateway reads.
const SYSTEMD_VARIABLES: [&str; 2] = ["NOTIFY_SOCKET", "STATE_DIRECTORY"];

/// Writes `text` to `routes.toml` in `dir`.
pub fn write_config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("routes.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `hookgate serve`, killed when dropped so that a failing test
/// leaves no gateway behind.
pub struct Gateway(pub Child);

impl Deref for Gateway {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Gateway {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Errors only say that it has exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hookgate serve` with JSON logs and returns it with its bound address.
pub fn serve(config: &Path) -> (Gateway, String) {
    let (child, addr, _logs) = serve_with_logs(config);
    (child, addr)
}

/// Like [`serve`], also handing over every later log line, parsed.
pub fn serve_with_logs(config: &Path) -> (Gateway, String, mpsc::Receiver<Value>) {
    serve_by(hookgate(), config)
}

/// Starts `command` (a [`hookgate`]) serving `config`, as [`serve_with_logs`].
pub fn serve_by(command: Command, config: &Path) -> (Gateway, String, mpsc::Receiver<Value>) {
    let (child, listening, logs) = serve_listening(command, config);
    (child, listening.addr, logs)
}

/// Where a started gateway listens, as its `listening` line says.
pub struct Listening {
    /// The public listener's `ip:port`.
    pub addr: String,
    /// The admin API's own `ip:port`, or `public` when served on the public one.
    pub admin_addr: String,
}

/// Starts `command` (a [`hookgate`]) serving `config`, as [`serve_by`], with
/// the admin API's address too.
pub fn serve_listening(
    mut command: Command,
    config: &Path,
) -> (Gateway, Listening, mpsc::Receiver<Value>) {
    let child = command
        .args(["serve", "--log-format", "json", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Gateway(child);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = loop {
        let line = lines
            .next()
            .expect("the gateway logs until it listens")
            .unwrap();
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        if entry["fields"]["message"] == "listening" {
            let field = |name: &str| entry["fields"][name].as_str().unwrap().to_string();
            break Listening {
                addr: field("addr"),
                admin_addr: field("admin_addr"),
            };
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    let (sender, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
            let _ = sender.send(entry);
        }
    });
    (child, listening, logs)
}
