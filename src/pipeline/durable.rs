//! Durable stateful-rule state in the stage: partition snapshots are written only once every
//! output they cover is acknowledged, and input offsets are stored for commit only up to the
//! last snapshot written.
//!
//! Design (the protocol of `docs/stateful.md`, "Durability"): each worker owns its partitions'
//! state. After a batch, at most once per `stateful.snapshot_interval_ms` per partition, it
//! serializes the partition (covering the last offset it evaluated there, `O`) and hands it to
//! the [`StateGate`]. The gate's writer thread writes the snapshot once the offset tracker says
//! every event up to `O` is complete (all its alerts and dead letters acknowledged) and every
//! suppression update flushed before the snapshot is acknowledged too; only then may offsets
//! up to `O` be stored. So the committed offset `C` never passes the state on disk: after a
//! crash, events from `C` on are redelivered, those at or below the snapshot's offset are
//! skipped by the stateful rules (already counted), and nothing is counted twice or lost.
//!
//! Rebalances: a revoked partition's pending snapshots are dropped (their offsets were not
//! committed, so its next owner replays those events from the last snapshot written). A worker
//! that sees a partition come back under a new assignment drops what it still holds for it and
//! reloads the snapshot on the next event ([`Snapshotter::before_event`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{error, warn};

use super::ack::TopicPartition;
use super::Evaluate;
use crate::engine::stateful::{PartitionSnapshot, StateStore};
use crate::metrics::Metrics;

/// Suppression-update batches a worker has sent and the broker has not yet acknowledged.
/// A snapshot taken after a flush must not be written before the flush's updates are
/// acknowledged: the state records them as sent.
#[derive(Debug, Default)]
pub struct FlushLedger {
    outstanding: Mutex<BTreeSet<i64>>,
}

impl FlushLedger {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<i64>> {
        self.outstanding
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A flush batch `seq` was sent.
    pub fn issued(&self, seq: i64) {
        self.lock().insert(seq);
    }

    /// Flush batch `seq` is acknowledged.
    pub fn acked(&self, seq: i64) {
        self.lock().remove(&seq);
    }

