//! The shape of a sequence as the state machine needs it: its stages after `with runs=N` is
//! expanded, which of them are missing-event stages, `maxspan`, `until`.

use crate::eql::CompiledSequence;

/// The stages of a sequence rule (no conditions: those live in the engine's EQL index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSpec {
    /// One entry per stage, in order, `true` for a missing-event stage `![…]`. A step `with
    /// runs=N` is N stages, as Elasticsearch expands it.
    pub stages: Vec<bool>,
    /// `with maxspan=…` in ms; `None` when absent.
    pub maxspan_ms: Option<i64>,
    pub has_until: bool,
    positive: Vec<usize>,
    missing: Vec<usize>,
}

impl SequenceSpec {
    /// The spec of `seq`, plus for each expanded stage the index of its step in `seq.steps`.
    pub fn from_compiled(seq: &CompiledSequence) -> (SequenceSpec, Vec<usize>) {
        let mut stages = Vec::new();
        let mut step_of = Vec::new();
        for (i, step) in seq.steps.iter().enumerate() {
            for _ in 0..step.runs.max(1) {
                stages.push(step.missing);
                step_of.push(i);
            }
        }
        let maxspan_ms = seq
            .maxspan
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .filter(|m| *m > 0);
        (
            SequenceSpec::new(stages, maxspan_ms, seq.until.is_some()),
            step_of,
        )
    }

    /// A spec from its parts (tests, and [`SequenceSpec::from_compiled`]).
    pub fn new(stages: Vec<bool>, maxspan_ms: Option<i64>, has_until: bool) -> SequenceSpec {
        let positive = (0..stages.len()).filter(|i| !stages[*i]).collect();
        let missing = (0..stages.len()).filter(|i| stages[*i]).collect();
        SequenceSpec {
            stages,
            maxspan_ms,
            has_until,
            positive,
            missing,
        }
    }

    /// Position of `stage` among the positive stages.
    pub fn positive_index(&self, stage: usize) -> Option<usize> {
        self.positive.iter().position(|s| *s == stage)
    }

    /// Position of `stage` among the missing stages.
    pub fn missing_index(&self, stage: usize) -> Option<usize> {
        self.missing.iter().position(|s| *s == stage)
    }

    pub fn positive_count(&self) -> usize {
        self.positive.len()
    }

    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    pub fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    /// A missing stage after the last positive one (decided only after `maxspan`).
    pub fn has_trailing_missing(&self) -> bool {
        self.stages.last().copied().unwrap_or(false)
    }

    pub fn first_positive_stage(&self) -> usize {
        self.positive.first().copied().unwrap_or(0)
    }

    pub fn last_positive_stage(&self) -> usize {
        self.positive.last().copied().unwrap_or(0)
    }

    /// Times of the positive events around a middle missing stage, given the times of the
    /// positive events in order.
    pub fn neighbours(&self, stage: usize, times: &[i64]) -> (i64, i64) {
        let before = self.positive.iter().rposition(|s| *s < stage);
        let after = self.positive.iter().position(|s| *s > stage);
        let at = |i: Option<usize>, default: i64| {
            i.and_then(|i| times.get(i)).copied().unwrap_or(default)
        };
        (at(before, i64::MIN), at(after, i64::MAX))
    }
}
