//! EQL sequence alerts (alert-schema §3.4): building blocks and the shell, built from the Okta
//! integration's own ECS documents, against Kibana's `build_alert_group_from_sequence.ts`.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use rulestream::alert::{ancestor_for, AlertContext, Ancestor, RuleTemplate, SequenceAlerts};
use rulestream::rules::{load_dirs, Rule, Severity, SeverityMapping};

const RULE_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta/credential_access_okta_mfa_bombing_via_push_notifications.toml"
);
const OKTA_DOCS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/okta-integration/test-okta-system-yes-flattened-events.log-expected.json"
);
/// The fixture documents have no `data_stream.*`; the engine would name their index like this.
const INDEX: &str = "logs-okta.system-default";
const RULE_NAME: &str = "Potential Okta MFA Bombing via Push Notifications";

fn rule() -> Rule {
    let report = load_dirs(&[PathBuf::from(RULE_FILE)]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report.rules.into_iter().next().expect("one rule")
}

fn ctx() -> AlertContext {
    AlertContext {
        public_base_url: Some("https://kibana.example.com".into()),
        ..AlertContext::default()
    }
}

fn now() -> DateTime<Utc> {
    "2025-06-03T09:14:26.845Z".parse().unwrap()
}

/// Okta integration documents: 1 = user.session.start, 2 = policy.evaluate_sign_on,
/// 6 = user.session.end, all by the same user from the same address.
fn okta_doc(i: usize) -> Map<String, Value> {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(OKTA_DOCS).expect("fixture")).unwrap();
    all["expected"][i].as_object().cloned().expect("object")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn build(t: &RuleTemplate, events: &[Map<String, Value>]) -> SequenceAlerts {
    build_at(t, events, now())
}

fn build_at(t: &RuleTemplate, events: &[Map<String, Value>], at: DateTime<Utc>) -> SequenceAlerts {
    let ancestors: Vec<Ancestor> = events
        .iter()
        .map(|e| ancestor_for(e, Some(INDEX), None))
        .collect();
    let pairs: Vec<(&Map<String, Value>, &Ancestor)> = events.iter().zip(&ancestors).collect();
    t.build_sequence(&pairs, at)
}

fn sha256(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Independent statement of Kibana's id formulas (alert-schema §2.1) for `event_ids` in
/// `INDEX`: (building-block ids, shell id).
fn expected_ids(event_ids: &[&str], rule_uuid: &str) -> (Vec<String>, String) {
    let base: String = event_ids
        .iter()
        .map(|id| format!("{id}{INDEX}{rule_uuid}"))
        .collect();
    let blocks: Vec<String> = (0..event_ids.len())
        .map(|i| sha256(&[&base, &i.to_string()]))
        .collect();
    let mut shell_input = String::new();
    for (id, block) in event_ids.iter().zip(&blocks) {
        shell_input.push_str(&format!("{id}{INDEX}{block}"));
    }
    shell_input.push_str(rule_uuid);
    (blocks, sha256(&[&shell_input]))
}

fn field<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &doc[key]
}

#[test]
fn two_event_sequence_building_blocks_are_full_single_event_alerts() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let events = [okta_doc(1), okta_doc(2)];
    let seq = build(&t, &events);
    let (block_ids, shell_id) = expected_ids(
        &[
            "3aeede38-4f67-11ea-abd3-1f5d113f2546",
            "3af594f9-4f67-11ea-abd3-1f5d113f2546",
        ],
        &r.uuid(),
    );
    assert_eq!(seq.building_blocks.len(), 2);
    assert_eq!(seq.shell.id, shell_id);
    for (i, (block, event)) in seq.building_blocks.iter().zip(&events).enumerate() {
        assert_eq!(block.id, block_ids[i]);
        // The block is the single-event alert of its event under its own id, plus three fields.
        let ancestor = ancestor_for(event, Some(INDEX), None);
        let mut single = t
            .build_with_id(event, &ancestor, now(), block.id.clone())
            .doc;
        let single = single.as_object_mut().unwrap();
        single.insert("kibana.alert.building_block_type".into(), json!("default"));
        single.insert("kibana.alert.group.id".into(), json!(shell_id));
        single.insert("kibana.alert.group.index".into(), json!(i));
        assert_eq!(block.doc, Value::Object(single.clone()), "block {i}");

        let doc = &block.doc;
        assert_eq!(field(doc, "kibana.alert.uuid"), &json!(block_ids[i]));
        assert_eq!(field(doc, "kibana.alert.group.index"), &json!(i));
        assert!(field(doc, "kibana.alert.group.index").is_u64());
        assert_eq!(field(doc, "kibana.alert.depth"), &json!(1));
        assert_eq!(
            field(doc, "kibana.alert.ancestors"),
            &json!([{"id": event["event"]["id"], "type": "event", "index": INDEX, "depth": 0}])
        );
        assert_eq!(
            field(doc, "kibana.alert.original_time"),
            &event["@timestamp"]
        );
        assert_eq!(
            field(doc, "kibana.alert.original_event.action"),
            &event["event"]["action"]
        );
        assert_eq!(field(doc, "event.kind"), &json!("signal"));
        assert_eq!(field(doc, "@timestamp"), &json!("2025-06-03T09:14:26.845Z"));
        assert_eq!(
            field(doc, "kibana.alert.url"),
            &json!(format!(
                "https://kibana.example.com/app/security/alerts/redirect/{}?index=\
                 .alerts-security.alerts-default&timestamp=2025-06-03T09:14:26.845Z",
                block_ids[i]
            ))
        );
        assert_eq!(field(doc, "kibana.alert.severity"), &json!("high"));
        assert_eq!(field(doc, "kibana.alert.rule.name"), &json!(RULE_NAME));
        assert_eq!(
            field(doc, "kibana.alert.reason"),
            &json!(format!(
                "{} event with source 175.16.199.1 by xxxxxx@elastic.co created high alert \
                 {RULE_NAME}.",
                event["event"]["category"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        );
    }
    // Full source copy: the policy event's own targets are on its block only.
    assert!(seq.building_blocks[1].doc["okta"]["target"].is_array());
    assert!(seq.building_blocks[0].doc["okta"].get("target").is_none());
}

#[test]
fn two_event_sequence_shell_fields() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let events = [okta_doc(1), okta_doc(2)];
    let seq = build(&t, &events);
    let shell = &seq.shell.doc;
    let b: Vec<&str> = seq.building_blocks.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        field(shell, "kibana.alert.ancestors"),
        &json!([
            {"id": "3aeede38-4f67-11ea-abd3-1f5d113f2546", "type": "event", "index": INDEX, "depth": 0},
            {"id": b[0], "type": "signal", "index": "", "depth": 1, "rule": r.uuid()},
            {"id": "3af594f9-4f67-11ea-abd3-1f5d113f2546", "type": "event", "index": INDEX, "depth": 0},
            {"id": b[1], "type": "signal", "index": "", "depth": 1, "rule": r.uuid()},
        ])
    );
    assert_eq!(field(shell, "kibana.alert.depth"), &json!(2));
    assert_eq!(field(shell, "kibana.alert.uuid"), &json!(seq.shell.id));
    assert_eq!(field(shell, "kibana.alert.group.id"), &json!(seq.shell.id));
    for block in &seq.building_blocks {
        assert_eq!(block.doc["kibana.alert.group.id"], json!(seq.shell.id));
    }
    let keys = shell.as_object().unwrap();
    assert!(!keys.contains_key("kibana.alert.group.index"));
    // The rule is not a building-block rule: the shell is what analysts see.
    assert!(!keys.contains_key("kibana.alert.building_block_type"));
    // rulestream: the first event's time, not the first block's creation time (Kibana quirk).
    assert_eq!(
        field(shell, "kibana.alert.original_time"),
        &json!("2020-02-14T20:18:57.718Z")
    );
    assert_eq!(
        field(shell, "@timestamp"),
        &json!("2025-06-03T09:14:26.845Z")
    );
    assert_eq!(field(shell, "event.kind"), &json!("signal"));
    assert_eq!(field(shell, "kibana.alert.severity"), &json!("high"));
    assert_eq!(field(shell, "kibana.alert.risk_score"), &json!(73));
    assert_eq!(field(shell, "kibana.alert.rule.name"), &json!(RULE_NAME));
    assert_eq!(field(shell, "kibana.alert.rule.uuid"), &json!(r.uuid()));
    assert_eq!(field(shell, "kibana.alert.rule.type"), &json!("eql"));
    assert_eq!(
        field(shell, "kibana.alert.url"),
        &json!(format!(
            "https://kibana.example.com/app/security/alerts/redirect/{}?index=\
             .alerts-security.alerts-default&timestamp=2025-06-03T09:14:26.845Z",
            seq.shell.id
        ))
    );
    // Reason from the intersection: common category, address and user.
    assert_eq!(
        field(shell, "kibana.alert.reason"),
        &json!(format!(
            "authentication event with source 175.16.199.1 by xxxxxx@elastic.co created high \
             alert {RULE_NAME}."
        ))
    );
    // Body = intersection of the two events.
    assert_eq!(shell["event"]["category"], json!(["authentication"]));
    assert_eq!(shell["event"]["type"], json!(["info"]));
    assert_eq!(shell["event"]["outcome"], json!("success"));
    assert!(shell["event"].get("action").is_none());
    assert!(shell["event"].get("id").is_none());
    assert!(shell["event"].get("original").is_none());
    assert_eq!(
        field(shell, "kibana.alert.original_event.category"),
        &json!(["authentication"])
    );
    assert_eq!(
        field(shell, "kibana.alert.original_event.kind"),
        &json!("event")
    );
    assert!(keys.get("kibana.alert.original_event.action").is_none());
    assert_eq!(shell["source"]["ip"], json!("175.16.199.1"));
    assert_eq!(shell["user"]["name"], json!("xxxxxx@elastic.co"));
    assert_eq!(
        shell["related"]["user"],
        json!(["xxxxxx", "xxxxxx@elastic.co"])
    );
    assert_eq!(
        shell["okta"]["transaction"]["id"],
        json!("XkcAsWb8WjwDP76xh@1v8wAABp0")
    );
    // Arrays of objects never intersect (Kibana compares them by reference), the key stays.
    assert_eq!(shell["okta"]["request"]["ip_chain"], json!([]));
    // A field only one event has is not common.
    assert!(shell["okta"].get("target").is_none());
    assert!(shell["okta"].get("display_message").is_none());
    // Flattened object: the keys with equal values survive.
    assert_eq!(
        shell["okta"]["debug_context"]["debug_data"]["flattened"],
        json!({"deviceFingerprint": "541daf91d15bef64a7e08c946fd9a9d0",
               "requestId": "XkcAsWb8WjwDP76xh@1v8wAABp0", "requestUri": "/api/v1/authn",
               "threatSuspected": "false", "url": "/api/v1/authn?"})
    );
}

#[test]
fn three_event_sequence() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let events = [okta_doc(1), okta_doc(2), okta_doc(6)];
    let seq = build(&t, &events);
    let (block_ids, shell_id) = expected_ids(
        &[
            "3aeede38-4f67-11ea-abd3-1f5d113f2546",
            "3af594f9-4f67-11ea-abd3-1f5d113f2546",
            "faf7398a-4f77-11ea-97fb-5925e98228bd",
        ],
        &r.uuid(),
    );
    let got: Vec<&str> = seq.building_blocks.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(got, block_ids);
    assert_eq!(seq.shell.id, shell_id);
    for (i, block) in seq.building_blocks.iter().enumerate() {
        assert_eq!(block.doc["kibana.alert.group.index"], json!(i));
        assert_eq!(block.doc["kibana.alert.group.id"], json!(shell_id));
        assert_eq!(
            block.doc["kibana.alert.building_block_type"],
            json!("default")
        );
    }
    let shell = &seq.shell.doc;
    let ancestors = shell["kibana.alert.ancestors"].as_array().unwrap();
    assert_eq!(ancestors.len(), 6);
    for (i, pair) in ancestors.chunks(2).enumerate() {
        assert_eq!(pair[0]["id"], events[i]["event"]["id"]);
        assert_eq!(pair[0]["type"], json!("event"));
        assert_eq!(pair[1]["id"], json!(block_ids[i]));
        assert_eq!(pair[1]["type"], json!("signal"));
    }
    assert_eq!(shell["kibana.alert.depth"], json!(2));
    assert_eq!(
        shell["kibana.alert.original_time"],
        json!("2020-02-14T20:18:57.718Z")
    );
    // The session end has another transaction: no longer common.
    assert!(shell["okta"]
        .get("transaction")
        .is_none_or(|t| t.get("id").is_none()));
    assert_eq!(shell["event"]["category"], json!(["authentication"]));
    assert_eq!(shell["event"]["type"], json!(["info"]));
    assert_eq!(shell["user"]["name"], json!("xxxxxx@elastic.co"));
}

