//! The copy of the source event that an alert carries (alert-schema §1.4): reserved keys dropped,
//! values that would not index under their ECS type removed, the source `event.kind` removed, and
//! `event.*` / `data_stream.*` copied aside to `kibana.alert.original_event.*` /
//! `kibana.alert.original_data_stream.*` — Kibana's `traverse_and_mutate_doc.ts` in one pass.
//!
//! ECS type checks cover the fields whose type `crate::schema::field_type` knows as `ip`, `date`,
//! `long`, `double` or `boolean`, plus the leaf-vs-object rules for them: such a leaf must not
//! hold an object, no path may continue below it (`source.ip.x`), and the objects containing them
//! (`source`, `client.geo`, …, see [`ECS_OBJECTS`]) must not hold a scalar.
//!
//! Not checked (Kibana checks them against the full ECS field map, rulestream has no copy of
//! it): keyword leaves holding objects (e.g. `user.name: {…}`), other ECS objects holding
//! scalars, ECS `nested` fields, `float`/`scaled_float` fields other than those in `schema`.
//! `okta.*` is never checked, because it is not ECS and Kibana copies it untouched (the schema's
//! `okta.*` types describe the Okta integration's index, not the alerts index).

use serde_json::{Map, Value};

use crate::schema::{exact_type, FieldType};

use super::time::parse_iso;

/// First path segments Kibana never copies from a source (`traverse_and_mutate_doc.ts`
/// `bannedFields`; `kibana.alert.threshold_result` is covered by `kibana`).
const BANNED_ROOTS: &[&str] = &["kibana", "signal", "threshold_result"];

/// Top-level objects copied aside, and where to.
const COPY_ASIDE: &[(&str, &str)] = &[
    ("event", "kibana.alert.original_event"),
    ("data_stream", "kibana.alert.original_data_stream"),
];

/// Roots that are not ECS and so are copied unchecked.
const UNCHECKED_ROOTS: &[&str] = &["okta"];

/// ECS objects that contain the typed leaves of `schema` (and so must hold objects), each with
/// one such leaf so a test can keep this list in step with `schema`.
pub(crate) const ECS_OBJECTS: &[(&str, &str)] = &[
    ("client", "client.ip"),
    ("client.as", "client.as.number"),
    ("destination", "destination.ip"),
    ("destination.as", "destination.as.number"),
    ("event", "event.created"),
    ("host", "host.ip"),
    ("related", "related.ip"),
    ("server", "server.ip"),
    ("source", "source.ip"),
    ("source.as", "source.as.number"),
];

/// The cleaned copy of a source event, with the copied-aside `original_event` /
/// `original_data_stream` keys already added as dotted top-level keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCopy {
    pub doc: Map<String, Value>,
    /// Dotted paths of values that were dropped (for debug logging).
    pub removed: Vec<String>,
}

/// Builds the alert's copy of `event` (alert-schema §1.4 steps 2–5).
pub fn copy_source(event: &Map<String, Value>) -> SourceCopy {
    let mut removed = Vec::new();
    let mut doc = Map::with_capacity(event.len() + 16);
    let mut aside = Vec::new();
    for (key, value) in event {
        let root = key.split('.').next().unwrap_or(key);
        if BANNED_ROOTS.contains(&root) {
            removed.push(key.clone());
            continue;
        }
        let mut path = key.clone();
        let Some(clean) = clean_value(&mut path, value, &mut removed) else {
            continue;
        };
        if let Some((_, dest)) = COPY_ASIDE.iter().find(|(r, _)| *r == root) {
            let dest = format!("{dest}{}", &key[root.len()..]);
            flatten_into(&dest, &clean, &mut aside);
        }
        doc.insert(key.clone(), clean);
    }
    doc.extend(aside);
    remove_event_kind(&mut doc);
    SourceCopy { doc, removed }
}

/// Step 4: the source `event.kind` leaves the copied `event` (its value survives in
/// `kibana.alert.original_event.kind`); the alert writes `event.kind: signal` instead.
fn remove_event_kind(doc: &mut Map<String, Value>) {
    doc.remove("event.kind");
    if let Some(Value::Object(event)) = doc.get_mut("event") {
        event.remove("kind");
        if event.is_empty() {
            doc.remove("event");
        }
    }
}

