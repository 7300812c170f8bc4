//! The state of one EQL sequence rule in one partition, and how events move it: Elasticsearch's
//! `SequenceMatcher` applied one event at a time.
//!
//! Elasticsearch (<https://github.com/elastic/elasticsearch/blob/main/x-pack/plugin/eql/src/main/java/org/elasticsearch/xpack/eql/execution/sequence/SequenceMatcher.java>,
//! `KeyToSequences.java` and `OrdinalGroup.java` next to it;
//! `execution/assembler/TumblingWindow.java` for missing events) keeps, per join key and per stage, the in-flight sequences ordered by the
//! ordinal of their last event. A hit for stage `s` takes the **latest** in-flight sequence of the
//! previous positive stage whose ordinal is strictly before the hit, and **drops it and every
//! earlier one** of that stage (`trimBefore`); then it checks `maxspan` against the sequence's
//! first event and `until` between the sequence's last event and the hit. Sorting the hits of a
//! search by ordinal and replaying them one at a time, highest stage first for an event that
//! matches several stages, gives the same sequences: that is what [`SequenceState::observe`]
//! does, with the event's time and its arrival number as the ordinal (Elasticsearch's
//! `_shard_doc` implicit tiebreaker plays the arrival number's role for equal timestamps).
//!
//! Missing-event stages (`![q]`) are decided as `TumblingWindow.doCheckMissingEvents` decides
//! them once the positive stages completed, from the `q` events of the same key: leading ones
//! (before the first positive stage) strictly before the sequence's start, middle ones strictly
//! between the neighbouring positive events, trailing ones strictly after its end. Elasticsearch
//! sees every indexed document at search time; a stream decides when no event that could
//! change the answer can still arrive: once the rule's watermark minus the allowed lateness has
//! passed the sequence's end — and, with a trailing missing stage, its start plus `maxspan`
//! (see `docs/eql.md`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::spec::SequenceSpec;
use crate::engine::stateful::{Limits, StatefulStats};

/// Event time (ms) and arrival number: the order of events in a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ordinal {
    pub time: i64,
    pub seq: u64,
}

/// What an alert needs of one event of a sequence: the event and its ancestor. The event is
/// kept as its JSON text and parsed again when the sequence completes: a parsed Okta event
/// takes about 7 times the heap of its text (`examples/bench_eql.rs`), and most sequences
/// never complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub json: String,
    /// Ancestor index and id (`crate::alert::Ancestor`).
    pub index: String,
    pub id: String,
}

impl StoredEvent {
    /// The event as a JSON object (`None` if the text is not one, which the engine never
    /// stores).
    pub fn event(&self) -> Option<Map<String, Value>> {
        serde_json::from_str(&self.json).ok()
    }
}

/// One event as the sequence rule sees it: which stages it matches under which join key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeqInput {
    pub time: i64,
    /// `(stage, key)` for every stage (positive or missing) whose condition the event matches
    /// and whose join keys it has (one non-null value each; see `docs/eql.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<(usize, String)>,
    /// The key under which the event matches the `until` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// An in-flight sequence: its first event's time, last ordinal and events (ids into the event
/// table), one per positive stage matched so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Partial {
    start: i64,
    last: Ordinal,
    members: Vec<u64>,
    times: Vec<i64>,
}

/// Per join key: in-flight sequences per positive stage (sorted by last ordinal), `until`
/// ordinals, and the times of events matching each missing stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyState {
    groups: Vec<Vec<Partial>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    untils: Vec<Ordinal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    missing: Vec<Vec<i64>>,
    /// Completed sequences of this key waiting for their missing-event decision.
    #[serde(default)]
    pending: usize,
}

impl KeyState {
    fn open(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    fn is_idle(&self) -> bool {
        self.pending == 0 && self.open() == 0
    }
}

/// A sequence whose positive stages completed, waiting until its missing stages can be decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    key: String,
    members: Vec<u64>,
    times: Vec<i64>,
    /// Decided once the horizon (watermark − lateness) is past this time.
    deadline: i64,
}

