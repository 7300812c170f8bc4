//! new_terms rules on a stream: per rule, term tuple → when it was last seen (alert-schema §3.3).
//!
//! Design: a tuple is new at event time `t` when it is absent or was last seen before
//! `t − history window` (Kibana: absent between `history_window_start` and the event). The
//! tuple is then recorded, so an event arriving out of order with a tuple already seen later is
//! never new. Keys are the values joined with U+001F (unit separator), one allocation per tuple.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{evict_to_limit, Limits, StatefulStats};

/// Separator of the values of a multi-field tuple in a key.
pub const KEY_SEPARATOR: char = '\u{1f}';

/// What a new_terms rule tracks (from `[rule.new_terms]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTermsSpec {
    /// `new_terms_fields`.
    pub fields: Vec<String>,
    /// Length of the history window (`history_window_start`), ms.
    pub history_ms: i64,
}

/// Per-rule new_terms state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewTermsState {
    /// Tuple key → last seen (event time, ms).
    seen: HashMap<Box<str>, i64>,
    /// Event time of the first event this rule saw (start of the learning period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_ms: Option<i64>,
}

impl NewTermsState {
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets tuples last seen before `horizon − history`: they would be new again anyway.
    pub fn expire(&mut self, spec: &NewTermsSpec, horizon: i64, stats: &mut StatefulStats) {
        let expired = horizon.saturating_sub(spec.history_ms);
        let before = self.seen.len();
        self.seen.retain(|_, last| *last >= expired);
        stats.evicted_expired += (before - self.seen.len()) as u64;
    }

    /// Records `key` at `t`; true when it was new (absent, or last seen more than the history
    /// window before `t`). `horizon` = watermark − allowed lateness.
    pub fn observe(
        &mut self,
        spec: &NewTermsSpec,
        key: &str,
        t: i64,
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
    ) -> bool {
        self.first_event_ms.get_or_insert(t);
        if let Some(last) = self.seen.get_mut(key) {
            let new = *last < t.saturating_sub(spec.history_ms);
            *last = (*last).max(t);
            return new;
        }
        if self.seen.len() >= limits.max_terms_per_rule {
            let expired = horizon.saturating_sub(spec.history_ms);
            evict_to_limit(
                &mut self.seen,
                limits.max_terms_per_rule,
                |t| *t,
                expired,
                stats,
            );
        }
        self.seen.insert(key.into(), t);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    /// (day, key) events; returns the indexes of events that were new.
    fn run(events: &[(i64, &str)]) -> Vec<usize> {
        let spec = NewTermsSpec {
            fields: vec!["user.name".into()],
            history_ms: 14 * DAY,
        };
        let mut state = NewTermsState::default();
        let mut stats = StatefulStats::default();
        let mut out = Vec::new();
        for (i, (day, key)) in events.iter().enumerate() {
            if state.observe(
                &spec,
                key,
                day * DAY,
                day * DAY,
                &Limits::default(),
                &mut stats,
            ) {
                out.push(i);
            }
        }
        out
    }

    #[test]
    fn new_only_when_unseen_in_the_history_window() {
        let cases: &[(&str, &[(i64, &str)], &[usize])] = &[
            (
                "first sighting is new",
                &[(0, "a"), (1, "a"), (2, "b")],
                &[0, 2],
            ),
            (
                "exactly 14 days later is still known",
                &[(0, "a"), (14, "a")],
                &[0],
            ),
            (
                "more than 14 days later is new again",
                &[(0, "a"), (15, "a")],
                &[0, 1],
            ),
            (
                "sightings refresh the window",
                &[(0, "a"), (10, "a"), (20, "a")],
                &[0],
            ),
            (
                "a late event of a known term is not new",
                &[(5, "a"), (3, "a")],
                &[0],
            ),
        ];
        for (name, events, want) in cases {
            assert_eq!(run(events), *want, "{name}");
        }
    }

    #[test]
    fn term_limit_evicts_oldest_first() {
        let spec = NewTermsSpec {
            fields: vec!["f".into()],
            history_ms: 1_000,
        };
        let limits = Limits {
            max_terms_per_rule: 100,
            ..Limits::default()
        };
        let mut state = NewTermsState::default();
        let mut stats = StatefulStats::default();
        for i in 0..10_000i64 {
            state.observe(&spec, &format!("k{i}"), i, i, &limits, &mut stats);
            assert!(state.len() <= 100);
        }
        // The newest key is still known; the oldest was evicted and is new again.
        assert!(!state.observe(&spec, "k9999", 10_000, 10_000, &limits, &mut stats));
        assert!(state.observe(&spec, "k0", 10_000, 10_000, &limits, &mut stats));
        assert!(stats.evicted_expired + stats.evicted_by_limit >= 9_900);
    }
}
