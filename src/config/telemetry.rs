//! `[telemetry]`: where traces are exported (OTLP over HTTP), and as which
//! service. The standard `OTEL_EXPORTER_OTLP_ENDPOINT` and
//! `OTEL_SERVICE_NAME` fill a key the file leaves out; they are read from
//! the injected [`Vars`], like every variable.

use url::Url;

use super::schema::RawTelemetry;
use super::{Problem, Vars};

/// The standard variable of the collector's base URL.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable of the service's name.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const DEFAULT_SERVICE_NAME: &str = "hookgate";
/// Where OTLP/HTTP takes spans, below the collector's base URL.
const TRACES_PATH: &str = "v1/traces";

/// `[telemetry]`, valid. Read at start: a change needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// Where spans are POSTed (the base URL with `/v1/traces`); `None`:
    /// no traces at all.
    pub traces_endpoint: Option<Url>,
    /// The spans' `service.name`.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            traces_endpoint: None,
            service_name: DEFAULT_SERVICE_NAME.to_string(),
        }
    }
}

/// The settings of `raw`, the variables of `vars` filling what it leaves out.
pub(super) fn telemetry_settings(
    raw: &RawTelemetry,
    vars: &Vars,
) -> Result<TelemetrySettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |field: &str, message: String| Problem {
        route: None,
        field: field.to_string(),
        message,
    };
    let from_env = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty());
    let endpoint = match (&raw.otlp_endpoint, from_env(OTEL_EXPORTER_OTLP_ENDPOINT)) {
        (Some(text), _) => traces_endpoint(text)
            .map_err(|m| problems.push(problem("telemetry.otlp_endpoint", m)))
            .ok(),
        (None, Some(text)) => traces_endpoint(text)
            .map_err(|m| {
                let message = format!("from {OTEL_EXPORTER_OTLP_ENDPOINT}: {m}");
                problems.push(problem("telemetry.otlp_endpoint", message))
            })
            .ok(),
        (None, None) => Some(None),
    };
    let name = (raw.service_name.as_deref())
        .or_else(|| from_env(OTEL_SERVICE_NAME))
        .unwrap_or(DEFAULT_SERVICE_NAME);
    if name.trim().is_empty() {
        problems.push(problem(
            "telemetry.service_name",
            "must not be empty".into(),
        ));
    }
    match endpoint {
        Some(traces_endpoint) if problems.is_empty() => Ok(TelemetrySettings {
            traces_endpoint,
            service_name: name.to_string(),
        }),
        _ => Err(problems),
    }
}

/// The spans' URL below the base URL `text`, or why it is refused. An
/// empty value turns traces off, as an unset one does.
fn traces_endpoint(text: &str) -> Result<Option<Url>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` must be an http:// or https:// URL"));
    }
    // A password here would be printed wherever the URL is.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not accepted".into());
    }
    if url.query().is_some() {
        return Err(format!("`{text}` must not have a query"));
    }
    let base = url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{TRACES_PATH}"))
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(file: Option<&str>, vars: &[(&str, &str)]) -> Result<TelemetrySettings, String> {
        let raw = RawTelemetry {
            otlp_endpoint: file.map(str::to_string),
            service_name: None,
        };
        let vars: Vars = vars.iter().copied().collect();
        telemetry_settings(&raw, &vars).map_err(|p| format!("{p:?}"))
    }

    fn endpoint(settings: TelemetrySettings) -> Option<String> {
        settings.traces_endpoint.map(String::from)
    }

    #[test]
    fn no_endpoint_anywhere_means_no_traces() {
        let settings = settings(None, &[]).unwrap();
        assert_eq!(settings, TelemetrySettings::default());
    }

    #[test]
    fn the_base_url_gets_the_traces_path() {
        for base in ["http://127.0.0.1:4318", "http://127.0.0.1:4318/"] {
            let url = endpoint(settings(Some(base), &[]).unwrap());
            assert_eq!(url.as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        }
        let url = endpoint(settings(Some("https://otel.example/p"), &[]).unwrap());
        assert_eq!(url.as_deref(), Some("https://otel.example/p/v1/traces"));
    }

    #[test]
    fn the_standard_variables_fill_what_the_file_leaves_out() {
        let vars = [
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
            (OTEL_SERVICE_NAME, "gateway-eu"),
        ];
        let settings = settings(None, &vars).unwrap();
        assert_eq!(settings.service_name, "gateway-eu");
        let url = endpoint(settings);
        assert_eq!(url.as_deref(), Some("http://collector:4318/v1/traces"));
    }

    #[test]
    fn the_file_wins_over_the_variable() {
        let vars = [(OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318")];
        let url = endpoint(settings(Some("http://127.0.0.1:4318"), &vars).unwrap());
        assert_eq!(url.as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
    }

    #[test]
    fn a_bad_endpoint_is_refused_with_its_field_and_source_named() {
        for bad in [
            "127.0.0.1:4318",
            "ftp://x",
            "http://u:p@x:4318",
            "http://x?k=v",
        ] {
            let error = settings(Some(bad), &[]).unwrap_err();
            assert!(error.contains("telemetry.otlp_endpoint"), "{bad}: {error}");
        }
        let vars = [(OTEL_EXPORTER_OTLP_ENDPOINT, "nope")];
        let error = settings(None, &vars).unwrap_err();
        assert!(error.contains(OTEL_EXPORTER_OTLP_ENDPOINT), "{error}");
    }
}

#[cfg(test)]
mod file_tests {
    use std::path::Path;

    use crate::config::{Vars, from_text};

    #[test]
    fn a_bad_endpoint_in_the_file_is_refused_with_the_file_and_field_named() {
        let text = "[telemetry]\notlp_endpoint = \"localhost:4318\"\n";

        let error = from_text(text, Path::new("routes.toml"), &Vars::default()).unwrap_err();

        let message = error.to_string();
        assert!(
            message.starts_with("routes.toml: field `telemetry.otlp_endpoint`: "),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_telemetry_key_is_refused() {
        let text = "[telemetry]\nendpoint = \"http://127.0.0.1:4318\"\n";

        let error = from_text(text, Path::new("routes.toml"), &Vars::default()).unwrap_err();

        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn the_standard_variables_come_from_the_injected_environment() {
        let vars: Vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]
            .into_iter()
            .collect();

        let config = from_text("", Path::new("routes.toml"), &vars).unwrap();

        let endpoint = config.telemetry.traces_endpoint.map(String::from);
        assert_eq!(endpoint.as_deref(), Some("http://collector:4318/v1/traces"));
    }
}
