//! One JSON line per measured figure set: what every subcommand prints on
//! stdout and what `lwm2m-bench report` reads back. Metric names carry their
//! unit as a suffix (`_per_s`, `_ms`, `_bytes`, `_cores`) so the report can
//! print them without a schema per scenario.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a line measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The machine's own limit, measured in the same run.
    Reference,
    /// The product under load.
    Scenario,
    /// A scenario whose component has not landed yet: no number on purpose.
    Placeholder,
}

/// One result line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub section: Section,
    /// `udp_echo`, `storm.cluster`, `notify.con`, `rpc.read_1000`...
    pub name: String,
    /// What the run was configured with (devices, rate, deployment...).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The figures, unit in the name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// For placeholders: why there is no number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Line {
    pub fn new(section: Section, name: impl Into<String>) -> Self {
        Line {
            section,
            name: name.into(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            note: None,
        }
    }

    pub fn param(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    pub fn metric(mut self, key: &str, value: f64) -> Self {
        self.metrics.insert(key.to_owned(), value);
        self
    }

    /// Prints the line on stdout (one JSON object per line).
    pub fn emit(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_through_json() {
        let line = Line::new(Section::Scenario, "storm.cluster")
            .param("devices", 10_000)
            .metric("registrations_per_s", 1234.5);
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.contains(r#""section":"scenario""#), "{text}");
        assert!(!text.contains("note"), "no empty note: {text}");
        let back: Line = serde_json::from_str(&text).unwrap();
        assert_eq!(back, line);
    }
}
