//! The stage as a child process: the test binary re-executed on one of its own tests (the
//! "child entry"), which parses a `rulestream run ...` command line with the real `RunArgs` and
//! runs the real pipeline. Tests kill or stop it mid-stream and restart it.

use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rulestream::config::{RunArgs, Settings};
use rulestream::pipeline::EvaluatorFactory;

use super::{http_get, metric};

/// Environment variable carrying the child's `rulestream run` arguments (separated by U+001F).
pub const ARGS_VAR: &str = "RULESTREAM_STAGE_CHILD_ARGS";

#[derive(clap::Parser)]
#[command(name = "rulestream")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Run(RunArgs),
}

/// Parses `argv` (after the program name) as `rulestream run …` with the real `RunArgs`.
pub fn parse_run_args<S: AsRef<str>>(argv: &[S]) -> Result<RunArgs, String> {
    let argv = argv.iter().map(AsRef::as_ref);
    let cli = Cli::try_parse_from(std::iter::once("rulestream").chain(argv))
        .map_err(|e| e.to_string())?;
    let Cmd::Run(run) = cli.cmd;
    Ok(run)
}

/// [`parse_run_args`], then the settings `rulestream run` would load from them.
pub fn parse_run<S: AsRef<str>>(argv: &[S]) -> Result<Settings, String> {
    Settings::load(&parse_run_args(argv)?).map_err(|e| e.to_string())
}

/// A per-event delay for slowed child stages, in microseconds from the variable `var`
/// (zero when unset).
pub fn delay_from_env(var: &str) -> Duration {
    let micros = std::env::var(var)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    Duration::from_micros(micros)
}

/// The child's side: when [`ARGS_VAR`] is set, runs the stage with the evaluators `factory`
/// builds from the parsed settings and exits with `rulestream run`'s status. Returns `false`
/// without it (the entry test then checks something else, so it is never empty).
pub fn child_main(factory: impl FnOnce(&Settings) -> Arc<dyn EvaluatorFactory>) -> bool {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return false;
    };
    // Die with the test that started us, even if it is killed.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    let argv: Vec<&str> = args.split('\u{1f}').collect();
    let code = match parse_run(&argv) {
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
        Ok(settings) => {
            rulestream::pipeline::init_tracing(settings.log_format);
            let factory = factory(&settings);
            match rulestream::pipeline::run(settings, factory) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    rulestream::config::exit_code(&e)
                }
            }
        }
    };
    std::process::exit(code);
}

/// `rulestream run` arguments for the test's topics and group, a config file and a metrics
/// port; callers append more (`--rules`, `--log-format`).
pub fn stage_args(names: &super::Names, config: &str, port: u16) -> Vec<String> {
    [
        "run",
        "--config",
        config,
        "--brokers",
        super::broker(),
        "--group-id",
        &names.group,
        "--input-topic",
        &names.input,
        "--alerts-topic",
        &names.alerts,
        "--dead-letter-topic",
        &names.dead,
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]
    .map(String::from)
    .to_vec()
}

/// A stage child process; SIGKILLed on drop so a failing test leaves nothing running.
pub struct Stage {
    pub child: Child,
    pub port: u16,
}

impl Stage {
    /// Re-executes this test binary on the test `entry` with `args` (`rulestream run`
    /// arguments) and extra environment variables.
    pub fn spawn(entry: &str, args: &[String], env: &[(&str, String)], port: u16) -> Stage {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
        cmd.args(["--exact", entry, "--nocapture", "--test-threads", "1"])
            .env(ARGS_VAR, args.join("\u{1f}"))
            .env("RUST_LOG", "warn,rulestream=info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn stage child");
        Stage { child, port }
    }

    pub fn metrics_text(&self) -> String {
        let (status, body) = http_get(&format!("127.0.0.1:{}", self.port), "/metrics");
        assert_eq!(status, 200);
        body
    }

    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.metrics_text(), name, "")
    }

    /// Waits (60 s at most) until the metric `name` reaches `at_least`.
    pub fn wait_metric(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.metric(name) >= at_least;
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "{name} never reached {at_least}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "stage did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
