//! What the stateful runtime needs to know about a rule ([`RuleSpec`], read from the TOML
//! once) and its settings, limits and counters.
//!
//! Design: everything a match needs is resolved at load time (window lengths in ms, the
//! suppression window kind), so a rule whose date math rulestream cannot read is reported
//! `unsupported` by `rulestream check` instead of failing at run time.

use std::path::PathBuf;

use super::new_terms::NewTermsSpec;
use super::suppression::{SuppressionSpec, SuppressionWindow};
use super::threshold::ThresholdSpec;
use super::time;
use crate::engine::sequence::SequenceSpec;
use crate::rules::{MissingFieldsStrategy, Rule, RuleType};

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
    /// EQL sequences in flight or waiting for their missing-event decision. Each holds the
    /// parsed events it matched so far (a few KB per event; see `docs/eql.md`).
    pub max_sequences_per_rule: usize,
    /// Events an EQL sequence rule buffers for its exact out-of-order pass (those matching a
    /// step, kept for the allowed lateness; each holds its event text, ~3.5 KB for Okta). Also
    /// capped by `max_sequences_per_rule`. Over it the oldest are fed early, which loses
    /// exactness only for events arriving later than that many buffered ones.
    pub max_buffered_events_per_rule: usize,
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
            max_sequences_per_rule: 10_000,
            // ≈ 3.5 MB per rule and partition: the buffer fills at any high rate (every
            // later-step event stays for the lateness), 10 000 made a 4-partition stage with
            // the Okta rules pass 256 MB of RSS.
            max_buffered_events_per_rule: 1_000,
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
    /// EQL sequences completed (each gives building-block alerts and a shell alert).
    pub sequences_completed: u64,
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
    /// An EQL sequence (its conditions live in the engine's EQL index).
    Sequence(SequenceSpec),
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
