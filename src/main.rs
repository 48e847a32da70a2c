//! The `hookgate` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hookgate::cli::Cli::parse();
    hookgate::cli::run(cli)
}
