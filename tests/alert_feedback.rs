//! Alerts fed back to rules that read `.alerts-security.*` (alerts on alerts), with KQL query,
//! threshold and new_terms rules: which rules see alerts, chains, Kibana's loop prevention,
//! ancestry and ids, `signal.*` aliases, stateful consistency on replays, and no feedback when
//! no rule reads alerts (design: `docs/alerts-on-alerts.md`).

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use serde_json::{json, Value};
use stateful::*;

use rulestream::engine::ruleset::{Engine, EngineSettings, RuleOutcome};
use rulestream::okta::{InputFormat, NormalizeOptions};
use rulestream::rules::{rule_uuid, Rule};

/// The shipped seed rule (Okta User Session Impersonation, `rules/okta/`).
const SEED_ID: &str = "cdbebdc1-dc97-43c6-a538-f26a20c0a911";
const BACKING: &str = ".internal.alerts-security.alerts-default-000001";

fn seed() -> Rule {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/okta/credential_access_user_impersonation_access.toml"
    );
    rule(&std::fs::read_to_string(path).unwrap())
}

/// A KQL rule `rule_id` reading `index` with `query`; `extra` is more TOML under `[rule]`
/// (a `type` other than `query`, and its tables).
fn kql(rule_id: &str, index: &[&str], query: &str, extra: &str) -> Rule {
    let index: Vec<String> = index.iter().map(|i| format!("{i:?}")).collect();
    let ty = if extra.contains("type =") {
        ""
    } else {
        "type = \"query\""
    };
    rule(&format!(
        r#"[metadata]
creation_date = "2025/06/01"
updated_date = "2025/06/01"

[rule]
author = ["rulestream tests"]
description = "Test rule {rule_id}."
index = [{index}]
language = "kuery"
name = "Test {rule_id}"
risk_score = 21
rule_id = "{rule_id}"
severity = "medium"
{ty}
query = '''{query}'''
{extra}
"#,
        index = index.join(", ")
    ))
}

/// The seed rule's trigger: an admin impersonating a user, `n` makes the event id.
fn impersonation(n: usize, minute: i64, user: &str) -> Vec<u8> {
    event(
        n,
        BASE_MS + minute * MIN,
        &[
            ("event.action", json!("user.session.impersonation.initiate")),
            ("event.category", json!(["session"])),
            ("event.kind", json!("event")),
            ("user.name", json!(user)),
            ("source.ip", json!("198.51.100.23")),
        ],
    )
}

fn rule_ids(docs: &[Value]) -> Vec<&str> {
    docs.iter()
        .map(|d| d["kibana.alert.rule.rule_id"].as_str().unwrap())
        .collect()
}

fn run(rules: Vec<Rule>, events: &[Vec<u8>]) -> Vec<Value> {
    let engine = engine(rules, settings());
    let mut ev = engine.evaluator();
    feed(&mut ev, None, 0, events)
}

#[test]
fn a_rule_on_alerts_fires_on_the_seed_rule_alert() {
    let reader = kql(
        "on-seed",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:{SEED_ID} and kibana.alert.severity:high"),
        "",
    );
    let docs = run(vec![seed(), reader], &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID, "on-seed"]);
    let (parent, child) = (&docs[0], &docs[1]);
    let parent_id = parent["kibana.alert.uuid"].as_str().unwrap();

    // Kibana's id formula over the alert as a search hit: backing index, alert `_id`.
    let expected =
        rulestream::alert::query_alert_id(BACKING, parent_id, "default", &rule_uuid("on-seed"));
    assert_eq!(child["kibana.alert.uuid"], json!(expected));
    // buildAncestors: the parent's ancestors, then the parent as a signal of its rule.
    assert_eq!(child["kibana.alert.depth"], 2);
    assert_eq!(
        child["kibana.alert.ancestors"],
        json!([
            {"id": "ev-1", "type": "event", "index": "logs-okta.system-default", "depth": 0},
            {"id": parent_id, "type": "signal", "index": BACKING, "depth": 1,
             "rule": rule_uuid(SEED_ID)}
        ])
    );
    // The child is the reader's alert, built from a clean copy of the parent: the parent's
    // `kibana.*` are not copied (banned fields), its `event.kind: signal` becomes the
    // original event kind.
    assert_eq!(child["kibana.alert.rule.name"], "Test on-seed");
    assert_eq!(child["kibana.alert.severity"], "medium");
    assert_eq!(child["kibana.alert.original_event.kind"], "signal");
    assert_eq!(
        child["kibana.alert.original_event.action"],
        "user.session.impersonation.initiate"
    );
    assert_eq!(child["user"]["name"], "jane");
    // rulestream's ECS mirror describes the child's own rule: the parent's mirror (of the
    // seed rule, with its MITRE tactics) is not part of the offered alert, as Kibana's alerts
    // have none.
    assert_eq!(parent["rule"]["id"], SEED_ID);
    assert!(parent["threat"].is_object());
    assert_eq!(child["rule"]["id"], "on-seed");
    assert_eq!(child["rule"]["name"], "Test on-seed");
    assert!(
        child.get("threat").is_none(),
        "the reader has no threat mapping"
    );
    // Kibana's original_time is the parent's `@timestamp`: for an alert, when it was built.
    assert_eq!(child["kibana.alert.original_time"], parent["@timestamp"]);

    // A near miss: the reader's query does not match a low-severity alert.
    let low = kql(
        "low-seed",
        &["logs-okta*"],
        "event.action:user.session.impersonation.initiate",
        "",
    );
    let reader = kql(
        "on-low",
        &[".alerts-security.*"],
        "kibana.alert.severity:high",
        "",
    );
    let docs = run(vec![low, reader], &[impersonation(1, 0, "jane")]);
    assert_eq!(
        rule_ids(&docs),
        ["low-seed"],
        "medium alert, reader wants high"
    );
}

