//! Elastic's five Okta EQL rules, unchanged from `../shared/data/detection-rules-okta/`, on
//! constructed ECS event streams: each fires on the stream it describes and stays silent on
//! the near-misses (runs − 1 events, out of span, `until` first, the missing event present).
//! The two alert-reading rules get alert-shaped documents (no `data_stream.*`, index
//! `.alerts-security.alerts-default`; `signal.*` fields read through their `kibana.alert.*`
//! alias targets, as in Elasticsearch's alerts index). Also: a sequence survives a restart mid-way.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use std::collections::BTreeMap;

use rulestream::engine::ruleset::Evaluator;
use rulestream::engine::EventOrigin;
use serde_json::{json, Map, Value};
use stateful::*;

const BOMBING: &str = "credential_access_okta_mfa_bombing_via_push_notifications.toml";
const BOMBING_SUCCESS: &str =
    "credential_access_okta_potentially_successful_okta_bombing_via_push_notifications.toml";
const PROXY: &str = "initial_access_okta_suspicious_activity_after_proxy_authentication.toml";
const NO_REACTIVATION: &str = "persistence_mfa_deactivation_with_no_reactivation.toml";
const STOLEN: &str =
    "persistence_stolen_credentials_used_to_login_to_okta_account_after_mfa_reset.toml";

const SEC: i64 = 1_000;
const HOUR: i64 = 60 * MIN;
const ALERTS_INDEX: &str = ".alerts-security.alerts-default";

/// An Okta event of `okta.event_type = ty` at `ms` with extra fields.
fn okta(n: usize, ms: i64, ty: &str, extra: &[(&str, Value)]) -> Vec<u8> {
    let mut fields = vec![("okta.event_type", json!(ty)), ("event.action", json!(ty))];
    fields.extend(extra.iter().cloned());
    event(n, ms, &fields)
}

fn deny_push(n: usize, ms: i64, actor: &str) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.mfa.okta_verify.deny_push",
        &[("okta.actor.id", json!(actor))],
    )
}

/// The other form of a denied push: an MFA authentication with invalid credentials.
fn invalid_push(n: usize, ms: i64, actor: &str) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.authentication.auth_via_mfa",
        &[
            ("okta.actor.id", json!(actor)),
            (
                "okta.debug_context.debug_data.factor",
                json!("OKTA_VERIFY_PUSH"),
            ),
            ("okta.outcome.reason", json!("INVALID_CREDENTIALS")),
            ("okta.outcome.result", json!("FAILURE")),
        ],
    )
}

fn success(n: usize, ms: i64, actor: &str) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.authentication.sso",
        &[
            ("okta.actor.id", json!(actor)),
            ("okta.outcome.result", json!("SUCCESS")),
        ],
    )
}

/// Feeds `events` (topic `okta`, offsets from `first`), each with its default index.
fn feed_from(ev: &mut Evaluator, first: i64, events: &[(Vec<u8>, Option<&str>)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (e, index)) in events.iter().enumerate() {
        let origin = EventOrigin {
            topic: Some("okta"),
            partition: 0,
            offset: first + i as i64,
            default_index: *index,
        };
        ev.evaluate_at(e, &origin, now(), &mut out).unwrap();
    }
    out.iter()
        .map(|a| serde_json::from_slice(&a.doc).unwrap())
        .collect()
}

/// Sequences in `docs`: the ids of the building blocks' parents in group order. Each group has
/// one shell (no group index) whose uuid is the group id.
fn sequences(docs: &[Value]) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let mut shells = 0;
    for d in docs {
        let group = d["kibana.alert.group.id"].as_str().unwrap().to_string();
        match d["kibana.alert.group.index"].as_u64() {
            Some(pos) => {
                assert_eq!(d["kibana.alert.building_block_type"], json!("default"));
                // The parent: the last ancestor (the event, or the alert it was built on).
                let ancestors = d["kibana.alert.ancestors"].as_array().unwrap();
                let id = ancestors.last().unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                groups.entry(group).or_default().push((pos, id));
            }
            None => {
                assert_eq!(d["kibana.alert.uuid"].as_str().unwrap(), group);
                // Depth 2 over events; one more per level of alerts on alerts.
                assert!(d["kibana.alert.depth"].as_u64().unwrap() >= 2);
                shells += 1;
            }
        }
    }
    assert_eq!(shells, groups.len(), "one shell per sequence: {docs:?}");
    groups
        .into_values()
        .map(|mut m| {
            m.sort();
            m.into_iter().map(|(_, id)| id).collect()
        })
        .collect()
}

