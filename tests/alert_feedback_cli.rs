//! `rulestream eval` end to end with a rule that reads alerts: the seed rule alerts on the
//! sample raw Okta events, and a rule on `.alerts-security.*` alerts on that alert, in the same
//! run and output stream.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SEED_ID: &str = "cdbebdc1-dc97-43c6-a538-f26a20c0a911";

const READER: &str = r#"[metadata]
creation_date = "2025/06/01"
updated_date = "2025/06/01"

[rule]
author = ["rulestream tests"]
description = "High-severity Okta alerts from a session by an administrator."
index = [".alerts-security.*"]
language = "kuery"
name = "High Okta Alert"
risk_score = 47
rule_id = "0b6f2a7e-4c61-4d55-9a43-5a1f0d2c9e11"
severity = "medium"
type = "query"
query = '''
kibana.alert.severity:high and data_stream.dataset:okta.system and signal.rule.threat.tactic.name:"Credential Access"
'''
"#;

fn alerts(rules: &Path, events: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_rulestream"))
        .args(["eval", "--rules"])
        .arg(rules)
        .arg(events)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert is JSON"))
        .collect()
}

#[test]
fn eval_feeds_alerts_to_a_rule_on_the_alerts_index() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let events = root.join("config/sample-okta-events.ndjson");
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = root.join("rules/okta/credential_access_user_impersonation_access.toml");
    std::fs::copy(&seed, dir.path().join("seed.toml")).expect("copy seed rule");

    // The seed rule alone: its alert, nothing on it.
    let only_seed = alerts(dir.path(), &events);
    let ids: Vec<&Value> = only_seed
        .iter()
        .map(|a| &a["kibana.alert.rule.rule_id"])
        .collect();
    assert_eq!(ids, [SEED_ID]);

    // With the reader: the same seed alert, then the reader's alert built from it.
    std::fs::write(dir.path().join("reader.toml"), READER).expect("write rule");
    let both = alerts(dir.path(), &events);
    assert_eq!(both.len(), 2, "{both:#?}");
    let (parent, child) = (&both[0], &both[1]);
    assert_eq!(
        parent["kibana.alert.uuid"],
        only_seed[0]["kibana.alert.uuid"]
    );
    assert_eq!(
        child["kibana.alert.rule.rule_id"],
        "0b6f2a7e-4c61-4d55-9a43-5a1f0d2c9e11"
    );
    assert_eq!(child["kibana.alert.depth"], 2);
    let ancestors = child["kibana.alert.ancestors"]
        .as_array()
        .expect("ancestors");
    assert_eq!(ancestors.len(), 2);
    assert_eq!(ancestors[1]["id"], parent["kibana.alert.uuid"]);
    assert_eq!(ancestors[1]["type"], "signal");
    assert_eq!(
        ancestors[1]["index"],
        ".internal.alerts-security.alerts-default-000001"
    );
}
