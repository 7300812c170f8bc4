//! Stateful detections: threshold and new_terms rules, and alert suppression, in event time,
//! with bounded state that can be persisted per input partition (design: `docs/stateful.md`).
//!
//! Design: the [`super::ruleset::Engine`] compiles these rules' KQL like any query rule, and
//! hands each match to the [`Runtime`] its evaluator owns. State is kept per input partition
//! ([`PartitionKey`]) — a partition is processed by one evaluator at a time, so no locks — with
//! the partition's watermark (latest event time seen) and the offset of the last event folded
//! in. Each rule's state is keyed by `rule_id`, so it survives restarts and rule edits that keep
//! the id. Everything is bounded by [`Limits`]; expired entries are dropped first, then the
//! oldest, and both are counted in [`StatefulStats`].

pub mod new_terms;
pub mod store;
pub mod suppression;
pub mod threshold;
pub mod time;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{AlertOut, EventError, EventOrigin};
use crate::alert::{
    add_suppression_fields, get_path, new_terms_alert_id, query_suppressed_alert_id,
    suppression_instance_id, threshold_suppressed_alert_id, threshold_synthetic_id, Alert,
    Ancestor, RuleTemplate,
};
use crate::rules::{MissingFieldsStrategy, Rule, RuleType};

use new_terms::{NewTermsSpec, NewTermsState, KEY_SEPARATOR};
pub use store::{PartitionSnapshot, StateError, StateStore};
use suppression::{Fold, SuppressionSpec, SuppressionState, SuppressionWindow, Update};
use threshold::{ThresholdSpec, ThresholdState};

/// Most value combinations one event can contribute (arrays in several group-by fields
/// multiply); more are ignored rather than letting one event blow up the state.
const MAX_COMBINATIONS: usize = 64;

/// Size limits of the state of one rule in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Threshold groups.
    pub max_groups_per_rule: usize,
    /// Events kept per threshold group (only cardinality rules keep many).
    pub max_events_per_group: usize,
    /// new_terms tuples (the history).
    pub max_terms_per_rule: usize,
    /// Open suppression windows.
    pub max_suppression_groups_per_rule: usize,
}

impl Default for Limits {
    /// Sized so that one rule stays around 100 MB at most (≈ 100 bytes per new_terms tuple,
    /// measured by `examples/bench_stateful.rs`).
    fn default() -> Self {
        Limits {
            max_groups_per_rule: 100_000,
            max_events_per_group: 10_000,
            max_terms_per_rule: 1_000_000,
            max_suppression_groups_per_rule: 100_000,
        }
    }
}

/// When new_terms rules only learn (record terms without alerting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learning {
    /// Alert from the first event on (Kibana's behaviour with an already indexed history).
    Off,
    /// Learn for this long (ms of event time) after the rule's first event in a partition.
    Period(i64),
    /// Learn for one history window of the rule (e.g. 14 days) after its first event.
    HistoryWindow,
}

/// Settings of the stateful rule types.
#[derive(Debug, Clone)]
pub struct StatefulSettings {
    /// How far (ms) an event may lag behind the partition's latest event time and still be
    /// counted; later events are dropped from stateful rules and counted as late.
    pub allowed_lateness_ms: i64,
    pub limits: Limits,
    pub learning: Learning,
    /// Where partition snapshots are kept (`None`: in memory only).
    pub state_dir: Option<PathBuf>,
}

/// Five minutes: Okta's System Log API delivers events within about a minute of each other.
pub const DEFAULT_ALLOWED_LATENESS_MS: i64 = 5 * 60_000;

impl Default for StatefulSettings {
    /// 5 minutes of lateness, default limits, learning for one history window (a fresh
    /// deployment must not page on every user), no persistence.
    fn default() -> Self {
        StatefulSettings {
            allowed_lateness_ms: DEFAULT_ALLOWED_LATENESS_MS,
            limits: Limits::default(),
            learning: Learning::HistoryWindow,
            state_dir: None,
        }
    }
}