/// The state of one sequence rule in one partition (serialized into partition snapshots).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SequenceState {
    keys: HashMap<String, KeyState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<Pending>,
    /// Events held by in-flight or pending sequences: id → (references, event). An event in
    /// several sequences (e.g. `with runs=N`) is stored once.
    events: HashMap<u64, (u32, StoredEvent)>,
    next_seq: u64,
    /// Sequences in flight (kept up to date so that the limit check is O(1)).
    #[serde(default)]
    open: usize,
}

/// A completed sequence: its events in stage order.
pub type Completed = Vec<StoredEvent>;

impl SequenceState {
    /// In-flight plus pending sequences.
    pub fn len(&self) -> usize {
        self.open + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sequences waiting for their missing-event decision.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The earliest deadline of a pending sequence: it is decided once the horizon is past it.
    pub fn next_deadline(&self) -> Option<i64> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Feeds one event (already accepted by the watermark: not late). `stored` is called at
    /// most once, when the event joins a sequence. Completed sequences (including earlier ones
    /// whose missing stages are now decided) are appended to `done`.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        spec: &SequenceSpec,
        input: &SeqInput,
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
        stored: impl FnOnce() -> Option<StoredEvent>,
        done: &mut Vec<Completed>,
    ) {
        let ord = Ordinal {
            time: input.time,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let mut stored = Some(stored);
        let mut event_id: Option<u64> = None;
        // `until` markers are kept only for keys with sequences in flight, as
        // `KeyToSequences.until` ignores unknown keys.
        if let Some(key) = &input.until {
            if let Some(ks) = self.keys.get_mut(key).filter(|k| k.open() > 0) {
                insert_sorted(&mut ks.untils, ord);
            }
        }
        for (stage, key) in &input.stages {
            if let Some(m) = spec.missing_index(*stage) {
                self.record_missing(spec, m, *stage, key, input.time);
            }
        }
        // Highest stage first: an event matching several stages (`runs`) extends the
        // sequences that were in flight before it, never one it just started.
        let mut positive: Vec<&(usize, String)> = input
            .stages
            .iter()
            .filter(|(s, _)| spec.positive_index(*s).is_some())
            .collect();
        positive.sort_by_key(|(stage, _)| std::cmp::Reverse(*stage));
        for (stage, key) in positive {
            let Some(pos) = spec.positive_index(*stage) else {
                continue;
            };
            let partial = if pos == 0 {
                Some(Partial {
                    start: ord.time,
                    last: ord,
                    members: Vec::new(),
                    times: Vec::new(),
                })
            } else {
                self.advance(spec, pos, key, ord)
            };
            let Some(mut partial) = partial else {
                continue;
            };
            let id = match event_id {
                Some(id) => id,
                None => match stored.take().and_then(|f| f()) {
                    Some(event) => {
                        // One reference held by this call until its end, so that a sequence
                        // completing (and releasing its events) does not drop the event
                        // before the lower stages have taken it.
                        self.events.insert(ord.seq, (1, event));
                        event_id = Some(ord.seq);
                        ord.seq
                    }
                    None => {
                        // The event could not be kept (not JSON): it joins no sequence.
                        self.release(&partial.members);
                        continue;
                    }
                },
            };
            if let Some((refs, _)) = self.events.get_mut(&id) {
                *refs += 1;
            }
            partial.members.push(id);
            partial.times.push(ord.time);
            partial.last = ord;
            if pos + 1 == spec.positive_count() {
                self.complete(spec, key, partial, done);
            } else {
                self.make_room(spec, horizon, limits, stats);
                let ks = self.key_mut(spec, key);
                let Some(group) = ks.groups.get_mut(pos) else {
                    continue;
                };
                let at = group.partition_point(|p| p.last <= partial.last);
                group.insert(at, partial);
                self.open += 1;
            }
        }
        if let Some(id) = event_id {
            self.release(&[id]);
        }
        self.decide(spec, horizon, done);
    }

    /// Takes the sequence that a hit at positive stage `pos` extends, if any (see the module
    /// documentation), after the `maxspan` and `until` checks.
    fn advance(
        &mut self,
        spec: &SequenceSpec,
        pos: usize,
        key: &str,
        ord: Ordinal,
    ) -> Option<Partial> {
        let ks = self.keys.get_mut(key)?;
        let group = ks.groups.get_mut(pos.checked_sub(1)?)?;
        // `OrdinalGroup.trimBefore`: the latest sequence strictly before the hit; it and every
        // earlier one leave the group.
        let n = group.partition_point(|p| p.last < ord);
        if n == 0 {
            return None;
        }
        let mut taken: Vec<Partial> = group.drain(..n).collect();
        self.open = self.open.saturating_sub(n);
        let partial = taken.pop()?;
        let dropped: Vec<u64> = taken.into_iter().flat_map(|p| p.members).collect();
        let until = ks.untils.iter().rev().find(|u| **u < ord).copied();
        self.release(&dropped);
        // `SequenceMatcher.exceedsMaxSpan`: more than `maxspan` after the first event.
        let too_late = spec
            .maxspan_ms
            .is_some_and(|m| ord.time.saturating_sub(partial.start) > m);
        // `Ordinal.between`: an `until` at or after the sequence's last event, before the hit.
        let cut = until.is_some_and(|u| u >= partial.last);
        if too_late || cut {
            self.release(&partial.members);
            self.drop_key_if_idle(key);
            return None;
        }
        Some(partial)
    }

    fn complete(
        &mut self,
        spec: &SequenceSpec,
        key: &str,
        partial: Partial,
        done: &mut Vec<Completed>,
    ) {
        if !spec.has_missing() {
            done.push(self.materialize(&partial.members));
            self.release(&partial.members);
            self.drop_key_if_idle(key);
            return;
        }
        let end = partial.last.time;
        let deadline = match (spec.has_trailing_missing(), spec.maxspan_ms) {
            (true, Some(m)) => partial.start.saturating_add(m),
            _ => end,
        };
        self.key_mut(spec, key).pending += 1;
        self.pending.push(Pending {
            key: key.to_string(),
            members: partial.members,
            times: partial.times,
            deadline,
        });
    }

    /// Decides the pending sequences whose deadline the horizon has passed.
    pub fn decide(&mut self, spec: &SequenceSpec, horizon: i64, done: &mut Vec<Completed>) {
        if self.pending.iter().all(|p| p.deadline >= horizon) {
            return;
        }
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deadline < horizon);
        self.pending = waiting;
        for p in ready {
            let keep = self
                .keys
                .get(&p.key)
                .is_some_and(|ks| missing_allows(spec, ks, &p.times));
            if keep {
                done.push(self.materialize(&p.members));
            }
            self.release(&p.members);
            if let Some(ks) = self.keys.get_mut(&p.key) {
                ks.pending = ks.pending.saturating_sub(1);
            }
            self.drop_key_if_idle(&p.key);
        }
    }

