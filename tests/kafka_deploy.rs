//! The deployment files agree with the code: docker-compose.yml and config/prometheus.yml are
//! valid YAML, the compose command line is a valid `rulestream run` command line, and Prometheus
//! scrapes the port rulestream listens on. YAML is parsed by python3 + PyYAML (no YAML crate in
//! the project); the test fails, not skips, without them (`python3 -m pip install pyyaml`).

#![allow(clippy::unwrap_used)] // tests may unwrap (style.md)

mod support;

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn yaml_to_json(path: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(Path::new(ROOT).join(path))
        .output()
        .expect("python3 is needed to parse YAML");
    assert!(
        out.status.success(),
        "cannot parse {path} (needs PyYAML: python3 -m pip install pyyaml): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from python")
}

#[test]
fn compose_runs_a_valid_rulestream_command_scraped_by_prometheus() {
    let compose = yaml_to_json("docker-compose.yml");
    let services = compose["services"].as_object().expect("services");
    for name in ["kafka", "kafka-init", "rulestream", "prometheus"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    assert!(services["kafka"]["image"]
        .as_str()
        .unwrap()
        .starts_with("apache/kafka:"));
    assert_eq!(services["rulestream"]["build"], ".");

    let args: Vec<String> = services["rulestream"]["command"]
        .as_array()
        .expect("command list")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect();
    let mut run =
        support::child::parse_run_args(&args).expect("compose command parses as `rulestream run`");
    assert_eq!(
        run.config.as_deref(),
        Some(Path::new("/etc/rulestream/rulestream.toml"))
    );
    // The image ships config/rulestream.toml at that path: load the repo copy instead.
    run.config = Some(Path::new(ROOT).join("config/rulestream.toml"));
    let settings = rulestream::config::Settings::load(&run).expect("compose settings are valid");
    assert_eq!(settings.kafka.brokers, "kafka:9092");
    let port = settings.metrics_addr.port();

    // Every topic rulestream uses is created by kafka-init (auto-create is off).
    let init = services["kafka-init"]["command"].to_string();
    let mut topics = settings.kafka.input_topics.clone();
    topics.push(settings.kafka.alerts_topic.clone());
    topics.extend(settings.kafka.dead_letter_topic.clone());
    for t in &topics {
        assert!(init.contains(t.as_str()), "kafka-init does not create {t}");
    }

    // Stateful-rule snapshots live on a named volume, in a directory the image prepares.
    let state_dir = settings
        .stateful
        .state_dir
        .clone()
        .expect("compose sets --state-dir");
    let state_dir = state_dir.display().to_string();
    let mounts = services["rulestream"]["volumes"].to_string();
    assert!(
        mounts.contains(&format!("rulestream-state:{state_dir}")),
        "{mounts}"
    );
    assert!(compose["volumes"]
        .as_object()
        .is_some_and(|v| v.contains_key("rulestream-state")));

    let volumes = services["prometheus"]["volumes"].to_string();
    assert!(volumes.contains("./config/prometheus.yml"));
    let prom = yaml_to_json("config/prometheus.yml");
    let targets = prom["scrape_configs"][0]["static_configs"][0]["targets"].to_string();
    assert!(
        targets.contains(&format!("rulestream:{port}")),
        "{targets} vs port {port}"
    );

    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY config/rulestream.toml /etc/rulestream/rulestream.toml"));
    assert!(dockerfile.contains(&format!("chown rulestream {state_dir}")));
}
