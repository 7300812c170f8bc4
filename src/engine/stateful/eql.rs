//! EQL sequence rules in the stateful runtime: the same per-partition rule state, watermark
//! and allowed lateness as threshold / new_terms, with the sequences of
//! `crate::engine::sequence::state` as the rule's state.

use chrono::{DateTime, Utc};

use super::{RuleKind, RuleRef, RuleState, Runtime};
use crate::engine::sequence::emit::push_sequence_alerts;
use crate::engine::sequence::{SeqInput, SequenceState, StoredEvent};
use crate::engine::{AlertOut, EventError};

impl Runtime {
    /// Feeds one event to a sequence rule: `input` says which stages (and `until`) it matches
    /// under which key; an input without stages only moves the rule's event time forward, so
    /// that sequences waiting for a trailing missing event are decided. `stored` gives the
    /// parsed event and ancestor when the event joins a sequence. Alerts of completed
    /// sequences go to `out`.
    pub fn on_sequence(
        &mut self,
        part: usize,
        r: RuleRef<'_>,
        input: &SeqInput,
        stored: impl FnOnce() -> Option<StoredEvent>,
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        let RuleKind::Sequence(spec) = &r.spec.kind else {
            return Ok(());
        };
        let tick = input.stages.is_empty() && input.until.is_none();
        let Runtime {
            settings,
            partitions,
            stats,
            sequences_pending,
            ..
        } = self;
        let Some((_, state, dirty)) = partitions.get_mut(part) else {
            return Ok(());
        };
        // A tick for a rule without state changes nothing (and allocates nothing).
        let rs = match state.rules.get_mut(&r.rule.rule_id) {
            Some(rs) => rs,
            None if tick => return Ok(()),
            None => state.rules.entry(r.rule.rule_id.clone()).or_default(),
        };
        let t = input.time;
        let lateness = settings.allowed_lateness_ms;
        if rs.watermark.is_some_and(|w| t < w.saturating_sub(lateness)) {
            if !tick {
                stats.late_events += 1;
            }
            return Ok(());
        }
        if tick && rs.watermark.is_some_and(|w| t <= w) {
            return Ok(());
        }
        *dirty = true;
        let watermark = rs.watermark.map_or(t, |w| w.max(t));
        rs.watermark = Some(watermark);
        let horizon = watermark.saturating_sub(lateness);
        let before = pending_of(rs);
        let mut done = Vec::new();
        // Decide waiting sequences before expiry prunes the missing-stage times they read.
        if let Some(seq) = &mut rs.sequence {
            seq.decide(spec, horizon, &mut done);
        }
        rs.expire(&r.spec.kind, horizon, stats);
        if !tick {
            let seq = rs.sequence.get_or_insert_with(SequenceState::default);
            seq.observe(
                spec,
                input,
                horizon,
                &settings.limits,
                stats,
                stored,
                &mut done,
            );
        }
        let after = pending_of(rs);
        *sequences_pending = (*sequences_pending + after).saturating_sub(before);
        for events in done {
            stats.sequences_completed += 1;
            push_sequence_alerts(r.template, &r.rule.rule_id, &events, now, out)?;
        }
        Ok(())
    }

    /// Whether some sequence waits for a missing-event decision (then the evaluator feeds
    /// every event's time to the rules with missing stages).
    pub fn has_pending_sequences(&self) -> bool {
        self.sequences_pending > 0
    }
}

fn pending_of(rs: &RuleState) -> usize {
    rs.sequence.as_ref().map_or(0, SequenceState::pending_len)
}
