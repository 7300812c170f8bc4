//! Options shared by the file-based commands, and how they become engine settings.

use std::path::PathBuf;

use clap::Args;

use crate::alert::AlertContext;
use crate::engine::ruleset::EngineSettings;
use crate::okta::InputFormat;

#[derive(Args, Debug, Clone)]
pub struct EventArgs {
    /// How to read events: `auto` normalizes raw Okta System Log events (they have
    /// `eventType`/`uuid`/`published`) to ECS and passes ECS documents through; `okta` and `ecs`
    /// force one reading.
    #[arg(long, value_name = "auto|okta|ecs", default_value = "auto")]
    pub input_format: InputFormat,

    /// Index (data stream) name to assume for events without `data_stream.*` fields, e.g.
    /// `logs-okta.system-default` or `filebeat-8.19.0`. Rules only see events whose index their
    /// `index` patterns match; events with neither reach only rules without patterns.
    #[arg(long, value_name = "NAME")]
    pub index: Option<String>,

    /// MaxMind GeoIP2/GeoLite2 City database for `source.geo.*` of raw Okta events.
    #[arg(long, value_name = "FILE")]
    pub geoip_city: Option<PathBuf>,

    /// MaxMind ASN database for `source.as.*` of raw Okta events.
    #[arg(long, value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,

    /// uap-core `regexes.yaml` for `user_agent.*` of raw Okta events.
    #[arg(long, value_name = "FILE")]
    pub ua_regexes: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct AlertArgs {
    /// Kibana space the alerts belong to (`kibana.space_ids`, part of the alert id).
    #[arg(long, value_name = "ID", default_value = "default")]
    pub space: String,

    /// Kibana version whose alert schema to write (`kibana.version`).
    #[arg(long, value_name = "VERSION", default_value = "8.19.0")]
    pub kibana_version: String,

    /// Kibana's public URL; when set, alerts carry `kibana.alert.url`.
    #[arg(long, value_name = "URL")]
    pub kibana_url: Option<String>,
}

impl EventArgs {
    /// Normalization options from the enrichment flags (fails on unreadable data files).
    pub fn normalize_options(&self) -> Result<crate::okta::NormalizeOptions, String> {
        let mut options = crate::okta::NormalizeOptions::new(chrono::Utc::now());
        let config = crate::okta::EnrichmentConfig {
            geoip_city_db: self.geoip_city.clone(),
            geoip_asn_db: self.geoip_asn.clone(),
            ua_regexes: self.ua_regexes.clone(),
        };
        let enrichment = crate::okta::Enrichment::load(&config).map_err(|e| e.to_string())?;
        tracing::info!("{}", enrichment.describe());
        options.enrichment = Some(std::sync::Arc::new(enrichment));
        Ok(options)
    }
}

impl AlertArgs {
    pub fn context(&self) -> AlertContext {
        AlertContext {
            space_id: self.space.clone(),
            kibana_version: self.kibana_version.clone(),
            public_base_url: self.kibana_url.clone(),
            ..AlertContext::default()
        }
    }
}

/// Engine settings from the command's flags.
pub fn engine_settings(events: &EventArgs, alerts: &AlertArgs) -> Result<EngineSettings, String> {
    Ok(EngineSettings {
        alert: alerts.context(),
        input_format: events.input_format,
        normalize: events.normalize_options()?,
    })
}

impl AlertArgs {
    /// The defaults, for commands that build no alerts.
    pub fn defaults() -> Self {
        AlertArgs {
            space: "default".into(),
            kibana_version: "8.19.0".into(),
            kibana_url: None,
        }
    }
}
