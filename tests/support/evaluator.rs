//! The evaluator the Kafka tests run: a stand-in for the real engine with one rule.
//!
//! Swap point: [`test_evaluator_factory`] is the only place the tests get their evaluator from.
//! To run them against the real engine with the seed rule, return the engine's factory here and
//! keep [`TEST_RULE_ID`] / [`expected_alert_id`] in line with the seed rule's id and the engine's
//! alert-id scheme.

use std::sync::Arc;

use rulestream::engine::{AlertOut, EventError, EventOrigin};
use rulestream::pipeline::{Evaluate, EvaluatorFactory};
use sha2::{Digest, Sha256};

/// The one rule: alert when `event.action == "user.session.impersonation.initiate"`.
pub const TEST_RULE_ID: &str = "test-okta-impersonation";
pub const MATCHING_ACTION: &str = "user.session.impersonation.initiate";

/// The evaluator factory every Kafka test uses.
pub fn test_evaluator_factory() -> Arc<dyn EvaluatorFactory> {
    Arc::new(TestFactory { delay: None })
}

/// Like [`test_evaluator_factory`], but each evaluation sleeps `delay` (slow rules).
pub fn slow_evaluator_factory(delay: std::time::Duration) -> Arc<dyn EvaluatorFactory> {
    Arc::new(TestFactory { delay: Some(delay) })
}

/// Alert id for an event id: sha256 hex of event id + rule id.
pub fn expected_alert_id(event_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(event_id.as_bytes());
    h.update(TEST_RULE_ID.as_bytes());
    hex::encode(h.finalize())
}

struct TestFactory {
    delay: Option<std::time::Duration>,
}

impl EvaluatorFactory for TestFactory {
    fn evaluator(&self) -> Box<dyn Evaluate + Send> {
        Box::new(TestEvaluator { delay: self.delay })
    }
}

struct TestEvaluator {
    delay: Option<std::time::Duration>,
}

/// `a.b` as nested objects or as a dotted key (ECS allows both).
fn field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    a: &str,
    b: &str,
) -> Option<&'a str> {
    obj.get(a)
        .and_then(|v| v.get(b))
        .or_else(|| obj.get(&format!("{a}.{b}")))
        .and_then(|v| v.as_str())
}

impl Evaluate for TestEvaluator {
    fn evaluate(
        &mut self,
        raw: &[u8],
        _origin: &EventOrigin<'_>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let text = std::str::from_utf8(raw).map_err(|e| EventError::NotUtf8(e.valid_up_to()))?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            // serde_json stops at 128 levels; the real engine reports that as too deep.
            if e.to_string().contains("recursion limit") {
                EventError::TooDeep(128)
            } else {
                EventError::NotJson(e.to_string())
            }
        })?;
        let serde_json::Value::Object(obj) = &value else {
            return Err(EventError::NotObject);
        };
        if field(obj, "event", "action") == Some(MATCHING_ACTION) {
            let event_id = field(obj, "event", "id").unwrap_or("");
            let id = expected_alert_id(event_id);
            let doc = serde_json::json!({
                "kibana.alert.uuid": id,
                "kibana.alert.rule.rule_id": TEST_RULE_ID,
                "source": value,
            });
            out.push(AlertOut {
                id,
                rule_id: TEST_RULE_ID.to_string(),
                doc: serde_json::to_vec(&doc).unwrap_or_default(),
            });
        }
        Ok(())
    }
}