#[test]
fn chains_of_rules_on_alerts_and_the_depth_of_each_link() {
    let first = kql(
        "first",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:{SEED_ID}"),
        "",
    );
    let second = kql(
        "second",
        &[".alerts-security.alerts-default"],
        "kibana.alert.rule.rule_id:first",
        "",
    );
    let docs = run(vec![seed(), first, second], &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID, "first", "second"]);
    let depths: Vec<&Value> = docs.iter().map(|d| &d["kibana.alert.depth"]).collect();
    assert_eq!(depths, [&json!(1), &json!(2), &json!(3)]);
    let ancestors = docs[2]["kibana.alert.ancestors"].as_array().unwrap();
    let rules: Vec<&Value> = ancestors.iter().map(|a| &a["rule"]).collect();
    assert_eq!(
        rules,
        [
            &Value::Null,
            &json!(rule_uuid(SEED_ID)),
            &json!(rule_uuid("first"))
        ]
    );
    assert_eq!(ancestors[2]["id"], docs[1]["kibana.alert.uuid"]);
    assert_eq!(ancestors[2]["depth"], 2);
}

#[test]
fn a_rule_never_alerts_on_its_own_alerts() {
    // Reads every alert, so also its own: Kibana's wrapHits drops candidates whose ancestors
    // hold the rule itself.
    let all = kql(
        "all-alerts",
        &[".alerts-security.*"],
        "kibana.alert.severity:*",
        "",
    );
    let docs = run(vec![seed(), all], &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID, "all-alerts"]);
}

#[test]
fn two_rules_reading_each_others_alerts_terminate() {
    let p = kql(
        "p",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:({SEED_ID} or q)"),
        "",
    );
    let q = kql(
        "q",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:({SEED_ID} or p)"),
        "",
    );
    let docs = run(vec![seed(), p, q], &[impersonation(1, 0, "jane")]);
    // seed; p and q on it; q on p's alert, p on q's alert; then each would be its own
    // ancestor: stop. Kibana reaches the same five over successive runs.
    assert_eq!(rule_ids(&docs), [SEED_ID, "p", "q", "q", "p"]);
    assert_eq!(docs[3]["kibana.alert.depth"], 3);
    assert_eq!(docs[4]["kibana.alert.depth"], 3);
}

#[test]
fn chains_stop_at_the_depth_cap() {
    // r1 reads the seed's alerts, r2 reads r1's, … r20 reads r19's.
    let mut rules = vec![seed()];
    for i in 1..=20 {
        let parent = if i == 1 {
            SEED_ID.to_string()
        } else {
            format!("r{}", i - 1)
        };
        rules.push(kql(
            &format!("r{i}"),
            &[".alerts-security.*"],
            &format!("kibana.alert.rule.rule_id:{parent}"),
            "",
        ));
    }
    let docs = run(rules, &[impersonation(1, 0, "jane")]);
    let cap = rulestream::engine::feedback::MAX_FEEDBACK_DEPTH as usize;
    // The seed alert has depth 1; the alert of depth `cap` is not offered again.
    assert_eq!(docs.len(), cap);
    assert_eq!(docs.last().unwrap()["kibana.alert.depth"], json!(cap));
}

