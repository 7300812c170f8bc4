//! Reading the sections of a rule file (`[rule]`, `[metadata]`, threat, threshold, new_terms,
//! suppression, mappings) into the typed model, with defaults as detection-rules / Kibana apply
//! them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::*;
use super::normalize::cleanup_whitespace;
use super::table::{Cx, Table};
use super::value::{Node, Value};

pub(super) fn read_metadata(cx: &mut Cx<'_>, m: &Table<'_>) -> Metadata {
    let creation_date = slash_date(cx, m, "creation_date");
    let updated_date = slash_date(cx, m, "updated_date");
    Metadata {
        creation_date,
        updated_date,
        integration: m.str_list(cx, "integration").unwrap_or_default(),
        maturity: m.str(cx, "maturity").map(str::to_string),
        raw: to_toml_table(m.map),
    }
}

fn slash_date(cx: &mut Cx<'_>, m: &Table<'_>, key: &str) -> Option<String> {
    let s = m.str(cx, key)?;
    if is_slash_date(s) {
        return Some(s.to_string());
    }
    if let Some(node) = m.get(key) {
        m.wrong(cx, key, node, "a date like 2024/01/31");
    }
    None
}

/// `YYYY/MM/DD` with a plausible month and day (detection-rules `definitions.Date`).
fn is_slash_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'/' || b[7] != b'/' || !digits(0..4) || !digits(5..7) {
        return false;
    }
    if !digits(8..10) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn to_toml_table(map: &BTreeMap<String, Node>) -> toml::Table {
    map.iter()
        .map(|(k, n)| (k.clone(), n.value.to_toml()))
        .collect()
}

