//! The alerts of one completed EQL sequence (alert-schema §3.4): N building blocks, one per event,
//! and a shell alert that stands for the sequence — Kibana's `buildAlertGroupFromSequence` /
//! `buildAlertRoot` (`rule_types/eql/build_alert_group_from_sequence.ts`) and
//! `generateBuildingBlockIds` (`factories/utils/generate_building_block_ids.ts`).
//!
//! * Building block i: the full single-event alert of event i built without severity / risk /
//!   name overrides (`applyOverrides: false`, reason with the rule's own name and severity), id
//!   from [`building_block_ids`], plus `kibana.alert.building_block_type = "default"`,
//!   `kibana.alert.group.id` = shell id, `kibana.alert.group.index` = i, and its own
//!   `kibana.alert.url`.
//! * Shell: the intersection ([`intersect_all`]) of the blocks' bodies, overlaid with fresh alert
//!   fields whose parents are the blocks: ancestors = per event `[event, block {id, type:
//!   "signal", index: "", depth: 1, rule}]`, depth 2, `kibana.alert.uuid` =
//!   `kibana.alert.group.id` = [`ancestors_alert_id`] of those ancestors, no `group.index`,
//!   `building_block_type` the rule's own (normally absent), reason from the intersection.
//!
//! Ids depend only on the events' ancestors and the rule uuid, so a replay of the same sequence
//! reproduces every id (processing-time fields such as `@timestamp` differ).
//!
//! Where rulestream differs from Kibana, and why:
//! * `kibana.alert.original_time` of the shell: Kibana reads the `@timestamp` of the first
//!   building block, which is already the alert-creation time (a quirk); rulestream uses the first
//!   event's time (alert-schema §3.4), so the field keeps its meaning "when it happened"
//!   (absent, as on single-event alerts, when that event has no usable time).
//! * The intersection is taken over the blocks' source copies (the event fields plus
//!   `kibana.alert.original_event.*` / `original_data_stream.*`), not over the whole block
//!   documents. Every other block field is either overwritten by the shell's own alert fields
//!   (rule fields, status, times, ids) or differs per block (uuid, url, reason) — except one
//!   artifact of Kibana's current notation handling: the flat `kibana.alert.rule.parameters`
//!   object of the blocks reappears *nested* (`kibana: {alert: {rule: {parameters}}}`) next to
//!   the shell's own flat copy. rulestream writes the parameters once.
//! * Kibana drops events marked `missing` (EQL `!` steps) and the whole group when an event is
//!   itself an alert of the same rule; the caller passes only the present events and does that
//!   check (the engine knows where events come from).

mod intersection;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub use intersection::{intersect_all, pair_intersection};

use super::ancestor::Ancestor;
use super::ecs::copy_source;
use super::id::{ancestors_alert_id, building_block_ids};
use super::template::RuleTemplate;
use super::Alert;

/// The alerts of one completed EQL sequence (alert-schema §3.4). Kibana writes them shell first,
/// then the blocks in sequence order (`eql/wrap_sequences.ts`); only the shell triggers actions.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceAlerts {
    /// The alert that represents the sequence (depth 2, the building blocks as parents).
    pub shell: Alert,
    /// One hidden alert per event, in sequence order (`kibana.alert.group.index` 0…N−1).
    pub building_blocks: Vec<Alert>,
}

impl RuleTemplate {
    /// `events` in sequence order, each with its ancestor (as `ancestor_for` gives it).
    ///
    /// Callers pass only events that are present (not EQL `!` "missing" placeholders). With no
    /// events the result is a shell without ancestors and no building blocks; it never panics.
    pub fn build_sequence(
        &self,
        events: &[(&Map<String, Value>, &Ancestor)],
        now: DateTime<Utc>,
    ) -> SequenceAlerts {
        let rule_uuid = self.rule_uuid();
        let block_ids = building_block_ids(
            events
                .iter()
                .map(|(_, a)| (a.id.as_str(), a.index.as_str())),
            rule_uuid,
        );
        let shell_ancestors: Vec<Value> = events
            .iter()
            .zip(&block_ids)
            .flat_map(|((_, a), block_id)| {
                [
                    a.to_event_entry(),
                    building_block_entry(block_id, rule_uuid),
                ]
            })
            .collect();
        let shell_id = ancestors_alert_id(
            events
                .iter()
                .zip(&block_ids)
                .flat_map(|((_, a), block_id)| {
                    [(a.id.as_str(), a.index.as_str()), (block_id.as_str(), "")]
                }),
            rule_uuid,
        );

        let sources: Vec<Map<String, Value>> =
            events.iter().map(|(e, _)| copy_source(e).doc).collect();
        // The shell first: the intersection reads the sources the blocks then take over.
        let refs: Vec<&Map<String, Value>> = sources.iter().collect();
        let common = intersect_all(&refs);
        let original_time = events.first().and_then(|(e, _)| self.original_time(e));
        let parts =
            self.unoverridden_parts(&common, shell_id.clone(), shell_ancestors, 2, original_time);
        let mut shell = self.assemble(common, parts, now);
        if let Value::Object(doc) = &mut shell.doc {
            doc.insert("kibana.alert.group.id".into(), shell_id.clone().into());
        }

        let building_blocks = events
            .iter()
            .zip(sources)
            .zip(block_ids)
            .enumerate()
            .map(|(i, (((event, ancestor), source), id))| {
                let parts = self.unoverridden_parts(
                    event,
                    id,
                    vec![ancestor.to_event_entry()],
                    1,
                    self.original_time(event),
                );
                let mut alert = self.assemble(source, parts, now);
                if let Value::Object(doc) = &mut alert.doc {
                    doc.insert("kibana.alert.building_block_type".into(), "default".into());
                    doc.insert("kibana.alert.group.id".into(), shell_id.clone().into());
                    doc.insert("kibana.alert.group.index".into(), i.into());
                }
                alert
            })
            .collect();
        SequenceAlerts {
            shell,
            building_blocks,
        }
    }
}

/// The shell's ancestor entry for a building block (Kibana `buildParent` of an alert: the block's
/// `_index` is `""` because it is not written yet, its depth is the block's depth 1).
fn building_block_entry(id: &str, rule_uuid: &str) -> Value {
    json!({ "id": id, "type": "signal", "index": "", "depth": 1, "rule": rule_uuid })
}