    /// Drops what no future event can use: sequences that started more than `maxspan` before
    /// the horizon, `until` markers before every in-flight sequence, old missing-stage times.
    pub fn expire(&mut self, spec: &SequenceSpec, horizon: i64, stats: &mut StatefulStats) {
        let Some(maxspan) = spec.maxspan_ms else {
            return;
        };
        let oldest = horizon.saturating_sub(maxspan);
        let mut released = Vec::new();
        let mut removed = 0usize;
        for ks in self.keys.values_mut() {
            for group in &mut ks.groups {
                group.retain(|p| {
                    let keep = p.start >= oldest;
                    if !keep {
                        removed += 1;
                        released.extend_from_slice(&p.members);
                    }
                    keep
                });
            }
            prune_key(ks, oldest);
        }
        stats.evicted_expired += removed as u64;
        self.open = self.open.saturating_sub(removed);
        self.release(&released);
        self.keys
            .retain(|_, ks| !ks.is_idle() || ks.missing.iter().any(|m| !m.is_empty()));
    }

    /// When the rule is at its limit of sequences: drops expired ones, then the oldest tenth.
    fn make_room(
        &mut self,
        spec: &SequenceSpec,
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
    ) {
        let limit = limits.max_sequences_per_rule.max(1);
        if self.len() < limit {
            return;
        }
        self.expire(spec, horizon, stats);
        let len = self.len();
        if len < limit {
            return;
        }
        let drop = len.saturating_sub(limit - limit / 10 - 1).max(1);
        let mut starts: Vec<i64> = self
            .keys
            .values()
            .flat_map(|ks| ks.groups.iter().flatten().map(|p| p.start))
            .collect();
        if starts.is_empty() {
            return;
        }
        let drop = drop.min(starts.len());
        let (_, cut, _) = starts.select_nth_unstable(drop - 1);
        let cut = *cut;
        let mut dropped = 0usize;
        let mut released = Vec::new();
        for ks in self.keys.values_mut() {
            for group in &mut ks.groups {
                group.retain(|p| {
                    if dropped < drop && p.start <= cut {
                        dropped += 1;
                        released.extend_from_slice(&p.members);
                        false
                    } else {
                        true
                    }
                });
            }
        }
        stats.evicted_by_limit += dropped as u64;
        self.open = self.open.saturating_sub(dropped);
        self.release(&released);
        self.keys
            .retain(|_, ks| !ks.is_idle() || ks.missing.iter().any(|m| !m.is_empty()));
    }

