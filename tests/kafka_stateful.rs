//! Stateful rules in the Kafka stage: suppression updates sent by the workers' flush (timer and
//! shutdown) go through the alert sink without source headers and with the alert's own id; an
//! EQL sequence rule writes its building blocks and shell to the alerts topic.

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::sync::Arc;
use std::time::Duration;

use rulestream::pipeline::EngineFactory;
use serde_json::{json, Value};
use support::*;

const T: Duration = Duration::from_secs(60);
const IMPERSONATION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta/credential_access_user_impersonation_access.toml"
);

/// Elastic's impersonation rule with suppression by user for one hour of event time.
fn suppressed_rule_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(IMPERSONATION).unwrap();
    let text = format!(
        "{text}\n[rule.alert_suppression]\ngroup_by = [\"user.name\"]\n\
         missing_fields_strategy = \"suppress\"\n\
         [rule.alert_suppression.duration]\nvalue = 1\nunit = \"h\"\n"
    );
    std::fs::write(dir.path().join("rule.toml"), text).unwrap();
    dir
}

fn impersonation(i: usize, minute: u32, user: &str) -> Input {
    let doc = json!({
        "@timestamp": format!("2026-11-25T10:{minute:02}:00.000Z"),
        "event": {"id": format!("evt-{i}"), "action": "user.session.impersonation.initiate",
                  "dataset": "okta.system"},
        "data_stream": {"type": "logs", "dataset": "okta.system", "namespace": "default"},
        "user": {"name": user},
    });
    Input {
        key: None,
        payload: serde_json::to_vec(&doc).unwrap(),
        partition: Some(0),
    }
}

fn stage(names: &Names, flush_interval_ms: u64, rules: &std::path::Path) -> StageThread {
    let mut s = settings(
        names,
        free_port(),
        &format!(
            "[stateful]\nflush_interval_ms = {flush_interval_ms}\nnew_terms_learning = \"off\"\n"
        ),
    );
    s.rules = vec![rules.to_path_buf()];
    let engine = rulestream::cli::run::build_engine(&s).unwrap();
    StageThread::start(s, Arc::new(EngineFactory(Arc::new(engine))))
}

fn docs_counts(alerts: &[Output]) -> Vec<(String, u64, bool)> {
    alerts
        .iter()
        .map(|a| {
            let doc: Value = serde_json::from_slice(&a.payload).unwrap();
            let count = doc["kibana.alert.suppression.docs_count"].as_u64().unwrap();
            (
                a.key.clone().unwrap(),
                count,
                a.headers.contains_key("source_offset"),
            )
        })
        .collect()
}

#[test]
fn suppression_updates_are_sent_on_the_flush_timer() {
    let names = Names::new("flush-timer");
    create_topic(broker(), &names.input, 1);
    let rules = suppressed_rule_dir();
    let inputs = [
        impersonation(0, 0, "u1"),
        impersonation(1, 1, "u1"),
        impersonation(2, 2, "u1"),
    ];
    let ends = produce_all(broker(), &names.input, &inputs);
    let stage = stage(&names, 200, rules.path());
    // The first alert at once, then (no more events, the window is open) the timer's update.
    let alerts = read_topic(broker(), &names.alerts, 2, Duration::from_secs(1), T);
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    // One open suppression window, published by the worker as a state-entries gauge.
    let entries = stage
        .metrics
        .state_entries
        .with_label_values(&["suppression_groups"]);
    wait_until("state entries gauge", T, || entries.get() == 1);
    assert_eq!(
        stage
            .metrics
            .stateful_events
            .with_label_values(&["late"])
            .get(),
        0
    );
    stage.stop(T).expect("clean stop");
    let got = docs_counts(&alerts);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, got[1].0, "the update has the alert's id");
    assert_eq!(
        (got[0].1, got[0].2),
        (0, true),
        "first alert, from an event"
    );
    assert_eq!(
        (got[1].1, got[1].2),
        (2, false),
        "update: two folds, no source"
    );
}

