//! EQL sequences end to end (engine → building-block and shell alerts): tables of event
//! streams and the exact sequences Elasticsearch's `SequenceMatcher` would return, plus the
//! streaming rules (lateness, limits, missing events decided by event time). Each case names
//! the Elasticsearch behaviour it pins; `docs/eql.md` has the sources.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use std::collections::BTreeMap;

use rulestream::engine::stateful::{Limits, StatefulSettings};
use rulestream::rules::Rule;
use serde_json::{json, Value};
use stateful::*;

const SEC: i64 = 1_000;

/// An EQL rule over `logs-*` with event time `event.ingested`.
fn eql_rule(query: &str) -> Rule {
    rule(&format!(
        r#"[metadata]
creation_date = "2025/01/01"
maturity = "production"
updated_date = "2025/01/01"

[rule]
author = ["test"]
description = "test sequence"
from = "now-60m"
index = ["logs-*"]
language = "eql"
license = "Elastic License v2"
name = "Test sequence"
risk_score = 47
rule_id = "00000000-0000-4000-8000-000000000001"
severity = "medium"
timestamp_override = "event.ingested"
type = "eql"
query = '''
{query}
'''
"#
    ))
}

/// Event `n` at second `s` with `event.action = action` and `user.name = user`.
fn ev(n: usize, s: i64, action: &str, user: &str) -> Vec<u8> {
    event(
        n,
        BASE_MS + s * SEC,
        &[("event.action", json!(action)), ("user.name", json!(user))],
    )
}

/// The sequences in `docs`, as the event numbers of their building blocks in group order;
/// checks that every group has exactly one shell whose id is the group id.
fn sequences(docs: &[Value]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<String, (usize, Vec<(u64, usize)>)> = BTreeMap::new();
    let mut shells: Vec<String> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let group = d["kibana.alert.group.id"].as_str().unwrap().to_string();
        match d["kibana.alert.group.index"].as_u64() {
            Some(pos) => {
                let id = d["kibana.alert.ancestors"][0]["id"].as_str().unwrap();
                let n: usize = id.trim_start_matches("ev-").parse().unwrap();
                groups
                    .entry(group)
                    .or_insert((i, Vec::new()))
                    .1
                    .push((pos, n));
            }
            None => {
                assert_eq!(d["kibana.alert.uuid"].as_str().unwrap(), group);
                shells.push(group);
            }
        }
    }
    assert_eq!(shells.len(), groups.len(), "one shell per sequence");
    let mut out: Vec<(usize, Vec<usize>)> = groups
        .into_values()
        .map(|(first, mut members)| {
            members.sort();
            (first, members.into_iter().map(|(_, n)| n).collect())
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, m)| m).collect()
}

fn run_with(query: &str, stateful: StatefulSettings, events: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let engine = engine(vec![eql_rule(query)], stateful);
    let mut ev = engine.evaluator();
    sequences(&feed(&mut ev, Some("okta"), 0, events))
}

fn run(query: &str, events: &[Vec<u8>]) -> Vec<Vec<usize>> {
    run_with(query, settings(), events)
}

const AB: &str = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  [any where event.action == "b"]"#;

type Case = (
    &'static str,
    Vec<(i64, &'static str, &'static str)>,
    Vec<Vec<usize>>,
);

fn table(query: &str, cases: Vec<Case>) {
    for (name, stream, want) in cases {
        let events: Vec<Vec<u8>> = stream
            .iter()
            .enumerate()
            .map(|(i, (s, action, user))| ev(i + 1, *s, action, user))
            .collect();
        assert_eq!(run(query, &events), want, "{name}");
        // Once the horizon has passed every event, the exact pass has seen the stream too:
        // an in-order stream still gives each sequence exactly once (`sequences` asserts one
        // shell per group, so a duplicate would fail), and nothing else.
        let mut flushed = events.clone();
        flushed.push(flush_event(stream.len() + 1));
        assert_eq!(run(query, &flushed), want, "{name}, flushed");
        shuffled_arrivals_include(query, name, &stream, &want);
    }
}

/// An event of another user long after every stream of the tables: it moves the rule's
/// watermark so far that the exact pass has fed every earlier event. It matches every step
/// action of the tables' rules (`a`), so it reaches rules without missing stages too.
fn flush_event(n: usize) -> Vec<u8> {
    ev(n, 100_000, "a", "flush")
}

