//! The parent document of an alert (`kibana.alert.ancestors[0]`) in stream terms
//! (alert-schema §6): Elasticsearch would name the backing index and `_id` of the hit;
//! rulestream derives equivalents from the event itself, falling back to where it was read.

use serde_json::{json, Map, Value};

use super::fields::get_path;

/// Index and id of the event an alert was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    /// Data stream name (`logs-okta.system-default`), else the configured index or Kafka topic.
    pub index: String,
    /// `event.id`, else raw Okta `uuid`, else `<topic>:<partition>:<offset>`.
    pub id: String,
}

impl Ancestor {
    /// The `kibana.alert.ancestors` entry for a raw event (depth 0, type `event`).
    pub fn to_event_entry(&self) -> Value {
        json!({ "id": self.id, "type": "event", "index": self.index, "depth": 0 })
    }
}

/// Derives the ancestor of `event`.
///
/// * index: `data_stream.type`-`dataset`-`namespace` when all three are strings in the event;
///   else `fallback_index` (configured index); else the Kafka topic of `origin_ref`; else `""`.
/// * id: `event.id` (the Okta integration's `_id`); else the raw Okta System Log `uuid`; else
///   `<topic>:<partition>:<offset>` from `origin_ref`; else `""`.
pub fn ancestor_for(
    event: &Map<String, Value>,
    fallback_index: Option<&str>,
    origin_ref: Option<(&str, i32, i64)>,
) -> Ancestor {
    let text = |path: &str| -> Option<String> {
        match get_path(event, path)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let data_stream = match (
        text("data_stream.type"),
        text("data_stream.dataset"),
        text("data_stream.namespace"),
    ) {
        (Some(t), Some(d), Some(n)) => Some(format!("{t}-{d}-{n}")),
        _ => None,
    };
    let index = data_stream
        .or_else(|| fallback_index.map(str::to_string))
        .or_else(|| origin_ref.map(|(topic, _, _)| topic.to_string()))
        .unwrap_or_default();
    // Raw Okta events carry `uuid` at the top level only; `okta.uuid` is its ECS copy.
    let id = text("event.id")
        .or_else(|| match event.get("uuid") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .or_else(|| origin_ref.map(|(t, p, o)| format!("{t}:{p}:{o}")))
        .unwrap_or_default();
    Ancestor { index, id }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;

    #[test]
    fn index_and_id_fall_back_in_order() {
        let origin = Some(("okta-raw", 3, 42));
        let cases = [
            (
                json!({"data_stream": {"type": "logs", "dataset": "okta.system",
                       "namespace": "default"}, "event": {"id": "e1"}, "uuid": "u1"}),
                Some("cfg"),
                ("logs-okta.system-default", "e1"),
            ),
            (
                json!({"data_stream.type": "logs", "data_stream.dataset": "d",
                       "data_stream.namespace": "n", "event.id": "e2"}),
                None,
                ("logs-d-n", "e2"),
            ),
            (
                json!({"data_stream": {"type": "logs"}, "uuid": "u3"}),
                Some("cfg"),
                ("cfg", "u3"),
            ),
            (json!({"uuid": ""}), None, ("okta-raw", "okta-raw:3:42")),
        ];
        for (event, fallback, (index, id)) in cases {
            let a = ancestor_for(event.as_object().unwrap(), fallback, origin);
            assert_eq!((a.index.as_str(), a.id.as_str()), (index, id), "{event}");
        }
        let none = ancestor_for(&Map::new(), None, None);
        assert_eq!(
            none,
            Ancestor {
                index: String::new(),
                id: String::new()
            }
        );
    }
}
