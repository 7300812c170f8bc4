//! Every metric rulestream exports, and the HTTP listener serving them.
//!
//! Design: one [`Metrics`] value owns its own Prometheus registry (no process globals), so two
//! pipelines in one test process never mix their counters. Names follow Prometheus conventions
//! (`rulestream_<noun>_<unit>`, `_total` on counters) and are listed once, here. Labels are
//! bounded: topic, partition, rule id, a fixed reason/kind vocabulary; never raw error text.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub const EVENTS_CONSUMED: &str = "rulestream_events_consumed_total";
pub const EVENTS_EVALUATED: &str = "rulestream_events_evaluated_total";
pub const EVENTS_COMPLETED: &str = "rulestream_events_completed_total";
pub const ALERTS_PRODUCED: &str = "rulestream_alerts_produced_total";
pub const DEAD_LETTERS: &str = "rulestream_dead_letters_total";
pub const QUEUE_DEPTH: &str = "rulestream_queue_depth";
pub const EVENTS_IN_FLIGHT: &str = "rulestream_events_in_flight";
pub const END_TO_END_LATENCY: &str = "rulestream_end_to_end_latency_seconds";
pub const RULE_EVAL_SECONDS: &str = "rulestream_rule_eval_seconds";
pub const CONSUMER_LAG: &str = "rulestream_consumer_lag_messages";
pub const PRODUCER_ERRORS: &str = "rulestream_producer_errors_total";
pub const CONSUMER_ERRORS: &str = "rulestream_consumer_errors_total";
/// Events threshold / new_terms rules did not count, by `outcome`: `late` (beyond the allowed
/// lateness), `no_time` (no event time), `replayed` (at or below a snapshot's offset).
pub const STATEFUL_EVENTS: &str = "rulestream_stateful_events_total";
/// State entries dropped, by `reason`: `expired` (no event can use them) or `limit` (a size
/// limit was reached: this can lose detections, alert on it).
pub const STATE_EVICTIONS: &str = "rulestream_state_evictions_total";
/// State entries held, by `kind`: `threshold_groups`, `new_terms`, `suppression_groups`.
pub const STATE_ENTRIES: &str = "rulestream_state_entries";
/// Partition state snapshots written to `stateful.state_dir`, by result (`written`, `failed`).
pub const STATE_SNAPSHOTS: &str = "rulestream_state_snapshots_total";

/// Handles to every metric. Cheap to share (`Arc<Metrics>`); hot paths clone the child handles
/// they need once (`with_label_values`) instead of resolving labels per event.
pub struct Metrics {
    registry: Registry,
    /// Records read from Kafka, by topic.
    pub events_consumed: IntCounterVec,
    /// Events handed to the evaluator that it accepted (dead letters excluded).
    pub events_evaluated: IntCounter,
    /// Events whose outputs are all acknowledged, so their offset may be committed.
    pub events_completed: IntCounter,
    /// Alerts acknowledged by the broker, by rule id.
    pub alerts_produced: IntCounterVec,
    /// Events that could not be evaluated, by reason and destination (`topic` or `none` when no
    /// dead-letter topic is configured and the event was only logged).
    pub dead_letters: IntCounterVec,
    /// Events waiting in the worker queues.
    pub queue_depth: IntGauge,
    /// Events consumed and not yet completed.
    pub events_in_flight: IntGauge,
    /// Time from consuming an event to the broker acknowledging an alert it caused.
    pub end_to_end_latency: Histogram,
    /// Evaluation time per rule; for the engine to observe (`rule_eval_seconds(rule_id)`).
    pub rule_eval_seconds: HistogramVec,
    /// Consumer lag (high watermark − position) by topic and partition, from librdkafka stats.
    pub consumer_lag: IntGaugeVec,
    /// Failed produce attempts (each is retried), by kind (`alert` / `dead_letter`) and cause.
    pub producer_errors: IntCounterVec,
    /// Errors returned while consuming (librdkafka retries them itself).
    pub consumer_errors: IntCounter,
    /// Events stateful rules did not count, by outcome (`late`, `no_time`, `replayed`).
    pub stateful_events: IntCounterVec,
    /// State entries dropped, by reason (`expired`, `limit`).
    pub state_evictions: IntCounterVec,
    /// State entries held (all workers), by kind.
    pub state_entries: IntGaugeVec,
    /// Partition snapshots written (or failed) by the durable-state writer.
    pub state_snapshots: IntCounterVec,
    /// The consumer holds a partition assignment.
    pub consumer_assigned: AtomicBool,
    /// The producer has reached the cluster.
    pub producer_connected: AtomicBool,
}

