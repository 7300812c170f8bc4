//! Threshold rules on a stream: per group, the event times (and cardinality values) inside the
//! rule's look-back window, slid along event time (alert-schema §3.2).
//!
//! Design: a group keeps only events after its last alert (Kibana's signal history: events at
//! or before the group's last alert time are never counted again), sorted by time. An event at
//! `t` can complete a window ending at `t` or — when it arrived out of order — a window ending at
//! a later event of the group within `t + window`; the earliest such window end fires. After a
//! firing the group's events up to the window end are dropped, so a flood gives one alert per
//! window. Groups that only hold expired events are forgotten.

use std::collections::{HashMap, HashSet, VecDeque};

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
    /// Earliest re-arm time among pending groups (sweeps are skipped before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_rearm: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Group {
    /// Events after the last alert, sorted by time.
    entries: VecDeque<Entry>,
    /// Window end of the group's last alert: events at or before it are not counted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_alert: Option<i64>,
    /// Latest event time seen (the group's age for eviction).
    touched: i64,
    /// The threshold was reached while the group was disarmed (see [`ThresholdState::sweep`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
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
        let leaving: Vec<Entry> = self.entries.range(from..to).cloned().collect();
        for e in &leaving {
            self.remove(e);
        }
        self.window_start = start;
    }

    /// Event time from which the group may fire again: one window after its last alert.
    fn rearm(&self, spec: &ThresholdSpec) -> i64 {
        self.last_alert
            .map_or(i64::MIN, |last| last.saturating_add(spec.window_ms))
    }

    /// Records the alert for `window`: its events are never counted again.
    fn fire(&mut self, spec: &ThresholdSpec, values: &[String], window: Window) -> Firing {
        let hi = self.entries.partition_point(|e| e.t <= window.end);
        self.last_alert = Some(window.end);
        self.pending = false;
        self.entries.drain(..hi);
        self.resummarize();
        Firing {
            values: values.to_vec(),
            count: window.count,
            from_ms: window.from_ms,
            to_ms: window.end,
            window_start_ms: window.end.saturating_sub(spec.window_ms),
            cardinality: window.cardinality,
        }
    }

    /// Rebuilds the summary from the entries (after removals that are not in order).
    fn resummarize(&mut self) {
        self.in_window = 0;
        self.card_counts.clear();
        let from = self.entries.partition_point(|e| e.t < self.window_start);
        let inside: Vec<Entry> = self.entries.range(from..).cloned().collect();
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
    /// reached the threshold and the group is armed. `horizon` = watermark − allowed lateness:
    /// no later event can be older, so events before `horizon − window` are dropped.
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
        let in_order = group.entries.back().is_none_or(|last| t >= last.t);
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
            if let Some(oldest) = group.entries.pop_front() {
                if oldest.t >= group.window_start {
                    group.remove(&oldest);
                }
            }
            stats.evicted_by_limit += 1;
        }
        let rearm = group.rearm(spec);
        let found = if in_order {
            // The window ending at `t`, from the summary.
            let cardinality = spec
                .cardinality
                .as_ref()
                .map(|_| group.card_counts.len() as u64);
            meets(spec, group.in_window, cardinality).then(|| {
                let lo = group.entries.partition_point(|e| e.t < group.window_start);
                Window {
                    count: group.in_window,
                    from_ms: group.entries.get(lo).map_or(t, |e| e.t),
                    end: t,
                    cardinality,
                }
            })
        } else {
            scan_late(group, spec, t)
        };
        let window = found?;
        if window.end < rearm {
            // One alert per window: the group fired less than a window ago. The events stay
            // counted; the sweep fires them once the group re-arms.
            group.pending = true;
            self.next_rearm = Some(self.next_rearm.map_or(rearm, |n| n.min(rearm)));
            return None;
        }
        Some(group.fire(spec, values, window))
    }

    /// Fires the groups whose threshold was reached while they were disarmed, once `watermark`
    /// reaches their re-arm time; each alert's window ends at the group's latest event.
    pub fn sweep(&mut self, spec: &ThresholdSpec, watermark: i64) -> Vec<Firing> {
        let mut out = Vec::new();
        if self.next_rearm.is_none_or(|n| n > watermark) {
            return out;
        }
        for (key, group) in &mut self.groups {
            if !group.pending || group.rearm(spec) > watermark {
                continue;
            }
            group.pending = false;
            let Some(end) = group.entries.back().map(|e| e.t) else {
                continue;
            };
            if let Some(window) = window_at(group, spec, end) {
                let values = key_values(spec, key);
                out.push(group.fire(spec, &values, window));
            }
        }
        self.next_rearm = self
            .groups
            .values()
            .filter(|g| g.pending)
            .map(|g| g.rearm(spec))
            .min();
        out
    }

    /// Drops groups whose events and last alert are all before `horizon − window`: no event
    /// that can still arrive (later ones are late) would be counted with them.
    pub fn expire(&mut self, spec: &ThresholdSpec, horizon: i64, stats: &mut StatefulStats) {
        let expired = horizon.saturating_sub(spec.window_ms);
        let before = self.groups.len();
        // A pending group still owes an alert (fired by the next sweep), whatever its age.
        self.groups.retain(|_, g| g.pending || g.touched >= expired);
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

/// A window that met the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    count: u64,
    from_ms: i64,
    end: i64,
    cardinality: Option<u64>,
}

