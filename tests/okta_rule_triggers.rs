//! `testdata/okta/rule_triggers.ndjson` holds, for each KQL query rule of Elastic's Okta corpus,
//! a raw Okta event that should trigger it (the rule engine's tests assert that it fires). Here we
//! check what we can without evaluating KQL:
//! - every `type = "query"`, `language = "kuery"` rule has exactly one trigger, and no trigger
//!   names another rule;
//! - each trigger is a raw Okta event that normalizes without `pipeline_error`;
//! - the normalized document has every field the query names (found by scanning the query for
//!   `name:` outside quotes), looking through arrays as Elasticsearch does;
//! - `event.action` is one of the actions the query lists, and for queries that are a pure
//!   conjunction, each `field: value` term with a plain value holds.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use rulestream::okta::{self, InputKind, NormalizeOptions};
use serde_json::Value;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta/"
);
const TRIGGERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/okta/rule_triggers.ndjson"
);

/// `(field, value)` terms of a KQL query: `value` is the text after the colon up to the next
/// space/paren (or the quoted string), `None` for parenthesised lists.
fn terms(query: &str) -> Vec<(String, Option<String>)> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == '@' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.@".contains(chars[i]))
            {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j] == ':' {
                j += 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let value = if j < chars.len() && chars[j] == '"' {
                    let end = chars[j + 1..]
                        .iter()
                        .position(|&c| c == '"')
                        .map(|p| j + 1 + p);
                    end.map(|e| chars[j + 1..e].iter().collect())
                } else if j < chars.len() && chars[j] == '(' {
                    None
                } else {
                    let end = chars[j..]
                        .iter()
                        .position(|c| c.is_whitespace() || *c == ')')
                        .map_or(chars.len(), |p| j + p);
                    Some(chars[j..end].iter().collect())
                };
                out.push((name, value));
                i = j;
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Every value at `path`, looking through arrays at any level (Elasticsearch's multi-values).
fn values<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| values(x, path, out)),
        Value::Object(m) => {
            if let Some((first, rest)) = path.split_first() {
                if let Some(next) = m.get(*first) {
                    values(next, rest, out);
                }
            } else {
                out.push(v);
            }
        }
        leaf if path.is_empty() => out.push(leaf),
        _ => {}
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn query_rule_triggers_normalize_and_carry_the_queried_fields() {
    let mut query_rules = BTreeSet::new();
    let mut entries = std::fs::read_dir(RULES)
        .expect("rules dir readable")
        .flatten()
        .collect::<Vec<_>>();
    entries.sort_by_key(|e| e.file_name());
    let mut queries = std::collections::BTreeMap::new();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".toml") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("rule readable");
        let doc: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rule = &doc["rule"];
        if rule.get("type").and_then(|v| v.as_str()) == Some("query")
            && rule.get("language").and_then(|v| v.as_str()) == Some("kuery")
        {
            query_rules.insert(name.clone());
            queries.insert(name, rule["query"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(
        query_rules.len(),
        28,
        "the corpus README lists 28 KQL query rules"
    );

    let opts = NormalizeOptions::new(
        Utc.with_ymd_and_hms(2026, 8, 1, 12, 0, 1)
            .single()
            .expect("valid"),
    );
    let text = std::fs::read_to_string(TRIGGERS).expect("triggers readable");
    let mut seen = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let row: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let rule_file = row["rule_file"].as_str().unwrap_or_default().to_string();
        assert!(
            query_rules.contains(&rule_file),
            "line {}: {rule_file} is not a KQL query rule",
            n + 1
        );
        assert!(
            seen.insert(rule_file.clone()),
            "{rule_file} has two triggers"
        );
        let Value::Object(raw) = row["raw"].clone() else {
            panic!("{rule_file}: raw must be an object")
        };
        assert_eq!(
            okta::detect(&raw),
            InputKind::RawOkta,
            "{rule_file}: trigger must be a raw Okta event"
        );
        let doc = okta::normalize(raw, &opts);
        assert!(
            !okta::is_pipeline_error(&doc),
            "{rule_file}: normalization failed: {:?}",
            doc.get("error")
        );
        let doc = Value::Object(doc);

        let query = &queries[&rule_file];
        let terms = terms(query);
        assert!(
            !terms.is_empty(),
            "{rule_file}: no field found in query {query:?}"
        );
        let conjunction = !query.contains(" or ") && !query.contains("not ");
        for (field, value) in &terms {
            let parts: Vec<&str> = field.split('.').collect();
            let mut found = Vec::new();
            values(&doc, &parts, &mut found);
            assert!(
                !found.is_empty(),
                "{rule_file}: normalized document lacks {field} (query {query:?})"
            );
            if let Some(v) = value.as_ref().filter(|v| conjunction && !v.contains('*')) {
                assert!(
                    found.iter().any(|f| &render(f) == v),
                    "{rule_file}: {field} is {found:?}, query wants {v:?}"
                );
            }
        }
        // event.action must be among the listed actions, even inside `( … or … )`.
        if let Some(action) = doc["event"]["action"].as_str() {
            if let Some(pos) = query.find("event.action") {
                let rest = &query[pos..];
                let end = rest.find(')').map_or(rest.len().min(120), |e| e + 1);
                assert!(
                    rest[..end]
                        .split(|c: char| c.is_whitespace() || "():\"".contains(c))
                        .any(|t| t == action),
                    "{rule_file}: event.action {action} not in {:?}",
                    &rest[..end]
                );
            }
        }
    }
    let missing: Vec<_> = query_rules.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "query rules without a trigger: {missing:?}"
    );
}

#[test]
fn term_scanner_finds_fields_outside_quotes() {
    let t = terms(r#"event.dataset: "okta.system" and a.b:(x or y) and c:"d: e" and f : *g*"#);
    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["event.dataset", "a.b", "c", "f"]);
    assert_eq!(t[0].1.as_deref(), Some("okta.system"));
    assert_eq!(t[1].1, None);
    assert_eq!(t[2].1.as_deref(), Some("d: e"));
}
