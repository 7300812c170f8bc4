//! The EQL benchmark: on `bench_eval`'s realistic Okta ECS events (re-timed to one event per
//! 100 ms of event time), with the triggers of the Okta EQL rules mixed in (per 1000 events:
//! five denied Okta Verify pushes by one actor then a successful SSO, and one MFA factor
//! deactivation), single-threaded, in one run, it measures
//!   (1) every other Okta rule that runs (query, threshold, new_terms),
//!   (2) the same plus the 5 EQL rules,
//! and prints events/s of both and their ratio; then the live heap held per open sequence
//! (one parsed Okta event each), counted by a global allocator wrapper.
//!
//! Usage: cargo run --release --example bench_eql -- [EVENTS] [ROUNDS]

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../benches/support/okta_events.rs"]
mod okta_events;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use rulestream::engine::ruleset::{Engine, RuleOutcome};
use rulestream::engine::sequence::{SeqInput, SequenceSpec, SequenceState, StoredEvent};
use rulestream::engine::stateful::{Learning, Limits, StatefulSettings, StatefulStats};
use rulestream::engine::EventOrigin;
use rulestream::rules::RuleType;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// `bench_eval`'s events, re-timed, with the EQL rules' triggers mixed in.
fn events(n: usize) -> Vec<Vec<u8>> {
    okta_events::retimed_okta_docs(n)
        .into_iter()
        .enumerate()
        .map(|(i, mut doc)| {
            // BENCH_EQL_NO_TRIGGERS: the plain stream, to see the cost of evaluating alone.
            if std::env::var_os("BENCH_EQL_NO_TRIGGERS").is_some() {
                return serde_json::to_vec(&doc).expect("serializable");
            }
            let actor = format!("00u{:017}", i / 1000 % 200);
            let (action, result) = match i % 1000 {
                500..=504 => ("user.mfa.okta_verify.deny_push", "FAILURE"),
                505 => ("user.authentication.sso", "SUCCESS"),
                700 => ("user.mfa.factor.deactivate", "SUCCESS"),
                _ => return serde_json::to_vec(&doc).expect("serializable"),
            };
            doc["event"]["action"] = json!(action);
            doc["okta"]["event_type"] = json!(action);
            doc["okta"]["actor"]["id"] = json!(actor);
            doc["okta"]["outcome"] = json!({"result": result, "reason": "bench"});
            doc["okta"]["target"] = json!([{"id": actor, "type": "User"}]);
            serde_json::to_vec(&doc).expect("serializable")
        })
        .collect()
}

