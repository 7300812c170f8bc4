//! The input side: the group consumer, its rebalance/statistics callbacks, and the fetch loop.
//!
//! Design: offsets are never stored automatically (`enable.auto.offset.store=false`). The loop
//! registers every consumed offset with the [`Acker`], and stores (for auto-commit to commit) only
//! offsets whose events are complete. Fetching is gated twice: by a semaphore of
//! `max_in_flight` permits (one per event until it completes, so a slow producer stops the
//! consumer) and by the bounded worker queues (so slow
//! workers stop it too). Messages move in batches of what the consumer has ready (see
//! [`FetchLoop::run`]): per-event hand-overs, not evaluation, limited throughput before. On revoke, what is
//! complete is stored and committed, and the rest is forgotten (it will be redelivered).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_core::Stream;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use super::ack::{AckHooks, Acker, EventAck, TopicPartition};
use super::durable::StateGate;
use super::workers::{Batch, Pool, Router, WorkItem};
use crate::config::Settings;
use crate::metrics::Metrics;

/// Consumer callbacks: rebalances (offset bookkeeping, readiness) and statistics (lag gauge).
pub struct SourceContext {
    pub acker: Arc<Acker>,
    /// Durable stateful-rule state: offsets wait for snapshots (see [`super::durable`]).
    pub gate: Option<Arc<StateGate>>,
    pub metrics: Arc<Metrics>,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // Partition -1 is librdkafka's internal "unassigned" bucket; lag -1 = unknown.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[topic, &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Commit what is done before the partitions go; drop what is not.
            store_ready(&self.acker, self.gate.as_deref(), consumer);
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
                debug!(error = %e, "Nothing to commit on revoke.");
            }
            for elem in tpl.elements() {
                let tp = (Arc::from(elem.topic()), elem.partition());
                let epoch = self.acker.revoke(&tp);
                if let (Some(gate), Some(epoch)) = (&self.gate, epoch) {
                    gate.revoke(&tp, epoch);
                }
            }
            self.metrics
                .consumer_assigned
                .store(false, Ordering::Relaxed);
            info!(partitions = tpl.count(), "Partitions revoked.");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.metrics
                .consumer_assigned
                .store(tpl.count() > 0, Ordering::Relaxed);
            info!(partitions = tpl.count(), "Partitions assigned.");
        }
    }
}

pub type Source = StreamConsumer<SourceContext>;

/// Builds the consumer from the merged librdkafka properties and subscribes to the inputs.
pub fn create_consumer(
    settings: &Settings,
    acker: Arc<Acker>,
    gate: Option<Arc<StateGate>>,
    metrics: Arc<Metrics>,
) -> rdkafka::error::KafkaResult<Source> {
    let mut config = ClientConfig::new();
    for (k, v) in &settings.kafka.consumer {
        config.set(k, v);
    }
    let consumer: Source = config.create_with_context(SourceContext {
        acker,
        gate,
        metrics,
    })?;
    let topics: Vec<&str> = settings
        .kafka
        .input_topics
        .iter()
        .map(String::as_str)
        .collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Stores every offset whose event prefix is complete — with durable state, only as far as
/// the last snapshot written covers (the rest is held by the gate until one does).
pub fn store_ready<C: ConsumerContext>(
    acker: &Acker,
    gate: Option<&StateGate>,
    consumer: &impl Consumer<C>,
) {
    let storable = match gate {
        Some(gate) => gate.storable(acker.take_ready_in_epochs()),
        None => acker.take_ready(),
    };
    for ((topic, partition), offset) in storable {
        // Fails only when the partition was just revoked; its events will be redelivered.
        if let Err(e) = consumer.store_offset(&topic, partition, offset) {
            debug!(%topic, partition, offset, error = %e, "Offset not stored.");
        }
    }
}

/// How the fetch loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum LoopEnd {
    Shutdown,
    Fatal,
}

/// In-flight permits taken from the `max_in_flight` semaphore for one fetch round. Unused ones
/// go back when dropped; each fetched event takes over one (see [`RoundHooks`]).
struct BatchPermits {
    semaphore: Arc<Semaphore>,
    count: usize,
}

impl BatchPermits {
    /// Waits for one permit, then takes up to `max - 1` more that are free right now.
    async fn acquire(semaphore: &Arc<Semaphore>, max: usize) -> Option<BatchPermits> {
        semaphore.acquire().await.ok()?.forget();
        let mut permits = BatchPermits {
            semaphore: semaphore.clone(),
            count: 1,
        };
        let extra = semaphore.available_permits().min(max.saturating_sub(1));
        if let Ok(p) = semaphore.try_acquire_many(u32::try_from(extra).unwrap_or(0)) {
            p.forget();
            permits.count += extra;
        }
        Some(permits)
    }

    /// Gives back all but `keep` permits.
    fn shrink_to(&mut self, keep: usize) {
        if keep < self.count {
            self.semaphore.add_permits(self.count - keep);
            self.count = keep;
        }
    }

