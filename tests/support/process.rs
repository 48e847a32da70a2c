//! `hookgate serve` as a child process: started with JSON logs, its bound
//! address read from the `listening` line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hookgate");

/// Starts `hookgate serve` with JSON logs and returns it with its bound address.
pub fn serve(config: &Path) -> (Child, String) {
    let (child, addr, _logs) = serve_with_logs(config);
    (child, addr)
}

/// Like [`serve`], also handing over every later log line, parsed.
pub fn serve_with_logs(config: &Path) -> (Child, String, mpsc::Receiver<Value>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--log-format", "json", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the gateway logs until it listens")
            .unwrap();
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        if entry["fields"]["message"] == "listening" {
            break entry["fields"]["addr"].as_str().unwrap().to_string();
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
    (child, addr, logs)
}
