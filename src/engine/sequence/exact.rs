//! The exact pass of a sequence rule: the same matcher ([`SequenceState`]) fed the rule's
//! events in event-time order, so that the sequences found do not depend on the arrival order
//! within the allowed lateness (issue #6).
//!
//! The immediate matcher (`SequenceState` fed at arrival) alerts within milliseconds but pairs
//! only events that arrived in order: a later-stage event that arrives *before* the
//! earlier-stage event it follows in event time is never paired with it. The exact pass keeps
//! every event that matched a stage or `until` in a buffer ordered by (event time, arrival).
//! Once the rule's horizon (watermark − allowed lateness) is past an event, no event that
//! precedes it can still be accepted (an event before the horizon is late and dropped), so the
//! buffered events before the horizon are fed, in order, to the second matcher: it sees exactly
//! the in-order stream. A sequence it completes is emitted unless the immediate matcher already
//! emitted the same events (same events → same alert ids), recorded in `emitted` until the exact
//! pass has gone past the sequence's last event.
//!
//! Rules with missing-event stages (`![q]`) use the exact pass alone: their sequences are
//! decided only once the horizon has passed them anyway, so the exact pass costs no latency and
//! decides on every `q` event, also one that arrived before the sequence's events.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::spec::SequenceSpec;
use super::state::{Completed, SeqInput, SequenceState, StoredEvent};
use crate::alert::{ancestor_for, Ancestor};
use crate::engine::stateful::{Limits, StatefulStats};

/// An event as received, with what its ancestor is derived from; the JSON is parsed (and the
/// ancestor derived) only when a matcher makes it part of a sequence, as most events never
/// join one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    /// The event's JSON text as received (checked as UTF-8 only when it joins a sequence:
    /// most buffered events never do).
    /// Shared by the rules that keep the same event.
    #[serde(with = "text_bytes")]
    pub json: Arc<[u8]>,
    /// The configured index (`EventOrigin::default_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_index: Option<String>,
    /// Kafka topic, partition and offset, when read from Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<(String, i32, i64)>,
    /// Index and id of the alert when the event is an alert fed back (its own ancestor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<(String, String)>,
}

impl RawEvent {
    /// The event and its ancestor as a sequence keeps them (`None` when the text is not a JSON
    /// object: such an event joins no sequence).
    pub fn resolve(&self) -> Option<StoredEvent> {
        let json = std::str::from_utf8(&self.json).ok()?;
        let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
        let ancestor = match &self.parent {
            Some((index, id)) => Ancestor {
                index: index.clone(),
                id: id.clone(),
            },
            None => {
                let origin = self.origin.as_ref().map(|(t, p, o)| (t.as_str(), *p, *o));
                ancestor_for(&event, self.default_index.as_deref(), origin)
            }
        };
        Some(StoredEvent {
            json: json.to_string(),
            index: ancestor.index,
            id: ancestor.id,
        })
    }
}

/// Bytes kept as JSON text in snapshots (the engine only buffers events it read as JSON).
mod text_bytes {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes().into())
    }
}

/// One buffered event: its matches (with its time) and, when it matched a positive stage, the
/// event itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Buffered {
    arrival: u64,
    input: SeqInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<RawEvent>,
}

/// The exact pass of one sequence rule in one partition (serialized into partition snapshots).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExactPass {
    /// Events not yet fed, sorted by (time, arrival).
    buffer: VecDeque<Buffered>,
    next_arrival: u64,
    matcher: SequenceState,
    /// Time of the last event fed to the matcher: an event before it can no longer be placed
    /// in order (only after the buffer limit forced an early release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fed_upto: Option<i64>,
    /// Sequences the immediate matcher emitted (identity → time of their last event) that the
    /// exact pass has not gone past yet.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    emitted: HashMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expired_at: Option<i64>,
    /// Buffered events of a positive stage (those holding their event).
    #[serde(default)]
    positive_buffered: usize,
    /// [`ExactPass::next_due`] as of the last [`ExactPass::advance`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due: Option<i64>,
}

/// The identity of a completed sequence: its events' ancestors in order (the alert ids are
/// derived from them and the rule).
pub fn identity(events: &[StoredEvent]) -> String {
    let mut id = String::new();
    for e in events {
        id.push_str(&e.index);
        id.push('\u{1f}');
        id.push_str(&e.id);
        id.push('\u{1e}');
    }
    id
}

impl ExactPass {
    /// Sequences in flight or pending in the exact matcher.
    pub fn len(&self) -> usize {
        self.matcher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_empty() && self.buffer.is_empty()
    }

    /// Events waiting in the buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Distinct events held by the exact matcher's sequences.
    pub fn stored_events(&self) -> usize {
        self.matcher.stored_events()
    }