fn latency_buckets() -> Vec<f64> {
    // 0.5 ms … 30 s: acks from a healthy cluster take milliseconds; seconds mean trouble.
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique constants");
            m
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid opts"),
            )
        };
        let events_consumed = counter_vec(
            EVENTS_CONSUMED,
            "Records read from the input topics.",
            &["topic"],
        );
        let alerts_produced = counter_vec(
            ALERTS_PRODUCED,
            "Alerts acknowledged by the broker.",
            &["rule_id"],
        );
        let dead_letters = counter_vec(
            DEAD_LETTERS,
            "Events that could not be evaluated, by reason and destination.",
            &["reason", "destination"],
        );
        let producer_errors = counter_vec(
            PRODUCER_ERRORS,
            "Failed produce attempts; each is retried.",
            &["kind", "error"],
        );
        let stateful_events = counter_vec(
            STATEFUL_EVENTS,
            "Events threshold/new_terms rules did not count, by outcome.",
            &["outcome"],
        );
        let state_evictions = counter_vec(
            STATE_EVICTIONS,
            "Stateful-rule entries dropped, by reason.",
            &["reason"],
        );
        let state_snapshots = counter_vec(
            STATE_SNAPSHOTS,
            "Partition state snapshots written to the state directory, by result.",
            &["result"],
        );
        let counter = |name: &str, help: &str| {
            reg(&registry, IntCounter::new(name, help).expect("valid opts"))
        };
        let events_evaluated = counter(EVENTS_EVALUATED, "Events evaluated against the rules.");
        let events_completed = counter(
            EVENTS_COMPLETED,
            "Events whose alerts are all acknowledged.",
        );
        let consumer_errors = counter(CONSUMER_ERRORS, "Errors returned by the Kafka consumer.");
        let gauge =
            |name: &str, help: &str| reg(&registry, IntGauge::new(name, help).expect("valid opts"));
        let queue_depth = gauge(QUEUE_DEPTH, "Events waiting in the worker queues.");
        let events_in_flight = gauge(EVENTS_IN_FLIGHT, "Events consumed and not yet completed.");
        let end_to_end_latency = reg(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(END_TO_END_LATENCY, "Consume to alert acknowledged.")
                    .buckets(latency_buckets()),
            )
            .expect("valid opts"),
        );
        let rule_eval_seconds = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(RULE_EVAL_SECONDS, "Rule evaluation time per event.").buckets(
                    vec![1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1],
                ),
                &["rule_id"],
            )
            .expect("valid opts"),
        );
        let consumer_lag = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    CONSUMER_LAG,
                    "Consumer lag by partition (from librdkafka stats).",
                ),
                &["topic", "partition"],
            )
            .expect("valid opts"),
        );
        let state_entries = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(STATE_ENTRIES, "Stateful-rule entries held, by kind."),
                &["kind"],
            )
            .expect("valid opts"),
        );
        Metrics {
            registry,
            stateful_events,
            state_evictions,
            state_entries,
            state_snapshots,
            events_consumed,
            events_evaluated,
            events_completed,
            alerts_produced,
            dead_letters,
            queue_depth,
            events_in_flight,
            end_to_end_latency,
            rule_eval_seconds,
            consumer_lag,
            producer_errors,
            consumer_errors,
            consumer_assigned: AtomicBool::new(false),
            producer_connected: AtomicBool::new(false),
        }
    }

    /// Adds what changed between two samples of one evaluator's stateful counters and sizes
    /// (each worker keeps its previous sample, so the gauges sum over workers).
    pub fn add_stateful(&self, before: &StatefulSample, now: &StatefulSample) {
        let (b, n) = (&before.stats, &now.stats);
        for (outcome, was, is) in [
            ("late", b.late_events, n.late_events),
            ("no_time", b.no_event_time, n.no_event_time),
            ("replayed", b.replayed_skipped, n.replayed_skipped),
        ] {
            self.stateful_events
                .with_label_values(&[outcome])
                .inc_by(is.saturating_sub(was));
        }
        for (reason, was, is) in [
            ("expired", b.evicted_expired, n.evicted_expired),
            ("limit", b.evicted_by_limit, n.evicted_by_limit),
        ] {
            self.state_evictions
                .with_label_values(&[reason])
                .inc_by(is.saturating_sub(was));
        }
        let (b, n) = (&before.sizes, &now.sizes);
        for (kind, was, is) in [
            ("threshold_groups", b.threshold_groups, n.threshold_groups),
            ("new_terms", b.new_terms, n.new_terms),
            (
                "suppression_groups",
                b.suppression_groups,
                n.suppression_groups,
            ),
        ] {
            self.state_entries
                .with_label_values(&[kind])
                .add(is as i64 - was as i64);
        }
    }

    /// The histogram the engine observes for one rule's evaluation time.
    pub fn rule_eval_seconds(&self, rule_id: &str) -> Histogram {
        self.rule_eval_seconds.with_label_values(&[rule_id])
    }

    /// Consumer assigned and producer connected.
    pub fn is_ready(&self) -> bool {
        self.consumer_assigned.load(Ordering::Relaxed)
            && self.producer_connected.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// One evaluator's stateful counters and state sizes at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatefulSample {
    pub stats: crate::engine::stateful::StatefulStats,
    pub sizes: crate::engine::stateful::StateSizes,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Serves `GET /metrics`, `/health` and `/ready` on `listener` until `shutdown` resolves.
/// `/health` and `/ready` answer 200 when the consumer is assigned and the producer connected,
/// 503 otherwise.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode};
    use axum::routing::get;

    let m = metrics.clone();
    let metrics_route = get(move || {
        let m = m.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                m.render(),
            )
        }
    });
    let ready = move || {
        let m = metrics.clone();
        async move {
            if m.is_ready() {
                (StatusCode::OK, "ready\n")
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: consumer unassigned or producer not connected\n",
                )
            }
        }
    };
    let app = axum::Router::new()
        .route("/metrics", metrics_route)
        .route("/health", get(ready.clone()))
        .route("/ready", get(ready));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the metrics listener (separate from `serve` so that a bad address fails at startup).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_named_metric_family() {
        let m = Metrics::new();
        m.events_consumed.with_label_values(&["t"]).inc();
        m.alerts_produced.with_label_values(&["r"]).inc();
        m.dead_letters
            .with_label_values(&["not_json", "topic"])
            .inc();
        m.producer_errors
            .with_label_values(&["alert", "timeout"])
            .inc();
        m.rule_eval_seconds("r").observe(0.001);
        m.consumer_lag.with_label_values(&["t", "0"]).set(3);
        m.end_to_end_latency.observe(0.01);
        m.add_stateful(&StatefulSample::default(), &StatefulSample::default());
        m.state_snapshots.with_label_values(&["written"]).inc();
        let text = m.render();
        for name in [
            EVENTS_CONSUMED,
            EVENTS_EVALUATED,
            EVENTS_COMPLETED,
            ALERTS_PRODUCED,
            DEAD_LETTERS,
            QUEUE_DEPTH,
            EVENTS_IN_FLIGHT,
            END_TO_END_LATENCY,
            RULE_EVAL_SECONDS,
            CONSUMER_LAG,
            PRODUCER_ERRORS,
            CONSUMER_ERRORS,
            STATEFUL_EVENTS,
            STATE_EVICTIONS,
            STATE_ENTRIES,
            STATE_SNAPSHOTS,
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{text}"
            );
        }
    }

    #[test]
    fn stateful_samples_add_deltas_so_workers_sum() {
        use crate::engine::stateful::{StateSizes, StatefulStats};
        let m = Metrics::new();
        let sample = |late, limit, terms| StatefulSample {
            stats: StatefulStats {
                late_events: late,
                evicted_by_limit: limit,
                ..StatefulStats::default()
            },
            sizes: StateSizes {
                new_terms: terms,
                ..StateSizes::default()
            },
        };
        let zero = StatefulSample::default();
        // Two workers, then the first one shrinks.
        m.add_stateful(&zero, &sample(2, 1, 10));
        m.add_stateful(&zero, &sample(3, 0, 5));
        m.add_stateful(&sample(2, 1, 10), &sample(4, 1, 4));
        let text = m.render();
        assert_eq!(m.stateful_events.with_label_values(&["late"]).get(), 7);
        assert_eq!(m.state_evictions.with_label_values(&["limit"]).get(), 1);
        assert_eq!(m.state_entries.with_label_values(&["new_terms"]).get(), 9);
        assert!(
            text.contains("rulestream_stateful_events_total{outcome=\"late\"} 7"),
            "{text}"
        );
    }

    #[test]
    fn ready_needs_assignment_and_producer() {
        let m = Metrics::new();
        assert!(!m.is_ready());
        m.consumer_assigned.store(true, Ordering::Relaxed);
        assert!(!m.is_ready());
        m.producer_connected.store(true, Ordering::Relaxed);
        assert!(m.is_ready());
    }
}
