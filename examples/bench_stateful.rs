//! The stateful-rules benchmark: on the same realistic Okta ECS events as `bench_eval` (re-timed
//! to one event per 100 ms of event time so that windows slide; 1% matching a query rule, 1%
//! account lockouts for the threshold rules, 1% third-party IdP sign-ins for a new_terms rule),
//! single-threaded, in one run, it measures
//!   (1) the Okta query rules only,
//!   (2) the Okta query + threshold + new_terms rules,
//! and prints events/s of both and their ratio; then the memory of the state for 1M distinct
//! keys (new_terms tuples and threshold groups), counted by a global allocator wrapper, and the
//! size of a snapshot of 1M new_terms tuples.
//!
//! Usage: cargo run --release --example bench_stateful -- [EVENTS] [ROUNDS]

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../benches/support/okta_events.rs"]
mod okta_events;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use rulestream::engine::ruleset::{Engine, RuleOutcome};
use rulestream::engine::stateful::new_terms::{NewTermsSpec, NewTermsState};
use rulestream::engine::stateful::threshold::{ThresholdSpec, ThresholdState};
use rulestream::engine::stateful::{Learning, Limits, StatefulSettings, StatefulStats};
use rulestream::engine::EventOrigin;
use rulestream::rules::RuleType;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// `bench_eval`'s events, re-timed and with the stateful rules' triggers mixed in.
fn events(n: usize) -> Vec<Vec<u8>> {
    okta_events::retimed_okta_docs(n)
        .into_iter()
        .enumerate()
        .map(|(i, mut doc)| {
            let action = match i % 100 {
                50 => {
                    doc["okta"]["actor"]["alternate_id"] = json!(format!("user{}", i / 100 % 50));
                    Some("user.account.lock")
                }
                51 => {
                    doc["okta"]["authentication_context"]["issuer"] =
                        json!({"id": format!("idp{}", i / 100 % 20)});
                    Some("user.authentication.auth_via_IDP")
                }
                _ => None,
            };
            if let Some(action) = action {
                doc["event"]["action"] = json!(action);
                doc["okta"]["event_type"] = json!(action);
            }
            serde_json::to_vec(&doc).expect("serializable")
        })
        .collect()
}

