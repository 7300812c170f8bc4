//! Elastic Security alert documents from (rule, matched event), as Kibana's detection engine
//! writes them to `.alerts-security.alerts-<space>` (spec: `../shared/docs/alert-schema.md`).
//!
//! Design: per rule, a [`RuleTemplate`] precomputes every field that does not depend on the event;
//! per match, [`RuleTemplate::build`] copies and cleans the source ([`copy_source`]), applies the
//! severity / risk / name overrides, writes the reason ([`build_reason`]) and the deterministic id
//! ([`query_alert_id`]). Those pieces are separate functions so the threshold, new_terms and EQL
//! builders reuse them through [`RuleTemplate::assemble`].

mod ancestor;
mod ecs;
mod fields;
mod id;
mod mapping;
mod params;
mod reason;
mod sequence;
mod stateful;
mod template;
mod time;

use std::collections::HashMap;

use serde_json::Value;

pub use ancestor::{ancestor_for, Ancestor};
pub use ecs::{copy_source, SourceCopy};
pub use fields::get_path;
pub use id::{ancestors_alert_id, building_block_ids, query_alert_id};
pub use mapping::{risk_score_for, rule_name_for, severity_for};
pub use params::{parameters_json, threat_json};
pub use reason::build_reason;
pub use sequence::{intersect_all, pair_intersection, SequenceAlerts};
pub use stateful::{
    add_suppression_fields, canonical_hash, new_terms_alert_id, query_suppressed_alert_id,
    suppression_instance_id, threshold_suppressed_alert_id, threshold_synthetic_id,
};
pub use template::{AlertParts, RuleTemplate};
pub use time::{format_ms, parse_json_date};

/// Deployment settings that end up in every alert.
#[derive(Debug, Clone)]
pub struct AlertContext {
    /// Kibana space the alerts belong to (`kibana.space_ids`, the id hash, the index in the URL).
    pub space_id: String,
    /// `kibana.version`: the alert schema generation written (8.19 adds `original_data_stream`).
    pub kibana_version: String,
    /// `kibana.alert.rule.execution.uuid`: one UUID v4 per process start.
    pub run_id: String,
    /// Kibana's `server.publicBaseUrl`; without it alerts have no `kibana.alert.url`.
    pub public_base_url: Option<String>,
    /// Write the ECS `rule.*` / `threat.*` mirror (a rulestream addition, alert-schema §1.7).
    pub ecs_rule_mirror: bool,
    /// `kibana.alert.rule.created_by` / `updated_by`.
    pub created_by: String,
    /// `rule_id` → Kibana rule uuid, for users who want alerts to link to a real Kibana rule;
    /// unmapped rules use [`crate::rules::Rule::uuid`].
    pub rule_uuids: HashMap<String, String>,
}

/// Kibana's default space.
pub const DEFAULT_SPACE_ID: &str = "default";
/// The alert schema generation rulestream writes by default.
pub const DEFAULT_KIBANA_VERSION: &str = "8.19.0";
/// Default `created_by` / `updated_by`.
pub const DEFAULT_CREATED_BY: &str = "rulestream";

impl Default for AlertContext {
    /// Default space, Kibana 8.19.0, a fresh run id, no public URL, mirror on.
    fn default() -> Self {
        AlertContext {
            space_id: DEFAULT_SPACE_ID.to_string(),
            kibana_version: DEFAULT_KIBANA_VERSION.to_string(),
            run_id: uuid::Uuid::new_v4().to_string(),
            public_base_url: None,
            ecs_rule_mirror: true,
            created_by: DEFAULT_CREATED_BY.to_string(),
            rule_uuids: HashMap::new(),
        }
    }
}

/// One built alert: its id (`_id`, `kibana.alert.uuid`, Kafka key) and the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub doc: Value,
}