    fn record_missing(&mut self, spec: &SequenceSpec, m: usize, stage: usize, key: &str, t: i64) {
        // Leading missing events matter before any sequence exists; the others only for keys
        // with sequences in flight or pending.
        let leading = stage < spec.first_positive_stage();
        if !leading && self.keys.get(key).is_none_or(KeyState::is_idle) {
            return;
        }
        let ks = self.key_mut(spec, key);
        let Some(times) = ks.missing.get_mut(m) else {
            return;
        };
        let at = times.partition_point(|x| *x <= t);
        times.insert(at, t);
        // Without `maxspan` nothing expires them by time; keep the latest few.
        if spec.maxspan_ms.is_none() && times.len() > MAX_MISSING_TIMES {
            times.remove(0);
        }
    }

    fn key_mut(&mut self, spec: &SequenceSpec, key: &str) -> &mut KeyState {
        let SequenceState { keys, open, .. } = self;
        let ks = keys.entry(key.to_string()).or_default();
        // Sized for the spec (a snapshot of an edited rule may hold other sizes; sequences of
        // stages the rule no longer has are dropped, their events stay until expiry).
        let stages = spec.positive_count().saturating_sub(1);
        let dropped: usize = ks.groups.iter().skip(stages).map(Vec::len).sum();
        ks.groups.resize_with(stages, Vec::new);
        ks.missing.resize_with(spec.missing_count(), Vec::new);
        *open = open.saturating_sub(dropped);
        ks
    }

    fn drop_key_if_idle(&mut self, key: &str) {
        if self
            .keys
            .get(key)
            .is_some_and(|ks| ks.is_idle() && ks.missing.iter().all(Vec::is_empty))
        {
            self.keys.remove(key);
        } else if let Some(ks) = self.keys.get_mut(key) {
            if ks.open() == 0 {
                ks.untils.clear();
            }
        }
    }

    fn materialize(&self, members: &[u64]) -> Completed {
        members
            .iter()
            .filter_map(|id| self.events.get(id).map(|(_, e)| e.clone()))
            .collect()
    }

    fn release(&mut self, members: &[u64]) {
        for id in members {
            if let Some((refs, _)) = self.events.get_mut(id) {
                *refs = refs.saturating_sub(1);
                if *refs == 0 {
                    self.events.remove(id);
                }
            }
        }
    }