#[test]
fn rules_on_ordinary_patterns_do_not_see_alerts() {
    // `*` and `logs-*` do not expand to the hidden alerts index; a rule without `index`
    // reads Kibana's default index setting, which has no alerts index either.
    for index in [&["logs-*"][..], &["*"], &["filebeat-*", "logs-okta*"], &[]] {
        let all = kql(
            "all",
            index,
            "kibana.alert.severity:* or event.kind:signal",
            "",
        );
        let e = engine(vec![seed(), all], settings());
        assert_eq!(e.alert_reader_count(), 0, "{index:?}");
        let mut ev = e.evaluator();
        let docs = feed(&mut ev, None, 0, &[impersonation(1, 0, "jane")]);
        assert_eq!(rule_ids(&docs), [SEED_ID], "{index:?}");
    }
    // The legacy `.siem-signals-<space>` alias names the alerts index too.
    let legacy = kql(
        "legacy",
        &[".siem-signals-*"],
        "kibana.alert.severity:high",
        "",
    );
    assert_eq!(
        rule_ids(&run(vec![seed(), legacy], &[impersonation(1, 0, "jane")])),
        [SEED_ID, "legacy"]
    );
}

#[test]
fn alerts_are_in_the_alerts_index_of_the_configured_space() {
    let own = kql(
        "own",
        &[".alerts-security.alerts-soc"],
        "kibana.alert.severity:high",
        "",
    );
    let other = kql(
        "other",
        &[".alerts-security.alerts-default"],
        "kibana.alert.severity:high",
        "",
    );
    let mut settings_ = EngineSettings {
        input_format: InputFormat::Ecs,
        normalize: NormalizeOptions::new(now()),
        ..EngineSettings::default()
    };
    settings_.alert.space_id = "soc".into();
    let (engine, statuses) = Engine::with_stateful(vec![seed(), own, other], settings_, settings());
    assert!(statuses.iter().all(|s| s.outcome == RuleOutcome::Ok));
    assert_eq!(engine.alert_reader_count(), 1);
    let mut ev = std::sync::Arc::new(engine).evaluator();
    let docs = feed(&mut ev, None, 0, &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID, "own"]);
    let ancestors = docs[1]["kibana.alert.ancestors"].as_array().unwrap();
    assert_eq!(
        ancestors[1]["index"],
        ".internal.alerts-security.alerts-soc-000001"
    );
}

#[test]
fn signal_alias_fields_read_their_kibana_alert_targets() {
    // Elastic's "Stolen Credentials … After MFA Reset" reads `signal.rule.threat.tactic.name`.
    let tactic = kql(
        "tactic",
        &[".alerts-security.*"],
        r#"signal.rule.threat.tactic.name:"Credential Access""#,
        "",
    );
    let by_id = kql(
        "by-uuid",
        &[".alerts-security.*"],
        &format!("signal.rule.id:{}", rule_uuid(SEED_ID)),
        "",
    );
    let status = kql(
        "status",
        &[".alerts-security.*"],
        "signal.status:open and signal.rule.severity:high and signal.depth:1",
        "",
    );
    let miss = kql(
        "miss",
        &[".alerts-security.*"],
        r#"signal.rule.threat.tactic.name:"Persistence""#,
        "",
    );
    let docs = run(
        vec![seed(), tactic, by_id, status, miss],
        &[impersonation(1, 0, "jane")],
    );
    assert_eq!(rule_ids(&docs), [SEED_ID, "tactic", "by-uuid", "status"]);
}

#[test]
fn alert_fields_have_their_alerts_index_types() {
    // `kibana.alert.risk_score` is a float: a range works numerically (73 > 50 as numbers,
    // not as text); `kibana.alert.original_time` is a date.
    let on_seed = |id: &str, q: &str| {
        let query = format!("kibana.alert.rule.rule_id:{SEED_ID} and {q}");
        kql(id, &[".alerts-security.*"], &query, "")
    };
    let risky = on_seed(
        "risky",
        "kibana.alert.risk_score > 50 and kibana.alert.risk_score < 100.5",
    );
    let timed = on_seed("timed", "kibana.alert.original_time >= 2025-06-03");
    let late = on_seed("late", "kibana.alert.original_time >= 2025-06-04");
    let docs = run(
        vec![seed(), risky, timed, late],
        &[impersonation(1, 0, "jane")],
    );
    assert_eq!(rule_ids(&docs), [SEED_ID, "risky", "timed"]);
}

