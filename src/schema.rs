//! Index field types: the Elasticsearch mapping that Elastic's Okta integration and ECS give each
//! field, as far as rule matching depends on it (`../shared/docs/okta-ecs-mapping.md` §11.1).
//!
//! A rule's meaning depends on the mapping, not only on the JSON: `is_proxy:true` on a boolean
//! field matches the string `"true"` too, `source.ip:10.0.0.0/8` is a CIDR test on an `ip` field,
//! `message:foo` matches an analysed token. Fields not listed here are treated as Elasticsearch's
//! dynamic mapping would treat them: strings as keywords, JSON numbers as numbers.

/// How Elasticsearch indexes a field, reduced to what changes query semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Exact, case-sensitive term; values longer than `ignore_above` characters are not indexed.
    Keyword {
        ignore_above: Option<usize>,
    },
    /// A keyword whose value is the same on every document of the index (`data_stream.*`).
    ConstantKeyword,
    /// Analysed text (`text`, `match_only_text`): matched on lowercased tokens.
    Text,
    /// A multi-field `<parent>.text` analysed from the keyword `parent` (ECS `user_agent.original.text`).
    TextOf(&'static str),
    Long,
    Double,
    Boolean,
    Date,
    Ip,
    GeoPoint,
    /// `flattened`: every leaf at any depth is a keyword string (`okta.target`, …).
    Flattened,
    /// Stored but not searchable (`index: false`, e.g. `event.original`): any query on it fails in
    /// Elasticsearch, so a rule that queries it is rejected.
    NotIndexed,
    /// Not in the mapping: dynamic mapping decides from the JSON value (string → keyword,
    /// number → long/double, boolean → boolean).
    Dynamic,
}

/// ECS and Fleet integration packages index keywords with `ignore_above: 1024`.
pub const DEFAULT_IGNORE_ABOVE: usize = 1024;

const KEYWORD: FieldType = FieldType::Keyword {
    ignore_above: Some(DEFAULT_IGNORE_ABOVE),
};