fn ids(ns: &[usize]) -> Vec<String> {
    ns.iter().map(|n| format!("ev-{n}")).collect()
}

fn run(file: &str, events: &[(Vec<u8>, Option<&str>)]) -> Vec<Vec<String>> {
    let engine = engine(vec![rule(&corpus_text(file))], settings());
    let mut ev = engine.evaluator();
    sequences(&feed_from(&mut ev, 0, events))
}

fn plain(events: Vec<Vec<u8>>) -> Vec<(Vec<u8>, Option<&'static str>)> {
    events.into_iter().map(|e| (e, None)).collect()
}

#[test]
fn mfa_bombing_fires_on_five_denied_pushes_unless_a_success_comes_first() {
    let t = |s: i64| BASE_MS + s * SEC;
    let five: Vec<Vec<u8>> = (1..=5)
        .map(|n| deny_push(n, t(n as i64 * 60), "actor1"))
        .collect();
    assert_eq!(
        run(BOMBING, &plain(five.clone())),
        vec![ids(&[1, 2, 3, 4, 5])]
    );
    // Both forms of a denied push count.
    let mixed: Vec<Vec<u8>> = (1..=5)
        .map(|n| match n % 2 {
            0 => invalid_push(n, t(n as i64 * 60), "actor1"),
            _ => deny_push(n, t(n as i64 * 60), "actor1"),
        })
        .collect();
    assert_eq!(run(BOMBING, &plain(mixed)), vec![ids(&[1, 2, 3, 4, 5])]);
    // runs − 1.
    assert!(run(BOMBING, &plain(five[..4].to_vec())).is_empty());
    // Out of span: the fifth push 10 min 1 s after the first.
    let mut spread = five[..4].to_vec();
    spread.push(deny_push(5, t(60 + 601), "actor1"));
    assert!(run(BOMBING, &plain(spread)).is_empty());
    // Another actor's pushes do not add up.
    let mut two = five[..4].to_vec();
    two.push(deny_push(5, t(300), "actor2"));
    assert!(run(BOMBING, &plain(two)).is_empty());
    // `until` first: a successful authentication after the second push ends the attempt.
    let mut cut = five[..2].to_vec();
    cut.push(success(9, t(150), "actor1"));
    cut.extend_from_slice(&five[2..]);
    assert!(run(BOMBING, &plain(cut)).is_empty());
    // A failed authentication is not an `until`.
    let mut failed = five[..2].to_vec();
    failed.push(okta(
        9,
        t(150),
        "user.authentication.sso",
        &[
            ("okta.actor.id", json!("actor1")),
            ("okta.outcome.result", json!("FAILURE")),
        ],
    ));
    failed.extend_from_slice(&five[2..]);
    assert_eq!(run(BOMBING, &plain(failed)), vec![ids(&[1, 2, 3, 4, 5])]);
}

#[test]
fn potentially_successful_bombing_needs_the_success_after_five_pushes() {
    let t = |s: i64| BASE_MS + s * SEC;
    let five: Vec<Vec<u8>> = (1..=5)
        .map(|n| deny_push(n, t(n as i64 * 30), "actor1"))
        .collect();
    let mut hit = five.clone();
    hit.push(success(6, t(200), "actor1"));
    assert_eq!(
        run(BOMBING_SUCCESS, &plain(hit)),
        vec![ids(&[1, 2, 3, 4, 5, 6])]
    );
    // Five pushes alone are not the sequence.
    assert!(run(BOMBING_SUCCESS, &plain(five.clone())).is_empty());
    // runs − 1 then success.
    let mut short = five[..4].to_vec();
    short.push(success(6, t(200), "actor1"));
    assert!(run(BOMBING_SUCCESS, &plain(short)).is_empty());
    // The success more than 10 minutes after the first push.
    let mut late = five.clone();
    late.push(success(6, t(30 + 601), "actor1"));
    assert!(run(BOMBING_SUCCESS, &plain(late)).is_empty());
    // Success before the pushes.
    let mut first = vec![success(6, t(0), "actor1")];
    first.extend(five);
    assert!(run(BOMBING_SUCCESS, &plain(first)).is_empty());
}

