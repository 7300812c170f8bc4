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
use crate::engine::EventOrigin;

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
/// Exit status: 0; 1 if any rule file is broken (after all events were processed); 2 on bad usage.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream eval --rules rules/ events.ndjson
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
}

pub fn run(args: EvalArgs) -> ExitCode {
    let settings = match engine_settings(&args.events, &args.alerts) {
        Ok(s) => s,
        Err(e) => return super::fail(2, e),
    };
    let report = crate::rules::load_dirs(&args.rules);
    let mut broken = !report.errors.is_empty();
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    let (engine, statuses) = Engine::new(report.rules, settings);
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
    let mut evaluator = engine.evaluator();
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