#[test]
fn a_threshold_rule_counts_alerts_and_replays_do_not_count_twice() {
    let threshold = kql(
        "two-impersonations",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:{SEED_ID}"),
        r#"type = "threshold"
from = "now-60m"
timestamp_override = "event.ingested"

[rule.threshold]
field = ["user.name"]
value = 2
"#,
    );
    let reader = kql(
        "reader",
        &[".alerts-security.*"],
        &format!("kibana.alert.rule.rule_id:{SEED_ID}"),
        "",
    );
    let engine = engine(vec![seed(), threshold, reader], settings());
    let mut ev = engine.evaluator();
    let events = [impersonation(1, 0, "jane"), impersonation(2, 1, "jane")];
    let first = feed(&mut ev, Some("okta"), 0, &events);
    // Fed-back alerts are counted at the first delivery: they share their event's partition
    // and offset (a second `begin` would have taken them for replays and counted nothing).
    assert_eq!(
        rule_ids(&first),
        [SEED_ID, "reader", SEED_ID, "two-impersonations", "reader"]
    );
    // The alert copies the event-time fields of the alerts it counted (`event.ingested`).
    let th = &first[3];
    assert_eq!(th["kibana.alert.threshold_result"]["count"], 2);

    // Redelivery of both events (offsets <= the partition's offset): stateful rules skip the
    // events and their fed-back alerts; query rules re-create the same alerts, same ids.
    let again = feed(&mut ev, Some("okta"), 0, &events);
    assert_eq!(rule_ids(&again), [SEED_ID, "reader", SEED_ID, "reader"]);
    let ids = |docs: &[Value]| -> Vec<Value> {
        docs.iter()
            .map(|d| d["kibana.alert.uuid"].clone())
            .collect()
    };
    let query_alerts: Vec<Value> = [0, 1, 2, 4].map(|i| first[i].clone()).to_vec();
    assert_eq!(ids(&again), ids(&query_alerts));
    assert_eq!(
        ev.stateful_stats().replayed_skipped,
        2,
        "one per event, not per alert"
    );

    // The next new event is counted again (threshold re-armed after one window: no alert yet).
    let next = feed(&mut ev, Some("okta"), 2, &[impersonation(3, 2, "jane")]);
    assert_eq!(rule_ids(&next), [SEED_ID, "reader"]);
}

#[test]
fn a_new_terms_rule_on_alerts_is_bounded_by_its_terms() {
    // Kibana applies no own-ancestry filter to new_terms alerts: this rule also matches its own
    // alerts, whose user is already a known term, so the chain ends there.
    let new_user = kql(
        "new-user-alerted",
        &[".alerts-security.*"],
        "kibana.alert.severity:*",
        r#"type = "new_terms"
timestamp_override = "event.ingested"

[rule.new_terms]
field = "new_terms_fields"
value = ["user.name"]

[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-7d"
"#,
    );
    let docs = run(
        vec![seed(), new_user],
        &[
            impersonation(1, 0, "jane"),
            impersonation(2, 1, "jane"),
            impersonation(3, 2, "joe"),
        ],
    );
    assert_eq!(
        rule_ids(&docs),
        [
            SEED_ID,
            "new-user-alerted",
            SEED_ID,
            SEED_ID,
            "new-user-alerted"
        ]
    );
    assert_eq!(docs[1]["kibana.alert.new_terms"], json!(["jane"]));
    assert_eq!(docs[4]["kibana.alert.new_terms"], json!(["joe"]));
    assert_eq!(docs[4]["kibana.alert.depth"], 2);
}

#[test]
fn no_rule_reads_alerts_no_feedback() {
    let plain = engine(vec![seed()], settings());
    assert_eq!(plain.alert_reader_count(), 0);
    let mut ev = plain.evaluator();
    let docs = feed(&mut ev, None, 0, &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID]);

    // A reader is present but nothing alerted: nothing to offer, nothing out.
    let reader = kql(
        "reader",
        &[".alerts-security.*"],
        "kibana.alert.severity:*",
        "",
    );
    let with_reader = engine(vec![seed(), reader], settings());
    assert_eq!(with_reader.alert_reader_count(), 1);
    let mut ev = with_reader.evaluator();
    let quiet = event(9, BASE_MS, &[("event.action", json!("user.session.start"))]);
    assert!(feed(&mut ev, None, 0, &[quiet]).is_empty());
}