/// Counters of one evaluator's stateful work (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatefulStats {
    /// Matches older than watermark − allowed lateness: dropped from stateful rules.
    pub late_events: u64,
    /// Matches without a usable event time (neither the override field nor `@timestamp`).
    pub no_event_time: u64,
    /// Events at or below a partition's snapshot offset (a replay): not counted again.
    pub replayed_skipped: u64,
    /// State entries dropped because no future event can use them.
    pub evicted_expired: u64,
    /// State entries dropped because a limit was reached (this can lose detections).
    pub evicted_by_limit: u64,
    /// New terms recorded without an alert during learning.
    pub learned_terms: u64,
    /// Alerts folded into an earlier alert of their suppression group.
    pub suppressed: u64,
    /// Snapshots that could not be loaded (the partition started empty).
    pub load_errors: u64,
}

/// What a non-plain rule needs at match time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub suppression: Option<SuppressionSpec>,
    /// `timestamp_override` (falls back to `@timestamp`).
    pub time_field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// A query rule with alert suppression.
    Query,
    Threshold(ThresholdSpec),
    NewTerms(NewTermsSpec),
}

impl RuleSpec {
    /// The stateful part of `rule`: `Ok(None)` for a plain query rule, `Err(why)` when the rule
    /// cannot run (a missing section, a window that is not `now-<n><unit>`).
    pub fn from_rule(rule: &Rule) -> Result<Option<RuleSpec>, String> {
        let kind = match &rule.rule_type {
            RuleType::Query if rule.alert_suppression.is_none() => return Ok(None),
            RuleType::Query => RuleKind::Query,
            RuleType::Threshold => {
                let th = rule
                    .threshold
                    .as_ref()
                    .ok_or("threshold rule has no [rule.threshold]")?;
                let window_ms = time::lookback_ms(&rule.from).ok_or_else(|| {
                    format!(
                        "threshold look-back `from = {:?}` is not now-<n><unit>",
                        rule.from
                    )
                })?;
                RuleKind::Threshold(ThresholdSpec {
                    fields: th.field.clone(),
                    value: th.value,
                    cardinality: th.cardinality.first().map(|c| (c.field.clone(), c.value)),
                    window_ms,
                })
            }
            RuleType::NewTerms => {
                let nt = rule
                    .new_terms
                    .as_ref()
                    .ok_or("new_terms rule has no [rule.new_terms]")?;
                if nt.fields.is_empty() {
                    return Err("new_terms rule has no new_terms_fields".into());
                }
                let history_ms = time::lookback_ms(&nt.history_window_start).ok_or_else(|| {
                    format!(
                        "history_window_start {:?} is not now-<n><unit>",
                        nt.history_window_start
                    )
                })?;
                RuleKind::NewTerms(NewTermsSpec {
                    fields: nt.fields.clone(),
                    history_ms,
                })
            }
            other => return Err(format!("{other} rules are not stateful")),
        };
        let suppression = match (&rule.alert_suppression, &kind) {
            (None, _) => None,
            (Some(s), RuleKind::Threshold(th)) => s.duration.map(|d| SuppressionSpec {
                group_by: th.fields.clone(),
                window: SuppressionWindow::Duration(secs_ms(d.as_secs())),
                missing: MissingFieldsStrategy::Suppress,
            }),
            (Some(s), _) => {
                let window = match s.duration {
                    Some(d) => SuppressionWindow::Duration(secs_ms(d.as_secs())),
                    None => {
                        SuppressionWindow::Tumbling(time::duration_ms(&rule.interval).ok_or_else(
                            || format!("interval {:?} is not <n><unit>", rule.interval),
                        )?)
                    }
                };
                Some(SuppressionSpec {
                    group_by: s.group_by.clone(),
                    window,
                    missing: s.missing_fields_strategy,
                })
            }
        };
        Ok(Some(RuleSpec {
            kind,
            suppression,
            time_field: rule.timestamp_override.clone(),
        }))
    }
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

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
    /// Latest event time seen by a stateful rule (ms).
    pub watermark: Option<i64>,
    /// `rule_id` → that rule's state.
    rules: HashMap<String, RuleState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RuleState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<ThresholdState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_terms: Option<NewTermsState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suppression: Option<SuppressionState>,
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
        let Some(t) = time::event_time_ms(event, r.spec.time_field.as_deref()) else {
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
        if state
            .watermark
            .is_some_and(|w| t < w.saturating_sub(lateness))
        {
            stats.late_events += 1;
            return Ok(());
        }
        let watermark = state.watermark.map_or(t, |w| w.max(t));
        state.watermark = Some(watermark);
        let horizon = watermark.saturating_sub(lateness);
        let rs = state.rules.entry(r.rule.rule_id.clone()).or_default();
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
            RuleKind::Threshold(spec) => cx.threshold(rs, spec, t, horizon)?,
            RuleKind::NewTerms(spec) => {
                let learning = *learn_only
                    || match settings.learning {
                        Learning::Off => false,
                        Learning::Period(p) => learning_until(rs, p).is_none_or_gt(t),
                        Learning::HistoryWindow => {
                            learning_until(rs, spec.history_ms).is_none_or_gt(t)
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

trait NoneOrGt {
    fn is_none_or_gt(self, t: i64) -> bool;
}

impl NoneOrGt for Option<i64> {
    /// A rule that has seen nothing yet is learning (its first event starts the period).
    fn is_none_or_gt(self, t: i64) -> bool {
        self.map_or(true, |until| t < until)
    }
}

/// Per-match context.
struct Cx<'a, 'b> {
    r: &'a RuleRef<'b>,
    event: &'a Map<String, Value>,
    ancestor: &'a Ancestor,
    now: DateTime<Utc>,
    limits: &'a Limits,
    stats: &'a mut StatefulStats,
    out: &'a mut Vec<AlertOut>,
}

impl Cx<'_, '_> {
    fn template(&self) -> &RuleTemplate {
        self.r.template
    }

    fn query(&mut self, rs: &mut RuleState, t: i64) -> Result<(), EventError> {
        let Some(spec) = &self.r.spec.suppression else {
            let alert = self.template().build(self.event, self.ancestor, self.now);
            return push_alert(self.out, &self.r.rule.rule_id, alert);
        };
        let (terms, key, missing) = suppression_terms(self.event, &spec.group_by);
        if missing && spec.missing == MissingFieldsStrategy::DoNotSuppress {
            let alert = self.template().build(self.event, self.ancestor, self.now);
            return push_alert(self.out, &self.r.rule.rule_id, alert);
        }
        let (event, ancestor, now, template) =
            (self.event, self.ancestor, self.now, self.r.template);
        self.suppress(rs, spec, &key, (t, t), |(ws, we)| {
            let id = query_suppressed_alert_id(
                &ancestor.index,
                &ancestor.id,
                template.space_id(),
                template.rule_uuid(),
                &terms,
                (ms_time(ws), ms_time(we)),
            );
            let mut alert = template.build_with_id(event, ancestor, now, id);
            let instance =
                suppression_instance_id(&terms, template.rule_uuid(), template.space_id());
            add_suppression_fields(
                &mut alert.doc,
                &instance,
                &terms,
                (ms_time(t), ms_time(t)),
                0,
            );
            alert
        })
    }

    fn threshold(
        &mut self,
        rs: &mut RuleState,
        spec: &ThresholdSpec,
        t: i64,
        horizon: i64,
    ) -> Result<(), EventError> {
        // Kibana groups with a composite aggregation: a document missing a group-by field is
        // in no bucket; an array value puts it in one bucket per value (per combination).
        let lists: Vec<Vec<String>> = spec
            .fields
            .iter()
            .map(|f| field_terms(self.event, f))
            .collect();
        if lists.iter().any(Vec::is_empty) {
            return Ok(());
        }
        let card = match &spec.cardinality {
            Some((field, _)) => field_terms(self.event, field),
            None => Vec::new(),
        };
        for values in combinations(&lists) {
            let key = values.join(&KEY_SEPARATOR.to_string());
            let state = rs.threshold.get_or_insert_with(ThresholdState::default);
            let Some(f) = state.observe(
                spec,
                &key,
                &values,
                t,
                &card,
                horizon,
                self.limits,
                self.stats,
            ) else {
                continue;
            };
            let rule = self.r.rule;
            let template = self.r.template;
            let mut synthetic = Map::new();
            synthetic.insert("@timestamp".into(), time::iso_ms(f.to_ms).into());
            for (field, value) in spec.fields.iter().zip(&values) {
                synthetic.insert(field.clone(), value.clone().into());
            }
            let synthetic_id = threshold_synthetic_id(
                &rule.rule_id,
                ms_time(f.window_start_ms),
                &spec.fields,
                &values,
            );
            let parent = Ancestor {
                index: rule.index.join(","),
                id: synthetic_id,
            };
            let mut alert = template.build(&synthetic, &parent, self.now);
            let terms: Vec<Value> = spec
                .fields
                .iter()
                .zip(&values)
                .map(|(field, value)| json!({"field": field, "value": value}))
                .collect();
            let mut result = json!({
                "terms": terms,
                "count": f.count,
                "from": time::iso_ms(f.from_ms),
            });
            if let (Some((field, _)), Some(n)) = (&spec.cardinality, f.cardinality) {
                result["cardinality"] = json!([{"field": field, "value": n}]);
            }
            if let Value::Object(doc) = &mut alert.doc {
                doc.insert("kibana.alert.threshold_result".into(), result);
            }
            match &self.r.spec.suppression {
                None => push_alert(self.out, &rule.rule_id, alert)?,
                Some(supp) => {
                    let mut sorted = values.clone();
                    sorted.sort_unstable();
                    let instance = suppression_instance_id(
                        &json!(sorted),
                        template.rule_uuid(),
                        template.space_id(),
                    );
                    let id = threshold_suppressed_alert_id(
                        &parent.index,
                        &parent.id,
                        template.space_id(),
                        template.rule_uuid(),
                    );
                    let terms = Value::Array(terms);
                    let supp = supp.clone();
                    self.suppress(rs, &supp, &key, (f.from_ms, f.to_ms), move |_| {
                        reid(&mut alert, id);
                        add_suppression_fields(
                            &mut alert.doc,
                            &instance,
                            &terms,
                            (ms_time(f.from_ms), ms_time(f.to_ms)),
                            0,
                        );
                        alert
                    })?;
                }
            }
        }
        Ok(())
    }

    fn new_terms(
        &mut self,
        rs: &mut RuleState,
        spec: &NewTermsSpec,
        t: i64,
        horizon: i64,
        learning: bool,
    ) -> Result<(), EventError> {
        // A missing field gives no term (Kibana's terms aggregation / runtime field skip it).
        let lists: Vec<Vec<String>> = spec
            .fields
            .iter()
            .map(|f| field_terms(self.event, f))
            .collect();
        if lists.iter().any(Vec::is_empty) {
            return Ok(());
        }
        for values in combinations(&lists) {
            let key = values.join(&KEY_SEPARATOR.to_string());
            let state = rs.new_terms.get_or_insert_with(NewTermsState::default);
            if !state.observe(spec, &key, t, horizon, self.limits, self.stats) {
                continue;
            }
            if learning {
                self.stats.learned_terms += 1;
                continue;
            }
            let template = self.r.template;
            let id = new_terms_alert_id(
                &self.ancestor.index,
                &self.ancestor.id,
                template.space_id(),
                template.rule_uuid(),
                &values,
            );
            let mut alert = template.build_with_id(self.event, self.ancestor, self.now, id);
            if let Value::Object(doc) = &mut alert.doc {
                doc.insert("kibana.alert.new_terms".into(), json!(values));
            }
            let Some(supp) = self.r.spec.suppression.clone() else {
                push_alert(self.out, &self.r.rule.rule_id, alert)?;
                continue;
            };
            let (terms, skey, missing) = suppression_terms(self.event, &supp.group_by);
            if missing && supp.missing == MissingFieldsStrategy::DoNotSuppress {
                push_alert(self.out, &self.r.rule.rule_id, alert)?;
                continue;
            }
            let instance =
                suppression_instance_id(&terms, template.rule_uuid(), template.space_id());
            self.suppress(rs, &supp, &skey, (t, t), move |_| {
                add_suppression_fields(
                    &mut alert.doc,
                    &instance,
                    &terms,
                    (ms_time(t), ms_time(t)),
                    0,
                );
                alert
            })?;
        }
        Ok(())
    }

    /// Sends the alert `build` makes unless the group's open window absorbs it.
    fn suppress(
        &mut self,
        rs: &mut RuleState,
        spec: &SuppressionSpec,
        key: &str,
        (first, last): (i64, i64),
        build: impl FnOnce((i64, i64)) -> Alert,
    ) -> Result<(), EventError> {
        let state = rs.suppression.get_or_insert_with(SuppressionState::default);
        match state.offer(key, spec.window, first, last, self.now.timestamp_millis()) {
            Fold::Folded => {
                self.stats.suppressed += 1;
                Ok(())
            }
            Fold::Open { start, end, closed } => {
                if let Some(update) = closed {
                    push_update(self.out, update)?;
                }
                let alert = build((start, end));
                let rule_id = &self.r.rule.rule_id;
                push_alert(self.out, rule_id, alert.clone())?;
                state.opened(
                    key,
                    (start, end),
                    (first, last),
                    alert.id,
                    rule_id,
                    alert.doc,
                    self.limits,
                    self.stats,
                );
                Ok(())
            }
        }
    }
}

/// Gives `alert` another id (also in `kibana.alert.uuid` and the URL).
fn reid(alert: &mut Alert, id: String) {
    if let Value::Object(doc) = &mut alert.doc {
        if let Some(Value::String(url)) = doc.get_mut("kibana.alert.url") {
            *url = url.replace(&alert.id, &id);
        }
        doc.insert("kibana.alert.uuid".into(), id.clone().into());
    }
    alert.id = id;
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn push_alert(out: &mut Vec<AlertOut>, rule_id: &str, alert: Alert) -> Result<(), EventError> {
    let doc = serde_json::to_vec(&alert.doc).map_err(|e| EventError::NotJson(e.to_string()))?;
    out.push(AlertOut {
        id: alert.id,
        rule_id: rule_id.to_string(),
        doc,
    });
    Ok(())
}

fn push_update(out: &mut Vec<AlertOut>, u: Update) -> Result<(), EventError> {
    let doc = serde_json::to_vec(&u.doc).map_err(|e| EventError::NotJson(e.to_string()))?;
    out.push(AlertOut {
        id: u.id,
        rule_id: u.rule_id,
        doc,
    });
    Ok(())
}

/// The keyword values of `field` as a terms aggregation sees them: strings, numbers and
/// booleans as text, arrays flattened; null, objects and missing give nothing.
pub fn field_terms(event: &Map<String, Value>, field: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Null | Value::Object(_) => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = get_path(event, field) {
        walk(v, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every combination of one value per list (the cross product), at most
/// [`MAX_COMBINATIONS`]. No lists: one empty combination (one group for everything).
pub fn combinations(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for list in lists {
        let mut next = Vec::with_capacity(out.len() * list.len());
        'outer: for prefix in &out {
            for v in list {
                if next.len() >= MAX_COMBINATIONS {
                    break 'outer;
                }
                let mut c = prefix.clone();
                c.push(v.clone());
                next.push(c);
            }
        }
        out = next;
    }
    out
}

/// `kibana.alert.suppression.terms` (`[{field, value}]`, arrays sorted, missing = null), the
/// group key, and whether any field was missing.
fn suppression_terms(event: &Map<String, Value>, group_by: &[String]) -> (Value, String, bool) {
    let mut missing = false;
    let mut values = Vec::with_capacity(group_by.len());
    let terms: Vec<Value> = group_by
        .iter()
        .map(|field| {
            let value = match get_path(event, field) {
                None | Some(Value::Null) => Value::Null,
                Some(Value::Array(items)) if items.is_empty() => Value::Null,
                Some(Value::Array(items)) => {
                    let mut items = items.clone();
                    items.sort_by_key(|v| v.to_string());
                    Value::Array(items)
                }
                Some(v) => v.clone(),
            };
            missing |= value.is_null();
            values.push(value.clone());
            json!({"field": field, "value": value})
        })
        .collect();
    let key = serde_json::to_string(&values).unwrap_or_default();
    (Value::Array(terms), key, missing)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_cross_arrays_and_cap() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(combinations(&[]), vec![Vec::<String>::new()]);
        assert_eq!(
            combinations(&[l(&["a", "b"]), l(&["x"])]),
            vec![l(&["a", "x"]), l(&["b", "x"])]
        );
        let big: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(combinations(&[big.clone(), big]).len(), MAX_COMBINATIONS);
    }

    #[test]
    fn field_terms_flatten_like_a_terms_aggregation() {
        let e = json!({"a": ["x", "y", "x"], "n": 5, "b": true, "o": {"k": 1}, "z": null});
        let e = e.as_object().cloned().unwrap_or_default();
        assert_eq!(field_terms(&e, "a"), vec!["x", "y"]);
        assert_eq!(field_terms(&e, "n"), vec!["5"]);
        assert_eq!(field_terms(&e, "b"), vec!["true"]);
        assert!(field_terms(&e, "o").is_empty());
        assert!(field_terms(&e, "z").is_empty());
        assert!(field_terms(&e, "missing").is_empty());
    }
}
