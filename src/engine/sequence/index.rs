//! The EQL rules of an engine, evaluated on the event reader's view in the same pass as the
//! KQL rules: each condition (an event query, a sequence step, an `until`) is filed under its
//! anchor (a keyword literal it requires, see `crate::eql::EqlExpr::anchor`), so an event
//! evaluates only the few conditions that could match it.

use std::collections::HashMap;

use serde_json::Value;

use super::spec::SequenceSpec;
use super::state::SeqInput;
use crate::eql::{CompiledQuery, CompiledSequence, EqlExpr};
use crate::event::{EventView, FieldPlan, Kind, SlotId};

/// A compiled EQL rule: one event query, or a sequence's steps.
pub enum EqlQuery {
    Event(EqlExpr),
    Sequence(CompiledSequence),
}

impl From<CompiledQuery> for EqlQuery {
    fn from(q: CompiledQuery) -> Self {
        match q {
            CompiledQuery::Event(e) => EqlQuery::Event(e),
            CompiledQuery::Sequence(s) => EqlQuery::Sequence(s),
        }
    }
}

/// Which part of which rule a condition is.
#[derive(Debug, Clone, Copy)]
enum Part {
    Event,
    /// A sequence step (index into its steps).
    Step(usize),
    Until,
}

struct Condition {
    /// Position in [`EqlIndex::rules`].
    rule: usize,
    part: Part,
    expr: EqlExpr,
    /// Join keys: the sequence's, then the step's own.
    keys: Vec<SlotId>,
    // Every condition is evaluated, also a later step's or `until`'s when the rule has no
    // sequence in flight: the earlier-stage event it follows in event time may still arrive
    // (within the allowed lateness), and the exact pass needs it then (`exact.rs`).
}

struct IndexedRule {
    /// The engine's rule number.
    engine_rule: usize,
    /// For sequences: the stages of each step (a step `with runs=N` is N stages).
    stages_of_step: Vec<Vec<usize>>,
    /// Event time: `timestamp_override`, then `@timestamp`.
    time: Vec<SlotId>,
}

/// What one event matched.
#[derive(Debug, Default)]
pub struct EqlHits {
    /// Engine rule numbers of single-event EQL rules the event matches.
    pub events: Vec<usize>,
    /// Engine rule number and what the event is to that sequence rule.
    pub sequences: Vec<(usize, SeqInput)>,
}

impl EqlHits {
    pub fn clear(&mut self) {
        self.events.clear();
        self.sequences.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.sequences.is_empty()
    }
}

/// Per anchor field: literal value → the conditions that require it.
type AnchorIndex = Vec<(SlotId, HashMap<Box<str>, Vec<u32>>)>;

/// All EQL conditions of an engine with their anchor index.
#[derive(Default)]
pub struct EqlIndex {
    rules: Vec<IndexedRule>,
    conditions: Vec<Condition>,
    anchors: AnchorIndex,
    unanchored: Vec<u32>,
    /// Rules with a missing-event stage (positions in `rules`): their pending sequences are
    /// decided by event time, so they see every event's time while some wait.
    trailing: Vec<usize>,
}

impl EqlIndex {
    /// Adds engine rule `engine_rule`; returns the sequence spec for a sequence. `time_field`
    /// is the rule's `timestamp_override`.
    pub fn add(
        &mut self,
        engine_rule: usize,
        query: EqlQuery,
        time_field: Option<&str>,
        plan: &mut FieldPlan,
    ) -> Option<SequenceSpec> {
        let rule = self.rules.len();
        let mut time: Vec<SlotId> = time_field.iter().map(|f| plan.field(f)).collect();
        time.push(plan.field("@timestamp"));
        match query {
            EqlQuery::Event(expr) => {
                self.rules.push(IndexedRule {
                    engine_rule,
                    stages_of_step: Vec::new(),
                    time,
                });
                self.conditions.push(Condition {
                    rule,
                    part: Part::Event,
                    expr,
                    keys: Vec::new(),
                });
                None
            }
            EqlQuery::Sequence(seq) => {
                let (spec, step_of) = SequenceSpec::from_compiled(&seq);
                if spec.has_missing() {
                    self.trailing.push(rule);
                }
                let mut stages_of_step = vec![Vec::new(); seq.steps.len()];
                for (stage, step) in step_of.iter().enumerate() {
                    stages_of_step[*step].push(stage);
                }
                self.rules.push(IndexedRule {
                    engine_rule,
                    stages_of_step: stages_of_step.clone(),
                    time,
                });
                let keys = |own: &[SlotId]| {
                    let mut k = seq.by.clone();
                    k.extend_from_slice(own);
                    k
                };
                for (i, step) in seq.steps.iter().enumerate() {
                    self.conditions.push(Condition {
                        rule,
                        part: Part::Step(i),
                        expr: step.condition.clone(),
                        keys: keys(&step.by),
                    });
                }
                if let Some(until) = &seq.until {
                    self.conditions.push(Condition {
                        rule,
                        part: Part::Until,
                        expr: until.condition.clone(),
                        keys: keys(&until.by),
                    });
                }
                Some(spec)
            }
        }
    }

