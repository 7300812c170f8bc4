//! Configuration of `rulestream run`: the TOML file, the command-line flags, and the validated
//! [`Settings`] the pipeline runs from.
//!
//! Design: three layers kept apart (raw file structs → flags on top → validated `Settings`), so
//! runtime code never sees an unvalidated value. Precedence, lowest first: built-in defaults, the
//! TOML file (`--config`), `RULESTREAM_*` environment variables, command-line flags. Every flag
//! has an environment variable (`--brokers` ↔ `RULESTREAM_BROKERS`, …, see `--help`). Secrets for
//! librdkafka (SASL passwords, …) go in `[librdkafka*]` values as `${VAR}`, expanded from the
//! environment at load time; an unset variable is an error naming the key.
//!
//! Errors ([`ConfigError`]) name the key and, for file errors, `file:line:col`. The binary exits
//! with status 2 on a `ConfigError` (see [`exit_code`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod librdkafka;
mod okta;
mod stateful;

use librdkafka::rdkafka_table;
pub use okta::OktaFile;
use stateful::validate_stateful;
pub use stateful::{StatefulFile, StatefulRunSettings};

/// Why a configuration could not be loaded. Each message names the key or file position.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("invalid config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("{path}:{line}:{col}: invalid config key `{key}`: {message}")]
    InvalidAt {
        path: PathBuf,
        line: usize,
        col: usize,
        key: String,
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Process exit status for an error returned by `run`: 2 for configuration errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err
        .chain()
        .any(|e| e.downcast_ref::<ConfigError>().is_some())
    {
        2
    } else {
        1
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

pub use crate::okta::InputFormat;

/// Evaluate detection rules on Kafka input topics and write alerts to an alerts topic.
///
/// Flags override the config file; without a file, the defaults plus flags are enough.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = "Examples:\n  \
    rulestream run --brokers kafka:9092 --input-topic okta-system-log --rules rules/\n  \
    rulestream run --config config/rulestream.toml --workers 4\n  \
    RULESTREAM_BROKERS=kafka:9092 rulestream run --config /etc/rulestream.toml --log-format json")]
pub struct RunArgs {
    /// TOML config file (see config/rulestream.toml for every key and its default).
    #[arg(long, value_name = "FILE", env = "RULESTREAM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers, comma-separated host:port list [default: 127.0.0.1:9092].
    #[arg(long, value_name = "HOSTS", env = "RULESTREAM_BROKERS")]
    pub brokers: Option<String>,
    /// Consumer group id; instances with the same id share the input partitions
    /// [default: rulestream].
    #[arg(long, value_name = "ID", env = "RULESTREAM_GROUP_ID")]
    pub group_id: Option<String>,
    /// Input topic to consume; repeat for several (replaces the file's list).
    #[arg(
        long = "input-topic",
        value_name = "T",
        env = "RULESTREAM_INPUT_TOPICS",
        value_delimiter = ','
    )]
    pub input_topics: Vec<String>,
    /// Topic alerts are written to [default: rulestream-alerts].
    #[arg(long, value_name = "T", env = "RULESTREAM_ALERTS_TOPIC")]
    pub alerts_topic: Option<String>,
    /// Topic for events that cannot be evaluated; without one they are logged and counted.
    #[arg(long, value_name = "T", env = "RULESTREAM_DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,
    /// Rule file or directory of detection-rules TOML; repeat for several (replaces the file's
    /// list).
    #[arg(
        long = "rules",
        value_name = "DIR",
        env = "RULESTREAM_RULES",
        value_delimiter = ','
    )]
    pub rules: Vec<PathBuf>,
    /// Address of the HTTP listener for /metrics, /health and /ready [default: 127.0.0.1:9898].
    #[arg(long, value_name = "ADDR", env = "RULESTREAM_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Number of evaluation threads [default: number of CPU cores].
    #[arg(long, value_name = "N", env = "RULESTREAM_WORKERS")]
    pub workers: Option<usize>,
    /// Log format [default: text].
    #[arg(long, value_enum, value_name = "FORMAT", env = "RULESTREAM_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Directory of stateful-rule snapshots (`stateful.state_dir`): threshold counts, the
    /// new_terms history and open EQL sequences survive restarts; offsets are committed only
    /// up to the last snapshot [default: none, state in memory].
    #[arg(long, value_name = "DIR", env = "RULESTREAM_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Raw file structs: mirror the TOML exactly. Defaults live here with where they come from.

