//! The evaluation pool: a fixed set of OS threads, each with its own evaluator and bounded queue.
//!
//! Design: rule evaluation is CPU work, so it runs on dedicated threads, never on the tokio
//! workers. Each (topic, partition) is pinned to one worker, so events of a partition are
//! evaluated and their alerts enqueued in offset order. Queues are bounded: a full queue makes
//! the consumer's `send` wait, which stops fetching (backpressure instead of buffering).

use std::collections::HashMap;
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

    /// Number of workers (at least one once started).
    pub fn workers(&self) -> usize {
        self.senders.len()
    }

    /// The queue of worker `i` (callers keep a partition on one worker: see [`Router`]).
    pub fn sender(&self, i: usize) -> &mpsc::Sender<WorkItem> {
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
}