fn engine(query_only: bool) -> (Arc<Engine>, usize) {
    let report = rulestream::rules::load_dirs(&[okta_events::shared_data("detection-rules-okta")]);
    // BENCH_STATEFUL_EXCLUDE=<file name part> leaves rules out (to find what costs).
    let exclude = std::env::var("BENCH_STATEFUL_EXCLUDE").ok();
    // BENCH_STATEFUL_ONLY=<file name part>: the query rules plus the matching other rules.
    let only = std::env::var("BENCH_STATEFUL_ONLY").ok();
    let rules = report
        .rules
        .into_iter()
        .filter(|r| !query_only || r.rule_type == RuleType::Query)
        // EQL rules have their own benchmark (`examples/bench_eql.rs`).
        .filter(|r| r.rule_type != RuleType::Eql)
        .filter(|r| {
            exclude
                .as_deref()
                .is_none_or(|x| !r.path.to_string_lossy().contains(x))
        })
        .filter(|r| {
            r.rule_type == RuleType::Query
                || only
                    .as_deref()
                    .is_none_or(|x| r.path.to_string_lossy().contains(x))
        })
        .collect();
    let stateful = StatefulSettings {
        learning: Learning::Off,
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
    if let Some(path) = std::env::var_os("BENCH_STATEFUL_DUMP") {
        let mut text = Vec::new();
        for e in &events {
            text.extend_from_slice(e);
            text.push(b'\n');
        }
        std::fs::write(path, text).expect("dump written");
    }
    let origin = EventOrigin {
        topic: Some("okta"),
        ..EventOrigin::default()
    };
    let (query_engine, query_rules) = engine(true);
    let (full_engine, full_rules) = engine(false);
    let mut per_rule: std::collections::BTreeMap<String, usize> = Default::default();
    let mut best = [Duration::MAX; 2];
    let mut alerts = [0usize; 2];
    for _ in 0..rounds {
        for (k, engine) in [&query_engine, &full_engine].into_iter().enumerate() {
            // A fresh evaluator per round: state starts empty each time.
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
                if k == 1 {
                    for a in &out {
                        *per_rule.entry(a.rule_id.clone()).or_default() += 1;
                    }
                }
            }
            best[k] = best[k].min(t.elapsed());
        }
    }
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("events: {count}, best of {rounds} rounds, one thread");
    println!(
        "query rules only      ({query_rules:2} rules): {:>10.0} events/s, {} alerts",
        rate(best[0]),
        alerts[0]
    );
    println!(
        "query+threshold+new_terms ({full_rules:2} rules): {:>10.0} events/s, {} alerts",
        rate(best[1]),
        alerts[1]
    );
    println!(
        "ratio (stateful set / query set): {:.2}",
        best[0].as_secs_f64() / best[1].as_secs_f64()
    );

    let report = rulestream::rules::load_dirs(&[okta_events::shared_data("detection-rules-okta")]);
    let mut rows: Vec<(usize, String)> = report
        .rules
        .iter()
        .filter(|r| r.rule_type != RuleType::Query)
        .map(|r| {
            (
                per_rule.get(&r.rule_id).copied().unwrap_or(0) / rounds.max(1),
                r.name.clone(),
            )
        })
        .collect();
    rows.sort();
    for (n, name) in rows.iter().rev().filter(|(n, _)| *n > 0) {
        println!("  {n:>6} alerts/round from {name}");
    }
    println!();
    if std::env::var_os("BENCH_STATEFUL_NO_MEMORY").is_none() {
        memory();
    }
}

/// Live heap bytes for 1M distinct keys of each kind of state.
fn memory() {
    const KEYS: usize = 1_000_000;
    let limits = Limits {
        max_terms_per_rule: 2 * KEYS,
        max_groups_per_rule: 2 * KEYS,
        ..Limits::default()
    };
    let mut stats = StatefulStats::default();
    // Keys shaped like Okta actor ids (20 chars) / user logins.
    let keys: Vec<String> = (0..KEYS).map(|i| format!("00u{:017x}", i * 7919)).collect();

    let spec = NewTermsSpec {
        fields: vec!["okta.actor.id".into()],
        history_ms: 14 * 86_400_000,
    };
    let before = counting_alloc::live_bytes();
    let mut terms = NewTermsState::default();
    for (i, k) in keys.iter().enumerate() {
        terms.observe(&spec, k, i as i64, i as i64, &limits, &mut stats);
    }
    let used = counting_alloc::live_bytes() - before;
    println!(
        "new_terms: {} keys, {:.1} MB live heap, {:.0} bytes/key",
        terms.len(),
        used as f64 / 1e6,
        used as f64 / KEYS as f64
    );
    let snapshot = serde_json::to_vec(&terms).expect("serializable");
    println!("new_terms snapshot: {:.1} MB", snapshot.len() as f64 / 1e6);
    drop(snapshot);
    drop(terms);

    let spec = ThresholdSpec {
        fields: vec!["okta.actor.alternate_id".into()],
        value: 3,
        cardinality: None,
        window_ms: 180 * 60_000,
    };
    let before = counting_alloc::live_bytes();
    let mut groups = ThresholdState::default();
    for (i, k) in keys.iter().enumerate() {
        let values = [k.clone()];
        groups.observe(
            &spec,
            k,
            &values,
            i as i64,
            &[],
            i as i64,
            &limits,
            &mut stats,
        );
    }
    let used = counting_alloc::live_bytes() - before;
    println!(
        "threshold: {} groups (one event each), {:.1} MB live heap, {:.0} bytes/group",
        groups.len(),
        used as f64 / 1e6,
        used as f64 / KEYS as f64
    );
}
