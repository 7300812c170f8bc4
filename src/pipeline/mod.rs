//! The Kafka stage (`rulestream run`): input topics → worker pool → alerts / dead-letter topics.
//!
//! Design: at-least-once. An input offset is stored (and then auto-committed) only after every
//! output it caused — alerts and dead letters — was acknowledged by the broker, and every earlier
//! event of its partition is done too ([`ack`]). A crash at any point can redeliver events, never
//! lose them; redelivered alerts have the same deterministic id (the Kafka key). Flow control is
//! by bounded queues and an in-flight cap, so a slow sink or slow rules stop the consumer instead
//! of growing memory.
//!
//! The pipeline does not know how rules are evaluated: it takes an [`EvaluatorFactory`] giving
//! one [`Evaluate`] per worker thread.
//!
//! Entry points: [`run`] (blocking; builds its own tokio runtime, stops on SIGTERM/SIGINT) and
//! [`run_until`] (async, stops when a future resolves; used by tests).
//!
//! Wiring in `main` (what `rulestream run` does):
//! ```text
//! Command::Run(args) => {
//!     let settings = config::Settings::load(&args)?;   // ConfigError → exit status 2
//!     pipeline::init_tracing(settings.log_format);
//!     let metrics = Arc::new(metrics::Metrics::new()); // engine may observe rule_eval_seconds
//!     let factory: Arc<dyn EvaluatorFactory> = /* engine built from settings.rules, … */;
//!     pipeline::run_with_metrics(settings, factory, metrics)
//! }
//! // on Err(e): eprintln!("error: {e:#}"); std::process::exit(config::exit_code(&e))
//! ```

pub mod ack;
pub mod durable;
pub mod sink;
pub mod source;
pub mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::ClientConfig;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{error, info, warn};

use crate::config::{LogFormat, Settings};
use crate::engine::stateful::{PartitionSnapshot, StateError, StateStore};
use crate::engine::{AlertOut, EventError, EventOrigin};
use crate::metrics::Metrics;

/// Evaluates events one at a time; one instance per worker thread (it may keep scratch state).
pub trait Evaluate {
    /// Appends the alerts `raw` causes to `out`. `Err` sends the event to the dead-letter path.
    fn evaluate(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError>;

    /// Appends alerts that no event caused but time did: re-emitted suppressed alerts whose
    /// count changed (`Evaluator::flush`). Called on the `stateful.flush_interval` timer and
    /// once at shutdown. Default: nothing.
    fn flush(
        &mut self,
        _now: chrono::DateTime<chrono::Utc>,
        _out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        Ok(())
    }

    /// Counters and sizes of the evaluator's stateful rules, for the metrics. Default: none.
    fn stateful_sample(&self) -> Option<crate::metrics::StatefulSample> {
        None
    }

    /// The serialized state of one input partition, covering the events evaluated so far
    /// (durable state; see [`durable`]). `None`: nothing held for it. Default: none.
    fn snapshot(&self, _topic: &str, _partition: i32) -> Option<PartitionSnapshot> {
        None
    }

    /// Drops what is held for a partition without writing it (it was assigned again after a
    /// rebalance; its state is reloaded from the last snapshot). Default: nothing to drop.
    fn forget_partition(&mut self, _topic: &str, _partition: i32) {}
}

/// Makes per-worker evaluators. Called once per worker at startup.
pub trait EvaluatorFactory: Send + Sync + 'static {
    fn evaluator(&self) -> Box<dyn Evaluate + Send>;

    /// Whether evaluators keep per-partition state worth persisting (stateful rules loaded).
    /// With `stateful.state_dir` set, the stage then writes snapshots and holds back offsets
    /// until they are written. Default: no.
    fn keeps_state(&self) -> bool {
        false
    }
}

/// Hands each worker its own evaluator (with its own buffers) of the shared rule engine.
pub struct EngineFactory(pub Arc<crate::engine::ruleset::Engine>);

impl EvaluatorFactory for EngineFactory {
    fn evaluator(&self) -> Box<dyn Evaluate + Send> {
        Box::new(self.0.evaluator())
    }

    fn keeps_state(&self) -> bool {
        self.0.has_stateful_rules()
    }
}

impl Evaluate for crate::engine::ruleset::Evaluator {
    fn evaluate(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        crate::engine::ruleset::Evaluator::evaluate(self, raw, origin, out)
    }

    fn flush(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        crate::engine::ruleset::Evaluator::flush(self, now, out)
    }

    fn stateful_sample(&self) -> Option<crate::metrics::StatefulSample> {
        Some(crate::metrics::StatefulSample {
            stats: self.stateful_stats().clone(),
            sizes: self.runtime().sizes(),
        })
    }

    fn snapshot(&self, topic: &str, partition: i32) -> Option<PartitionSnapshot> {
        self.runtime().snapshot(Some(topic), partition)
    }

