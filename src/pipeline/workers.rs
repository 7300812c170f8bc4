//! The evaluation pool: a fixed set of OS threads, each with its own evaluator and bounded queue.
//!
//! Design: rule evaluation is CPU work, so it runs on dedicated threads, never on the tokio
//! workers. Each (topic, partition) is pinned to one worker, so events of a partition are
//! evaluated and their alerts enqueued in offset order. Queues are bounded: a full queue makes
//! the consumer's `send` wait, which stops fetching (backpressure instead of buffering).
//! Work moves in batches (what one fetch returned for this worker's partitions): one queue
//! send, one thread wake-up and one offset-tracker lock per batch instead of per event, which
//! is what bounded throughput when each event was handed over alone.
//!
//! Time-driven outputs: every `stateful.flush_interval` (and once when its queue closes) a
//! worker calls [`Evaluate::flush`] and sends the suppression updates it returns. An empty
//! batch from a ticker task wakes idle workers for this. Those alerts belong to no input
//! offset, so they are acknowledged through a separate [`Acker`] whose offsets are never stored
//! for commit (see [`Flusher`]); shutdown waits for them like for events.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{error, warn};

use super::ack::{Acker, EventAck, TopicPartition};
use super::durable::{FlushLedger, FlushMark, SnapshotSettings, Snapshotter};
use super::sink::{DeadLetter, Sink};
use super::{Evaluate, EvaluatorFactory};
use crate::engine::{AlertOut, EventOrigin};
use crate::metrics::Metrics;

/// One consumed event on its way to a worker.
pub struct WorkItem {
    pub key: Option<Vec<u8>>,
    /// The payload, or its first `dead_letter_max_bytes` when `original_size` is set.
    pub payload: Vec<u8>,
    /// Set when the event exceeded `max_event_bytes` (it is dead-lettered, not evaluated).
    pub original_size: Option<usize>,
    pub default_index: Option<Arc<str>>,
    pub ack: EventAck,
}

/// Events for one worker, in consumption order.
pub type Batch = Vec<WorkItem>;

/// Most events the fetch loop puts in one batch. Large enough to amortize the hand-over (a
/// batch of Okta events takes ~0.5 ms to evaluate), small enough to add no visible latency.
pub const MAX_BATCH: usize = 64;

/// Batch size and queue length (in batches) for a queue capacity in events: the queue never
/// holds more than `queue_capacity` events, and holds at least two batches when it can (one
/// waiting while the worker evaluates the other).
pub fn batch_shape(queue_capacity: usize) -> (usize, usize) {
    let queue_capacity = queue_capacity.max(1);
    let size = MAX_BATCH.min(queue_capacity.div_ceil(2));
    (size, queue_capacity / size)
}

/// Handle to the running pool.
pub struct Pool {
    senders: Vec<mpsc::Sender<Batch>>,
    batch_size: usize,
    threads: Vec<JoinHandle<()>>,
}

/// When workers flush time-driven outputs and where those are acknowledged.
pub struct FlushSettings {
    pub interval: Duration,
    /// Tracks flush outputs only; its offsets are never stored (see [`Flusher`]).
    pub acker: Arc<Acker>,
    /// Durable state: where and how often workers hand over partition snapshots.
    pub snapshots: Option<Arc<SnapshotSettings>>,
}

impl FlushSettings {
    /// How often idle workers are woken: for flushes, and for snapshots of partitions that
    /// went quiet (their offsets are held back until a snapshot covers them).
    fn tick(&self) -> Duration {
        match &self.snapshots {
            Some(s) => self.interval.min(s.interval),
            None => self.interval,
        }
    }
}

/// A worker's flush bookkeeping.
///
/// Acknowledgement of flush outputs: a suppression update re-sends an alert whose events were
/// already acknowledged with their own offsets, so it has no offset to hold back. Each flush
/// registers a synthetic offset (a per-worker sequence) on a partition `("", -1 - worker)` of
/// a separate [`Acker`] that the source never reads: the sink's retry-until-acknowledged and
/// the shutdown drain cover it, and no input offset is stored early or wrongly because of it.
/// With durable state, the [`FlushLedger`] records which flushes are not yet acknowledged: a
/// snapshot taken after a flush is written only once that flush's updates are acknowledged.
struct Flusher {
    settings: Arc<FlushSettings>,
    tp: TopicPartition,
    seq: i64,
    last: Instant,
    ledger: Arc<FlushLedger>,
}

impl Flusher {
    fn due(&self) -> bool {
        self.last.elapsed() >= self.settings.interval
    }

    /// The flushes sent so far (what a snapshot taken now depends on).
    fn mark(&self) -> FlushMark {
        FlushMark {
            ledger: self.ledger.clone(),
            seq: self.seq,
        }
    }

