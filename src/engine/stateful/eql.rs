//! EQL sequence rules in the stateful runtime: the same per-partition rule state, watermark
//! and allowed lateness as threshold / new_terms, with the sequences of
//! `crate::engine::sequence::state` as the rule's state.

use chrono::{DateTime, Utc};

use super::{RuleKind, RuleRef, RuleState, Runtime};
use crate::engine::sequence::emit::push_sequence_alerts;
use crate::engine::sequence::{ExactPass, RawEvent, SeqInput, SequenceState, StoredEvent};
use crate::engine::{AlertOut, EventError};

impl Runtime {
    /// Feeds one event to a sequence rule: `input` says which stages (and `until`) it matches
    /// under which key; an input without stages only moves the rule's event time forward, so
    /// that sequences waiting for a trailing missing event are decided. `stored` gives the
    /// parsed event and ancestor when the event joins a sequence. Alerts of completed
    /// sequences go to `out`; `finish` may then adjust each sequence's alerts (the ancestry of
    /// events that were alerts fed back).
    #[allow(clippy::too_many_arguments)]
    pub fn on_sequence(
        &mut self,
        part: usize,
        r: RuleRef<'_>,
        input: SeqInput,
        stored: impl FnOnce() -> Option<RawEvent>,
        finish: impl Fn(&[StoredEvent], &mut [AlertOut]) -> Result<(), EventError>,
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
            sequences_open,
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
        let (open_before, pending_before) = counts(rs);
        let mut done = Vec::new();
        // Decide waiting sequences before expiry prunes the missing-stage times they read.
        if let Some(seq) = &mut rs.sequence {
            seq.decide(spec, horizon, &mut done);
        }
        rs.expire(&r.spec.kind, horizon, stats);
        // With no allowed lateness every accepted event is in order (an event before the
        // watermark is late), so the immediate matcher alone gives the in-order sequences;
        // rules with missing stages always use the exact pass.
        let needs_exact = spec.has_missing() || lateness > 0;
        let mut exact = needs_exact.then(|| rs.exact.get_or_insert_with(ExactPass::default));
        if !tick {
            // Only an event of a positive stage can be part of a sequence's alerts.
            let positive = input
                .stages
                .iter()
                .any(|(s, _)| spec.positive_index(*s).is_some());
            let mut lazy = Some(stored);
            let raw = match positive && exact.is_some() {
                true => lazy.take().and_then(|f| f()),
                false => None,
            };
            // Rules with missing stages are decided once the horizon has passed their
            // sequences: the exact pass alone finds them, at no cost in latency.
            if !spec.has_missing() {
                let seq = rs.sequence.get_or_insert_with(SequenceState::default);
                let mut now_done = Vec::new();
                let resolve = || match &raw {
                    Some(r) => r.resolve(),
                    None => lazy.take().and_then(|f| f())?.resolve(),
                };
                seq.observe(
                    spec,
                    &input,
                    horizon,
                    &settings.limits,
                    stats,
                    resolve,
                    &mut now_done,
                );
                if let Some(x) = &mut exact {
                    for events in &now_done {
                        x.emitted_immediately(events, t, &settings.limits);
                    }
                }
                done.extend(now_done);
            }
            if let Some(x) = &mut exact {
                if !x.push(input, raw) {
                    stats.evicted_by_limit += 1;
                }
            }
        }
        let mut due_changed = false;
        if let Some(x) = exact {
            let due_before = x.due();
            x.advance(spec, horizon, &settings.limits, stats, &mut done);
            due_changed = x.due() != due_before;
        }
        let (open_after, pending_after) = counts(rs);
        if open_after != open_before {
            let n = sequences_open.entry(r.rule.rule_id.clone()).or_default();
            *n = (*n + open_after).saturating_sub(open_before);
        }
        let recompute = due_changed || pending_after != pending_before || !done.is_empty();
        for events in &done {
            stats.sequences_completed += 1;
            let before = out.len();
            push_sequence_alerts(r.template, &r.rule.rule_id, events, now, out)?;
            finish(events, &mut out[before..])?;
        }
        if recompute {
            self.recompute_next_decision();
        }
        Ok(())
    }

    /// Event times after which a pending sequence may be decided (`None`: none pending);
    /// the evaluator then feeds later event times to the rules with missing-event stages.
    pub fn sequence_tick_after(&self) -> Option<i64> {
        self.next_decision
    }

    /// Whether the sequence rule `rule_id` has sequences in flight or pending in any partition.
    pub fn sequences_open(&self, rule_id: &str) -> bool {
        self.sequences_open.get(rule_id).is_some_and(|n| *n > 0)
    }

    /// Counts the sequences of a partition just loaded from a snapshot.
    pub(super) fn restored_sequences(&mut self, part: usize) {
        let Some((_, state, _)) = self.partitions.get(part) else {
            return;
        };
        let mut any = false;
        for (rule_id, rs) in &state.rules {
            let (open, _) = counts(rs);
            if open > 0 {
                *self.sequences_open.entry(rule_id.clone()).or_default() += open;
                any = true;
            }
        }
        if any {
            self.recompute_next_decision();
        }
    }

    fn recompute_next_decision(&mut self) {
        let lateness = self.settings.allowed_lateness_ms;
        self.next_decision = self
            .partitions
            .iter()
            .flat_map(|(_, state, _)| state.rules.values())
            .flat_map(|rs| {
                let immediate = rs.sequence.as_ref().and_then(SequenceState::next_deadline);
                let exact = rs.exact.as_ref().and_then(ExactPass::due);
                immediate.into_iter().chain(exact)
            })
            .min()
            .map(|d| d.saturating_add(lateness));
    }
}

/// Sequences in flight or pending, and pending alone, of a rule's state.
fn counts(rs: &RuleState) -> (usize, usize) {
    let (open, pending) = rs
        .sequence
        .as_ref()
        .map_or((0, 0), |s| (s.len(), s.pending_len()));
    let exact = rs.exact.as_ref().map_or(0, |x| x.len() + x.buffered());
    (open + exact, pending)
}
