//! The shipped config file and the `[input]` / `[okta]` sections.

use std::path::Path;

use rulestream::config::{parse_file, InputFormat, RunArgs, Settings};

fn settings(text: &str) -> Result<Settings, String> {
    let file = parse_file(text, Path::new("test.toml")).map_err(|e| e.to_string())?;
    Settings::build(file, &RunArgs::default(), &|_| None).map_err(|e| e.to_string())
}

#[test]
fn the_shipped_config_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rulestream.toml");
    let text = std::fs::read_to_string(&path).expect("config/rulestream.toml");
    let shipped = settings(&text).expect("shipped config is valid");
    let defaults = settings("").expect("empty config is valid");
    assert_eq!(
        shipped, defaults,
        "every value in the shipped file is the default"
    );
}

#[test]
fn input_format_and_okta_normalization_come_from_their_tables() {
    let s = settings(
        "[input]\nformat = \"okta\"\n[okta]\nnamespace = \"prod\"\npreserve_original = true\n\
         geoip_city_db = \"/data/city.mmdb\"\n",
    )
    .expect("valid");
    assert_eq!(s.input_format, InputFormat::Okta);
    assert_eq!(s.okta.namespace, "prod");
    assert!(s.okta.preserve_original);
    assert_eq!(
        s.okta.enrichment.geoip_city_db.as_deref(),
        Some(Path::new("/data/city.mmdb"))
    );
    assert_eq!(settings("").expect("valid").input_format, InputFormat::Auto);
}

#[test]
fn unknown_or_misspelled_input_keys_are_errors_with_their_position() {
    let err = settings("[input]\nformt = \"okta\"\n").expect_err("unknown key");
    assert!(
        err.contains("test.toml:2:1") && err.contains("formt"),
        "{err}"
    );
    let err = settings("[input]\nformat = \"raw\"\n").expect_err("bad value");
    assert!(err.contains("test.toml:2:"), "{err}");
    let err =
        settings("[okta]\ninput_format = \"okta\"\n").expect_err("input_format lives in [input]");
    assert!(err.contains("input_format"), "{err}");
}

#[test]
fn stateful_table_sets_the_engine_settings() {
    use rulestream::engine::stateful::Learning;
    let s = settings(
        "[stateful]\nstate_dir = \"/var/lib/rs\"\nallowed_lateness_ms = 1000\n\
         new_terms_learning = \"2d\"\nmax_terms_per_rule = 5\nflush_interval_ms = 250\n",
    )
    .expect("valid");
    let engine = s.stateful.engine_settings();
    assert_eq!(engine.state_dir.as_deref(), Some(Path::new("/var/lib/rs")));
    assert_eq!(engine.allowed_lateness_ms, 1000);
    assert_eq!(engine.learning, Learning::Period(2 * 86_400_000));
    assert_eq!(engine.limits.max_terms_per_rule, 5);
    assert_eq!(
        s.stateful.flush_interval,
        std::time::Duration::from_millis(250)
    );
    let defaults = settings("").expect("valid").stateful;
    assert_eq!(defaults.state_dir, None, "state is in memory by default");
    assert_eq!(defaults.learning, Learning::HistoryWindow);
    let cases = [
        ("\"off\"", Learning::Off),
        ("\"history\"", Learning::HistoryWindow),
    ];
    for (value, want) in cases {
        let s = settings(&format!("[stateful]\nnew_terms_learning = {value}\n")).expect(value);
        assert_eq!(s.stateful.learning, want, "{value}");
    }
}

#[test]
fn bad_stateful_values_are_errors_naming_the_key() {
    let cases = [
        (
            "new_terms_learning = \"forever\"",
            "stateful.new_terms_learning",
        ),
        ("new_terms_learning = \"0d\"", "stateful.new_terms_learning"),
        ("max_groups_per_rule = 0", "stateful.max_groups_per_rule"),
        ("flush_interval_ms = 0", "stateful.flush_interval_ms"),
        ("state_dir = \"\"", "stateful.state_dir"),
        ("statedir = \"/x\"", "statedir"),
    ];
    for (line, key) in cases {
        let text = format!("[stateful]\n{line}\n");
        let file = parse_file(&text, Path::new("test.toml"));
        let err = match file {
            Err(e) => e.to_string(),
            Ok(file) => {
                // Validation errors get their position from Settings::load; check the key here.
                Settings::build(file, &RunArgs::default(), &|_| None)
                    .expect_err(line)
                    .to_string()
            }
        };
        assert!(err.contains(key), "{line}: {err}");
        if line.starts_with("statedir") {
            assert!(
                err.contains("test.toml:2:1"),
                "unknown keys carry their position: {err}"
            );
        }
    }
}
