//! `event.category`, `event.type` and `tags` from `okta.event_type` (mapping doc §6).
//!
//! Two stages, as upstream: the fixed lists every package version has (§6.1, appended without
//! duplicates), then the generated per-event-type table (§6.2) merged as a Java `HashSet` union.
//! The union's order is Java's hash-bucket order, reproduced by [`java_hash_order`] so that
//! outputs are byte-comparable with Elasticsearch's; rules never depend on that order.
//!
//! The full upstream table (`ecs_category_type.yml`, ~1,000 types) is Elastic-licensed source we
//! do not vendor. The built-in table is the subset listed in the mapping doc (every event type a
//! rule or fixture uses); [`CategoryTable::from_upstream_yaml`] loads the complete upstream file
//! from a path the user configures.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::path;
use super::OktaError;

/// One table entry: the values merged into `event.category`, `event.type` and `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    #[serde(default)]
    pub category: Vec<String>,
    #[serde(default, rename = "type")]
    pub kind: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Okta event type → ECS categorization, as generated upstream (PR elastic/integrations#15860).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryTable {
    entries: HashMap<String, CategoryEntry>,
    /// Where the table came from, for start-up logs.
    pub source: String,
}

/// The subset of the upstream table transcribed in `shared/docs/okta-ecs-mapping.md` §6.2.
const BUILTIN_JSON: &str = include_str!("category_table.json");

impl CategoryTable {
    /// The built-in subset (event types of the fixtures and of Elastic's Okta rules).
    pub fn builtin() -> Self {
        // The embedded file is tested to parse (`builtin_table_parses`), so failure here is a
        // build defect; fall back to an empty table rather than panic on the pipeline path.
        let mut table = Self::from_json_str(BUILTIN_JSON).unwrap_or_default();
        table.source = "built-in subset of the upstream table (mapping doc §6.2)".to_string();
        table
    }

    /// A table in JSON form: `{"<eventType>": {"category": [..], "type": [..], "tags": [..]}}`.
    pub fn from_json_str(text: &str) -> Result<Self, OktaError> {
        let entries: HashMap<String, CategoryEntry> =
            serde_json::from_str(text).map_err(|e| OktaError::CategoryTable(e.to_string()))?;
        Ok(CategoryTable {
            entries,
            source: "json".to_string(),
        })
    }

    /// Reads upstream's generated `ecs_category_type.yml`. Only its fixed shape is understood:
    /// the script processor's `params:` block, an event type per 8-space-indented key, then
    /// `category:`/`tags:`/`type:` lists of `- value` items. Anything else is an error that names
    /// the line, so a changed generator is noticed instead of silently mis-read.
    pub fn from_upstream_yaml(text: &str) -> Result<Self, OktaError> {
        let mut entries: HashMap<String, CategoryEntry> = HashMap::new();
        let mut in_params = false;
        let mut current: Option<String> = None;
        let mut list: Option<&'static str> = None;
        for (no, line) in text.lines().enumerate() {
            let err = |what: &str| OktaError::CategoryTable(format!("line {}: {what}", no + 1));
            let indent = line.len() - line.trim_start().len();
            let body = line.trim();
            if !in_params {
                in_params = body == "params:";
                continue;
            }
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            if indent <= 6 {
                break; // end of the params block
            }
            match (indent, body) {
                (8, key) if key.ends_with(':') => {
                    let name = key
                        .trim_end_matches(':')
                        .trim_matches(|c| c == '"' || c == '\'');
                    entries.insert(name.to_string(), CategoryEntry::default());
                    current = Some(name.to_string());
                    list = None;
                }
                (10, "category:") => list = Some("category"),
                (10, "type:") => list = Some("type"),
                (10, "tags:") => list = Some("tags"),
                (12, item) if item.starts_with("- ") => {
                    let value = item[2..].trim().trim_matches(|c| c == '"' || c == '\'');
                    let entry = current
                        .as_ref()
                        .and_then(|c| entries.get_mut(c))
                        .ok_or_else(|| err("list item outside an event type"))?;
                    match list {
                        Some("category") => entry.category.push(value.to_string()),
                        Some("type") => entry.kind.push(value.to_string()),
                        Some("tags") => entry.tags.push(value.to_string()),
                        _ => return Err(err("list item outside category/type/tags")),
                    }
                }
                _ => {
                    return Err(err(&format!(
                        "expected an event type or a list, found {body:?}"
                    )))
                }
            }
        }
        if entries.is_empty() {
            return Err(OktaError::CategoryTable(
                "expected a `params:` block with event types, found none".to_string(),
            ));
        }
        Ok(CategoryTable {
            entries,
            source: "upstream yaml".to_string(),
        })
    }

