//! `rulestream normalize [FILE...]`: raw Okta System Log events as the rules see them.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::common::EventArgs;
use super::input::for_each_line;
use crate::okta::{self, InputFormat};

/// Print raw Okta System Log events as ECS documents, as Elastic's Okta integration indexes them.
///
/// Each input line is one Okta `LogEvent` (from the System Log API, Log Streaming, or a
/// shipper); the output is the document Elastic's `okta.system` ingest pipeline would index —
/// what `eval` and `run` evaluate rules on. ECS documents pass through unchanged (with
/// `--input-format auto`). GeoIP, ASN and user-agent fields need their data files
/// (`--geoip-city`, `--geoip-asn`, `--ua-regexes`); without them those fields are left out.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rulestream normalize okta-system-log.ndjson
  rulestream normalize --geoip-city GeoLite2-City.mmdb --ua-regexes regexes.yaml < raw.ndjson")]
pub struct NormalizeArgs {
    /// NDJSON files to read; stdin when none (or `-`).
    pub files: Vec<PathBuf>,

    /// Keep the input text as `event.original` (Elastic's `preserve_original_event` tag).
    #[arg(long)]
    pub preserve_original: bool,

    #[command(flatten)]
    pub events: EventArgs,
}

pub fn run(args: NormalizeArgs) -> ExitCode {
    let mut options = match args.events.normalize_options() {
        Ok(o) => o,
        Err(e) => return super::fail(2, e),
    };
    options.preserve_original = args.preserve_original;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = for_each_line(&args.files, |line, at| {
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "{}:{}: not valid UTF-8 at byte {}",
                    at.source,
                    at.line,
                    e.valid_up_to()
                );
                return Ok(());
            }
        };
        let doc = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
            Ok(doc) => doc,
            Err(e) => {
                eprintln!("{}:{}: not a JSON object: {e}", at.source, at.line);
                return Ok(());
            }
        };
        options.now = chrono::Utc::now();
        let normalized = match args.events.input_format {
            InputFormat::Ecs => doc,
            InputFormat::Okta => okta::normalize_text(text, &options),
            InputFormat::Auto if okta::detect(&doc) == okta::InputKind::RawOkta => {
                okta::normalize_text(text, &options)
            }
            InputFormat::Auto => doc,
        };
        serde_json::to_writer(&mut out, &normalized).map_err(io::Error::other)?;
        out.write_all(b"\n")
    });
    super::input::finish(result, &mut out, ExitCode::SUCCESS)
}
