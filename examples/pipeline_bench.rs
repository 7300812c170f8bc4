//! Benchmark driver for the Kafka stage, run by `scripts/bench-pipeline.sh` (see there).
//!
//! Modes (each a separate process so CPU time and peak RSS belong to that mode alone):
//!   preload --brokers B --topic T --events N --partitions P
//!       writes N realistic Okta ECS events (~3.4 KB, built from the Elastic Okta integration's
//!       expected documents with unique `event.id`s; 1% trigger the bench rule).
//!   consume --brokers B --topic T --events N
//!       plain group consume of the topic with the stage's consumer settings (baseline).
//!   stage --brokers B --topic T --events N [--workers W]
//!       runs the stage from the beginning of the topic until N events are completed.
//!   rate --brokers B --rate R --seconds S [--workers W]
//!       offers R events/s to a fresh topic for S seconds while the stage runs; latency.
//! Output: `key=value` lines. No timing is asserted anywhere.

#[allow(dead_code)]
#[path = "../tests/support/evaluator.rs"]
mod evaluator;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message};
use rulestream::config::{parse_file, RunArgs, Settings};
use rulestream::metrics::Metrics;
use rulestream::pipeline::EvaluatorFactory;

/// The one place the bench chooses its evaluator: the real engine with all of Elastic's Okta
/// rules (42 run: query, threshold, new_terms and EQL, two of them reading alerts, so alerts are
/// fed back); `BENCH_EVALUATOR=query` the 28 KQL query rules only (the set earlier figures were
/// measured with), `BENCH_EVALUATOR=noop` the pipeline alone (no parsing, no alerts),
/// `BENCH_EVALUATOR=seed` the engine with the seed rule only.
fn evaluator_factory() -> Arc<dyn EvaluatorFactory> {
    match std::env::var("BENCH_EVALUATOR").as_deref() {
        Ok("noop") => Arc::new(Noop),
        Ok("seed") => evaluator::test_evaluator_factory(),
        _ => {
            let dir = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/detection-rules-okta"
            );
            let mut report = rulestream::rules::load_dirs(&[std::path::PathBuf::from(dir)]);
            if std::env::var("BENCH_EVALUATOR").as_deref() == Ok("query") {
                report
                    .rules
                    .retain(|r| r.rule_type == rulestream::rules::RuleType::Query);
            }
            let settings = rulestream::engine::ruleset::EngineSettings::default();
            let mut stateful = rulestream::engine::stateful::StatefulSettings {
                state_dir: state_dir(),
                ..Default::default()
            };
            // BENCH_LATENESS_MS: the stateful rules' allowed lateness (default 5 min); 0 turns
            // off the EQL exact out-of-order pass, to measure what it costs.
            if let Some(ms) = std::env::var("BENCH_LATENESS_MS")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                stateful.allowed_lateness_ms = ms;
            }
            let (engine, _) = rulestream::engine::ruleset::Engine::with_stateful(
                report.rules,
                settings,
                stateful,
            );
            Arc::new(rulestream::pipeline::EngineFactory(Arc::new(engine)))
        }
    }
}

/// `BENCH_STATE_DIR`: durable stateful-rule state (snapshots, offsets held back until they
/// are written), to measure its cost against a run without it.
fn state_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("BENCH_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
}

struct Noop;

impl EvaluatorFactory for Noop {
    fn evaluator(&self) -> Box<dyn rulestream::pipeline::Evaluate + Send> {
        Box::new(Noop)
    }
}