/// `flattenWithPrefix`: objects become dotted keys, everything else (arrays too) is a value.
fn flatten_into(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_into(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// The value at `path` with incompatible parts removed; `None` when nothing is left. `path` is
/// a buffer reused down the recursion (restored before returning).
fn clean_value(path: &mut String, value: &Value, removed: &mut Vec<String>) -> Option<Value> {
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| clean_value(path, item, removed))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ if !is_compatible(path, value) => {
            removed.push(path.clone());
            None
        }
        Value::Object(map) => {
            let mut out = Map::new();
            let len = path.len();
            for (k, v) in map {
                path.push('.');
                path.push_str(k);
                let cleaned = clean_value(path, v, removed);
                path.truncate(len);
                if let Some(c) = cleaned {
                    out.insert(k.clone(), c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

/// Whether `value` (not an array) can be indexed at `path` (see the module doc for the scope).
fn is_compatible(path: &str, value: &Value) -> bool {
    let root = path.split('.').next().unwrap_or(path);
    if UNCHECKED_ROOTS.contains(&root) {
        return true;
    }
    // A path continuing below a typed leaf (`source.ip.x`) cannot be mapped.
    let below_leaf = path
        .match_indices('.')
        .any(|(i, _)| typed_leaf(&path[..i]).is_some());
    if below_leaf {
        return false;
    }
    if let Some(t) = typed_leaf(path) {
        return value_fits(t, value);
    }
    if ECS_OBJECTS.iter().any(|(obj, _)| *obj == path) {
        return value.is_object();
    }
    true
}

/// The field's type when it is one this module validates.
fn typed_leaf(path: &str) -> Option<FieldType> {
    // Every validated type is listed by exact name in the schema table.
    match exact_type(path)? {
        t @ (FieldType::Ip
        | FieldType::Date
        | FieldType::Long
        | FieldType::Double
        | FieldType::Boolean) => Some(t),
        _ => None,
    }
}

/// Kibana's `ecs_types_validators`.
fn value_fits(t: FieldType, value: &Value) -> bool {
    match t {
        FieldType::Ip => value
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        FieldType::Date => match value {
            Value::Number(_) => true,
            Value::String(s) => {
                parse_iso(s).is_some() || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            }
            _ => false,
        },
        // `isValidLongType`: numeric, and a string must not contain a space.
        FieldType::Long => match value {
            Value::String(s) => !s.contains(' ') && is_numeric_string(s),
            other => other.is_number(),
        },
        FieldType::Double => match value {
            Value::String(s) => is_numeric_string(s),
            other => other.is_number(),
        },
        FieldType::Boolean => {
            matches!(value, Value::Bool(_))
                || matches!(value, Value::String(s) if s == "true" || s == "false")
        }
        _ => true,
    }
}

/// JavaScript `!isNaN(Number(s))` for the decimal forms events contain: surrounding whitespace
/// allowed, non-empty.
fn is_numeric_string(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && t.parse::<f64>().is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    fn copy(v: Value) -> (Value, Vec<String>) {
        let out = copy_source(v.as_object().unwrap());
        (Value::Object(out.doc), out.removed)
    }

    #[test]
    fn reserved_roots_are_dropped() {
        let (doc, removed) = copy(json!({
            "kibana": {"alert": {}}, "kibana.alert.rule.name": "x", "signal": 1,
            "threshold_result": {}, "kibanax": 1, "message": "m"
        }));
        assert_eq!(doc, json!({"kibanax": 1, "message": "m"}));
        assert_eq!(removed.len(), 4);
    }

    #[test]
    fn event_and_data_stream_are_copied_aside_and_kind_removed() {
        let (doc, _) = copy(json!({
            "event": {"kind": "event", "category": ["session"], "x": {"y": 1}},
            "event.action": "dotted",
            "data_stream": {"type": "logs"}
        }));
        assert_eq!(
            doc,
            json!({
                "event": {"category": ["session"], "x": {"y": 1}},
                "event.action": "dotted",
                "data_stream": {"type": "logs"},
                "kibana.alert.original_event.kind": "event",
                "kibana.alert.original_event.category": ["session"],
                "kibana.alert.original_event.x.y": 1,
                "kibana.alert.original_event.action": "dotted",
                "kibana.alert.original_data_stream.type": "logs"
            })
        );
    }

    #[test]
    fn typed_ecs_values_that_would_not_index_are_removed() {
        // (field JSON, expected copy)
        let cases = [
            (
                json!({"source": {"ip": "1.2.3.4"}}),
                json!({"source": {"ip": "1.2.3.4"}}),
            ),
            (
                json!({"source": {"ip": "localhost", "port": 1}}),
                json!({"source": {"port": 1}}),
            ),
            (
                json!({"source.ip": "2001:db8::"}),
                json!({"source.ip": "2001:db8::"}),
            ),
            (json!({"source.ip": "127.0.0."}), json!({})),
            (json!({"source": {"ip": {"v": 1}}}), json!({})),
            (
                json!({"source": {"ip": {"v": 1}, "port": 2}}),
                json!({"source": {"port": 2}}),
            ),
            (json!({"source.ip.v": "x"}), json!({})),
            (json!({"source": "a-string"}), json!({})),
            (
                json!({"related": {"ip": ["1.1.1.1", "nope", "::1"]}}),
                json!({"related": {"ip": ["1.1.1.1", "::1"]}}),
            ),
            (json!({"related": {"ip": ["nope"]}}), json!({})),
            (
                json!({"source": {"port": "443"}}),
                json!({"source": {"port": "443"}}),
            ),
            (json!({"source": {"port": "4 43"}}), json!({})),
            (json!({"source": {"port": true}}), json!({})),
            (
                json!({"event": {"risk_score": "2.5"}}),
                json!({"event": {"risk_score": "2.5"},
                    "kibana.alert.original_event.risk_score": "2.5"}),
            ),
            (json!({"event": {"created": "2025/06/03"}}), json!({})),
            (
                json!({"@timestamp": "2025-06-03T09:14:22.517Z"}),
                json!({"@timestamp": "2025-06-03T09:14:22.517Z"}),
            ),
            (
                json!({"@timestamp": 1748942062517u64}),
                json!({"@timestamp": 1748942062517u64}),
            ),
            (json!({"@timestamp": "yesterday"}), json!({})),
            // Non-ECS roots are copied untouched.
            (
                json!({"okta": {"client": {"ip": "not-an-ip"}}}),
                json!({"okta": {"client": {"ip": "not-an-ip"}}}),
            ),
            (
                json!({"labels": {"ip": "x"}}),
                json!({"labels": {"ip": "x"}}),
            ),
        ];
        for (input, want) in cases {
            let (got, _) = copy(input.clone());
            assert_eq!(got, want, "input {input}");
        }
    }

    #[test]
    fn ecs_object_list_matches_schema_types() {
        for (object, leaf) in ECS_OBJECTS {
            assert!(
                leaf.starts_with(&format!("{object}.")),
                "{leaf} under {object}"
            );
            assert!(
                typed_leaf(leaf).is_some(),
                "{leaf} is not a typed schema field"
            );
        }
    }
}