    /// Distinct events held (for the memory figures).
    pub fn stored_events(&self) -> usize {
        self.events.len()
    }
}

/// Without `maxspan`, the latest missing-stage times kept per key and stage.
const MAX_MISSING_TIMES: usize = 64;

fn insert_sorted(list: &mut Vec<Ordinal>, ord: Ordinal) {
    let at = list.partition_point(|x| *x <= ord);
    list.insert(at, ord);
}

/// Drops `until` markers before every in-flight sequence of the key and missing-stage times
/// older than `oldest` (no sequence that can still complete reaches back to them).
fn prune_key(ks: &mut KeyState, oldest: i64) {
    let first_last = ks.groups.iter().flatten().map(|p| p.last).min();
    match first_last {
        Some(first) => ks.untils.retain(|u| *u >= first),
        None => ks.untils.clear(),
    }
    for times in &mut ks.missing {
        let cut = times.partition_point(|t| *t < oldest);
        times.drain(..cut);
    }
}

/// `TumblingWindow.doCheckMissingEvents`: whether a sequence whose positive events happened at
/// `times` (in positive-stage order) survives its missing stages.
fn missing_allows(spec: &SequenceSpec, ks: &KeyState, times: &[i64]) -> bool {
    let (Some(&start), Some(&end)) = (times.first(), times.last()) else {
        return false;
    };
    let mut last_leading: Option<i64> = None;
    let mut first_trailing: Option<i64> = None;
    for (stage, &missing) in spec.stages.iter().enumerate() {
        if !missing {
            continue;
        }
        let Some(m) = spec.missing_index(stage) else {
            continue;
        };
        let Some(seen) = ks.missing.get(m) else {
            continue;
        };
        if stage < spec.first_positive_stage() {
            // Latest event strictly before the start (`range.lt(start)`, sorted DESC, size 1).
            if let Some(t) = seen.iter().rev().find(|t| **t < start) {
                last_leading = Some(last_leading.map_or(*t, |l| l.max(*t)));
            }
        } else if stage > spec.last_positive_stage() {
            // Earliest event strictly after the end (`range.gt(end)`, sorted ASC, size 1).
            if let Some(t) = seen.iter().find(|t| **t > end) {
                first_trailing = Some(first_trailing.map_or(*t, |f| f.min(*t)));
            }
        } else {
            // Strictly between the neighbouring positive events: the sequence is discarded.
            let (before, after) = spec.neighbours(stage, times);
            if seen.iter().any(|t| *t > before && *t < after) {
                return false;
            }
        }
    }
    let exceeds = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(f), Some(t)) => spec.maxspan_ms.is_some_and(|m| t.saturating_sub(f) > m),
        _ => true,
    };
    let first_missing = spec.stages.first().copied().unwrap_or(false);
    let last_missing = spec.stages.last().copied().unwrap_or(false);
    (first_trailing.is_none() && last_leading.is_none())
        || (last_leading.is_none() && first_missing)
        || (first_trailing.is_none() && last_missing)
        || (first_missing && last_missing && exceeds(last_leading, first_trailing))
        || (first_missing && !last_missing && exceeds(last_leading, Some(end)))
        || (!first_missing && last_missing && exceeds(Some(start), first_trailing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(time: i64, stages: &[usize], key: &str) -> SeqInput {
        SeqInput {
            time,
            stages: stages.iter().map(|s| (*s, key.to_string())).collect(),
            until: None,
        }
    }

    fn stored(n: i64) -> impl FnOnce() -> Option<StoredEvent> {
        move || {
            Some(StoredEvent {
                json: format!("{{\"n\":{n}}}"),
                index: "i".into(),
                id: n.to_string(),
            })
        }
    }

    /// Observes event `n` of key "u" at `time` (ms) for `stage`, horizon 0, default limits.
    fn observe_u(
        s: &mut SequenceState,
        spec: &SequenceSpec,
        time: i64,
        stage: usize,
        n: i64,
        done: &mut Vec<Completed>,
    ) {
        let mut stats = StatefulStats::default();
        let input = input(time, &[stage], "u");
        s.observe(
            spec,
            &input,
            0,
            &Limits::default(),
            &mut stats,
            stored(n),
            done,
        );
    }

    fn ids(done: &[Completed]) -> Vec<Vec<String>> {
        done.iter()
            .map(|c| c.iter().map(|e| e.id.clone()).collect())
            .collect()
    }

    #[test]
    fn leading_missing_event_within_maxspan_discards() {
        let spec = SequenceSpec::new(vec![true, false, false], Some(600_000), false);
        let mut s = SequenceState::default();
        let mut done = Vec::new();
        observe_u(&mut s, &spec, 0, 0, 1, &mut done);
        observe_u(&mut s, &spec, 100_000, 1, 2, &mut done);
        observe_u(&mut s, &spec, 110_000, 2, 3, &mut done);
        assert_eq!(s.pending_len(), 1);
        s.decide(&spec, 200_000, &mut done);
        assert_eq!(ids(&done), Vec::<Vec<String>>::new());
        // Without the leading event the sequence is kept.
        let mut s = SequenceState::default();
        observe_u(&mut s, &spec, 100_000, 1, 2, &mut done);
        observe_u(&mut s, &spec, 110_000, 2, 3, &mut done);
        s.decide(&spec, 200_000, &mut done);
        assert_eq!(ids(&done), vec![vec!["2".to_string(), "3".to_string()]]);
        assert_eq!(s.stored_events(), 0, "released after the decision");
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn the_count_of_open_sequences_follows_every_change() {
        let spec = SequenceSpec::new(vec![false, false, false], Some(600_000), false);
        let (mut stats, mut done) = (StatefulStats::default(), Vec::new());
        let limits = Limits {
            max_sequences_per_rule: 10,
            ..Limits::default()
        };
        let mut s = SequenceState::default();
        let counted = |s: &SequenceState| s.keys.values().map(KeyState::open).sum::<usize>();
        for i in 0..50i64 {
            let key = format!("k{}", i % 7);
            let stages: &[usize] = if i % 3 == 0 { &[0] } else { &[1, 2] };
            s.observe(
                &spec,
                &input(i * 1000, stages, &key),
                i * 1000,
                &limits,
                &mut stats,
                stored(i),
                &mut done,
            );
            assert_eq!(s.len(), counted(&s), "after event {i}");
            assert!(s.len() <= 10);
        }
        s.expire(&spec, 10_000_000, &mut stats);
        assert_eq!((s.len(), counted(&s), s.stored_events()), (0, 0, 0));
    }

    #[test]
    fn state_from_an_edited_rule_never_panics_and_round_trips() {
        let three = SequenceSpec::new(vec![false, false, true, false], Some(600_000), true);
        let two = SequenceSpec::new(vec![false, false], Some(600_000), false);
        let (limits, mut stats, mut done) =
            (Limits::default(), StatefulStats::default(), Vec::new());
        let mut s = SequenceState::default();
        for (i, stages) in [&[0usize][..], &[1], &[2], &[0, 1, 3]].iter().enumerate() {
            let t = i as i64 * 1000;
            s.observe(
                &three,
                &input(t, stages, "k"),
                0,
                &limits,
                &mut stats,
                stored(t),
                &mut done,
            );
        }
        let text = serde_json::to_string(&s).unwrap_or_default();
        let mut back: SequenceState = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back.len(), s.len());
        // The rule now has fewer stages: old sequences are dropped or completed, no panic.
        for (i, stages) in [&[0usize, 1][..], &[1], &[3], &[5]].iter().enumerate() {
            let t = 10_000 + i as i64 * 1000;
            back.observe(
                &two,
                &input(t, stages, "k"),
                0,
                &limits,
                &mut stats,
                stored(t),
                &mut done,
            );
        }
        back.decide(&two, i64::MAX, &mut done);
        back.expire(&two, i64::MAX / 2, &mut stats);
    }
}
