//! Turns the JSON lines of one run into the results file and its Markdown
//! table: every product figure that has a reference gets a ratio to it,
//! because absolute numbers on a shared two-core machine drift from run to
//! run while ratios to the machine's own limit measured in the same run
//! drift much less.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::record::{Line, Section};

/// Which reference figure a product metric is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatioRule {
    pub metric: &'static str,
    pub reference: &'static str,
    pub reference_metric: &'static str,
}

const fn rule(
    metric: &'static str,
    reference: &'static str,
    reference_metric: &'static str,
) -> RatioRule {
    RatioRule {
        metric,
        reference,
        reference_metric,
    }
}

/// Throughput divided by the UDP echo's packet rate (a fraction of what
/// the box can move), latency by the echo's round trip (how many round
/// trips a request costs), Kafka throughput by the bare producer's, memory
/// by the bytes a device's Register puts on the wire.
pub const RULES: [RatioRule; 10] = [
    rule("registrations_per_s", "udp_echo", "packets_per_s"),
    rule("notifications_per_s", "udp_echo", "packets_per_s"),
    rule("notifications_per_core_s", "udp_echo", "packets_per_core_s"),
    rule("kafka_records_per_s", "kafka_produce", "records_per_s"),
    rule("latency_p50_ms", "udp_echo", "rtt_p50_ms"),
    rule("latency_p99_ms", "udp_echo", "rtt_p99_ms"),
    rule("latency_p999_ms", "udp_echo", "rtt_p999_ms"),
    rule("reads_per_s", "udp_echo", "packets_per_s"),
    rule("rss_per_device_bytes", "device_state", "register_bytes"),
    rule("redis_bytes_per_session", "device_state", "register_bytes"),
];

/// A product figure divided by its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// `udp_echo.packets_per_s`.
    pub reference: String,
    pub value: f64,
}

/// A line as written to the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedLine {
    #[serde(flatten)]
    pub line: Line,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ratios: BTreeMap<String, Ratio>,
}

/// The machine and the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub date: String,
    pub git_sha: String,
    /// `make bench` or `make bench-large`.
    pub profile: String,
    pub cores: usize,
    pub load_average_start: String,
    pub load_average_end: String,
}

/// The results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub meta: Meta,
    pub results: Vec<ReportedLine>,
    /// `crates/lwm2m-core/benches/codecs.rs` lines, as printed.
    pub codecs: Vec<serde_json::Value>,
}

/// Attaches ratios to the scenario lines. A reference measured twice
/// (each storm reports `device_state`) is kept once, the last time.
pub fn build(meta: Meta, lines: Vec<Line>, codecs: Vec<serde_json::Value>) -> Report {
    let lines: Vec<Line> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.section != Section::Reference
                || !lines
                    .iter()
                    .skip(i + 1)
                    .any(|later| later.section == Section::Reference && later.name == l.name)
        })
        .map(|(_, l)| l.clone())
        .collect();
    let references: BTreeMap<String, BTreeMap<String, f64>> = lines
        .iter()
        .filter(|l| l.section == Section::Reference)
        .map(|l| (l.name.clone(), l.metrics.clone()))
        .collect();
    let results = lines
        .into_iter()
        .map(|line| {
            let ratios = if line.section == Section::Scenario {
                ratios_of(&line, &references)
            } else {
                BTreeMap::new()
            };
            ReportedLine { line, ratios }
        })
        .collect();
    Report {
        meta,
        results,
        codecs,
    }
}

fn ratios_of(
    line: &Line,
    references: &BTreeMap<String, BTreeMap<String, f64>>,
) -> BTreeMap<String, Ratio> {
    let mut out = BTreeMap::new();
    for (metric, value) in &line.metrics {
        let Some(rule) = RULES.iter().find(|r| r.metric == metric) else {
            continue;
        };
        let reference = references
            .get(rule.reference)
            .and_then(|m| m.get(rule.reference_metric));
        if let Some(reference) = reference.filter(|r| **r > 0.0) {
            out.insert(
                metric.clone(),
                Ratio {
                    reference: format!("{}.{}", rule.reference, rule.reference_metric),
                    value: value / reference,
                },
            );
        }
    }
    out
}

/// A figure with as many digits as it deserves: thousands grouped from
/// 1,000, one decimal from 10, three significant digits below.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let digits = format!("{:.0}", a);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if v < 0.0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a == 0.0 {
        "0".to_owned()
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 9) as usize;
        format!("{v:.decimals$}")
    }
}

