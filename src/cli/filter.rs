//! `rulestream filter QUERY [FILE...]`: the events a KQL query matches, unchanged.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::common::{engine_settings, AlertArgs, EventArgs};
use super::input::for_each_line;
use crate::engine::ruleset::Engine;
use crate::engine::EventOrigin;

/// Print the events a KQL query matches, unchanged, one JSON per line.
///
/// Reads NDJSON events from the files (or stdin) and writes every event the query matches
/// exactly as it was read. Matching is Elasticsearch's: keyword values are case-sensitive and
/// whole, `*` is the only wildcard, a list matches if any element does, `a.b` is the same field
/// whether written with a dotted key or nested objects, and each field is read with its type in
/// the Okta/ECS mapping (booleans, numbers, dates, IPs and CIDR blocks, analysed text). Raw Okta
/// System Log events are matched as their ECS form (see `rulestream normalize`). Lines that are
/// not JSON objects are reported on stderr with their line number and skipped.
///
/// Exit status: 0, or 2 if the query does not parse (the error shows the column).
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream filter 'event.action:user.session.impersonation.initiate' events.ndjson
  rulestream filter 'okta.security_context.is_proxy:true and source.ip:10.0.0.0/8' < events.ndjson
  rulestream filter 'event.action:(policy.lifecycle.delete or policy.rule.delete)' a.ndjson b.ndjson")]
pub struct FilterArgs {
    /// The KQL query, as in a rule's `query` or Kibana's search bar.
    pub query: String,

    /// NDJSON files to read; stdin when none (or `-`).
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub events: EventArgs,
}

pub fn run(args: FilterArgs) -> ExitCode {
    let settings = match engine_settings(&args.events, &AlertArgs::defaults()) {
        Ok(s) => s,
        Err(e) => return super::fail(2, e),
    };
    let engine = match Engine::for_query(&args.query, settings) {
        Ok(engine) => Arc::new(engine),
        Err(e) => {
            let lc = crate::diag::line_col(&args.query, e.span().start);
            eprintln!(
                "error: query column {}: {e}\n{}",
                lc.column,
                e.render(&args.query)
            );
            return ExitCode::from(2);
        }
    };
    let mut evaluator = engine.evaluator();
    let origin = EventOrigin {
        default_index: args.events.index.as_deref(),
        ..EventOrigin::default()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = for_each_line(&args.files, |line, at| {
        match evaluator.matches(line, &origin) {
            Ok(true) => {
                out.write_all(line)?;
                out.write_all(b"\n")?;
            }
            Ok(false) => {}
            Err(e) => eprintln!("{}:{}: {e}", at.source, at.line),
        }
        Ok(())
    });
    super::input::finish(result, &mut out, ExitCode::SUCCESS)
}
