//! Criterion benchmarks of the engine on realistic Okta ECS events (see
//! `benches/support/okta_events.rs`). `engine/eval` is what `rulestream eval` and each pipeline
//! worker do per event; the `baseline/*` groups are the reference points `scripts/bench.sh`
//! prints ratios against.

#[path = "support/okta_events.rs"]
mod okta_events;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rulestream::engine::ruleset::Engine;
use rulestream::engine::EventOrigin;

const EVENTS: usize = 10_000;

/// Reading + evaluating all of Elastic's Okta query rules + building alerts for matches.
fn engine_eval(c: &mut Criterion) {
    let events = okta_events::okta_events(EVENTS);
    let report = rulestream::rules::load_dirs(&[okta_events::shared_data("detection-rules-okta")]);
    let (engine, _) = Engine::new(report.rules, okta_events::bench_settings());
    let engine = Arc::new(engine);
    let mut evaluator = engine.evaluator();
    let origin = EventOrigin::default();
    let mut group = c.benchmark_group("engine/ruleset");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("eval", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for e in &events {
                out.clear();
                let _ = evaluator.evaluate(e, &origin, &mut out);
            }
        })
    });
    group.finish();
}

/// The two baselines: a full DOM parse, and the least any JSON reader can do.
fn baselines(c: &mut Criterion) {
    let events = okta_events::okta_events(EVENTS);
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for e in &events {
                let _: Result<serde_json::Value, _> = serde_json::from_slice(e);
            }
        })
    });
    group.bench_function("serde_ignored_any", |b| {
        b.iter(|| {
            for e in &events {
                let _: Result<serde::de::IgnoredAny, _> = serde_json::from_slice(e);
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine_eval, baselines
}
criterion_main!(benches);