/// Every order of `0..n` (Heap's algorithm).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k % 2 == 0 { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Issue #6: when every event is within the allowed lateness whatever the order (the stream
/// spans at most the 5 minutes of lateness) and no two events share a time (Elasticsearch
/// breaks such ties by index order, which the arrival order is), every arrival order gives at
/// least the in-order sequences, each once. More are possible: the immediate matcher alerts
/// at arrival and cannot take back a pairing that a later-arriving, earlier event changes.
fn shuffled_arrivals_include(
    query: &str,
    name: &str,
    stream: &[(i64, &str, &str)],
    want: &[Vec<usize>],
) {
    let times: Vec<i64> = stream.iter().map(|(s, _, _)| *s).collect();
    let span = times.iter().max().unwrap_or(&0) - times.iter().min().unwrap_or(&0);
    let mut distinct = times.clone();
    distinct.sort();
    distinct.dedup();
    if span > 300 || distinct.len() != times.len() || stream.len() > 6 {
        return;
    }
    for order in permutations(stream.len()) {
        let mut events: Vec<Vec<u8>> = order
            .iter()
            .map(|&i| {
                let (s, action, user) = stream[i];
                ev(i + 1, s, action, user)
            })
            .collect();
        events.push(flush_event(stream.len() + 1));
        let got = run(query, &events);
        for w in want {
            assert!(
                got.contains(w),
                "{name}, arrival order {order:?}: {got:?} lacks {w:?}"
            );
        }
    }
}

#[test]
fn two_step_sequences() {
    table(
        AB,
        vec![
            (
                "a then b",
                vec![(0, "a", "u"), (1, "b", "u")],
                vec![vec![1, 2]],
            ),
            (
                "b then a: order matters",
                vec![(0, "b", "u"), (1, "a", "u")],
                vec![],
            ),
            (
                // OrdinalGroup.trimBefore: the latest a before b is taken, earlier ones dropped.
                "a a b takes the latest a",
                vec![(0, "a", "u"), (1, "a", "u"), (2, "b", "u")],
                vec![vec![2, 3]],
            ),
            (
                // The dropped a cannot serve a second b.
                "a a b b gives one sequence",
                vec![(0, "a", "u"), (1, "a", "u"), (2, "b", "u"), (3, "b", "u")],
                vec![vec![2, 3]],
            ),
            (
                "a b a b gives two",
                vec![(0, "a", "u"), (1, "b", "u"), (2, "a", "u"), (3, "b", "u")],
                vec![vec![1, 2], vec![3, 4]],
            ),
            (
                "join keys must agree",
                vec![(0, "a", "u"), (1, "b", "v")],
                vec![],
            ),
            (
                "keys are independent",
                vec![(0, "a", "u"), (1, "a", "v"), (2, "b", "v"), (3, "b", "u")],
                vec![vec![2, 3], vec![1, 4]],
            ),
            (
                // exceedsMaxSpan: `to - from > maxspan` rejects, so exactly maxspan is inside.
                "maxspan edge: exactly 10 minutes is inside",
                vec![(0, "a", "u"), (600, "b", "u")],
                vec![vec![1, 2]],
            ),
            (
                "maxspan edge: 10 minutes and 1 second is outside",
                vec![(0, "a", "u"), (601, "b", "u")],
                vec![],
            ),
            (
                // The expired sequence is consumed by the b that rejects it (trimBefore first).
                "an expired a is not replaced by an older one",
                vec![(0, "a", "u"), (601, "b", "u"), (602, "b", "u")],
                vec![],
            ),
            (
                // Same timestamp: the arrival order is the tiebreaker (Elasticsearch's
                // `_shard_doc`); a strictly-before ordinal is required.
                "equal timestamps in arrival order",
                vec![(5, "a", "u"), (5, "b", "u")],
                vec![vec![1, 2]],
            ),
            (
                "equal timestamps, b first",
                vec![(5, "b", "u"), (5, "a", "u")],
                vec![],
            ),
        ],
    );
}

#[test]
fn until_cuts_sequences_in_flight() {
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  [any where event.action == "b"]
  until [any where event.action == "u"]"#;
    table(
        q,
        vec![
            (
                "until between a and b",
                vec![(0, "a", "u"), (1, "u", "u"), (2, "b", "u")],
                vec![],
            ),
            (
                "until after b",
                vec![(0, "a", "u"), (1, "b", "u"), (2, "u", "u")],
                vec![vec![1, 2]],
            ),
            (
                "until before a",
                vec![(0, "u", "u"), (1, "a", "u"), (2, "b", "u")],
                vec![vec![2, 3]],
            ),
            (
                "until of another key",
                vec![(0, "a", "u"), (1, "u", "v"), (2, "b", "u")],
                vec![vec![1, 3]],
            ),
            (
                "a new a after the until starts afresh",
                vec![(0, "a", "u"), (1, "u", "u"), (2, "a", "u"), (3, "b", "u")],
                vec![vec![3, 4]],
            ),
        ],
    );
}

