//! The stage as a separate process, killed or stopped mid-stream: SIGKILL then restart loses
//! nothing (duplicates only with identical ids), SIGTERM drains, commits and exits 0.
//!
//! For the crash tests the child is this test binary re-executed on [`stage_child_entry`], which
//! parses a `rulestream run ...` command line with the real `RunArgs` and runs the real pipeline
//! and engine (seed rule) — what `rulestream run` does — with an optional per-event delay, so a
//! kill reliably lands mid-stream. The real `rulestream` binary is run by
//! `the_rulestream_binary_runs_the_stage_end_to_end` and the config test.

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use support::child::{child_main, delay_from_env, parse_run, stage_args, Stage};
use support::*;

const T: Duration = Duration::from_secs(60);
const DELAY_VAR: &str = "RULESTREAM_STAGE_CHILD_DELAY_US";

/// Child-process entry (see `support::child`): the real pipeline with the seed rule, each
/// evaluation slowed by `RULESTREAM_STAGE_CHILD_DELAY_US`. Without the child variables, this
/// checks the command-line contract of `rulestream run` instead, so it is never an empty test.
#[test]
fn stage_child_entry() {
    let ran = child_main(|_| {
        let delay = delay_from_env(DELAY_VAR);
        if delay > Duration::ZERO {
            support::evaluator::slow_evaluator_factory(delay)
        } else {
            test_evaluator_factory()
        }
    });
    assert!(!ran, "child_main exits the process");
    let s = parse_run(&[
        "run",
        "--brokers",
        "b:1",
        "--group-id",
        "g",
        "--input-topic",
        "a",
        "--input-topic",
        "b",
        "--alerts-topic",
        "al",
        "--dead-letter-topic",
        "dl",
        "--rules",
        "r1",
        "--rules",
        "r2",
        "--metrics-addr",
        "127.0.0.1:1",
        "--workers",
        "3",
        "--log-format",
        "json",
        "--state-dir",
        "/var/lib/rulestream/state",
    ])
    .expect("documented flags parse, and flags alone are enough");
    assert_eq!(s.kafka.input_topics, ["a", "b"]);
    assert_eq!(s.kafka.dead_letter_topic.as_deref(), Some("dl"));
    assert_eq!(s.rules.len(), 2);
    assert_eq!(s.pipeline.workers, 3);
    assert_eq!(s.log_format, rulestream::config::LogFormat::Json);
    assert_eq!(
        s.stateful.state_dir.as_deref(),
        Some(std::path::Path::new("/var/lib/rulestream/state"))
    );
}

/// Starts `rulestream run` for `names` as a child process; `delay_us` slows each evaluation.
fn spawn_stage(names: &Names, dir: &std::path::Path, delay_us: u64) -> Stage {
    let config = dir.join("rulestream.toml");
    std::fs::write(
        &config,
        "[pipeline]\nworkers = 2\nqueue_capacity = 64\nmax_in_flight = 500\n\
         shutdown_timeout_ms = 20000\n\
         [librdkafka_consumer]\n\"session.timeout.ms\" = 2000\n\"heartbeat.interval.ms\" = 500\n\
         \"auto.commit.interval.ms\" = 200\n",
    )
    .expect("write config");
    let port = free_port();
    let args = stage_args(names, &config.display().to_string(), port);
    Stage::spawn(
        "stage_child_entry",
        &args,
        &[(DELAY_VAR, delay_us.to_string())],
        port,
    )
}

/// Runs a fresh stage (no delay) until every input offset is committed, reads the alerts
/// topic, and stops the stage with SIGTERM, asserting it exits 0.
fn finish_topic_with_second_stage(
    names: &Names,
    dir: &std::path::Path,
    ends: &HashMap<i32, i64>,
    expected_alerts: usize,
) -> Vec<Output> {
    let mut second = spawn_stage(names, dir, 0);
    let alerts = alerts_after_commit(names, ends, expected_alerts);
    second.sigterm();
    assert!(
        second.wait(T).success(),
        "the second stage exits 0 on SIGTERM"
    );
    alerts
}

