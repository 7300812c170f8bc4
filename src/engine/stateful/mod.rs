//! Stateful detections: threshold and new_terms rules, and alert suppression, in event time,
//! with bounded state that can be persisted per input partition (design: `docs/stateful.md`).
//!
//! Design: the [`super::ruleset::Engine`] compiles these rules' KQL like any query rule, and
//! hands each match to the [`Runtime`] its evaluator owns. State is kept per input partition
//! ([`PartitionKey`]) — a partition is processed by one evaluator at a time, so no locks — with
//! the offset of the last event folded in, and per rule its watermark (latest event time
//! seen). Each rule's state is keyed by `rule_id`, so it survives restarts and rule edits that
//! keep the id. Everything is bounded by [`Limits`]; expired entries are dropped first, then the
//! oldest, and both are counted in [`StatefulStats`].

mod apply;
mod eql;
pub mod new_terms;
mod spec;
pub mod store;
pub mod suppression;
pub mod threshold;
pub mod time;

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::sequence::{ExactPass, SequenceState};
use super::{AlertOut, EventError, EventOrigin};
use crate::alert::{Ancestor, RuleTemplate};
use crate::rules::Rule;

pub use apply::{combinations, field_terms};
use apply::{push_update, Cx};
use new_terms::NewTermsState;
pub use spec::{
    Learning, Limits, RuleKind, RuleSpec, StatefulSettings, StatefulStats,
    DEFAULT_ALLOWED_LATENESS_MS,
};
pub use store::{PartitionSnapshot, StateError, StateStore};
use suppression::SuppressionState;
use threshold::ThresholdState;

/// An input partition: Kafka topic and partition; file input uses topic `""`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

/// Everything stateful about one input partition; what a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionState {
    /// Offset of the last event folded into this state (`None` for file input).
    pub offset: Option<i64>,
    /// `rule_id` → that rule's state.
    rules: HashMap<String, RuleState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RuleState {
    /// Latest event time this rule has seen in the partition (ms). Per rule, because rules
    /// may read different time fields (`timestamp_override` or `@timestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<ThresholdState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_terms: Option<NewTermsState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suppression: Option<SuppressionState>,
    /// EQL sequences in flight (see `crate::engine::sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence: Option<SequenceState>,
    /// The sequence rule's exact pass (`crate::engine::sequence::exact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exact: Option<ExactPass>,
    /// Horizon of the last expiry pass (passes run once per window length of event time).
    #[serde(default)]
    expired_at: Option<i64>,
}

impl RuleState {
    /// Bounds the state in time: once per `period` of event time, drops what expired.
    fn expire(&mut self, kind: &RuleKind, horizon: i64, stats: &mut StatefulStats) {
        let period = match kind {
            RuleKind::Threshold(s) => s.window_ms,
            RuleKind::NewTerms(s) => s.history_ms,
            // Sequences expire after `maxspan`; without it only the limit bounds them.
            RuleKind::Sequence(s) => match s.maxspan_ms {
                Some(m) => m,
                None => return,
            },
            RuleKind::Query => return,
        };
        let last = *self.expired_at.get_or_insert(horizon);
        if horizon.saturating_sub(last) < period {
            return;
        }
        self.expired_at = Some(horizon);
        match kind {
            RuleKind::Threshold(s) => {
                if let Some(t) = &mut self.threshold {
                    t.expire(s, horizon, stats);
                }
            }
            RuleKind::NewTerms(s) => {
                if let Some(n) = &mut self.new_terms {
                    n.expire(s, horizon, stats);
                }
            }
            RuleKind::Sequence(s) => {
                if let Some(q) = &mut self.sequence {
                    q.expire(s, horizon, stats);
                }
            }
            RuleKind::Query => {}
        }
    }
}

/// State sizes, summed over partitions and rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSizes {
    pub partitions: usize,
    pub threshold_groups: usize,
    pub new_terms: usize,
    pub suppression_groups: usize,
    /// EQL sequences in flight or waiting for their missing-event decision.
    pub sequences: usize,
    /// Distinct events those sequences hold.
    pub sequence_events: usize,
}

/// A threshold rule's inputs read from the event without parsing it whole (the event reader's
/// values; see [`crate::engine::ruleset`]): event time, the group-by fields' values, the
/// cardinality field's values — each list sorted and deduplicated like [`field_terms`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThresholdInput {
    pub time_ms: Option<i64>,
    pub values: ThresholdValues,
}

