//! The `hookgate` command line: `serve` (the default), `check`, `openapi`,
//! `sign`, `queue`, `events`, `completions`, `man`.

mod check;
mod events;
mod generate;
pub mod paths;
mod queue;
mod replay;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Vars};
use crate::server::Application;
use crate::signature::Verifier;
use crate::sqlite_memory;
use crate::telemetry::{self, LogFormat};

/// `hookgate --version`: the version and the commit built (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HOOKGATE_GIT_COMMIT"),
    ")"
);

/// An inbound webhook gateway.
#[derive(Debug, Parser)]
#[command(name = "hookgate", version = VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (what a bare `hookgate` does).
    Serve(ConfigArg),
    /// Validate the config like `nginx -t`: print the routes, or every error.
    Check(ConfigArg),
    /// Print the OpenAPI spec generated from the config (secrets not needed).
    Openapi {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: SpecFormat,
    },
    /// Print the headers a route's source would send for a body (for a
    /// token in the query, the `?name=value` to add to the route's URL).
    Sign {
        /// The route's name, as in `[routes.NAME]`.
        #[arg(long)]
        route: String,
        #[command(flatten)]
        config: ConfigArg,
        /// The body: a file, or `-` / nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Inspect and repair a route's stored events, working on the store directly.
    Queue {
        #[command(subcommand)]
        action: queue::Action,
    },
    /// Read the event log: every request and delivery attempt, from its file.
    Events {
        #[command(subcommand)]
        action: events::Action,
    },
    /// Print the shell completion script for SHELL.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `hookgate man | man -l -`.
    Man {
        /// Write `hookgate.1` and a page per subcommand into this directory instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SpecFormat {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Args)]
struct ConfigArg {
    /// The routes file [default: config/routes.toml in the working directory
    /// when it exists, else /etc/hookgate/routes.toml].
    #[arg(
        long,
        env = "HOOKGATE_CONFIG",
        default_value_os_t = paths::default_config(),
        hide_default_value = true
    )]
    config: PathBuf,
}

impl Default for ConfigArg {
    fn default() -> Self {
        Self {
            config: std::env::var_os("HOOKGATE_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(paths::default_config),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None => serve(ConfigArg::default(), cli.log_format),
        Some(Command::Serve(arg)) => serve(arg, cli.log_format),
        Some(Command::Check(arg)) => check::check(&arg.config),
        Some(Command::Openapi { config, format }) => openapi(&config.config, format),
        Some(Command::Sign {
            route,
            config,
            file,
        }) => sign(&config.config, &route, file.as_deref()),
        Some(Command::Queue { action }) => queue::run(action),
        Some(Command::Events { action }) => events::run(action),
        Some(Command::Completions { shell }) => {
            generate::completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Some(Command::Man { out_dir }) => man(out_dir.as_deref()),
    }
}

fn man(out_dir: Option<&Path>) -> ExitCode {
    let written = match out_dir {
        None => generate::man(&mut std::io::stdout()),
        Some(dir) => generate::man_pages(dir).map(|pages| {
            for page in pages {
                println!("{}", page.display());
            }
        }),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cannot write the man page: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(arg: ConfigArg, log_format: LogFormat) -> ExitCode {
    let _guard = telemetry::init(log_format);
    if let Err(error) = sqlite_memory::limit() {
        tracing::warn!(%error, "SQLite's memory is not limited");
    }
    // The control plane (signals, reloads, admin listener); requests run on
    // the workers' own runtimes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let result = runtime.block_on(async {
        let app = Application::build(arg.config, Vars::process()).await?;
        let shutdown = CancellationToken::new();
        // Hooked now, not when the task first runs: READY=1 may go out
        // before it does, and a SIGTERM then must not find the default action.
        let signals = ShutdownSignals::hook()?;
        tokio::spawn(signals.cancel(shutdown.clone()));
        app.run_until_stopped(shutdown).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT, hooked.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn hook() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Cancels `shutdown` on the first of them.
    async fn cancel(mut self, shutdown: CancellationToken) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.cancel();
    }
}

fn openapi(path: &Path, format: SpecFormat) -> ExitCode {
    match config::load_for_docs(path, &Vars::process()) {
        Ok(config) => {
            let document = crate::server::openapi::document(&config.routes);
            match format {
                SpecFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&document).expect("JSON"))
                }
                SpecFormat::Yaml => print!("{}", crate::server::openapi::to_yaml(&document)),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn sign(path: &Path, name: &str, file: Option<&Path>) -> ExitCode {
    let result = (|| {
        let config = config::load(path, &Vars::process()).map_err(|e| e.to_string())?;
        let route = config
            .routes
            .by_name(name)
            .ok_or_else(|| format!("{}: no route named `{name}`", path.display()))?;
        if !route.verifier.has_secret() {
            return Err(format!("route `{name}` has no secret to sign with"));
        }
        // A token covers no body: none is waited for on stdin.
        let body = match route.verifier {
            Verifier::Token(_) => Vec::new(),
            _ => read_body(file).map_err(|e| format!("cannot read the body: {e}"))?,
        };
        for (header, value) in route.verifier.sign(&body, SystemTime::now()) {
            println!("{header}: {value}");
        }
        if let Some(query) = route.verifier.sign_query() {
            println!("?{query}");
            eprintln!(
                "route `{name}` takes its token in the query: append the line above to {}",
                route.path
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn read_body(file: Option<&Path>) -> std::io::Result<Vec<u8>> {
    match file {
        Some(path) if path != Path::new("-") => std::fs::read(path),
        _ => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            Ok(body)
        }
    }
}
