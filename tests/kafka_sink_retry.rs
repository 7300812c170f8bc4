//! The alerts topic refusing writes: the stage logs and counts the failures, re-sends, and once
//! the broker accepts again every alert is written and every offset committed. Uses librdkafka's
//! in-process mock cluster, the one broker here that can inject produce errors (tansu cannot).

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rulestream::config::{parse_file, RunArgs, Settings};
use support::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn unavailable_alerts_topic_is_retried_without_loss() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    let names = Names::new("retry");
    mock.create_topic(&names.input, 2, 1).unwrap();
    mock.create_topic(&names.alerts, 1, 1).unwrap();
    let (inputs, expected) = workload(60, 6);
    let ends = produce_all(&brokers, &names.input, &inputs);

    // From here on, produce requests fail: librdkafka retries each internally until
    // message.timeout.ms, then the stage's own retry loop takes over.
    let refusals = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 40];
    mock.request_errors(RDKafkaApiKey::Produce, &refusals);

    let text = format!(
        "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{}\"\ninput_topics = [\"{}\"]\n\
         alerts_topic = \"{}\"\n\
         [pipeline]\nproduce_retry_backoff_ms = 100\n\
         [metrics]\naddr = \"127.0.0.1:{}\"\n\
         [librdkafka_consumer]\n\"auto.commit.interval.ms\" = 200\n\
         [librdkafka_producer]\n\"message.timeout.ms\" = 300\n\"retry.backoff.ms\" = 20\n\
         \"retry.backoff.max.ms\" = 50\n",
        names.group,
        names.input,
        names.alerts,
        free_port()
    );
    let file = parse_file(&text, std::path::Path::new("t.toml")).unwrap();
    let settings = Settings::build(file, &RunArgs::default(), &|_| None).unwrap();
    let stage = StageThread::start(settings, test_evaluator_factory());

    let alerts = read_topic(
        &brokers,
        &names.alerts,
        expected.len(),
        Duration::from_secs(1),
        T,
    );
    wait_committed(&brokers, &names.group, &names.input, &ends, T);
    let body = stage.metrics.render();
    stage.stop(T).expect("clean stop");

    let failures = metric(&body, "rulestream_producer_errors_total", "kind=\"alert\"");
    assert!(
        failures > 0.0,
        "no produce failure was seen, so nothing was retried:\n{body}"
    );
    let ids: BTreeSet<String> = alerts.iter().filter_map(|a| a.key.clone()).collect();
    assert_eq!(ids, expected);
    let rule = format!("rule_id=\"{TEST_RULE_ID}\"");
    assert!(metric(&body, "rulestream_alerts_produced_total", &rule) >= expected.len() as f64);
}
