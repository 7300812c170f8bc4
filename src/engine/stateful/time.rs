//! Event time and window lengths for the stateful rule types.
//!
//! Design: everything is event time in epoch milliseconds (`i64`). A rule's event time is the
//! `timestamp_override` field (usually `event.ingested`), falling back to `@timestamp` when the
//! event lacks it — Kibana's primary/secondary timestamp (alert-schema [S8]). Window lengths come
//! from the rule's date math (`from = "now-30m"`, `history_window_start = "now-14d"`).

use serde_json::{Map, Value};

use crate::alert::{get_path, parse_json_date};

/// One second, minute, hour, day, week in milliseconds.
const UNIT_MS: [(char, i64); 5] = [
    ('s', 1_000),
    ('m', 60_000),
    ('h', 3_600_000),
    ('d', 86_400_000),
    ('w', 604_800_000),
];

/// The event time of `event` in epoch ms: `override_field` when given and present and a date,
/// else `@timestamp`; `None` when neither is a date.
pub fn event_time_ms(event: &Map<String, Value>, override_field: Option<&str>) -> Option<i64> {
    let read = |field: &str| {
        let v = get_path(event, field)?;
        // Elasticsearch reads the first value of a multi-valued date field for sorting.
        let v = match v {
            Value::Array(items) => items.first()?,
            other => other,
        };
        parse_json_date(v).map(|t| t.timestamp_millis())
    };
    override_field.and_then(read).or_else(|| read("@timestamp"))
}

/// The length of a `now-<n><unit>` look-back (`from`, `history_window_start`) in ms.
/// Rounding (`now-1d/d`) and anything else is `None`.
pub fn lookback_ms(date_math: &str) -> Option<i64> {
    let rest = date_math.trim().strip_prefix("now-")?;
    duration_ms(rest)
}

/// `<n><unit>` with unit `s|m|h|d|w` (also `ms`) in ms; `None` when malformed or zero.
pub fn duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(n) = text.strip_suffix("ms") {
        return n.parse::<i64>().ok().filter(|n| *n > 0);
    }
    let unit = text.chars().last()?;
    let (_, per) = UNIT_MS.iter().find(|(u, _)| *u == unit)?;
    let n: i64 = text[..text.len() - 1].parse().ok()?;
    n.checked_mul(*per).filter(|ms| *ms > 0)
}

/// `epoch ms` as an ISO-8601 UTC string with milliseconds (the alert date format).
pub fn iso_ms(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(crate::alert::format_ms)
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookbacks_parse_kibana_date_math() {
        let cases = [
            ("now-30m", Some(1_800_000)),
            ("now-180m", Some(10_800_000)),
            ("now-14d", Some(14 * 86_400_000)),
            ("now-9m", Some(540_000)),
            ("now-1d/d", None),
            ("now", None),
            ("now-0m", None),
            ("2024-01-01", None),
        ];
        for (text, want) in cases {
            assert_eq!(lookback_ms(text), want, "{text}");
        }
    }

    #[test]
    fn event_time_prefers_override_then_timestamp() {
        let both = json!({"@timestamp": "2025-01-01T00:00:00Z",
                          "event": {"ingested": "2025-01-01T00:00:05Z"}});
        let only_ts = json!({"@timestamp": "2025-01-01T00:00:00Z"});
        let neither = json!({"event": {"ingested": "not a date"}});
        let o = |v: &Value| v.as_object().unwrap().clone();
        assert_eq!(
            event_time_ms(&o(&both), Some("event.ingested")),
            Some(1_735_689_605_000)
        );
        assert_eq!(event_time_ms(&o(&both), None), Some(1_735_689_600_000));
        assert_eq!(
            event_time_ms(&o(&only_ts), Some("event.ingested")),
            Some(1_735_689_600_000)
        );
        assert_eq!(event_time_ms(&o(&neither), Some("event.ingested")), None);
        assert_eq!(iso_ms(1_735_689_605_000), "2025-01-01T00:00:05.000Z");
    }
}
