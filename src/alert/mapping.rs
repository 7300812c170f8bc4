//! Per-event overrides of severity, risk score and rule name (alert-schema §1.6, Kibana's
//! `build_severity_from_mapping.ts`, `build_risk_score_from_mapping.ts`,
//! `build_rule_name_from_mapping.ts`).

use serde_json::{Map, Value};

use crate::rules::{RiskScoreMapping, Severity, SeverityMapping};

use super::fields::get_path;

/// The one field Kibana compares as an integer (ECS `event.severity` is a `long`).
const ECS_SEVERITY_FIELD: &str = "event.severity";
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The severity for `event`: the highest matching `severity_mapping` entry, else `default`.
/// Entries are tried from lowest to highest severity (stable within a severity); an entry matches
/// when any event value equals its `value` as a string (`event.severity`: as an integer).
pub fn severity_for(
    event: &Map<String, Value>,
    default: Severity,
    mapping: &[SeverityMapping],
) -> Severity {
    let mut sorted: Vec<&SeverityMapping> = mapping.iter().collect();
    sorted.sort_by_key(|m| m.severity);
    let mut result = None;
    for m in sorted {
        let values = values_of(get_path(event, &m.field));
        let matched = if m.field == ECS_SEVERITY_FIELD {
            let want = m.value.trim().parse::<f64>().ok().map(f64::floor);
            values.iter().any(|v| {
                v.as_f64()
                    .filter(|f| is_safe_integer(*f))
                    .is_some_and(|f| Some(f) == want)
            })
        } else {
            values.iter().any(|v| match v {
                Value::String(s) => *s == m.value,
                Value::Number(n) => {
                    n.as_f64().is_some_and(is_safe_integer) && n.to_string() == m.value
                }
                _ => false,
            })
        };
        if matched {
            result = Some(m.severity);
        }
    }
    result.unwrap_or(default)
}

/// The risk score for `event`: the maximum number 0–100 (numbers or numeric strings) found at the
/// first `risk_score_mapping` entry's field, else `default`.
pub fn risk_score_for(
    event: &Map<String, Value>,
    default: f64,
    mapping: &[RiskScoreMapping],
) -> f64 {
    let Some(first) = mapping.first() else {
        return default;
    };
    values_of(get_path(event, &first.field))
        .iter()
        .filter_map(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        .filter(|f| f.is_finite() && (0.0..=100.0).contains(f))
        .fold(None, |max: Option<f64>, f| {
            Some(max.map_or(f, |m| m.max(f)))
        })
        .unwrap_or(default)
}

/// The rule name for `event`: the value of the `rule_name_override` field when it is a non-empty
/// string (the first element of an array), else `default`.
pub fn rule_name_for<'a>(
    event: &'a Map<String, Value>,
    default: &'a str,
    override_field: Option<&str>,
) -> &'a str {
    let Some(field) = override_field else {
        return default;
    };
    let value = match get_path(event, field) {
        Some(Value::Array(items)) => items.first(),
        other => other,
    };
    match value {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => default,
    }
}

fn values_of(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn is_safe_integer(f: f64) -> bool {
    f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER
}

/// A score as JSON: integral scores as integers (`73`, not `73.0`), as Kibana writes them.
pub fn score_json(score: f64) -> Value {
    if score.fract() == 0.0 && score.abs() < 1e15 {
        Value::from(score as i64)
    } else {
        serde_json::Number::from_f64(score).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    fn sev(field: &str, value: &str, severity: Severity) -> SeverityMapping {
        SeverityMapping {
            field: field.into(),
            operator: "equals".into(),
            value: value.into(),
            severity,
        }
    }

    #[test]
    fn severity_mapping_picks_highest_match() {
        let mapping = [
            sev("risk", "HIGH", Severity::High),
            sev("risk", "LOW", Severity::Low),
            sev("event.severity", "7", Severity::Critical),
            sev("code", "5", Severity::Medium),
        ];
        let cases = [
            (json!({"risk": "LOW"}), Severity::Low),
            (json!({"risk": ["LOW", "HIGH"]}), Severity::High),
            (json!({"risk": "other"}), Severity::Medium),
            (
                json!({"event": {"severity": 7}, "risk": "HIGH"}),
                Severity::Critical,
            ),
            // event.severity compares integers only: the string "7" does not match.
            (json!({"event": {"severity": "7"}}), Severity::Medium),
            (json!({"code": 5}), Severity::Medium),
            (json!({"code": 5.5}), Severity::Medium),
            (json!({"risk": true}), Severity::Medium),
        ];
        for (event, want) in cases {
            let got = severity_for(event.as_object().unwrap(), Severity::Medium, &mapping);
            assert_eq!(got, want, "{event}");
        }
    }

    #[test]
    fn risk_score_mapping_takes_max_valid_number() {
        let mapping = [RiskScoreMapping {
            field: "score".into(),
            operator: "equals".into(),
            value: String::new(),
        }];
        let cases = [
            (json!({"score": 80}), 80.0),
            (json!({"score": "55.5"}), 55.5),
            (json!({"score": [10, "90", 101, -1]}), 90.0),
            (json!({"score": 101}), 21.0),
            (json!({"score": "high"}), 21.0),
            (json!({}), 21.0),
        ];
        for (event, want) in cases {
            let got = risk_score_for(event.as_object().unwrap(), 21.0, &mapping);
            assert_eq!(got, want, "{event}");
        }
        assert_eq!(risk_score_for(&Map::new(), 21.0, &[]), 21.0);
    }

    #[test]
    fn rule_name_override_needs_a_string() {
        let cases = [
            (
                json!({"okta": {"display_message": "Threat suspected"}}),
                "Threat suspected",
            ),
            (json!({"okta": {"display_message": ["A", "B"]}}), "A"),
            (json!({"okta": {"display_message": 3}}), "Rule"),
            (json!({"okta": {"display_message": ""}}), "Rule"),
            (json!({}), "Rule"),
        ];
        for (event, want) in cases {
            let got = rule_name_for(
                event.as_object().unwrap(),
                "Rule",
                Some("okta.display_message"),
            );
            assert_eq!(got, want, "{event}");
        }
    }

    #[test]
    fn scores_serialise_like_kibana() {
        assert_eq!(score_json(73.0), json!(73));
        assert_eq!(score_json(55.5), json!(55.5));
    }
}