    /// Flushes the evaluator and sends its outputs; a failing or panicking flush is logged
    /// (the updates are re-sent when their windows close or at the next flush).
    fn flush(
        &mut self,
        evaluator: &mut (dyn Evaluate + Send),
        sink: &Arc<Sink>,
        out: &mut Vec<AlertOut>,
    ) {
        self.last = Instant::now();
        out.clear();
        let now = chrono::Utc::now();
        match catch_unwind(AssertUnwindSafe(|| evaluator.flush(now, out))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "Suppression flush failed; updates will be re-sent later.")
            }
            Err(_) => {
                error!("Evaluator panicked in flush; updates will be re-sent later.");
                out.clear();
            }
        }
        if out.is_empty() {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        let acker = &self.settings.acker;
        let epoch = acker.begin(&self.tp, seq);
        self.ledger.issued(seq);
        let ledger = self.ledger.clone();
        let ack = EventAck::new(
            acker.clone(),
            self.tp.clone(),
            seq,
            epoch,
            Instant::now(),
            Arc::new(move || ledger.acked(seq)),
        );
        for alert in out.drain(..) {
            sink.send_alert(alert, ack.share());
        }
        ack.done();
    }
}

impl Pool {
    pub fn start(
        workers: usize,
        queue_capacity: usize,
        factory: &Arc<dyn EvaluatorFactory>,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
        flush: FlushSettings,
    ) -> std::io::Result<Pool> {
        let (batch_size, queue_batches) = batch_shape(queue_capacity);
        let flush = Arc::new(flush);
        let mut senders = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = mpsc::channel(queue_batches);
            let evaluator = factory.evaluator();
            let sink = sink.clone();
            let metrics = metrics.clone();
            let flusher = Flusher {
                settings: flush.clone(),
                tp: (Arc::from(""), -1 - i as i32),
                seq: 0,
                last: Instant::now(),
                ledger: Arc::new(FlushLedger::default()),
            };
            let snapshotter = flush.snapshots.clone().map(Snapshotter::new);
            let handle = std::thread::Builder::new()
                .name(format!("rulestream-worker-{i}"))
                .spawn(move || worker_loop(rx, evaluator, &sink, &metrics, flusher, snapshotter))?;
            senders.push(tx);
            threads.push(handle);
        }
        spawn_ticker(&senders, flush.tick());
        Ok(Pool {
            senders,
            batch_size,
            threads,
        })
    }

    /// Number of workers (at least one once started).
    pub fn workers(&self) -> usize {
        self.senders.len()
    }

    /// Most events to put in one batch (see [`batch_shape`]).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The queue of worker `i` (callers keep a partition on one worker: see [`Router`]).
    pub fn sender(&self, i: usize) -> &mpsc::Sender<Batch> {
        &self.senders[i % self.senders.len()]
    }

    /// Closes the queues; workers finish what is queued and exit. Returns the join handles.
    pub fn close(self) -> Vec<JoinHandle<()>> {
        drop(self.senders);
        self.threads
    }
}

/// Pins each (topic, partition) to one worker, round-robin in order of first appearance.
/// Hashing was tried first: with few partitions it often put most of them on one worker (4
/// partitions on 2 workers all landed on one in a bench run), leaving cores idle.
#[derive(Default)]
pub struct Router {
    routes: HashMap<(Arc<str>, i32), usize>,
}

impl Router {
    pub fn worker_for(&mut self, topic: &Arc<str>, partition: i32, workers: usize) -> usize {
        let next = self.routes.len() % workers.max(1);
        *self
            .routes
            .entry((topic.clone(), partition))
            .or_insert(next)
    }
}

/// Wakes idle workers for their flush with an empty batch every `interval`. Holds only weak
/// senders, so closing the pool still closes the queues; a full queue skips the tick (that
/// worker is busy and checks its flush clock after each batch).
fn spawn_ticker(senders: &[mpsc::Sender<Batch>], interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Vec<_> = senders.iter().map(|s| s.downgrade()).collect();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let mut open = false;
            for w in &weak {
                if let Some(tx) = w.upgrade() {
                    open = true;
                    let _ = tx.try_send(Vec::new());
                }
            }
            if !open {
                return;
            }
        }
    });
}