/// Group-by value lists (in field order) and cardinality values of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThresholdValues {
    pub lists: Vec<Vec<String>>,
    pub card: Vec<String>,
}

/// What a match provides: the parsed event, or a threshold rule's pre-read values.
enum Input<'a> {
    Event {
        event: &'a Map<String, Value>,
        ancestor: &'a Ancestor,
    },
    Threshold(ThresholdInput),
}

/// One matched rule, as the runtime needs it.
pub struct RuleRef<'a> {
    pub rule: &'a Rule,
    pub spec: &'a RuleSpec,
    pub template: &'a RuleTemplate,
}

/// The stateful side of one evaluator: its partitions' state.
pub struct Runtime {
    settings: StatefulSettings,
    store: Option<StateStore>,
    partitions: Vec<(PartitionKey, PartitionState, bool)>,
    /// Index of the partition of the previous event (events come in runs per partition).
    last: usize,
    stats: StatefulStats,
    /// `eval --learn`: new_terms rules record every term and alert on none.
    learn_only: bool,
    /// EQL sequence rules (by `rule_id`) → sequences in flight or pending over all
    /// partitions: later steps of a rule without any are not evaluated.
    sequences_open: HashMap<String, usize>,
    /// The earliest event time at which a pending sequence can be decided (its deadline plus
    /// the allowed lateness), over all partitions: the evaluator feeds event times to the
    /// rules with missing-event stages only after it.
    next_decision: Option<i64>,
}

impl Runtime {
    pub fn new(settings: StatefulSettings) -> Result<Runtime, StateError> {
        let store = match &settings.state_dir {
            Some(dir) => Some(StateStore::open(dir)?),
            None => None,
        };
        Ok(Runtime {
            settings,
            store,
            partitions: Vec::new(),
            last: 0,
            stats: StatefulStats::default(),
            learn_only: false,
            sequences_open: HashMap::new(),
            next_decision: None,
        })
    }

    pub fn set_learn_only(&mut self, on: bool) {
        self.learn_only = on;
    }

    pub fn stats(&self) -> &StatefulStats {
        &self.stats
    }

    pub fn sizes(&self) -> StateSizes {
        let mut s = StateSizes {
            partitions: self.partitions.len(),
            ..StateSizes::default()
        };
        for (_, p, _) in &self.partitions {
            for r in p.rules.values() {
                s.threshold_groups += r.threshold.as_ref().map_or(0, ThresholdState::len);
                s.new_terms += r.new_terms.as_ref().map_or(0, NewTermsState::len);
                s.suppression_groups += r.suppression.as_ref().map_or(0, SuppressionState::len);
                s.sequences += r.sequence.as_ref().map_or(0, SequenceState::len);
                s.sequence_events += r.sequence.as_ref().map_or(0, SequenceState::stored_events);
                if let Some(x) = &r.exact {
                    s.sequences += x.len();
                    s.sequence_events += x.stored_events() + x.buffered();
                }
            }
        }
        s
    }

    /// The partition of `origin`, loading its snapshot on first sight.
    fn partition(&mut self, origin: &EventOrigin<'_>) -> usize {
        let topic = origin.topic.unwrap_or("");
        let hit = |(k, _, _): &(PartitionKey, PartitionState, bool)| {
            k.partition == origin.partition && k.topic == topic
        };
        if self.partitions.get(self.last).is_some_and(hit) {
            return self.last;
        }
        if let Some(i) = self.partitions.iter().position(hit) {
            self.last = i;
            return i;
        }
        let key = PartitionKey {
            topic: topic.to_string(),
            partition: origin.partition,
        };
        let state = match self.store.as_ref().map(|s| s.load(&key)) {
            Some(Ok(Some(state))) => state,
            Some(Err(error)) => {
                self.stats.load_errors += 1;
                tracing::error!(%error, "Partition state not loaded; starting it empty.");
                PartitionState::default()
            }
            _ => PartitionState::default(),
        };
        self.partitions.push((key, state, false));
        // Sequences restored from a snapshot: in flight, or waiting for a decision.
        self.restored_sequences(self.partitions.len() - 1);
        self.last = self.partitions.len() - 1;
        self.last
    }

