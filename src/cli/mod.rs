//! The command line: `filter`, `eval`, `check`, `normalize` (file-based, for writing and
//! testing rules) and `run` (the Kafka stage). Exit status: 0 success, 1 a rule or run failed,
//! 2 bad usage (a query that does not parse, an invalid config).

mod check;
mod common;
mod eval;
mod filter;
mod input;
mod kafka_tools;
mod normalize;
pub mod run; // build_engine: shared with the Kafka tests

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  # Which events does a KQL query match?
  rulestream filter 'event.action:user.session.impersonation.initiate' events.ndjson

  # Run a folder of Elastic detection rules over a file of events; one alert per line.
  rulestream eval --rules ~/detection-rules/rules/integrations/okta events.ndjson

  # Which rules load and run, which do not, and why?
  rulestream check --rules ~/detection-rules/rules/integrations/okta

  # Raw Okta System Log events as the rules see them (ECS, as Elastic's Okta integration writes).
  rulestream normalize okta-system-log.ndjson

  # The Kafka stage.
  rulestream run --brokers 127.0.0.1:9092 --input-topic okta --alerts-topic alerts --rules rules/";

/// Runs Elastic detection rules on Okta System Log events as they stream by.
///
/// rulestream loads rules in the elastic/detection-rules TOML format, evaluates them on each
/// event exactly as Elasticsearch would (KQL semantics, field types, arrays, dotted keys), and
/// writes every match as an Elastic Security alert document.
#[derive(Parser, Debug)]
#[command(name = "rulestream", version, after_help = EXAMPLES, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Filter(filter::FilterArgs),
    Eval(eval::EvalArgs),
    Check(check::CheckArgs),
    Normalize(normalize::NormalizeArgs),
    Run(crate::config::RunArgs),
    Produce(kafka_tools::ProduceArgs),
    Consume(kafka_tools::ConsumeArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    match cli.command {
        Command::Filter(args) => {
            init_logging();
            filter::run(args)
        }
        Command::Eval(args) => {
            init_logging();
            eval::run(args)
        }
        Command::Check(args) => check::run(args),
        Command::Normalize(args) => {
            init_logging();
            normalize::run(args)
        }
        // `run` sets up logging itself, in the format its config asks for.
        Command::Run(args) => run::run(args),
        Command::Produce(args) => {
            init_logging();
            kafka_tools::produce(args)
        }
        Command::Consume(args) => {
            init_logging();
            kafka_tools::consume(args)
        }
    }
}

/// Human-readable logs on stderr for the file commands (`RUST_LOG` filters; default: warnings,
/// so that stderr carries the per-line reports a user asked for, not chatter).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Writes `error: …` to stderr and returns `code`.
fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
