//! `[okta]`: how raw Okta System Log events are normalized to ECS (`crate::okta`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::okta::InputFormat;

/// `[okta]`: the raw-Okta → ECS normalization (see `crate::okta::NormalizeConfig`), without its
/// `input_format` (that is `input.format`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OktaFile {
    /// `data_stream.namespace` of normalized events. Default `default`.
    pub namespace: Option<String>,
    /// Keep the received text as `event.original`. Default false.
    pub preserve_original: bool,
    /// Non-flattened debugData mode. Default false (rules on `…flattened.*` need false).
    pub remove_flattened_debug: bool,
    /// Collector tags. Default `["forwarded", "okta-system"]`.
    pub tags: Option<Vec<String>>,
    /// Okta org URL, written to `host.name`. Default none.
    pub okta_url: Option<String>,
    /// Upstream `ecs_category_type.yml` (or JSON) for the full event-type table. Default: the
    /// built-in table covering Elastic's Okta rules.
    pub category_table: Option<PathBuf>,
    /// MaxMind City database for `source.geo.*`. Default none (fields absent).
    pub geoip_city_db: Option<PathBuf>,
    /// MaxMind ASN database for `source.as.*`. Default none (fields absent).
    pub geoip_asn_db: Option<PathBuf>,
    /// uap-core `regexes.yaml` for `user_agent.*`. Default none (fields absent).
    pub ua_regexes: Option<PathBuf>,
}

impl OktaFile {
    pub(super) fn to_normalize_config(&self) -> crate::okta::NormalizeConfig {
        let defaults = crate::okta::NormalizeConfig::default();
        crate::okta::NormalizeConfig {
            input_format: InputFormat::Auto,
            namespace: self.namespace.clone().unwrap_or(defaults.namespace),
            preserve_original: self.preserve_original,
            remove_flattened_debug: self.remove_flattened_debug,
            tags: self.tags.clone().unwrap_or(defaults.tags),
            okta_url: self.okta_url.clone(),
            category_table: self.category_table.clone(),
            enrichment: crate::okta::EnrichmentConfig {
                geoip_city_db: self.geoip_city_db.clone(),
                geoip_asn_db: self.geoip_asn_db.clone(),
                ua_regexes: self.ua_regexes.clone(),
            },
        }
    }
}