#[test]
fn building_blocks_and_shell_ignore_per_event_overrides() {
    let mut r = rule();
    r.severity_mapping = vec![SeverityMapping {
        field: "event.outcome".into(),
        operator: "equals".into(),
        value: "success".into(),
        severity: Severity::Critical,
    }];
    r.rule_name_override = Some("okta.display_message".into());
    let t = RuleTemplate::new(&r, &ctx());
    let events = [okta_doc(1), okta_doc(2)];
    // A single-event alert would be overridden …
    let single = t.build(
        &events[0],
        &ancestor_for(&events[0], Some(INDEX), None),
        now(),
    );
    assert_eq!(single.doc["kibana.alert.severity"], json!("critical"));
    assert_eq!(
        single.doc["kibana.alert.rule.name"],
        json!("User login to Okta")
    );
    // … sequence alerts are not (Kibana: `applyOverrides: false`, rule's own values).
    let seq = build(&t, &events);
    for doc in seq
        .building_blocks
        .iter()
        .chain([&seq.shell])
        .map(|a| &a.doc)
    {
        assert_eq!(doc["kibana.alert.severity"], json!("high"));
        assert_eq!(doc["kibana.alert.rule.name"], json!(RULE_NAME));
        let reason = doc["kibana.alert.reason"].as_str().unwrap();
        assert!(
            reason.ends_with(&format!("created high alert {RULE_NAME}.")),
            "{reason}"
        );
    }
}