fn worker_loop(
    mut rx: mpsc::Receiver<Batch>,
    mut evaluator: Box<dyn Evaluate + Send>,
    sink: &Arc<Sink>,
    metrics: &Metrics,
    mut flusher: Flusher,
    mut snapshotter: Option<Snapshotter>,
) {
    let mut out = Vec::new();
    // This batch's evaluation shares, completed together at its end (one tracker lock).
    let mut finished = Vec::with_capacity(MAX_BATCH);
    let mut stats = StatsPublisher::default();
    while let Some(batch) = rx.blocking_recv() {
        metrics.queue_depth.sub(batch.len() as i64);
        let mut evaluated = 0;
        for item in batch {
            let position = snapshotter.as_mut().map(|s| {
                let ack = &item.ack;
                s.before_event(ack.topic_partition(), ack.epoch(), evaluator.as_mut());
                (ack.topic_partition().clone(), ack.offset())
            });
            if process(item, evaluator.as_mut(), sink, &mut out, &mut finished) {
                evaluated += 1;
            }
            if let (Some(s), Some((tp, offset))) = (&mut snapshotter, position) {
                s.after_event(&tp, offset);
            }
        }
        metrics.events_evaluated.inc_by(evaluated);
        EventAck::done_all(&mut finished);
        if flusher.due() {
            flusher.flush(evaluator.as_mut(), sink, &mut out);
        }
        if let Some(s) = &mut snapshotter {
            s.take_due(evaluator.as_ref(), &flusher.mark(), false);
        }
        stats.publish(evaluator.as_ref(), metrics, false);
    }
    // Queue closed (shutdown): send the suppression updates still held, then hand over the
    // last snapshots (written once those updates and every event's outputs are acknowledged).
    flusher.flush(evaluator.as_mut(), sink, &mut out);
    if let Some(s) = &mut snapshotter {
        s.take_due(evaluator.as_ref(), &flusher.mark(), true);
    }
    stats.publish(evaluator.as_ref(), metrics, true);
}

/// Publishes a worker's stateful counters and sizes as deltas, at most once a second (a
/// sample walks every partition's rule states).
#[derive(Default)]
struct StatsPublisher {
    last: crate::metrics::StatefulSample,
    at: Option<Instant>,
}

impl StatsPublisher {
    fn publish(&mut self, evaluator: &(dyn Evaluate + Send), metrics: &Metrics, force: bool) {
        if !force
            && self
                .at
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.at = Some(Instant::now());
        if let Some(now) = evaluator.stateful_sample() {
            metrics.add_stateful(&self.last, &now);
            self.last = now;
        }
    }
}

/// Evaluates one event and enqueues its outputs; pushes the event's own share to `finished`.
/// Returns whether the evaluator accepted the event.
fn process(
    item: WorkItem,
    evaluator: &mut (dyn Evaluate + Send),
    sink: &Arc<Sink>,
    out: &mut Vec<AlertOut>,
    finished: &mut Vec<EventAck>,
) -> bool {
    let WorkItem {
        key,
        payload,
        original_size,
        default_index,
        ack,
    } = item;
    if let Some(size) = original_size {
        let dl = DeadLetter {
            reason: "too_large",
            error: format!("event of {size} bytes exceeds pipeline.max_event_bytes"),
            key: key.as_deref(),
            payload: &payload,
            original_size: Some(size),
        };
        sink.send_dead_letter(dl, ack.share());
        finished.push(ack);
        return false;
    }
    let origin = EventOrigin {
        topic: Some(ack.topic()),
        partition: ack.partition(),
        offset: ack.offset(),
        default_index: default_index.as_deref(),
    };
    out.clear();
    // A bug in the engine must not kill the worker (its partitions would stall): a panic
    // is treated like an event error and the event goes to the dead-letter path.
    let result = catch_unwind(AssertUnwindSafe(|| {
        evaluator.evaluate(&payload, &origin, out)
    }));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some((e.reason(), e.to_string())),
        Err(_) => {
            error!(
                topic = ack.topic(),
                partition = ack.partition(),
                offset = ack.offset(),
                "Evaluator panicked on an event; dead-lettering it."
            );
            out.clear();
            Some((
                "evaluator_panic",
                "the evaluator panicked on this event".to_string(),
            ))
        }
    };
    let accepted = failure.is_none();
    match failure {
        None => {
            for alert in out.drain(..) {
                sink.send_alert(alert, ack.share());
            }
        }
        Some((reason, error)) => {
            let dl = DeadLetter {
                reason,
                error,
                key: key.as_deref(),
                payload: &payload,
                original_size: None,
            };
            sink.send_dead_letter(dl, ack.share());
        }
    }
    finished.push(ack);
    accepted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn router_spreads_partitions_and_keeps_each_on_one_worker() {
        let mut r = Router::default();
        let t: Arc<str> = Arc::from("t");
        let first: Vec<usize> = (0..4).map(|p| r.worker_for(&t, p, 2)).collect();
        assert_eq!(first, vec![0, 1, 0, 1]);
        let again: Vec<usize> = (0..4).rev().map(|p| r.worker_for(&t, p, 2)).collect();
        assert_eq!(again, vec![1, 0, 1, 0]);
    }

    #[test]
    fn queue_never_holds_more_than_its_capacity_in_events() {
        // (capacity, batch size, batches)
        let cases = [
            (1, 1, 1),
            (2, 1, 2),
            (4, 2, 2),
            (5, 3, 1),
            (2 * MAX_BATCH, MAX_BATCH, 2),
            (4 * MAX_BATCH + 1, MAX_BATCH, 4),
        ];
        for (capacity, size, batches) in cases {
            assert_eq!(
                batch_shape(capacity),
                (size, batches),
                "capacity {capacity}"
            );
            assert!(size * batches <= capacity);
        }
    }
}
