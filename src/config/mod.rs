//! Loading `routes.toml`: path → text → parse → interpolate → validate.
//!
//! Each step is a plain function so tests drive it from strings; [`load`]
//! chains them for a file on disk.

mod admin;
mod destinations;
pub mod interpolate;
mod limits;
mod log;
mod networks;
mod pacing;
mod queue;
#[cfg(test)]
mod reference_tests;
pub mod schema;
mod secrets;
mod server;
mod signature;
mod store;
mod telemetry;
mod validate;
mod vars;

#[cfg(test)]
mod destination_tests;
#[cfg(test)]
mod signature_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use sha2::{Digest, Sha256};

pub use admin::{AdminListen, DEFAULT_ADMIN_LISTEN};
pub use limits::{ConnectionSettings, UnverifiedSettings};
pub use log::{DEFAULT_MAX_EVENTS, DEFAULT_RETENTION};
pub use schema::Environment;
pub use server::{AdminSettings, ServerSettings};
pub use store::{StoreBackend, StoreSettings};
pub use telemetry::{OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, TelemetrySettings};
pub use vars::{ENV_PREFIX, Vars};

use crate::routes::RouteTable;

/// A whole, valid configuration.
#[derive(Debug)]
pub struct Config {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[routes.*]`.
    pub routes: RouteTable,
    /// `[telemetry]`: read at start only.
    pub telemetry: TelemetrySettings,
    /// The first 12 hex digits of the file's SHA-256, to tell versions apart.
    pub content_hash: String,
    /// What is valid but risky (a weak signature algorithm), for `check` and the log.
    pub warnings: Vec<Problem>,
}

impl Config {
    /// No routes: the placeholder before the first snapshot.
    pub fn empty() -> Self {
        let raw = schema::RawConfig::default();
        let valid = validate::validate(&raw).expect("the empty config is valid");
        Self {
            server: valid.server,
            routes: valid.routes,
            telemetry: TelemetrySettings::default(),
            content_hash: String::new(),
            warnings: Vec::new(),
        }
    }
}

/// One thing wrong with the configuration, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The route it concerns, if any.
    pub route: Option<String>,
    /// The key, relative to the route when there is one, e.g. `signature.secret`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(route) = &self.route {
            write!(f, "route `{route}`, ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the config: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", invalid_message(file, problems))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
        /// What the file would be warned of besides.
        warnings: Vec<Problem>,
    },
}

fn invalid_message(file: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| format!("{}: {problem}", file.display()))
        .collect();
    lines.join("\n")
}

/// Reads and validates the file at `path` with `vars` for `${VAR}` and
/// `HOOKGATE_*` overrides.
pub fn load(path: &Path, vars: &Vars) -> Result<Config, ConfigError> {
    from_text(&read(path)?, path, vars)
}

/// Reads the file at `path` for documentation only (`hookgate openapi`):
/// secrets may be absent, as in development. Never serve with the result.
pub fn load_for_docs(path: &Path, vars: &Vars) -> Result<Config, ConfigError> {
    build(&read(path)?, path, vars, true)
}

/// The `[store]` of the file at `path`, for `hookgate queue`: read as for
/// documentation, so secrets need not be set.
pub fn store_settings(path: &Path, vars: &Vars) -> Result<StoreSettings, ConfigError> {
    Ok(load_for_docs(path, vars)?.server.store)
}

/// The text of the file at `path`.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Parses, interpolates and validates `text`, read from `file`.
pub fn from_text(text: &str, file: &Path, vars: &Vars) -> Result<Config, ConfigError> {
    build(text, file, vars, false)
}

fn build(text: &str, file: &Path, vars: &Vars, for_docs: bool) -> Result<Config, ConfigError> {
    let invalid_with = |problems, warnings| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems,
        warnings,
    };
    let invalid = |problems| invalid_with(problems, Vec::new());
    let lookup = |var: &str| vars.get(var).map(str::to_string);
    let mut tree = parse(text, vars, for_docs).map_err(invalid)?;
    let development = is_development(&tree, &lookup);
    let unset = interpolate::expand(&mut tree, &lookup, &|path| {
        (development && is_signature_secret(path)) || is_admin_token(path)
    });
    let mut problems: Vec<Problem> = unset.iter().map(unset_problem).collect();
    let raw = Figment::from(Serialized::defaults(tree))
        .extract::<schema::RawConfig>()
        .map_err(|e| {
            problems.extend(figment_problems(e));
            invalid(problems.clone())
        })?;
    // Every problem at once; a field whose variable is unset is reported once, as unset.
    let valid = validate::validate(&raw);
    let found = valid.as_ref().err().into_iter().flat_map(|r| &r.problems);
    let shadowed = |p: &Problem| unset_problems_cover(&problems, p);
    let more: Vec<Problem> = found.filter(|p| !shadowed(p)).cloned().collect();
    problems.extend(more);
    let telemetry = telemetry::telemetry_settings(&raw.telemetry, vars)
        .map_err(|found| problems.extend(found))
        .ok();
    match (valid, telemetry) {
        (Ok(mut valid), Some(telemetry)) if problems.is_empty() => {
            store::place_in_state_directory(&mut valid.server.store, vars);
            Ok(Config {
                server: valid.server,
                routes: valid.routes,
                telemetry,
                content_hash: content_hash(text),
                warnings: valid.warnings,
            })
        }
        (Ok(valid), _) => Err(invalid_with(problems, valid.warnings)),
        (Err(refused), _) => Err(invalid_with(problems, refused.warnings)),
    }
}

/// Whether an unset-variable problem already stands for `problem`'s field.
fn unset_problems_cover(unset: &[Problem], problem: &Problem) -> bool {
    unset.iter().any(|u| {
        u.route == problem.route
            && (problem.field == u.field || problem.field.starts_with(&format!("{}.", u.field)))
    })
}

/// The TOML text merged with `HOOKGATE_*` overrides, as an untyped tree;
/// `for_docs` forces development so that secrets may be absent.
fn parse(text: &str, vars: &Vars, for_docs: bool) -> Result<Value, Vec<Problem>> {
    let mut figment = Figment::from(Toml::string(text));
    for (path, value) in vars.overrides() {
        figment = figment.merge(Serialized::default(&path, value));
    }
    if for_docs {
        figment = figment.merge(Serialized::default("server.environment", "development"));
    }
    figment.extract::<Value>().map_err(figment_problems)
}

fn is_development(tree: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    let Some(text) = tree.find_ref("server.environment").and_then(Value::as_str) else {
        return false;
    };
    let expanded = shellexpand::env_with_context_no_errors(text, |var| lookup(var));
    expanded == "development"
}

fn is_signature_secret(path: &[String]) -> bool {
    matches!(path, [routes, _, signature, key, ..]
        if routes == "routes"
            && signature == "signature"
            && matches!(key.as_str(), "secret" | "secrets" | "secret_file"))
}

/// An unset admin token leaves the admin API off rather than failing the file.
fn is_admin_token(path: &[String]) -> bool {
    path == ["admin", "token"]
}

fn unset_problem(unset: &interpolate::Unset) -> Problem {
    let mut problem = located(&unset.path);
    problem.message = if unset.var.is_empty() {
        "`${` without its closing `}`".to_string()
    } else {
        format!(
            "environment variable `{}` is not set and has no default",
            unset.var
        )
    };
    problem
}

fn figment_problems(error: figment::Error) -> Vec<Problem> {
    error
        .into_iter()
        .map(|e| {
            let mut problem = located(&e.path);
            problem.message = kind_message(&e.kind);
            problem
        })
        .collect()
}

/// figment's message, less the offending value: after interpolation that
/// value may be a secret (`secrets = "${SECRET}"` where a list is expected).
fn kind_message(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!(
                "invalid type: found {}, expected {expected}",
                type_of(actual)
            )
        }
        Kind::InvalidValue(actual, expected) => {
            format!(
                "invalid value: found {}, expected {expected}",
                type_of(actual)
            )
        }
        Kind::Unsupported(actual) => format!("unsupported type: {}", type_of(actual)),
        other => without_source_lines(&other.to_string()),
    }
}

/// A parser's message without the lines that quote the file: the quoted
/// line may hold a secret. Line and column stay, with what is wrong.
fn without_source_lines(message: &str) -> String {
    let quoted = |line: &str| {
        let line = line.trim_start();
        let number = line.trim_start_matches(|c: char| c.is_ascii_digit());
        number.trim_start().starts_with('|')
    };
    let kept: Vec<&str> = (message.lines())
        .filter(|line| !line.trim().is_empty() && !quoted(line))
        .collect();
    kept.join("; ")
}

fn type_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}

/// A problem whose route and field come from a key path like `routes.a.downstream`.
fn located(path: &[String]) -> Problem {
    let (route, field) = match path {
        [routes, name, rest @ ..] if routes == "routes" => (Some(name.clone()), rest.join(".")),
        other => (None, other.join(".")),
    };
    Problem {
        route,
        field,
        message: String::new(),
    }
}

/// The first 12 hex digits of the SHA-256 of `text`.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..6])
}