    /// Builds the anchor index; call once after the last [`EqlIndex::add`]. `preferred` and
    /// `weak` guide the choice of anchor (see [`EqlExpr::anchor`]).
    pub fn finish(&mut self, preferred: &[SlotId], weak: &[SlotId]) {
        for (i, c) in self.conditions.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match c.expr.anchor(preferred, weak) {
                Some((slot, values)) => {
                    let pos = match self.anchors.iter().position(|(s, _)| *s == slot) {
                        Some(pos) => pos,
                        None => {
                            self.anchors.push((slot, HashMap::new()));
                            self.anchors.len() - 1
                        }
                    };
                    for v in values {
                        let list = self.anchors[pos].1.entry(v.into_boxed_str()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => self.unanchored.push(i),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Conditions evaluated on every event (no anchor).
    pub fn unanchored_count(&self) -> usize {
        self.unanchored.len()
    }

    /// Evaluates the conditions `view` could match; `admit(engine_rule)` applies the rule's
    /// index patterns. Fills `hits` (cleared first); `candidates` is a reusable buffer. With
    /// `tick_after = Some(t)`, rules with a missing-event stage also get the event's time (an
    /// input without stages) when it is after `t` and the event matches none of their
    /// conditions: it may decide their pending sequences.
    pub fn run(
        &self,
        view: &EventView<'_>,
        admit: impl FnMut(usize) -> bool,
        tick_after: Option<i64>,
        candidates: &mut Vec<u32>,
        hits: &mut EqlHits,
    ) {
        hits.clear();
        self.match_conditions(view, admit, candidates, hits);
        if let Some(after) = tick_after {
            for &pos in &self.trailing {
                let Some(rule) = self.rules.get(pos) else {
                    continue;
                };
                if hits.sequences.iter().any(|(r, _)| *r == rule.engine_rule) {
                    continue;
                }
                if let Some(time) = event_time(view, &rule.time).filter(|t| *t > after) {
                    let input = SeqInput {
                        time,
                        ..SeqInput::default()
                    };
                    hits.sequences.push((rule.engine_rule, input));
                }
            }
        }
    }

    fn match_conditions(
        &self,
        view: &EventView<'_>,
        mut admit: impl FnMut(usize) -> bool,
        candidates: &mut Vec<u32>,
        hits: &mut EqlHits,
    ) {
        candidates.clear();
        for (slot, map) in &self.anchors {
            for value in view.values(*slot) {
                if let Some(list) = map.get(view.text(value)) {
                    candidates.extend_from_slice(list);
                }
            }
        }
        if candidates.is_empty() && self.unanchored.is_empty() {
            return;
        }
        candidates.extend_from_slice(&self.unanchored);
        candidates.sort_unstable();
        candidates.dedup();
        // Index patterns are checked once per rule.
        let mut admitted: Option<(usize, bool)> = None;
        for &c in candidates.iter() {
            let Some(cond) = self.conditions.get(c as usize) else {
                continue;
            };
            let Some(rule) = self.rules.get(cond.rule) else {
                continue;
            };
            let ok = match admitted {
                Some((r, ok)) if r == cond.rule => ok,
                _ => {
                    let ok = admit(rule.engine_rule);
                    admitted = Some((cond.rule, ok));
                    ok
                }
            };
            if !ok {
                continue;
            }
            if !cond.expr.eval(view) {
                continue;
            }
            match cond.part {
                Part::Event => hits.events.push(rule.engine_rule),
                Part::Step(_) | Part::Until => {
                    // Elasticsearch only returns documents with a value for every join key.
                    let Some(key) = join_key(view, &cond.keys) else {
                        continue;
                    };
                    let input = match hits.sequences.last_mut() {
                        Some((r, input)) if *r == rule.engine_rule => input,
                        _ => {
                            let Some(time) = event_time(view, &rule.time) else {
                                // No event time: the event cannot be ordered; it is skipped.
                                continue;
                            };
                            hits.sequences.push((
                                rule.engine_rule,
                                SeqInput {
                                    time,
                                    ..SeqInput::default()
                                },
                            ));
                            match hits.sequences.last_mut() {
                                Some((_, input)) => input,
                                None => continue,
                            }
                        }
                    };
                    match cond.part {
                        Part::Step(step) => {
                            for stage in rule.stages_of_step.get(step).into_iter().flatten() {
                                input.stages.push((*stage, key.clone()));
                            }
                        }
                        _ => input.until = Some(key),
                    }
                }
            }
        }
    }
}

/// The join key of an event: one value per key field, typed (a number 5 and a string "5" are
/// different keys, as in Elasticsearch's `SequenceKey`). `None` when a field is missing, null,
/// an object, or has several values (Elasticsearch's sequence keys are single values; a
/// multi-valued key fails its search — see `docs/eql.md`).
fn join_key(view: &EventView<'_>, slots: &[SlotId]) -> Option<String> {
    let mut key = String::new();
    for (i, slot) in slots.iter().enumerate() {
        let values = view.values(*slot);
        let [value] = values else {
            return None;
        };
        if i > 0 {
            key.push('\u{1f}');
        }
        let tag = match value.kind {
            Kind::Str => 's',
            Kind::Num => 'n',
            Kind::True | Kind::False => 'b',
            Kind::Object => return None,
        };
        key.push(tag);
        key.push_str(view.text(value));
    }
    Some(key)
}

/// The rule's event time from the reader: the first value of the first time field present.
fn event_time(view: &EventView<'_>, slots: &[SlotId]) -> Option<i64> {
    slots.iter().find_map(|slot| {
        let first = view.values(*slot).first()?;
        let v = match first.kind {
            Kind::Num => serde_json::from_str::<Value>(view.text(first)).ok()?,
            _ => Value::String(view.text(first).to_string()),
        };
        crate::alert::parse_json_date(&v).map(|t| t.timestamp_millis())
    })
}
