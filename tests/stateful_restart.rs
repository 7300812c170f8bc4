//! Durable state and bounds: a restart in the middle of a stream (snapshot + replay from an
//! earlier offset) gives exactly the alerts of an uninterrupted run; `eval --state` carries
//! state across runs; state stays bounded in count and in time.

#![allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.

mod stateful;

use serde_json::{json, Value};
use stateful::*;

use rulestream::engine::stateful::{Limits, StatefulSettings};

const BRUTE_FORCE: &str = "credential_access_attempts_to_brute_force_okta_user_account.toml";
const IDP: &str = "initial_access_sign_in_events_via_third_party_idp.toml";

fn lock(n: usize, m: i64) -> Vec<u8> {
    event(
        n,
        BASE_MS + m * MIN,
        &[
            ("event.action", json!("user.account.lock")),
            ("okta.actor.alternate_id", json!("a@x")),
        ],
    )
}

fn idp(n: usize, m: i64, issuer: &str) -> Vec<u8> {
    event(
        n,
        BASE_MS + m * MIN,
        &[
            ("event.action", json!("user.authentication.auth_via_IDP")),
            ("okta.authentication_context.issuer.id", json!(issuer)),
        ],
    )
}

fn durable(dir: &std::path::Path) -> StatefulSettings {
    StatefulSettings {
        state_dir: Some(dir.to_path_buf()),
        ..settings()
    }
}

fn ids_and_counts(docs: &[Value]) -> Vec<(String, Value)> {
    docs.iter()
        .map(|d| {
            (
                d["kibana.alert.uuid"].as_str().unwrap().to_string(),
                d["kibana.alert.threshold_result"].clone(),
            )
        })
        .collect()
}

#[test]
fn restart_with_replay_from_an_earlier_offset_neither_loses_nor_double_counts() {
    // Fires at offset 2 (window 0–2); 3–5 are counted while the group is disarmed and fire at
    // offset 6 (minute 200, re-armed); 200–202 fire at offset 8.
    let minutes = [0, 1, 2, 3, 4, 5, 200, 201, 202, 400];
    let events: Vec<Vec<u8>> = minutes
        .iter()
        .enumerate()
        .map(|(i, m)| lock(i, *m))
        .collect();
    let text = corpus_text(BRUTE_FORCE);

    let straight = {
        let engine = engine(vec![rule(&text)], settings());
        let mut ev = engine.evaluator();
        ids_and_counts(&feed(&mut ev, Some("okta"), 0, &events))
    };
    assert_eq!(straight.len(), 3, "fires at offsets 2, 6, 8: {straight:?}");

    let dir = tempfile::tempdir().unwrap();
    // First life: offsets 0..=5, then a snapshot covering offset 5 (with the pending group),
    // then a crash.
    let first = {
        let engine = engine(vec![rule(&text)], durable(dir.path()));
        let mut ev = engine.try_evaluator().unwrap();
        let docs = feed(&mut ev, Some("okta"), 0, &events[..6]);
        let snap = ev.runtime().snapshot(Some("okta"), 0).unwrap();
        assert_eq!(snap.offset, Some(5));
        assert_eq!(ev.runtime_mut().checkpoint_all().unwrap(), 1);
        ids_and_counts(&docs)
    };
    // Second life: Kafka redelivers from the committed offset 3; 3, 4 and 5 are already in
    // the state and must not count again.
    let engine = engine(vec![rule(&text)], durable(dir.path()));
    let mut ev = engine.try_evaluator().unwrap();
    let second = ids_and_counts(&feed(&mut ev, Some("okta"), 3, &events[3..]));
    assert_eq!(ev.stateful_stats().replayed_skipped, 3);

    let mut both = first;
    both.extend(second);
    assert_eq!(both, straight);

    // Only finished snapshot files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![format!("p-{}-0.json", hex::encode("okta"))]);
}