    /// Loads a table file: `.json` as [`Self::from_json_str`], anything else as upstream YAML.
    pub fn load(path: &std::path::Path) -> Result<Self, OktaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| OktaError::CategoryTable(format!("{}: {e}", path.display())))?;
        let mut table = if path.extension().is_some_and(|e| e == "json") {
            Self::from_json_str(&text)?
        } else {
            Self::from_upstream_yaml(&text)?
        };
        table.source = format!("{} ({} event types)", path.display(), table.len());
        Ok(table)
    }

    pub fn get(&self, event_type: &str) -> Option<&CategoryEntry> {
        self.entries.get(event_type)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// §6.1: the fixed lists. Each row appends `value` to `field` (without duplicates) when the
/// event type is listed; rows run in this order, which fixes the arrays' order.
const FIXED: &[(&str, &str, &[&str])] = &[
    (
        "event.category",
        "iam",
        &[
            "group.user_membership.add",
            "group.user_membership.remove",
            "user.lifecycle.activate",
            "user.lifecycle.create",
            "user.lifecycle.deactivate",
            "user.lifecycle.suspend",
            "user.lifecycle.unsuspend",
        ],
    ),
    (
        "event.category",
        "configuration",
        &[
            "policy.lifecycle.activate",
            "policy.lifecycle.create",
            "policy.lifecycle.deactivate",
            "policy.lifecycle.delete",
            "policy.lifecycle.update",
            "policy.rule.activate",
            "policy.rule.add",
            "policy.rule.deactivate",
            "policy.rule.delete",
            "policy.rule.update",
            "application.lifecycle.create",
            "application.lifecycle.delete",
            "application.lifecycle.activate",
            "application.lifecycle.deactivate",
            "application.lifecycle.update",
        ],
    ),
    (
        "event.category",
        "authentication",
        &[
            "user.session.start",
            "user.session.end",
            "user.authentication.sso",
            "policy.evaluate_sign_on",
        ],
    ),
    (
        "event.category",
        "session",
        &["user.session.start", "user.session.end"],
    ),
    (
        "event.type",
        "info",
        &[
            "system.org.rate_limit.warning",
            "system.org.rate_limit.violation",
            "core.concurrency.org.limit.violation",
        ],
    ),
    (
        "event.category",
        "network",
        &[
            "system.org.rate_limit.warning",
            "system.org.rate_limit.violation",
            "core.concurrency.org.limit.violation",
            "security.request.blocked",
        ],
    ),
    ("event.type", "start", &["user.session.start"]),
    ("event.type", "end", &["user.session.end"]),
    (
        "event.type",
        "group",
        &["group.user_membership.add", "group.user_membership.remove"],
    ),
    (
        "event.type",
        "info",
        &[
            "user.lifecycle.activate",
            "user.lifecycle.create",
            "user.lifecycle.deactivate",
            "user.lifecycle.suspend",
            "user.lifecycle.unsuspend",
            "user.authentication.sso",
            "user.session.start",
            "user.session.end",
            "application.user_membership.add",
            "application.user_membership.remove",
            "application.user_membership.change_username",
        ],
    ),
    (
        "event.type",
        "change",
        &[
            "user.lifecycle.activate",
            "user.lifecycle.deactivate",
            "user.lifecycle.suspend",
            "user.lifecycle.unsuspend",
            "group.user_membership.add",
            "group.user_membership.remove",
            "policy.lifecycle.activate",
            "policy.lifecycle.deactivate",
            "policy.lifecycle.update",
            "policy.rule.activate",
            "policy.rule.add",
            "policy.rule.deactivate",
            "policy.rule.update",
            "application.user_membership.add",
            "application.user_membership.remove",
            "application.user_membership.change_username",
        ],
    ),
    (
        "event.type",
        "creation",
        &[
            "user.lifecycle.create",
            "policy.lifecycle.create",
            "application.lifecycle.create",
        ],
    ),
    (
        "event.type",
        "deletion",
        &["policy.lifecycle.delete", "application.lifecycle.delete"],
    ),
    ("event.type", "info", &["policy.evaluate_sign_on"]),
];

/// Applies §6.1 then §6.2 to `doc`, reading `okta.event_type`.
pub fn categorize(doc: &mut Map<String, Value>, table: &CategoryTable) {
    let Some(event_type) = path::get(doc, "okta.event_type").cloned() else {
        return;
    };
    let event_type = event_type.as_str().unwrap_or_default();
    for (field, value, types) in FIXED {
        if types.contains(&event_type) {
            path::append_unique(doc, field, Value::String((*value).to_string()));
        }
    }
    // Upstream throws for a type missing from the table and its handler leaves marker fields
    // (§6.2 "a trap"); we follow the doc's advice: no entry, no change, no markers.
    let Some(entry) = table.get(event_type) else {
        return;
    };
    merge_into(doc, "event.type", &entry.kind);
    merge_into(doc, "event.category", &entry.category);
    merge_into(doc, "tags", &entry.tags);
}

/// `field = merge(field, src)` of the generated script: unchanged (or `[]` when absent) for an
/// empty `src`, else the Java `HashSet` union of both.
fn merge_into(doc: &mut Map<String, Value>, field: &str, src: &[String]) {
    let dst: Vec<String> = match path::get(doc, field) {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(path::render).collect(),
        Some(other) => vec![path::render(other)],
    };
    if src.is_empty() {
        if !path::has(doc, field) {
            let _ = path::set(doc, field, Value::Array(Vec::new()));
        }
        return;
    }
    let merged = java_hash_set_union(&dst, src);
    let _ = path::set(
        doc,
        field,
        Value::Array(merged.into_iter().map(Value::String).collect()),
    );
}

/// Java `String.hashCode`: `31*h + c` over UTF-16 code units, wrapping at 32 bits.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Iteration order of a Java `HashMap`/`HashSet` that started with `initial_capacity` buckets
/// (a power of two) and received `keys` in order (§6.3). Duplicates keep their first position.
pub fn java_hash_order(keys: &[String], initial_capacity: usize) -> Vec<String> {
    let spread = |k: &str| {
        let h = java_string_hash(k) as u32;
        h ^ (h >> 16)
    };
    let mut n = initial_capacity.max(1).next_power_of_two();
    let mut buckets: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut count = 0usize;
    for key in keys {
        let b = (spread(key) as usize) & (n - 1);
        if buckets[b].contains(key) {
            continue;
        }
        buckets[b].push(key.clone());
        count += 1;
        // Java resizes when size exceeds threshold = 0.75 * capacity.
        if count * 4 > n * 3 {
            n *= 2;
            let old: Vec<String> = buckets.into_iter().flatten().collect();
            buckets = vec![Vec::new(); n];
            for k in old {
                let b = (spread(&k) as usize) & (n - 1);
                buckets[b].push(k);
            }
        }
    }
    buckets.into_iter().flatten().collect()
}

/// `new HashSet(dst); addAll(src)` converted back to a list.
pub fn java_hash_set_union(dst: &[String], src: &[String]) -> Vec<String> {
    // HashSet(Collection c): capacity max((int)(c.size()/.75f) + 1, 16).
    let cap = ((dst.len() as f32 / 0.75) as usize + 1).max(16);
    let all: Vec<String> = dst.iter().chain(src).cloned().collect();
    java_hash_order(&all, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn java_string_hash_matches_known_values() {
        // Values from Java: "".hashCode()=0, "a".hashCode()=97, "hello".hashCode()=99162322.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn hash_set_union_matches_the_mapping_doc_check_values() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (
                &["authentication", "session"],
                &["session"],
                &["session", "authentication"],
            ),
            (&["start", "info"], &["start"], &["start", "info"]),
            (&["end", "info"], &["end"], &["end", "info"]),
            (
                &["preserve_original_event"],
                &["event-hook-eligible", "mfa"],
                &["event-hook-eligible", "mfa", "preserve_original_event"],
            ),
            (
                &["preserve_original_event", "forwarded", "okta-system"],
                &["end-user-visible", "event-hook-eligible", "session", "user"],
                &[
                    "session",
                    "okta-system",
                    "end-user-visible",
                    "event-hook-eligible",
                    "user",
                    "preserve_original_event",
                    "forwarded",
                ],
            ),
        ];
        for (dst, src, want) in cases {
            assert_eq!(
                java_hash_set_union(&s(dst), &s(src)),
                s(want),
                "merge({dst:?}, {src:?})"
            );
        }
    }

    /// Orders printed by OpenJDK 17 (`new HashSet<>(dst).addAll(src)`, `new HashMap<>()` puts),
    /// including resizes past 12 and 24 entries and a non-ASCII key.
    #[test]
    fn hash_order_matches_real_java() {
        let split = |t: &str| s(&t.split('|').collect::<Vec<_>>());
        let unions = [
            (
                "a1|b2|c3|d4|e5|f6|g7|h8|i9|j10|k11|l12",
                "m13|n14|o15|p16|q17|r18|s19|t20|u21|v22|w23|x24|y25|z26",
                "j10|k11|l12|m13|b2|d4|f6|h8|n14|o15|p16|q17|r18|s19|a1|c3|e5|g7|i9|t20|u21|v22|w23|x24|y25|z26",
            ),
            (
                "forwarded|okta-system|preserve_original_event",
                "account|event-hook-eligible|user|zeta-tag|\u{fc}ber",
                "zeta-tag|okta-system|\u{fc}ber|event-hook-eligible|user|forwarded|preserve_original_event|account",
            ),
        ];
        for (dst, src, want) in unions {
            assert_eq!(java_hash_set_union(&split(dst), &split(src)), split(want));
        }
        let maps = [
            (
                "New IP|New Device|New Geo-Location",
                "New Geo-Location|New Device|New IP",
            ),
            (
                "k1|k2|k3|k4|k5|k6|k7|k8|k9|k10|k11|k12|k13|k14|k15|Velocity Behavior",
                "k1|k2|k3|k4|k5|k11|k6|k10|k7|k13|k8|k12|k9|k15|k14|Velocity Behavior",
            ),
        ];
        for (keys, want) in maps {
            assert_eq!(java_hash_order(&split(keys), 16), split(want));
        }
    }

    #[test]
    fn builtin_table_parses_and_covers_rule_event_types() {
        let t = CategoryTable::from_json_str(BUILTIN_JSON).expect("built-in table is valid JSON");
        for ty in [
            "user.authentication.auth_via_mfa",
            "security.request.blocked",
            "zone.delete",
        ] {
            assert!(t.get(ty).is_some(), "{ty} missing from built-in table");
        }
        assert_eq!(
            t.get("security.request.blocked").map(|e| e.kind.len()),
            Some(0)
        );
    }

    #[test]
    fn entry_without_type_leaves_an_empty_type_array() {
        let mut doc = Map::new();
        let _ = path::set(
            &mut doc,
            "okta.event_type",
            json!("security.request.blocked"),
        );
        categorize(&mut doc, &CategoryTable::builtin());
        assert_eq!(path::get(&doc, "event.type"), Some(&json!([])));
        let cats = path::get(&doc, "event.category")
            .cloned()
            .unwrap_or_default();
        let mut cats: Vec<String> = serde_json::from_value(cats).unwrap_or_default();
        cats.sort();
        assert_eq!(cats, s(&["network", "threat"]));
    }

    #[test]
    fn unknown_event_type_gets_only_fixed_lists() {
        let mut doc = Map::new();
        let _ = path::set(&mut doc, "okta.event_type", json!("brand.new.type"));
        categorize(&mut doc, &CategoryTable::builtin());
        assert_eq!(path::get(&doc, "event"), None);
        assert_eq!(path::get(&doc, "tags"), None);
    }

    #[test]
    fn upstream_yaml_shape_is_read() {
        let yaml = "processors:\n  - script:\n      params:\n        a.b:\n          category:\n            - iam\n          tags:\n            - x\n          type:\n            - info\n            - user\n        c.d:\n          category:\n            - threat\n      source: |\n";
        let t = CategoryTable::from_upstream_yaml(yaml).expect("valid");
        assert_eq!(
            t.get("a.b").map(|e| e.kind.clone()),
            Some(s(&["info", "user"]))
        );
        assert_eq!(
            t.get("c.d").map(|e| e.category.clone()),
            Some(s(&["threat"]))
        );
        assert!(
            CategoryTable::from_upstream_yaml("params:\n        a:\n            - bad\n").is_err()
        );
    }
}
