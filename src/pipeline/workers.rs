//! The evaluation pool: a fixed set of OS threads, each with its own evaluator and bounded queue.
//!
//! Design: rule evaluation is CPU work, so it runs on dedicated threads, never on the tokio
//! workers. Events are routed by (topic, partition) to one worker, so events of a partition are
//! evaluated and their alerts enqueued in offset order. Queues are bounded: a full queue makes
//! the consumer's `send` wait, which stops fetching (backpressure instead of buffering).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use tracing::error;

use super::ack::EventAck;
use super::sink::{DeadLetter, Sink};
use super::{Evaluate, EvaluatorFactory};
use crate::engine::EventOrigin;
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

/// Handle to the running pool.
pub struct Pool {
    senders: Vec<mpsc::Sender<WorkItem>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start(
        workers: usize,
        queue_capacity: usize,
        factory: &Arc<dyn EvaluatorFactory>,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Pool> {
        let mut senders = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = mpsc::channel(queue_capacity);
            let evaluator = factory.evaluator();
            let sink = sink.clone();
            let metrics = metrics.clone();
            let handle = std::thread::Builder::new()
                .name(format!("rulestream-worker-{i}"))
                .spawn(move || worker_loop(rx, evaluator, &sink, &metrics))?;
            senders.push(tx);
            threads.push(handle);
        }
        Ok(Pool { senders, threads })
    }

    /// The queue for events of this partition.
    pub fn sender_for(&self, topic: &str, partition: i32) -> &mpsc::Sender<WorkItem> {
        let mut h = DefaultHasher::new();
        (topic, partition).hash(&mut h);
        &self.senders[(h.finish() % self.senders.len() as u64) as usize]
    }

    /// Closes the queues; workers finish what is queued and exit. Returns the join handles.
    pub fn close(self) -> Vec<JoinHandle<()>> {
        drop(self.senders);
        self.threads
    }
}

fn worker_loop(
    mut rx: mpsc::Receiver<WorkItem>,
    mut evaluator: Box<dyn Evaluate + Send>,
    sink: &Arc<Sink>,
    metrics: &Metrics,
) {
    let mut out = Vec::new();
    while let Some(item) = rx.blocking_recv() {
        metrics.queue_depth.dec();
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
            let share = ack.share();
            sink.send_dead_letter(dl, share);
            ack.done();
            continue;
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
            evaluator.evaluate(&payload, &origin, &mut out)
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
        match failure {
            None => {
                metrics.events_evaluated.inc();
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
        ack.done();
    }
}
