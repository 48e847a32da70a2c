//! The `hookgate` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// Many small allocations per request (headers, bodies, futures): mimalloc
/// serves them faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = hookgate::cli::Cli::parse();
    hookgate::cli::run(cli)
}
