//! End-to-end tests of the stage against a real broker (tansu via scripts/broker.sh): expected
//! alerts exactly once, counters that agree, dead letters with the right reason, and
//! backpressure that bounds work in flight.

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn writes_exactly_the_expected_alerts_and_counters_agree() {
    let names = Names::new("e2e");
    create_topic(broker(), &names.input, 4);
    let (inputs, expected) = workload(3000, 37);
    let ends = produce_all(broker(), &names.input, &inputs);
    let port = free_port();
    let stage = StageThread::start(settings(&names, port, ""), test_evaluator_factory());

    let alerts = read_topic(
        broker(),
        &names.alerts,
        expected.len(),
        Duration::from_secs(1),
        T,
    );
    wait_committed(broker(), &names.group, &names.input, &ends, T);

    let addr = format!("127.0.0.1:{port}");
    let (status, body) = http_get(&addr, "/metrics");
    assert_eq!(status, 200);
    let (ready, _) = http_get(&addr, "/ready");
    assert_eq!(ready, 200, "consumer assigned and producer connected");
    assert_eq!(http_get(&addr, "/health").0, 200);
    stage.stop(T).expect("clean stop");

    let ids: Vec<String> = alerts
        .iter()
        .map(|a| a.key.clone().unwrap_or_default())
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "no duplicates without a crash");
    assert_eq!(unique, expected);
    for a in &alerts {
        assert_eq!(a.headers["rule_id"], TEST_RULE_ID);
        assert_eq!(a.headers["source_topic"], names.input);
        let doc: serde_json::Value = serde_json::from_slice(&a.payload).unwrap();
        assert_eq!(doc["kibana.alert.uuid"].as_str(), a.key.as_deref());
        // The headers point at the source record that caused the alert.
        let event_id = doc["event"]["id"].as_str().unwrap();
        assert_eq!(a.key.as_deref(), Some(expected_alert_id(event_id).as_str()));
        assert!(a.headers["source_offset"].parse::<i64>().is_ok());
    }

    let n = inputs.len() as f64;
    let in_topic = format!("topic=\"{}\"", names.input);
    assert_eq!(
        metric(&body, "rulestream_events_consumed_total", &in_topic),
        n
    );
    assert_eq!(metric(&body, "rulestream_events_evaluated_total", ""), n);
    assert_eq!(metric(&body, "rulestream_events_completed_total", ""), n);
    let rule = format!("rule_id=\"{TEST_RULE_ID}\"");
    assert_eq!(
        metric(&body, "rulestream_alerts_produced_total", &rule),
        expected.len() as f64
    );
    assert_eq!(
        metric(&body, "rulestream_end_to_end_latency_seconds_count", ""),
        expected.len() as f64
    );
    assert_eq!(metric(&body, "rulestream_dead_letters_total", ""), 0.0);
    assert_eq!(metric(&body, "rulestream_events_in_flight", ""), 0.0);
}

#[test]
fn bad_input_goes_to_dead_letters_with_its_reason_and_processing_continues() {
    let names = Names::new("bad");
    create_topic(broker(), &names.input, 1);
    let mut deep = "[".repeat(5000);
    deep.push_str(&"]".repeat(5000));
    let deep_obj = format!("{{\"a\":{deep}}}");
    let huge = {
        // 10 MB of valid JSON: too large regardless of content.
        let mut s = String::from("{\"event\":{\"id\":\"huge\",\"action\":\"");
        s.push_str(&"x".repeat(10 * 1024 * 1024));
        s.push_str("\"}}");
        s.into_bytes()
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("not_json", b"{\"event\": ".to_vec()),
        ("not_utf8", vec![0xff, 0xfe, 0x00, 0x9c, 0x7b]),
        ("not_object", b"[1, 2, 3]".to_vec()),
        ("too_deep", deep_obj.into_bytes()),
        ("too_large", huge),
    ];
    // Good events before, between and after the bad ones: all must alert.
    let mut inputs = Vec::new();
    let mut expected = BTreeSet::new();
    let mut want_reasons = Vec::new();
    for (i, (reason, payload)) in bad.into_iter().enumerate() {
        inputs.push(Input {
            key: None,
            payload: event_json(i, true),
            partition: Some(0),
        });
        expected.insert(expected_alert_id(&format!("evt-{i}")));
        inputs.push(Input {
            key: Some(reason.as_bytes().to_vec()),
            payload,
            partition: Some(0),
        });
        want_reasons.push(reason);
    }
    inputs.push(Input {
        key: None,
        payload: event_json(99, true),
        partition: Some(0),
    });
    expected.insert(expected_alert_id("evt-99"));
    let ends = produce_all(broker(), &names.input, &inputs);

    let port = free_port();
    let stage = StageThread::start(settings(&names, port, ""), test_evaluator_factory());
    let dead = read_topic(
        broker(),
        &names.dead,
        want_reasons.len(),
        Duration::from_millis(500),
        T,
    );
    let alerts = read_topic(
        broker(),
        &names.alerts,
        expected.len(),
        Duration::from_millis(500),
        T,
    );
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    let body = stage.metrics.render();
    stage.stop(T).expect("clean stop");

    let alert_ids: BTreeSet<String> = alerts.iter().filter_map(|a| a.key.clone()).collect();
    assert_eq!(alert_ids, expected);
    assert_eq!(dead.len(), want_reasons.len());
    let by_key: HashMap<String, &Output> = dead
        .iter()
        .map(|d| (d.key.clone().unwrap_or_default(), d))
        .collect();
    for reason in &want_reasons {
        let d = by_key
            .get(*reason)
            .unwrap_or_else(|| panic!("no dead letter for {reason}"));
        assert_eq!(d.headers["reason"], *reason);
        assert_eq!(d.headers["source_topic"], names.input);
        assert_eq!(d.headers["source_partition"], "0");
        assert!(!d.headers["error"].is_empty());
        let label = format!("reason=\"{reason}\"");
        assert_eq!(
            metric(&body, "rulestream_dead_letters_total", &label),
            1.0,
            "{reason}"
        );
    }
    let large = by_key["too_large"];
    assert_eq!(large.headers["truncated"], "true");
    assert!(large.headers["original_size"].parse::<usize>().unwrap() > 10 * 1024 * 1024);
    assert!(
        large.payload.len() <= 1 << 20,
        "dead letter keeps only a prefix"
    );
    // The dead letter's offset header points at the bad record itself.
    let not_utf8 = by_key["not_utf8"];
    assert_eq!(not_utf8.headers["source_offset"], "3");
}

