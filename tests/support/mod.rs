//! Shared helpers for the Kafka tests: the broker, topics, producing/reading records, the test
//! evaluator, and running the stage in a thread or a child process.
//!
//! The broker is started once per test process through `scripts/broker.sh` (a watchdog stops it
//! when the process exits), or taken from `RULESTREAM_TEST_BROKERS`. If neither works the test
//! panics: Kafka tests never skip silently.
#![allow(dead_code, unused_imports, clippy::unwrap_used)] // helpers; tests may unwrap

pub mod child;
pub mod evaluator;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rulestream::config::{parse_file, RunArgs, Settings};
use rulestream::metrics::Metrics;
use rulestream::pipeline::EvaluatorFactory;

pub use evaluator::{expected_alert_id, test_evaluator_factory, TEST_RULE_ID};

/// Address of the test broker (started on first use).
pub fn broker() -> &'static str {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER.get_or_init(|| {
        if let Ok(b) = std::env::var("RULESTREAM_TEST_BROKERS") {
            if !b.is_empty() {
                return b;
            }
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let state = format!("{root}/.cache/broker/test-{}/state", std::process::id());
        let out = std::process::Command::new(format!("{root}/scripts/broker.sh"))
            .arg("start")
            .env("RULESTREAM_BROKER_STATE", &state)
            .env("RULESTREAM_BROKER_WATCH_PID", std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/broker.sh: {e}"));
        assert!(
            out.status.success(),
            "scripts/broker.sh start failed (set RULESTREAM_TEST_BROKERS to use another broker):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "unexpected broker address {addr:?}");
        addr
    })
}

/// A topic or group name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create_topics request");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
    }
}

/// One record to produce.
pub struct Input {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Partition to write to (`None` = by key).
    pub partition: Option<i32>,
}

/// Produces all records and waits for their acks. Returns the end offset per partition
/// (highest acknowledged offset + 1), the value committed offsets must reach.
pub fn produce_all(brokers: &str, topic: &str, records: &[Input]) -> HashMap<i32, i64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "20000000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    rt.block_on(async {
        let mut futures = Vec::with_capacity(records.len());
        for r in records {
            let mut rec = FutureRecord::<[u8], [u8]>::to(topic).payload(&r.payload);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(p) = r.partition {
                rec = rec.partition(p);
            }
            loop {
                match producer.send_result(rec) {
                    Ok(f) => {
                        futures.push(f);
                        break;
                    }
                    Err((_, back)) => {
                        rec = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }
        for f in futures {
            let d = f
                .await
                .expect("delivery future")
                .expect("test record delivered");
            let e = ends.entry(d.partition).or_insert(0);
            *e = (*e).max(d.offset + 1);
        }
    });
    ends
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Output {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: HashMap<String, String>,
    pub partition: i32,
    pub offset: i64,
}

/// Reads a topic from the beginning (no group) until `want` records arrived and then `settle`
/// passed without new ones, or until `timeout`. Panics on timeout with fewer than `want`.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    want: usize,
    settle: Duration,
    timeout: Duration,
) -> Vec<Output> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader consumer");
    let deadline = Instant::now() + timeout;
    let partitions = loop {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
        if let Ok(md) = md {
            if let Some(t) = md.topics().first() {
                if !t.partitions().is_empty() {
                    break t.partitions().len() as i32;
                }
            }
        }
        assert!(Instant::now() < deadline, "topic {topic} has no partitions");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut last_new = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut headers = HashMap::new();
                if let Some(h) = m.headers() {
                    for hdr in h.iter() {
                        let v = hdr.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        headers.insert(hdr.key.to_string(), v.unwrap_or_default());
                    }
                }
                out.push(Output {
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                    partition: m.partition(),
                    offset: m.offset(),
                });
                last_new = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        if out.len() >= want && last_new.elapsed() >= settle {
            break;
        }
        if Instant::now() > deadline {
            assert!(
                out.len() >= want,
                "read {} of {want} records from {topic} within {timeout:?}",
                out.len()
            );
            break;
        }
    }
    close_detached(consumer);
    out
}

