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
];

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
}
