//! Threshold rules end to end (engine → alert documents) with Elastic's own Okta rules:
//! window edges, floods, out-of-order and late events, arrays, missing group-by fields,
//! cardinality, and the synthetic-parent alert shape (alert-schema §3.2).

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use serde_json::{json, Value};
use stateful::*;

const BRUTE_FORCE: &str = "credential_access_attempts_to_brute_force_okta_user_account.toml";
const SESSIONS: &str = "lateral_movement_multiple_sessions_for_single_user.toml";

/// A lockout of `actor` (`null`: no actor field) at minute `m`.
fn lock(n: usize, m: i64, actor: Value) -> Vec<u8> {
    event(
        n,
        BASE_MS + m * MIN,
        &[
            ("event.action", json!("user.account.lock")),
            ("okta.actor.alternate_id", actor),
        ],
    )
}

/// (count, from minute, to minute, actor) of each threshold alert.
fn summary(docs: &[Value]) -> Vec<(u64, i64, i64, String)> {
    docs.iter()
        .map(|d| {
            let r = &d["kibana.alert.threshold_result"];
            let ms = |v: &Value| {
                let t: chrono::DateTime<chrono::Utc> = v.as_str().unwrap().parse().unwrap();
                (t.timestamp_millis() - BASE_MS) / MIN
            };
            (
                r["count"].as_u64().unwrap(),
                ms(&r["from"]),
                ms(&d["kibana.alert.original_time"]),
                r["terms"][0]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn brute_force_rule_table() {
    let a = || json!("a@example.com");
    let b = || json!("b@example.com");
    type Case = (
        &'static str,
        Vec<(i64, Value)>,
        Vec<(u64, i64, i64, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "three lockouts inside 180 minutes fire once",
            vec![(0, a()), (10, a()), (20, a())],
            vec![(3, 0, 20, "a@example.com")],
        ),
        ("two are not enough", vec![(0, a()), (10, a())], vec![]),
        (
            "a flood fires once per window: the group re-arms 180 minutes after its alert",
            (0..8).map(|m| (m, a())).collect(),
            vec![(3, 0, 2, "a@example.com")],
        ),
        (
            "events counted while disarmed fire when it re-arms (signal history: 3..7 only)",
            (0..8).map(|m| (m, a())).chain([(183, a())]).collect(),
            vec![(3, 0, 2, "a@example.com"), (5, 3, 7, "a@example.com")],
        ),
        (
            "window edge: 180 minutes apart is inside (gte/lte)",
            vec![(0, a()), (90, a()), (180, a())],
            vec![(3, 0, 180, "a@example.com")],
        ),
        (
            "window edge: 181 minutes apart is outside",
            vec![(0, a()), (90, a()), (181, a())],
            vec![],
        ),
        (
            "groups count separately",
            vec![(0, a()), (1, b()), (2, a()), (3, b()), (4, a())],
            vec![(3, 0, 4, "a@example.com")],
        ),
        (
            "events without the group-by field are in no group",
            vec![
                (0, a()),
                (1, Value::Null),
                (2, a()),
                (3, Value::Null),
                (4, Value::Null),
            ],
            vec![],
        ),
        (
            "an array value counts in the group of each value",
            vec![
                (0, json!(["a@example.com", "b@example.com"])),
                (1, json!(["a@example.com", "b@example.com"])),
                (2, json!(["b@example.com", "a@example.com"])),
            ],
            vec![(3, 0, 2, "a@example.com"), (3, 0, 2, "b@example.com")],
        ),
        (
            "out of order within the allowed lateness counts",
            vec![(10, a()), (8, a()), (9, a())],
            vec![(3, 8, 10, "a@example.com")],
        ),
        (
            "later than the allowed lateness (5 min) is dropped",
            vec![(100, a()), (0, a()), (101, a())],
            vec![],
        ),
    ];
    let text = corpus_text(BRUTE_FORCE);
    for (name, events, want) in cases {
        let engine = engine(vec![rule(&text)], settings());
        let mut ev = engine.evaluator();
        let lines: Vec<Vec<u8>> = events
            .into_iter()
            .enumerate()
            .map(|(i, (m, actor))| lock(i, m, actor))
            .collect();
        let docs = feed_and_flush(&mut ev, &lines);
        let want: Vec<(u64, i64, i64, String)> = want
            .into_iter()
            .map(|(c, f, t, a)| (c, f, t, a.to_string()))
            .collect();
        let mut got = summary(&docs);
        got.sort();
        assert_eq!(got, want, "{name}");
        if name.starts_with("later than") {
            assert_eq!(ev.stateful_stats().late_events, 1, "{name}");
        }
    }
}

#[test]
fn threshold_alert_is_built_from_a_synthetic_parent() {
    let r = rule(&corpus_text(BRUTE_FORCE));
    let uuid = r.uuid();
    let rule_id = r.rule_id.clone();
    let engine = engine(vec![r], settings());
    let mut ev = engine.evaluator();
    let lines: Vec<Vec<u8>> = (0..3).map(|i| lock(i, i as i64, json!("a@x"))).collect();
    let docs = feed(&mut ev, None, 0, &lines);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    // Only the group-by field and @timestamp come from the synthetic source.
    assert_eq!(d["okta.actor.alternate_id"], "a@x");
    assert!(
        d.get("event").is_none() && d.get("data_stream").is_none(),
        "{d}"
    );
    assert_eq!(d["kibana.alert.original_time"], iso(BASE_MS + 2 * MIN));
    assert_eq!(
        d["kibana.alert.threshold_result"],
        json!({"terms": [{"field": "okta.actor.alternate_id", "value": "a@x"}],
               "count": 3, "from": iso(BASE_MS)})
    );
    // Synthetic parent: UUID v5 with the window start (event time) instead of the run start.
    let window_start = chrono::DateTime::parse_from_rfc3339(&iso(BASE_MS + 2 * MIN - 180 * MIN))
        .unwrap()
        .with_timezone(&chrono::Utc);
    let synthetic = rulestream::alert::threshold_synthetic_id(
        &rule_id,
        window_start,
        &["okta.actor.alternate_id".to_string()],
        &["a@x".to_string()],
    );
    let index = "filebeat-*,logs-okta*";
    assert_eq!(
        d["kibana.alert.ancestors"],
        json!([{"id": synthetic, "type": "event", "index": index, "depth": 0}])
    );
    assert_eq!(
        d["kibana.alert.uuid"],
        rulestream::alert::query_alert_id(index, &synthetic, "default", &uuid)
    );
    assert_eq!(d["kibana.alert.rule.type"], "threshold");
    assert_eq!(d["kibana.alert.rule.rule_type_id"], "siem.thresholdRule");
}

/// Session starts of `actor` with `session` at minute `m`.
fn session(n: usize, m: i64, actor: &str, session: Value) -> Vec<u8> {
    event(
        n,
        BASE_MS + m * MIN,
        &[
            ("okta.event_type", json!("user.session.start")),
            ("event.action", json!("user.session.start")),
            ("okta.actor.id", json!(actor)),
            ("okta.authentication_context.external_session_id", session),
        ],
    )
}

#[test]
fn cardinality_rule_counts_distinct_sessions_in_35_minutes() {
    // Elastic's rule: one group per okta.actor.id, ≥ 3 distinct external session ids.
    type Case = (
        &'static str,
        Vec<(i64, &'static str, Value)>,
        Vec<(u64, u64)>,
    );
    let s = |v: &str| json!(v);
    let cases: Vec<Case> = vec![
        (
            "third distinct session fires, repeats count in the total",
            vec![
                (0, "u1", s("s1")),
                (1, "u1", s("s1")),
                (2, "u1", s("s2")),
                (3, "u1", s("s3")),
            ],
            vec![(4, 3)],
        ),
        (
            "distinct values spread wider than the window do not add up",
            vec![(0, "u1", s("s1")), (20, "u1", s("s2")), (40, "u1", s("s3"))],
            vec![],
        ),
        (
            "actors are separate groups",
            vec![(0, "u1", s("s1")), (1, "u2", s("s2")), (2, "u1", s("s3"))],
            vec![],
        ),
        (
            "an array of sessions contributes each value",
            vec![(0, "u1", json!(["s1", "s2"])), (1, "u1", s("s3"))],
            vec![(2, 3)],
        ),
    ];
    let text = corpus_text(SESSIONS);
    for (name, events, want) in cases {
        let engine = engine(vec![rule(&text)], settings());
        let mut ev = engine.evaluator();
        let lines: Vec<Vec<u8>> = events
            .into_iter()
            .enumerate()
            .map(|(i, (m, a, v))| session(i, m, a, v))
            .collect();
        let docs = feed(&mut ev, None, 0, &lines);
        let got: Vec<(u64, u64)> = docs
            .iter()
            .map(|d| {
                let r = &d["kibana.alert.threshold_result"];
                assert_eq!(
                    r["cardinality"][0]["field"],
                    "okta.authentication_context.external_session_id"
                );
                (
                    r["count"].as_u64().unwrap(),
                    r["cardinality"][0]["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn duration_suppression_folds_later_firings_of_the_group() {
    // The brute-force rule with a one-hour suppression: lockouts at minutes 0–5 fire once (at
    // 2) and leave 3–5 pending; the event at 183 re-arms the group, the pending firing folds
    // into the first alert (its window opened at minute 0 and lasts an hour), and since the
    // rule's watermark is then past that hour the alert is re-sent with docs_count 1.
    let text = format!(
        "{}\n[rule.alert_suppression]\n[rule.alert_suppression.duration]\nvalue = 1\nunit = \"h\"\n",
        corpus_text(BRUTE_FORCE)
    );
    let engine = engine(vec![rule(&text)], settings());
    let mut ev = engine.evaluator();
    let lines: Vec<Vec<u8>> = [0, 1, 2, 3, 4, 5, 183]
        .iter()
        .enumerate()
        .map(|(i, m)| lock(i, *m, json!("a@x")))
        .collect();
    let docs = feed_and_flush(&mut ev, &lines);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["kibana.alert.uuid"], docs[1]["kibana.alert.uuid"]);
    assert_eq!(docs[0]["kibana.alert.suppression.docs_count"], 0);
    assert_eq!(docs[1]["kibana.alert.suppression.docs_count"], 1);
    assert_eq!(docs[1]["kibana.alert.suppression.start"], iso(BASE_MS));
    assert_eq!(
        docs[1]["kibana.alert.suppression.end"],
        iso(BASE_MS + 5 * MIN)
    );
    assert_eq!(
        docs[0]["kibana.alert.suppression.terms"],
        json!([{"field": "okta.actor.alternate_id", "value": "a@x"}])
    );
    assert!(docs[0]["kibana.alert.instance.id"].is_string());
}

#[test]
fn view_read_inputs_agree_with_the_parsed_event() {
    // Without suppression a threshold rule reads its fields from the event reader; with
    // suppression from the parsed event. A 1-second suppression folds nothing here, so both
    // must find the same windows, including for arrays, missing fields, nested and dotted keys.
    let plain = corpus_text(BRUTE_FORCE);
    let parsed = format!(
        "{plain}\n[rule.alert_suppression]\n[rule.alert_suppression.duration]\nvalue = 1\nunit = \"s\"\n"
    );
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let actors = [
        json!("a"),
        json!(["a", "b"]),
        Value::Null,
        json!(["b", "b"]),
        json!("a"),
        json!(7),
        json!([7, "a"]),
        json!("b"),
    ];
    for (i, actor) in actors.iter().enumerate() {
        lines.push(lock(i, i as i64, actor.clone()));
    }
    // A flat dotted key and an epoch-millisecond `event.ingested`.
    lines.push(
        serde_json::to_vec(&json!({
            "event.action": "user.account.lock", "event.id": "flat",
            "event.ingested": BASE_MS + 9 * MIN,
            "data_stream.type": "logs", "data_stream.dataset": "okta.system",
            "data_stream.namespace": "default", "okta.actor.alternate_id": "7"
        }))
        .unwrap(),
    );
    let results = |text: &str| {
        let engine = engine(vec![rule(text)], settings());
        let mut ev = engine.evaluator();
        let mut got: Vec<Value> = feed(&mut ev, None, 0, &lines)
            .iter()
            .map(|d| d["kibana.alert.threshold_result"].clone())
            .collect();
        got.sort_by_key(|v| v.to_string());
        got
    };
    let view = results(&plain);
    assert_eq!(view.len(), 3, "{view:#?}");
    assert_eq!(view, results(&parsed));
}
