//! Alert building behaviours beyond the golden documents: URLs, the ECS mirror switch, per-event
//! overrides, `original_time` fallbacks, type-specific parameters, and every corpus rule.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use rulestream::alert::{ancestor_for, Alert, AlertContext, RuleTemplate};
use rulestream::rules::{load_dirs, Rule};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta"
);

fn corpus_rule(file: &str) -> Rule {
    let report = load_dirs(&[PathBuf::from(CORPUS).join(file)]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report.rules.into_iter().next().expect("one rule")
}

fn now() -> DateTime<Utc> {
    "2025-06-03T09:14:26.845Z".parse().unwrap()
}

fn event() -> Map<String, Value> {
    let v = json!({
        "@timestamp": "2025-06-03T09:14:22.517Z",
        "data_stream": {"dataset": "okta.system", "namespace": "default", "type": "logs"},
        "event": {"id": "e-1", "kind": "event", "category": ["session"],
                  "ingested": "2025-06-03T09:14:26Z"},
        "source": {"ip": "198.51.100.23"},
        "user": {"name": "jane.admin"},
        "okta": {"display_message": "Threat suspected",
                 "debug_context": {"debug_data": {"risk_level": "HIGH"}}}
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn build_with(rule: &Rule, ctx: &AlertContext, ev: &Map<String, Value>) -> Alert {
    let t = RuleTemplate::new(rule, ctx);
    t.build(ev, &ancestor_for(ev, None, None), now())
}

fn build(rule: &Rule, ev: &Map<String, Value>) -> Alert {
    build_with(rule, &AlertContext::default(), ev)
}

#[test]
fn url_only_with_public_base_url_and_space_segment_outside_default() {
    let rule = corpus_rule("credential_access_user_impersonation_access.toml");
    let ev = event();
    assert!(build(&rule, &ev).doc.get("kibana.alert.url").is_none());

    let ctx = AlertContext {
        public_base_url: Some("https://kibana.example.com/".into()),
        ..AlertContext::default()
    };
    let a = build_with(&rule, &ctx, &ev);
    assert_eq!(
        a.doc["kibana.alert.url"],
        json!(format!(
            "https://kibana.example.com/app/security/alerts/redirect/{}\
             ?index=.alerts-security.alerts-default&timestamp=2025-06-03T09:14:26.845Z",
            a.id
        ))
    );

    let ctx = AlertContext {
        space_id: "soc".into(),
        ..ctx
    };
    let b = build_with(&rule, &ctx, &ev);
    assert_ne!(a.id, b.id, "the space is part of the id");
    assert_eq!(b.doc["kibana.space_ids"], json!(["soc"]));
    assert_eq!(
        b.doc["kibana.alert.url"],
        json!(format!(
            "https://kibana.example.com/s/soc/app/security/alerts/redirect/{}\
             ?index=.alerts-security.alerts-soc&timestamp=2025-06-03T09:14:26.845Z",
            b.id
        ))
    );
}

#[test]
fn ecs_mirror_never_overwrites_source_rule_or_threat() {
    let rule = corpus_rule("credential_access_user_impersonation_access.toml");
    let mut ev = event();
    ev.insert("rule".into(), json!({"name": "IDS signature 42"}));
    let a = build(&rule, &ev);
    assert_eq!(a.doc["rule"], json!({"name": "IDS signature 42"}));
    assert_eq!(a.doc["threat"]["framework"], json!("MITRE ATT&CK"));

    ev.remove("rule");
    ev.insert("threat.indicator.type".into(), json!("ipv4-addr"));
    let b = build(&rule, &ev);
    assert_eq!(b.doc["rule"]["id"], json!(rule.rule_id));
    assert!(b.doc.get("threat").is_none());
    assert_eq!(b.doc["threat.indicator.type"], json!("ipv4-addr"));

    let off = AlertContext {
        ecs_rule_mirror: false,
        ..AlertContext::default()
    };
    let c = build_with(&rule, &off, &event());
    assert!(c.doc.get("rule").is_none() && c.doc.get("threat").is_none());
}

#[test]
fn severity_mapping_and_name_override_apply_per_event() {
    let rule = corpus_rule("okta_threatinsight_threat_suspected_promotion.toml");
    let a = build(&rule, &event());
    assert_eq!(a.doc["kibana.alert.severity"], json!("high"));
    assert_eq!(a.doc["kibana.alert.rule.severity"], json!("medium"));
    assert_eq!(a.doc["kibana.alert.rule.name"], json!("Threat suspected"));
    assert_eq!(a.doc["rule"]["name"], json!("Threat suspected"));
    assert_eq!(
        a.doc["kibana.alert.reason"],
        json!(
            "session event with source 198.51.100.23 by jane.admin created high alert \
               Threat suspected."
        )
    );
    assert_eq!(
        a.doc["kibana.alert.rule.rule_name_override"],
        json!("okta.display_message")
    );

    let mut plain = event();
    plain.remove("okta");
    let b = build(&rule, &plain);
    assert_eq!(b.doc["kibana.alert.severity"], json!("medium"));
    assert_eq!(b.doc["kibana.alert.rule.name"], json!(rule.name));
}

#[test]
fn original_time_is_timestamp_then_override_field_then_absent() {
    let rule = corpus_rule("credential_access_user_impersonation_access.toml");
    let mut ev = event();
    let a = build(&rule, &ev);
    assert_eq!(
        a.doc["kibana.alert.original_time"],
        json!("2025-06-03T09:14:22.517Z")
    );
    ev.remove("@timestamp");
    let b = build(&rule, &ev);
    assert_eq!(
        b.doc["kibana.alert.original_time"],
        json!("2025-06-03T09:14:26.000Z")
    );
    ev.remove("event");
    let c = build(&rule, &ev);
    assert!(c.doc.get("kibana.alert.original_time").is_none());
    // The alert's own @timestamp is always the processing time.
    assert_eq!(c.doc["@timestamp"], json!("2025-06-03T09:14:26.845Z"));
}

#[test]
fn type_specific_parameters_follow_kibana() {
    let nt = corpus_rule("initial_access_first_occurrence_user_session_started_via_proxy.toml");
    let a = build(&nt, &event());
    let p = &a.doc["kibana.alert.rule.parameters"];
    assert_eq!(
        p["new_terms_fields"],
        json!(["okta.actor.id", "cloud.account.id"])
    );
    assert_eq!(p["history_window_start"], json!("now-7d"));
    assert!(p.get("new_terms").is_none());
    assert_eq!(
        a.doc["kibana.alert.rule.rule_type_id"],
        json!("siem.newTermsRule")
    );
    assert_eq!(a.doc["kibana.alert.rule.category"], json!("New Terms Rule"));

    let th = corpus_rule("credential_access_multiple_user_agent_os_authentication.toml");
    let b = build(&th, &event());
    let p = &b.doc["kibana.alert.rule.parameters"];
    assert_eq!(
        p["threshold"],
        json!({"field": ["okta.debug_context.debug_data.dt_hash"], "value": 1,
               "cardinality": [{"field": "user_agent.os.name", "value": 2}]})
    );
    // A key rulestream does not interpret is copied through.
    assert!(p["investigation_fields"]["field_names"].is_array());
    for not_a_param in ["name", "tags", "interval"] {
        assert!(p.get(not_a_param).is_none(), "{not_a_param}");
    }
    assert_eq!(b.doc["kibana.alert.rule.category"], json!("Threshold Rule"));

    let bb = corpus_rule("initial_access_new_okta_authentication_behavior.toml");
    let c = build(&bb, &event());
    assert_eq!(c.doc["kibana.alert.building_block_type"], json!("default"));
    assert_eq!(
        c.doc["kibana.alert.rule.building_block_type"],
        json!("default")
    );
}

fn find_null(path: &str, v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(path.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| find_null(&format!("{path}[{i}]"), x)),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, x)| find_null(&format!("{path}.{k}"), x)),
        _ => None,
    }
}

#[test]
fn every_corpus_rule_builds_a_null_free_alert() {
    let report = load_dirs(&[PathBuf::from(CORPUS)]);
    assert_eq!(report.rules.len(), 52);
    let ev = event();
    for rule in &report.rules {
        let a = build(rule, &ev);
        assert_eq!(a.id.len(), 64);
        assert!(a.id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a.doc["kibana.alert.uuid"], json!(a.id));
        assert_eq!(a.doc["event.kind"], json!("signal"));
        assert!(a.doc["event"].get("kind").is_none());
        assert_eq!(
            a.doc["kibana.alert.rule.parameters"]["description"],
            json!(rule.description)
        );
        assert_eq!(find_null("", &a.doc), None, "{}", rule.path.display());
    }
}
