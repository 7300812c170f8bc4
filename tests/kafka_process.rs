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
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use clap::Parser;
use support::*;

const T: Duration = Duration::from_secs(60);
const ARGS_VAR: &str = "RULESTREAM_STAGE_CHILD_ARGS";
const DELAY_VAR: &str = "RULESTREAM_STAGE_CHILD_DELAY_US";

#[derive(clap::Parser)]
#[command(name = "rulestream")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Run(rulestream::config::RunArgs),
}

/// Child-process entry. Run by the other tests with `RULESTREAM_STAGE_CHILD_ARGS` set (the
/// `rulestream run` arguments, separated by U+001F). Without it, this checks the command-line
/// contract of `rulestream run` instead, so it is never an empty test.
#[test]
fn stage_child_entry() {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        let cli = Cli::try_parse_from([
            "rulestream",
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
        ])
        .expect("documented flags parse");
        let Cmd::Run(run) = cli.cmd;
        let s = rulestream::config::Settings::load(&run).expect("flags alone are enough");
        assert_eq!(s.kafka.input_topics, ["a", "b"]);
        assert_eq!(s.kafka.dead_letter_topic.as_deref(), Some("dl"));
        assert_eq!(s.rules.len(), 2);
        assert_eq!(s.pipeline.workers, 3);
        assert_eq!(s.log_format, rulestream::config::LogFormat::Json);
        return;
    };
    let argv = std::iter::once("rulestream").chain(args.split('\u{1f}'));
    let Cmd::Run(run) = Cli::parse_from(argv).cmd;
    // Die with the test that started us, even if it is killed.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    let code = match rulestream::config::Settings::load(&run) {
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
        Ok(settings) => {
            rulestream::pipeline::init_tracing(settings.log_format);
            let delay: u64 = std::env::var(DELAY_VAR)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let factory = if delay > 0 {
                support::evaluator::slow_evaluator_factory(Duration::from_micros(delay))
            } else {
                test_evaluator_factory()
            };
            match rulestream::pipeline::run(settings, factory) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    rulestream::config::exit_code(&e)
                }
            }
        }
    };
    std::process::exit(code);
}

/// A stage child process; SIGKILLed on drop so a failing test leaves nothing running.
struct Stage {
    child: Child,
    port: u16,
}

impl Stage {
    fn metric(&self, name: &str) -> f64 {
        let (status, body) = http_get(&format!("127.0.0.1:{}", self.port), "/metrics");
        assert_eq!(status, 200);
        metric(&body, name, "")
    }

    fn wait_metric(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + T;
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.metric(name) >= at_least;
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "{name} never reached {at_least}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "stage did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let args = [
        "run".to_string(),
        "--config".into(),
        config.display().to_string(),
        "--brokers".into(),
        broker().to_string(),
        "--group-id".into(),
        names.group.clone(),
        "--input-topic".into(),
        names.input.clone(),
        "--alerts-topic".into(),
        names.alerts.clone(),
        "--dead-letter-topic".into(),
        names.dead.clone(),
        "--metrics-addr".into(),
        format!("127.0.0.1:{port}"),
    ];
    let child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "stage_child_entry",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ARGS_VAR, args.join("\u{1f}"))
        .env(DELAY_VAR, delay_us.to_string())
        .env("RUST_LOG", "warn,rulestream=info")
        .spawn()
        .expect("spawn stage child");
    Stage { child, port }
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
    wait_committed(broker(), &names.group, &names.input, ends, T);
    let alerts = read_topic(
        broker(),
        &names.alerts,
        expected_alerts,
        Duration::from_secs(1),
        T,
    );
    second.sigterm();
    assert!(
        second.wait(T).success(),
        "the second stage exits 0 on SIGTERM"
    );
    alerts
}

/// Alert keys → payloads; panics if one key carries two different documents.
fn alerts_by_key(alerts: &[Output]) -> HashMap<String, Vec<u8>> {
    let mut by_key: HashMap<String, Vec<u8>> = HashMap::new();
    for a in alerts {
        let key = a.key.clone().expect("alerts have keys");
        if let Some(prev) = by_key.insert(key.clone(), a.payload.clone()) {
            assert_same_alert(&key, &prev, &a.payload);
        }
    }
    by_key
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
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args([
            "--brokers",
            broker(),
            "--group-id",
            &names.group,
            "--input-topic",
            &names.input,
        ])
        .args([
            "--alerts-topic",
            &names.alerts,
            "--dead-letter-topic",
            &names.dead,
        ])
        .arg("--rules")
        .arg(&rules)
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "warn,rulestream=info")
        .spawn()
        .expect("spawn rulestream");
    let mut stage = Stage { child, port };
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    let alerts = read_topic(
        broker(),
        &names.alerts,
        expected.len(),
        Duration::from_secs(1),
        T,
    );
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
