//! The output side: alerts and dead letters written by one idempotent producer.
//!
//! Design: workers enqueue records without waiting for the broker (librdkafka batches them), and
//! each delivery is awaited on the tokio runtime, where the event's [`EventAck`] share is marked
//! done. A failed delivery is logged, counted and re-sent after a backoff, forever: an alert is
//! never dropped, so its event's offset is never stored until it is written (re-sends of the same
//! alert carry the same key/id, so a duplicate is recognisable). When librdkafka's queue is full
//! the worker thread blocks, which stalls its input queue, which stops the consumer.
//!
//! Headers. Alerts: `rule_id`, `source_topic`, `source_partition`, `source_offset`.
//! Dead letters: `reason` (an `EventError::reason()` label or `too_large`), `error` (message,
//! at most 512 bytes), `source_topic`, `source_partition`, `source_offset`, and for `too_large`
//! also `original_size` and `truncated` (the payload keeps its first `dead_letter_max_bytes`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Message;
use tracing::{debug, error, warn};

use super::ack::EventAck;
use crate::engine::AlertOut;
use crate::metrics::Metrics;

/// What kind of record, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Alert,
    DeadLetter,
}

impl RecordKind {
    fn label(self) -> &'static str {
        match self {
            RecordKind::Alert => "alert",
            RecordKind::DeadLetter => "dead_letter",
        }
    }
}

/// An event that cannot be evaluated.
pub struct DeadLetter<'a> {
    pub reason: &'static str,
    pub error: String,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// Size of the original payload when `payload` is a truncated prefix.
    pub original_size: Option<usize>,
}

pub struct Sink {
    producer: FutureProducer,
    alerts_topic: String,
    dead_letter_topic: Option<String>,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    retry_backoff: Duration,
    /// Set when the producer hit a fatal error: the process must restart (nothing was stored).
    fatal: Arc<tokio::sync::Notify>,
}

