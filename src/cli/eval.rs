//! `rulestream eval --rules DIR [FILE...]`: every loaded rule over a file of events, one alert
//! document per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::common::{engine_settings, AlertArgs, EventArgs};
use super::input::for_each_line;
use crate::engine::ruleset::{Engine, RuleOutcome};
use crate::engine::stateful::{Learning, StatefulSettings, StatefulStats};
use crate::engine::EventOrigin;

/// Notes on stderr about events stateful rules could not use.
fn report_stateful(stats: &StatefulStats) {
    let notes = [
        (stats.late_events, "events arrived later than --allowed-lateness and were not counted by threshold/new_terms rules"),
        (stats.no_event_time, "matching events had no usable event time and were skipped by threshold/new_terms rules"),
        (stats.evicted_by_limit, "state entries were evicted because a per-rule limit was reached"),
    ];
    for (n, what) in notes {
        if n > 0 {
            eprintln!("note: {n} {what}");
        }
    }
    if stats.learned_terms > 0 {
        eprintln!(
            "note: {} new terms learned without alerting",
            stats.learned_terms
        );
    }
}

/// Run detection rules over NDJSON events and print one alert per line.
///
/// Loads every `*.toml` rule under the `--rules` folders (the elastic/detection-rules format),
/// evaluates the rules that can run on each event, and writes each match as an Elastic Security
/// alert document (`kibana.alert.*`, `event.kind: signal`, the source event's fields). Alert ids
/// are deterministic: the same rule and event always give the same `kibana.alert.uuid`.
///
/// Rules that cannot run (broken, or of a type not supported yet) are reported on stderr; see
/// `rulestream check` for the full list. Input lines that are not JSON objects are reported on
/// stderr with their line number and skipped; the run goes on.
///
/// Threshold and new_terms rules (and alert suppression) run in event time (the rule's
/// `timestamp_override`, else `@timestamp`) with events taken in file order: an event may lag
/// the latest event time seen by up to `--allowed-lateness` and is still counted; later ones
/// are dropped from these rules and counted (a note on stderr). Suppressed alerts are written
/// again, same id, with their final `kibana.alert.suppression.*` counts when their window closes
/// or at the end of input. With `--state DIR` their state (windows, seen terms, open
/// suppression windows) is loaded before and saved after the run, so several files can be
/// evaluated as one stream; `--learn` fills the new_terms history without writing alerts.
///
/// Exit status: 0; 1 if any rule file is broken (after all events were processed); 2 on bad usage.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream eval --rules rules/ events.ndjson
  rulestream eval --rules rules/ --state state/ --learn last-two-weeks.ndjson
  rulestream eval --rules rules/ --state state/ today.ndjson
  rulestream eval --rules ~/detection-rules/rules/integrations/okta --rules my-rules/ < events.ndjson
  rulestream eval --rules rules/ --index logs-okta.system-default filebeat-export.ndjson | jq .")]
pub struct EvalArgs {
    /// Folder (searched recursively) or file of detection rules; repeat for several.
    #[arg(long = "rules", value_name = "DIR", required = true)]
    pub rules: Vec<PathBuf>,

    /// NDJSON files to read; stdin when none (or `-`).
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub events: EventArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Keep the state of threshold / new_terms / suppression in DIR across runs (created if
    /// missing; one snapshot file, replaced atomically at the end of the run).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Only learn: record the terms new_terms rules see, write no alerts (with `--state`, the
    /// history for later runs).
    #[arg(long)]
    pub learn: bool,

    /// new_terms rules only learn for this long of event time after their first event
    /// (`14d`, `12h`, …; `history` = one history window of each rule); `0` alerts at once.
    #[arg(long, value_name = "DURATION", default_value = "0")]
    pub learning_period: String,

    /// How far an event's time may lag the latest one seen and still count (`5m`, `30s`, `0`).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub allowed_lateness: String,
}

/// `0` or `<n><unit>` in ms.
fn duration_arg(text: &str, flag: &str) -> Result<i64, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    crate::engine::stateful::time::duration_ms(text)
        .ok_or_else(|| format!("{flag} expects 0 or <number><s|m|h|d|w>, got {text:?}"))
}

fn stateful_settings(args: &EvalArgs) -> Result<StatefulSettings, String> {
    let learning = match args.learning_period.trim() {
        "history" => Learning::HistoryWindow,
        other => match duration_arg(other, "--learning-period")? {
            0 => Learning::Off,
            ms => Learning::Period(ms),
        },
    };
    Ok(StatefulSettings {
        allowed_lateness_ms: duration_arg(&args.allowed_lateness, "--allowed-lateness")?,
        learning,
        state_dir: args.state.clone(),
        ..StatefulSettings::default()
    })
}

pub fn run(args: EvalArgs) -> ExitCode {
    let settings = match engine_settings(&args.events, &args.alerts) {
        Ok(s) => s,
        Err(e) => return super::fail(2, e),
    };
    let stateful = match stateful_settings(&args) {
        Ok(s) => s,
        Err(e) => return super::fail(2, e),
    };
    let report = crate::rules::load_dirs(&args.rules);
    let mut broken = !report.errors.is_empty();
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    let (engine, statuses) = Engine::with_stateful(report.rules, settings, stateful);
    let mut unsupported = 0;
    for status in &statuses {
        match &status.outcome {
            RuleOutcome::Ok => {}
            RuleOutcome::Unsupported(_) => unsupported += 1,
            RuleOutcome::Error {
                line,
                column,
                message,
            } => {
                broken = true;
                eprintln!(
                    "error: {}:{line}:{column}: {message}",
                    status.rule.path.display()
                );
            }
        }
    }
    if unsupported > 0 {
        eprintln!("note: {unsupported} rules do not run yet (see `rulestream check`)");
    }
    tracing::info!(rules = engine.rule_count(), "Rules loaded.");
    let engine = Arc::new(engine);
    let mut evaluator = match engine.try_evaluator() {
        Ok(e) => e,
        Err(e) => return super::fail(2, e),
    };
    evaluator.runtime_mut().set_learn_only(args.learn);
    let origin = EventOrigin {
        default_index: args.events.index.as_deref(),
        ..EventOrigin::default()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut alerts = Vec::new();
    let result = for_each_line(&args.files, |line, at| {
        alerts.clear();
        match evaluator.evaluate(line, &origin, &mut alerts) {
            Ok(()) if args.learn => {}
            Ok(()) => {
                for alert in &alerts {
                    out.write_all(&alert.doc)?;
                    out.write_all(b"\n")?;
                }
            }
            Err(e) => eprintln!("{}:{}: {e}", at.source, at.line),
        }
        Ok(())
    });
    // Suppressed alerts that absorbed events since they were written go out once more.
    alerts.clear();
    let result = result.and_then(|()| {
        if let Err(e) = evaluator.flush(chrono::Utc::now(), &mut alerts) {
            eprintln!("error: {e}");
        }
        if !args.learn {
            for alert in &alerts {
                out.write_all(&alert.doc)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    });
    report_stateful(evaluator.stateful_stats());
    if let Err(e) = evaluator.runtime_mut().checkpoint_all() {
        eprintln!("error: {e}");
        broken = true;
    }
    super::input::finish(
        result,
        &mut out,
        if broken {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}