impl rulestream::pipeline::Evaluate for Noop {
    fn evaluate(
        &mut self,
        _raw: &[u8],
        _origin: &rulestream::engine::EventOrigin<'_>,
        _out: &mut Vec<rulestream::engine::AlertOut>,
    ) -> Result<(), rulestream::engine::EventError> {
        Ok(())
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

// The same allocator as the `rulestream` binary (src/main.rs), so the bench measures what runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    let mut opts = HashMap::new();
    for pair in args[1.min(args.len())..].chunks(2) {
        if let [k, v] = pair {
            opts.insert(k.trim_start_matches("--").to_string(), v.clone());
        }
    }
    let get = |k: &str| opts.get(k).cloned().ok_or_else(|| format!("missing --{k}"));
    let num = |k: &str, d: u64| opts.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let brokers = get("brokers")?;
    match mode.as_str() {
        "preload" => preload(
            &brokers,
            &get("topic")?,
            num("events", 1_000_000),
            num("partitions", 4),
        ),
        "consume" => consume(&brokers, &get("topic")?, num("events", 0)),
        "stage" => stage(
            &brokers,
            &get("topic")?,
            num("events", 0),
            num("workers", 0),
        ),
        "rate" => rate(
            &brokers,
            num("rate", 20_000),
            num("seconds", 20),
            num("workers", 0),
        ),
        _ => Err("usage: pipeline_bench preload|consume|stage|rate --brokers B ...".into()),
    }
}

/// Compact JSON templates from the Okta integration's expected documents.
fn templates() -> Res<Vec<serde_json::Value>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/okta-integration"
    );
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with("-expected.json") {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
            if let Some(docs) = v["expected"].as_array() {
                out.extend(docs.iter().filter(|d| d.is_object()).cloned());
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no *-expected.json documents in {dir}").into());
    }
    Ok(out)
}

const ID_PLACEHOLDER: &str = "@@EVENT_ID@@";

/// Pre-serialized variants of each template: [plain, matching] × [without, with event.original].
/// Events keep `event.original` one time in three, for a mean size of about 3.4 KB.
struct Corpus {
    variants: Vec<[[String; 2]; 2]>,
}

impl Corpus {
    fn new(templates: Vec<serde_json::Value>) -> Corpus {
        let variants = templates
            .into_iter()
            .map(|mut doc| {
                doc["event"]["id"] = serde_json::Value::String(ID_PLACEHOLDER.into());
                // As Fleet indexes them: the data stream fields rules and index patterns need.
                doc["data_stream"] = serde_json::json!({"type": "logs", "dataset": "okta.system", "namespace": "default"});
                doc["event"]["dataset"] = "okta.system".into();
                doc["event"]["module"] = "okta".into();
                // Three fixture events carry risk behaviors, which an Okta rule alerts on; keep
                // the alerting share at 1% (the matching variant).
                if let Some(debug) = doc.pointer_mut("/okta/debug_context/debug_data").and_then(|d| d.as_object_mut()) {
                    debug.remove("risk_behaviors");
                }
                let mut stripped = doc.clone();
                if let Some(e) = stripped["event"].as_object_mut() {
                    e.remove("original");
                }
                let ser = |d: &serde_json::Value, matching: bool| {
                    let mut d = d.clone();
                    if matching {
                        d["event"]["action"] =
                            serde_json::Value::String(evaluator::MATCHING_ACTION.into());
                    }
                    serde_json::to_string(&d).unwrap_or_default()
                };
                [
                    [ser(&stripped, false), ser(&doc, false)],
                    [ser(&stripped, true), ser(&doc, true)],
                ]
            })
            .collect();
        Corpus { variants }
    }

    fn event(&self, i: u64) -> Vec<u8> {
        let v = &self.variants[(i as usize) % self.variants.len()];
        // 1% match the bench rule.
        let text = &v[usize::from(i % 100 == 0)][usize::from(i % 3 == 0)];
        text.replacen(ID_PLACEHOLDER, &format!("bench-{i}"), 1)
            .into_bytes()
    }
}

fn create_topic(brokers: &str, topic: &str, partitions: i32) -> Res<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))? {
        r.map_err(|(t, e)| format!("create {t}: {e}"))?;
    }
    Ok(())
}

fn producer(brokers: &str) -> Res<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .create()?)
}

