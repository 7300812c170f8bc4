//! Offset bookkeeping: which consumed offsets are finished, and which offset may be stored.
//!
//! Design: kept apart from all I/O (like vector's finalizer) so the at-least-once rule is unit
//! tested on its own. Per partition, offsets are registered in consumption order; an offset may
//! be stored only when it and every earlier offset of that partition are complete. Revoking a
//! partition drops its state and starts a new *epoch*: completions from before the revoke are
//! ignored, so a late ack can never store an offset for an assignment we no longer own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A (topic, partition) pair.
pub type TopicPartition = (Arc<str>, i32);

#[derive(Debug)]
struct PartitionState {
    epoch: u64,
    /// Offset → complete?
    pending: BTreeMap<i64, bool>,
    /// Highest offset whose prefix is complete and not yet handed out for storing.
    ready: Option<i64>,
}

/// Pure offset tracker. Not thread-safe by itself; [`Acker`] wraps it in a mutex.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<TopicPartition, PartitionState>,
    next_epoch: u64,
    in_flight: usize,
}

impl OffsetTracker {
    /// Registers a consumed offset; returns the epoch its completion must quote.
    pub fn begin(&mut self, tp: &TopicPartition, offset: i64) -> u64 {
        let next_epoch = &mut self.next_epoch;
        let state = self.parts.entry(tp.clone()).or_insert_with(|| {
            *next_epoch += 1;
            PartitionState {
                epoch: *next_epoch,
                pending: BTreeMap::new(),
                ready: None,
            }
        });
        if state.pending.insert(offset, false).is_none() {
            self.in_flight += 1;
        }
        state.epoch
    }

    /// Marks an offset complete. Returns true when it counted (same epoch, still pending).
    pub fn complete(&mut self, tp: &TopicPartition, offset: i64, epoch: u64) -> bool {
        let Some(state) = self.parts.get_mut(tp) else {
            return false;
        };
        if state.epoch != epoch {
            return false;
        }
        match state.pending.get_mut(&offset) {
            Some(done @ false) => *done = true,
            _ => return false,
        }
        self.in_flight -= 1;
        while let Some(entry) = state.pending.first_entry() {
            if !*entry.get() {
                break;
            }
            let (offset, _) = entry.remove_entry();
            state.ready = Some(offset);
        }
        true
    }

    /// Offsets ready to store (last complete offset of a complete prefix), taken once each.
    pub fn take_ready(&mut self) -> Vec<(TopicPartition, i64)> {
        self.take_ready_in_epochs()
            .into_iter()
            .map(|(tp, offset, _)| (tp, offset))
            .collect()
    }

    /// [`OffsetTracker::take_ready`] with the assignment epoch of each partition (the durable
    /// state gate tells assignments apart with it).
    pub fn take_ready_in_epochs(&mut self) -> Vec<(TopicPartition, i64, u64)> {
        let mut out = Vec::new();
        for (tp, state) in &mut self.parts {
            if let Some(offset) = state.ready.take() {
                out.push((tp.clone(), offset, state.epoch));
            }
        }
        out
    }

    /// Forgets a partition (rebalance): pending offsets are dropped, late completions ignored.
    /// Returns the epoch that ended, if the partition was known.
    pub fn revoke(&mut self, tp: &TopicPartition) -> Option<u64> {
        let state = self.parts.remove(tp)?;
        self.in_flight -= state.pending.values().filter(|done| !**done).count();
        Some(state.epoch)
    }

    /// Forgets the newest pending offset of a partition without completing it (an event
    /// dropped at shutdown before evaluation). Only the newest may go: forgetting an older one
    /// would let later offsets be stored past it.
    pub fn abandon_last(&mut self, tp: &TopicPartition, offset: i64, epoch: u64) -> bool {
        let Some(state) = self.parts.get_mut(tp) else {
            return false;
        };
        if state.epoch != epoch {
            return false;
        }
        match state.pending.last_key_value() {
            Some((&last, &false)) if last == offset => {
                state.pending.remove(&offset);
                self.in_flight -= 1;
                true
            }
            _ => false,
        }
    }

