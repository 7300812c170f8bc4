//! Realistic Okta ECS events for benchmarks, built from Elastic's own Okta integration fixtures
//! (`../shared/data/okta-integration/*-expected.json`): each event is one of those 26 documents
//! with fresh ids and times, the data-stream fields Fleet adds, `event.original` kept on 30% of
//! events (so the mean size is about 3.4 KB), and on 1% of events an `event.action` that one of
//! Elastic's Okta query rules alerts on.

use serde_json::{json, Value};

/// Actions that Elastic's Okta query rules alert on by action alone.
const ALERTING_ACTIONS: &[&str] = &[
    "user.session.impersonation.initiate",
    "zone.deactivate",
    "policy.lifecycle.delete",
    "policy.rule.deactivate",
    "application.lifecycle.delete",
    "system.api_token.revoke",
    "user.mfa.attempt_bypass",
];

pub fn shared_data(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(path)
}

/// `n` events as compact JSON lines (no newline).
pub fn okta_events(n: usize) -> Vec<Vec<u8>> {
    let path =
        shared_data("okta-integration/test-okta-system-yes-flattened-events.log-expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("benchmark data {} is missing: {e}", path.display()));
    let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let docs = fixture["expected"]
        .as_array()
        .expect("fixture has `expected`")
        .clone();
    (0..n)
        .map(|i| {
            let mut doc = docs[i % docs.len()].clone();
            let id = format!("{:08x}-4a7c-11f0-9e3d-{:012x}", i as u32, i as u64 * 7919);
            let second = i % 86_400;
            let ts = format!(
                "2025-06-03T{:02}:{:02}:{:02}.{:03}Z",
                second / 3600,
                second / 60 % 60,
                second % 60,
                i % 1000
            );
            doc["@timestamp"] = json!(ts);
            doc["data_stream"] =
                json!({"type": "logs", "dataset": "okta.system", "namespace": "default"});
            let event = doc["event"]
                .as_object_mut()
                .expect("fixture events have `event`");
            event.insert("id".into(), json!(id));
            event.insert("dataset".into(), json!("okta.system"));
            event.insert("module".into(), json!("okta"));
            event.insert("ingested".into(), json!(ts));
            if i % 10 >= 3 {
                event.remove("original");
            }
            if i % 100 == 7 {
                let action = ALERTING_ACTIONS[(i / 100) % ALERTING_ACTIONS.len()];
                event.insert("action".into(), json!(action));
                doc["okta"]["event_type"] = json!(action);
            }
            // Three fixture events carry Okta risk behaviors, which "New Okta Authentication
            // Behavior Detected" alerts on; keep them only on the alerting 1%.
            if i % 100 != 7 {
                if let Some(debug) = doc
                    .pointer_mut("/okta/debug_context/debug_data")
                    .and_then(Value::as_object_mut)
                {
                    debug.remove("risk_behaviors");
                }
            }
            doc["okta"]["uuid"] = json!(id);
            serde_json::to_vec(&doc).expect("serializable")
        })
        .collect()
}

/// Engine settings for benchmarks: defaults, ECS input (the events are already ECS).
pub fn bench_settings() -> rulestream::engine::ruleset::EngineSettings {
    rulestream::engine::ruleset::EngineSettings::default()
}

/// `n` raw Okta System Log events (as Okta's API sends them), from the integration's raw fixture
/// lines with fresh `uuid`s and times; 1% carry an action an Okta query rule alerts on.
#[allow(dead_code)]
pub fn raw_okta_events(n: usize) -> Vec<Vec<u8>> {
    let path = shared_data("okta-integration/test-okta-system-yes-flattened-events.log");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("benchmark data {} is missing: {e}", path.display()));
    let docs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("raw fixture is JSON"))
        .collect();
    (0..n)
        .map(|i| {
            let mut doc = docs[i % docs.len()].clone();
            let id = format!("{:08x}-4a7c-11f0-9e3d-{:012x}", i as u32, i as u64 * 7919);
            let second = i % 86_400;
            doc["uuid"] = json!(id);
            doc["published"] = json!(format!(
                "2025-06-03T{:02}:{:02}:{:02}.{:03}Z",
                second / 3600,
                second / 60 % 60,
                second % 60,
                i % 1000
            ));
            if i % 100 != 7 {
                // See `okta_events`: risk behaviors alert; keep them on the alerting 1% only.
                if let Some(debug) = doc
                    .pointer_mut("/debugContext/debugData")
                    .and_then(Value::as_object_mut)
                {
                    debug.remove("behaviors");
                    debug.remove("risk");
                }
            } else {
                doc["eventType"] = json!(ALERTING_ACTIONS[(i / 100) % ALERTING_ACTIONS.len()]);
            }
            serde_json::to_vec(&doc).expect("serializable")
        })
        .collect()
}

/// Event time of the first event of [`retimed_okta_docs`] (2025-06-03T10:00:00Z).
#[allow(dead_code)]
pub const BASE_MS: i64 = 1_748_944_800_000;

/// [`okta_events`] parsed, re-timed to 10 events per second of event time from [`BASE_MS`]
/// (`@timestamp` and `event.ingested`): the stream the stateful and EQL benches mix their
/// triggers into.
#[allow(dead_code)]
pub fn retimed_okta_docs(n: usize) -> Vec<Value> {
    use chrono::TimeZone;
    okta_events(n)
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut doc: Value = serde_json::from_slice(&bytes).expect("JSON");
            let ms = BASE_MS + i as i64 * 100;
            let ts = rulestream::alert::format_ms(
                chrono::Utc
                    .timestamp_millis_opt(ms)
                    .single()
                    .expect("valid time"),
            );
            doc["@timestamp"] = serde_json::json!(ts);
            doc["event"]["ingested"] = serde_json::json!(ts);
            doc
        })
        .collect()
}