    /// Called once per event before its matches: `None` when the event is at or below the
    /// partition's snapshot offset (a replay after restart: its effect is already in the
    /// state, so stateful rules skip it); otherwise records the offset and returns the
    /// partition to pass to [`Runtime::on_match`]. File input (no topic) has no offsets.
    pub fn begin(&mut self, origin: &EventOrigin<'_>) -> Option<usize> {
        let i = self.partition(origin);
        if origin.topic.is_some() {
            let (_, state, dirty) = &mut self.partitions[i];
            if state.offset.is_some_and(|o| origin.offset <= o) {
                self.stats.replayed_skipped += 1;
                return None;
            }
            state.offset = Some(origin.offset);
            *dirty = true;
        }
        Some(i)
    }

    /// Feeds one match of a stateful rule; alerts (new ones and re-emitted suppressed ones)
    /// go to `out`.
    pub fn on_match(
        &mut self,
        part: usize,
        r: RuleRef<'_>,
        event: &Map<String, Value>,
        ancestor: &Ancestor,
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        self.apply(part, r, Input::Event { event, ancestor }, now, out)
    }

    /// [`Runtime::on_match`] for a threshold rule (without suppression) whose inputs were read
    /// from the event view: no JSON parse needed, the alert is built from a synthetic document.
    pub fn on_threshold_match(
        &mut self,
        part: usize,
        r: RuleRef<'_>,
        input: ThresholdInput,
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        self.apply(part, r, Input::Threshold(input), now, out)
    }

    fn apply(
        &mut self,
        part: usize,
        r: RuleRef<'_>,
        input: Input<'_>,
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        static EMPTY: std::sync::OnceLock<(Map<String, Value>, Ancestor)> =
            std::sync::OnceLock::new();
        let (event, ancestor, read, t) = match input {
            Input::Event { event, ancestor } => (
                event,
                ancestor,
                None,
                time::event_time_ms(event, r.spec.time_field.as_deref()),
            ),
            Input::Threshold(i) => {
                let (e, a) = EMPTY.get_or_init(|| {
                    let a = Ancestor {
                        index: String::new(),
                        id: String::new(),
                    };
                    (Map::new(), a)
                });
                (e, a, Some(i.values), i.time_ms)
            }
        };
        let Some(t) = t else {
            self.stats.no_event_time += 1;
            return Ok(());
        };
        let Runtime {
            settings,
            partitions,
            stats,
            learn_only,
            ..
        } = self;
        let Some((_, state, dirty)) = partitions.get_mut(part) else {
            return Ok(());
        };
        *dirty = true;
        let lateness = settings.allowed_lateness_ms;
        let rs = state.rules.entry(r.rule.rule_id.clone()).or_default();
        if rs.watermark.is_some_and(|w| t < w.saturating_sub(lateness)) {
            stats.late_events += 1;
            return Ok(());
        }
        let watermark = rs.watermark.map_or(t, |w| w.max(t));
        rs.watermark = Some(watermark);
        let horizon = watermark.saturating_sub(lateness);
        rs.expire(&r.spec.kind, horizon, stats);
        let mut cx = Cx {
            r: &r,
            event,
            ancestor,
            now,
            limits: &settings.limits,
            stats,
            out,
        };
        match &r.spec.kind {
            RuleKind::Query => cx.query(rs, t)?,
            RuleKind::Threshold(spec) => cx.threshold(rs, spec, t, (watermark, horizon), read)?,
            // Sequence rules come through `Runtime::on_sequence`.
            RuleKind::Sequence(_) => {}
            RuleKind::NewTerms(spec) => {
                let learning = *learn_only
                    || match settings.learning {
                        Learning::Off => false,
                        Learning::Period(p) => still_learning(learning_until(rs, p), t),
                        Learning::HistoryWindow => {
                            still_learning(learning_until(rs, spec.history_ms), t)
                        }
                    };
                cx.new_terms(rs, spec, t, horizon, learning)?
            }
        }
        if let Some(supp) = &mut rs.suppression {
            let mut updates = Vec::new();
            supp.sweep(horizon, now.timestamp_millis(), &mut updates);
            for u in updates {
                push_update(cx.out, u)?;
            }
        }
        Ok(())
    }