#[test]
fn building_block_rule_marks_the_shell_too() {
    let mut r = rule();
    r.building_block_type = Some("default".into());
    let t = RuleTemplate::new(&r, &ctx());
    let seq = build(&t, &[okta_doc(1), okta_doc(2)]);
    assert_eq!(
        seq.shell.doc["kibana.alert.building_block_type"],
        json!("default")
    );
    assert!(seq.shell.doc.get("kibana.alert.group.index").is_none());
}

#[test]
fn ids_are_deterministic_and_distinct() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let (a, b, c) = (okta_doc(1), okta_doc(2), okta_doc(6));
    let first = build(&t, &[a.clone(), b.clone()]);
    // A replay later (other processing time, another process) reproduces every id.
    let later: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let other_process = RuleTemplate::new(&r, &ctx());
    let replay = build_at(&other_process, &[a.clone(), b.clone()], later);
    let ids = |s: &SequenceAlerts| -> Vec<String> {
        s.building_blocks
            .iter()
            .map(|x| x.id.clone())
            .chain([s.shell.id.clone()])
            .collect()
    };
    assert_eq!(ids(&first), ids(&replay));
    assert_ne!(
        first.shell.doc["@timestamp"],
        replay.shell.doc["@timestamp"]
    );

    let swapped = build(&t, &[b.clone(), a.clone()]);
    let other_event = build(&t, &[a.clone(), c.clone()]);
    let longer = build(&t, &[a.clone(), b.clone(), c.clone()]);
    let mut other_rule = r.clone();
    other_rule.rule_id = "another-rule".into();
    let other_rule = build(
        &RuleTemplate::new(&other_rule, &ctx()),
        &[a.clone(), b.clone()],
    );
    let mut all: Vec<String> = Vec::new();
    for s in [&first, &swapped, &other_event, &longer, &other_rule] {
        all.extend(ids(s));
    }
    let n = all.len();
    all.sort();
    all.dedup();
    // Every block and shell id differs: order, membership, length and rule all count, and the
    // same event in two sequences gets two different blocks.
    assert_eq!(all.len(), n);
    assert!(all.iter().all(|id| id.len() == 64));
}

