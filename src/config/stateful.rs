//! `[stateful]`: settings of threshold / new_terms rules, alert suppression and durable state
//! (`crate::engine::stateful::StatefulSettings`, docs/stateful.md).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[stateful]`: settings of threshold / new_terms rules and alert suppression
/// (`crate::engine::stateful::StatefulSettings`, see docs/stateful.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatefulFile {
    /// Directory of per-partition snapshots. Default none: state in memory only.
    pub state_dir: Option<PathBuf>,
    /// How far an event may lag the latest event time of its partition and still be counted.
    pub allowed_lateness_ms: u64,
    /// `history` (one history window), a duration such as `2d`, or `off`.
    pub new_terms_learning: String,
    pub max_groups_per_rule: usize,
    pub max_events_per_group: usize,
    pub max_terms_per_rule: usize,
    pub max_suppression_groups_per_rule: usize,
    /// Open (partial) EQL sequences per rule and partition.
    pub max_sequences_per_rule: usize,
    /// Events an EQL sequence rule keeps for its exact out-of-order pass, per partition.
    pub max_buffered_events_per_rule: usize,
    /// How often workers send suppression updates (`Evaluator::flush`).
    pub flush_interval_ms: u64,
    /// How often (at most) each partition's state is snapshotted to `state_dir`; offsets are
    /// committed only up to the last snapshot, so this is also the commit delay.
    pub snapshot_interval_ms: u64,
}

impl Default for StatefulFile {
    fn default() -> Self {
        let engine = crate::engine::stateful::StatefulSettings::default();
        StatefulFile {
            state_dir: None,
            allowed_lateness_ms: engine.allowed_lateness_ms.unsigned_abs(),
            new_terms_learning: "history".into(),
            max_groups_per_rule: engine.limits.max_groups_per_rule,
            max_events_per_group: engine.limits.max_events_per_group,
            max_terms_per_rule: engine.limits.max_terms_per_rule,
            max_suppression_groups_per_rule: engine.limits.max_suppression_groups_per_rule,
            max_sequences_per_rule: engine.limits.max_sequences_per_rule,
            max_buffered_events_per_rule: engine.limits.max_buffered_events_per_rule,
            // Suppressed alerts are re-sent when their window closes anyway; the timer only
            // bounds how stale a count can be when a rule goes quiet.
            flush_interval_ms: 60_000,
            // A snapshot is the partition's whole state (≈30 MB per 1M new_terms tuples), so
            // not after every batch; 5 s is also librdkafka's default auto-commit interval.
            snapshot_interval_ms: 5_000,
        }
    }
}

/// Validated `[stateful]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulRunSettings {
    pub state_dir: Option<PathBuf>,
    pub allowed_lateness_ms: i64,
    pub learning: crate::engine::stateful::Learning,
    pub limits: crate::engine::stateful::Limits,
    pub flush_interval: Duration,
    pub snapshot_interval: Duration,
}

impl StatefulRunSettings {
    /// The engine's view of these settings.
    pub fn engine_settings(&self) -> crate::engine::stateful::StatefulSettings {
        crate::engine::stateful::StatefulSettings {
            allowed_lateness_ms: self.allowed_lateness_ms,
            limits: self.limits.clone(),
            learning: self.learning,
            state_dir: self.state_dir.clone(),
        }
    }
}

pub(super) fn validate_stateful(f: &StatefulFile) -> Result<StatefulRunSettings, ConfigError> {
    use crate::engine::stateful::{time::duration_ms, Learning, Limits};
    let learning = match f.new_terms_learning.trim() {
        "history" => Learning::HistoryWindow,
        "off" => Learning::Off,
        other => Learning::Period(duration_ms(other).ok_or_else(|| {
            invalid(
                "stateful.new_terms_learning",
                format!(
                    "expected \"history\", \"off\" or a duration such as \"2d\" \
                     (<number><ms|s|m|h|d|w>), got {other:?}"
                ),
            )
        })?),
    };
    let allowed_lateness_ms = i64::try_from(f.allowed_lateness_ms)
        .ok()
        .filter(|ms| *ms <= 365 * 86_400_000)
        .ok_or_else(|| invalid("stateful.allowed_lateness_ms", "expected at most one year"))?;
    for (key, v) in [
        ("stateful.max_groups_per_rule", f.max_groups_per_rule),
        ("stateful.max_events_per_group", f.max_events_per_group),
        ("stateful.max_terms_per_rule", f.max_terms_per_rule),
        (
            "stateful.max_suppression_groups_per_rule",
            f.max_suppression_groups_per_rule,
        ),
        ("stateful.max_sequences_per_rule", f.max_sequences_per_rule),
        (
            "stateful.max_buffered_events_per_rule",
            f.max_buffered_events_per_rule,
        ),
    ] {
        if v == 0 {
            return Err(invalid(key, "expected a value of at least 1"));
        }
    }
    for (key, v) in [
        ("stateful.flush_interval_ms", f.flush_interval_ms),
        ("stateful.snapshot_interval_ms", f.snapshot_interval_ms),
    ] {
        if v == 0 {
            return Err(invalid(key, "expected a value of at least 1"));
        }
    }
    if f.state_dir
        .as_ref()
        .is_some_and(|d| d.as_os_str().is_empty())
    {
        return Err(invalid(
            "stateful.state_dir",
            "expected a directory path (leave the key out to keep state in memory)",
        ));
    }
    Ok(StatefulRunSettings {
        state_dir: f.state_dir.clone(),
        allowed_lateness_ms,
        learning,
        limits: Limits {
            max_groups_per_rule: f.max_groups_per_rule,
            max_events_per_group: f.max_events_per_group,
            max_terms_per_rule: f.max_terms_per_rule,
            max_suppression_groups_per_rule: f.max_suppression_groups_per_rule,
            max_sequences_per_rule: f.max_sequences_per_rule,
            max_buffered_events_per_rule: f.max_buffered_events_per_rule,
        },
        flush_interval: Duration::from_millis(f.flush_interval_ms),
        snapshot_interval: Duration::from_millis(f.snapshot_interval_ms),
    })
}