/// Exact field names and their types. Keep sorted by name within each group.
static FIELDS: &[(&str, FieldType)] = &[
    // Dates (ECS).
    ("@timestamp", FieldType::Date),
    ("event.created", FieldType::Date),
    ("event.end", FieldType::Date),
    ("event.ingested", FieldType::Date),
    ("event.start", FieldType::Date),
    // constant_keyword fields of the okta.system data stream.
    ("data_stream.dataset", FieldType::ConstantKeyword),
    ("data_stream.namespace", FieldType::ConstantKeyword),
    ("data_stream.type", FieldType::ConstantKeyword),
    ("event.dataset", FieldType::ConstantKeyword),
    ("event.module", FieldType::ConstantKeyword),
    // ip.
    ("client.ip", FieldType::Ip),
    ("destination.ip", FieldType::Ip),
    ("host.ip", FieldType::Ip),
    ("okta.client.ip", FieldType::Ip),
    ("related.ip", FieldType::Ip),
    ("server.ip", FieldType::Ip),
    ("source.ip", FieldType::Ip),
    // Numbers.
    ("client.as.number", FieldType::Long),
    ("client.port", FieldType::Long),
    ("destination.as.number", FieldType::Long),
    ("destination.port", FieldType::Long),
    ("event.duration", FieldType::Long),
    ("event.risk_score", FieldType::Double),
    ("event.risk_score_norm", FieldType::Double),
    ("event.sequence", FieldType::Long),
    ("event.severity", FieldType::Long),
    (
        "okta.authentication_context.authentication_step",
        FieldType::Long,
    ),
    ("okta.security_context.as.number", FieldType::Long),
    ("source.as.number", FieldType::Long),
    ("source.port", FieldType::Long),
    // Booleans of the Okta integration.
    ("okta.device.managed", FieldType::Boolean),
    ("okta.device.registered", FieldType::Boolean),
    ("okta.device.secure_hardware_present", FieldType::Boolean),
    ("okta.security_context.is_proxy", FieldType::Boolean),
    // Geo points.
    ("client.geo.location", FieldType::GeoPoint),
    ("destination.geo.location", FieldType::GeoPoint),
    ("source.geo.location", FieldType::GeoPoint),
    // Text (ECS `match_only_text`) and text multi-fields.
    ("error.message", FieldType::Text),
    ("message", FieldType::Text),
    (
        "client.user.full_name.text",
        FieldType::TextOf("client.user.full_name"),
    ),
    (
        "source.user.full_name.text",
        FieldType::TextOf("source.user.full_name"),
    ),
    ("user.full_name.text", FieldType::TextOf("user.full_name")),
    ("user.name.text", FieldType::TextOf("user.name")),
    (
        "user_agent.original.text",
        FieldType::TextOf("user_agent.original"),
    ),
    (
        "user_agent.os.full.text",
        FieldType::TextOf("user_agent.os.full"),
    ),
    (
        "user_agent.os.name.text",
        FieldType::TextOf("user_agent.os.name"),
    ),
    // Not indexed (ECS: `index: false`).
    ("event.original", FieldType::NotIndexed),
    // Kibana's security alerts index (`.alerts-security.alerts-*`, for rules that read alerts):
    // the non-keyword fields of its mapping (security `alertsFieldMap` and the alerting
    // framework's `alertFieldMap`); every other `kibana.*` leaf is a keyword (see KEYWORD_ROOTS).
    ("kibana.alert.ancestors.depth", FieldType::Long),
    ("kibana.alert.depth", FieldType::Long),
    ("kibana.alert.group.index", FieldType::Long),
    ("kibana.alert.intended_timestamp", FieldType::Date),
    ("kibana.alert.last_detected", FieldType::Date),
    ("kibana.alert.original_event.created", FieldType::Date),
    ("kibana.alert.original_event.end", FieldType::Date),
    ("kibana.alert.original_event.ingested", FieldType::Date),
    ("kibana.alert.original_event.risk_score", FieldType::Double),
    (
        "kibana.alert.original_event.risk_score_norm",
        FieldType::Double,
    ),
    ("kibana.alert.original_event.sequence", FieldType::Long),
    ("kibana.alert.original_event.severity", FieldType::Long),
    ("kibana.alert.original_event.start", FieldType::Date),
    ("kibana.alert.original_time", FieldType::Date),
    (
        "kibana.alert.reason.text",
        FieldType::TextOf("kibana.alert.reason"),
    ),
    ("kibana.alert.risk_score", FieldType::Double),
    ("kibana.alert.rule.created_at", FieldType::Date),
    ("kibana.alert.rule.execution.timestamp", FieldType::Date),
    ("kibana.alert.rule.updated_at", FieldType::Date),
    ("kibana.alert.start", FieldType::Date),
    ("kibana.alert.suppression.docs_count", FieldType::Long),
    ("kibana.alert.suppression.end", FieldType::Date),
    ("kibana.alert.suppression.start", FieldType::Date),
    (
        "kibana.alert.threshold_result.cardinality.value",
        FieldType::Long,
    ),
    ("kibana.alert.threshold_result.count", FieldType::Long),
    ("kibana.alert.threshold_result.from", FieldType::Date),
];