    /// Offsets consumed and not complete.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

/// Thread-safe tracker shared by the source, the workers and the sink.
#[derive(Debug, Default)]
pub struct Acker {
    tracker: Mutex<OffsetTracker>,
}

impl Acker {
    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetTracker> {
        // A panic while holding this lock cannot leave the tracker half-updated in a way that
        // loses data (at worst an offset is never stored, i.e. redelivered), so recover.
        self.tracker
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn begin(&self, tp: &TopicPartition, offset: i64) -> u64 {
        self.lock().begin(tp, offset)
    }

    /// [`Acker::begin`] for a batch under one lock; epochs in input order.
    pub fn begin_many<'a>(
        &self,
        offsets: impl IntoIterator<Item = (&'a TopicPartition, i64)>,
    ) -> Vec<u64> {
        let mut tracker = self.lock();
        offsets
            .into_iter()
            .map(|(tp, offset)| tracker.begin(tp, offset))
            .collect()
    }

    pub fn complete(&self, tp: &TopicPartition, offset: i64, epoch: u64) -> bool {
        self.lock().complete(tp, offset, epoch)
    }

    pub fn take_ready(&self) -> Vec<(TopicPartition, i64)> {
        self.lock().take_ready()
    }

    pub fn take_ready_in_epochs(&self) -> Vec<(TopicPartition, i64, u64)> {
        self.lock().take_ready_in_epochs()
    }

    pub fn revoke(&self, tp: &TopicPartition) -> Option<u64> {
        self.lock().revoke(tp)
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight()
    }

    pub fn abandon_last(&self, tp: &TopicPartition, offset: i64, epoch: u64) -> bool {
        self.lock().abandon_last(tp, offset, epoch)
    }
}

/// Completion handle of one consumed event. Clone it once per output (alert or dead letter)
/// with [`EventAck::share`]; each share calls [`EventAck::done`] when its output is
/// acknowledged. The event completes when the last share is done. A share dropped without
/// `done` keeps the event incomplete forever: its offset is never stored (redelivered later).
pub struct EventAck {
    inner: Arc<AckInner>,
}

struct AckInner {
    acker: Arc<Acker>,
    tp: TopicPartition,
    offset: i64,
    epoch: u64,
    received: Instant,
    remaining: AtomicUsize,
    /// Shared by the events of one fetched batch.
    hooks: Arc<dyn AckHooks>,
}

/// What happens when an event completes, and when its handle is gone (completed, abandoned
/// or revoked). A closure is an `AckHooks` that only reacts to completion.
pub trait AckHooks: Send + Sync {
    /// The event counted as complete (called once, outside the tracker lock).
    fn completed(&self);
    /// The last share of the event was dropped, whether or not it completed (e.g. the source
    /// gives back the event's in-flight permit here).
    fn released(&self) {}
}

impl<F: Fn() + Send + Sync> AckHooks for F {
    fn completed(&self) {
        self()
    }
}

impl Drop for AckInner {
    fn drop(&mut self) {
        self.hooks.released();
    }
}

impl EventAck {
    /// A handle with one share (the evaluation itself). `received`: when the event was
    /// consumed (one clock read per fetched batch is enough).
    pub fn new(
        acker: Arc<Acker>,
        tp: TopicPartition,
        offset: i64,
        epoch: u64,
        received: Instant,
        hooks: Arc<dyn AckHooks>,
    ) -> EventAck {
        EventAck {
            inner: Arc::new(AckInner {
                acker,
                tp,
                offset,
                epoch,
                received,
                remaining: AtomicUsize::new(1),
                hooks,
            }),
        }
    }

    /// Another share that must be done before the event completes.
    pub fn share(&self) -> EventAck {
        self.inner.remaining.fetch_add(1, Ordering::AcqRel);
        EventAck {
            inner: self.inner.clone(),
        }
    }

    /// When the event was consumed.
    pub fn received(&self) -> Instant {
        self.inner.received
    }

