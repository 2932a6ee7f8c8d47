//! Metrics as CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per event, which
//! CloudWatch Logs turns into metrics of namespace [`NAMESPACE`] without an API call. Dimensions
//! are few and bounded (an artefact kind, a function's role), never an organization or a list.
//!
//! ```
//! trustfn_metrics::Emf::new()
//!     .dim("Kind", "status-list")
//!     .count("Published", 1)
//!     .ms("PublishDuration", 212.0)
//!     .emit();
//! ```

use std::io::Write;

use serde_json::{json, Map, Value};

/// The namespace of every trustfn metric.
pub const NAMESPACE: &str = "trustfn";

/// CloudWatch units the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    /// A plain number (a ratio).
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

/// One EMF event: its dimensions and the metrics it reports.
#[derive(Debug, Default, Clone)]
pub struct Emf {
    dims: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
}

impl Emf {
    pub fn new() -> Emf {
        Emf::default()
    }

    /// A dimension (keep its values few: a kind, never an id).
    pub fn dim(mut self, name: &'static str, value: impl Into<String>) -> Emf {
        self.dims.push((name, value.into()));
        self
    }

    pub fn count(self, name: &'static str, n: u64) -> Emf {
        self.metric(name, n as f64, Unit::Count)
    }

    pub fn ms(self, name: &'static str, ms: f64) -> Emf {
        self.metric(name, ms, Unit::Milliseconds)
    }

    pub fn secs(self, name: &'static str, s: f64) -> Emf {
        self.metric(name, s, Unit::Seconds)
    }

    pub fn ratio(self, name: &'static str, r: f64) -> Emf {
        self.metric(name, r, Unit::None)
    }

    pub fn metric(mut self, name: &'static str, value: f64, unit: Unit) -> Emf {
        if value.is_finite() {
            self.metrics.push((name, value, unit));
        }
        self
    }

    /// The EMF document at `timestamp_ms` (Unix milliseconds).
    pub fn document(&self, timestamp_ms: i64) -> Value {
        let dims: Vec<&str> = self.dims.iter().map(|(k, _)| *k).collect();
        let defs: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dims],
                    "Metrics": defs,
                }],
            }),
        );
        for (k, v) in &self.dims {
            root.insert((*k).into(), json!(v));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root)
    }

    /// Writes the event as one line on stdout (nothing when it holds no metric).
    pub fn emit(self) {
        if self.metrics.is_empty() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let line = self.document(now).to_string();
        // One write per line, so lines of concurrent tasks never interleave.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// A metric dimension value from a display name: `status list` -> `status-list`, `CRL` -> `crl`.
pub fn kind(name: &str) -> String {
    name.to_ascii_lowercase().replace(' ', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_an_emf_document_cloudwatch_reads() {
        let doc = Emf::new()
            .dim("Kind", kind("status list"))
            .count("Published", 1)
            .ms("PublishDuration", 212.5)
            .ratio("HeadroomRatio", f64::NAN)
            .document(1_796_387_088_548);
        assert_eq!(
            doc,
            json!({
                "_aws": {"Timestamp": 1_796_387_088_548i64, "CloudWatchMetrics": [{
                    "Namespace": "trustfn", "Dimensions": [["Kind"]],
                    "Metrics": [{"Name": "Published", "Unit": "Count"},
                                {"Name": "PublishDuration", "Unit": "Milliseconds"}]}]},
                "Kind": "status-list", "Published": 1.0, "PublishDuration": 212.5,
            })
        );
    }
}