    /// Hands the permits over to the events (one each): they are given back by
    /// [`RoundHooks::released`] as each event's handle goes.
    fn hand_over(mut self) {
        self.count = 0;
    }
}

impl Drop for BatchPermits {
    fn drop(&mut self) {
        self.semaphore.add_permits(self.count);
    }
}

/// Completion hooks shared by the events of one fetch round: count completions, and give back
/// each event's in-flight permit when its handle is gone (completed, or abandoned after a
/// revoke or at shutdown), exactly as a per-event permit would.
struct RoundHooks {
    semaphore: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl AckHooks for RoundHooks {
    fn completed(&self) {
        self.metrics.events_completed.inc();
    }

    fn released(&self) {
        self.semaphore.add_permits(1);
    }
}

/// What one round of the fetch loop got from the consumer.
struct Fetched<'a> {
    permits: BatchPermits,
    messages: Vec<BorrowedMessage<'a>>,
    /// A consumer error met after `messages` (if any).
    error: Option<KafkaError>,
}

/// Per input topic, resolved once: the shared name, the consumed counter, the default index.
#[derive(Clone)]
struct TopicInfo {
    name: Arc<str>,
    consumed: prometheus::IntCounter,
    default_index: Option<Arc<str>>,
}

/// Everything the fetch loop needs.
pub struct FetchLoop<'a> {
    pub consumer: &'a Source,
    pub pool: &'a Pool,
    pub acker: &'a Arc<Acker>,
    pub gate: Option<&'a StateGate>,
    pub metrics: &'a Arc<Metrics>,
    pub settings: &'a Settings,
    pub permits: Arc<Semaphore>,
}

