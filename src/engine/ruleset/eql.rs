//! EQL rules in the engine: compiled onto the engine's field plan and evaluated in the same
//! reading pass as the KQL rules (see `crate::engine::sequence` and `docs/eql.md`).

use std::sync::Arc;

use super::{CompiledRule, Engine, EngineSettings, RuleOutcome};
use crate::alert::{Ancestor, RuleTemplate};
use crate::engine::feedback::{self, FedAlert};
use crate::engine::index_pattern::IndexPatterns;
use crate::engine::sequence::{EqlIndex, EqlQuery, RawEvent, StoredEvent};
use crate::engine::stateful::{RuleKind, RuleSpec};
use crate::engine::{AlertOut, EventError, EventOrigin};
use crate::event::{FieldPlan, SlotId};
use crate::rules::{Language, Rule, RuleType};

pub(super) fn is_eql(rule: &Rule) -> bool {
    rule.rule_type == RuleType::Eql || rule.language == Language::Eql
}

/// The rule's compiled EQL query, or why it does not run.
pub(super) fn compile_eql_rule(rule: &Rule, plan: &mut FieldPlan) -> Result<EqlQuery, RuleOutcome> {
    if let Some(why) = crate::engine::features::unsupported_setting(rule) {
        return Err(RuleOutcome::Unsupported(why));
    }
    if rule.rule_type != RuleType::Eql || rule.language != Language::Eql {
        return Err(RuleOutcome::Unsupported(format!(
            "{} rule in query language {}",
            rule.rule_type, rule.language
        )));
    }
    if rule.alert_suppression.is_some() {
        // Kibana suppresses single-event EQL alerts only; not implemented here yet.
        return Err(RuleOutcome::Unsupported(
            "alert suppression on EQL rules is not supported yet".into(),
        ));
    }
    let Some(query) = rule.query.as_deref() else {
        return Err(super::error_at(rule, 0, "eql rule has no `query`".into()));
    };
    let fail = |e: crate::eql::EqlError| {
        if e.kind == crate::eql::EqlErrorKind::Unsupported {
            RuleOutcome::Unsupported(e.to_string())
        } else {
            super::error_at(rule, e.span.start, e.to_string())
        }
    };
    let ast = crate::eql::parse(query).map_err(fail)?;
    let compiled = crate::eql::compile_query(&ast, plan).map_err(fail)?;
    Ok(compiled.into())
}

/// Appends the EQL rules after the KQL ones (the query set's numbering stays that of the KQL
/// rules) and indexes their conditions.
pub(super) fn add_eql_rules(
    eql_rules: Vec<(Arc<Rule>, EqlQuery)>,
    compiled: &mut Vec<CompiledRule>,
    plan: &mut FieldPlan,
    settings: &EngineSettings,
    preferred: SlotId,
) -> EqlIndex {
    let mut eql = EqlIndex::default();
    for (rule, query) in eql_rules {
        let number = compiled.len();
        let time_field = rule.timestamp_override.as_deref();
        let spec = eql
            .add(number, query, time_field, plan)
            .map(|seq| RuleSpec {
                kind: RuleKind::Sequence(seq),
                suppression: None,
                time_field: rule.timestamp_override.clone(),
            });
        compiled.push(CompiledRule {
            indices: IndexPatterns::new(&rule.index),
            template: RuleTemplate::new(&rule, &settings.alert),
            rule,
            spec,
            view: None,
        });
    }
    // Okta rules pin `okta.event_type` where KQL rules pin `event.action`; fields that most
    // events share are poor anchors.
    let okta_event_type = plan.field("okta.event_type");
    let weak: Vec<SlotId> = [
        "data_stream.type",
        "data_stream.dataset",
        "data_stream.namespace",
        "event.dataset",
        "event.module",
        "event.kind",
        "event.category",
        "event.outcome",
    ]
    .iter()
    .map(|f| plan.field(f))
    .collect();
    eql.finish(&[preferred, okta_event_type], &weak);
    eql
}

impl Engine {
    /// Gives the alerts of a completed sequence the ancestry Kibana gives alerts built from
    /// alerts: each event that was a fed-back alert is recorded as that alert's ancestors and
    /// then the alert (`signal`), not as an `event`. The feedback loop does this for the alert
    /// being evaluated; a sequence also holds alerts fed back with earlier events.
    pub(super) fn rebase_fed_events(
        &self,
        events: &[StoredEvent],
        batch: &mut [AlertOut],
    ) -> Result<(), EventError> {
        let Some(plan) = &self.feedback else {
            return Ok(());
        };
        for e in events.iter().filter(|e| e.index == plan.index().backing) {
            let fed = e
                .event()
                .and_then(|doc| FedAlert::from_doc(&doc, plan.index(), None));
            if let Some(fed) = fed {
                feedback::rebase_ancestry(batch, &fed)?;
            }
        }
        Ok(())
    }
}

/// The event as a sequence rule keeps it: its text and what its ancestor is derived from
/// (`RawEvent::resolve` parses it when the event joins a sequence); `parent` is the ancestor
/// of a fed-back alert (the alert itself).
pub(super) fn stored_event(
    input: &[u8],
    origin: &EventOrigin<'_>,
    parent: Option<&Ancestor>,
) -> Option<RawEvent> {
    Some(RawEvent {
        json: input.into(),
        default_index: origin.default_index.map(str::to_string),
        origin: origin
            .topic
            .map(|t| (t.to_string(), origin.partition, origin.offset)),
        parent: parent.map(|a| (a.index.clone(), a.id.clone())),
    })
}