    /// When the horizon passing it would change something (as of the last advance; the
    /// runtime feeds later event times to the rule from then on).
    pub fn due(&self) -> Option<i64> {
        self.due
    }

    /// The earliest time at which the horizon passing it would change something: a pending
    /// decision or, for rules whose sequences only the exact pass finds (missing stages), the
    /// first buffered event.
    fn next_due(&self, spec: &SequenceSpec) -> Option<i64> {
        // Only an event of a positive stage starts or extends a sequence that waits for a
        // decision; the others are read when one is decided (everything before the horizon
        // has been fed by then), so they need no earlier feeding.
        let front = if spec.has_missing() && self.positive_buffered > 0 {
            self.buffer
                .iter()
                .find(|b| b.event.is_some())
                .map(|b| b.input.time)
        } else {
            None
        };
        match (self.matcher.next_deadline(), front) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Buffers one accepted (not late) event. `event` is needed when it matched a positive
    /// stage. Returns `false` when it cannot be placed in order any more (its time is before
    /// an event the buffer limit forced out early); it then takes no part in the exact pass.
    pub fn push(&mut self, input: SeqInput, event: Option<RawEvent>) -> bool {
        if self.fed_upto.is_some_and(|f| input.time < f) {
            return false;
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.positive_buffered += usize::from(event.is_some());
        let b = Buffered {
            arrival,
            input,
            event,
        };
        // In-order streams append at the end.
        let at = self
            .buffer
            .partition_point(|x| (x.input.time, x.arrival) <= (b.input.time, arrival));
        self.buffer.insert(at, b);
        true
    }

    /// Records a sequence the immediate matcher emitted, whose last event is at `end`. At the
    /// limit the oldest record goes: the exact pass may then write that sequence's alerts
    /// again, with the same ids (a rewrite of the same documents, not a new alert).
    pub fn emitted_immediately(&mut self, events: &[StoredEvent], end: i64, limits: &Limits) {
        if self.emitted.len() >= limits.max_sequences_per_rule.max(1) {
            let oldest = self
                .emitted
                .iter()
                .min_by_key(|(_, end)| **end)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.emitted.remove(&id);
            }
        }
        self.emitted.insert(identity(events), end);
    }

    /// Feeds the buffered events before `horizon` (and, over the buffer limit, the oldest
    /// ones) to the exact matcher in order, decides its pending sequences, and appends to
    /// `done` the sequences found that the immediate matcher did not emit.
    pub fn advance(
        &mut self,
        spec: &SequenceSpec,
        horizon: i64,
        limits: &Limits,
        stats: &mut StatefulStats,
        done: &mut Vec<Completed>,
    ) {
        let limit = limits
            .max_buffered_events_per_rule
            .min(limits.max_sequences_per_rule)
            .max(1);
        let mut found = Vec::new();
        while let Some(front) = self.buffer.front() {
            let due = front.input.time < horizon;
            if !due && self.buffer.len() <= limit {
                break;
            }
            let Some(b) = self.buffer.pop_front() else {
                break;
            };
            if b.event.is_some() {
                self.positive_buffered = self.positive_buffered.saturating_sub(1);
            }
            if !due {
                // Over the limit: fed early; later events before it lose their exact place.
                stats.evicted_by_limit += 1;
            }
            let t = b.input.time;
            self.fed_upto = Some(self.fed_upto.map_or(t, |f| f.max(t)));
            let event = b.event;
            // The matcher sees an in-order stream: its own horizon is the event's time, so a
            // pending sequence is decided only once every event up to its deadline was fed.
            self.matcher.observe(
                spec,
                &b.input,
                t,
                limits,
                stats,
                || event.as_ref().and_then(RawEvent::resolve),
                &mut found,
            );
        }
        // Every event before the horizon has been fed.
        self.matcher.decide(spec, horizon, &mut found);
        self.expire(spec, horizon, stats);
        for events in found {
            if self.emitted.remove(&identity(&events)).is_none() {
                done.push(events);
            }
        }
        // The exact pass has gone past these sequences' last events: it will not find them.
        let through = self.fed_through(horizon);
        self.emitted.retain(|_, end| *end >= through);
        self.due = self.next_due(spec);
    }

    /// Every event before this time has been fed (or can no longer be placed): those before
    /// the horizon, and those before an early release.
    fn fed_through(&self, horizon: i64) -> i64 {
        self.fed_upto.map_or(horizon, |f| f.max(horizon))
    }

    /// Expires the exact matcher's sequences, at most once per `maxspan` of horizon (after
    /// feeding: a sequence may be extended by any event fed up to `start + maxspan`).
    fn expire(&mut self, spec: &SequenceSpec, horizon: i64, stats: &mut StatefulStats) {
        let Some(maxspan) = spec.maxspan_ms else {
            return;
        };
        let fed = self.fed_through(horizon);
        let last = *self.expired_at.get_or_insert(fed);
        if fed.saturating_sub(last) < maxspan {
            return;
        }
        self.expired_at = Some(fed);
        self.matcher.expire(spec, fed, stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: i64) -> RawEvent {
        RawEvent {
            json: format!("{{\"event\":{{\"id\":\"e{n}\"}}}}")
                .into_bytes()
                .into(),
            default_index: Some("i".into()),
            origin: None,
            parent: None,
        }
    }

    fn input(time: i64, stages: &[usize]) -> SeqInput {
        SeqInput {
            time,
            stages: stages.iter().map(|s| (*s, "k".to_string())).collect(),
            until: None,
        }
    }

    fn ids(done: &[Completed]) -> Vec<Vec<String>> {
        done.iter()
            .map(|c| c.iter().map(|e| e.id.clone()).collect())
            .collect()
    }

    #[test]
    fn events_are_fed_in_time_order_once_past_the_horizon() {
        let spec = SequenceSpec::new(vec![false, false], Some(600_000), false);
        let (limits, mut stats, mut done) =
            (Limits::default(), StatefulStats::default(), Vec::new());
        let mut x = ExactPass::default();
        // b (time 20) arrives before a (time 10).
        assert!(x.push(input(20, &[1]), Some(raw(2))));
        assert!(x.push(input(10, &[0]), Some(raw(1))));
        x.advance(&spec, 20, &limits, &mut stats, &mut done);
        assert!(done.is_empty(), "b is not before the horizon yet");
        assert_eq!(x.buffered(), 1);
        x.advance(&spec, 21, &limits, &mut stats, &mut done);
        assert_eq!(ids(&done), vec![vec!["e1".to_string(), "e2".to_string()]]);
        assert_eq!((x.buffered(), x.len(), x.stored_events()), (0, 0, 0));
    }

    #[test]
    fn a_sequence_already_emitted_is_not_emitted_again() {
        let spec = SequenceSpec::new(vec![false, false], Some(600_000), false);
        let (limits, mut stats, mut done) =
            (Limits::default(), StatefulStats::default(), Vec::new());
        let mut x = ExactPass::default();
        x.push(input(10, &[0]), Some(raw(1)));
        x.push(input(20, &[1]), Some(raw(2)));
        let same: Vec<StoredEvent> = [raw(1), raw(2)]
            .iter()
            .filter_map(RawEvent::resolve)
            .collect();
        x.emitted_immediately(&same, 20, &limits);
        x.advance(&spec, 1_000, &limits, &mut stats, &mut done);
        assert!(done.is_empty());
        assert!(x.emitted.is_empty(), "forgotten once passed");
    }

    #[test]
    fn the_emitted_set_and_the_buffer_stay_within_the_limit() {
        let spec = SequenceSpec::new(vec![false, false], Some(600_000), false);
        let limits = Limits {
            max_sequences_per_rule: 10,
            ..Limits::default()
        };
        let (mut stats, mut done) = (StatefulStats::default(), Vec::new());
        let mut x = ExactPass::default();
        for i in 0..50 {
            let e: Vec<StoredEvent> = raw(i).resolve().into_iter().collect();
            x.emitted_immediately(&e, i, &limits);
            assert!(x.push(input(100 + i, &[1]), Some(raw(i))));
            x.advance(&spec, 0, &limits, &mut stats, &mut done);
            assert!(x.emitted.len() <= 10 && x.buffered() <= 10);
        }
        assert_eq!(stats.evicted_by_limit, 40);
        // Fed early up to time 139: an event before it can no longer be placed.
        assert!(!x.push(input(120, &[0]), Some(raw(99))));
        assert!(x.push(input(139, &[0]), Some(raw(98))));
    }

    #[test]
    fn the_buffer_has_its_own_smaller_limit() {
        let spec = SequenceSpec::new(vec![false, false], Some(600_000), false);
        let limits = Limits {
            max_buffered_events_per_rule: 3,
            ..Limits::default()
        };
        let (mut stats, mut done) = (StatefulStats::default(), Vec::new());
        let mut x = ExactPass::default();
        for i in 0..20 {
            assert!(x.push(input(100 + i, &[1]), Some(raw(i))));
            x.advance(&spec, 0, &limits, &mut stats, &mut done);
            assert!(x.buffered() <= 3, "{} buffered", x.buffered());
        }
        assert_eq!(stats.evicted_by_limit, 17);
    }

    #[test]
    fn the_state_round_trips_through_a_snapshot() {
        let mut x = ExactPass::default();
        x.push(input(10, &[0]), Some(raw(1)));
        x.push(input(5, &[1]), None);
        let text = serde_json::to_string(&x).unwrap_or_default();
        let back: ExactPass = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back.buffered(), 2);
        assert_eq!(back.positive_buffered, 1);
        assert_eq!(back.buffer[1].event, Some(raw(1)));
    }
}
