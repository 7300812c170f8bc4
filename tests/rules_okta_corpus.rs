//! Every Elastic Okta rule in the shared corpus loads, with the typed parts the engine needs.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

use std::path::PathBuf;

use rulestream::rules::{load_dirs, Language, LoadReport, Rule, RuleType, Severity, VersionSource};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta"
);

fn corpus() -> LoadReport {
    load_dirs(&[PathBuf::from(CORPUS)])
}

fn by_file<'a>(report: &'a LoadReport, file: &str) -> &'a Rule {
    report
        .rules
        .iter()
        .find(|r| r.path.file_name().is_some_and(|n| n == file))
        .unwrap_or_else(|| panic!("{file} not loaded"))
}

#[test]
fn every_corpus_rule_loads() {
    let report = corpus();
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let toml_files = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(report.rules.len(), toml_files);
    assert_eq!(report.rules.len(), 52);
    // Sorted, stable order.
    let paths: Vec<_> = report.rules.iter().map(|r| r.path.clone()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn corpus_types_and_languages_match_its_readme() {
    let report = corpus();
    let count = |t: RuleType| report.rules.iter().filter(|r| r.rule_type == t).count();
    assert_eq!(count(RuleType::Query), 28);
    assert_eq!(count(RuleType::Threshold), 5);
    assert_eq!(count(RuleType::NewTerms), 4);
    assert_eq!(count(RuleType::Eql), 5);
    assert_eq!(count(RuleType::Esql), 10);
    for rule in &report.rules {
        let want = match rule.rule_type {
            RuleType::Eql => Language::Eql,
            RuleType::Esql => Language::Esql,
            _ => Language::Kuery,
        };
        assert_eq!(rule.language, want, "{}", rule.path.display());
        assert!(rule.query.is_some(), "{}", rule.path.display());
        // No lock file next to the corpus: version falls back to 1.
        assert_eq!(rule.version_source, VersionSource::Default);
        assert_eq!(rule.version, 1);
    }
}

#[test]
fn impersonation_rule_fields() {
    let report = corpus();
    let r = by_file(&report, "credential_access_user_impersonation_access.toml");
    assert_eq!(r.rule_id, "cdbebdc1-dc97-43c6-a538-f26a20c0a911");
    assert_eq!(r.uuid(), "dca758f5-0d6c-56e7-9296-dff9e4fab862");
    assert_eq!(r.severity, Severity::High);
    assert_eq!(r.risk_score, 73);
    assert_eq!(r.from, "now-30m");
    assert_eq!(r.interval, "15m");
    assert_eq!(r.to, "now");
    assert_eq!(r.timestamp_override.as_deref(), Some("event.ingested"));
    assert_eq!(r.index, ["filebeat-*", "logs-okta*"]);
    assert!(r.is_elastic());
    assert_eq!(
        r.description,
        "A user has initiated a session impersonation granting them access to the environment \
         with the permissions of the user they are impersonating. This would likely indicate \
         Okta administrative access and should only ever occur if requested and expected."
    );
    assert_eq!(r.threat.len(), 2);
    assert_eq!(r.threat[0].tactic.id, "TA0006");
    assert!(r.threat[0].technique.is_empty());
    assert_eq!(r.threat[1].tactic.id, "TA0005");
    assert_eq!(r.threat[1].technique[0].id, "T1078");
    assert_eq!(r.threat[1].technique[0].subtechnique[0].id, "T1078.004");
    assert_eq!(r.metadata.creation_date.as_deref(), Some("2022/03/22"));
    assert_eq!(r.metadata.integration, ["okta"]);
    // The query starts on the line after `query = '''`.
    let text = r.file_text();
    let query_line = text
        .lines()
        .position(|l| l == "query = '''")
        .expect("query line")
        + 2;
    assert_eq!(r.query_position(0), (query_line, 1));
    // "event.action" starts after "data_stream.dataset:okta.system and ".
    let off = r.query.as_deref().unwrap().find("event.action").unwrap();
    assert_eq!(r.query_position(off), (query_line, off + 1));
}

#[test]
fn threshold_new_terms_mapping_and_building_block_parts() {
    let report = corpus();
    let th = by_file(
        &report,
        "credential_access_multiple_auth_events_from_single_device_behind_proxy.toml",
    );
    let t = th.threshold.as_ref().expect("threshold");
    assert_eq!(t.field, ["okta.debug_context.debug_data.dt_hash"]);
    assert_eq!(t.value, 1);
    assert_eq!(t.cardinality.len(), 1);
    assert_eq!(t.cardinality[0].field, "okta.actor.id");
    assert_eq!(t.cardinality[0].value, 3);

    let nt = by_file(
        &report,
        "initial_access_first_occurrence_user_session_started_via_proxy.toml",
    );
    let n = nt.new_terms.as_ref().expect("new_terms");
    assert_eq!(n.fields, ["okta.actor.id", "cloud.account.id"]);
    assert_eq!(n.history_window_start, "now-7d");

    let promo = by_file(
        &report,
        "okta_threatinsight_threat_suspected_promotion.toml",
    );
    assert_eq!(
        promo.rule_name_override.as_deref(),
        Some("okta.display_message")
    );
    let sev: Vec<_> = promo
        .severity_mapping
        .iter()
        .map(|m| (m.value.as_str(), m.severity))
        .collect();
    assert_eq!(
        sev,
        [
            ("LOW", Severity::Low),
            ("MEDIUM", Severity::Medium),
            ("HIGH", Severity::High)
        ]
    );

    let bb = by_file(
        &report,
        "initial_access_new_okta_authentication_behavior.toml",
    );
    assert_eq!(bb.building_block_type.as_deref(), Some("default"));
    // Keys rulestream does not interpret are kept: in [metadata] …
    assert_eq!(
        bb.metadata.raw.get("bypass_bbr_timing"),
        Some(&toml::Value::Boolean(true))
    );
    // … and in [rule] (copied to kibana.alert.rule.parameters).
    let inv = by_file(
        &report,
        "credential_access_multiple_user_agent_os_authentication.toml",
    );
    assert!(inv.raw["investigation_fields"].get("field_names").is_some());
}

#[test]
fn query_positions_point_at_the_query_text_in_every_file() {
    let report = corpus();
    for rule in &report.rules {
        let query = rule.query.as_deref().unwrap();
        let lines: Vec<&str> = rule.file_text().lines().collect();
        // Check the start of every query line: offset → (line, col) → the same text in the file.
        let mut offset = 0;
        for qline in query.split('\n') {
            let (line, col) = rule.query_position(offset);
            let file_line = lines[line - 1];
            let at: String = file_line.chars().skip(col - 1).collect();
            assert!(
                at.starts_with(qline),
                "{}: query line {qline:?} not at {line}:{col} ({file_line:?})",
                rule.path.display()
            );
            offset += qline.len() + 1;
        }
    }
}