#[test]
fn without_dead_letter_topic_bad_events_are_counted_and_skipped() {
    let names = Names::new("nodlq");
    create_topic(broker(), &names.input, 1);
    let inputs = vec![
        Input {
            key: None,
            payload: b"garbage".to_vec(),
            partition: Some(0),
        },
        Input {
            key: None,
            payload: event_json(1, true),
            partition: Some(0),
        },
    ];
    let ends = produce_all(broker(), &names.input, &inputs);
    let mut s = settings(&names, free_port(), "");
    s.kafka.dead_letter_topic = None;
    let stage = StageThread::start(s, test_evaluator_factory());
    let alerts = read_topic(broker(), &names.alerts, 1, Duration::from_millis(300), T);
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    let body = stage.metrics.render();
    stage.stop(T).expect("clean stop");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        metric(
            &body,
            "rulestream_dead_letters_total",
            "destination=\"none\""
        ),
        1.0,
        "{body}"
    );
}

#[test]
fn slow_workers_stop_the_consumer_and_nothing_is_lost() {
    let names = Names::new("bp");
    create_topic(broker(), &names.input, 2);
    let (inputs, expected) = workload(1500, 10);
    let ends = produce_all(broker(), &names.input, &inputs);
    let max_in_flight = 40;
    let extra =
        format!("[pipeline]\nworkers = 2\nqueue_capacity = 4\nmax_in_flight = {max_in_flight}\n");
    let stage = StageThread::start(
        settings(&names, free_port(), &extra),
        support::evaluator::slow_evaluator_factory(Duration::from_millis(1)),
    );
    // While the stage works through the backlog, the consumer may run ahead of completed events
    // by at most max_in_flight: it stops fetching instead of buffering the topic.
    let m = stage.metrics.clone();
    let started = Instant::now();
    let mut samples = 0;
    let mut max_ahead = 0;
    while m.events_completed.get() < inputs.len() as u64 {
        assert!(started.elapsed() < T, "backlog not processed in time");
        let consumed: u64 = m.events_consumed.with_label_values(&[&names.input]).get();
        let ahead = consumed.saturating_sub(m.events_completed.get());
        max_ahead = max_ahead.max(ahead);
        assert!(
            ahead <= max_in_flight as u64,
            "{ahead} events in flight > {max_in_flight}"
        );
        // 2 workers × capacity 4, plus the one event the consumer is waiting to enqueue.
        assert!(
            m.queue_depth.get() <= 2 * 4 + 1,
            "queue depth {}",
            m.queue_depth.get()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        samples > 10,
        "the backlog took too few samples to observe anything"
    );
    assert!(max_ahead > 0, "never saw work in flight");
    let alerts = read_topic(
        broker(),
        &names.alerts,
        expected.len(),
        Duration::from_millis(500),
        T,
    );
    wait_committed(broker(), &names.group, &names.input, &ends, T);
    stage.stop(T).expect("clean stop");
    let ids: BTreeSet<String> = alerts.iter().filter_map(|a| a.key.clone()).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_second_instance_joining_mid_stream_loses_nothing() {
    let names = Names::new("rebal");
    create_topic(broker(), &names.input, 4);
    let (inputs, expected) = workload(3000, 20);
    let ends = produce_all(broker(), &names.input, &inputs);
    let slow = || support::evaluator::slow_evaluator_factory(Duration::from_millis(2));
    let extra = "[pipeline]\nworkers = 2\nmax_in_flight = 200\n";
    let first = StageThread::start(settings(&names, free_port(), extra), slow());
    wait_until("first instance to make progress", T, || {
        first.metrics.events_completed.get() >= 500
    });
    // Joining revokes the first instance's partitions mid-stream: what it finished is
    // committed, what it had in flight is redelivered to whichever instance owns it next.
    let second = StageThread::start(settings(&names, free_port(), extra), slow());
    let alerts = alerts_after_commit(&names, &ends, expected.len());
    let both = first.metrics.events_completed.get() + second.metrics.events_completed.get();
    let second_consumed = second
        .metrics
        .events_consumed
        .with_label_values(&[&names.input])
        .get();
    assert!(
        second_consumed > 0,
        "the second instance never got partitions: no rebalance"
    );
    first.stop(T).expect("first stops");
    second.stop(T).expect("second stops");
    assert!(both >= inputs.len() as u64);
    let mut docs: HashMap<String, Vec<u8>> = HashMap::new();
    for a in &alerts {
        let key = a.key.clone().unwrap();
        if let Some(prev) = docs.insert(key.clone(), a.payload.clone()) {
            assert_same_alert(&key, &prev, &a.payload);
        }
    }
    let ids: BTreeSet<String> = docs.into_keys().collect();
    assert_eq!(ids, expected);
}