fn send(p: &BaseProducer, topic: &str, key: &str, payload: &[u8]) {
    let mut rec = BaseRecord::<str, [u8]>::to(topic).key(key).payload(payload);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, back)) => {
                rec = back;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

fn preload(brokers: &str, topic: &str, n: u64, partitions: u64) -> Res<()> {
    let t = Corpus::new(templates()?);
    create_topic(brokers, topic, partitions as i32)?;
    let p = producer(brokers)?;
    let started = Instant::now();
    let mut bytes = 0u64;
    for i in 0..n {
        let payload = t.event(i);
        bytes += payload.len() as u64;
        send(&p, topic, &format!("k{i}"), &payload);
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(300))?;
    let secs = started.elapsed().as_secs_f64();
    println!("preload_events={n}");
    println!("preload_bytes={bytes}");
    println!("preload_avg_event_bytes={}", bytes / n.max(1));
    println!("preload_events_per_s={:.0}", n as f64 / secs);
    Ok(())
}

/// Stage settings shared by every mode, so the baseline consumer uses the same client settings.
fn settings(brokers: &str, topic: &str, workers: u64) -> Res<Settings> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let unique = format!("{}-{nanos}", std::process::id());
    let text = format!(
        "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"bench-{topic}-{unique}\"\n\
         input_topics = [\"{topic}\"]\nalerts_topic = \"{topic}-alerts\"\n\
         dead_letter_topic = \"{topic}-dead\"\n\
         [pipeline]\nworkers = {workers}\n\
         [metrics]\naddr = \"127.0.0.1:0\"\n{}\
         [librdkafka_consumer]\n\"session.timeout.ms\" = 2000\n\"heartbeat.interval.ms\" = 500\n\
         {}[librdkafka_producer]\n{}",
        state_dir().map_or(String::new(), |d| format!(
            "[stateful]\nstate_dir = \"{}\"\n",
            d.display()
        )),
        extra_props("BENCH_CONSUMER_PROPS"),
        extra_props("BENCH_PRODUCER_PROPS"),
    );
    let file = parse_file(&text, std::path::Path::new("bench.toml"))?;
    Ok(Settings::build(file, &RunArgs::default(), &|_| None)?)
}

/// TOML lines for `k=v,k=v` librdkafka properties from an environment variable (for tuning
/// experiments; empty when unset).
fn extra_props(var: &str) -> String {
    let text = std::env::var(var).unwrap_or_default();
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| format!("\"{}\" = \"{}\"\n", k.trim(), v.trim()))
        .collect()
}

/// (CPU seconds, peak RSS in MiB) of this process so far.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0; // USER_HZ is 100 on Linux
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

fn consume(brokers: &str, topic: &str, n: u64) -> Res<()> {
    let s = settings(brokers, topic, 1)?;
    let mut config = ClientConfig::new();
    for (k, v) in &s.kafka.consumer {
        config.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // StreamConsumer spawns a task at creation: it needs the runtime entered.
    let _guard = rt.enter();
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let (count, bytes, secs) = rt.block_on(async {
        let mut count = 0u64;
        let mut bytes = 0u64;
        let mut started = None;
        while count < n {
            let Ok(m) = consumer.recv().await else {
                continue;
            };
            started.get_or_insert_with(Instant::now);
            // Same per-event work as the stage's source: copy the payload, store the offset.
            let payload = m.payload().unwrap_or_default().to_vec();
            bytes += payload.len() as u64;
            let _ = consumer.store_offset(m.topic(), m.partition(), m.offset());
            count += 1;
        }
        (
            count,
            bytes,
            started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
        )
    });
    let (cpu, rss) = usage();
    println!("consume_events={count}");
    println!("consume_seconds={secs:.2}");
    println!("consume_events_per_s={:.0}", count as f64 / secs);
    println!("consume_mb_per_s={:.1}", bytes as f64 / secs / 1e6);
    println!("consume_cpu_seconds={cpu:.2}");
    println!("consume_peak_rss_mib={rss:.0}");
    std::process::exit(0); // don't wait for librdkafka's destroy
}

struct Running {
    metrics: Arc<Metrics>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn start_stage(s: Settings) -> Running {
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let m = metrics.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let until = async {
            let _ = stopped.await;
        };
        if let Err(e) = rt.block_on(rulestream::pipeline::run_until(
            s,
            evaluator_factory(),
            m,
            until,
        )) {
            eprintln!("stage failed: {e}");
        }
        rt.shutdown_timeout(Duration::from_secs(1));
    });
    Running {
        metrics,
        stop,
        thread,
    }
}

fn latency_report(prefix: &str, metrics: &Metrics) {
    let h = &metrics.end_to_end_latency;
    let count = h.get_sample_count();
    println!("{prefix}_alerts={count}");
    if count > 0 {
        println!(
            "{prefix}_latency_mean_ms={:.2}",
            h.get_sample_sum() / count as f64 * 1000.0
        );
    }
    // Cumulative bucket counts from the Prometheus text.
    for line in metrics.render().lines() {
        if line.starts_with("rulestream_end_to_end_latency_seconds_bucket") {
            if let (Some(le), Some(v)) = (line.split('"').nth(1), line.rsplit(' ').next()) {
                println!("{prefix}_latency_le_{le}s={v}");
            }
        }
    }
}

