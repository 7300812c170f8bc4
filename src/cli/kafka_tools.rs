//! `rulestream produce` and `rulestream consume`: small Kafka tools for trying rules end to end
//! (replay a file of events into a topic, read alerts back) without other Kafka tooling.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;

use super::input::for_each_line;

/// Write NDJSON events (files or stdin) to a Kafka topic, one record per line.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream produce --brokers 127.0.0.1:9092 --topic okta-system-log config/sample-okta-events.ndjson
  zcat okta-2025-06.ndjson.gz | rulestream produce --topic okta-system-log")]
pub struct ProduceArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        value_name = "HOSTS",
        default_value = "127.0.0.1:9092",
        env = "RULESTREAM_BROKERS"
    )]
    pub brokers: String,
    /// Topic to write to.
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// NDJSON files to read; stdin when none (or `-`).
    pub files: Vec<PathBuf>,
}

/// Print records of a Kafka topic (from the beginning) to stdout, one per line.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream consume --topic rulestream-alerts --count 1 --timeout-secs 30 | jq .
  rulestream consume --brokers kafka:9092 --topic rulestream-dead-letter")]
pub struct ConsumeArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        value_name = "HOSTS",
        default_value = "127.0.0.1:9092",
        env = "RULESTREAM_BROKERS"
    )]
    pub brokers: String,
    /// Topic to read.
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// Stop after this many records (default: run until the timeout).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop after this many seconds without reaching `--count`.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub timeout_secs: u64,
}

pub fn produce(args: ProduceArgs) -> ExitCode {
    let producer: BaseProducer = match ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
    {
        Ok(p) => p,
        Err(e) => return super::fail(1, format!("cannot create the producer: {e}")),
    };
    let mut sent = 0usize;
    let result = for_each_line(&args.files, |line, _| {
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(&args.topic).payload(line)) {
                Ok(()) => break,
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(io::Error::other(e)),
            }
        }
        sent += 1;
        producer.poll(Duration::ZERO);
        Ok(())
    });
    if let Err(e) = result {
        return super::fail(1, e);
    }
    if let Err(e) = producer.flush(Duration::from_secs(30)) {
        return super::fail(1, format!("records not acknowledged: {e}"));
    }
    eprintln!("{sent} records written to {}", args.topic);
    ExitCode::SUCCESS
}

pub fn consume(args: ConsumeArgs) -> ExitCode {
    let group = format!("rulestream-consume-{}", uuid::Uuid::new_v4());
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
    {
        Ok(c) => c,
        Err(e) => return super::fail(1, format!("cannot create the consumer: {e}")),
    };
    if let Err(e) = consumer.subscribe(&[&args.topic]) {
        return super::fail(1, format!("cannot subscribe to {}: {e}", args.topic));
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut seen = 0usize;
    while Instant::now() < deadline && args.count.is_none_or(|n| seen < n) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let payload = message.payload().unwrap_or_default();
                if out
                    .write_all(payload)
                    .and_then(|()| out.write_all(b"\n"))
                    .is_err()
                {
                    break;
                }
                seen += 1;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "Consume error."),
            None => {}
        }
    }
    let _ = out.flush();
    match args.count {
        Some(n) if seen < n => super::fail(
            1,
            format!("only {seen} of {n} records within {} s", args.timeout_secs),
        ),
        _ => ExitCode::SUCCESS,
    }
}