/// The whole config file. All keys optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Rule files or directories. Default: none (the CLI must then get `--rules`).
    pub rules: Vec<PathBuf>,
    pub input: InputFile,
    /// Normalization of raw Okta events and their enrichment data (the `[okta]` table).
    pub okta: OktaFile,
    /// Index name assumed for events without `data_stream.*` fields. Default: none.
    pub default_index: Option<String>,
    /// Per-topic override of `default_index`.
    pub default_index_by_topic: BTreeMap<String, String>,
    pub kafka: KafkaFile,
    pub pipeline: PipelineFile,
    pub alert: AlertFile,
    pub metrics: MetricsFile,
    pub log: LogFile,
    /// Threshold / new_terms state and alert suppression (the `[stateful]` table).
    pub stateful: StatefulFile,
    /// librdkafka properties for both clients (strings, numbers or booleans).
    pub librdkafka: BTreeMap<String, toml::Value>,
    /// librdkafka properties for the consumer only (override `[librdkafka]`).
    pub librdkafka_consumer: BTreeMap<String, toml::Value>,
    /// librdkafka properties for the producer only (override `[librdkafka]`).
    pub librdkafka_producer: BTreeMap<String, toml::Value>,
}

/// `[input]`: how records are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputFile {
    /// `auto` (raw Okta normalized, ECS passed through, decided per event), `okta` or `ecs`.
    /// Default `auto`.
    pub format: InputFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaFile {
    pub brokers: String,
    pub group_id: String,
    pub input_topics: Vec<String>,
    pub alerts_topic: String,
    pub dead_letter_topic: Option<String>,
}