fn deactivate(n: usize, ms: i64, target: &str, reason: &str) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.mfa.factor.deactivate",
        &[
            ("okta.target", json!([{"id": target, "type": "User"}])),
            ("okta.outcome.result", json!("SUCCESS")),
            ("okta.outcome.reason", json!(reason)),
        ],
    )
}

fn activate(n: usize, ms: i64, target: &str) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.mfa.factor.activate",
        &[("okta.target", json!([{"id": target, "type": "User"}]))],
    )
}

/// Any Okta event: moves event time forward.
fn other(n: usize, ms: i64) -> Vec<u8> {
    okta(
        n,
        ms,
        "user.session.start",
        &[("okta.actor.id", json!("x"))],
    )
}

#[test]
fn mfa_deactivation_without_reactivation_fires_once_twelve_hours_have_passed() {
    let t0 = BASE_MS;
    // Decided when event time passes deactivation + 12 h (maxspan) + 5 min (lateness).
    let after = other(99, t0 + 12 * HOUR + 5 * MIN + SEC);
    let deact = deactivate(1, t0, "00u1", "User reset WEBAUTHN factor");
    assert_eq!(
        run(NO_REACTIVATION, &plain(vec![deact.clone(), after.clone()])),
        vec![ids(&[1])]
    );
    // Not before the deadline.
    let before = other(98, t0 + 12 * HOUR);
    assert!(run(NO_REACTIVATION, &plain(vec![deact.clone(), before])).is_empty());
    // The missing event present: reactivated within 12 hours.
    let react = activate(2, t0 + HOUR, "00u1");
    assert!(run(
        NO_REACTIVATION,
        &plain(vec![deact.clone(), react, after.clone()])
    )
    .is_empty());
    // Reactivated after 12 hours: too late, the alert stands.
    let react_late = activate(2, t0 + 12 * HOUR + SEC, "00u1");
    assert_eq!(
        run(
            NO_REACTIVATION,
            &plain(vec![deact.clone(), react_late, after.clone()])
        ),
        vec![ids(&[1])]
    );
    // Another user's reactivation does not count.
    let react_other = activate(2, t0 + HOUR, "00u2");
    assert_eq!(
        run(
            NO_REACTIVATION,
            &plain(vec![deact, react_other, after.clone()])
        ),
        vec![ids(&[1])]
    );
    // The excluded reason.
    let question = deactivate(1, t0, "00u1", "User reset SECURITY_QUESTION factor");
    assert!(run(NO_REACTIVATION, &plain(vec![question, after])).is_empty());
}

/// An alert document as rulestream (or Kibana) writes it: flat dotted keys, no data stream.
fn alert_doc(n: usize, ms: i64, fields: &[(&str, Value)]) -> Vec<u8> {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), iso(ms).into());
    doc.insert("event.ingested".into(), iso(ms).into());
    doc.insert("event.id".into(), format!("ev-{n}").into());
    for (k, v) in fields {
        doc.insert((*k).into(), v.clone());
    }
    serde_json::to_vec(&Value::Object(doc)).unwrap()
}

const PROXY_RULE_ID: &str = "6f1bb4b2-7dc8-11ee-92b2-f661ea17fbcd";

fn okta_alert(
    n: usize,
    ms: i64,
    user: &str,
    rule_id: &str,
    severity: &str,
) -> (Vec<u8>, Option<&'static str>) {
    let doc = alert_doc(
        n,
        ms,
        &[
            ("event.dataset", json!("okta.system")),
            ("user.name", json!(user)),
            ("kibana.alert.rule.rule_id", json!(rule_id)),
            ("kibana.alert.severity", json!(severity)),
        ],
    );
    (doc, Some(ALERTS_INDEX))
}