/// `signal.*` field aliases of Kibana's alerts index: the 7.x signal field names, kept so that
/// rules and searches written for `.siem-signals-*` still work (`getAliasesFieldMap` maps each
/// to `type: alias, path: <kibana.alert.* field>`). Elasticsearch answers a query on an alias
/// from its target field; the alias has no value of its own. Source:
/// `x-pack/plugins/security_solution/server/lib/detection_engine/routes/index/signal_aad_mapping.json`
/// @ `d53e2e1fc4638229e75642ee1aa428ac7aac2071`. Sorted by alias.
static ALIASES: &[(&str, &str)] = &[
    ("signal.ancestors.depth", "kibana.alert.ancestors.depth"),
    ("signal.ancestors.id", "kibana.alert.ancestors.id"),
    ("signal.ancestors.index", "kibana.alert.ancestors.index"),
    ("signal.ancestors.type", "kibana.alert.ancestors.type"),
    ("signal.depth", "kibana.alert.depth"),
    ("signal.group.id", "kibana.alert.group.id"),
    ("signal.group.index", "kibana.alert.group.index"),
    (
        "signal.original_event.action",
        "kibana.alert.original_event.action",
    ),
    (
        "signal.original_event.category",
        "kibana.alert.original_event.category",
    ),
    (
        "signal.original_event.code",
        "kibana.alert.original_event.code",
    ),
    (
        "signal.original_event.created",
        "kibana.alert.original_event.created",
    ),
    (
        "signal.original_event.dataset",
        "kibana.alert.original_event.dataset",
    ),
    (
        "signal.original_event.duration",
        "kibana.alert.original_event.duration",
    ),
    (
        "signal.original_event.end",
        "kibana.alert.original_event.end",
    ),
    (
        "signal.original_event.hash",
        "kibana.alert.original_event.hash",
    ),
    ("signal.original_event.id", "kibana.alert.original_event.id"),
    (
        "signal.original_event.kind",
        "kibana.alert.original_event.kind",
    ),
    (
        "signal.original_event.module",
        "kibana.alert.original_event.module",
    ),
    (
        "signal.original_event.outcome",
        "kibana.alert.original_event.outcome",
    ),
    (
        "signal.original_event.provider",
        "kibana.alert.original_event.provider",
    ),
    (
        "signal.original_event.reason",
        "kibana.alert.original_event.reason",
    ),
    (
        "signal.original_event.risk_score",
        "kibana.alert.original_event.risk_score",
    ),
    (
        "signal.original_event.risk_score_norm",
        "kibana.alert.original_event.risk_score_norm",
    ),
    (
        "signal.original_event.sequence",
        "kibana.alert.original_event.sequence",
    ),
    (
        "signal.original_event.severity",
        "kibana.alert.original_event.severity",
    ),
    (
        "signal.original_event.start",
        "kibana.alert.original_event.start",
    ),
    (
        "signal.original_event.timezone",
        "kibana.alert.original_event.timezone",
    ),
    (
        "signal.original_event.type",
        "kibana.alert.original_event.type",
    ),
    ("signal.original_time", "kibana.alert.original_time"),
    ("signal.reason", "kibana.alert.reason"),
    ("signal.rule.author", "kibana.alert.rule.author"),
    (
        "signal.rule.building_block_type",
        "kibana.alert.building_block_type",
    ),
    ("signal.rule.created_at", "kibana.alert.rule.created_at"),
    ("signal.rule.created_by", "kibana.alert.rule.created_by"),
    ("signal.rule.description", "kibana.alert.rule.description"),
    ("signal.rule.enabled", "kibana.alert.rule.enabled"),
    (
        "signal.rule.false_positives",
        "kibana.alert.rule.false_positives",
    ),
    ("signal.rule.from", "kibana.alert.rule.from"),
    ("signal.rule.id", "kibana.alert.rule.uuid"),
    ("signal.rule.immutable", "kibana.alert.rule.immutable"),
    ("signal.rule.interval", "kibana.alert.rule.interval"),
    ("signal.rule.license", "kibana.alert.rule.license"),
    ("signal.rule.max_signals", "kibana.alert.rule.max_signals"),
    ("signal.rule.name", "kibana.alert.rule.name"),
    ("signal.rule.note", "kibana.alert.rule.note"),
    ("signal.rule.references", "kibana.alert.rule.references"),
    ("signal.rule.risk_score", "kibana.alert.risk_score"),
    ("signal.rule.rule_id", "kibana.alert.rule.rule_id"),
    (
        "signal.rule.rule_name_override",
        "kibana.alert.rule.rule_name_override",
    ),
    ("signal.rule.severity", "kibana.alert.severity"),
    ("signal.rule.tags", "kibana.alert.rule.tags"),
    (
        "signal.rule.threat.framework",
        "kibana.alert.rule.threat.framework",
    ),
    (
        "signal.rule.threat.tactic.id",
        "kibana.alert.rule.threat.tactic.id",
    ),
    (
        "signal.rule.threat.tactic.name",
        "kibana.alert.rule.threat.tactic.name",
    ),
    (
        "signal.rule.threat.tactic.reference",
        "kibana.alert.rule.threat.tactic.reference",
    ),
    (
        "signal.rule.threat.technique.id",
        "kibana.alert.rule.threat.technique.id",
    ),
    (
        "signal.rule.threat.technique.name",
        "kibana.alert.rule.threat.technique.name",
    ),
    (
        "signal.rule.threat.technique.reference",
        "kibana.alert.rule.threat.technique.reference",
    ),
    (
        "signal.rule.threat.technique.subtechnique.id",
        "kibana.alert.rule.threat.technique.subtechnique.id",
    ),
    (
        "signal.rule.threat.technique.subtechnique.name",
        "kibana.alert.rule.threat.technique.subtechnique.name",
    ),
    (
        "signal.rule.threat.technique.subtechnique.reference",
        "kibana.alert.rule.threat.technique.subtechnique.reference",
    ),
    ("signal.rule.timeline_id", "kibana.alert.rule.timeline_id"),
    (
        "signal.rule.timeline_title",
        "kibana.alert.rule.timeline_title",
    ),
    (
        "signal.rule.timestamp_override",
        "kibana.alert.rule.timestamp_override",
    ),
    ("signal.rule.to", "kibana.alert.rule.to"),
    ("signal.rule.type", "kibana.alert.rule.type"),
    ("signal.rule.updated_at", "kibana.alert.rule.updated_at"),
    ("signal.rule.updated_by", "kibana.alert.rule.updated_by"),
    ("signal.rule.version", "kibana.alert.rule.version"),
    ("signal.status", "kibana.alert.workflow_status"),
    (
        "signal.threshold_result.cardinality.field",
        "kibana.alert.threshold_result.cardinality.field",
    ),
    (
        "signal.threshold_result.cardinality.value",
        "kibana.alert.threshold_result.cardinality.value",
    ),
    (
        "signal.threshold_result.count",
        "kibana.alert.threshold_result.count",
    ),
    (
        "signal.threshold_result.from",
        "kibana.alert.threshold_result.from",
    ),
    (
        "signal.threshold_result.terms.field",
        "kibana.alert.threshold_result.terms.field",
    ),
    (
        "signal.threshold_result.terms.value",
        "kibana.alert.threshold_result.terms.value",
    ),
];