impl Default for KafkaFile {
    fn default() -> Self {
        KafkaFile {
            brokers: "127.0.0.1:9092".into(),
            group_id: "rulestream".into(),
            input_topics: vec!["okta-system-log".into()],
            alerts_topic: "rulestream-alerts".into(),
            dead_letter_topic: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineFile {
    /// Evaluation threads; 0 = number of CPU cores.
    pub workers: usize,
    /// Events queued per worker before the consumer waits. Events move in batches of up to
    /// min(64, half of this), so a queue holds at least two batches.
    pub queue_capacity: usize,
    /// Events consumed but not yet finished (alerts acknowledged) before the consumer waits.
    pub max_in_flight: usize,
    /// Events larger than this go to the dead-letter topic with reason `too_large`.
    pub max_event_bytes: usize,
    /// Bytes of a too-large event kept in its dead-letter record.
    pub dead_letter_max_bytes: usize,
    /// How long shutdown waits for in-flight events before giving up on them.
    pub shutdown_timeout_ms: u64,
    /// Wait before re-sending a record the broker did not acknowledge.
    pub produce_retry_backoff_ms: u64,
}

/// 1 MiB: Kafka's default `message.max.bytes` is about this size, so larger events are unusual.
const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

impl Default for PipelineFile {
    fn default() -> Self {
        PipelineFile {
            workers: 0,
            // Partitions are pinned to workers, so while one worker's queue is full the consumer
            // waits even if the other worker is idle (head-of-line blocking). Measured with
            // scripts/bench-pipeline.sh's stage on 4 partitions / 2 workers: 256 gave 34k
            // events/s at 0.5 cores, 4096 gave 88–95k at 1.2–1.3 cores. 2 × 4096 × 3.5 KB
            // events ≈ 29 MB of queued payload at most, well inside the 256 MB budget.
            queue_capacity: 4096,
            max_in_flight: 10_000,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            // Below the producer's default message.max.bytes (1,000,000) with room for headers.
            dead_letter_max_bytes: 900_000,
            shutdown_timeout_ms: 30_000,
            produce_retry_backoff_ms: 1_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertFile {
    pub space_id: String,
    pub kibana_version: String,
    pub kibana_public_url: Option<String>,
}

impl Default for AlertFile {
    fn default() -> Self {
        AlertFile {
            space_id: "default".into(),
            kibana_version: "8.19.0".into(),
            kibana_public_url: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsFile {
    pub addr: SocketAddr,
}

impl Default for MetricsFile {
    fn default() -> Self {
        MetricsFile {
            addr: SocketAddr::from(([127, 0, 0, 1], 9898)),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFile {
    pub format: LogFormat,
}

// ---------------------------------------------------------------------------------------------
// Validated settings.

/// Alert-context settings the engine needs to build alert documents.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub space_id: String,
    pub kibana_version: String,
    pub kibana_public_url: Option<String>,
}

/// Kafka client settings, with librdkafka properties already merged and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    pub input_topics: Vec<String>,
    pub alerts_topic: String,
    pub dead_letter_topic: Option<String>,
    /// Complete consumer properties (typed keys + passthrough).
    pub consumer: BTreeMap<String, String>,
    /// Complete producer properties (typed keys + passthrough).
    pub producer: BTreeMap<String, String>,
}

/// Worker pool and flow-control settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    pub workers: usize,
    pub queue_capacity: usize,
    pub max_in_flight: usize,
    pub max_event_bytes: usize,
    pub dead_letter_max_bytes: usize,
    pub shutdown_timeout: Duration,
    pub produce_retry_backoff: Duration,
}

/// Everything `rulestream run` needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub rules: Vec<PathBuf>,
    pub input_format: InputFormat,
    /// How raw Okta events are normalized (`[okta]`); files are loaded when the engine is built.
    pub okta: crate::okta::NormalizeConfig,
    pub default_index: Option<String>,
    pub default_index_by_topic: BTreeMap<String, String>,
    pub alert: AlertSettings,
    pub kafka: KafkaSettings,
    pub pipeline: PipelineSettings,
    pub metrics_addr: SocketAddr,
    pub log_format: LogFormat,
    pub stateful: StatefulRunSettings,
}

impl Settings {
    /// Reads `args.config` (if any), applies the flags and validates.
    pub fn load(args: &RunArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let file = parse_file(&text, path)?;
                return Settings::build(file, args, &|name| std::env::var(name).ok())
                    .map_err(|e| locate(e, &text, path));
            }
            None => FileConfig::default(),
        };
        Settings::build(file, args, &|name| std::env::var(name).ok())
    }

    /// Applies flags to a parsed file and validates. `env` resolves `${VAR}` in librdkafka values.
    pub fn build(
        mut file: FileConfig,
        args: &RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        if let Some(b) = &args.brokers {
            file.kafka.brokers = b.clone();
        }
        if let Some(g) = &args.group_id {
            file.kafka.group_id = g.clone();
        }
        if !args.input_topics.is_empty() {
            file.kafka.input_topics = args.input_topics.clone();
        }
        if let Some(t) = &args.alerts_topic {
            file.kafka.alerts_topic = t.clone();
        }
        if let Some(t) = &args.dead_letter_topic {
            file.kafka.dead_letter_topic = Some(t.clone());
        }
        if !args.rules.is_empty() {
            file.rules = args.rules.clone();
        }
        if let Some(a) = args.metrics_addr {
            file.metrics.addr = a;
        }
        if let Some(w) = args.workers {
            file.pipeline.workers = w;
        }
        if let Some(f) = args.log_format {
            file.log.format = f;
        }
        if let Some(d) = &args.state_dir {
            file.stateful.state_dir = Some(d.clone());
        }
        validate(file, env)
    }
}

/// Parses the TOML text of a config file; errors carry `path:line:col`.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let lc = crate::diag::line_col(text, s.start);
                (lc.line, lc.column)
            })
            .unwrap_or((1, 1));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            col,
            message: e.message().trim_end().to_string(),
        }
    })
}

/// Adds `file:line:col` to a validation error when its key is written in the file (a value
/// that came from a flag or a default has no position).
fn locate(err: ConfigError, text: &str, path: &Path) -> ConfigError {
    let ConfigError::Invalid { key, message } = err else {
        return err;
    };
    match key_position(text, &key) {
        Some((line, col)) => ConfigError::InvalidAt {
            path: path.to_path_buf(),
            line,
            col,
            key,
            message,
        },
        None => ConfigError::Invalid { key, message },
    }
}