#[test]
fn suppression_updates_are_sent_at_shutdown() {
    let names = Names::new("flush-stop");
    create_topic(broker(), &names.input, 1);
    let rules = suppressed_rule_dir();
    let inputs = [impersonation(0, 0, "u1"), impersonation(1, 1, "u1")];
    let ends = produce_all(broker(), &names.input, &inputs);
    // The timer never fires during the test: only the shutdown flush can send the update.
    let stage = stage(&names, 3_600_000, rules.path());
    read_topic(broker(), &names.alerts, 1, Duration::from_millis(200), T);
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    stage.stop(T).expect("clean stop");
    let alerts = read_topic(broker(), &names.alerts, 2, Duration::from_secs(1), T);
    let got = docs_counts(&alerts);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, got[1].0);
    assert_eq!(got[1].1, 1, "the fold is reported at shutdown");
}

/// An Okta event for Elastic's MFA push-bombing EQL rule (`okta.event_type`, actor, result).
fn okta_event(i: usize, second: u32, event_type: &str, result: &str) -> Input {
    let time = format!("2026-11-25T10:00:{second:02}.000Z");
    let doc = json!({
        "@timestamp": time,
        "event": {"id": format!("evt-{i}"), "ingested": time, "dataset": "okta.system",
                  "action": event_type},
        "data_stream": {"type": "logs", "dataset": "okta.system", "namespace": "default"},
        "okta": {"event_type": event_type, "actor": {"id": "actor-1"},
                 "outcome": {"result": result}},
    });
    Input {
        key: None,
        payload: serde_json::to_vec(&doc).unwrap(),
        partition: Some(0),
    }
}

#[test]
fn an_eql_sequence_rule_alerts_through_the_stage() {
    let names = Names::new("eql-seq");
    create_topic(broker(), &names.input, 1);
    let rules = tempfile::tempdir().unwrap();
    let rule =
        "credential_access_okta_potentially_successful_okta_bombing_via_push_notifications.toml";
    std::fs::copy(
        format!(
            "{}/../shared/data/detection-rules-okta/{rule}",
            env!("CARGO_MANIFEST_DIR")
        ),
        rules.path().join(rule),
    )
    .unwrap();
    // Five denied pushes, then a successful sign-in by the same actor: one sequence.
    let mut inputs: Vec<Input> = (0..5)
        .map(|i| okta_event(i, i as u32 * 10, "user.mfa.okta_verify.deny_push", "DENY"))
        .collect();
    inputs.push(okta_event(5, 55, "user.authentication.sso", "SUCCESS"));
    let ends = produce_all(broker(), &names.input, &inputs);

    // What the engine gives for the same records at the same offsets.
    let mut s = settings(&names, free_port(), "");
    s.rules = vec![rules.path().to_path_buf()];
    let engine = Arc::new(rulestream::cli::run::build_engine(&s).unwrap());
    let mut ev = engine.evaluator();
    let payloads = inputs.iter().map(|i| i.payload.as_slice());
    let expected: std::collections::BTreeSet<String> =
        alert_ids_at_offsets(&mut ev, (&names.input, 0, 0), payloads)
            .into_iter()
            .collect();
    assert_eq!(expected.len(), 7, "6 building blocks and the shell");

    let stage = stage(&names, 3_600_000, rules.path());
    let alerts = alerts_after_commit(&names, &ends, expected.len());
    stage.stop(T).expect("clean stop");
    let keys: std::collections::BTreeSet<String> = alerts_by_key(&alerts).keys().cloned().collect();
    assert_eq!(keys, expected);
    let docs: Vec<Value> = alerts
        .iter()
        .map(|a| serde_json::from_slice(&a.payload).unwrap())
        .collect();
    let blocks = docs
        .iter()
        .filter(|d| d["kibana.alert.building_block_type"] == "default")
        .count();
    let shells: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kibana.alert.depth"] == 2)
        .collect();
    assert_eq!((blocks, shells.len()), (6, 1));
    assert_eq!(
        shells[0]["kibana.alert.group.id"],
        shells[0]["kibana.alert.uuid"]
    );
}
