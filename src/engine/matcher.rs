//! A set of compiled queries sharing one field plan, with an index that picks, per event, only
//! the queries that could match it.
//!
//! Most detection rules pin a keyword field to a few literals (`event.action: x` or
//! `event.action: (x or y)`) in a top-level conjunct: such a value is necessary for a match.
//! Each query is filed under one such "anchor" (preferring `event.action`, then the smallest
//! set); per event, the anchor fields' values are looked up in a hash map, and only those
//! queries, plus the few without an anchor, are evaluated. The Okta rules differ mostly in
//! `event.action`, so a typical event evaluates zero or one query.

use std::collections::HashMap;

use super::compile::{EvalContext, Expr};
use super::predicate::{KeywordTest, Test};
use super::EventError;
use crate::event::{extract, EventView, Extracted, FieldPlan, SlotId};

/// Per anchor field: literal value → indices of the queries that require it.
type AnchorIndex = Vec<(SlotId, HashMap<Box<str>, Vec<u32>>)>;

/// Compiled queries plus their anchor index.
#[derive(Debug, Clone)]
pub struct QuerySet {
    plan: FieldPlan,
    exprs: Vec<Expr>,
    anchors: AnchorIndex,
    unanchored: Vec<u32>,
}

/// Per-worker buffers, reused across events.
#[derive(Debug, Default)]
pub struct Scratch {
    extracted: Extracted,
    candidates: Vec<u32>,
    seen: Vec<u32>,
    generation: u32,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }
}

impl QuerySet {
    /// Builds the index over `exprs`, whose fields are registered in `plan`. `preferred` is the
    /// slot to anchor on when a query offers it (usually `event.action`).
    pub fn new(plan: FieldPlan, exprs: Vec<Expr>, preferred: Option<SlotId>) -> Self {
        let mut anchors: AnchorIndex = Vec::new();
        let mut unanchored = Vec::new();
        for (i, expr) in exprs.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match anchor(expr, preferred) {
                Some((slot, values)) => {
                    let pos = match anchors.iter().position(|(s, _)| *s == slot) {
                        Some(pos) => pos,
                        None => {
                            anchors.push((slot, HashMap::new()));
                            anchors.len() - 1
                        }
                    };
                    for value in values {
                        let list = anchors[pos].1.entry(value).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => unanchored.push(i),
            }
        }
        QuerySet {
            plan,
            exprs,
            anchors,
            unanchored,
        }
    }

    pub fn len(&self) -> usize {
        self.exprs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exprs.is_empty()
    }

    /// How many queries have no anchor (evaluated on every event).
    pub fn unanchored_count(&self) -> usize {
        self.unanchored.len()
    }

    /// Reads `raw`; if `gate(view)` allows, calls `on_match(query_index, view)` for every query
    /// the event matches, in query order, after `admit(query_index, view)` (e.g. the rule's
    /// index patterns) allowed it. Returns what `gate` said.
    pub fn run<'s>(
        &self,
        raw: &'s [u8],
        data_stream: Option<&str>,
        scratch: &'s mut Scratch,
        gate: impl FnOnce(&EventView<'_>) -> bool,
        mut admit: impl FnMut(usize, &EventView<'_>) -> bool,
        mut on_match: impl FnMut(usize, &EventView<'_>),
    ) -> Result<bool, EventError> {
        let Scratch {
            extracted,
            candidates,
            seen,
            generation,
        } = scratch;
        let view = extract(&self.plan, raw, extracted)?;
        if !gate(&view) {
            return Ok(false);
        }
        candidates.clear();
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            seen.iter_mut().for_each(|g| *g = 0);
            *generation = 1;
        }
        seen.resize(self.exprs.len(), 0);
        for (slot, map) in &self.anchors {
            for value in view.values(*slot) {
                if let Some(list) = map.get(view.text(value)) {
                    for &i in list {
                        let mark = &mut seen[i as usize];
                        if *mark != *generation {
                            *mark = *generation;
                            candidates.push(i);
                        }
                    }
                }
            }
        }
        candidates.extend_from_slice(&self.unanchored);
        if candidates.is_empty() {
            return Ok(true);
        }
        candidates.sort_unstable();
        let ctx = EvalContext {
            view: &view,
            data_stream,
        };
        for &i in candidates.iter() {
            let i = i as usize;
            if admit(i, &view) && self.exprs[i].eval(&ctx) {
                on_match(i, &view);
            }
        }
        Ok(true)
    }

    /// The plan (to register extra fields before building, e.g. `data_stream.*`).
    pub fn plan(&self) -> &FieldPlan {
        &self.plan
    }
}

/// A slot and literal set such that any match needs one of the literals among the slot's values.
fn anchor(expr: &Expr, preferred: Option<SlotId>) -> Option<(SlotId, Vec<Box<str>>)> {
    match expr {
        Expr::Field {
            slot,
            test:
                Test::Keyword {
                    test: KeywordTest::Eq(v),
                    ..
                },
            constant: None,
        } => Some((*slot, vec![v.clone()])),
        Expr::Or(items) => {
            let mut slot = None;
            let mut values = Vec::new();
            for item in items {
                let (s, vs) = anchor(item, preferred)?;
                if slot.is_some_and(|prev| prev != s) {
                    return None;
                }
                slot = Some(s);
                values.extend(vs);
            }
            slot.map(|s| (s, values))
        }
        Expr::And(items) => items
            .iter()
            .filter_map(|item| anchor(item, preferred))
            .min_by_key(|(slot, values)| (Some(*slot) != preferred, values.len())),
        _ => None,
    }
}