    /// Whether every batch up to `seq` is acknowledged.
    fn covers(&self, seq: i64) -> bool {
        self.lock().first().is_none_or(|first| *first > seq)
    }
}

/// The flush batches a snapshot depends on: everything its worker sent up to `seq`.
#[derive(Debug, Clone)]
pub struct FlushMark {
    pub ledger: Arc<FlushLedger>,
    pub seq: i64,
}

/// A snapshot waiting for its outputs to be acknowledged.
struct Pending {
    epoch: u64,
    /// Last offset evaluated in the partition when the snapshot was taken.
    offset: i64,
    /// `None`: the evaluator holds nothing for the partition (e.g. only dead letters so far);
    /// there is nothing to write, but the offset may still be released.
    snapshot: Option<PartitionSnapshot>,
    flush: FlushMark,
}

/// What the gate knows about one partition, for one assignment epoch.
#[derive(Default)]
struct Part {
    epoch: u64,
    /// Highest offset whose events (and all before them) are complete.
    ready: Option<i64>,
    /// Offset covered by the last snapshot written in this epoch.
    persisted: Option<i64>,
    /// Last offset handed out for storing.
    stored: Option<i64>,
    /// Oldest first; at most [`MAX_PENDING`].
    pending: VecDeque<Pending>,
    /// The partition was revoked in this epoch: input quoting it is stale.
    revoked: bool,
}

/// Snapshots kept waiting per partition: the oldest (closest to being writable) and the
/// newest (covers the most); a newer one replaces the one in between.
const MAX_PENDING: usize = 2;

#[derive(Default)]
struct Inner {
    parts: HashMap<TopicPartition, Part>,
    /// Partitions whose snapshot is being written right now (taken out of `pending`).
    writing: Vec<TopicPartition>,
}

impl Inner {
    /// The partition's entry for `epoch`: a newer epoch resets it (the partition was revoked
    /// and assigned again); `None` for an older or revoked one (stale input, ignored).
    fn part(&mut self, tp: &TopicPartition, epoch: u64) -> Option<&mut Part> {
        let part = self.parts.entry(tp.clone()).or_insert_with(|| Part {
            epoch,
            ..Part::default()
        });
        if part.epoch < epoch {
            *part = Part {
                epoch,
                ..Part::default()
            };
        }
        (part.epoch == epoch && !part.revoked).then_some(part)
    }
}

/// Orders snapshot writes and offset storing (see the module docs). Shared by the workers
/// (submit), the source (ready offsets, revocations) and its own writer thread.
pub struct StateGate {
    store: StateStore,
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Notified after each write (a revocation waits for the partition's write in progress).
    written: Condvar,
    metrics: Arc<Metrics>,
}

/// How long a revocation waits for a snapshot write of the partition in progress.
const REVOKE_WRITE_WAIT: Duration = Duration::from_secs(10);

impl StateGate {
    pub fn new(store: StateStore, metrics: Arc<Metrics>) -> Arc<StateGate> {
        Arc::new(StateGate {
            store,
            inner: Mutex::new(Inner::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update under this lock is a single assignment or push; a panic elsewhere
        // cannot leave it inconsistent in a way that loses data (at worst a write is missed
        // and the offset is held back, i.e. redelivered).
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A worker hands over a snapshot of `tp` covering `offset`, taken in assignment `epoch`.
    pub fn submit(
        &self,
        tp: &TopicPartition,
        epoch: u64,
        offset: i64,
        snapshot: Option<PartitionSnapshot>,
        flush: FlushMark,
    ) {
        let mut inner = self.lock();
        let Some(part) = inner.part(tp, epoch) else {
            return;
        };
        if part.pending.len() >= MAX_PENDING {
            part.pending.pop_back();
        }
        part.pending.push_back(Pending {
            epoch,
            offset,
            snapshot,
            flush,
        });
        drop(inner);
        self.wake.notify_one();
    }

    /// Takes the offset tracker's newly complete offsets (`(partition, offset, epoch)`) and
    /// returns the offsets that may be stored now: per partition the smaller of the complete
    /// offset and the last snapshot written, when it moved forward. Complete offsets beyond
    /// the snapshot are remembered until a snapshot covers them.
    pub fn storable(&self, ready: Vec<(TopicPartition, i64, u64)>) -> Vec<(TopicPartition, i64)> {
        let mut inner = self.lock();
        let mut wake = false;
        for (tp, offset, epoch) in ready {
            if let Some(part) = inner.part(&tp, epoch) {
                part.ready = part.ready.max(Some(offset));
                wake |= !part.pending.is_empty();
            }
        }
        let mut out = Vec::new();
        for (tp, part) in &mut inner.parts {
            let (Some(ready), Some(persisted)) = (part.ready, part.persisted) else {
                continue;
            };
            let offset = ready.min(persisted);
            if part.stored.is_none_or(|s| offset > s) {
                part.stored = Some(offset);
                out.push((tp.clone(), offset));
            }
        }
        drop(inner);
        if wake {
            self.wake.notify_one();
        }
        out
    }

    /// The partition's assignment `epoch` ended: its waiting snapshots are dropped (their
    /// events will be redelivered to the next owner, which starts from the last snapshot
    /// written), and snapshots or offsets still arriving from that epoch are ignored.
    ///
    /// A write of the partition already in progress is waited for (bounded): called from the
    /// rebalance callback, this keeps a late write of the old owner from replacing a newer
    /// snapshot the next owner writes to a shared state directory.
    pub fn revoke(&self, tp: &TopicPartition, epoch: u64) {
        let mut inner = self.lock();
        let deadline = Instant::now() + REVOKE_WRITE_WAIT;
        while inner.writing.contains(tp) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                warn!(topic = %tp.0, partition = tp.1,
                    "A state snapshot write is still running at revocation.");
                break;
            };
            inner = self
                .written
                .wait_timeout(inner, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poison| poison.into_inner().0);
        }
        let part = inner.parts.entry(tp.clone()).or_default();
        if part.epoch <= epoch {
            *part = Part {
                epoch,
                revoked: true,
                ..Part::default()
            };
        }
    }

    /// Snapshots waiting or being written (shutdown waits for none).
    pub fn busy(&self) -> usize {
        let inner = self.lock();
        inner.writing.len() + inner.parts.values().map(|p| p.pending.len()).sum::<usize>()
    }

    /// Removes and returns, for each partition, the newest waiting snapshot that is writable
    /// now (its events complete and its flushes acknowledged), with the older ones it replaces.
    fn take_writable(&self) -> Vec<(TopicPartition, Pending)> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for (tp, part) in &mut inner.parts {
            let ready = part.ready;
            let writable = part.pending.iter().rposition(|p| {
                ready.is_some_and(|r| r >= p.offset) && p.flush.ledger.covers(p.flush.seq)
            });
            if let Some(i) = writable {
                let mut taken: Vec<Pending> = part.pending.drain(..=i).collect();
                if let Some(newest) = taken.pop() {
                    out.push((tp.clone(), newest));
                }
            }
        }
        inner.writing.extend(out.iter().map(|(tp, _)| tp.clone()));
        out
    }

    /// Writes one snapshot and, if its partition is still in the same assignment, releases
    /// its offset for storing.
    fn write(&self, tp: &TopicPartition, pending: Pending) {
        let result = match &pending.snapshot {
            Some(snapshot) => self.store.write(snapshot),
            None => Ok(()),
        };
        let mut inner = self.lock();
        if let Some(i) = inner.writing.iter().position(|w| w == tp) {
            inner.writing.swap_remove(i);
        }
        self.written.notify_all();
        match result {
            Ok(()) => {
                self.metrics
                    .state_snapshots
                    .with_label_values(&["written"])
                    .inc();
                if let Some(part) = inner.parts.get_mut(tp) {
                    if part.epoch == pending.epoch && !part.revoked {
                        part.persisted = part.persisted.max(Some(pending.offset));
                    }
                }
            }
            Err(e) => {
                // The offsets stay held back; the next snapshot of the partition retries.
                self.metrics
                    .state_snapshots
                    .with_label_values(&["failed"])
                    .inc();
                error!(error = %e, topic = %tp.0, partition = tp.1,
                    "State snapshot not written; its offsets stay uncommitted.");
            }
        }
    }

    /// Starts the writer thread; it stops once `stop` is set and nothing is left to write.
    pub fn spawn_writer(
        self: &Arc<Self>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        let gate = self.clone();
        std::thread::Builder::new()
            .name("rulestream-state".into())
            .spawn(move || loop {
                for (tp, pending) in gate.take_writable() {
                    gate.write(&tp, pending);
                }
                if stop.load(Ordering::Acquire) && gate.busy() == 0 {
                    return;
                }
                // Woken by new snapshots and newly complete offsets; the timeout covers
                // flush acknowledgements, which do not notify.
                let inner = gate.lock();
                let _ = gate.wake.wait_timeout(inner, Duration::from_millis(20));
            })
    }
}

/// What a worker needs to take snapshots.
pub struct SnapshotSettings {
    pub gate: Arc<StateGate>,
    pub interval: Duration,
}

/// A worker's view of its partitions for snapshots.
struct WorkerPart {
    epoch: u64,
    offset: i64,
    /// Events evaluated since the last snapshot.
    changed: bool,
    last: Instant,
}

/// Per worker: decides when to snapshot which partition and hands the snapshots to the gate.
pub struct Snapshotter {
    settings: Arc<SnapshotSettings>,
    parts: HashMap<TopicPartition, WorkerPart>,
}

impl Snapshotter {
    pub fn new(settings: Arc<SnapshotSettings>) -> Snapshotter {
        Snapshotter {
            settings,
            parts: HashMap::new(),
        }
    }