#[test]
fn sigkill_mid_stream_then_restart_loses_nothing() {
    let names = Names::new("crash");
    create_topic(broker(), &names.input, 4);
    let (inputs, expected) = workload(4000, 20);
    let ends = produce_all(broker(), &names.input, &inputs);
    let dir = tempfile::tempdir().expect("tempdir");

    // Slow first run: ~1 ms per event on 2 workers, killed about a third of the way through.
    let mut first = spawn_stage(&names, dir.path(), 1000);
    first.wait_metric("rulestream_events_completed_total", 1200.0);
    first.child.kill().expect("SIGKILL");
    first.wait(T);
    let at_kill = committed(broker(), &names.group, &names.input, 4);
    let total_committed: i64 = at_kill.values().map(|o| (*o).max(0)).sum();
    let total: i64 = ends.values().sum();
    assert!(
        total_committed < total,
        "the kill must land mid-stream: {at_kill:?} of {ends:?}"
    );

    let alerts = finish_topic_with_second_stage(&names, dir.path(), &ends, expected.len());

    let by_key = alerts_by_key(&alerts);
    let keys: BTreeSet<String> = by_key.keys().cloned().collect();
    assert_eq!(keys, expected, "every expected alert, nothing else");
}

#[test]
fn sigterm_during_load_drains_commits_and_exits_zero() {
    let names = Names::new("term");
    create_topic(broker(), &names.input, 3);
    let (inputs, expected) = workload(3000, 25);
    let ends = produce_all(broker(), &names.input, &inputs);
    let dir = tempfile::tempdir().expect("tempdir");

    let mut first = spawn_stage(&names, dir.path(), 1000);
    first.wait_metric("rulestream_events_completed_total", 600.0);
    let asked = Instant::now();
    first.sigterm();
    let status = first.wait(Duration::from_secs(30));
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
    let after_stop = committed(broker(), &names.group, &names.input, 3);
    let done: i64 = after_stop.values().map(|o| (*o).max(0)).sum();
    let total: i64 = ends.values().sum();
    assert!(
        done >= 600,
        "completed work is committed on shutdown: {after_stop:?}"
    );
    assert!(
        done < total,
        "the stop must land mid-stream: {after_stop:?} of {ends:?}"
    );

    // A second run finishes the topic. A graceful stop committed everything it had written, so
    // no alert is written twice.
    let alerts = finish_topic_with_second_stage(&names, dir.path(), &ends, expected.len());
    let keys: Vec<String> = alerts.iter().filter_map(|a| a.key.clone()).collect();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "no alert written twice across a graceful restart"
    );
    assert_eq!(unique, expected);
}

#[test]
fn invalid_config_exits_with_status_two_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[pipeline]\nworkerz = 2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rulestream"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml:2:1") && stderr.contains("workerz"),
        "{stderr}"
    );
}

#[test]
fn the_rulestream_binary_runs_the_stage_end_to_end() {
    let names = Names::new("binary");
    create_topic(broker(), &names.input, 2);
    let (inputs, expected) = workload(500, 10);
    let ends = produce_all(broker(), &names.input, &inputs);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rulestream.toml");
    std::fs::write(
        &config,
        "[librdkafka_consumer]\n\"session.timeout.ms\" = 2000\n\"heartbeat.interval.ms\" = 500\n\
         \"auto.commit.interval.ms\" = 200\n",
    )
    .expect("write config");
    let port = free_port();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let child = Command::new(env!("CARGO_BIN_EXE_rulestream"))
        .args(stage_args(&names, &config.display().to_string(), port))
        .arg("--rules")
        .arg(&rules)
        .args(["--log-format", "json"])
        .env("RUST_LOG", "warn,rulestream=info")
        .spawn()
        .expect("spawn rulestream");
    let mut stage = Stage { child, port };
    let alerts = alerts_after_commit(&names, &ends, expected.len());
    assert_eq!(stage.metric("rulestream_events_consumed_total"), 500.0);
    stage.sigterm();
    assert!(stage.wait(T).success(), "exits 0 on SIGTERM");
    let keys: BTreeSet<String> = alerts.iter().filter_map(|a| a.key.clone()).collect();
    assert_eq!(keys, expected);
    for alert in &alerts {
        let doc: serde_json::Value = serde_json::from_slice(&alert.payload).expect("alert JSON");
        assert_eq!(doc["kibana.alert.rule.rule_id"], TEST_RULE_ID);
        assert_eq!(
            doc["event"]["action"],
            "user.session.impersonation.initiate"
        );
        assert_eq!(doc["kibana.alert.uuid"].as_str(), alert.key.as_deref());
    }
}