/// The Markdown table of a report.
pub fn markdown(report: &Report) -> String {
    let m = &report.meta;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Results {} at {} ({}): {} cores, load average {} at start, {} at end.\n",
        m.date, m.git_sha, m.profile, m.cores, m.load_average_start, m.load_average_end
    );
    let _ = writeln!(out, "| reference | metric | value |\n|---|---|---|");
    for r in report
        .results
        .iter()
        .filter(|r| r.line.section == Section::Reference)
    {
        for (metric, value) in &r.line.metrics {
            let _ = writeln!(
                out,
                "| {} | {metric} | {} |",
                r.line.name,
                format_value(*value)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n| scenario | parameters | metric | value | ratio to reference |\n|---|---|---|---|---|"
    );
    for r in &report.results {
        match r.line.section {
            Section::Reference => {}
            Section::Placeholder => {
                let note = r.line.note.as_deref().unwrap_or("not yet");
                let _ = writeln!(out, "| {} | | | {note} | |", r.line.name);
            }
            Section::Scenario => {
                let params = params_text(&r.line);
                for (metric, value) in &r.line.metrics {
                    let ratio = r
                        .ratios
                        .get(metric)
                        .map(|ratio| format!("{} × {}", format_value(ratio.value), ratio.reference))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "| {} | {params} | {metric} | {} | {ratio} |",
                        r.line.name,
                        format_value(*value)
                    );
                }
            }
        }
    }
    if !report.codecs.is_empty() {
        let _ = writeln!(
            out,
            "\n| codec (content format) | payload bytes | encode ns | decode ns |\n|---|---|---|---|"
        );
        for c in &report.codecs {
            let num = |k: &str| {
                c.get(k)
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(f64::NAN)
            };
            let name = c.get("format").and_then(|v| v.as_str()).unwrap_or("?");
            let _ = writeln!(
                out,
                "| {name} ({}) | {} | {:.0} | {:.0} |",
                num("code"),
                num("payload_bytes"),
                num("encode_ns"),
                num("decode_ns")
            );
        }
    }
    out
}

fn params_text(line: &Line) -> String {
    line.params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            date: "2025-01-01T000000Z".into(),
            git_sha: "abc1234".into(),
            profile: "bench".into(),
            cores: 2,
            load_average_start: "0.10 0.20 0.30".into(),
            load_average_end: "1.00 0.50 0.40".into(),
        }
    }

    fn lines() -> Vec<Line> {
        vec![
            Line::new(Section::Reference, "udp_echo")
                .metric("packets_per_s", 100_000.0)
                .metric("rtt_p50_ms", 0.05),
            Line::new(Section::Scenario, "storm.cluster")
                .param("devices", 10_000)
                .metric("registrations_per_s", 2_500.0)
                .metric("latency_p50_ms", 0.5)
                .metric("errors", 0.0),
            Line::new(Section::Scenario, "notify.con").metric("kafka_records_per_s", 10.0),
            Line {
                note: Some("not yet: its component has not landed".into()),
                ..Line::new(Section::Placeholder, "example.not_landed")
            },
        ]
    }

    #[test]
    fn ratios_divide_by_the_matching_reference() {
        let report = build(meta(), lines(), vec![]);
        let storm = &report.results[1];
        assert_eq!(storm.ratios.len(), 2, "{:?}", storm.ratios);
        let reg = &storm.ratios["registrations_per_s"];
        assert_eq!(reg.reference, "udp_echo.packets_per_s");
        assert!((reg.value - 0.025).abs() < 1e-12);
        assert!((storm.ratios["latency_p50_ms"].value - 10.0).abs() < 1e-9);
        assert!(!storm.ratios.contains_key("errors"), "no rule, no ratio");
        assert!(
            report.results[2].ratios.is_empty(),
            "a missing reference gives no ratio rather than a wrong one"
        );
        assert!(report.results[0].ratios.is_empty(), "references have none");
    }

    #[test]
    fn a_reference_measured_twice_is_reported_once() {
        let mut l = lines();
        l.push(Line::new(Section::Reference, "udp_echo").metric("packets_per_s", 50_000.0));
        let report = build(meta(), l, vec![]);
        let echoes: Vec<_> = report
            .results
            .iter()
            .filter(|r| r.line.name == "udp_echo")
            .collect();
        assert_eq!(echoes.len(), 1);
        assert!((report.results[0].ratios["registrations_per_s"].value - 0.05).abs() < 1e-12);
    }

    #[test]
    fn a_zero_reference_gives_no_ratio() {
        let mut l = lines();
        l[0].metrics.insert("packets_per_s".into(), 0.0);
        let report = build(meta(), l, vec![]);
        assert!(!report.results[1].ratios.contains_key("registrations_per_s"));
    }

    #[test]
    fn values_are_formatted_for_reading() {
        assert_eq!(format_value(1_234_567.4), "1,234,567");
        assert_eq!(format_value(-1234.0), "-1,234");
        assert_eq!(format_value(999.0), "999.0");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(9.991), "9.99");
        assert_eq!(format_value(0.5), "0.500");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(0.0123), "0.0123");
    }

    #[test]
    fn markdown_has_references_ratios_placeholders_and_codecs() {
        let codecs = vec![serde_json::json!({
            "format": "tlv", "code": 11542, "payload_bytes": 40, "encode_ns": 120.4, "decode_ns": 300.0
        })];
        let md = markdown(&build(meta(), lines(), codecs));
        assert!(
            md.contains("2 cores, load average 0.10 0.20 0.30 at start"),
            "{md}"
        );
        assert!(
            md.contains("| udp_echo | packets_per_s | 100,000 |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| storm.cluster | devices=10000 | registrations_per_s | 2,500 | 0.0250 × udp_echo.packets_per_s |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| example.not_landed | | | not yet: its component has not landed | |"),
            "{md}"
        );
        assert!(md.contains("| tlv (11542) | 40 | 120 | 300 |"), "{md}");
    }

    #[test]
    fn the_results_file_round_trips() {
        let report = build(meta(), lines(), vec![serde_json::json!({"format": "tlv"})]);
        let text = serde_json::to_string_pretty(&report).unwrap();
        assert!(text.contains(r#""git_sha": "abc1234""#), "{text}");
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
