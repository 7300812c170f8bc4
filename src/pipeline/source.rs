//! The input side: the group consumer, its rebalance/statistics callbacks, and the fetch loop.
//!
//! Design: offsets are never stored automatically (`enable.auto.offset.store=false`). The loop
//! registers every consumed offset with the [`Acker`], and stores (for auto-commit to commit) only
//! offsets whose events are complete. Fetching is gated twice: by a semaphore of
//! `max_in_flight` permits (one per event until it completes, so a slow producer stops the
//! consumer) and by the bounded worker queues (so slow workers stop it too). On revoke, what is
//! complete is stored and committed, and the rest is forgotten (it will be redelivered).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use super::ack::{Acker, EventAck, TopicPartition};
use super::workers::{Pool, Router, WorkItem};
use crate::config::Settings;
use crate::metrics::Metrics;

/// Consumer callbacks: rebalances (offset bookkeeping, readiness) and statistics (lag gauge).
pub struct SourceContext {
    pub acker: Arc<Acker>,
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
            store_ready(&self.acker, consumer);
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
                debug!(error = %e, "Nothing to commit on revoke.");
            }
            for elem in tpl.elements() {
                self.acker
                    .revoke(&(Arc::from(elem.topic()), elem.partition()));
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
    metrics: Arc<Metrics>,
) -> rdkafka::error::KafkaResult<Source> {
    let mut config = ClientConfig::new();
    for (k, v) in &settings.kafka.consumer {
        config.set(k, v);
    }
    let consumer: Source = config.create_with_context(SourceContext { acker, metrics })?;
    let topics: Vec<&str> = settings
        .kafka
        .input_topics
        .iter()
        .map(String::as_str)
        .collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Stores every offset whose event prefix is complete.
pub fn store_ready<C: ConsumerContext>(acker: &Acker, consumer: &impl Consumer<C>) {
    for ((topic, partition), offset) in acker.take_ready() {
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

/// Everything the fetch loop needs.
pub struct FetchLoop<'a> {
    pub consumer: &'a Source,
    pub pool: &'a Pool,
    pub acker: &'a Arc<Acker>,
    pub metrics: &'a Arc<Metrics>,
    pub settings: &'a Settings,
    pub permits: Arc<Semaphore>,
}

impl FetchLoop<'_> {
    /// Fetches until `shutdown` turns true or the producer reports a fatal error.
    pub async fn run(
        self,
        shutdown: &mut watch::Receiver<bool>,
        fatal: &tokio::sync::Notify,
    ) -> LoopEnd {
        let max_event = self.settings.pipeline.max_event_bytes;
        let dl_max = self.settings.pipeline.dead_letter_max_bytes;
        let max_in_flight = self.settings.pipeline.max_in_flight;
        let mut counters: HashMap<String, prometheus::IntCounter> = HashMap::new();
        let mut indexes: HashMap<String, Option<Arc<str>>> = HashMap::new();
        let mut topics: HashMap<String, Arc<str>> = HashMap::new();
        let mut router = Router::default();
        // Stored offsets are picked up by auto-commit; storing every 100 ms keeps the commit
        // lag small without touching the consumer per event.
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let in_flight = max_in_flight - self.permits.available_permits();
            self.metrics.events_in_flight.set(in_flight as i64);
            let next = async {
                // Permit first: with max_in_flight events unfinished, stop fetching.
                let permit = self.permits.clone().acquire_owned().await;
                (permit, self.consumer.recv().await)
            };
            let (permit, msg) = tokio::select! {
                // Biased: shutdown wins over new input, and offsets get stored even under load.
                biased;
                _ = shutdown.changed() => return LoopEnd::Shutdown,
                _ = fatal.notified() => return LoopEnd::Fatal,
                _ = tick.tick() => {
                    store_ready(self.acker, self.consumer);
                    continue;
                }
                next = next => next,
            };
            let Ok(permit) = permit else {
                return LoopEnd::Shutdown;
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    self.metrics.consumer_errors.inc();
                    // A missing input topic errors on every poll: log the 1st, 2nd, 4th, 8th…
                    let n = self.metrics.consumer_errors.get();
                    if n.is_power_of_two() {
                        warn!(error = %e, errors = n, "Consumer error; librdkafka retries.");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let topic_name = msg.topic();
            let topic = match topics.get(topic_name) {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<str> = Arc::from(topic_name);
                    topics.insert(topic_name.to_string(), t.clone());
                    t
                }
            };
            counters
                .entry(topic_name.to_string())
                .or_insert_with(|| {
                    self.metrics
                        .events_consumed
                        .with_label_values(&[topic_name])
                })
                .inc();
            let default_index = indexes
                .entry(topic_name.to_string())
                .or_insert_with(|| self.settings.default_index_for(topic_name).map(Arc::from))
                .clone();
            let tp: TopicPartition = (topic, msg.partition());
            let offset = msg.offset();
            let epoch = self.acker.begin(&tp, offset);
            let metrics = self.metrics.clone();
            let ack = EventAck::new(
                self.acker.clone(),
                tp.clone(),
                offset,
                epoch,
                // The permit lives as long as the event's handle: it is released when the
                // event completes (or is abandoned after a revoke).
                Box::new(move || {
                    let _held = &permit;
                    metrics.events_completed.inc();
                }),
            );
            let payload = msg.payload().unwrap_or_default();
            let (payload, original_size) = if payload.len() > max_event {
                (
                    payload[..dl_max.min(payload.len())].to_vec(),
                    Some(payload.len()),
                )
            } else {
                (payload.to_vec(), None)
            };
            let item = WorkItem {
                key: msg.key().map(<[u8]>::to_vec),
                payload,
                original_size,
                default_index,
                ack,
            };
            drop(msg);
            let worker = router.worker_for(&tp.0, tp.1, self.pool.workers());
            self.metrics.queue_depth.inc();
            // Waits while the worker's queue is full: this is what stops fetching.
            let sent = tokio::select! {
                biased;
                _ = shutdown.changed() => None,
                sent = self.pool.sender(worker).send(item) => Some(sent),
            };
            match sent {
                Some(Ok(())) => {}
                Some(Err(_)) => {
                    warn!("Worker queue closed; stopping the consumer.");
                    return LoopEnd::Fatal;
                }
                None => {
                    // Shutdown while a full queue held this event: it was never evaluated. It
                    // is the newest offset of its partition, so forgetting it cannot let a
                    // later offset be stored; it will be redelivered.
                    self.metrics.queue_depth.dec();
                    self.acker.abandon_last(&tp, offset, epoch);
                    return LoopEnd::Shutdown;
                }
            }
        }
    }
}
