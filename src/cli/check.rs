//! `rulestream check --rules DIR...`: which rules load and run, which do not, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::engine::ruleset::{Engine, EngineSettings, RuleOutcome};

/// Load rules and say, for each, whether it runs.
///
/// Prints one line per rule file: `ok: FILE: NAME` for a rule that runs,
/// `unsupported: WHY: FILE: NAME` for a valid rule of a kind rulestream does not run yet, and
/// `error: FILE:LINE:COLUMN: MESSAGE` for a broken one (with the offending line and a caret
/// under the problem), then a summary. A broken file never hides the others.
///
/// Exit status: 0 when no rule is broken (unsupported rules are fine), 1 otherwise.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream check --rules rules/
  rulestream check --rules ~/detection-rules/rules/integrations/okta
  rulestream check --rules rules/ | grep -v '^ok:'")]
pub struct CheckArgs {
    /// Folder (searched recursively) or file of detection rules; repeat for several.
    #[arg(long = "rules", value_name = "DIR", required = true)]
    pub rules: Vec<PathBuf>,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let report = crate::rules::load_dirs(&args.rules);
    let (_, statuses) = Engine::new(report.rules, EngineSettings::default());
    let (mut ok, mut unsupported, mut errors) = (0, 0, report.errors.len());
    for error in &report.errors {
        println!("error: {error}");
    }
    for status in &statuses {
        let rule = &status.rule;
        match &status.outcome {
            RuleOutcome::Ok => {
                ok += 1;
                println!("ok: {}: {}", rule.path.display(), rule.name);
            }
            RuleOutcome::Unsupported(why) => {
                unsupported += 1;
                println!("unsupported: {why}: {}: {}", rule.path.display(), rule.name);
            }
            RuleOutcome::Error {
                line,
                column,
                message,
            } => {
                errors += 1;
                println!("error: {}:{line}:{column}: {message}", rule.path.display());
                if let Some(text) = rule.file_text().lines().nth(line.saturating_sub(1)) {
                    println!("    {text}\n    {}^", " ".repeat(column.saturating_sub(1)));
                }
            }
        }
    }
    let total = ok + unsupported + errors;
    println!("{total} rules: {ok} ok, {unsupported} unsupported, {errors} errors");
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
