//! The label sets of the `hookgate_*` series: one type per combination,
//! so a series cannot be given a label it does not have.

use prometheus_client::encoding::EncodeLabelSet;

/// `{route}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The route's name.
    pub route: String,
}

/// `{route, outcome}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The route's name.
    pub route: String,
    /// `forwarded`, `downstream_error`, `unauthorized`, ...
    pub outcome: &'static str,
}

/// `{route, result}` of a delivery attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The route's name.
    pub route: String,
    /// `delivered` or `failed`.
    pub result: &'static str,
}

/// `{route, destination}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    /// The route's name.
    pub route: String,
    /// The destination's name (`default` for a route's `downstream`).
    pub destination: String,
}

/// `{route, destination, result}` of a delivery attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationAttemptLabels {
    /// The route's name.
    pub route: String,
    /// The destination's name.
    pub destination: String,
    /// `delivered` or `failed`.
    pub result: &'static str,
}

/// `{route, result}` of a dedupe check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DedupeLabels {
    /// The route's name.
    pub route: String,
    /// `new`, `duplicate`, `in_flight`, `missing_key` or `unavailable`.
    pub result: &'static str,
}

/// `{operation}` of a store operation that failed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreErrorLabel {
    /// What delivery asked of the store: `record`, `read`, `stats` or `sweep`.
    pub operation: &'static str,
}

/// `{result}` of a config reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabel {
    /// `applied`, `unchanged` or `refused`.
    pub result: &'static str,
}

/// `{reason}` a connection was closed by the gateway.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabel {
    /// `header_timeout`, `idle_timeout` or `write_timeout`.
    pub reason: &'static str,
}