#[test]
fn runs_expand_into_stages_and_slide() {
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"] with runs=3
  [any where event.action == "b"]"#;
    table(
        q,
        vec![
            (
                "runs-1 is not enough",
                vec![(0, "a", "u"), (1, "a", "u"), (2, "b", "u")],
                vec![],
            ),
            (
                "exactly runs",
                vec![(0, "a", "u"), (1, "a", "u"), (2, "a", "u"), (3, "b", "u")],
                vec![vec![1, 2, 3, 4]],
            ),
            (
                "the latest three a before b",
                vec![
                    (0, "a", "u"),
                    (1, "a", "u"),
                    (2, "a", "u"),
                    (3, "a", "u"),
                    (4, "b", "u"),
                ],
                vec![vec![2, 3, 4, 5]],
            ),
        ],
    );
    // A runs step as the last stage completes on every further event (sliding), as a batch
    // search over the same events returns one sequence per window.
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"] with runs=3"#;
    table(
        q,
        vec![(
            "sliding",
            vec![(0, "a", "u"), (1, "a", "u"), (2, "a", "u"), (3, "a", "u")],
            vec![vec![1, 2, 3], vec![2, 3, 4]],
        )],
    );
}

#[test]
fn trailing_missing_event_is_decided_after_maxspan() {
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  ![any where event.action == "m"]"#;
    // The decision waits until event time passes a + maxspan + allowed lateness (5 min): the
    // event at second 1000 (> 600 + 300) triggers it.
    let later = (1000, "x", "other");
    table(
        q,
        vec![
            ("no m: fires", vec![(0, "a", "u"), later], vec![vec![1]]),
            (
                "m within maxspan: nothing",
                vec![(0, "a", "u"), (300, "m", "u"), later],
                vec![],
            ),
            (
                "m exactly at maxspan: nothing",
                vec![(0, "a", "u"), (600, "m", "u"), later],
                vec![],
            ),
            (
                "m after maxspan: fires",
                vec![(0, "a", "u"), (601, "m", "u"), later],
                vec![vec![1]],
            ),
            (
                "m of another key: fires",
                vec![(0, "a", "u"), (10, "m", "v"), later],
                vec![vec![1]],
            ),
            (
                "m before a does not count",
                vec![(0, "m", "u"), (1, "a", "u"), later],
                vec![vec![2]],
            ),
        ],
    );
    // Undecided before the deadline (600 s + 300 s of lateness).
    let undecided = [ev(1, 0, "a", "u"), ev(2, 850, "x", "other")];
    assert_eq!(run(q, &undecided), Vec::<Vec<usize>>::new());
}

#[test]
fn leading_and_middle_missing_events() {
    let lead = r#"sequence by user.name with maxspan=10m
  ![any where event.action == "m"]
  [any where event.action == "a"]
  [any where event.action == "b"]"#;
    let later = (2000, "x", "other");
    table(
        lead,
        vec![
            (
                "no m",
                vec![(100, "a", "u"), (110, "b", "u"), later],
                vec![vec![1, 2]],
            ),
            (
                "m within maxspan before the end",
                vec![(0, "m", "u"), (100, "a", "u"), (110, "b", "u"), later],
                vec![],
            ),
            (
                "m more than maxspan before the end",
                vec![(0, "m", "u"), (550, "a", "u"), (601, "b", "u"), later],
                vec![vec![2, 3]],
            ),
        ],
    );
    let middle = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  ![any where event.action == "m"]
  [any where event.action == "b"]"#;
    table(
        middle,
        vec![
            (
                "no m between",
                vec![(0, "a", "u"), (10, "b", "u"), later],
                vec![vec![1, 2]],
            ),
            (
                "m between",
                vec![(0, "a", "u"), (5, "m", "u"), (10, "b", "u"), later],
                vec![],
            ),
            (
                "m after b",
                vec![(0, "a", "u"), (10, "b", "u"), (11, "m", "u"), later],
                vec![vec![1, 2]],
            ),
        ],
    );
}