#[test]
fn alerts_following_proxy_authentication() {
    let t = |m: i64| BASE_MS + m * MIN;
    let other_rule = "a1b2c3d4-0000-4000-8000-000000000000";
    let hit = vec![
        okta_alert(1, t(0), "jdoe", PROXY_RULE_ID, "medium"),
        okta_alert(2, t(10), "jdoe", other_rule, "high"),
    ];
    assert_eq!(run(PROXY, &hit), vec![ids(&[1, 2])]);
    // A low-severity follow-up alert does not count.
    let low = vec![
        okta_alert(1, t(0), "jdoe", PROXY_RULE_ID, "medium"),
        okta_alert(2, t(10), "jdoe", other_rule, "low"),
    ];
    assert!(run(PROXY, &low).is_empty());
    // Out of the 30-minute span.
    let late = vec![
        okta_alert(1, t(0), "jdoe", PROXY_RULE_ID, "medium"),
        okta_alert(2, t(31), "jdoe", other_rule, "high"),
    ];
    assert!(run(PROXY, &late).is_empty());
    // The proxy alert itself again is excluded from the second step.
    let again = vec![
        okta_alert(1, t(0), "jdoe", PROXY_RULE_ID, "medium"),
        okta_alert(2, t(10), "jdoe", PROXY_RULE_ID, "medium"),
    ];
    assert!(run(PROXY, &again).is_empty());
    // The same documents as Okta events (not in an alerts index) are not read by the rule.
    let events: Vec<(Vec<u8>, Option<&str>)> = hit
        .iter()
        .map(|(d, _)| (d.clone(), Some("logs-okta.system-default")))
        .collect();
    assert!(run(PROXY, &events).is_empty());
}

#[test]
fn stolen_credentials_after_mfa_reset() {
    let t = |m: i64| BASE_MS + m * MIN;
    let endpoint_alert = |n, ms| {
        let doc = alert_doc(
            n,
            ms,
            &[
                ("host.os.type", json!("windows")),
                ("user.name", json!("jdoe")),
                // Read through the `signal.rule.threat.tactic.name` field alias.
                (
                    "kibana.alert.rule.threat",
                    json!([{"framework": "MITRE ATT&CK", "tactic": {"id": "TA0006", "name": "Credential Access"}}]),
                ),
            ],
        );
        (doc, Some(ALERTS_INDEX))
    };
    let update = |n, ms| {
        (
            okta(
                n,
                ms,
                "user.mfa.factor.update",
                &[("user.name", json!("jdoe"))],
            ),
            None,
        )
    };
    let login = |n, ms, ty: &str| (okta(n, ms, ty, &[("user.name", json!("jdoe"))]), None);
    let hit = vec![
        endpoint_alert(1, t(0)),
        update(2, t(60)),
        login(3, t(120), "user.session.start"),
    ];
    assert_eq!(run(STOLEN, &hit), vec![ids(&[1, 2, 3])]);
    // `:` is a case-insensitive wildcard: user.authentication* matches.
    let auth = vec![
        endpoint_alert(1, t(0)),
        update(2, t(60)),
        login(3, t(120), "user.authentication.sso"),
    ];
    assert_eq!(run(STOLEN, &auth), vec![ids(&[1, 2, 3])]);
    // Out of the 12-hour span.
    let late = vec![
        endpoint_alert(1, t(0)),
        update(2, t(60)),
        login(3, t(12 * 60 + 1), "user.session.start"),
    ];
    assert!(run(STOLEN, &late).is_empty());
    // Wrong order: the MFA update before the credential-access alert.
    let order = vec![
        update(2, t(0)),
        endpoint_alert(1, t(1)),
        login(3, t(2), "user.session.start"),
    ];
    assert!(run(STOLEN, &order).is_empty());
    // Missing a step.
    let skip = vec![
        endpoint_alert(1, t(0)),
        login(3, t(2), "user.session.start"),
    ];
    assert!(run(STOLEN, &skip).is_empty());
}

#[test]
fn a_sequence_survives_a_restart_mid_way() {
    let dir = tempfile::tempdir().unwrap();
    let durable = || rulestream::engine::stateful::StatefulSettings {
        state_dir: Some(dir.path().to_path_buf()),
        ..settings()
    };
    let t = |s: i64| BASE_MS + s * SEC;
    let five: Vec<(Vec<u8>, Option<&str>)> = (1..=5)
        .map(|n| (deny_push(n, t(n as i64 * 60), "actor1"), None))
        .collect();
    {
        let engine = engine(vec![rule(&corpus_text(BOMBING))], durable());
        let mut ev = engine.evaluator();
        assert!(feed_from(&mut ev, 0, &five[..3]).is_empty());
        assert_eq!(ev.runtime().sizes().sequences, 3);
        assert_eq!(ev.runtime_mut().checkpoint_all().unwrap(), 1);
    }
    let engine = engine(vec![rule(&corpus_text(BOMBING))], durable());
    let mut ev = engine.evaluator();
    // Offsets 0..=2 are redelivered (a restart from an older commit): skipped by the sequence
    // rule, then the last two pushes complete the sequence begun before the restart.
    let docs = feed_from(&mut ev, 0, &five);
    assert_eq!(ev.stateful_stats().replayed_skipped, 3);
    assert_eq!(sequences(&docs), vec![ids(&[1, 2, 3, 4, 5])]);
}

