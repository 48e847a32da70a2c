//! A Redis of a test's own, on a free port, to kill and bring back: the
//! shared one on 127.0.0.1:6379 stays up for every other test.

use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::eventually::eventually;

/// A `redis-server` child process without persistence.
pub struct ThrowawayRedis {
    port: u16,
    server: Option<Child>,
}

impl ThrowawayRedis {
    /// Starts one once it answers `PING`; `None` (a skip, or a failure when
    /// HOOKGATE_REQUIRE_REDIS is set) when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        let port = free_port();
        let Some(server) = spawn(port) else {
            let required = std::env::var_os("HOOKGATE_REQUIRE_REDIS").is_some();
            assert!(
                !required,
                "Redis is required here but redis-server is not installed"
            );
            eprintln!("skipping: redis-server is not installed");
            return None;
        };
        let redis = Self {
            port,
            server: Some(server),
        };
        redis.wait_until_it_answers().await;
        Some(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as an outage: connections drop, new ones are refused (a
    /// paused one too).
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill().expect("redis-server can be killed");
            server.wait().expect("redis-server is reaped");
        }
    }

    /// SIGSTOP, as a Redis that hangs: connections stay open, nothing answers.
    pub fn pause(&self) {
        let server = self.server.as_ref().expect("redis-server is running");
        let stopped = Command::new("kill")
            .args(["-STOP", &server.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success(), "redis-server can be stopped");
    }

    /// Starts it again on the same port (empty) and returns once it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.server = Some(spawn(self.port).expect("redis-server starts again"));
        self.wait_until_it_answers().await;
    }

    async fn wait_until_it_answers(&self) {
        let what = format!("redis-server on port {} answers PING", self.port);
        eventually(what, || pong(self.port)).await;
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn spawn(port: u16) -> Option<Child> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

async fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").await.is_ok()
        && stream.read_exact(&mut answer).await.is_ok()
        && &answer == b"+PONG\r\n"
}