fn engine(with_eql: bool) -> (Arc<Engine>, usize) {
    let report = rulestream::rules::load_dirs(&[okta_events::shared_data("detection-rules-okta")]);
    let rules = report
        .rules
        .into_iter()
        .filter(|r| with_eql || r.rule_type != RuleType::Eql)
        // BENCH_EQL_ONLY / BENCH_EQL_EXCLUDE=<file name parts, comma-separated>: only / all but
        // the matching EQL rules (to find what costs).
        .filter(|r| {
            let path = r.path.to_string_lossy();
            let any = |var: &str| {
                std::env::var(var)
                    .ok()
                    .map(|x| x.split(',').any(|part| path.contains(part)))
            };
            r.rule_type != RuleType::Eql
                || (any("BENCH_EQL_ONLY").unwrap_or(true)
                    && !any("BENCH_EQL_EXCLUDE").unwrap_or(false))
        })
        .collect();
    // BENCH_EQL_LATENESS_MS: the allowed lateness (0 skips the exact pass of sequence rules
    // without missing stages; see docs/eql.md).
    let lateness = std::env::var("BENCH_EQL_LATENESS_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(rulestream::engine::stateful::DEFAULT_ALLOWED_LATENESS_MS);
    let stateful = StatefulSettings {
        learning: Learning::Off,
        allowed_lateness_ms: lateness,
        ..StatefulSettings::default()
    };
    let (engine, statuses) = Engine::with_stateful(rules, okta_events::bench_settings(), stateful);
    let running = statuses
        .iter()
        .filter(|s| s.outcome == RuleOutcome::Ok)
        .count();
    (Arc::new(engine), running)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let events = events(count);
    let origin = EventOrigin {
        topic: Some("okta"),
        ..EventOrigin::default()
    };
    let engines = [engine(false), engine(true)];
    let mut best = [Duration::MAX; 2];
    let mut alerts = [0usize; 2];
    let mut sequences = 0;
    for _ in 0..rounds {
        for (k, (engine, _)) in engines.iter().enumerate() {
            // BENCH_EQL_PROFILE: only the engine with EQL rules (for a profiler).
            if k == 0 && std::env::var_os("BENCH_EQL_PROFILE").is_some() {
                continue;
            }
            let mut evaluator = engine.evaluator();
            let mut out = Vec::new();
            let t = Instant::now();
            alerts[k] = 0;
            for (offset, e) in events.iter().enumerate() {
                out.clear();
                let origin = EventOrigin {
                    offset: offset as i64,
                    ..origin.clone()
                };
                evaluator
                    .evaluate(e, &origin, &mut out)
                    .expect("benchmark events are valid");
                alerts[k] += out.len();
            }
            best[k] = best[k].min(t.elapsed());
            if k == 1 {
                sequences = evaluator.stateful_stats().sequences_completed;
            }
        }
    }
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("events: {count}, best of {rounds} rounds, one thread");
    println!(
        "without EQL rules ({:2} rules): {:>10.0} events/s, {} alerts",
        engines[0].1,
        rate(best[0]),
        alerts[0]
    );
    println!(
        "with EQL rules    ({:2} rules): {:>10.0} events/s, {} alerts ({sequences} sequences)",
        engines[1].1,
        rate(best[1]),
        alerts[1]
    );
    println!(
        "ratio (with EQL / without): {:.3}",
        best[0].as_secs_f64() / best[1].as_secs_f64()
    );
    if std::env::var_os("BENCH_EQL_PROFILE").is_none() {
        memory();
    }
}

/// Live heap bytes per open sequence holding one parsed Okta event (the first step of a
/// two-step sequence), for 10 000 open sequences under distinct keys.
fn memory() {
    const OPEN: usize = 10_000;
    let spec = SequenceSpec::new(vec![false, false], Some(600_000), false);
    let limits = Limits {
        max_sequences_per_rule: 2 * OPEN,
        ..Limits::default()
    };
    let mut stats = StatefulStats::default();
    let sample = okta_events::okta_events(OPEN);
    let mut done = Vec::new();
    let json_bytes: usize = sample.iter().map(Vec::len).sum();
    let before = counting_alloc::live_bytes();
    let mut state = SequenceState::default();
    for (i, bytes) in sample.iter().enumerate() {
        let input = SeqInput {
            time: okta_events::BASE_MS + i as i64,
            stages: vec![(0, format!("00u{i:017}"))],
            until: None,
        };
        // As the engine stores it: the ancestor read from the parsed event, then the text.
        let stored = || {
            let _event: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
            Some(StoredEvent {
                json: String::from_utf8(bytes.clone()).ok()?,
                index: "logs-okta.system-default".into(),
                id: format!("{i:020}"),
            })
        };
        state.observe(
            &spec,
            &input,
            okta_events::BASE_MS,
            &limits,
            &mut stats,
            stored,
            &mut done,
        );
    }
    let held = counting_alloc::live_bytes().saturating_sub(before);
    println!(
        "memory: {OPEN} open sequences (one event each, {} bytes of JSON on average) hold {:.1} MB: {} bytes per open sequence",
        json_bytes / OPEN,
        held as f64 / 1e6,
        held / OPEN
    );
    let snapshot = serde_json::to_vec(&state).map(|v| v.len()).unwrap_or(0);
    println!(
        "        their snapshot is {:.1} MB of JSON",
        snapshot as f64 / 1e6
    );
    assert_eq!(state.len(), OPEN);
}
