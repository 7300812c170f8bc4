//! Never-panics properties: rule text and events are input, so loading a damaged rule file,
//! mapping query offsets, and building alerts from arbitrary JSON must return, not panic.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

use std::path::Path;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};

use rulestream::alert::{ancestor_for, AlertContext, RuleTemplate};
use rulestream::rules::parse_rule;

const SEED: &str = include_str!("../rules/okta/credential_access_user_impersonation_access.toml");

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[-:./0-9a-zT ]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys that hit the typed / reserved / copied-aside paths as well as random ones.
fn field_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "@timestamp",
            "event",
            "kind",
            "id",
            "ip",
            "source",
            "source.ip",
            "port",
            "related",
            "data_stream",
            "type",
            "dataset",
            "namespace",
            "kibana",
            "signal",
            "rule",
            "threat",
            "user.name",
            "event.category",
            "created",
            "okta",
            "uuid",
            "as",
            "number",
        ])
        .prop_map(str::to_string),
        "[a-z.]{1,8}",
    ]
}

proptest! {
    #[test]
    fn damaged_rule_files_never_panic(start in 0usize..2000, len in 0usize..40, junk in ".{0,12}") {
        let mut text = SEED.to_string();
        let mut s = start.min(text.len());
        while !text.is_char_boundary(s) { s -= 1; }
        let mut e = (s + len).min(text.len());
        while !text.is_char_boundary(e) { e -= 1; }
        text.replace_range(s..e, &junk);
        if let Ok(rule) = parse_rule(Path::new("r.toml"), &text) {
            let q = rule.query.clone().unwrap_or_default();
            for off in [0, q.len() / 2, q.len(), q.len() + 10] {
                let (line, col) = rule.query_position(off);
                prop_assert!(line >= 1 && col >= 1);
            }
        }
    }

    #[test]
    fn alerts_build_from_any_json_object(v in prop::collection::btree_map(field_key(), json_value(), 0..8)) {
        let event: Map<String, Value> = v.into_iter().collect();
        let rule = parse_rule(Path::new("r.toml"), SEED).unwrap();
        let template = RuleTemplate::new(&rule, &AlertContext::default());
        let now: DateTime<Utc> = "2025-06-03T09:14:26.845Z".parse().unwrap();
        let alert = template.build(&event, &ancestor_for(&event, None, Some(("t", 0, 1))), now);
        prop_assert_eq!(alert.id.len(), 64);
        prop_assert_eq!(&alert.doc["event.kind"], &Value::from("signal"));
    }
}
