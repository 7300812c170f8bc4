//! Every Elastic Okta query rule fires on a raw Okta System Log event built to trigger it
//! (`testdata/okta/rule_triggers.ndjson`), after rulestream normalizes it to ECS; and the same
//! event given already in ECS form produces exactly the same alerts.

use std::path::Path;
use std::sync::Arc;

use rulestream::engine::ruleset::{Engine, EngineSettings, RuleOutcome};
use rulestream::engine::{AlertOut, EventOrigin};
use rulestream::okta::{self, NormalizeOptions};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2025-06-03T09:20:00.123Z")
        .expect("date")
        .to_utc()
}

fn engine() -> Arc<Engine> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/detection-rules-okta");
    let report = rulestream::rules::load_dirs(&[dir]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let settings = EngineSettings {
        normalize: NormalizeOptions::new(now()),
        ..EngineSettings::default()
    };
    let (engine, statuses) = Engine::new(report.rules, settings);
    // 28 query rules plus 5 threshold, 4 new_terms and 5 EQL rules run; the triggers are for
    // the query rules (each evaluator starts with empty stateful state).
    let running = statuses
        .iter()
        .filter(|s| s.outcome == RuleOutcome::Ok)
        .count();
    assert_eq!(running, 42);
    Arc::new(engine)
}

fn alerts(engine: &Arc<Engine>, event: &[u8]) -> Vec<AlertOut> {
    let mut out = Vec::new();
    engine
        .evaluator()
        .evaluate_at(event, &EventOrigin::default(), now(), &mut out)
        .expect("valid event");
    out
}

#[test]
fn every_okta_query_rule_fires_on_its_raw_trigger_and_on_the_same_event_in_ecs_form() {
    let engine = engine();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/okta/rule_triggers.ndjson"
    );
    let text = std::fs::read_to_string(path).expect("trigger events");
    let mut fired = std::collections::BTreeSet::new();
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("json");
        let rule_file = case["rule_file"].as_str().expect("rule_file");
        let rule = rulestream::rules::load_dirs(&[Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/detection-rules-okta")
            .join(rule_file)])
        .rules
        .pop()
        .expect("rule loads");
        let raw = serde_json::to_vec(&case["raw"]).expect("raw event");

        let from_raw = alerts(&engine, &raw);
        assert!(
            from_raw.iter().any(|a| a.rule_id == rule.rule_id),
            "{rule_file} did not fire on its raw trigger; fired: {:?}",
            from_raw.iter().map(|a| &a.rule_id).collect::<Vec<_>>()
        );
        fired.insert(rule.rule_id.clone());

        let mut options = NormalizeOptions::new(now());
        options.preserve_original = false;
        let ecs = okta::normalize_text(std::str::from_utf8(&raw).expect("utf8"), &options);
        let from_ecs = alerts(&engine, &serde_json::to_vec(&ecs).expect("ecs"));
        let ids = |alerts: &[AlertOut]| {
            alerts
                .iter()
                .map(|a| (a.rule_id.clone(), a.id.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&from_raw),
            ids(&from_ecs),
            "{rule_file}: raw and ECS forms differ"
        );
        for (a, b) in from_raw.iter().zip(&from_ecs) {
            let a: serde_json::Value = serde_json::from_slice(&a.doc).expect("json");
            let b: serde_json::Value = serde_json::from_slice(&b.doc).expect("json");
            assert_eq!(a, b, "{rule_file}: alert documents differ");
        }
    }
    assert_eq!(fired.len(), 28, "one trigger per query rule");
}

#[test]
fn near_misses_do_not_fire() {
    // Each trigger with its action changed to one no rule watches no longer fires its rule —
    // for every rule whose query pins `event.action` (the others key on other fields).
    let engine = engine();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/okta/rule_triggers.ndjson"
    ))
    .expect("trigger events");
    let mut checked = 0;
    for line in text.lines() {
        let mut case: serde_json::Value = serde_json::from_str(line).expect("json");
        let rule_file = case["rule_file"].as_str().expect("rule_file").to_owned();
        let rule = rulestream::rules::load_dirs(&[Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/detection-rules-okta")
            .join(&rule_file)])
        .rules
        .pop()
        .expect("rule loads");
        // Rules with an alternative to the action: the ThreatInsight rule also fires on
        // `threat_suspected: true` whatever the action, which its trigger carries.
        let alternatives = ["okta_threatinsight_threat_suspected_promotion.toml"];
        if !rule.query.as_deref().unwrap_or("").contains("event.action")
            || alternatives.contains(&rule_file.as_str())
        {
            continue;
        }
        case["raw"]["eventType"] = "user.account.update_profile".into();
        let raw = serde_json::to_vec(&case["raw"]).expect("raw");
        let fired: Vec<String> = alerts(&engine, &raw)
            .into_iter()
            .map(|a| a.rule_id)
            .collect();
        assert!(
            !fired.contains(&rule.rule_id),
            "{rule_file} fired on another action"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "most Okta query rules pin event.action ({checked} checked)"
    );
}
