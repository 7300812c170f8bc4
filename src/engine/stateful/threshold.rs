//! Threshold rules on a stream: per group, the event times (and cardinality values) inside the
//! rule's look-back window, slid along event time (alert-schema §3.2).
//!
//! Design: a group keeps only events after its last alert (Kibana's signal history: events at
//! or before the group's last alert time are never counted again), sorted by time. An event at
//! `t` can complete a window ending at `t` or — when it arrived out of order — a window ending at
//! a later event of the group within `t + window`; the earliest such window end fires. After a
//! firing the group's events up to the window end are dropped, so a flood gives one alert per
//! window. Groups that only hold expired events are forgotten.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{evict_to_limit, Limits, StatefulStats};

/// What a threshold rule counts (from `[rule.threshold]` and `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// Group-by fields (empty: one group for all events).
    pub fields: Vec<String>,
    /// Minimum count per window.
    pub value: u64,
    /// Kibana uses only the first `cardinality` entry: (field, minimum distinct values).
    pub cardinality: Option<(String, u64)>,
    /// Look-back window length (`from`), ms.
    pub window_ms: i64,
}

/// A group that reached the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Group values, in `fields` order.
    pub values: Vec<String>,
    /// Events in the window.
    pub count: u64,
    /// Earliest and latest event time in the window (ms).
    pub from_ms: i64,
    pub to_ms: i64,
    /// Window start (`to_ms − window`): the event-time stand-in for Kibana's run start in the
    /// synthetic id (alert-schema §6).
    pub window_start_ms: i64,
    /// Distinct values of the cardinality field in the window.
    pub cardinality: Option<u64>,
}

/// Per-rule threshold state: group key → group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThresholdState {
    groups: HashMap<String, Group>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Group {
    /// Events after the last alert, sorted by time.
    entries: Vec<Entry>,
    /// Window end of the group's last alert: events at or before it are not counted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_alert: Option<i64>,
    /// Latest event time seen (the group's age for eviction).
    touched: i64,
    /// The in-order window: entries at or after `window_start` (= latest entry − window) are
    /// summarized in `in_window` and `card_counts`, so that an event arriving in order is
    /// checked in O(1) instead of rescanning the window (cardinality rules keep many events).
    #[serde(default)]
    window_start: i64,
    #[serde(default)]
    in_window: u64,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    card_counts: HashMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    t: i64,
    /// Values of the cardinality field (several for an array).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    card: Vec<String>,
}

impl Group {
    fn add(&mut self, e: &Entry) {
        self.in_window += 1;
        for v in &e.card {
            *self.card_counts.entry(v.clone()).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, e: &Entry) {
        self.in_window = self.in_window.saturating_sub(1);
        for v in &e.card {
            if let Some(n) = self.card_counts.get_mut(v) {
                *n -= 1;
                if *n == 0 {
                    self.card_counts.remove(v);
                }
            }
        }
    }

    /// Moves the in-order window start to `start` (never backwards).
    fn slide_to(&mut self, start: i64) {
        if start <= self.window_start {
            return;
        }
        let from = self.entries.partition_point(|e| e.t < self.window_start);
        let to = self.entries.partition_point(|e| e.t < start);
        let leaving: Vec<Entry> = self.entries[from..to].to_vec();
        for e in &leaving {
            self.remove(e);
        }
        self.window_start = start;
    }

    /// Rebuilds the summary from the entries (after removals that are not in order).
    fn resummarize(&mut self) {
        self.in_window = 0;
        self.card_counts.clear();
        let from = self.entries.partition_point(|e| e.t < self.window_start);
        let inside: Vec<Entry> = self.entries[from..].to_vec();
        for e in &inside {
            self.add(e);
        }
    }
}

impl ThresholdState {
    /// Number of groups held.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Counts one event at `t` in the group `values` (key `key`); returns the firing if a window
    /// reached the threshold. `horizon` = watermark − allowed lateness: no later event can be
    /// older, so events before `horizon − window` are dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        spec: &ThresholdSpec,
        key: &str,
        values: &[String],
        t: i64,
        card: &[String],
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
    ) -> Option<Firing> {
        if !self.groups.contains_key(key) {
            self.make_room(spec, horizon, limits, stats);
        }
        let group = self.groups.entry(key.to_string()).or_insert_with(|| Group {
            window_start: i64::MIN,
            ..Group::default()
        });
        if group.last_alert.is_some_and(|last| t <= last) {
            // Already covered by an alert (Kibana's signal history).
            return None;
        }
        let in_order = group.entries.last().map_or(true, |last| t >= last.t);
        group.touched = group.touched.max(t);
        // Entries before every window that can still end (later events are dropped as late)
        // go, from the summary first.
        let expired = horizon.saturating_sub(spec.window_ms);
        group.slide_to(expired);
        let stale = group.entries.partition_point(|e| e.t < expired);
        group.entries.drain(..stale);
        let entry = Entry {
            t,
            card: card.to_vec(),
        };
        let at = group.entries.partition_point(|e| e.t <= t);
        if in_order {
            group.slide_to(t.saturating_sub(spec.window_ms));
            group.add(&entry);
        } else if t >= group.window_start {
            group.add(&entry);
        }
        group.entries.insert(at, entry);
        if group.entries.len() > limits.max_events_per_group {
            let oldest = group.entries.remove(0);
            if oldest.t >= group.window_start {
                group.remove(&oldest);
            }
            stats.evicted_by_limit += 1;
        }
        let threshold = spec.value.max(1);
        let firing = if in_order {
            // The window ending at `t`, from the summary.
            let cardinality = spec
                .cardinality
                .as_ref()
                .map(|_| group.card_counts.len() as u64);
            let fires = group.in_window >= threshold
                && spec
                    .cardinality
                    .as_ref()
                    .zip(cardinality)
                    .map_or(true, |((_, min), n)| n >= *min);
            fires.then(|| {
                let lo = group.entries.partition_point(|e| e.t < group.window_start);
                (group.in_window, group.entries[lo].t, t, cardinality)
            })
        } else {
            scan_late(group, spec, t, threshold)
        };
        let (count, from_ms, end, cardinality) = firing?;
        let hi = group.entries.partition_point(|e| e.t <= end);
        group.last_alert = Some(end);
        group.entries.drain(..hi);
        group.resummarize();
        Some(Firing {
            values: values.to_vec(),
            count,
            from_ms,
            to_ms: end,
            window_start_ms: end.saturating_sub(spec.window_ms),
            cardinality,
        })
    }