pub(super) fn read_rule(cx: &mut Cx<'_>, t: &Table<'_>, metadata: Metadata) -> Option<Rule> {
    let rule_id = t.req_str(cx, "rule_id");
    let rule_id_span = t.get("rule_id").map(|n| n.span);
    let name = t.req_str(cx, "name");
    let description = t.req_str(cx, "description");
    let rule_type = t.req_str(cx, "type").map(RuleType::parse);
    let author = match t.get("author") {
        None => {
            t.missing(cx, "author");
            None
        }
        Some(_) => t.str_list(cx, "author"),
    };
    let severity = req_severity(cx, t);
    let risk_score = if t.get("risk_score").is_none() {
        t.missing(cx, "risk_score");
        None
    } else {
        t.int(cx, "risk_score", 0, 100)
    };
    let language = t.str(cx, "language").map(Language::parse);
    let query = t.str(cx, "query").map(str::to_string);
    let query_token = t.get("query").map(|n| n.span);
    let needs_query = matches!(
        rule_type,
        Some(
            RuleType::Query
                | RuleType::Threshold
                | RuleType::NewTerms
                | RuleType::Eql
                | RuleType::Esql
        )
    );
    if needs_query && query_token.is_none() {
        t.missing(cx, "query");
    }

    let threshold = match (&rule_type, t.table(cx, "threshold")) {
        (_, Some(th)) => read_threshold(cx, &th),
        (Some(RuleType::Threshold), None) if t.get("threshold").is_none() => {
            t.missing(cx, "threshold");
            None
        }
        _ => None,
    };
    let new_terms = match (&rule_type, t.table(cx, "new_terms")) {
        (_, Some(nt)) => read_new_terms(cx, &nt),
        (Some(RuleType::NewTerms), None) if t.get("new_terms").is_none() => {
            t.missing(cx, "new_terms");
            None
        }
        _ => None,
    };
    let threat = t
        .tables(cx, "threat")
        .map(|entries| entries.iter().filter_map(|e| read_threat(cx, e)).collect())
        .unwrap_or_default();
    let alert_suppression = t
        .table(cx, "alert_suppression")
        .and_then(|s| read_suppression(cx, &s));
    let severity_mapping = t
        .tables(cx, "severity_mapping")
        .map(|es| {
            es.iter()
                .filter_map(|e| read_severity_mapping(cx, e))
                .collect()
        })
        .unwrap_or_default();
    let risk_score_mapping = t
        .tables(cx, "risk_score_mapping")
        .map(|es| {
            es.iter()
                .filter_map(|e| {
                    Some(RiskScoreMapping {
                        field: e.req_str(cx, "field")?.to_string(),
                        operator: e.str(cx, "operator").unwrap_or("equals").to_string(),
                        value: e.str(cx, "value").unwrap_or("").to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let max_signals = t
        .int(cx, "max_signals", 1, i64::from(u32::MAX))
        .map_or(DEFAULT_MAX_SIGNALS, |v| v as u32);
    let toml_version = t.int(cx, "version", 1, i64::from(u32::MAX));

    let index = t.str_list(cx, "index").unwrap_or_default();
    let tags = t.str_list(cx, "tags").unwrap_or_default();
    let references = t.str_list(cx, "references").unwrap_or_default();
    let false_positives = t
        .str_list(cx, "false_positives")
        .unwrap_or_default()
        .iter()
        .map(|s| cleanup_whitespace(s))
        .collect();
    let owned = |v: Option<&str>| v.map(str::to_string);
    let from = owned(t.str(cx, "from")).unwrap_or_else(|| DEFAULT_FROM.to_string());
    let to = owned(t.str(cx, "to")).unwrap_or_else(|| DEFAULT_TO.to_string());
    let interval = owned(t.str(cx, "interval")).unwrap_or_else(|| DEFAULT_INTERVAL.to_string());
    let timestamp_override = owned(t.str(cx, "timestamp_override"));
    let license = owned(t.str(cx, "license"));
    let note = owned(t.str(cx, "note"));
    let setup = owned(t.str(cx, "setup"));
    let building_block_type = owned(t.str(cx, "building_block_type"));
    let rule_name_override = owned(t.str(cx, "rule_name_override"));

    let rule_type = rule_type?;
    let (version, version_source) = match toml_version {
        Some(v) => (v as u32, VersionSource::Toml),
        None => (1, VersionSource::Default),
    };
    Some(Rule {
        path: cx.path.to_path_buf(),
        rule_id: rule_id?.to_string(),
        name: cleanup_whitespace(name?),
        description: cleanup_whitespace(description?),
        language: language.unwrap_or_else(|| rule_type.default_language()),
        rule_type,
        query,
        index,
        from,
        to,
        interval,
        timestamp_override,
        severity: severity?,
        risk_score: risk_score? as u8,
        tags,
        author: author?,
        license,
        references,
        false_positives,
        note,
        setup,
        max_signals,
        building_block_type,
        threat,
        threshold,
        new_terms,
        alert_suppression,
        risk_score_mapping,
        severity_mapping,
        rule_name_override,
        metadata,
        version,
        version_source,
        raw: to_toml_table(t.map),
        modified: None,
        source_text: Arc::from(cx.text),
        query_token,
        rule_id_span,
    })
}

fn read_mitre(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<MitreRef> {
    let id = t.req_str(cx, "id");
    let name = t.req_str(cx, "name");
    let reference = t.req_str(cx, "reference");
    Some(MitreRef {
        id: id?.to_string(),
        name: name?.to_string(),
        reference: reference?.to_string(),
    })
}

fn read_threat(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<Threat> {
    let framework = t.req_str(cx, "framework");
    let tactic = match t.table(cx, "tactic") {
        Some(tt) => read_mitre(cx, &tt),
        None => {
            if t.get("tactic").is_none() {
                t.missing(cx, "tactic");
            }
            None
        }
    };
    let technique = t
        .tables(cx, "technique")
        .map(|ts| {
            ts.iter()
                .filter_map(|tech| {
                    let base = read_mitre(cx, tech);
                    let subtechnique = tech
                        .tables(cx, "subtechnique")
                        .map(|ss| ss.iter().filter_map(|s| read_mitre(cx, s)).collect())
                        .unwrap_or_default();
                    let base = base?;
                    Some(Technique {
                        id: base.id,
                        name: base.name,
                        reference: base.reference,
                        subtechnique,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Threat {
        framework: framework?.to_string(),
        tactic: tactic?,
        technique,
    })
}

fn read_threshold(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<Threshold> {
    let field = match t.get("field") {
        None => Vec::new(),
        Some(node) => match &node.value {
            Value::String(s) if s.is_empty() => Vec::new(),
            Value::String(s) => vec![s.clone()],
            Value::Array(_) => t.str_list(cx, "field")?,
            _ => {
                t.wrong(cx, "field", node, "a string or an array of strings");
                return None;
            }
        },
    };
    if t.get("value").is_none() {
        t.missing(cx, "value");
        return None;
    }
    let value = t.int(cx, "value", 1, i64::MAX)? as u64;
    let cardinality = t
        .tables(cx, "cardinality")
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    let field = c.req_str(cx, "field");
                    let value = if c.get("value").is_none() {
                        c.missing(cx, "value");
                        None
                    } else {
                        c.int(cx, "value", 0, i64::MAX)
                    };
                    Some(ThresholdCardinality {
                        field: field?.to_string(),
                        value: value? as u64,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Threshold {
        field,
        value,
        cardinality,
    })
}

fn read_new_terms(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<NewTerms> {
    let field_name = t.req_str(cx, "field");
    if let (Some(f), Some(node)) = (field_name, t.get("field")) {
        if f != "new_terms_fields" {
            t.wrong(cx, "field", node, "\"new_terms_fields\"");
        }
    }
    let fields = if t.get("value").is_none() {
        t.missing(cx, "value");
        None
    } else {
        t.str_list(cx, "value")
    };
    let history = match t.get("history_window_start") {
        None => {
            t.missing(cx, "history_window_start");
            None
        }
        Some(node) => match &node.value {
            // Also accept the plain Kibana form `history_window_start = "now-14d"`.
            Value::String(s) => Some(s.clone()),
            _ => t.tables(cx, "history_window_start").and_then(|hs| {
                let first = hs.first()?;
                first.req_str(cx, "value").map(str::to_string)
            }),
        },
    };
    Some(NewTerms {
        fields: fields?,
        history_window_start: history?,
    })
}

fn read_suppression(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<AlertSuppression> {
    let group_by = t.str_list(cx, "group_by").unwrap_or_default();
    let duration = t.table(cx, "duration").and_then(|d| {
        let value = if d.get("value").is_none() {
            d.missing(cx, "value");
            None
        } else {
            d.int(cx, "value", 1, i64::MAX)
        };
        let unit = match d.req_str(cx, "unit") {
            Some("s") => Some(DurationUnit::Seconds),
            Some("m") => Some(DurationUnit::Minutes),
            Some("h") => Some(DurationUnit::Hours),
            Some(_) => {
                if let Some(node) = d.get("unit") {
                    d.wrong(cx, "unit", node, "one of s, m, h");
                }
                None
            }
            None => None,
        };
        Some(SuppressionDuration {
            value: value? as u64,
            unit: unit?,
        })
    });
    let strategy = match t.str(cx, "missing_fields_strategy") {
        None | Some("suppress") => MissingFieldsStrategy::Suppress,
        Some("doNotSuppress") => MissingFieldsStrategy::DoNotSuppress,
        Some(_) => {
            if let Some(node) = t.get("missing_fields_strategy") {
                t.wrong(
                    cx,
                    "missing_fields_strategy",
                    node,
                    "one of suppress, doNotSuppress",
                );
            }
            MissingFieldsStrategy::Suppress
        }
    };
    Some(AlertSuppression {
        group_by,
        duration,
        missing_fields_strategy: strategy,
    })
}

/// The required `severity` key: one of low, medium, high, critical.
fn req_severity(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<Severity> {
    let Some(node) = t.get("severity") else {
        t.missing(cx, "severity");
        return None;
    };
    let parsed = match &node.value {
        Value::String(s) => Severity::parse(s),
        _ => None,
    };
    if parsed.is_none() {
        t.wrong(cx, "severity", node, "one of low, medium, high, critical");
    }
    parsed
}

fn read_severity_mapping(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<SeverityMapping> {
    let field = t.req_str(cx, "field");
    let operator = t.str(cx, "operator").unwrap_or("equals");
    let value = t.req_str(cx, "value");
    let severity = req_severity(cx, t);
    Some(SeverityMapping {
        field: field?.to_string(),
        operator: operator.to_string(),
        value: value?.to_string(),
        severity: severity?,
    })
}