#[test]
fn all_five_eql_rules_load() {
    let files = [BOMBING, BOMBING_SUCCESS, PROXY, NO_REACTIVATION, STOLEN];
    let rules = files.iter().map(|f| rule(&corpus_text(f))).collect();
    // `engine` asserts every rule compiled `Ok`.
    let engine = engine(rules, settings());
    assert_eq!(engine.rule_count(), 5);
}

#[test]
fn proxy_rule_correlates_alerts_fed_back_in_the_same_process() {
    const FIRST_PROXY: &str = "initial_access_first_occurrence_user_session_started_via_proxy.toml";
    const ZONE: &str = "defense_evasion_attempt_to_deactivate_okta_network_zone.toml";
    let rules = [FIRST_PROXY, ZONE, PROXY]
        .iter()
        .map(|f| rule(&corpus_text(f)))
        .collect();
    let engine = engine(rules, settings());
    let mut ev = engine.evaluator();
    let common = |action: &str| {
        vec![
            ("event.dataset", json!("okta.system")),
            ("user.name", json!("jdoe")),
            ("okta.actor.id", json!("00uJ")),
            ("cloud.account.id", json!("acct1")),
            ("okta.event_type", json!(action)),
            ("event.action", json!(action)),
        ]
    };
    let mut session = common("user.session.start");
    session.push(("okta.security_context.is_proxy", json!(true)));
    let events = [
        event(1, BASE_MS, &session),
        event(2, BASE_MS + 10 * MIN, &common("zone.deactivate")),
    ];
    let docs = feed(&mut ev, Some("okta"), 0, &events);
    let rule_of = |d: &Value| {
        d["kibana.alert.rule.rule_id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // The new_terms alert, the zone alert, and the proxy rule's sequence built from them.
    let seeds: Vec<&Value> = docs
        .iter()
        .filter(|d| rule_of(d) != "af2d8e4c-3b7c-4e91-8f5a-6c9d0e1f2a3b")
        .collect();
    assert_eq!(seeds.len(), 2, "{docs:#?}");
    let sequence: Vec<Value> = docs
        .iter()
        .filter(|d| rule_of(d) == "af2d8e4c-3b7c-4e91-8f5a-6c9d0e1f2a3b")
        .cloned()
        .collect();
    let seed_ids: Vec<String> = seeds
        .iter()
        .map(|d| d["kibana.alert.uuid"].as_str().unwrap().to_string())
        .collect();
    // The building blocks' parents are the two alerts (the alerts index is their index).
    assert_eq!(sequences(&sequence), vec![seed_ids]);
    // Every building block records its alert as Kibana does: the alert's own ancestors, then
    // the alert as a `signal` one level deeper (also for the alert fed back with an earlier
    // event than the one that completed the sequence); the shell is one level above them.
    for (i, seed) in seeds.iter().enumerate() {
        let block = sequence
            .iter()
            .find(|d| d["kibana.alert.group.index"] == json!(i))
            .unwrap();
        let ancestors = block["kibana.alert.ancestors"].as_array().unwrap();
        assert_eq!(ancestors.len(), 2, "{ancestors:?}");
        assert_eq!(ancestors[0], seed["kibana.alert.ancestors"][0]);
        assert_eq!(ancestors[1]["type"], json!("signal"));
        assert_eq!(ancestors[1]["depth"], json!(1));
        assert_eq!(
            ancestors[1]["index"],
            json!(".internal.alerts-security.alerts-default-000001")
        );
        assert_eq!(block["kibana.alert.depth"], json!(2));
    }
    let shell = sequence
        .iter()
        .find(|d| d["kibana.alert.group.index"].is_null())
        .unwrap();
    assert_eq!(shell["kibana.alert.depth"], json!(3));
}

/// `count` arrival orders of `0..n` (a fixed xorshift, so failures reproduce).
fn shuffles(n: usize, count: usize) -> Vec<Vec<usize>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            order
        })
        .collect()
}

