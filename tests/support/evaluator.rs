//! The evaluator the Kafka tests run: the real rule engine with the shipped seed rule
//! (`rules/`, Okta User Session Impersonation), exactly as `rulestream run --rules rules/` builds it.

use std::sync::Arc;
use std::time::Duration;

use rulestream::engine::ruleset::{Engine, EngineSettings, RuleOutcome};
use rulestream::engine::stateful::PartitionSnapshot;
use rulestream::engine::{AlertOut, EventError, EventOrigin};
use rulestream::pipeline::{EngineFactory, Evaluate, EvaluatorFactory};

/// The seed rule's `rule_id`.
pub const TEST_RULE_ID: &str = "cdbebdc1-dc97-43c6-a538-f26a20c0a911";
/// The action the seed rule alerts on.
pub const MATCHING_ACTION: &str = "user.session.impersonation.initiate";
/// The data stream test events are in (`data_stream.*` of [`super::event_json`]).
pub const DATA_STREAM: &str = "logs-okta.system-default";

fn seed_engine() -> Arc<Engine> {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let report = rulestream::rules::load_dirs(&[rules]);
    assert!(
        report.errors.is_empty(),
        "seed rule loads: {:?}",
        report.errors
    );
    let (engine, statuses) = Engine::new(report.rules, EngineSettings::default());
    assert!(
        statuses.iter().all(|s| s.outcome == RuleOutcome::Ok),
        "seed rule compiles"
    );
    Arc::new(engine)
}

/// The evaluator factory every Kafka test uses.
pub fn test_evaluator_factory() -> Arc<dyn EvaluatorFactory> {
    Arc::new(EngineFactory(seed_engine()))
}

/// Like [`test_evaluator_factory`], but each evaluation first sleeps `delay` (slow rules).
pub fn slow_evaluator_factory(delay: Duration) -> Arc<dyn EvaluatorFactory> {
    slow(test_evaluator_factory(), delay)
}

/// `inner`'s evaluators, each evaluation first sleeping `delay`; everything else (flush,
/// snapshots, state) is passed through unchanged.
pub fn slow(inner: Arc<dyn EvaluatorFactory>, delay: Duration) -> Arc<dyn EvaluatorFactory> {
    Arc::new(Slow { inner, delay })
}

/// The alert id the engine gives the seed rule's alert for the event with `event_id`:
/// Kibana's SHA-256 formula over (data stream, event id, space, rule uuid).
pub fn expected_alert_id(event_id: &str) -> String {
    let rule_uuid = rulestream::rules::rule_uuid(TEST_RULE_ID);
    rulestream::alert::query_alert_id(DATA_STREAM, event_id, "default", &rule_uuid)
}

struct Slow {
    inner: Arc<dyn EvaluatorFactory>,
    delay: Duration,
}

impl EvaluatorFactory for Slow {
    fn evaluator(&self) -> Box<dyn Evaluate + Send> {
        Box::new(SlowEvaluator {
            inner: self.inner.evaluator(),
            delay: self.delay,
        })
    }

    fn keeps_state(&self) -> bool {
        self.inner.keeps_state()
    }
}

struct SlowEvaluator {
    inner: Box<dyn Evaluate + Send>,
    delay: Duration,
}

impl Evaluate for SlowEvaluator {
    fn evaluate(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        std::thread::sleep(self.delay);
        self.inner.evaluate(raw, origin, out)
    }

    fn flush(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        self.inner.flush(now, out)
    }

    fn stateful_sample(&self) -> Option<rulestream::metrics::StatefulSample> {
        self.inner.stateful_sample()
    }

    fn snapshot(&self, topic: &str, partition: i32) -> Option<PartitionSnapshot> {
        self.inner.snapshot(topic, partition)
    }

    fn forget_partition(&mut self, topic: &str, partition: i32) {
        self.inner.forget_partition(topic, partition)
    }
}
