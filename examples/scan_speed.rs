//! Profiling aid: reads the benchmark events repeatedly with the field plan of the Okta rules.
#[path = "../benches/support/okta_events.rs"]
mod okta_events;
use std::time::Instant;
fn main() {
    let events = okta_events::okta_events(50_000);
    let bytes: usize = events.iter().map(|e| e.len()).sum();
    let mut plan = rulestream::event::FieldPlan::new();
    for f in [
        "event.action",
        "data_stream.dataset",
        "okta.actor.id",
        "okta.security_context.is_proxy",
        "okta.debug_context.debug_data.dt_hash",
        "okta.event_type",
        "user.name",
        "okta.target.id",
        "source.ip",
        "okta.outcome.reason",
        "data_stream.type",
        "data_stream.namespace",
        "event.id",
        "eventType",
        "uuid",
        "published",
    ] {
        plan.field(f);
    }
    let mut ex = rulestream::event::Extracted::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0;
        for e in &events {
            let v = rulestream::event::extract(&plan, e, &mut ex).unwrap();
            n += v.values(0).len();
        }
        let d = t.elapsed().as_secs_f64();
        println!(
            "extract {:.0} ev/s {:.0} MB/s ({n})",
            events.len() as f64 / d,
            bytes as f64 / d / 1e6
        );
    }
}