impl Sink {
    pub fn new(
        producer: FutureProducer,
        alerts_topic: String,
        dead_letter_topic: Option<String>,
        metrics: Arc<Metrics>,
        runtime: tokio::runtime::Handle,
        retry_backoff: Duration,
        fatal: Arc<tokio::sync::Notify>,
    ) -> Sink {
        Sink {
            producer,
            alerts_topic,
            dead_letter_topic,
            metrics,
            runtime,
            retry_backoff,
            fatal,
        }
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Writes one alert; `ack` is done when the broker acknowledges it. Blocks (worker thread)
    /// while librdkafka's queue is full.
    pub fn send_alert(self: &Arc<Self>, alert: AlertOut, ack: EventAck) {
        let mut headers = OwnedHeaders::new().insert(Header {
            key: "rule_id",
            value: Some(alert.rule_id.as_bytes()),
        });
        // Flush outputs (suppression updates, negative synthetic partition) have no source.
        if ack.partition() >= 0 {
            headers = with_origin(headers, &ack);
        }
        let record = FutureRecord::to(&self.alerts_topic)
            .key(alert.id.as_bytes())
            .payload(alert.doc.as_slice())
            .headers(headers);
        let label = Some(alert.rule_id);
        self.enqueue_blocking(record, RecordKind::Alert, label, ack);
    }

    /// Writes a dead letter, or only logs and counts it when no dead-letter topic is configured.
    pub fn send_dead_letter(self: &Arc<Self>, dl: DeadLetter<'_>, ack: EventAck) {
        let Some(topic) = &self.dead_letter_topic else {
            warn!(
                reason = dl.reason,
                error = %dl.error,
                topic = ack.topic(),
                partition = ack.partition(),
                offset = ack.offset(),
                "Event cannot be evaluated and no dead-letter topic is configured; skipping it."
            );
            self.metrics
                .dead_letters
                .with_label_values(&[dl.reason, "none"])
                .inc();
            ack.done();
            return;
        };
        let mut error_text = dl.error;
        if error_text.len() > 512 {
            let mut cut = 512;
            while !error_text.is_char_boundary(cut) {
                cut -= 1;
            }
            error_text.truncate(cut);
        }
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "reason",
                value: Some(dl.reason.as_bytes()),
            })
            .insert(Header {
                key: "error",
                value: Some(error_text.as_bytes()),
            });
        headers = with_origin(headers, &ack);
        if let Some(size) = dl.original_size {
            headers = headers
                .insert(Header {
                    key: "original_size",
                    value: Some(size.to_string().as_bytes()),
                })
                .insert(Header {
                    key: "truncated",
                    value: Some(b"true".as_slice()),
                });
        }
        let mut record = FutureRecord::to(topic).payload(dl.payload).headers(headers);
        if let Some(key) = dl.key {
            record = record.key(key);
        }
        self.enqueue_blocking(
            record,
            RecordKind::DeadLetter,
            Some(dl.reason.to_string()),
            ack,
        );
    }

    fn enqueue_blocking(
        self: &Arc<Self>,
        mut record: FutureRecord<'_, [u8], [u8]>,
        kind: RecordKind,
        label: Option<String>,
        ack: EventAck,
    ) {
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    let sink = self.clone();
                    self.runtime.spawn(async move {
                        let result = delivery.await;
                        sink.finish(result, kind, label, ack).await;
                    });
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // Backpressure: wait for librdkafka to drain instead of buffering more.
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, r)) => {
                    record = r;
                    self.note_error(kind, &e);
                    if self.is_fatal(&e) {
                        return;
                    }
                    std::thread::sleep(self.retry_backoff);
                }
            }
        }
    }

    /// Handles one delivery result, re-sending until it succeeds.
    async fn finish(
        self: Arc<Self>,
        mut result: DeliveryOutput,
        kind: RecordKind,
        label: Option<String>,
        ack: EventAck,
    ) {
        loop {
            let failed = match result {
                Ok(Ok(_)) => {
                    match kind {
                        RecordKind::Alert => {
                            let rule = label.as_deref().unwrap_or("");
                            self.metrics
                                .alerts_produced
                                .with_label_values(&[rule])
                                .inc();
                            self.metrics
                                .end_to_end_latency
                                .observe(ack.received().elapsed().as_secs_f64());
                        }
                        RecordKind::DeadLetter => {
                            let reason = label.as_deref().unwrap_or("");
                            self.metrics
                                .dead_letters
                                .with_label_values(&[reason, "topic"])
                                .inc();
                        }
                    }
                    self.metrics
                        .producer_connected
                        .store(true, Ordering::Relaxed);
                    ack.done();
                    return;
                }
                Ok(Err((e, msg))) => {
                    self.note_error(kind, &e);
                    if self.is_fatal(&e) {
                        return;
                    }
                    msg
                }
                Err(_) => {
                    // The producer was dropped (shutdown): the event stays incomplete.
                    debug!("Delivery canceled by producer shutdown.");
                    return;
                }
            };
            tokio::time::sleep(self.retry_backoff).await;
            result = loop {
                let mut record = FutureRecord::to(failed.topic());
                if let Some(k) = failed.key() {
                    record = record.key(k);
                }
                if let Some(p) = failed.payload() {
                    record = record.payload(p);
                }
                if let Some(h) = failed.headers() {
                    record = record.headers(h.clone());
                }
                match self.producer.send_result::<[u8], [u8]>(record) {
                    Ok(delivery) => break delivery.await,
                    Err((e, _)) => {
                        if !matches!(
                            e,
                            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                        ) {
                            self.note_error(kind, &e);
                        }
                        if self.is_fatal(&e) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
        }
    }

    fn note_error(&self, kind: RecordKind, e: &KafkaError) {
        let code = e
            .rdkafka_error_code()
            .map_or_else(|| "other".to_string(), |c| format!("{c:?}"));
        self.metrics
            .producer_errors
            .with_label_values(&[kind.label(), &code])
            .inc();
        let permanent = matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::MessageBatchTooLarge
            )
        );
        if permanent {
            // Retrying cannot succeed until the broker or producer limits change; the
            // partition stalls (nothing is lost) until an operator acts.
            error!(kind = kind.label(), error = %e, "Record too large for the broker; retrying.");
        } else {
            warn!(kind = kind.label(), error = %e, "Produce failed; retrying.");
        }
    }

    /// A fatal producer error (e.g. idempotence sequence broken) makes the producer unusable.
    fn is_fatal(&self, e: &KafkaError) -> bool {
        let fatal = matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal))
            || self.producer.client().fatal_error().is_some();
        if fatal {
            error!(error = %e, "Producer hit a fatal error; stopping without storing offsets.");
            self.fatal.notify_one();
        }
        fatal
    }
}

/// What a delivery future resolves to: the broker's answer, or `Err` when the producer was
/// dropped first.
type DeliveryOutput = <rdkafka::producer::DeliveryFuture as std::future::Future>::Output;

/// Adds the headers naming the input record an output came from.
fn with_origin(headers: OwnedHeaders, ack: &EventAck) -> OwnedHeaders {
    headers
        .insert(Header {
            key: "source_topic",
            value: Some(ack.topic().as_bytes()),
        })
        .insert(Header {
            key: "source_partition",
            value: Some(ack.partition().to_string().as_bytes()),
        })
        .insert(Header {
            key: "source_offset",
            value: Some(ack.offset().to_string().as_bytes()),
        })
}