#[test]
fn new_terms_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let text = corpus_text(IDP);
    {
        let engine = engine(vec![rule(&text)], durable(dir.path()));
        let mut ev = engine.try_evaluator().unwrap();
        let docs = feed(&mut ev, Some("okta"), 0, &[idp(0, 0, "idp1")]);
        assert_eq!(docs.len(), 1);
        ev.runtime_mut().checkpoint_all().unwrap();
    }
    let engine = engine(vec![rule(&text)], durable(dir.path()));
    let mut ev = engine.try_evaluator().unwrap();
    let docs = feed(
        &mut ev,
        Some("okta"),
        1,
        &[idp(1, 60, "idp1"), idp(2, 61, "idp2")],
    );
    let terms: Vec<&Value> = docs.iter().map(|d| &d["kibana.alert.new_terms"]).collect();
    assert_eq!(terms, vec![&json!(["idp2"])]);
}

#[test]
fn eval_state_dir_learns_in_one_run_and_alerts_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let history = dir.path().join("history.ndjson");
    let today = dir.path().join("today.ndjson");
    let lines = |events: &[Vec<u8>]| {
        events
            .iter()
            .map(|e| String::from_utf8(e.clone()).unwrap() + "\n")
            .collect::<String>()
    };
    std::fs::write(&history, lines(&[idp(0, 0, "idp1"), idp(1, 1, "idp2")])).unwrap();
    std::fs::write(&today, lines(&[idp(2, 60, "idp1"), idp(3, 61, "idp3")])).unwrap();
    let rules = format!("{CORPUS}/{IDP}");
    let run = |extra: &[&str], file: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rulestream"))
            .args([
                "eval",
                "--rules",
                &rules,
                "--state",
                state.to_str().unwrap(),
            ])
            .args(extra)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(&["--learn"], &history), "", "learning writes no alerts");
    let out = run(&[], &today);
    let docs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let terms: Vec<&Value> = docs.iter().map(|d| &d["kibana.alert.new_terms"]).collect();
    assert_eq!(terms, vec![&json!(["idp3"])]);
}

#[test]
fn state_is_bounded_in_count() {
    let stateful = StatefulSettings {
        limits: Limits {
            max_terms_per_rule: 1_000,
            ..Limits::default()
        },
        ..settings()
    };
    let engine = engine(vec![rule(&corpus_text(IDP))], stateful);
    let mut ev = engine.evaluator();
    let events: Vec<Vec<u8>> = (0..20_000).map(|i| idp(i, 0, &format!("idp{i}"))).collect();
    let docs = feed(&mut ev, None, 0, &events);
    assert_eq!(docs.len(), 20_000, "every term is new");
    let sizes = ev.runtime().sizes();
    assert!(sizes.new_terms <= 1_000, "{sizes:?}");
    assert!(ev.stateful_stats().evicted_by_limit >= 19_000);
}

#[test]
fn state_is_bounded_in_time() {
    // One new actor per minute for 5000 minutes; the 180-minute window (+5 min lateness) means
    // old groups are useless and must go even though no limit is near.
    let engine = engine(vec![rule(&corpus_text(BRUTE_FORCE))], settings());
    let mut ev = engine.evaluator();
    let events: Vec<Vec<u8>> = (0..5_000)
        .map(|i| {
            event(
                i,
                BASE_MS + i as i64 * MIN,
                &[
                    ("event.action", json!("user.account.lock")),
                    ("okta.actor.alternate_id", json!(format!("a{i}"))),
                ],
            )
        })
        .collect();
    feed(&mut ev, None, 0, &events);
    let sizes = ev.runtime().sizes();
    // At most two windows' worth (expiry runs once per window length of event time).
    assert!(sizes.threshold_groups <= 2 * 185 + 1, "{sizes:?}");
    assert!(ev.stateful_stats().evicted_expired >= 4_000);
    assert_eq!(ev.stateful_stats().evicted_by_limit, 0);
}