#[test]
fn join_keys_must_be_single_non_null_values() {
    let a = |n, s, user: Value| {
        event(
            n,
            BASE_MS + s * SEC,
            &[("event.action", json!("a")), ("user.name", user)],
        )
    };
    let b = |n, s, user: Value| {
        event(
            n,
            BASE_MS + s * SEC,
            &[("event.action", json!("b")), ("user.name", user)],
        )
    };
    // Missing key: Elasticsearch only returns documents with every (non-optional) key.
    assert_eq!(
        run(AB, &[a(1, 0, Value::Null), b(2, 1, Value::Null)]),
        Vec::<Vec<usize>>::new()
    );
    // A multi-valued key is not a sequence key (Elasticsearch fails the search).
    assert_eq!(
        run(AB, &[a(1, 0, json!(["u", "v"])), b(2, 1, json!("u"))]),
        Vec::<Vec<usize>>::new()
    );
    // A one-element array is the value.
    assert_eq!(
        run(AB, &[a(1, 0, json!(["u"])), b(2, 1, json!("u"))]),
        vec![vec![1, 2]]
    );
    // Typed keys: the number 5 and the string "5" differ.
    assert_eq!(
        run(AB, &[a(1, 0, json!(5)), b(2, 1, json!("5"))]),
        Vec::<Vec<usize>>::new()
    );
    assert_eq!(
        run(AB, &[a(1, 0, json!(5)), b(2, 1, json!(5))]),
        vec![vec![1, 2]]
    );
}

#[test]
fn per_step_keys_combine_with_sequence_keys() {
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"] by source.ip
  [any where event.action == "b"] by destination.ip"#;
    let e = |n, s, action: &str, src: &str, dst: &str| {
        event(
            n,
            BASE_MS + s * SEC,
            &[
                ("event.action", json!(action)),
                ("user.name", json!("u")),
                ("source.ip", json!(src)),
                ("destination.ip", json!(dst)),
            ],
        )
    };
    let hit = [e(1, 0, "a", "10.0.0.1", "x"), e(2, 1, "b", "x", "10.0.0.1")];
    assert_eq!(run(q, &hit), vec![vec![1, 2]]);
    let miss = [
        e(1, 0, "a", "10.0.0.1", "x"),
        e(2, 1, "b", "10.0.0.1", "10.0.0.2"),
    ];
    assert_eq!(run(q, &miss), Vec::<Vec<usize>>::new());
}

#[test]
fn out_of_order_and_late_events() {
    // Within the allowed lateness (5 min), an a that arrives after a later a still orders by
    // event time: the b takes the latest a by time.
    let stream = [ev(1, 10, "a", "u"), ev(2, 5, "a", "u"), ev(3, 20, "b", "u")];
    assert_eq!(run(AB, &stream), vec![vec![1, 3]]);
    // An event later than the watermark minus the allowed lateness is dropped from sequences.
    let stream = [
        ev(1, 1000, "x", "u"),
        ev(2, 100, "a", "u"),
        ev(3, 1001, "b", "u"),
    ];
    assert_eq!(run(AB, &stream), Vec::<Vec<usize>>::new());
    let engine = engine(vec![eql_rule(AB)], settings());
    let mut e = engine.evaluator();
    feed(
        &mut e,
        Some("okta"),
        0,
        &[ev(1, 1000, "a", "u"), ev(2, 100, "a", "u")],
    );
    assert_eq!(e.stateful_stats().late_events, 1);
    // Still dropped once the exact pass has run: the late a never reaches it.
    let stream = [
        ev(1, 1000, "x", "u"),
        ev(2, 100, "a", "u"),
        ev(3, 1001, "b", "u"),
        flush_event(4),
    ];
    assert_eq!(run(AB, &stream), Vec::<Vec<usize>>::new());
}

#[test]
fn a_later_stage_event_arriving_first_is_paired_once_the_lateness_has_passed() {
    // Issue #6: a b that arrives before the a it follows in event time. The immediate matcher
    // cannot pair them (the b found no a); the exact pass does, once the rule's watermark minus
    // the allowed lateness (5 min) has passed the b — as a batch search would return them.
    let stream = [ev(2, 20, "b", "u"), ev(1, 10, "a", "u")];
    assert_eq!(run(AB, &stream), Vec::<Vec<usize>>::new(), "not before");
    let at = |s: i64| ev(3, s, "a", "other");
    let mut later = stream.to_vec();
    later.push(at(320));
    assert_eq!(run(AB, &later), Vec::<Vec<usize>>::new(), "b not yet past");
    let mut later = stream.to_vec();
    later.push(at(321));
    assert_eq!(run(AB, &later), vec![vec![1, 2]], "b past the horizon");
    // The same alert ids as in order.
    let ids = uuids;
    let in_order = [ev(1, 10, "a", "u"), ev(2, 20, "b", "u"), at(321)];
    let docs = |events: &[Vec<u8>]| {
        let engine = engine(vec![eql_rule(AB)], settings());
        feed(&mut engine.evaluator(), Some("okta"), 0, events)
    };
    let (want, got) = (docs(&in_order), docs(&later));
    assert_eq!(want.len(), 3, "two building blocks and a shell");
    assert_eq!(ids(&got), ids(&want));
}

