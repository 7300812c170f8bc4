//! Alert suppression in event time (alert-schema §4, rulestream guidance a–d).
//!
//! Design: per rule, suppression group → the open window and the alert it produced. The first
//! alert of a group opens a window — `[t, t + duration)` with `duration`, else the tumbling
//! `interval` window `[⌊t/interval⌋·interval, +interval)` aligned to the epoch ("per rule
//! execution"). Later alerts of the group inside the window are folded: counted, no new alert.
//! The alert document is kept, and when its window closes (the partition's watermark minus the
//! allowed lateness passes its end), or at [`SuppressionState::flush`], it is re-emitted with the
//! same id and the new `kibana.alert.suppression.*` values. An event after the window opens a new
//! alert. Re-emitting on close rather than per fold keeps a flood at two documents per window.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{evict_to_limit, Limits, StatefulStats};
use crate::rules::MissingFieldsStrategy;

/// A rule's suppression settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionSpec {
    /// `group_by` (for threshold rules: the threshold fields).
    pub group_by: Vec<String>,
    pub window: SuppressionWindow,
    pub missing: MissingFieldsStrategy,
}

/// How long a suppression group's alert absorbs later ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionWindow {
    /// `duration`: from the first event, in ms.
    Duration(i64),
    /// No duration: epoch-aligned tumbling windows of the rule's `interval`, in ms.
    Tumbling(i64),
}

impl SuppressionWindow {
    /// The window an alert opened at `t` covers, `[start, end)`.
    pub fn bounds(self, t: i64) -> (i64, i64) {
        match self {
            SuppressionWindow::Duration(d) => (t, t.saturating_add(d)),
            SuppressionWindow::Tumbling(i) => {
                let start = t.div_euclid(i) * i;
                (start, start.saturating_add(i))
            }
        }
    }
}

/// One group's open window.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    start: i64,
    end: i64,
    /// Earliest / latest event time folded in (`suppression.start` / `end`).
    first: i64,
    last: i64,
    docs_count: u64,
    /// Whether folds happened since the document was last emitted.
    pending: bool,
    id: String,
    rule_id: String,
    doc: Value,
}

/// An alert document to (re-)emit.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: String,
    pub rule_id: String,
    pub doc: Value,
}

/// What to do with a candidate alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Fold {
    /// Absorbed by the group's open alert; nothing to send now.
    Folded,
    /// Send a new alert for the window `[start, end)`; `closed` is the previous window's final
    /// update, if it had unsent folds.
    Open {
        start: i64,
        end: i64,
        closed: Option<Update>,
    },
}

/// Per-rule suppression state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuppressionState {
    groups: HashMap<String, Open>,
    /// Earliest window end among open groups (sweeps are skipped before it).
    #[serde(default)]
    next_close: Option<i64>,
}

impl SuppressionState {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Offers a candidate alert of group `key` for events `[first, last]` (`docs` more events
    /// already folded into the candidate itself, 0 for a single event).
    pub fn offer(
        &mut self,
        key: &str,
        window: SuppressionWindow,
        first: i64,
        last: i64,
        now_ms: i64,
    ) -> Fold {
        if let Some(open) = self.groups.get_mut(key) {
            if first < open.end && last >= open.start.min(first) {
                open.docs_count += 1;
                open.first = open.first.min(first);
                open.last = open.last.max(last);
                open.pending = true;
                return Fold::Folded;
            }
            let closed = self
                .groups
                .remove(key)
                .and_then(|o| o.pending.then(|| finish(o, now_ms)));
            let (start, end) = window.bounds(first);
            return Fold::Open { start, end, closed };
        }
        let (start, end) = window.bounds(first);
        Fold::Open {
            start,
            end,
            closed: None,
        }
    }

    /// Remembers the alert just sent for `key` (after [`Fold::Open`]).
    #[allow(clippy::too_many_arguments)]
    pub fn opened(
        &mut self,
        key: &str,
        (start, end): (i64, i64),
        (first, last): (i64, i64),
        id: String,
        rule_id: &str,
        doc: Value,
        limits: &Limits,
        stats: &mut StatefulStats,
    ) {
        if self.groups.len() >= limits.max_suppression_groups_per_rule {
            // Oldest windows go first; their unsent folds are lost (counted).
            evict_to_limit(
                &mut self.groups,
                limits.max_suppression_groups_per_rule,
                |o| o.end,
                i64::MIN,
                stats,
            );
        }
        self.next_close = Some(self.next_close.map_or(end, |n| n.min(end)));
        self.groups.insert(
            key.to_string(),
            Open {
                start,
                end,
                first,
                last,
                docs_count: 0,
                pending: false,
                id,
                rule_id: rule_id.to_string(),
                doc,
            },
        );
    }

    /// Closes windows that ended at or before `horizon` (watermark − lateness): their final
    /// updates (only for windows with unsent folds) go to `out`.
    pub fn sweep(&mut self, horizon: i64, now_ms: i64, out: &mut Vec<Update>) {
        if self.next_close.is_none_or(|n| n > horizon) {
            return;
        }
        let closing: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, o)| o.end <= horizon)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closing {
            if let Some(o) = self.groups.remove(&key) {
                if o.pending {
                    out.push(finish(o, now_ms));
                }
            }
        }
        self.next_close = self.groups.values().map(|o| o.end).min();
    }

    /// Emits every unsent fold now and keeps the windows open (end of a file run, shutdown).
    pub fn flush(&mut self, now_ms: i64, out: &mut Vec<Update>) {
        for o in self.groups.values_mut().filter(|o| o.pending) {
            o.pending = false;
            out.push(finish(o.clone(), now_ms));
        }
    }
}