#[test]
fn intersection_edge_cases_in_the_shell() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let base = |id: &str, extra: Value| -> Map<String, Value> {
        let mut m = obj(json!({
            "@timestamp": "2025-06-03T09:00:00.000Z",
            "data_stream": {"type": "logs", "dataset": "okta.system", "namespace": "default"},
            "event": {"id": id, "kind": "event", "category": ["iam"]},
        }));
        m.extend(obj(extra));
        m
    };
    let e1 = base(
        "e1",
        json!({
            "okta": {"n": 5, "s": "5", "f": 5, "nested": {"same": "x", "diff": "a",
                     "deep": {"k": true, "only1": 1}}, "arr": ["a", "b", "c"], "only1": "x",
                     "scalar_vs_arr": "b", "obj_arr": [{"id": 1}], "nul": null},
            "user.name": "jdoe",
            "source": {"ip": "10.0.0.1"}
        }),
    );
    let e2 = base(
        "e2",
        json!({
            "okta": {"n": "5", "s": "5", "f": 5.0, "nested": {"same": "x", "diff": "b",
                     "deep": {"k": true}}, "arr": ["c", "a"], "scalar_vs_arr": ["a", "b"],
                     "obj_arr": [{"id": 1}], "nul": null},
            "user": {"name": "jdoe"},
            "source.ip": "10.0.0.1"
        }),
    );
    let seq = build(&t, &[e1, e2]);
    let shell = &seq.shell.doc;
    assert_eq!(
        shell["okta"],
        json!({"s": "5", "f": 5, "nested": {"same": "x", "deep": {"k": true}},
               "arr": ["a", "c"], "scalar_vs_arr": ["b"], "obj_arr": [], "nul": null})
    );
    // Dotted in one event and nested in the other: one field, written nested.
    assert_eq!(shell["user"], json!({"name": "jdoe"}));
    assert_eq!(shell["source"], json!({"ip": "10.0.0.1"}));
    assert_eq!(
        shell["kibana.alert.reason"],
        json!(format!(
            "iam event with source 10.0.0.1 by jdoe created high alert {RULE_NAME}."
        ))
    );
    // Data-stream copies are common too (dotted in both, so kept dotted).
    assert_eq!(
        shell["kibana.alert.original_data_stream.dataset"],
        json!("okta.system")
    );
    assert_eq!(
        shell["kibana.alert.ancestors"][0]["index"],
        json!("logs-okta.system-default")
    );
}