/// Six denied pushes by actor1 40 s apart, then (for the rule that needs one) a successful
/// login: the stream spans 230 s, less than the 5 min of allowed lateness, so every arrival
/// order is within it. The last event, an hour later, moves the watermark past all of them.
fn bombing_stream() -> (Vec<Vec<u8>>, Vec<u8>) {
    let t = |s: i64| BASE_MS + s * SEC;
    let mut events: Vec<Vec<u8>> = (1..=6)
        .map(|n| deny_push(n, t(n as i64 * 40), "actor1"))
        .collect();
    events.push(success(7, t(270), "actor1"));
    (events, deny_push(99, t(3600), "actor2"))
}

#[test]
fn bombing_rules_give_the_in_order_alerts_in_any_arrival_order_within_the_lateness() {
    // Issue #6: the same events in time order and shuffled within the allowed lateness give
    // (at least) the same sequences, so the same alert ids; in order, each exactly once.
    let (events, flush) = bombing_stream();
    for (file, want) in [
        // Sliding windows of five pushes; the success is the `until` after them.
        (BOMBING, vec![ids(&[1, 2, 3, 4, 5]), ids(&[2, 3, 4, 5, 6])]),
        // The latest five pushes before the success.
        (BOMBING_SUCCESS, vec![ids(&[2, 3, 4, 5, 6, 7])]),
    ] {
        let run_order = |order: &[usize]| {
            let mut stream: Vec<(Vec<u8>, Option<&str>)> =
                order.iter().map(|i| (events[*i].clone(), None)).collect();
            stream.push((flush.clone(), None));
            let engine = engine(vec![rule(&corpus_text(file))], settings());
            let mut ev = engine.evaluator();
            let docs = feed_from(&mut ev, 0, &stream);
            assert_eq!(ev.stateful_stats().late_events, 0);
            docs
        };
        let in_order: Vec<usize> = (0..events.len()).collect();
        let docs = run_order(&in_order);
        assert_eq!(sequences(&docs), want, "{file} in order");
        let want_ids = uuids(&docs);
        for order in shuffles(events.len(), 40) {
            let got = uuids(&run_order(&order));
            let missing: Vec<&String> = want_ids.iter().filter(|id| !got.contains(id)).collect();
            assert!(missing.is_empty(), "{file}, arrival order {order:?}");
        }
    }
}

#[test]
fn a_restart_in_the_middle_of_an_out_of_order_stream_loses_nothing() {
    let (events, flush) = bombing_stream();
    let in_order = {
        let stream: Vec<(Vec<u8>, Option<&str>)> = events
            .iter()
            .chain([&flush])
            .map(|e| (e.clone(), None))
            .collect();
        let engine = engine(vec![rule(&corpus_text(BOMBING_SUCCESS))], settings());
        uuids(&feed_from(&mut engine.evaluator(), 0, &stream))
    };
    assert!(!in_order.is_empty());
    for (k, order) in shuffles(events.len(), 6).into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let durable = || rulestream::engine::stateful::StatefulSettings {
            state_dir: Some(dir.path().to_path_buf()),
            ..settings()
        };
        let mut stream: Vec<(Vec<u8>, Option<&str>)> =
            order.iter().map(|i| (events[*i].clone(), None)).collect();
        stream.push((flush.clone(), None));
        let cut = 2 + k % 4;
        let mut docs = {
            let engine = engine(vec![rule(&corpus_text(BOMBING_SUCCESS))], durable());
            let mut ev = engine.evaluator();
            let docs = feed_from(&mut ev, 0, &stream[..cut]);
            assert_eq!(ev.runtime_mut().checkpoint_all().unwrap(), 1);
            docs
        };
        let engine = engine(vec![rule(&corpus_text(BOMBING_SUCCESS))], durable());
        let mut ev = engine.evaluator();
        docs.extend(feed_from(&mut ev, cut as i64, &stream[cut..]));
        let got = uuids(&docs);
        for id in &in_order {
            assert!(got.contains(id), "order {order:?}, restart after {cut}");
        }
    }
}