    /// Re-emits every suppressed alert with unsent folds (windows stay open). For the end of a
    /// file run, and for the pipeline on a timer and at shutdown.
    pub fn flush(&mut self, now: DateTime<Utc>, out: &mut Vec<AlertOut>) -> Result<(), EventError> {
        let mut updates = Vec::new();
        for (_, state, dirty) in &mut self.partitions {
            for rs in state.rules.values_mut() {
                if let Some(s) = &mut rs.suppression {
                    let before = updates.len();
                    s.flush(now.timestamp_millis(), &mut updates);
                    *dirty |= updates.len() > before;
                }
            }
        }
        for u in updates {
            push_update(out, u)?;
        }
        Ok(())
    }

    /// The snapshot of one partition (serialized now; write it with [`StateStore::write`] once
    /// every output of the events up to its offset is acknowledged).
    pub fn snapshot(&self, topic: Option<&str>, partition: i32) -> Option<PartitionSnapshot> {
        let topic = topic.unwrap_or("");
        self.partitions
            .iter()
            .find(|(k, _, _)| k.partition == partition && k.topic == topic)
            .map(|(k, s, _)| StateStore::snapshot(k, s))
    }

    /// Writes every partition changed since its last write; returns how many were written.
    pub fn checkpoint_all(&mut self) -> Result<usize, StateError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let mut written = 0;
        for (key, state, dirty) in &mut self.partitions {
            if *dirty {
                store.write(&StateStore::snapshot(key, state))?;
                *dirty = false;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Drops a partition's in-memory state without writing it. The stage calls this when a
    /// partition comes back after a rebalance: what it held may be ahead of the last snapshot
    /// written (and of the committed offset), so the partition restarts from that snapshot,
    /// loaded again on its next event, and the redelivered events rebuild the rest.
    pub fn forget(&mut self, topic: Option<&str>, partition: i32) {
        let topic = topic.unwrap_or("");
        if let Some(i) = self
            .partitions
            .iter()
            .position(|(k, _, _)| k.partition == partition && k.topic == topic)
        {
            self.partitions.swap_remove(i);
            self.last = 0;
        }
    }

    /// Forgets a partition (after writing it), e.g. when a rebalance moves it elsewhere.
    pub fn release(&mut self, topic: Option<&str>, partition: i32) -> Result<(), StateError> {
        let topic = topic.unwrap_or("");
        if let Some(i) = self
            .partitions
            .iter()
            .position(|(k, _, _)| k.partition == partition && k.topic == topic)
        {
            let (key, state, dirty) = self.partitions.swap_remove(i);
            if let (Some(store), true) = (&self.store, dirty) {
                store.write(&StateStore::snapshot(&key, &state))?;
            }
            self.last = 0;
        }
        Ok(())
    }
}

/// End of the learning period of a new_terms rule (`None` before its first event).
fn learning_until(rs: &RuleState, period: i64) -> Option<i64> {
    rs.new_terms
        .as_ref()
        .and_then(|n| n.first_event_ms)
        .map(|first| first.saturating_add(period))
}

/// Whether `t` is inside the learning period ending at `until`. A rule that has seen nothing
/// yet is learning (its first event starts the period).
fn still_learning(until: Option<i64>, t: i64) -> bool {
    until.is_none_or(|until| t < until)
}

/// Drops entries older than `expired` (by `age`); if the map is still at `limit`, drops the
/// oldest tenth so that the next evictions are far apart (amortized O(1) per insert).
pub(crate) fn evict_to_limit<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    age: impl Fn(&V) -> i64,
    expired: i64,
    stats: &mut StatefulStats,
) {
    let before = map.len();
    map.retain(|_, v| age(v) >= expired);
    stats.evicted_expired += (before - map.len()) as u64;
    if map.len() < limit {
        return;
    }
    let target = limit - limit / 10 - 1;
    let drop = map.len().saturating_sub(target).max(1);
    let mut ages: Vec<i64> = map.values().map(&age).collect();
    let (_, cut, _) = ages.select_nth_unstable(drop - 1);
    let cut = *cut;
    let mut dropped = 0usize;
    map.retain(|_, v| {
        if dropped < drop && age(v) <= cut {
            dropped += 1;
            false
        } else {
            true
        }
    });
    stats.evicted_by_limit += dropped as u64;
}