/// Position of `section.key` (or `section."quoted key"`) in the file: the key's line inside the
/// `[section]` table. The config is flat (one table level), so a line scan is exact enough.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let (section, name) = match key.split_once('.') {
        Some((s, n)) => (Some(s), n),
        None => (None, key),
    };
    let mut current: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header.split(']').next().map(str::trim);
            continue;
        }
        if current != section {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix(name) else {
            continue;
        };
        if rest.trim_start().starts_with('=') {
            return Some((i + 1, line.len() - trimmed.len() + 1));
        }
    }
    None
}

fn validate(
    file: FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let k = &file.kafka;
    if k.brokers.trim().is_empty() {
        return Err(invalid(
            "kafka.brokers",
            "expected a non-empty host:port list",
        ));
    }
    if k.group_id.is_empty() {
        return Err(invalid("kafka.group_id", "expected a non-empty group id"));
    }
    if k.input_topics.is_empty() || k.input_topics.iter().any(|t| t.is_empty()) {
        return Err(invalid(
            "kafka.input_topics",
            "expected at least one non-empty topic name",
        ));
    }
    if k.alerts_topic.is_empty() {
        return Err(invalid(
            "kafka.alerts_topic",
            "expected a non-empty topic name",
        ));
    }
    if k.input_topics.contains(&k.alerts_topic) {
        return Err(invalid(
            "kafka.alerts_topic",
            "must differ from every input topic (loop)",
        ));
    }
    if let Some(d) = &k.dead_letter_topic {
        if d.is_empty() || k.input_topics.contains(d) {
            return Err(invalid(
                "kafka.dead_letter_topic",
                "expected a non-empty topic name different from the input topics",
            ));
        }
    }
    let p = &file.pipeline;
    let workers = if p.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        p.workers
    };
    if workers > 1024 {
        return Err(invalid("pipeline.workers", "expected at most 1024 threads"));
    }
    for (key, v) in [
        ("pipeline.queue_capacity", p.queue_capacity),
        ("pipeline.max_in_flight", p.max_in_flight),
    ] {
        if v == 0 {
            return Err(invalid(key, "expected a value of at least 1"));
        }
    }
    if p.max_event_bytes == 0 {
        return Err(invalid(
            "pipeline.max_event_bytes",
            "expected a value of at least 1",
        ));
    }

    let stateful = validate_stateful(&file.stateful)?;
    let common = rdkafka_table("librdkafka", &file.librdkafka, env)?;
    let mut consumer = common.clone();
    consumer.extend(rdkafka_table(
        "librdkafka_consumer",
        &file.librdkafka_consumer,
        env,
    )?);
    let mut producer = common;
    producer.extend(rdkafka_table(
        "librdkafka_producer",
        &file.librdkafka_producer,
        env,
    )?);

    // Defaults below can be overridden through the passthrough tables.
    let consumer_defaults = [
        // Without a committed offset, read the topic from its start: nothing is skipped.
        ("auto.offset.reset", "earliest"),
        // Feeds the consumer-lag gauge.
        ("statistics.interval.ms", "5000"),
        // Eager assignor: cooperative-sticky left partitions unassigned with tansu.
        ("partition.assignment.strategy", "range,roundrobin"),
    ];
    for (key, value) in consumer_defaults {
        consumer
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }
    consumer.insert("bootstrap.servers".into(), k.brokers.clone());
    consumer.insert("group.id".into(), k.group_id.clone());
    consumer.insert("enable.auto.offset.store".into(), "false".into());
    consumer.insert("enable.auto.commit".into(), "true".into());
    // librdkafka's default (1 MB) is below large events; fetches then still return one
    // oversized message per partition, so this only avoids needless round trips.
    consumer
        .entry("max.partition.fetch.bytes".into())
        .or_insert_with(|| (p.max_event_bytes.max(1 << 20) + 65_536).to_string());

    producer.insert("bootstrap.servers".into(), k.brokers.clone());
    producer.insert("enable.idempotence".into(), "true".into());
    producer.insert("acks".into(), "all".into());
    // An alert embeds its source event, so it may be a bit larger than max_event_bytes.
    producer
        .entry("message.max.bytes".into())
        .or_insert_with(|| (2 * p.max_event_bytes + 65_536).max(1_000_000).to_string());

    Ok(Settings {
        rules: file.rules,
        input_format: file.input.format,
        okta: file.okta.to_normalize_config(),
        default_index: file.default_index,
        default_index_by_topic: file.default_index_by_topic,
        alert: AlertSettings {
            space_id: file.alert.space_id,
            kibana_version: file.alert.kibana_version,
            kibana_public_url: file.alert.kibana_public_url,
        },
        kafka: KafkaSettings {
            brokers: file.kafka.brokers,
            group_id: file.kafka.group_id,
            input_topics: file.kafka.input_topics,
            alerts_topic: file.kafka.alerts_topic,
            dead_letter_topic: file.kafka.dead_letter_topic,
            consumer,
            producer,
        },
        pipeline: PipelineSettings {
            workers,
            queue_capacity: p.queue_capacity,
            max_in_flight: p.max_in_flight,
            max_event_bytes: p.max_event_bytes,
            dead_letter_max_bytes: p.dead_letter_max_bytes.min(p.max_event_bytes),
            shutdown_timeout: Duration::from_millis(p.shutdown_timeout_ms),
            produce_retry_backoff: Duration::from_millis(p.produce_retry_backoff_ms.max(1)),
        },
        metrics_addr: file.metrics.addr,
        log_format: file.log.format,
        stateful,
    })
}