#[test]
fn rules_do_not_see_rulestreams_ecs_mirror_on_alerts() {
    // The seed alert carries rulestream's `rule.*` / `threat.*` mirror; Kibana's alerts do not,
    // so a rule on alerts must not match it.
    let mirror = kql(
        "mirror",
        &[".alerts-security.*"],
        "rule.id:* or rule.name:* or threat.tactic.name:*",
        "",
    );
    let docs = run(vec![seed(), mirror], &[impersonation(1, 0, "jane")]);
    assert_eq!(rule_ids(&docs), [SEED_ID]);
}

#[test]
fn suppression_re_emits_are_not_offered_again() {
    // A suppressed rule on events, and a rule on its alerts.
    let suppressed = kql(
        "supp",
        &["logs-okta*"],
        "event.action:user.session.impersonation.initiate",
        r#"timestamp_override = "event.ingested"

[rule.alert_suppression]
group_by = ["user.name"]
missing_fields_strategy = "suppress"

[rule.alert_suppression.duration]
value = 10
unit = "m"
"#,
    );
    let reader = kql(
        "reader",
        &[".alerts-security.*"],
        "kibana.alert.rule.rule_id:supp",
        "",
    );
    let events = [
        impersonation(1, 0, "jane"),  // new alert A1
        impersonation(2, 3, "jane"),  // folded into A1
        impersonation(3, 12, "jane"), // A1 re-emitted (docs_count 1), then new alert A2
    ];
    let docs = run(vec![suppressed, reader], &events);
    let summary: Vec<(&str, Value)> = docs
        .iter()
        .map(|d| {
            let rule = d["kibana.alert.rule.rule_id"].as_str().unwrap();
            (rule, d["kibana.alert.suppression.docs_count"].clone())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("supp", json!(0)),
            ("reader", Value::Null),
            ("supp", json!(1)), // the re-emit: an update Kibana's rules saw already
            ("supp", json!(0)),
            ("reader", Value::Null),
        ]
    );
    // One reader alert per new suppressed alert, each naming its own parent.
    assert_eq!(
        docs[1]["kibana.alert.ancestors"][1]["id"],
        docs[0]["kibana.alert.uuid"]
    );
    assert_eq!(
        docs[4]["kibana.alert.ancestors"][1]["id"],
        docs[3]["kibana.alert.uuid"]
    );
    assert_eq!(docs[2]["kibana.alert.uuid"], docs[0]["kibana.alert.uuid"]);
}

#[test]
fn eql_conditions_read_signal_aliases_from_their_targets() {
    use rulestream::eql;
    use rulestream::event::{extract, Extracted, FieldPlan};
    // The first step of Elastic's "Stolen Credentials Used to Login to Okta Account After MFA
    // Reset", on a Windows credential-access alert and on near misses.
    let query = r#"any where host.os.type == "windows" and signal.rule.threat.tactic.name == "Credential Access""#;
    let eval = |event: &Value| {
        let mut plan = FieldPlan::new();
        let ast = eql::parse(query).unwrap();
        let eql::CompiledQuery::Event(expr) = eql::compile_query(&ast, &mut plan).unwrap() else {
            panic!("an event query");
        };
        let bytes = serde_json::to_vec(event).unwrap();
        let mut out = Extracted::new();
        let view = extract(&plan, &bytes, &mut out).unwrap();
        expr.eval(&view)
    };
    let alert = |tactic: &str| {
        json!({
            "host": {"os": {"type": "windows"}},
            "kibana.alert.rule.threat": [{"framework": "MITRE ATT&CK",
                "tactic": {"id": "TA0006", "name": tactic}}],
        })
    };
    assert!(eval(&alert("Credential Access")));
    assert!(!eval(&alert("Persistence")));
    // The alias has no value of its own: a document holding the alias path itself (which
    // Elasticsearch would refuse to index) is not read through it.
    let literal = json!({"host": {"os": {"type": "windows"}},
        "signal": {"rule": {"threat": {"tactic": {"name": "Credential Access"}}}}});
    assert!(!eval(&literal));
}
