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
