//! new_terms rules and alert suppression end to end, with Elastic's own Okta rules: history
//! window edges, arrays, multi-field combinations, missing fields, out-of-order events,
//! learning, ids (alert-schema §2.1, §3.3, §4).

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use serde_json::{json, Value};
use stateful::*;

use rulestream::engine::stateful::{Learning, StatefulSettings};

const IDP: &str = "initial_access_sign_in_events_via_third_party_idp.toml";
const SSO: &str = "initial_access_successful_application_sso_from_unknown_client_device.toml";
const IMPERSONATION: &str = "credential_access_user_impersonation_access.toml";

/// A third-party IdP sign-in with `issuer` (`null`: field absent) at `ms` after minute 0.
fn idp(n: usize, ms: i64, issuer: Value) -> Vec<u8> {
    event(
        n,
        BASE_MS + ms,
        &[
            ("event.action", json!("user.authentication.auth_via_IDP")),
            ("okta.authentication_context.issuer.id", issuer),
        ],
    )
}

fn new_terms_of(docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .map(|d| d["kibana.alert.new_terms"].clone())
        .collect()
}

#[test]
fn idp_rule_table_with_a_five_day_history() {
    type Case = (&'static str, Vec<(i64, Value)>, Vec<Value>);
    let i = |s: &str| json!(s);
    let cases: Vec<Case> = vec![
        (
            "first sighting alerts, repeats do not",
            vec![(0, i("idp1")), (DAY, i("idp1")), (2 * DAY, i("idp2"))],
            vec![json!(["idp1"]), json!(["idp2"])],
        ),
        (
            "seen exactly 5 days before is still history",
            vec![(0, i("idp1")), (5 * DAY, i("idp1"))],
            vec![json!(["idp1"])],
        ),
        (
            "unseen for more than 5 days is new again",
            vec![(0, i("idp1")), (5 * DAY + 1, i("idp1"))],
            vec![json!(["idp1"]), json!(["idp1"])],
        ),
        (
            "each sighting moves the history window",
            vec![(0, i("idp1")), (4 * DAY, i("idp1")), (8 * DAY, i("idp1"))],
            vec![json!(["idp1"])],
        ),
        (
            "an array gives one alert per new value",
            vec![(0, i("a")), (MIN, json!(["a", "b", "c"]))],
            vec![json!(["a"]), json!(["b"]), json!(["c"])],
        ),
        (
            "out of order within lateness: a term seen later is not new",
            vec![(10 * MIN, i("x")), (8 * MIN, i("x"))],
            vec![json!(["x"])],
        ),
        (
            "too late (beyond 5 minutes) is dropped, not alerted",
            vec![(100 * MIN, i("x")), (0, i("y"))],
            vec![json!(["x"])],
        ),
    ];
    let text = corpus_text(IDP);
    for (name, events, want) in cases {
        let engine = engine(vec![rule(&text)], settings());
        let mut ev = engine.evaluator();
        let lines: Vec<Vec<u8>> = events
            .into_iter()
            .enumerate()
            .map(|(n, (ms, v))| idp(n, ms, v))
            .collect();
        let docs = feed(&mut ev, None, 0, &lines);
        assert_eq!(new_terms_of(&docs), want, "{name}");
    }
}

#[test]
fn new_terms_alert_is_the_event_alert_with_terms_and_a_term_hash_id() {
    let r = rule(&corpus_text(IDP));
    let uuid = r.uuid();
    let engine = engine(vec![r], settings());
    let mut ev = engine.evaluator();
    let docs = feed(&mut ev, None, 0, &[idp(7, 0, json!(["a", "b"]))]);
    assert_eq!(docs.len(), 2);
    for (d, v) in docs.iter().zip(["a", "b"]) {
        assert_eq!(d["kibana.alert.new_terms"], json!([v]));
        assert_eq!(d["kibana.alert.rule.type"], "new_terms");
        assert_eq!(d["event"]["action"], "user.authentication.auth_via_IDP");
        assert_eq!(
            d["kibana.alert.ancestors"],
            json!([{"id": "ev-7", "type": "event", "index": "logs-okta.system-default",
                    "depth": 0}])
        );
        let want = rulestream::alert::new_terms_alert_id(
            "logs-okta.system-default",
            "ev-7",
            "default",
            &uuid,
            &[v.to_string()],
        );
        assert_eq!(d["kibana.alert.uuid"], want);
    }
    assert_ne!(docs[0]["kibana.alert.uuid"], docs[1]["kibana.alert.uuid"]);
}

/// An SSO from an unknown device by `user` with `agent` (either may be `null`).
fn sso(n: usize, ms: i64, user: Value, agent: Value) -> Vec<u8> {
    event(
        n,
        BASE_MS + ms,
        &[
            ("event.action", json!("user.authentication.sso")),
            ("event.outcome", json!("success")),
            ("okta.client.device", json!("Unknown")),
            ("client.user.name", user),
            ("okta.client.user_agent.raw_user_agent", agent),
        ],
    )
}

#[test]
fn two_field_rule_alerts_on_new_combinations() {
    let (u, a) = (|s: &str| json!(s), |s: &str| json!(s));
    let events = vec![
        sso(0, 0, u("u1"), a("ua1")),
        sso(1, MIN, u("u1"), a("ua2")),
        sso(2, 2 * MIN, u("u2"), a("ua1")),
        sso(3, 3 * MIN, u("u1"), a("ua1")),
        sso(4, 4 * MIN, Value::Null, a("ua3")),
        sso(5, 5 * MIN, u("u3"), Value::Null),
        sso(6, 6 * MIN, json!(["u1", "u4"]), a("ua1")),
    ];
    let engine = engine(vec![rule(&corpus_text(SSO))], settings());
    let mut ev = engine.evaluator();
    let docs = feed(&mut ev, None, 0, &events);
    assert_eq!(
        new_terms_of(&docs),
        vec![
            json!(["u1", "ua1"]),
            json!(["u1", "ua2"]),
            json!(["u2", "ua1"]),
            // events 4 and 5 miss a field: no term; event 6: only (u4, ua1) is new.
            json!(["u4", "ua1"]),
        ]
    );
}

#[test]
fn learning_period_records_terms_without_alerting() {
    let stateful = StatefulSettings {
        learning: Learning::Period(DAY),
        ..StatefulSettings::default()
    };
    let engine = engine(vec![rule(&corpus_text(IDP))], stateful);
    let mut ev = engine.evaluator();
    let docs = feed(
        &mut ev,
        None,
        0,
        &[
            idp(0, 0, json!("known1")),
            idp(1, DAY / 2, json!("known2")),
            idp(2, 2 * DAY, json!("known1")),
            idp(3, 2 * DAY, json!("fresh")),
        ],
    );
    assert_eq!(new_terms_of(&docs), vec![json!(["fresh"])]);
    assert_eq!(ev.stateful_stats().learned_terms, 2);
}

/// An impersonation by `user` (`null`: no user.name) at minute `m`.
fn impersonation(n: usize, m: i64, user: Value) -> Vec<u8> {
    event(
        n,
        BASE_MS + m * MIN,
        &[
            ("event.action", json!("user.session.impersonation.initiate")),
            ("user.name", user),
        ],
    )
}

fn with_suppression(file: &str, section: &str) -> String {
    format!(
        "{}\n[rule.alert_suppression]\n{section}\n",
        corpus_text(file)
    )
}

/// (uuid, docs_count, suppression end minute, user) per document, in output order.
fn suppressed(docs: &[Value]) -> Vec<(String, u64, i64, Value)> {
    docs.iter()
        .map(|d| {
            let end: chrono::DateTime<chrono::Utc> = d["kibana.alert.suppression.end"]
                .as_str()
                .unwrap_or("1970-01-01T00:00:00Z")
                .parse()
                .unwrap();
            (
                d["kibana.alert.uuid"].as_str().unwrap()[..8].to_string(),
                d["kibana.alert.suppression.docs_count"]
                    .as_u64()
                    .unwrap_or(99),
                (end.timestamp_millis() - BASE_MS) / MIN,
                d["kibana.alert.suppression.terms"][0]["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn query_rule_suppression_with_duration_re_emits_the_same_id_when_the_window_closes() {
    let text = with_suppression(
        IMPERSONATION,
        "group_by = [\"user.name\"]\nmissing_fields_strategy = \"suppress\"\n\
         [rule.alert_suppression.duration]\nvalue = 10\nunit = \"m\"",
    );
    let engine = engine(vec![rule(&text)], settings());
    let mut ev = engine.evaluator();
    let (u1, u2) = (json!("u1"), json!("u2"));
    let events = [
        impersonation(0, 0, u1.clone()),
        impersonation(1, 3, u1.clone()),
        impersonation(2, 4, u2.clone()),
        impersonation(3, 5, u1.clone()),
        impersonation(4, 12, u1.clone()),
        // Watermark 21 − 5 min lateness = 16 ≥ u2's window end (14): u2 closes, nothing
        // folded, so nothing is re-sent; u1's second window (12..22) is still open, and event 6
        // (minute 17, not later than the lateness allows) folds into it.
        impersonation(5, 21, json!("u3")),
        impersonation(6, 17, u1.clone()),
    ];
    let docs = feed_and_flush(&mut ev, &events);
    let got = suppressed(&docs);
    let id = |i: usize| got[i].0.clone();
    assert_eq!(
        got.iter()
            .map(|g| (g.1, g.2, g.3.clone()))
            .collect::<Vec<_>>(),
        vec![
            (0, 0, u1.clone()),   // new u1 (event 0)
            (0, 4, u2.clone()),   // new u2 (event 2)
            (2, 5, u1.clone()),   // event 4 is past u1's window: the update of the first …
            (0, 12, u1.clone()),  // … then a new u1 alert
            (0, 21, json!("u3")), // new u3
            (1, 17, u1.clone()),  // flush: u1's second alert absorbed event 6
        ]
    );
    assert_eq!(id(0), id(2), "the update keeps the alert id");
    assert_eq!(id(3), id(5));
    assert_ne!(id(0), id(3), "a new window is a new alert");
    assert_eq!(
        docs[0]["kibana.alert.instance.id"],
        docs[3]["kibana.alert.instance.id"]
    );
    assert_ne!(
        docs[0]["kibana.alert.instance.id"],
        docs[1]["kibana.alert.instance.id"]
    );
    assert_eq!(ev.stateful_stats().suppressed, 3);
}

#[test]
fn missing_fields_strategy_decides_about_events_without_the_field() {
    for (strategy, want_alerts, suppressed_fields) in
        [("suppress", 1, true), ("doNotSuppress", 3, false)]
    {
        let text = with_suppression(
            IMPERSONATION,
            &format!(
                "group_by = [\"user.name\"]\nmissing_fields_strategy = \"{strategy}\"\n\
                 [rule.alert_suppression.duration]\nvalue = 10\nunit = \"m\""
            ),
        );
        let engine = engine(vec![rule(&text)], settings());
        let mut ev = engine.evaluator();
        let events: Vec<Vec<u8>> = (0..3)
            .map(|i| impersonation(i, i as i64, Value::Null))
            .collect();
        let docs = feed(&mut ev, None, 0, &events);
        assert_eq!(docs.len(), want_alerts, "{strategy}");
        assert_eq!(
            docs[0].get("kibana.alert.suppression.terms").is_some(),
            suppressed_fields,
            "{strategy}"
        );
        if suppressed_fields {
            assert_eq!(
                docs[0]["kibana.alert.suppression.terms"],
                json!([{"field": "user.name", "value": null}])
            );
        }
    }
}

#[test]
fn suppression_without_duration_uses_epoch_aligned_interval_windows() {
    // The impersonation rule runs every 15 minutes: windows [0, 15), [15, 30) of the epoch
    // (minute 0 here is 10:00 UTC, a multiple of 15 minutes).
    let text = with_suppression(
        IMPERSONATION,
        "group_by = [\"user.name\"]\nmissing_fields_strategy = \"suppress\"",
    );
    let engine = engine(vec![rule(&text)], settings());
    let mut ev = engine.evaluator();
    let events: Vec<Vec<u8>> = [0, 14, 15, 29]
        .iter()
        .enumerate()
        .map(|(i, m)| impersonation(i, *m, json!("u1")))
        .collect();
    let docs = feed_and_flush(&mut ev, &events);
    let counts: Vec<(u64, i64)> = suppressed(&docs).iter().map(|g| (g.1, g.2)).collect();
    assert_eq!(counts, vec![(0, 0), (1, 14), (0, 15), (1, 29)]);
}

#[test]
fn new_terms_with_suppression_keeps_the_new_terms_id() {
    let text = with_suppression(
        IDP,
        "group_by = [\"okta.authentication_context.issuer.id\"]\n\
         missing_fields_strategy = \"suppress\"\n\
         [rule.alert_suppression.duration]\nvalue = 1\nunit = \"h\"",
    );
    let engine = engine(vec![rule(&text)], settings());
    let mut ev = engine.evaluator();
    let docs = feed(&mut ev, None, 0, &[idp(0, 0, json!("a"))]);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kibana.alert.new_terms"], json!(["a"]));
    assert_eq!(docs[0]["kibana.alert.suppression.docs_count"], 0);
    let r = rule(&text);
    let want = rulestream::alert::new_terms_alert_id(
        "logs-okta.system-default",
        "ev-0",
        "default",
        &r.uuid(),
        &["a".to_string()],
    );
    assert_eq!(docs[0]["kibana.alert.uuid"], want);
}