/// The field a query on `path` reads: the target of a field alias (`signal.rule.threat.tactic.name`
/// → `kibana.alert.rule.threat.tactic.name`), else `None` (the field itself). Compilers call this
/// before choosing a field's slot and type, as Elasticsearch resolves aliases at query time.
pub fn resolve_alias(path: &str) -> Option<&'static str> {
    if !path.starts_with("signal.") {
        return None;
    }
    ALIASES
        .binary_search_by(|(alias, _)| (*alias).cmp(path))
        .ok()
        .map(|i| ALIASES[i].1)
}

/// Fields mapped `flattened`: the field itself and every path below it.
static FLATTENED_ROOTS: &[&str] = &[
    "okta.debug_context.debug_data.flattened",
    "okta.request.ip_chain",
    "okta.target",
];

/// Object roots under which every unlisted leaf is a keyword (ECS and the Okta package map
/// strings there explicitly; `ignore_above` applies).
static KEYWORD_ROOTS: &[&str] = &[
    "client",
    "data_stream",
    "destination",
    "ecs",
    "event",
    "host",
    "kibana",
    "okta",
    "related",
    "source",
    "tags",
    "user",
    "user_agent",
];

/// The type of `path` when the table lists it by exact name (a hash lookup: the alert builder
/// asks for every field of every alerting event).
pub fn exact_type(path: &str) -> Option<FieldType> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, FieldType>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| FIELDS.iter().copied().collect())
        .get(path)
        .copied()
}

