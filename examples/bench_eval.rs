//! The engine benchmark behind `scripts/bench.sh`: on the same realistic Okta ECS events
//! (~3.4 KB, ~1% alerting), single-threaded, in one run, it measures
//!   (1) parsing every event into `serde_json::Value` (a DOM parse),
//!   (2) the floor: scanning every event with serde's `IgnoredAny`,
//!   (3) `rulestream eval`'s work: reading + evaluating all Okta query rules + building alerts,
//!   (4) the same work on raw Okta System Log events (normalization to ECS + evaluation),
//! and prints events/s, MB/s and the ratios (3)/(1), (3)/(2) and (4)/(3). Several rounds are run and the
//! best of each is kept, since this machine is shared and noisy.
//!
//! Usage: cargo run --release --example bench_eval -- [EVENTS] [ROUNDS]

#[path = "../benches/support/okta_events.rs"]
mod okta_events;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rulestream::engine::ruleset::{Engine, RuleOutcome};
use rulestream::engine::EventOrigin;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let events = okta_events::okta_events(count);
    let bytes: usize = events.iter().map(Vec::len).sum();
    let raw_events = okta_events::raw_okta_events(count / 10);
    let raw_bytes: usize = raw_events.iter().map(Vec::len).sum();

    // (3) is defined on the query rules; threshold/new_terms cost is measured by
    // examples/bench_stateful.rs.
    let report = rulestream::rules::load_dirs(&[okta_events::shared_data("detection-rules-okta")]);
    let query_rules: Vec<_> = report
        .rules
        .into_iter()
        .filter(|r| r.rule_type == rulestream::rules::RuleType::Query)
        .collect();
    let (engine, statuses) = Engine::new(query_rules, okta_events::bench_settings());
    let running = statuses
        .iter()
        .filter(|s| s.outcome == RuleOutcome::Ok)
        .count();
    let engine = Arc::new(engine);
    let mut evaluator = engine.evaluator();
    let origin = EventOrigin::default();

    // For profiling: RULESTREAM_BENCH_ONLY_EVAL=1 skips the baselines.
    let only_eval = std::env::var_os("RULESTREAM_BENCH_ONLY_EVAL").is_some();
    let mut alerts = 0usize;
    let mut best = [Duration::MAX; 4];
    let mut raw_alerts = 0usize;
    for _ in 0..rounds {
        if only_eval {
            let mut out = Vec::new();
            for e in &events {
                out.clear();
                evaluator
                    .evaluate(e, &origin, &mut out)
                    .expect("benchmark events are valid");
            }
            continue;
        }
        let t = Instant::now();
        for e in &events {
            let v: serde_json::Value =
                serde_json::from_slice(e).expect("benchmark events are JSON");
            std::hint::black_box(v);
        }
        best[0] = best[0].min(t.elapsed());

        let t = Instant::now();
        for e in &events {
            let v: serde::de::IgnoredAny =
                serde_json::from_slice(e).expect("benchmark events are JSON");
            std::hint::black_box(v);
        }
        best[1] = best[1].min(t.elapsed());

        let t = Instant::now();
        let mut out = Vec::new();
        alerts = 0;
        for e in &events {
            out.clear();
            evaluator
                .evaluate(e, &origin, &mut out)
                .expect("benchmark events are valid");
            alerts += out.len();
            std::hint::black_box(&out);
        }
        best[2] = best[2].min(t.elapsed());

        let t = Instant::now();
        raw_alerts = 0;
        for e in &raw_events {
            out.clear();
            evaluator
                .evaluate(e, &origin, &mut out)
                .expect("raw benchmark events are valid");
            raw_alerts += out.len();
        }
        best[3] = best[3].min(t.elapsed());
    }

    println!(
        "{count} events, {:.0} bytes mean, {running} query rules running, {alerts} alerts ({:.2}% of events), best of {rounds} rounds",
        bytes as f64 / count as f64,
        alerts as f64 * 100.0 / count as f64
    );
    let names = [
        "(1) serde_json::Value parse",
        "(2) serde IgnoredAny scan",
        "(3) rulestream eval",
    ];
    for (name, d) in names.iter().zip(&best[..3]) {
        let s = d.as_secs_f64();
        println!(
            "{name:<30} {:>10.0} events/s {:>8.1} MB/s",
            count as f64 / s,
            bytes as f64 / s / 1e6
        );
    }
    let raw_s = best[3].as_secs_f64();
    println!(
        "{:<30} {:>10.0} events/s {:>8.1} MB/s   ({} raw events, {:.0} bytes mean, {raw_alerts} alerts)",
        "(4) raw Okta: normalize + eval",
        raw_events.len() as f64 / raw_s,
        raw_bytes as f64 / raw_s / 1e6,
        raw_events.len(),
        raw_bytes as f64 / raw_events.len().max(1) as f64
    );
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("ratio (3)/(1) = {:.2}", rate(best[2]) / rate(best[0]));
    println!(
        "ratio (3)/(2) = {:.2}   (target >= 0.50)",
        rate(best[2]) / rate(best[1])
    );
    println!(
        "ratio (4)/(3) = {:.2}   (raw Okta vs ECS input, events/s)",
        (raw_events.len() as f64 / raw_s) / rate(best[2])
    );
}

// The same allocator as the `rulestream` binary, so (3) measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
