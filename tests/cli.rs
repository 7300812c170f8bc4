//! The `rulestream` binary as a user runs it: `filter`, `eval`, `check`, `normalize`, and their
//! exit statuses and messages.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rulestream"))
}

fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(path)
}

fn seed_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// Runs the binary with `stdin` as input.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("binary finishes")
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

const IMPERSONATION: &str = r#"{"@timestamp":"2025-06-03T09:14:22.517Z","data_stream":{"dataset":"okta.system","namespace":"default","type":"logs"},"event":{"action":"user.session.impersonation.initiate","id":"6b2f9d1e-4a7c-11f0-9e3d-5f2a1c8b7d40","kind":"event","category":["session"]},"source":{"ip":"198.51.100.23"},"user":{"name":"jane.admin"}}"#;
const SESSION_START: &str = r#"{"@timestamp":"2025-06-03T09:15:00Z","data_stream":{"dataset":"okta.system","namespace":"default","type":"logs"},"event":{"action":"user.session.start","id":"e2"}}"#;

#[test]
fn filter_writes_matching_events_unchanged() {
    let input = format!("{IMPERSONATION}\n{SESSION_START}\n\n{IMPERSONATION}\n");
    let out = run(
        &["filter", "event.action:user.session.impersonation.initiate"],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_lines(&out), [IMPERSONATION, IMPERSONATION]);
}

#[test]
fn filter_reports_a_bad_query_with_its_column_and_exits_2() {
    let out = run(&["filter", "event.action:(a or"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // The parser points at the parenthesis left open.
    assert!(err.contains("column 14"), "column in: {err}");
    assert!(err.contains('^'), "caret in: {err}");
}

#[test]
fn filter_reports_bad_lines_and_goes_on() {
    let input = format!("not json\n{IMPERSONATION}\n[1]\n");
    let out = run(&["filter", "event.action:*"], &input);
    assert!(out.status.success());
    assert_eq!(stdout_lines(&out), [IMPERSONATION]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("<stdin>:1:"), "{err}");
    assert!(err.contains("<stdin>:3:"), "{err}");
}

#[test]
fn filter_reads_files_given_as_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, format!("{SESSION_START}\n{IMPERSONATION}\n")).expect("write");
    let out = run(
        &[
            "filter",
            "event.action:user.session.start",
            file.to_str().expect("utf8"),
        ],
        "",
    );
    assert!(out.status.success());
    assert_eq!(stdout_lines(&out), [SESSION_START]);
}

#[test]
fn eval_writes_one_alert_per_match_with_the_seed_rule() {
    let rules = seed_rules();
    let input = format!("{IMPERSONATION}\n{SESSION_START}\nnot json\n");
    let out = run(&["eval", "--rules", rules.to_str().expect("utf8")], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let alert: serde_json::Value = serde_json::from_str(&lines[0]).expect("alert is JSON");
    assert_eq!(
        alert["kibana.alert.rule.rule_id"],
        "cdbebdc1-dc97-43c6-a538-f26a20c0a911"
    );
    assert_eq!(alert["event.kind"], "signal");
    assert_eq!(
        alert["event"]["action"],
        "user.session.impersonation.initiate"
    );
    assert_eq!(
        alert["kibana.alert.uuid"].as_str().map(str::len),
        Some(64),
        "sha-256 hex alert id"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("<stdin>:3:"),
        "bad line reported with its number: {err}"
    );
}

#[test]
fn eval_ids_are_deterministic_across_runs() {
    let rules = seed_rules();
    let args = ["eval", "--rules", rules.to_str().expect("utf8")];
    let ids = |out: Output| -> Vec<String> {
        stdout_lines(&out)
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["kibana.alert.uuid"]
                    .to_string()
            })
            .collect()
    };
    let first = ids(run(&args, IMPERSONATION));
    let second = ids(run(&args, IMPERSONATION));
    assert_eq!(first.len(), 1);
    assert_eq!(first, second);
}

#[test]
fn check_lists_every_okta_rule_and_exits_0_when_none_is_broken() {
    let dir = shared("detection-rules-okta");
    let out = run(&["check", "--rules", dir.to_str().expect("utf8")], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = text.lines().filter(|l| l.starts_with("ok: ")).count();
    let unsupported = text
        .lines()
        .filter(|l| l.starts_with("unsupported: "))
        .count();
    assert_eq!(
        ok, 42,
        "all 28 KQL query, 5 threshold, 4 new_terms and 5 EQL rules run:\n{text}"
    );
    assert_eq!(ok + unsupported, 52, "one line per rule:\n{text}");
    assert!(text.contains("52 rules: 42 ok"), "summary line:\n{text}");
}

#[test]
fn check_reports_a_broken_rule_with_file_line_column_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read_to_string(
        seed_rules().join("okta/credential_access_user_impersonation_access.toml"),
    )
    .expect("seed rule");
    std::fs::write(dir.path().join("good.toml"), &good).expect("write");
    let broken = good
        .replace(
            "cdbebdc1-dc97-43c6-a538-f26a20c0a911",
            "00000000-0000-0000-0000-000000000001",
        )
        .replace(
            "event.action:user.session.impersonation.initiate",
            "source.ip:999.1.1.1",
        );
    std::fs::write(dir.path().join("broken.toml"), &broken).expect("write");
    let out = run(
        &["check", "--rules", dir.path().to_str().expect("utf8")],
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let (line, text_line) = broken
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("999.1.1.1"))
        .expect("query line");
    let column = text_line.find("999.1.1.1").expect("value") + 1;
    let error = text
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        error.contains(&format!("broken.toml:{}:{column}: ", line + 1)),
        "{error}"
    );
    assert!(error.contains("not an IP address"), "{error}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok: ") && l.contains("good.toml")),
        "{text}"
    );
}

#[test]
fn help_teaches_with_examples() {
    for cmd in [
        &["--help"][..],
        &["filter", "--help"],
        &["eval", "--help"],
        &["check", "--help"],
        &["run", "--help"],
    ] {
        let out = run(cmd, "");
        assert!(out.status.success(), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{cmd:?} has examples:\n{text}");
    }
}

#[test]
fn eval_sees_events_without_a_data_stream_only_in_a_named_index() {
    // No data_stream.* fields: the event's index is unknown, so a rule restricted to
    // `logs-okta*`/`filebeat-*` does not see it — unless --index names one that matches.
    let event = r#"{"@timestamp":"2025-06-03T09:14:22.517Z","event":{"action":"user.session.impersonation.initiate","id":"x1"}}"#;
    let rules = seed_rules();
    let rules = rules.to_str().expect("utf8");
    let unseen = run(&["eval", "--rules", rules], event);
    assert!(unseen.status.success());
    assert!(stdout_lines(&unseen).is_empty(), "unknown index: no alert");
    let seen = run(
        &[
            "eval",
            "--rules",
            rules,
            "--index",
            "logs-okta.system-default",
        ],
        event,
    );
    let lines = stdout_lines(&seen);
    assert_eq!(
        lines.len(),
        1,
        "the data stream also supplies data_stream.dataset"
    );
    let alert: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(
        alert["kibana.alert.ancestors"][0]["index"],
        "logs-okta.system-default"
    );
    let other = run(
        &[
            "eval",
            "--rules",
            rules,
            "--index",
            "logs-aws.cloudtrail-default",
        ],
        event,
    );
    assert!(
        stdout_lines(&other).is_empty(),
        "an index the rule's patterns exclude"
    );
}