/// The mapping type of `path` (a dotted field name).
pub fn field_type(path: &str) -> FieldType {
    if let Some(t) = exact_type(path) {
        return t;
    }
    if FLATTENED_ROOTS
        .iter()
        .any(|root| is_at_or_below(path, root))
    {
        return FieldType::Flattened;
    }
    if KEYWORD_ROOTS.iter().any(|root| is_at_or_below(path, root)) {
        return KEYWORD;
    }
    FieldType::Dynamic
}

/// For a flattened field, the root (`okta.target` for `okta.target.id`).
pub fn flattened_root(path: &str) -> Option<&'static str> {
    FLATTENED_ROOTS
        .iter()
        .copied()
        .find(|root| is_at_or_below(path, root))
}

fn is_at_or_below(path: &str, root: &str) -> bool {
    path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_of_fields_okta_rules_depend_on() {
        assert_eq!(field_type("source.ip"), FieldType::Ip);
        assert_eq!(
            field_type("okta.security_context.is_proxy"),
            FieldType::Boolean
        );
        assert_eq!(field_type("okta.target.id"), FieldType::Flattened);
        assert_eq!(field_type("okta.target"), FieldType::Flattened);
        assert_eq!(field_type("okta.targets"), KEYWORD);
        assert_eq!(field_type("event.action"), KEYWORD);
        assert_eq!(
            field_type("data_stream.dataset"),
            FieldType::ConstantKeyword
        );
        assert_eq!(field_type("labels.custom"), FieldType::Dynamic);
        assert_eq!(
            flattened_root("okta.debug_context.debug_data.flattened.grantType"),
            Some("okta.debug_context.debug_data.flattened")
        );
    }

    #[test]
    fn alert_fields_have_the_alerts_index_types() {
        assert_eq!(field_type("kibana.alert.severity"), KEYWORD);
        assert_eq!(field_type("kibana.alert.rule.rule_id"), KEYWORD);
        assert_eq!(field_type("kibana.alert.rule.threat.tactic.name"), KEYWORD);
        assert_eq!(field_type("kibana.alert.risk_score"), FieldType::Double);
        assert_eq!(field_type("kibana.alert.depth"), FieldType::Long);
        assert_eq!(field_type("kibana.alert.original_time"), FieldType::Date);
        assert_eq!(
            field_type("kibana.alert.reason.text"),
            FieldType::TextOf("kibana.alert.reason")
        );
    }

    #[test]
    fn signal_aliases_resolve_to_their_kibana_alert_targets() {
        assert!(
            ALIASES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted for the binary search"
        );
        assert_eq!(
            resolve_alias("signal.rule.threat.tactic.name"),
            Some("kibana.alert.rule.threat.tactic.name")
        );
        // Renamed targets, not a plain prefix swap.
        assert_eq!(
            resolve_alias("signal.rule.id"),
            Some("kibana.alert.rule.uuid")
        );
        assert_eq!(
            resolve_alias("signal.status"),
            Some("kibana.alert.workflow_status")
        );
        assert_eq!(
            resolve_alias("signal.rule.severity"),
            Some("kibana.alert.severity")
        );
        assert_eq!(
            resolve_alias("signal.rule.query"),
            None,
            "not an alias in 8.x"
        );
        assert_eq!(resolve_alias("kibana.alert.severity"), None);
        assert_eq!(resolve_alias("signal"), None);
    }
}
