//! The `rulestream` command: parses arguments, sets up logging, and hands over to `cli`.

use std::process::ExitCode;

// mimalloc: alert building makes many small allocations; glibc's malloc made it twice as slow
// (measured with examples/bench_eval).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rulestream::cli::main()
}