impl Settings {
    /// The default index for events of `topic`: the per-topic value, else the global one.
    pub fn default_index_for(&self, topic: &str) -> Option<&str> {
        self.default_index_by_topic
            .get(topic)
            .or(self.default_index.as_ref())
            .map(|s| s.as_str())
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn build(toml_text: &str, args: &RunArgs) -> Result<Settings, ConfigError> {
        let file = parse_file(toml_text, Path::new("t.toml"))?;
        Settings::build(file, args, &no_env)
    }

    #[test]
    fn defaults_alone_are_enough() {
        let s = build("", &RunArgs::default()).unwrap();
        assert_eq!(s.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(s.kafka.input_topics, vec!["okta-system-log".to_string()]);
        assert_eq!(s.alert.space_id, "default");
        assert_eq!(s.alert.kibana_version, "8.19.0");
        assert_eq!(s.input_format, InputFormat::Auto);
        assert!(s.pipeline.workers >= 1);
        assert_eq!(s.kafka.consumer["enable.auto.offset.store"], "false");
        assert_eq!(s.kafka.producer["enable.idempotence"], "true");
        assert_eq!(s.kafka.producer["acks"], "all");
        assert_eq!(s.metrics_addr.to_string(), "127.0.0.1:9898");
    }

    #[test]
    fn flags_override_the_file() {
        let text = r#"
            rules = ["a"]
            [kafka]
            brokers = "file:1"
            input_topics = ["x", "y"]
            [pipeline]
            workers = 3
        "#;
        let args = RunArgs {
            brokers: Some("flag:2".into()),
            input_topics: vec!["z".into()],
            rules: vec!["b".into()],
            workers: Some(5),
            ..RunArgs::default()
        };
        let s = build(text, &args).unwrap();
        assert_eq!(s.kafka.brokers, "flag:2");
        assert_eq!(s.kafka.consumer["bootstrap.servers"], "flag:2");
        assert_eq!(s.kafka.input_topics, vec!["z".to_string()]);
        assert_eq!(s.rules, vec![PathBuf::from("b")]);
        assert_eq!(s.pipeline.workers, 5);
        let s = build(text, &RunArgs::default()).unwrap();
        assert_eq!(s.kafka.input_topics, vec!["x".to_string(), "y".to_string()]);
        assert_eq!(s.pipeline.workers, 3);
    }

    #[test]
    fn unknown_key_reports_file_line_and_column() {
        let err = build(
            "[kafka]\nbrokers = \"a:1\"\n  grup_id = \"x\"\n",
            &RunArgs::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.toml:3:3: "), "{msg}");
        assert!(msg.contains("grup_id"), "{msg}");
    }

    #[test]
    fn wrong_type_reports_position() {
        let err = build("[pipeline]\nworkers = \"many\"\n", &RunArgs::default()).unwrap_err();
        assert!(err.to_string().starts_with("t.toml:2:11: "), "{err}");
    }

    #[test]
    fn passthrough_clash_with_typed_key_is_an_error() {
        for key in [
            "group.id",
            "bootstrap.servers",
            "enable.auto.offset.store",
            "acks",
        ] {
            let text = format!("[librdkafka]\n\"{key}\" = \"x\"\n");
            let err = build(&text, &RunArgs::default()).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn passthrough_merges_common_and_client_tables() {
        let text = r#"
            [librdkafka]
            "security.protocol" = "ssl"
            "session.timeout.ms" = 6000
            [librdkafka_consumer]
            "session.timeout.ms" = 2000
            "auto.offset.reset" = "latest"
            [librdkafka_producer]
            "linger.ms" = 5
            "enable.gapless.guarantee" = true
        "#;
        let s = build(text, &RunArgs::default()).unwrap();
        assert_eq!(s.kafka.consumer["security.protocol"], "ssl");
        assert_eq!(s.kafka.consumer["session.timeout.ms"], "2000");
        assert_eq!(s.kafka.consumer["auto.offset.reset"], "latest");
        assert_eq!(s.kafka.producer["session.timeout.ms"], "6000");
        assert_eq!(s.kafka.producer["linger.ms"], "5");
        assert_eq!(s.kafka.producer["enable.gapless.guarantee"], "true");
        assert!(!s.kafka.consumer.contains_key("linger.ms"));
    }

    #[test]
    fn env_vars_expand_in_passthrough_values() {
        let env = |name: &str| (name == "PW").then(|| "s3cret".to_string());
        let file = parse_file(
            "[librdkafka]\n\"sasl.password\" = \"${PW}\"\n\"x\" = \"a$$b\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let s = Settings::build(file, &RunArgs::default(), &env).unwrap();
        assert_eq!(s.kafka.consumer["sasl.password"], "s3cret");
        assert_eq!(s.kafka.consumer["x"], "a$b");
        let err = build(
            "[librdkafka]\n\"sasl.password\" = \"${NOPE}\"\n",
            &RunArgs::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
        assert!(err.to_string().contains("sasl.password"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("[kafka]\ninput_topics = []\n", "kafka.input_topics"),
            (
                "[kafka]\ninput_topics = [\"a\"]\nalerts_topic = \"a\"\n",
                "kafka.alerts_topic",
            ),
            ("[pipeline]\nmax_in_flight = 0\n", "pipeline.max_in_flight"),
            (
                "[pipeline]\nqueue_capacity = 0\n",
                "pipeline.queue_capacity",
            ),
            (
                "[librdkafka]\nnested = { a = 1 }\n",
                "librdkafka.\"nested\"",
            ),
        ];
        for (text, key) in cases {
            let err = build(text, &RunArgs::default()).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn validation_errors_point_at_the_key_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[kafka]\nbrokers = \"a:1\"\n  input_topics = []\n").unwrap();
        let args = RunArgs {
            config: Some(path.clone()),
            ..RunArgs::default()
        };
        let msg = Settings::load(&args).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}:3:3: invalid config key `kafka.input_topics`: expected at least one \
                 non-empty topic name",
                path.display()
            )
        );
        std::fs::write(&path, "[librdkafka]\n\"group.id\" = \"x\"\n").unwrap();
        let msg = Settings::load(&args).unwrap_err().to_string();
        assert!(
            msg.contains("c.toml:2:1: invalid config key `librdkafka.\"group.id\"`"),
            "{msg}"
        );
    }

    #[test]
    fn config_errors_exit_with_status_two() {
        let err: anyhow::Error = invalid("k", "m").into();
        assert_eq!(exit_code(&err), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
    }

    #[test]
    fn shipped_example_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/rulestream.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let file = parse_file(&text, Path::new(path)).unwrap();
        Settings::build(file, &RunArgs::default(), &no_env).unwrap();
    }

    #[test]
    fn default_index_prefers_the_topic_entry() {
        let text = "default_index = \"logs-okta.system-default\"\n\
                    [default_index_by_topic]\nraw = \"logs-raw\"\n";
        let s = build(text, &RunArgs::default()).unwrap();
        assert_eq!(s.default_index_for("raw"), Some("logs-raw"));
        assert_eq!(
            s.default_index_for("other"),
            Some("logs-okta.system-default")
        );
    }
}