#[test]
fn without_allowed_lateness_the_immediate_matcher_alone_is_exact() {
    // With no lateness an event before the watermark is late, so every accepted event is in
    // order and the exact pass is not run (nothing buffered) for rules without missing stages.
    let strict = || StatefulSettings {
        allowed_lateness_ms: 0,
        ..settings()
    };
    let engine = engine(vec![eql_rule(AB)], strict());
    let mut e = engine.evaluator();
    let stream = [
        ev(1, 10, "a", "u"),
        ev(2, 10, "b", "u"),
        ev(3, 5, "a", "v"),
        ev(4, 20, "b", "u"),
    ];
    let docs = feed(&mut e, Some("okta"), 0, &stream);
    assert_eq!(sequences(&docs), vec![vec![1, 2]]);
    assert_eq!(e.stateful_stats().late_events, 1);
    // Only the immediate matcher's sequence (a of v was late; b₂ consumed a₁): no buffer.
    assert_eq!(e.runtime().sizes().sequence_events, 0);
    let docs = feed(&mut e, Some("okta"), 4, &[flush_event(5)]);
    assert!(docs.is_empty(), "no duplicate");
}

#[test]
fn what_the_exact_pass_cannot_take_back() {
    // Arrival a(10) b(30) then a(20): the immediate matcher emitted [a₁₀ b] at b's arrival; in
    // event-time order the b takes the latest a, a₂₀ (trimBefore), which the exact pass emits
    // once past. Both are emitted: a stream cannot retract an alert already written.
    let stream = [
        ev(1, 10, "a", "u"),
        ev(3, 30, "b", "u"),
        ev(2, 20, "a", "u"),
        flush_event(4),
    ];
    assert_eq!(run(AB, &stream), vec![vec![1, 3], vec![2, 3]]);
    // Likewise an `until` arriving after the b it cuts off in event time.
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  [any where event.action == "b"]
  until [any where event.action == "u"]"#;
    let stream = [
        ev(1, 0, "a", "u"),
        ev(3, 20, "b", "u"),
        ev(2, 10, "u", "u"),
        flush_event(4),
    ];
    assert_eq!(run(q, &stream), vec![vec![1, 3]]);
}

#[test]
fn missing_events_count_whatever_their_arrival_order() {
    // A rule with a missing stage is decided by the exact pass alone (its sequences wait for
    // the horizon anyway): an m that arrives before the a it follows still vetoes it.
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  ![any where event.action == "m"]"#;
    let later = ev(3, 1000, "x", "other");
    let m_first = [ev(2, 100, "m", "u"), ev(1, 0, "a", "u"), later.clone()];
    assert_eq!(run(q, &m_first), Vec::<Vec<usize>>::new());
    let in_order = [ev(1, 0, "a", "u"), ev(2, 100, "m", "u"), later.clone()];
    assert_eq!(run(q, &in_order), Vec::<Vec<usize>>::new());
    let no_m = [ev(1, 0, "a", "u"), later];
    assert_eq!(run(q, &no_m), vec![vec![1]]);
    // Middle missing stage: an m between a and b that arrives last.
    let q = r#"sequence by user.name with maxspan=10m
  [any where event.action == "a"]
  ![any where event.action == "m"]
  [any where event.action == "b"]"#;
    let stream = [
        ev(1, 0, "a", "u"),
        ev(3, 20, "b", "u"),
        ev(2, 10, "m", "u"),
        ev(4, 2000, "x", "other"),
    ];
    assert_eq!(run(q, &stream), Vec::<Vec<usize>>::new());
}