    fn forget_partition(&mut self, topic: &str, partition: i32) {
        self.runtime_mut().forget(Some(topic), partition);
    }
}

/// Why the stage stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot bind the metrics listener on {addr}: {source}")]
    MetricsListener {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the kafka {client}: {source}")]
    Client {
        client: &'static str,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot start worker threads: {0}")]
    Threads(std::io::Error),
    #[error("the producer hit a fatal error; restart to resume from the committed offsets")]
    FatalProducer,
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot open the state directory: {0}")]
    State(#[from] StateError),
}

/// Runs the stage until SIGTERM or SIGINT, then drains and commits. Blocking: it builds its own
/// tokio runtime, so call it from `main`, not from inside a runtime.
pub fn run(settings: Settings, factory: Arc<dyn EvaluatorFactory>) -> anyhow::Result<()> {
    run_with_metrics(settings, factory, Arc::new(Metrics::new()))
}

/// [`run`] with a caller-made [`Metrics`] (so the engine can observe `rule_eval_seconds`).
pub fn run_with_metrics(
    settings: Settings,
    factory: Arc<dyn EvaluatorFactory>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Async work here is I/O bookkeeping only; evaluation has its own threads.
        .worker_threads(2)
        .thread_name("rulestream-io")
        .enable_all()
        .build()
        .map_err(PipelineError::Runtime)?;
    runtime.block_on(run_until(settings, factory, metrics, shutdown_signal()))?;
    // Delivery tasks of abandoned events may still sleep in retries: don't wait for them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(e) => {
                warn!(error = %e, "Cannot listen for SIGTERM; only SIGINT stops the stage.");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("Shutdown requested.");
}

/// Runs the stage until `shutdown` resolves: stops fetching, waits (at most
/// `pipeline.shutdown_timeout`) for in-flight events to be acknowledged, commits, and returns.
/// Must run on a multi-threaded tokio runtime.
pub async fn run_until(
    settings: Settings,
    factory: Arc<dyn EvaluatorFactory>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PipelineError> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let addr = settings.metrics_addr;
    let listener = crate::metrics::bind(addr)
        .await
        .map_err(|source| PipelineError::MetricsListener { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    {
        let metrics = metrics.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let until = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::metrics::serve(listener, metrics, until).await {
                error!(error = %e, "Metrics listener failed.");
            }
        });
    }

    let mut producer_config = ClientConfig::new();
    for (k, v) in &settings.kafka.producer {
        producer_config.set(k, v);
    }
    let producer: FutureProducer =
        producer_config
            .create()
            .map_err(|source| PipelineError::Client {
                client: "producer",
                source,
            })?;
    spawn_producer_probe(
        producer.clone(),
        settings.kafka.alerts_topic.clone(),
        metrics.clone(),
        stop_rx.clone(),
    );

    let acker = Arc::new(ack::Acker::default());
    let gate = durable_state(&settings, factory.as_ref(), &metrics)?;
    let writer_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = match &gate {
        Some(gate) => Some(
            gate.spawn_writer(writer_stop.clone())
                .map_err(PipelineError::Threads)?,
        ),
        None => None,
    };
    let consumer = source::create_consumer(&settings, acker.clone(), gate.clone(), metrics.clone())
        .map_err(|source| PipelineError::Client {
            client: "consumer",
            source,
        })?;
    let consumer = Arc::new(consumer);

    let fatal = Arc::new(Notify::new());
    let sink = Arc::new(sink::Sink::new(
        producer.clone(),
        settings.kafka.alerts_topic.clone(),
        settings.kafka.dead_letter_topic.clone(),
        metrics.clone(),
        tokio::runtime::Handle::current(),
        settings.pipeline.produce_retry_backoff,
        fatal.clone(),
    ));
    // Time-driven outputs (suppression updates) are tracked apart from the input offsets: see
    // workers::Flusher.
    let flush_acker = Arc::new(ack::Acker::default());
    let pool = workers::Pool::start(
        settings.pipeline.workers,
        settings.pipeline.queue_capacity,
        &factory,
        sink,
        metrics.clone(),
        workers::FlushSettings {
            interval: settings.stateful.flush_interval,
            acker: flush_acker.clone(),
            snapshots: gate.clone().map(|gate| {
                Arc::new(durable::SnapshotSettings {
                    gate,
                    interval: settings.stateful.snapshot_interval,
                })
            }),
        },
    )
    .map_err(PipelineError::Threads)?;
    info!(
        inputs = ?settings.kafka.input_topics,
        alerts = %settings.kafka.alerts_topic,
        dead_letters = ?settings.kafka.dead_letter_topic,
        workers = settings.pipeline.workers,
        metrics = %local,
        "Pipeline started."
    );

    let permits = Arc::new(Semaphore::new(settings.pipeline.max_in_flight));
    let end = source::FetchLoop {
        consumer: &consumer,
        pool: &pool,
        acker: &acker,
        gate: gate.as_deref(),
        metrics: &metrics,
        settings: &settings,
        permits,
    }
    .run(&mut stop_rx, &fatal)
    .await;

    let threads = pool.close();
    if end == source::LoopEnd::Fatal {
        writer_stop.store(true, std::sync::atomic::Ordering::Release);
        source::store_ready(&acker, gate.as_deref(), consumer.as_ref());
        finish_consumer(consumer).await;
        return Err(PipelineError::FatalProducer);
    }

    // Drain: workers finish their queues and flush, deliveries get acknowledged, offsets stored.
    let started = Instant::now();
    let deadline = started + settings.pipeline.shutdown_timeout;
    // Durable state: the workers' last snapshots are written once their outputs are
    // acknowledged; the offsets they cover are stored after that.
    let busy = |threads: &[std::thread::JoinHandle<()>]| {
        acker.in_flight() > 0
            || flush_acker.in_flight() > 0
            || threads.iter().any(|t| !t.is_finished())
            || gate.as_ref().is_some_and(|g| g.busy() > 0)
    };
    while busy(&threads) && Instant::now() < deadline {
        source::store_ready(&acker, gate.as_deref(), consumer.as_ref());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    source::store_ready(&acker, gate.as_deref(), consumer.as_ref());
    writer_stop.store(true, std::sync::atomic::Ordering::Release);
    if let Some(gate) = &gate {
        if gate.busy() > 0 {
            warn!(
                snapshots = gate.busy(),
                "Shutdown timeout reached before state snapshots were written; their events \
                 will be redelivered and counted from the last snapshot."
            );
        }
    }
    drop(writer);
    let left = acker.in_flight();
    if flush_acker.in_flight() > 0 {
        warn!(
            alerts = flush_acker.in_flight(),
            "Shutdown timeout reached before suppression updates were acknowledged."
        );
    }
    if left > 0 {
        warn!(
            events = left,
            "Shutdown timeout reached with events unfinished; they will be redelivered."
        );
    } else {
        info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "In-flight events drained."
        );
    }
    // Workers are done or stuck behind an unavailable broker; never block exit on them.
    std::thread::spawn(move || threads.into_iter().for_each(|t| drop(t.join())));
    finish_consumer(consumer).await;
    let flush = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5)));
    let _ = tokio::time::timeout(Duration::from_secs(6), flush).await;
    info!("Pipeline stopped.");
    Ok(())
}

