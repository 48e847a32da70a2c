//! Tracing set-up: `RUST_LOG` filter, text or JSON lines, non-blocking
//! stderr; and the OpenTelemetry traces of `[telemetry]` ([`traces`]).

pub mod traces;

pub use traces::{ClientSpan, RequestSpan, Traces, TracesError};

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Keep the guard alive: dropping it flushes
/// and stops the background writer.
pub fn init(format: LogFormat) -> WorkerGuard {
    // The background writer flushes whenever its queue runs dry, so a buffer
    // turns a burst of lines into one write instead of one write per line.
    let buffered = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    // A queue of 16k lines (the default 128k preallocates ~4 MiB); when it is
    // full, lines are dropped rather than requests slowed.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(16 * 1024)
        .finish(buffered);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
    guard
}
