//! Shared helpers of the `stateful_*` tests: corpus rules, events at minute offsets, and an
//! evaluator run that returns the alert documents.

#![allow(dead_code, clippy::unwrap_used)] // Each test binary uses a subset; tests may panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use rulestream::engine::ruleset::{Engine, EngineSettings, Evaluator, RuleOutcome};
use rulestream::engine::stateful::{Learning, StatefulSettings};
use rulestream::engine::EventOrigin;
use rulestream::okta::{InputFormat, NormalizeOptions};
use rulestream::rules::{parse_rule, Rule};

pub const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta"
);

/// 2025-06-03T10:00:00Z in ms: minute 0 of every test.
pub const BASE_MS: i64 = 1_748_944_800_000;
pub const MIN: i64 = 60_000;
pub const DAY: i64 = 86_400_000;

pub fn corpus_text(file: &str) -> String {
    std::fs::read_to_string(Path::new(CORPUS).join(file)).unwrap()
}

pub fn rule(text: &str) -> Rule {
    parse_rule(&PathBuf::from("test.toml"), text).unwrap()
}

pub fn now() -> DateTime<Utc> {
    "2026-01-01T00:00:00.000Z".parse().unwrap()
}

pub fn settings() -> StatefulSettings {
    StatefulSettings {
        learning: Learning::Off,
        ..StatefulSettings::default()
    }
}

pub fn engine(rules: Vec<Rule>, stateful: StatefulSettings) -> Arc<Engine> {
    let settings = EngineSettings {
        input_format: InputFormat::Ecs,
        normalize: NormalizeOptions::new(now()),
        ..EngineSettings::default()
    };
    let (engine, statuses) = Engine::with_stateful(rules, settings, stateful);
    for s in &statuses {
        assert_eq!(s.outcome, RuleOutcome::Ok, "{}", s.rule.name);
    }
    Arc::new(engine)
}

/// Sets dotted `path` in nested objects.
fn set(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = doc
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = inner {
                set(m, rest, value);
            }
        }
    }
}

/// An Okta ECS event ingested at `ms` (event time of rules with `timestamp_override =
/// event.ingested`; `@timestamp` is 5 s earlier) with `fields` (dotted paths; `null` leaves the
/// field out). `n` makes `event.id`.
pub fn event(n: usize, ms: i64, fields: &[(&str, Value)]) -> Vec<u8> {
    let mut doc = Map::new();
    set(&mut doc, "@timestamp", iso(ms - 5_000).into());
    set(&mut doc, "event.ingested", iso(ms).into());
    set(&mut doc, "event.id", format!("ev-{n}").into());
    set(&mut doc, "data_stream.type", "logs".into());
    set(&mut doc, "data_stream.dataset", "okta.system".into());
    set(&mut doc, "data_stream.namespace", "default".into());
    for (path, value) in fields {
        if !value.is_null() {
            set(&mut doc, path, value.clone());
        }
    }
    serde_json::to_vec(&Value::Object(doc)).unwrap()
}

pub fn iso(ms: i64) -> String {
    use chrono::TimeZone;
    rulestream::alert::format_ms(Utc.timestamp_millis_opt(ms).unwrap())
}

/// Evaluates `events` in order as records of topic `t`, partition 0, offsets from `first`
/// (or as file input when `topic` is `None`); returns the alert documents.
pub fn feed(ev: &mut Evaluator, topic: Option<&str>, first: i64, events: &[Vec<u8>]) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let origin = EventOrigin {
            topic,
            partition: 0,
            offset: first + i as i64,
            default_index: None,
        };
        ev.evaluate_at(e, &origin, now(), &mut out).unwrap();
    }
    out.iter()
        .map(|a| {
            let doc: Value = serde_json::from_slice(&a.doc).unwrap();
            assert_eq!(doc["kibana.alert.uuid"], json!(a.id));
            doc
        })
        .collect()
}

/// [`feed`] then [`Evaluator::flush`].
pub fn feed_and_flush(ev: &mut Evaluator, events: &[Vec<u8>]) -> Vec<Value> {
    let mut docs = feed(ev, None, 0, events);
    let mut out = Vec::new();
    ev.flush(now(), &mut out).unwrap();
    docs.extend(
        out.iter()
            .map(|a| serde_json::from_slice::<Value>(&a.doc).unwrap()),
    );
    docs
}

/// The `kibana.alert.uuid`s of alert documents, sorted (to compare runs whose alerts come in
/// different orders).
pub fn uuids(docs: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = docs
        .iter()
        .map(|d| d["kibana.alert.uuid"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}