/// The document of `o` with its final suppression counters and `last_detected`.
fn finish(o: Open, now_ms: i64) -> Update {
    let mut doc = o.doc;
    if let Value::Object(map) = &mut doc {
        map.insert(
            "kibana.alert.suppression.docs_count".into(),
            o.docs_count.into(),
        );
        map.insert(
            "kibana.alert.suppression.start".into(),
            super::time::iso_ms(o.first).into(),
        );
        map.insert(
            "kibana.alert.suppression.end".into(),
            super::time::iso_ms(o.last).into(),
        );
        map.insert(
            "kibana.alert.last_detected".into(),
            super::time::iso_ms(now_ms).into(),
        );
    }
    Update {
        id: o.id,
        rule_id: o.rule_id,
        doc,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    const MIN: i64 = 60_000;

    /// Offers (minute) events of one group; returns per event "new"/"fold" and the updates
    /// (docs_count) emitted.
    fn run(window: SuppressionWindow, minutes: &[i64]) -> (Vec<&'static str>, Vec<u64>) {
        let mut s = SuppressionState::default();
        let mut stats = StatefulStats::default();
        let mut what = Vec::new();
        let mut updates = Vec::new();
        for m in minutes {
            let t = m * MIN;
            match s.offer("g", window, t, t, 0) {
                Fold::Folded => what.push("fold"),
                Fold::Open { start, end, closed } => {
                    what.push("new");
                    updates.extend(closed);
                    s.opened(
                        "g",
                        (start, end),
                        (t, t),
                        format!("id{m}"),
                        "r",
                        json!({}),
                        &Limits::default(),
                        &mut stats,
                    );
                }
            }
        }
        let mut rest = Vec::new();
        s.flush(0, &mut rest);
        updates.extend(rest);
        let counts = updates
            .iter()
            .map(|u| {
                u.doc["kibana.alert.suppression.docs_count"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        (what, counts)
    }

    #[test]
    fn duration_windows_start_at_the_first_alert() {
        let d = SuppressionWindow::Duration(10 * MIN);
        assert_eq!(
            run(d, &[0, 5, 9, 10, 12]),
            (vec!["new", "fold", "fold", "new", "fold"], vec![2, 1])
        );
    }

    #[test]
    fn tumbling_windows_align_to_the_epoch() {
        let w = SuppressionWindow::Tumbling(5 * MIN);
        assert_eq!(
            run(w, &[1, 4, 5, 9, 11]),
            (vec!["new", "fold", "new", "fold", "new"], vec![1, 1])
        );
    }

    #[test]
    fn sweep_emits_closed_windows_with_folds_only() {
        let mut s = SuppressionState::default();
        let mut stats = StatefulStats::default();
        let d = SuppressionWindow::Duration(10 * MIN);
        for (key, t) in [("a", 0), ("b", 0)] {
            let Fold::Open { start, end, .. } = s.offer(key, d, t, t, 0) else {
                panic!()
            };
            s.opened(
                key,
                (start, end),
                (t, t),
                key.into(),
                "r",
                json!({}),
                &Limits::default(),
                &mut stats,
            );
        }
        assert_eq!(s.offer("a", d, 3 * MIN, 3 * MIN, 0), Fold::Folded);
        let mut out = Vec::new();
        s.sweep(9 * MIN, 0, &mut out);
        assert!(out.is_empty());
        s.sweep(10 * MIN, 0, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "a");
        assert_eq!(
            out[0].doc["kibana.alert.suppression.end"],
            "1970-01-01T00:03:00.000Z"
        );
        assert!(s.is_empty());
    }
}