#[test]
fn nothing_in_common_and_degenerate_sequences_do_not_panic() {
    let r = rule();
    let t = RuleTemplate::new(&r, &ctx());
    let a = obj(json!({"x": 1, "event": {"id": "a"}}));
    let b = obj(json!({"y": 2, "event": {"id": "b"}}));
    let seq = build(&t, &[a.clone(), b]);
    let shell = seq.shell.doc.as_object().unwrap();
    assert!(!shell.contains_key("x") && !shell.contains_key("y"));
    assert_eq!(
        shell["kibana.alert.reason"],
        json!(format!("event created high alert {RULE_NAME}."))
    );
    assert!(!shell.contains_key("kibana.alert.original_time"));

    // One event (e.g. a sequence whose other steps were `!` missing events).
    let one = build(&t, std::slice::from_ref(&a));
    assert_eq!(one.building_blocks.len(), 1);
    assert_eq!(one.shell.doc["x"], json!(1));
    assert_eq!(
        one.shell.doc["kibana.alert.ancestors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let none = t.build_sequence(&[], now());
    assert!(none.building_blocks.is_empty());
    assert_eq!(none.shell.doc["kibana.alert.ancestors"], json!([]));
    assert_eq!(none.shell.doc["kibana.alert.depth"], json!(2));
}