    /// Drops groups whose events and last alert are all before `horizon − window`: no event
    /// that can still arrive (later ones are late) would be counted with them.
    pub fn expire(&mut self, spec: &ThresholdSpec, horizon: i64, stats: &mut StatefulStats) {
        let expired = horizon.saturating_sub(spec.window_ms);
        let before = self.groups.len();
        self.groups.retain(|_, g| g.touched >= expired);
        stats.evicted_expired += (before - self.groups.len()) as u64;
    }

    /// Keeps the group count under the limit: groups with nothing left inside any future
    /// window go first, then the least recently touched.
    fn make_room(
        &mut self,
        spec: &ThresholdSpec,
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
    ) {
        if self.groups.len() < limits.max_groups_per_rule {
            return;
        }
        let expired = horizon.saturating_sub(spec.window_ms);
        evict_to_limit(
            &mut self.groups,
            limits.max_groups_per_rule,
            |g| g.touched,
            expired,
            stats,
        );
    }
}

/// An event that arrived out of order can complete a window ending at itself or at a later
/// event of the group (up to `t + window`): the earliest such window, by a scan.
fn scan_late(
    group: &Group,
    spec: &ThresholdSpec,
    t: i64,
    threshold: u64,
) -> Option<(u64, i64, i64, Option<u64>)> {
    let at = group.entries.partition_point(|e| e.t < t);
    let mut last_end = None;
    for end in group.entries[at..].iter().map(|e| e.t) {
        if end > t.saturating_add(spec.window_ms) {
            break;
        }
        if last_end == Some(end) {
            continue;
        }
        last_end = Some(end);
        let start = end.saturating_sub(spec.window_ms);
        let lo = group.entries.partition_point(|e| e.t < start);
        let hi = group.entries.partition_point(|e| e.t <= end);
        let window = &group.entries[lo..hi];
        let count = window.len() as u64;
        if count < threshold {
            continue;
        }
        let cardinality = match &spec.cardinality {
            Some((_, min)) => {
                let distinct: HashSet<&str> = window
                    .iter()
                    .flat_map(|e| e.card.iter().map(String::as_str))
                    .collect();
                let n = distinct.len() as u64;
                if n < *min {
                    continue;
                }
                Some(n)
            }
            None => None,
        };
        return Some((count, window.first().map_or(end, |e| e.t), end, cardinality));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn spec(value: u64, cardinality: Option<u64>) -> ThresholdSpec {
        ThresholdSpec {
            fields: vec!["user.name".into()],
            value,
            cardinality: cardinality.map(|v| ("source.ip".into(), v)),
            window_ms: 30 * MIN,
        }
    }

    /// Runs (minute, cardinality value) events of one group; returns (event index, count,
    /// from minute, to minute, cardinality) per firing.
    fn run(
        spec: &ThresholdSpec,
        events: &[(i64, &str)],
    ) -> Vec<(usize, u64, i64, i64, Option<u64>)> {
        let mut state = ThresholdState::default();
        let mut stats = StatefulStats::default();
        let limits = Limits::default();
        let mut watermark = i64::MIN;
        let mut out = Vec::new();
        for (i, (minute, card)) in events.iter().enumerate() {
            let t = minute * MIN;
            watermark = watermark.max(t);
            let card: Vec<String> = if card.is_empty() {
                vec![]
            } else {
                vec![card.to_string()]
            };
            let horizon = watermark - 5 * MIN;
            if let Some(f) = state.observe(
                spec,
                "u",
                &["u".into()],
                t,
                &card,
                horizon,
                &limits,
                &mut stats,
            ) {
                out.push((i, f.count, f.from_ms / MIN, f.to_ms / MIN, f.cardinality));
            }
        }
        out
    }

    #[test]
    fn fires_once_per_window_and_not_again_for_counted_events() {
        let s = spec(3, None);
        // 3 events in 30 minutes fire; the next 2 do not (the counted ones are gone); the 6th
        // makes 3 new ones.
        let got = run(
            &s,
            &[(0, ""), (10, ""), (20, ""), (21, ""), (22, ""), (23, "")],
        );
        assert_eq!(got, vec![(2, 3, 0, 20, None), (5, 3, 21, 23, None)]);
    }

    #[test]
    fn window_edges_are_inclusive_and_slide() {
        let s = spec(2, None);
        // 0 and 30 are exactly one window apart (inclusive like Kibana's gte/lte range).
        assert_eq!(run(&s, &[(0, ""), (30, "")]), vec![(1, 2, 0, 30, None)]);
        // 0 and 31 are not; 31 and 40 are.
        assert_eq!(
            run(&s, &[(0, ""), (31, ""), (40, "")]),
            vec![(2, 2, 31, 40, None)]
        );
    }

    #[test]
    fn late_event_completes_the_window_it_belongs_to() {
        let s = spec(3, None);
        // Arrival order 0, 20, 10: the window [0, 20] holds 3 events once 10 arrives.
        assert_eq!(
            run(&s, &[(0, ""), (20, ""), (10, "")]),
            vec![(2, 3, 0, 20, None)]
        );
        // Arrival 0, 40, 39, 38: the late 38 completes the window ending at 40, not one
        // ending at 38 (which holds only itself).
        assert_eq!(
            run(&s, &[(0, ""), (40, ""), (39, ""), (38, "")]),
            vec![(3, 3, 38, 40, None)]
        );
    }

    #[test]
    fn cardinality_counts_distinct_values_in_the_window() {
        let s = spec(1, Some(3));
        let got = run(
            &s,
            &[(0, "a"), (1, "a"), (2, "b"), (3, ""), (4, "c"), (5, "d")],
        );
        assert_eq!(got, vec![(4, 5, 0, 4, Some(3))]);
        // Distinct values spread over more than a window do not add up.
        assert_eq!(run(&s, &[(0, "a"), (20, "b"), (40, "c")]), vec![]);
    }

    #[test]
    fn in_order_summary_agrees_with_a_full_scan() {
        // Reference: the window check by scan for every event (what late events use).
        for seed in 0..200u64 {
            let s = spec(1 + seed % 4, (seed % 3 > 0).then_some(1 + seed % 3));
            let mut state = ThresholdState::default();
            let mut reference = Group::default();
            let mut stats = StatefulStats::default();
            let (mut x, mut t, mut watermark) =
                (seed.wrapping_mul(6364136223846793005) | 1, 0i64, 0);
            for _ in 0..300 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly forward steps of 0–9 minutes, sometimes up to 4 minutes back.
                let step = ((x >> 33) % 14) as i64 - 4;
                t = (t + step * MIN).max(0);
                watermark = watermark.max(t);
                let horizon = watermark - 5 * MIN;
                if t < horizon {
                    continue;
                }
                let card = vec![format!("v{}", (x >> 40) % 5)];
                let got = state
                    .observe(
                        &s,
                        "g",
                        &["g".into()],
                        t,
                        &card,
                        horizon,
                        &Limits::default(),
                        &mut stats,
                    )
                    .map(|f| (f.count, f.from_ms, f.to_ms, f.cardinality));
                // Reference step.
                let want = if reference.last_alert.is_some_and(|l| t <= l) {
                    None
                } else {
                    let expired = horizon - s.window_ms;
                    reference.entries.retain(|e| e.t >= expired);
                    let at = reference.entries.partition_point(|e| e.t <= t);
                    reference.entries.insert(at, Entry { t, card });
                    let fired = scan_late(&reference, &s, t, s.value.max(1));
                    if let Some((_, _, end, _)) = fired {
                        reference.last_alert = Some(end);
                        reference.entries.retain(|e| e.t > end);
                    }
                    fired
                };
                assert_eq!(got, want, "seed {seed} t {t}");
            }
        }
    }

    #[test]
    fn group_limit_evicts_oldest_and_counts() {
        let s = spec(5, None);
        let limits = Limits {
            max_groups_per_rule: 10,
            ..Limits::default()
        };
        let mut state = ThresholdState::default();
        let mut stats = StatefulStats::default();
        for i in 0..1000i64 {
            let key = format!("g{i}");
            state.observe(&s, &key, &[key.clone()], i, &[], i, &limits, &mut stats);
            assert!(state.len() <= 10);
        }
        assert!(stats.evicted_by_limit > 0);
    }
}