/// Committed offsets of `group` on `topic` partitions `0..partitions` (-1 = none).
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offsets consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    let out = got
        .elements()
        .iter()
        .map(|e| {
            (
                e.partition(),
                if let Offset::Offset(o) = e.offset() {
                    o
                } else {
                    -1
                },
            )
        })
        .collect();
    close_detached(consumer);
    out
}

/// Waits until `group`'s committed offsets reach `ends` on every partition.
pub fn wait_committed(
    brokers: &str,
    group: &str,
    topic: &str,
    ends: &HashMap<i32, i64>,
    timeout: Duration,
) {
    let partitions = ends.keys().max().map_or(0, |p| p + 1);
    let deadline = Instant::now() + timeout;
    loop {
        let got = committed(brokers, group, topic, partitions);
        if ends.iter().all(|(p, end)| got.get(p) == Some(end)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "committed {got:?}, expected {ends:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Drops a client on a detached thread: librdkafka's destroy has been seen to hang.
pub fn close_detached<T: Send + 'static>(client: T) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(client);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(5));
}

/// Topics and group of one test.
#[derive(Debug, Clone)]
pub struct Names {
    pub input: String,
    pub alerts: String,
    pub dead: String,
    pub group: String,
}

impl Names {
    pub fn new(test: &str) -> Names {
        Names {
            input: unique(&format!("{test}-in")),
            alerts: unique(&format!("{test}-alerts")),
            dead: unique(&format!("{test}-dead")),
            group: unique(&format!("{test}-group")),
        }
    }
}

/// Stage settings for tests: fast group joins (tansu), quick commits, an ephemeral metrics port.
/// `extra` is appended to the TOML (e.g. a `[pipeline]` table).
pub fn settings(names: &Names, metrics_port: u16, extra: &str) -> Settings {
    let text = format!(
        "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\ninput_topics = [\"{}\"]\n\
         alerts_topic = \"{}\"\ndead_letter_topic = \"{}\"\n\
         [metrics]\naddr = \"127.0.0.1:{metrics_port}\"\n\
         [librdkafka_consumer]\n\"session.timeout.ms\" = 2000\n\"heartbeat.interval.ms\" = 500\n\
         \"auto.commit.interval.ms\" = 200\n\"statistics.interval.ms\" = 1000\n{extra}",
        broker(),
        names.group,
        names.input,
        names.alerts,
        names.dead
    );
    let file = parse_file(&text, std::path::Path::new("test.toml")).expect("test config parses");
    Settings::build(file, &RunArgs::default(), &|_| None).expect("test config valid")
}

/// A free local port (bind 0, release; racy only against other processes on 127.0.0.1).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The stage running in a thread of this process.
pub struct StageThread {
    pub metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl StageThread {
    pub fn start(settings: Settings, factory: Arc<dyn EvaluatorFactory>) -> StageThread {
        // Logs show up in a failing test's output (the harness captures them otherwise).
        rulestream::pipeline::init_tracing(rulestream::config::LogFormat::Text);
        let metrics = Arc::new(Metrics::new());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let m = metrics.clone();
        let join = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let res = rt.block_on(rulestream::pipeline::run_until(
                settings,
                factory,
                m,
                async {
                    let _ = stopped.await;
                },
            ));
            rt.shutdown_timeout(Duration::from_secs(1));
            res.map_err(|e| e.to_string())
        });
        StageThread {
            metrics,
            stop: Some(stop),
            join: Some(join),
        }
    }

    /// Requests shutdown and waits (bounded) for the stage to return.
    pub fn stop(mut self, timeout: Duration) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let join = self.join.take().expect("joined once");
        let deadline = Instant::now() + timeout;
        while !join.is_finished() {
            assert!(
                Instant::now() < deadline,
                "stage did not stop within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        join.join()
            .map_err(|_| "stage thread panicked".to_string())?
    }
}

/// Polls `cond` every 50 ms until true; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Value of a metric sample line `name{labels} value` in Prometheus text (sum over matches of
/// the given label fragment).
pub fn metric(text: &str, name: &str, label_fragment: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name)
                && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
                && l.contains(label_fragment)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET http://addr/path` with a bare HTTP/1.1 request; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read response");
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A small Okta-like ECS event; `matching` ones trigger the test rule. Its `event.id` is
/// `evt-{i}`.
pub fn event_json(i: usize, matching: bool) -> Vec<u8> {
    let action = if matching {
        evaluator::MATCHING_ACTION
    } else {
        "user.session.start"
    };
    serde_json::to_vec(&serde_json::json!({
        "@timestamp": "2026-11-25T10:00:00.000Z",
        "event": {"id": format!("evt-{i}"), "action": action, "dataset": "okta.system"},
        "data_stream": {"type": "logs", "dataset": "okta.system", "namespace": "default"},
        "user": {"name": format!("user{}@example.com", i % 97)},
        "source": {"ip": format!("10.0.{}.{}", i % 250, i % 200)},
        "okta": {"outcome": {"result": "SUCCESS"}},
    }))
    .expect("serializable")
}

/// Inputs `0..n` where every `every`-th event matches; returns them with the expected alert ids.
pub fn workload(n: usize, every: usize) -> (Vec<Input>, std::collections::BTreeSet<String>) {
    let mut expected = std::collections::BTreeSet::new();
    let inputs = (0..n)
        .map(|i| {
            let matching = i % every == 0;
            if matching {
                expected.insert(expected_alert_id(&format!("evt-{i}")));
            }
            Input {
                key: Some(format!("k{i}").into_bytes()),
                payload: event_json(i, matching),
                partition: None,
            }
        })
        .collect();
    (inputs, expected)
}

/// Fields of an alert that record when and by which process it was built (alert-schema §6):
/// a redelivered event's alert has the same id and content but new values here.
const PROCESSING_FIELDS: &[&str] = &[
    "@timestamp",
    "kibana.alert.start",
    "kibana.alert.last_detected",
    "kibana.alert.intended_timestamp",
    "kibana.alert.rule.execution.timestamp",
    "kibana.alert.rule.execution.uuid",
    "kibana.alert.url",
];

/// Asserts that two alerts written under the same id are the same alert: equal documents apart
/// from the processing-time fields.
pub fn assert_same_alert(key: &str, a: &[u8], b: &[u8]) {
    let strip = |bytes: &[u8]| {
        let mut doc: serde_json::Value = serde_json::from_slice(bytes).expect("alert is JSON");
        if let Some(map) = doc.as_object_mut() {
            for field in PROCESSING_FIELDS {
                map.remove(*field);
            }
        }
        doc
    };
    assert_eq!(
        strip(a),
        strip(b),
        "two alerts with id {key} differ beyond processing times"
    );
}

/// Alert keys → payloads; panics if one key carries two different documents (a redelivered
/// alert must be the same alert, up to processing-time fields).
pub fn alerts_by_key(alerts: &[Output]) -> HashMap<String, Vec<u8>> {
    let mut by_key: HashMap<String, Vec<u8>> = HashMap::new();
    for a in alerts {
        let key = a.key.clone().expect("alerts have keys");
        if let Some(prev) = by_key.insert(key.clone(), a.payload.clone()) {
            assert_same_alert(&key, &prev, &a.payload);
        }
    }
    by_key
}

/// Waits (60 s at most) until the stage has committed every input offset up to `ends`, then
/// reads the alerts topic: at least `want` records, and whatever else arrives within a second.
pub fn alerts_after_commit(names: &Names, ends: &HashMap<i32, i64>, want: usize) -> Vec<Output> {
    let t = Duration::from_secs(60);
    wait_committed(broker(), &names.group, &names.input, ends, t);
    read_topic(broker(), &names.alerts, want, Duration::from_secs(1), t)
}

/// The alert ids the engine gives `payloads`, evaluated in order as offsets `first`, `first`
/// + 1, … of `topic`/`partition` (what a stage that processes those records must produce).
pub fn alert_ids_at_offsets<P: AsRef<[u8]>>(
    evaluator: &mut rulestream::engine::ruleset::Evaluator,
    (topic, partition, first): (&str, i32, i64),
    payloads: impl IntoIterator<Item = P>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (offset, payload) in (first..).zip(payloads) {
        let payload = payload.as_ref();
        let origin = rulestream::engine::EventOrigin {
            topic: Some(topic),
            partition,
            offset,
            default_index: None,
        };
        let mut out = Vec::new();
        evaluator.evaluate(payload, &origin, &mut out).unwrap();
        ids.extend(out.into_iter().map(|a| a.id));
    }
    ids
}