impl FetchLoop<'_> {
    /// Fetches until `shutdown` turns true or the producer reports a fatal error.
    ///
    /// Each round takes what the consumer has ready right now (at least one message, at most
    /// the pool's batch size and at most the free in-flight permits), registers it with the acker under
    /// one lock, and hands each worker its share as one [`Batch`]. A round stops at the first
    /// non-message event (e.g. a rebalance callback ran), so every message of a round was
    /// fetched under the same assignment and is registered before the next poll can revoke it.
    /// (rdkafka 0.39's zero-timeout poll returns after serving a rebalance event, and the stream
    /// then reports `Pending`; rebalance callbacks run only inside this loop's polls.)
    pub async fn run(
        self,
        shutdown: &mut watch::Receiver<bool>,
        fatal: &tokio::sync::Notify,
    ) -> LoopEnd {
        let max_in_flight = self.settings.pipeline.max_in_flight;
        let batch_size = self.pool.batch_size();
        let mut topics: HashMap<String, TopicInfo> = HashMap::new();
        let mut router = Router::default();
        let mut stream = self.consumer.stream();
        // Stored offsets are picked up by auto-commit; storing every 100 ms keeps the commit
        // lag small without touching the consumer per event.
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let in_flight = max_in_flight - self.permits.available_permits();
            self.metrics.events_in_flight.set(in_flight as i64);
            let next = async {
                // Permits first: with max_in_flight events unfinished, stop fetching.
                let permits = BatchPermits::acquire(&self.permits, batch_size).await?;
                let mut messages = Vec::new();
                let mut error = None;
                std::future::poll_fn(|cx| loop {
                    if messages.len() >= permits.count {
                        return Poll::Ready(());
                    }
                    match Pin::new(&mut stream).poll_next(cx) {
                        Poll::Ready(Some(Ok(m))) => messages.push(m),
                        Poll::Ready(Some(Err(e))) => {
                            error = Some(e);
                            return Poll::Ready(());
                        }
                        // Kafka streams never end; treat it like an empty poll.
                        Poll::Ready(None) | Poll::Pending if messages.is_empty() => {
                            return Poll::Pending;
                        }
                        Poll::Ready(None) | Poll::Pending => return Poll::Ready(()),
                    }
                })
                .await;
                Some(Fetched {
                    permits,
                    messages,
                    error,
                })
            };
            let fetched = tokio::select! {
                // Biased: shutdown wins over new input, and offsets get stored even under load.
                biased;
                _ = shutdown.changed() => return LoopEnd::Shutdown,
                _ = fatal.notified() => return LoopEnd::Fatal,
                _ = tick.tick() => {
                    store_ready(self.acker, self.gate, self.consumer);
                    continue;
                }
                next = next => next,
            };
            let Some(Fetched {
                mut permits,
                messages,
                error,
            }) = fetched
            else {
                return LoopEnd::Shutdown;
            };
            permits.shrink_to(messages.len());
            if !messages.is_empty() {
                let batches = self.prepare(messages, permits, &mut topics, &mut router);
                if let Some(end) = self.dispatch(batches, shutdown).await {
                    return end;
                }
            }
            if let Some(e) = error {
                self.metrics.consumer_errors.inc();
                // A missing input topic errors on every poll: log the 1st, 2nd, 4th, 8th…
                let n = self.metrics.consumer_errors.get();
                if n.is_power_of_two() {
                    warn!(error = %e, errors = n, "Consumer error; librdkafka retries.");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Registers a round's messages with the acker (one lock) and turns them into one batch per
    /// worker; each event takes over one of the round's permits.
    fn prepare(
        &self,
        messages: Vec<BorrowedMessage<'_>>,
        permits: BatchPermits,
        topics: &mut HashMap<String, TopicInfo>,
        router: &mut Router,
    ) -> Vec<Batch> {
        let max_event = self.settings.pipeline.max_event_bytes;
        let dl_max = self.settings.pipeline.dead_letter_max_bytes;
        let received = Instant::now();
        let mut tps: Vec<(TopicPartition, i64)> = Vec::with_capacity(messages.len());
        let mut infos: Vec<Option<Arc<str>>> = Vec::with_capacity(messages.len());
        // A fetch returns runs of one topic: resolve it and count it once per run.
        let mut current: Option<TopicInfo> = None;
        let mut run = 0;
        for msg in &messages {
            let name = msg.topic();
            if let Some(c) = current.take_if(|c| &*c.name != name) {
                c.consumed.inc_by(run);
                run = 0;
            }
            let info = current.get_or_insert_with(|| match topics.get(name) {
                Some(info) => info.clone(),
                None => topics
                    .entry(name.to_string())
                    .or_insert_with(|| TopicInfo {
                        name: Arc::from(name),
                        consumed: self.metrics.events_consumed.with_label_values(&[name]),
                        default_index: self.settings.default_index_for(name).map(Arc::from),
                    })
                    .clone(),
            });
            run += 1;
            tps.push(((info.name.clone(), msg.partition()), msg.offset()));
            infos.push(info.default_index.clone());
        }
        if let Some(c) = current {
            c.consumed.inc_by(run);
        }
        let epochs = self
            .acker
            .begin_many(tps.iter().map(|(tp, offset)| (tp, *offset)));
        // Each event now holds one permit until its handle is gone.
        permits.hand_over();
        let hooks: Arc<dyn AckHooks> = Arc::new(RoundHooks {
            semaphore: self.permits.clone(),
            metrics: self.metrics.clone(),
        });
        let workers = self.pool.workers();
        let mut batches: Vec<Batch> = (0..workers).map(|_| Vec::new()).collect();
        let mut last_route: Option<(Arc<str>, i32, usize)> = None;
        let items = messages.iter().zip(tps).zip(epochs).zip(infos);
        for (((msg, (tp, offset)), epoch), default_index) in items {
            let payload = msg.payload().unwrap_or_default();
            let (payload, original_size) = if payload.len() > max_event {
                (
                    payload[..dl_max.min(payload.len())].to_vec(),
                    Some(payload.len()),
                )
            } else {
                (payload.to_vec(), None)
            };
            // A fetch returns runs of one partition: look the route up once per run.
            let worker = match &last_route {
                Some((t, p, w)) if *p == tp.1 && Arc::ptr_eq(t, &tp.0) => *w,
                _ => {
                    let w = router.worker_for(&tp.0, tp.1, workers);
                    last_route = Some((tp.0.clone(), tp.1, w));
                    w
                }
            };
            let ack = EventAck::new(
                self.acker.clone(),
                tp,
                offset,
                epoch,
                received,
                hooks.clone(),
            );
            batches[worker].push(WorkItem {
                key: msg.key().map(<[u8]>::to_vec),
                payload,
                original_size,
                default_index,
                ack,
            });
        }
        batches
    }

    /// Hands each worker its batch, waiting while its queue is full (this is what stops
    /// fetching). Returns how the loop must end, if it must.
    async fn dispatch(
        &self,
        batches: Vec<Batch>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<LoopEnd> {
        let mut batches = batches.into_iter().enumerate();
        while let Some((worker, batch)) = batches.next() {
            if batch.is_empty() {
                continue;
            }
            let sent = tokio::select! {
                biased;
                _ = shutdown.changed() => None,
                sent = self.pool.sender(worker).reserve() => Some(sent),
            };
            match sent {
                Some(Ok(slot)) => {
                    self.metrics.queue_depth.add(batch.len() as i64);
                    slot.send(batch);
                }
                Some(Err(_)) => {
                    warn!("Worker queue closed; stopping the consumer.");
                    return Some(LoopEnd::Fatal);
                }
                None => {
                    // Shutdown while a full queue held these events: they were never
                    // evaluated. Each partition lives on one worker, so the unsent events of
                    // a partition are its newest offsets; forgetting them newest first cannot
                    // let a later offset be stored. They will be redelivered.
                    for batch in std::iter::once(batch).chain(batches.map(|(_, b)| b)) {
                        for item in batch.iter().rev() {
                            let ack = &item.ack;
                            self.acker.abandon_last(
                                ack.topic_partition(),
                                ack.offset(),
                                ack.epoch(),
                            );
                        }
                    }
                    return Some(LoopEnd::Shutdown);
                }
            }
        }
        None
    }
}
