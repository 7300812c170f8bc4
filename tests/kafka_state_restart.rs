//! Durable stateful-rule state in the Kafka stage: with `stateful.state_dir`, a stage killed
//! with SIGKILL mid-stream and restarted produces exactly the alerts of an uninterrupted run —
//! threshold counts and the new_terms history survive, and no event is counted twice — because
//! offsets are committed only up to the last partition snapshot written (src/pipeline/durable.rs).
//!
//! The stage runs as a child process (this test binary re-executed on [`state_child_entry`])
//! with the engine `rulestream run` builds from the config (Elastic's brute-force threshold rule
//! and third-party-IdP new_terms rule), each evaluation slowed so the kill lands mid-stream.

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rulestream::pipeline::EngineFactory;
use serde_json::{json, Value};
use support::child::{child_main, delay_from_env, parse_run, stage_args, Stage};
use support::*;

const T: Duration = Duration::from_secs(60);
const DELAY_VAR: &str = "RULESTREAM_STATE_CHILD_DELAY_US";
const RULES: [&str; 2] = [
    "credential_access_attempts_to_brute_force_okta_user_account.toml",
    "initial_access_sign_in_events_via_third_party_idp.toml",
];
const PARTITIONS: i32 = 2;
const PER_PARTITION: usize = 1800;

/// Child-process entry: `rulestream run`'s engine from the parsed config, slowed per event.
/// Without the child variables it checks that the durable-state keys parse.
#[test]
fn state_child_entry() {
    let ran = child_main(|settings| {
        let engine = rulestream::cli::run::build_engine(settings).unwrap();
        let factory = Arc::new(EngineFactory(Arc::new(engine)));
        support::evaluator::slow(factory, delay_from_env(DELAY_VAR))
    });
    assert!(!ran, "child_main exits the process");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let s = parse_run(&["run", "--config", &config]).unwrap();
    assert_eq!(s.stateful.state_dir, Some(dir.path().join("state")));
    assert_eq!(s.stateful.snapshot_interval, Duration::from_millis(600));
}

fn write_config(dir: &Path) -> String {
    let config = dir.join("rulestream.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\nworkers = 2\nqueue_capacity = 64\nmax_in_flight = 500\n\
             shutdown_timeout_ms = 20000\n\
             [stateful]\nstate_dir = \"{}\"\nnew_terms_learning = \"off\"\n\
             snapshot_interval_ms = 600\n\
             [librdkafka_consumer]\n\"session.timeout.ms\" = 2000\n\
             \"heartbeat.interval.ms\" = 500\n\"auto.commit.interval.ms\" = 200\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    config.display().to_string()
}

fn rules_dir(dir: &Path) -> String {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for name in RULES {
        let from = format!(
            "{}/../shared/data/detection-rules-okta/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::copy(from, rules.join(name)).unwrap();
    }
    rules.display().to_string()
}

fn run_args(names: &Names, dir: &Path, port: u16) -> Vec<String> {
    let mut args = stage_args(names, &write_config(dir), port);
    args.extend(["--rules".to_string(), rules_dir(dir)]);
    args
}

/// The account of the `j`-th lock. Locks come in triples; lock `k` of triple `t` belongs to
/// account `t − 25·k`, so every account is locked exactly three times, 25 triples (225 events,
/// 75 minutes of event time) apart, and at any point of the stream accounts are at their
/// first, second and third lock. The threshold rule (3 in 180 min) fires at an account's third
/// lock, which comes later than the first stage gets past its last commit: a lock lost or
/// counted twice across the restart removes or moves an alert.
fn lock_account(j: usize) -> i64 {
    (j / 3) as i64 - 25 * (j % 3) as i64
}

/// Event `i` of partition `p`, 20 s of event time apart. Every third event locks an account
/// ([`lock_account`]); every third+1 signs in
/// through one of four known IdPs, and every 60th through a new one (the new_terms rule fires
/// on those only — unless the history of the known ones were lost); the rest match nothing.
fn event(p: i32, i: usize) -> Vec<u8> {
    let ms = 1_748_944_800_000_i64 + i as i64 * 20_000;
    let time = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut doc = json!({
        "@timestamp": time,
        "event": {"id": format!("p{p}-ev-{i}"), "ingested": time, "dataset": "okta.system"},
        "data_stream": {"type": "logs", "dataset": "okta.system", "namespace": "default"},
    });
    let (action, extra) = match i % 3 {
        0 => (
            "user.account.lock",
            json!({"actor": {"alternate_id": format!("user{}@p{p}", lock_account(i / 3))}}),
        ),
        1 => {
            let issuer = if i % 60 == 1 {
                format!("new-idp-{i}")
            } else {
                format!("idp-{}", i % 4)
            };
            (
                "user.authentication.auth_via_IDP",
                json!({"authentication_context": {"issuer": {"id": issuer}}}),
            )
        }
        _ => ("user.session.start", json!({})),
    };
    doc["event"]["action"] = json!(action);
    doc["okta"] = extra;
    serde_json::to_vec(&doc).unwrap()
}

fn workload() -> Vec<Input> {
    (0..PER_PARTITION)
        .flat_map(|i| {
            (0..PARTITIONS).map(move |p| Input {
                key: None,
                payload: event(p, i),
                partition: Some(p),
            })
        })
        .collect()
}

/// Alert ids of evaluating each partition's events in offset order, with a fresh state for
/// the events at or after `restart_at` (no state when `None`: an uninterrupted run).
fn alert_ids(names: &Names, dir: &Path, restart_at: Option<usize>) -> BTreeSet<String> {
    let mut settings = parse_run(&run_args(names, dir, 1)).unwrap();
    settings.stateful.state_dir = None;
    let engine = Arc::new(rulestream::cli::run::build_engine(&settings).unwrap());
    let split = restart_at.unwrap_or(PER_PARTITION);
    let mut ids = BTreeSet::new();
    for p in 0..PARTITIONS {
        // A fresh evaluator for each life: the second starts with no state.
        for (from, to) in [(0, split), (split, PER_PARTITION)] {
            let payloads = (from..to).map(|i| event(p, i));
            let tp = (names.input.as_str(), p, from as i64);
            ids.extend(alert_ids_at_offsets(&mut engine.evaluator(), tp, payloads));
        }
    }
    ids
}

/// The alerts topic holds exactly the alerts of an uninterrupted run (duplicates only as the
/// same alert).
fn assert_uninterrupted(expected: &BTreeSet<String>, alerts: &[Output]) {
    let keys: BTreeSet<String> = alerts_by_key(alerts).keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&keys).collect();
    let extra: Vec<_> = keys.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "alerts of an uninterrupted run, nothing else; missing {missing:?}, extra {extra:?}"
    );
}

