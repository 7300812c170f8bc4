//! The `rulestream` command: parses arguments, sets up logging, and hands over to `cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    rulestream::cli::main()
}
