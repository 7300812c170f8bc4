//! The `[okta]` configuration section as the user writes it, and its validation into
//! [`NormalizeOptions`]. Loading files (category table, enrichment data) happens here, once, so
//! the per-event path only clones `Arc`s.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    CategoryTable, Enrichment, EnrichmentConfig, InputFormat, NormalizeOptions, OktaError,
};

/// Raw `[okta]` section. Every field has a default, so an empty section is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeConfig {
    /// `auto` (detect per record), `okta` (always map) or `ecs` (pass through). Default `auto`.
    #[serde(default)]
    pub input_format: InputFormat,
    /// `data_stream.namespace` of the output. Default `"default"` (Fleet's default namespace).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Keep the received text as `event.original`. Default false (the integration's default).
    #[serde(default)]
    pub preserve_original: bool,
    /// Non-flattened debugData mode. Default false; rules on `…flattened.*` need false.
    #[serde(default)]
    pub remove_flattened_debug: bool,
    /// Collector tags. Default `["forwarded", "okta-system"]` (the integration's policy default).
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// Okta org URL, written to `host.name` as newer collectors do. Default none.
    #[serde(default)]
    pub okta_url: Option<String>,
    /// Upstream `ecs_category_type.yml` (or its JSON form) for the full event-type table.
    /// Default: the built-in subset covering the fixtures and Elastic's Okta rules.
    #[serde(default)]
    pub category_table: Option<PathBuf>,
    /// GeoIP / user-agent data files. Default: none (those fields stay absent).
    #[serde(default)]
    pub enrichment: EnrichmentConfig,
}

fn default_namespace() -> String {
    "default".to_string()
}

fn default_tags() -> Vec<String> {
    vec!["forwarded".to_string(), "okta-system".to_string()]
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            input_format: InputFormat::Auto,
            namespace: default_namespace(),
            preserve_original: false,
            remove_flattened_debug: false,
            tags: default_tags(),
            okta_url: None,
            category_table: None,
            enrichment: EnrichmentConfig::default(),
        }
    }
}

impl NormalizeConfig {
    /// Loads the table and enrichment files and returns options stamped with `now`; set
    /// `opts.now` again for each batch. Errors name the offending file.
    pub fn build(&self, now: DateTime<Utc>) -> Result<NormalizeOptions, OktaError> {
        let mut opts = NormalizeOptions::new(now);
        opts.namespace = self.namespace.clone();
        opts.preserve_original = self.preserve_original;
        opts.remove_flattened_debug = self.remove_flattened_debug;
        opts.tags = self.tags.clone();
        opts.okta_url = self.okta_url.clone();
        if let Some(p) = &self.category_table {
            opts.categories = Arc::new(CategoryTable::load(p)?);
        }
        opts.enrichment = Some(Arc::new(Enrichment::load(&self.enrichment)?));
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_the_integration_defaults() {
        let cfg: NormalizeConfig = toml::from_str("").expect("empty section is valid");
        assert_eq!(cfg, NormalizeConfig::default());
        let opts = cfg.build(Utc::now()).expect("no files to load");
        assert_eq!(opts.namespace, "default");
        assert_eq!(opts.tags, ["forwarded", "okta-system"]);
        assert!(opts
            .enrichment
            .as_ref()
            .is_some_and(|e| e.describe().contains("not configured")));
    }

    #[test]
    fn parses_a_full_section_and_rejects_unknown_keys() {
        let cfg: NormalizeConfig = toml::from_str(
            r#"
            input_format = "okta"
            namespace = "prod"
            preserve_original = true
            tags = []
            [enrichment]
            geoip_city_db = "/data/GeoLite2-City.mmdb"
            "#,
        )
        .expect("valid section");
        assert_eq!(cfg.input_format, InputFormat::Okta);
        assert_eq!(
            cfg.enrichment.geoip_city_db,
            Some(PathBuf::from("/data/GeoLite2-City.mmdb"))
        );
        assert!(toml::from_str::<NormalizeConfig>("namspace = 'x'").is_err());
        assert!(toml::from_str::<NormalizeConfig>("input_format = 'json'").is_err());
    }

    #[test]
    fn build_names_a_missing_category_table() {
        let cfg = NormalizeConfig {
            category_table: Some("/nonexistent/ecs_category_type.yml".into()),
            ..NormalizeConfig::default()
        };
        let err = cfg
            .build(Utc::now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/ecs_category_type.yml"), "{err}");
    }
}