    /// Call before evaluating an event of `tp` registered in assignment `epoch`: when the
    /// partition was assigned again since the worker last saw it, the state held for it is
    /// dropped (see [`crate::engine::stateful::Runtime::forget`]).
    pub fn before_event(
        &mut self,
        tp: &TopicPartition,
        epoch: u64,
        evaluator: &mut (dyn Evaluate + Send),
    ) {
        match self.parts.get_mut(tp) {
            Some(part) if part.epoch == epoch => {}
            Some(part) => {
                evaluator.forget_partition(&tp.0, tp.1);
                part.epoch = epoch;
                part.changed = false;
            }
            None => {
                self.parts.insert(
                    tp.clone(),
                    WorkerPart {
                        epoch,
                        offset: -1,
                        changed: false,
                        last: Instant::now(),
                    },
                );
            }
        }
    }

    /// Call after evaluating the event at `offset` (its outputs already handed to the sink).
    pub fn after_event(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(part) = self.parts.get_mut(tp) {
            part.offset = offset;
            part.changed = true;
        }
    }

    /// Submits a snapshot of every changed partition whose interval has passed (all changed
    /// ones with `force`, at shutdown). `flush`: the worker's flushes so far.
    pub fn take_due(&mut self, evaluator: &(dyn Evaluate + Send), flush: &FlushMark, force: bool) {
        let interval = self.settings.interval;
        for (tp, part) in &mut self.parts {
            if !part.changed || !(force || part.last.elapsed() >= interval) {
                continue;
            }
            part.changed = false;
            part.last = Instant::now();
            let snapshot = evaluator.snapshot(&tp.0, tp.1);
            self.settings
                .gate
                .submit(tp, part.epoch, part.offset, snapshot, flush.clone());
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

    fn gate() -> (Arc<StateGate>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        (StateGate::new(store, Arc::new(Metrics::new())), dir)
    }

    fn no_flush() -> FlushMark {
        FlushMark {
            ledger: Arc::new(FlushLedger::default()),
            seq: 0,
        }
    }

    fn write_all(gate: &StateGate) -> usize {
        let writable = gate.take_writable();
        let n = writable.len();
        for (tp, p) in writable {
            gate.write(&tp, p);
        }
        n
    }

    #[test]
    fn offsets_wait_for_a_snapshot_and_snapshots_wait_for_acks() {
        let (gate, _dir) = gate();
        // Events up to 10 complete, no snapshot yet: nothing may be stored.
        assert_eq!(gate.storable(vec![(tp(0), 10, 1)]), vec![]);
        // A snapshot covering 15: its events are not all complete, so it is not written.
        gate.submit(&tp(0), 1, 15, None, no_flush());
        assert_eq!(write_all(&gate), 0);
        assert_eq!(gate.storable(vec![]), vec![]);
        // 15 complete: written, then 15 is storable.
        assert_eq!(gate.storable(vec![(tp(0), 15, 1)]), vec![]);
        assert_eq!(write_all(&gate), 1);
        assert_eq!(gate.storable(vec![]), vec![(tp(0), 15)]);
        // More complete events beyond the snapshot are held back until the next one.
        assert_eq!(gate.storable(vec![(tp(0), 20, 1)]), vec![]);
        gate.submit(&tp(0), 1, 20, None, no_flush());
        assert_eq!(write_all(&gate), 1);
        assert_eq!(gate.storable(vec![]), vec![(tp(0), 20)]);
        assert_eq!(gate.busy(), 0);
    }

    #[test]
    fn a_snapshot_after_a_flush_waits_for_the_flush_acks() {
        let (gate, _dir) = gate();
        let ledger = Arc::new(FlushLedger::default());
        ledger.issued(1);
        let mark = FlushMark {
            ledger: ledger.clone(),
            seq: 1,
        };
        gate.submit(&tp(0), 1, 5, None, mark);
        gate.storable(vec![(tp(0), 5, 1)]);
        assert_eq!(write_all(&gate), 0, "flush 1 not acknowledged");
        ledger.acked(1);
        assert_eq!(write_all(&gate), 1);
        assert_eq!(gate.storable(vec![]), vec![(tp(0), 5)]);
    }

    #[test]
    fn the_newest_writable_snapshot_replaces_older_ones() {
        let (gate, dir) = gate();
        let store = StateStore::open(dir.path()).unwrap();
        let key = crate::engine::stateful::PartitionKey {
            topic: "t".into(),
            partition: 0,
        };
        let snap = |offset: i64| {
            let mut state = crate::engine::stateful::PartitionState::default();
            state.offset = Some(offset);
            StateStore::snapshot(&key, &state)
        };
        gate.submit(&tp(0), 1, 1, Some(snap(1)), no_flush());
        gate.submit(&tp(0), 1, 2, Some(snap(2)), no_flush());
        gate.submit(&tp(0), 1, 3, Some(snap(3)), no_flush());
        assert_eq!(gate.busy(), 2, "at most two wait per partition");
        gate.storable(vec![(tp(0), 3, 1)]);
        assert_eq!(write_all(&gate), 1, "one write covers both");
        assert_eq!(store.load(&key).unwrap().unwrap().offset, Some(3));
        assert_eq!(gate.busy(), 0);
    }

    #[test]
    fn revocation_drops_pending_snapshots_and_stale_epochs_are_ignored() {
        let (gate, _dir) = gate();
        gate.submit(&tp(0), 1, 5, None, no_flush());
        gate.revoke(&tp(0), 1);
        assert_eq!(gate.busy(), 0);
        // A worker still busy with epoch 1 submits after the revocation: ignored, so it cannot
        // hold up the shutdown drain.
        gate.submit(&tp(0), 1, 6, None, no_flush());
        assert_eq!(gate.busy(), 0);
        // The partition comes back under epoch 2; input from epoch 1 is ignored.
        assert_eq!(gate.storable(vec![(tp(0), 3, 2)]), vec![]);
        gate.submit(&tp(0), 1, 9, None, no_flush());
        gate.storable(vec![(tp(0), 9, 1)]);
        assert_eq!(write_all(&gate), 0);
        gate.submit(&tp(0), 2, 3, None, no_flush());
        assert_eq!(write_all(&gate), 1);
        assert_eq!(gate.storable(vec![]), vec![(tp(0), 3)]);
    }

    #[test]
    fn a_revocation_waits_for_the_write_in_progress_and_releases_nothing() {
        let (gate, _dir) = gate();
        gate.submit(&tp(0), 1, 5, None, no_flush());
        gate.storable(vec![(tp(0), 5, 1)]);
        let writable = gate.take_writable();
        assert_eq!(writable.len(), 1);
        let writer = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                for (tp, p) in writable {
                    gate.write(&tp, p);
                }
            })
        };
        let started = Instant::now();
        gate.revoke(&tp(0), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(90),
            "revoke returned before the write in progress finished"
        );
        writer.join().unwrap();
        assert_eq!(gate.storable(vec![(tp(0), 5, 2)]), vec![]);
        assert_eq!(gate.busy(), 0);
    }
}