/// Whether `count` events with `cardinality` distinct values meet the rule.
fn meets(spec: &ThresholdSpec, count: u64, cardinality: Option<u64>) -> bool {
    count >= spec.value.max(1)
        && match (&spec.cardinality, cardinality) {
            (Some((_, min)), Some(n)) => n >= *min,
            (Some(_), None) => false,
            (None, _) => true,
        }
}

/// The window `[end − window, end]` of the group's entries, by a scan, if it meets the rule.
fn window_at(group: &Group, spec: &ThresholdSpec, end: i64) -> Option<Window> {
    let start = end.saturating_sub(spec.window_ms);
    let lo = group.entries.partition_point(|e| e.t < start);
    let hi = group.entries.partition_point(|e| e.t <= end);
    let window = group.entries.range(lo..hi);
    let count = (hi - lo) as u64;
    let cardinality = spec.cardinality.as_ref().map(|_| {
        let distinct: HashSet<&str> = window
            .clone()
            .flat_map(|e| e.card.iter().map(String::as_str))
            .collect();
        distinct.len() as u64
    });
    meets(spec, count, cardinality).then(|| Window {
        count,
        from_ms: group
            .entries
            .get(lo)
            .filter(|_| hi > lo)
            .map_or(end, |e| e.t),
        end,
        cardinality,
    })
}

/// An event that arrived out of order can complete a window ending at itself or at a later
/// event of the group (up to `t + window`): the earliest such window, by a scan.
fn scan_late(group: &Group, spec: &ThresholdSpec, t: i64) -> Option<Window> {
    let at = group.entries.partition_point(|e| e.t < t);
    let mut last_end = None;
    for end in group.entries.range(at..).map(|e| e.t) {
        if end > t.saturating_add(spec.window_ms) {
            break;
        }
        if last_end == Some(end) {
            continue;
        }
        last_end = Some(end);
        if let Some(w) = window_at(group, spec, end) {
            return Some(w);
        }
    }
    None
}

/// The group values of a key (see [`super::new_terms::KEY_SEPARATOR`]).
fn key_values(spec: &ThresholdSpec, key: &str) -> Vec<String> {
    if spec.fields.is_empty() {
        return Vec::new();
    }
    key.split(super::new_terms::KEY_SEPARATOR)
        .map(str::to_string)
        .collect()
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
            for f in state.sweep(spec, watermark) {
                out.push((i, f.count, f.from_ms / MIN, f.to_ms / MIN, f.cardinality));
            }
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
        // 3 events in 30 minutes fire at 20; 21–23 make 3 new ones, but the group re-arms
        // only one window after its alert (minute 50): the event at 51 lets the sweep fire
        // them (window ending at 23), and 51 itself starts the next count.
        let got = run(
            &s,
            &[
                (0, ""),
                (10, ""),
                (20, ""),
                (21, ""),
                (22, ""),
                (23, ""),
                (51, ""),
            ],
        );
        assert_eq!(got, vec![(2, 3, 0, 20, None), (6, 3, 21, 23, None)]);
        // A steady flood (one event a minute for 100 minutes): one alert per window (sent by
        // the first event at or after the re-arm time, for the window ending just before it),
        // each counting the events since the previous alert.
        let flood: Vec<(i64, &str)> = (0..100).map(|m| (m, "")).collect();
        let got = run(&s, &flood);
        assert_eq!(
            got,
            vec![
                (2, 3, 0, 2, None),
                (32, 29, 3, 31, None),
                (61, 29, 32, 60, None),
                (90, 29, 61, 89, None),
            ]
        );
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
        // After every event, the group's summary equals a scan of the window ending at its
        // latest event; streams mix forward steps, late events and firings.
        for seed in 0..200u64 {
            let s = spec(1 + seed % 4, (seed % 3 > 0).then_some(1 + seed % 3));
            let mut state = ThresholdState::default();
            let mut stats = StatefulStats::default();
            let (mut x, mut t, mut watermark) = (seed | 1, 0i64, 0);
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
                state.sweep(&s, watermark);
                state.observe(
                    &s,
                    "g",
                    &["g".into()],
                    t,
                    &card,
                    horizon,
                    &Limits::default(),
                    &mut stats,
                );
                let g = &state.groups["g"];
                let Some(end) = g.entries.back().map(|e| e.t) else {
                    assert_eq!(g.in_window, 0, "seed {seed}");
                    continue;
                };
                if g.window_start != end - s.window_ms {
                    continue; // the last event arrived late; the summary is for an older end
                }
                let lo = g.entries.partition_point(|e| e.t < g.window_start);
                let inside: Vec<&Entry> = g.entries.range(lo..).collect();
                let distinct: HashSet<&str> = inside
                    .iter()
                    .flat_map(|e| e.card.iter().map(String::as_str))
                    .collect();
                assert_eq!(g.in_window, inside.len() as u64, "seed {seed} t {t}");
                assert_eq!(g.card_counts.len(), distinct.len(), "seed {seed} t {t}");
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