    pub fn topic(&self) -> &str {
        &self.inner.tp.0
    }

    pub fn partition(&self) -> i32 {
        self.inner.tp.1
    }

    pub fn offset(&self) -> i64 {
        self.inner.offset
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.inner.tp
    }

    /// The assignment epoch the event was registered in (see [`OffsetTracker::begin`]).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// This share's output is acknowledged.
    pub fn done(self) {
        if self.inner.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let i = &self.inner;
            if i.acker.complete(&i.tp, i.offset, i.epoch) {
                i.hooks.completed();
            }
        }
    }

    /// [`EventAck::done`] for many shares, taking the tracker lock once per run of shares of
    /// the same [`Acker`] (a worker finishes a whole batch this way) instead of once per event.
    pub fn done_all(acks: &mut Vec<EventAck>) {
        let mut finished = Vec::with_capacity(acks.len());
        for ack in acks.drain(..) {
            if ack.inner.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                finished.push(ack);
            }
        }
        let mut counted = Vec::with_capacity(finished.len());
        let mut i = 0;
        while i < finished.len() {
            let acker = &finished[i].inner.acker;
            let mut tracker = acker.lock();
            while let Some(ack) = finished.get(i) {
                if !Arc::ptr_eq(&ack.inner.acker, acker) {
                    break;
                }
                let a = &ack.inner;
                counted.push(tracker.complete(&a.tp, a.offset, a.epoch));
                i += 1;
            }
        }
        // Callbacks outside the lock.
        for (ack, counted) in finished.iter().zip(counted) {
            if counted {
                ack.inner.hooks.completed();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        (Arc::from("t"), p)
    }

    #[test]
    fn stores_only_a_complete_prefix() {
        let mut t = OffsetTracker::default();
        let e = t.begin(&tp(0), 10);
        t.begin(&tp(0), 11);
        t.begin(&tp(0), 12);
        assert!(t.complete(&tp(0), 12, e));
        assert_eq!(t.take_ready(), vec![]);
        assert!(t.complete(&tp(0), 10, e));
        assert_eq!(t.take_ready(), vec![(tp(0), 10)]);
        assert!(t.complete(&tp(0), 11, e));
        assert_eq!(t.take_ready(), vec![(tp(0), 12)]);
        assert_eq!(t.take_ready(), vec![]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::default();
        let e0 = t.begin(&tp(0), 5);
        let e1 = t.begin(&tp(1), 7);
        t.begin(&tp(0), 6);
        assert!(t.complete(&tp(1), 7, e1));
        assert_eq!(t.take_ready(), vec![(tp(1), 7)]);
        assert!(t.complete(&tp(0), 6, e0));
        assert_eq!(t.take_ready(), vec![]);
        assert_eq!(t.in_flight(), 1);
    }

    #[test]
    fn completions_from_before_a_revoke_are_ignored() {
        let mut t = OffsetTracker::default();
        let old = t.begin(&tp(0), 1);
        t.begin(&tp(0), 2);
        t.revoke(&tp(0));
        assert_eq!(t.in_flight(), 0);
        let new = t.begin(&tp(0), 1);
        assert_ne!(old, new);
        assert!(!t.complete(&tp(0), 1, old));
        assert_eq!(t.take_ready(), vec![]);
        assert!(t.complete(&tp(0), 1, new));
        assert_eq!(t.take_ready(), vec![(tp(0), 1)]);
    }

    #[test]
    fn only_the_newest_offset_can_be_abandoned() {
        let mut t = OffsetTracker::default();
        let e = t.begin(&tp(0), 1);
        t.begin(&tp(0), 2);
        assert!(
            !t.abandon_last(&tp(0), 1, e),
            "abandoning 1 would let 2 be stored past it"
        );
        assert!(t.abandon_last(&tp(0), 2, e));
        assert_eq!(t.in_flight(), 1);
        assert!(t.complete(&tp(0), 1, e));
        assert_eq!(t.take_ready(), vec![(tp(0), 1)]);
    }

    #[test]
    fn double_completion_counts_once() {
        let mut t = OffsetTracker::default();
        let e = t.begin(&tp(0), 1);
        t.begin(&tp(0), 2);
        assert!(t.complete(&tp(0), 2, e));
        assert!(!t.complete(&tp(0), 2, e));
        assert_eq!(t.in_flight(), 1);
    }

    #[test]
    fn event_completes_after_its_last_share() {
        let acker = Arc::new(Acker::default());
        let e = acker.begin(&tp(0), 3);
        let completed = Arc::new(AtomicUsize::new(0));
        let c = completed.clone();
        let ack = EventAck::new(
            acker.clone(),
            tp(0),
            3,
            e,
            Instant::now(),
            Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let a = ack.share();
        let b = ack.share();
        ack.done();
        a.done();
        assert_eq!(acker.take_ready(), vec![]);
        assert_eq!(completed.load(Ordering::SeqCst), 0);
        b.done();
        assert_eq!(acker.take_ready(), vec![(tp(0), 3)]);
        assert_eq!(completed.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_share_never_completes() {
        let acker = Arc::new(Acker::default());
        let e = acker.begin(&tp(0), 3);
        let ack = EventAck::new(acker.clone(), tp(0), 3, e, Instant::now(), Arc::new(|| {}));
        let lost = ack.share();
        ack.done();
        drop(lost);
        assert_eq!(acker.take_ready(), vec![]);
        assert_eq!(acker.in_flight(), 1);
    }

    #[test]
    fn done_all_completes_only_events_without_pending_shares() {
        let acker = Arc::new(Acker::default());
        let epochs = acker.begin_many([(&tp(0), 1), (&tp(0), 2), (&tp(1), 5)]);
        assert_eq!(epochs.len(), 3);
        assert_eq!(acker.in_flight(), 3);
        let completed = Arc::new(AtomicUsize::new(0));
        let c = completed.clone();
        let on_complete: Arc<dyn AckHooks> = Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let mut acks: Vec<EventAck> = [(tp(0), 1), (tp(0), 2), (tp(1), 5)]
            .into_iter()
            .zip(&epochs)
            .map(|((tp, o), e)| {
                EventAck::new(
                    acker.clone(),
                    tp,
                    o,
                    *e,
                    Instant::now(),
                    on_complete.clone(),
                )
            })
            .collect();
        // Offset 1 still waits for an alert.
        let alert = acks[0].share();
        EventAck::done_all(&mut acks);
        assert!(acks.is_empty());
        assert_eq!(completed.load(Ordering::SeqCst), 2);
        assert_eq!(acker.in_flight(), 1);
        assert_eq!(acker.take_ready(), vec![(tp(1), 5)], "2 waits for 1");
        alert.done();
        assert_eq!(acker.take_ready(), vec![(tp(0), 2)]);
        assert_eq!(completed.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn released_once_when_the_last_share_goes_completed_or_not() {
        struct Count(AtomicUsize, AtomicUsize);
        impl AckHooks for Count {
            fn completed(&self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
            fn released(&self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let hooks = Arc::new(Count(AtomicUsize::new(0), AtomicUsize::new(0)));
        let acker = Arc::new(Acker::default());
        let e = acker.begin(&tp(0), 1);
        let done = EventAck::new(acker.clone(), tp(0), 1, e, Instant::now(), hooks.clone());
        let alert = done.share();
        done.done();
        assert_eq!(hooks.1.load(Ordering::SeqCst), 0, "a share is still held");
        alert.done();
        assert_eq!(hooks.0.load(Ordering::SeqCst), 1);
        assert_eq!(hooks.1.load(Ordering::SeqCst), 1);
        // Revoked before completion: never completes, still released.
        let e = acker.begin(&tp(0), 2);
        let abandoned = EventAck::new(acker.clone(), tp(0), 2, e, Instant::now(), hooks.clone());
        acker.revoke(&tp(0));
        abandoned.done();
        assert_eq!(hooks.0.load(Ordering::SeqCst), 1);
        assert_eq!(hooks.1.load(Ordering::SeqCst), 2);
    }
}
