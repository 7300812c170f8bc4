//! Alerts of a completed sequence: one building-block alert per event, then the shell alert
//! that groups them (alert-schema §3.4; documents built by `crate::alert::sequence`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::state::StoredEvent;
use crate::alert::{Alert, Ancestor, RuleTemplate};
use crate::engine::{AlertOut, EventError};

/// Appends the building blocks (in sequence order) and then the shell of `events` to `out`.
pub fn push_sequence_alerts(
    template: &RuleTemplate,
    rule_id: &str,
    events: &[StoredEvent],
    now: DateTime<Utc>,
    out: &mut Vec<AlertOut>,
) -> Result<(), EventError> {
    let ancestors: Vec<Ancestor> = events
        .iter()
        .map(|e| Ancestor {
            index: e.index.clone(),
            id: e.id.clone(),
        })
        .collect();
    let parsed: Vec<Map<String, Value>> = events
        .iter()
        .map(|e| e.event().unwrap_or_default())
        .collect();
    let pairs: Vec<(&Map<String, Value>, &Ancestor)> = parsed.iter().zip(&ancestors).collect();
    let alerts = template.build_sequence(&pairs, now);
    for alert in alerts.building_blocks {
        push(out, rule_id, alert)?;
    }
    push(out, rule_id, alerts.shell)
}

fn push(out: &mut Vec<AlertOut>, rule_id: &str, alert: Alert) -> Result<(), EventError> {
    out.push(AlertOut::from_alert(rule_id, alert)?);
    Ok(())
}