#[test]
fn sequences_are_bounded_by_the_limit_and_expire() {
    let stateful = StatefulSettings {
        limits: Limits {
            max_sequences_per_rule: 100,
            ..Limits::default()
        },
        ..settings()
    };
    let engine = engine(vec![eql_rule(AB)], stateful);
    let mut e = engine.evaluator();
    let users: Vec<Vec<u8>> = (0..1000)
        .map(|i| ev(i, 0, "a", &format!("user{i}")))
        .collect();
    feed(&mut e, Some("okta"), 0, &users);
    // Each matcher (immediate and exact) holds at most the limit, and the exact pass's buffer
    // at most the limit of events (beyond it the oldest are fed early).
    let sizes = e.runtime().sizes();
    assert!(sizes.sequences <= 200, "{sizes:?}");
    assert!(sizes.sequence_events <= 300, "{sizes:?}");
    assert!(e.stateful_stats().evicted_by_limit >= 900);
    // The newest survive: user999's sequence still completes.
    let docs = feed(&mut e, Some("okta"), 1000, &[ev(2000, 1, "b", "user999")]);
    assert_eq!(sequences(&docs), vec![vec![999, 2000]]);
    // After maxspan + lateness of event time, every in-flight sequence has expired.
    let t = 10 * 60 + 5 * 60 + 10 * 60 + 1;
    feed(&mut e, Some("okta"), 1001, &[ev(3000, t, "a", "z")]);
    assert!(
        e.runtime().sizes().sequences <= 1,
        "{:?}",
        e.runtime().sizes()
    );
    assert!(e.stateful_stats().evicted_expired > 0);
}

#[test]
fn the_exact_pass_buffer_is_bounded_by_the_limit() {
    let stateful = StatefulSettings {
        limits: Limits {
            max_sequences_per_rule: 100,
            ..Limits::default()
        },
        ..settings()
    };
    let engine = engine(vec![eql_rule(AB)], stateful);
    let mut e = engine.evaluator();
    // 1000 later-stage events, all within the lateness: each may still be preceded by an a,
    // so each is buffered, up to the limit; beyond it the oldest are fed early.
    let at = |i: usize, ms: i64, action: &str, user: &str| {
        event(
            i,
            BASE_MS + ms,
            &[("event.action", json!(action)), ("user.name", json!(user))],
        )
    };
    // Every 250 ms from second 100 to 349.75.
    let bs: Vec<Vec<u8>> = (0..1000)
        .map(|i| at(i, 100 * SEC + i as i64 * 250, "b", &format!("user{i}")))
        .collect();
    feed(&mut e, Some("okta"), 0, &bs);
    let sizes = e.runtime().sizes();
    assert!(sizes.sequence_events <= 100, "{sizes:?}");
    assert_eq!(e.stateful_stats().evicted_by_limit, 900);
    // A b still buffered is paired with an a that arrives after it; one fed early cannot be
    // (its a can no longer be placed before it: counted, not paired).
    let late_as = [
        at(2000, 340 * SEC, "a", "user999"),
        at(2001, 90 * SEC, "a", "user0"),
    ];
    let mut docs = feed(&mut e, Some("okta"), 1000, &late_as);
    // One more b fed early to make room for the a, and the a that could not be placed.
    assert_eq!(e.stateful_stats().evicted_by_limit, 902);
    docs.extend(feed(&mut e, Some("okta"), 1002, &[flush_event(3000)]));
    assert_eq!(sequences(&docs), vec![vec![2000, 999]]);
    assert_eq!(e.stateful_stats().late_events, 0);
}

#[test]
fn single_event_eql_rule_alerts_like_a_query_rule() {
    let engine = engine(
        vec![eql_rule(
            r#"any where event.action == "a" and user.name : "U*""#,
        )],
        settings(),
    );
    let mut e = engine.evaluator();
    let docs = feed(
        &mut e,
        Some("okta"),
        0,
        &[
            ev(1, 0, "a", "user"),
            ev(2, 1, "b", "user"),
            ev(3, 2, "a", "x"),
        ],
    );
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kibana.alert.ancestors"][0]["id"], json!("ev-1"));
    assert!(docs[0].get("kibana.alert.group.id").is_none());
    assert_eq!(docs[0]["kibana.alert.rule.type"], json!("eql"));
}

#[test]
fn index_patterns_apply_to_eql_rules() {
    // Events of another data stream than `logs-*` are not seen.
    let mut r = eql_rule(r#"any where event.action == "a""#);
    r.index = vec!["filebeat-*".into()];
    let engine = engine(vec![r], settings());
    let mut e = engine.evaluator();
    assert!(feed(&mut e, Some("okta"), 0, &[ev(1, 0, "a", "u")]).is_empty());
}