fn rule_ids(alerts: &[Output]) -> BTreeSet<String> {
    alerts
        .iter()
        .map(|a| {
            let doc: Value = serde_json::from_slice(&a.payload).unwrap();
            doc["kibana.alert.rule.type"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn sigkill_mid_stream_with_state_dir_gives_the_alerts_of_an_uninterrupted_run() {
    let names = Names::new("state-crash");
    create_topic(broker(), &names.input, PARTITIONS);
    let dir = tempfile::tempdir().unwrap();
    let ends = produce_all(broker(), &names.input, &workload());
    for p in 0..PARTITIONS {
        assert_eq!(
            ends[&p], PER_PARTITION as i64,
            "offsets 0.. in produce order"
        );
    }
    let expected = alert_ids(&names, dir.path(), None);
    // The workload can tell a kept state from a lost one: starting over a third of the way
    // through gives other alerts (known IdPs alert again, lock counts restart).
    assert_ne!(
        alert_ids(&names, dir.path(), Some(PER_PARTITION / 3)),
        expected,
        "the workload must depend on state kept across the restart"
    );

    // First life: ~1.5 ms per event on two workers, SIGKILLed about half way.
    let port = free_port();
    let mut first = Stage::spawn(
        "state_child_entry",
        &run_args(&names, dir.path(), port),
        &[(DELAY_VAR, "1500".to_string())],
        port,
    );
    first.wait_metric("rulestream_events_completed_total", 1200.0);
    let written = metric(
        &first.metrics_text(),
        "rulestream_state_snapshots_total",
        "result=\"written\"",
    );
    first.child.kill().expect("SIGKILL");
    first.wait(T);
    assert!(written > 0.0, "snapshots were written before the kill");
    let at_kill = committed(broker(), &names.group, &names.input, PARTITIONS);
    let done: i64 = at_kill.values().map(|o| (*o).max(0)).sum();
    let total: i64 = ends.values().sum();
    assert!(
        done > 0 && done < total,
        "offsets committed (after snapshots) and the kill mid-stream: {at_kill:?} of {ends:?}"
    );
    let snapshots = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    // One file per partition that had events evaluated (a fetch may serve one partition
    // for a while, so the other may not have started yet).
    assert!(snapshots >= 1, "snapshot files in the state directory");

    // Second life, full speed, same state directory: finishes the topic.
    let port = free_port();
    let mut second = Stage::spawn(
        "state_child_entry",
        &run_args(&names, dir.path(), port),
        &[],
        port,
    );
    let alerts = alerts_after_commit(&names, &ends, expected.len());
    second.sigterm();
    assert!(second.wait(T).success(), "the second stage exits 0");

    assert_eq!(
        rule_ids(&alerts),
        BTreeSet::from(["new_terms".to_string(), "threshold".to_string()])
    );
    assert_uninterrupted(&expected, &alerts);
}

#[test]
fn a_partition_moving_to_a_second_instance_continues_from_its_snapshot() {
    let names = Names::new("state-rebal");
    create_topic(broker(), &names.input, PARTITIONS);
    let dir = tempfile::tempdir().unwrap();
    let ends = produce_all(broker(), &names.input, &workload());
    let expected = alert_ids(&names, dir.path(), None);
    // Two instances of one group sharing the state directory, as a deployment would.
    let start = || {
        let port = free_port();
        let settings = parse_run(&run_args(&names, dir.path(), port)).unwrap();
        let engine = rulestream::cli::run::build_engine(&settings).unwrap();
        let factory = Arc::new(EngineFactory(Arc::new(engine)));
        StageThread::start(
            settings,
            support::evaluator::slow(factory, Duration::from_millis(1)),
        )
    };
    let first = start();
    wait_until("first instance to make progress", T, || {
        first.metrics.events_completed.get() >= 600
    });
    // Joining revokes partitions mid-stream: the one that moves is taken up by the second
    // instance from the last snapshot the first wrote, and replayed from the offset committed
    // with it.
    let second = start();
    let alerts = alerts_after_commit(&names, &ends, expected.len());
    let second_consumed = second
        .metrics
        .events_consumed
        .with_label_values(&[&names.input])
        .get();
    first.stop(T).expect("first stops");
    second.stop(T).expect("second stops");
    assert!(
        second_consumed > 0,
        "the second instance never got a partition: no rebalance"
    );
    assert_uninterrupted(&expected, &alerts);
}