fn stage(brokers: &str, topic: &str, n: u64, workers: u64) -> Res<()> {
    let s = settings(brokers, topic, workers)?;
    let workers = s.pipeline.workers;
    let run = start_stage(s);
    let m = &run.metrics;
    let consumed = || m.events_consumed.with_label_values(&[topic]).get();
    while consumed() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (cpu0, _) = usage();
    let started = Instant::now();
    // The longest time no event completed: a stall (e.g. a group rebalance, a slow fetch)
    // shows here rather than as CPU.
    let (mut last_count, mut last_change, mut longest_stall) = (0, started, Duration::ZERO);
    let mut stall_at = (Duration::ZERO, 0);
    while m.events_completed.get() < n {
        std::thread::sleep(Duration::from_millis(5));
        let count = m.events_completed.get();
        if count != last_count {
            if last_change.elapsed() > longest_stall {
                longest_stall = last_change.elapsed();
                stall_at = (last_change - started, last_count);
            }
            (last_count, last_change) = (count, Instant::now());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("stage_longest_stall_ms={}", longest_stall.as_millis());
    println!(
        "stage_longest_stall_started_ms={} (after {} events)",
        stall_at.0.as_millis(),
        stall_at.1
    );
    let (cpu1, rss) = usage();
    println!("stage_workers={workers}");
    println!("stage_events={}", m.events_completed.get());
    println!("stage_seconds={secs:.2}");
    println!("stage_events_per_s={:.0}", n as f64 / secs);
    println!("stage_cpu_seconds={:.2}", cpu1 - cpu0);
    println!("stage_cpu_cores={:.2}", (cpu1 - cpu0) / secs);
    println!("stage_peak_rss_mib={rss:.0}");
    println!(
        "stage_dead_letters={}",
        metrics_sum(m, "rulestream_dead_letters_total") as u64
    );
    println!(
        "stage_producer_errors={}",
        metrics_sum(m, "rulestream_producer_errors_total") as u64
    );
    for line in m.render().lines() {
        if line.starts_with("rulestream_producer_errors_total{") {
            println!("stage_{line}");
        }
    }
    latency_report("stage", m);
    let _ = run.stop.send(());
    let _ = run.thread.join();
    std::process::exit(0);
}

fn metrics_sum(m: &Metrics, name: &str) -> f64 {
    m.render()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn rate(brokers: &str, rate: u64, seconds: u64, workers: u64) -> Res<()> {
    let topic = format!("bench-rate-{}", std::process::id());
    create_topic(brokers, &topic, 4)?;
    let t = Corpus::new(templates()?);
    let s = settings(brokers, &topic, workers)?;
    let run = start_stage(s);
    let m = run.metrics.clone();
    // Wait for the assignment so the first events don't measure the group join.
    while !m.is_ready() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let p = producer(brokers)?;
    let total = rate * seconds;
    let (cpu0, _) = usage();
    let started = Instant::now();
    for i in 0..total {
        // Paced in 1 ms steps: event i is due at i / rate seconds.
        let due = Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            if wait > Duration::from_micros(500) {
                std::thread::sleep(wait);
            }
        }
        send(&p, &topic, &format!("k{i}"), &t.event(i));
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60))?;
    let offered_secs = started.elapsed().as_secs_f64();
    while m.events_completed.get() < total {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (cpu1, rss) = usage();
    println!("rate_offered_events_per_s={rate}");
    println!(
        "rate_achieved_events_per_s={:.0}",
        total as f64 / offered_secs
    );
    println!("rate_events={total}");
    println!(
        "rate_cpu_cores_incl_producer={:.2}",
        (cpu1 - cpu0) / started.elapsed().as_secs_f64()
    );
    println!("rate_peak_rss_mib={rss:.0}");
    latency_report("rate", &m);
    let _ = run.stop.send(());
    let _ = run.thread.join();
    std::process::exit(0);
}