/// The durable-state gate, when stateful rules are loaded and `stateful.state_dir` is set.
fn durable_state(
    settings: &Settings,
    factory: &dyn EvaluatorFactory,
    metrics: &Arc<Metrics>,
) -> Result<Option<Arc<durable::StateGate>>, PipelineError> {
    let Some(dir) = &settings.stateful.state_dir else {
        return Ok(None);
    };
    if !factory.keeps_state() {
        info!("No stateful rules loaded; stateful.state_dir is not used.");
        return Ok(None);
    }
    let store = StateStore::open(dir)?;
    info!(state_dir = %dir.display(), "Stateful rules write per-partition snapshots; offsets are committed only up to the last snapshot.");
    Ok(Some(durable::StateGate::new(store, metrics.clone())))
}

/// Commits stored offsets and closes the consumer, off the async threads and bounded in time:
/// librdkafka's destroy has been seen to hang (see docs/kafka-testing.md).
async fn finish_consumer(consumer: Arc<source::Source>) {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => info!("Offsets committed."),
            // _NO_OFFSET: nothing new since the last auto-commit.
            Err(e) => info!(result = %e, "Final commit had nothing to do or failed."),
        }
        consumer.unsubscribe();
        drop(consumer);
        let _ = done_tx.send(());
    });
    if tokio::time::timeout(Duration::from_secs(10), done_rx)
        .await
        .is_err()
    {
        warn!("Consumer did not close within 10 s; exiting anyway (offsets were committed).");
    }
}

/// Marks the producer connected once the cluster answers a metadata request.
/// A plain thread, not `spawn_blocking`: dropping a runtime waits for its blocking tasks.
fn spawn_producer_probe(
    producer: FutureProducer,
    topic: String,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) {
    std::thread::spawn(move || {
        while !*stop.borrow() {
            if metrics
                .producer_connected
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                return;
            }
            match producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
            {
                Ok(_) => {
                    metrics
                        .producer_connected
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "Producer cannot reach the cluster yet.");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    });
}

/// Installs the tracing subscriber: human-readable or JSON lines, filtered by `RUST_LOG`
/// (default `info`). Call once, early in `main`.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
