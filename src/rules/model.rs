//! The typed view of one detection-rules TOML file ([`Rule`]) and its parts.
//!
//! Field names follow the TOML keys (and so Kibana's snake-case rule parameters); defaults are
//! the ones `elastic/detection-rules` and Kibana apply when a key is absent. Besides the typed
//! fields, a rule keeps its whole `[rule]` table ([`Rule::raw`]) so that keys rulestream does not
//! interpret still reach `kibana.alert.rule.parameters`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::diag::{line_col, Span};

/// `kibana.alert.rule.from` when the TOML has no `from` (Kibana's default look-back).
pub const DEFAULT_FROM: &str = "now-6m";
/// `to` default.
pub const DEFAULT_TO: &str = "now";
/// Kibana's default rule schedule.
pub const DEFAULT_INTERVAL: &str = "5m";
/// Kibana's default `max_signals` (alerts per run).
pub const DEFAULT_MAX_SIGNALS: u32 = 100;
/// UUID v5 name prefix for [`Rule::uuid`] (alert-schema §6).
const RULE_UUID_PREFIX: &str = "rulestream:rule:";

/// One loaded detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// File the rule was read from.
    pub path: PathBuf,
    /// `rule_id`: stable, installation-independent id (a UUID for Elastic rules).
    pub rule_id: String,
    /// `name`.
    pub name: String,
    /// `description`, whitespace-normalised as Elastic's packager does (each line stripped,
    /// lines joined with one space), i.e. what Kibana shows.
    pub description: String,
    /// `type`.
    pub rule_type: RuleType,
    /// `language`, or the default of the rule type when absent.
    pub language: Language,
    /// `query`, verbatim (a `'''` block keeps its trailing newline).
    pub query: Option<String>,
    /// `index` patterns (empty when absent, e.g. ES|QL rules name indices in the query).
    pub index: Vec<String>,
    /// `from` (look-back start as date math), default `now-6m`.
    pub from: String,
    /// `to`, default `now`.
    pub to: String,
    /// `interval` (schedule), default `5m`.
    pub interval: String,
    /// `timestamp_override`: field used as event time for windows, e.g. `event.ingested`.
    pub timestamp_override: Option<String>,
    /// `severity`.
    pub severity: Severity,
    /// `risk_score`, 0–100.
    pub risk_score: u8,
    /// `tags` (empty when absent).
    pub tags: Vec<String>,
    /// `author`.
    pub author: Vec<String>,
    /// `license`.
    pub license: Option<String>,
    /// `references` (empty when absent).
    pub references: Vec<String>,
    /// `false_positives`, whitespace-normalised like `description` (empty when absent).
    pub false_positives: Vec<String>,
    /// `note` (investigation guide, Markdown, verbatim).
    pub note: Option<String>,
    /// `setup` (Markdown, verbatim).
    pub setup: Option<String>,
    /// `max_signals`, default 100.
    pub max_signals: u32,
    /// `building_block_type` (`default` for building-block rules).
    pub building_block_type: Option<String>,
    /// `[[rule.threat]]` MITRE ATT&CK mapping, in TOML order.
    pub threat: Vec<Threat>,
    /// `[rule.threshold]` (threshold rules).
    pub threshold: Option<Threshold>,
    /// `[rule.new_terms]` (new_terms rules).
    pub new_terms: Option<NewTerms>,
    /// `[rule.alert_suppression]`.
    pub alert_suppression: Option<AlertSuppression>,
    /// `[[rule.risk_score_mapping]]` (empty when absent).
    pub risk_score_mapping: Vec<RiskScoreMapping>,
    /// `[[rule.severity_mapping]]` (empty when absent).
    pub severity_mapping: Vec<SeverityMapping>,
    /// `rule_name_override`: event field whose string value replaces the rule name on alerts.
    pub rule_name_override: Option<String>,
    /// `[metadata]`.
    pub metadata: Metadata,
    /// Rule content version (see [`VersionSource`] for where it came from).
    pub version: u32,
    /// Where [`Rule::version`] came from.
    pub version_source: VersionSource,
    /// The whole `[rule]` table as written (unknown keys included, nothing normalised).
    pub raw: toml::Table,
    /// Modification time of the file (fallback for `created_at`/`updated_at`).
    pub modified: Option<SystemTime>,
    /// The file's text (shared), for positions of the query and of keys.
    pub(crate) source_text: Arc<str>,
    /// The query string token (with its quotes) in [`Rule::source_text`].
    pub(crate) query_token: Option<Span>,
    /// The `rule_id` value in the file (for duplicate-id errors).
    pub(crate) rule_id_span: Option<Span>,
}

impl Rule {
    /// `kibana.alert.rule.uuid` for this rule: UUID v5 (URL namespace) of
    /// `rulestream:rule:<rule_id>` — stable across restarts and rule versions, and distinct from
    /// any Kibana saved-object id (alert-schema §6).
    pub fn uuid(&self) -> String {
        rule_uuid(&self.rule_id)
    }

    /// Whether the rule is an Elastic prebuilt rule: `author` contains `Elastic` (case-insensitive
    /// exact entry), the test `detection_rules.rule.BaseRuleData.is_elastic_rule` uses.
    pub fn is_elastic(&self) -> bool {
        self.author
            .iter()
            .any(|a| a.eq_ignore_ascii_case("elastic"))
    }

    /// 1-based (line, column) in the rule file of byte `offset_in_query` of [`Rule::query`], so
    /// query parse errors can be reported as `file:line:col`. Exact for literal strings and for
    /// basic strings (escapes are walked); offsets past the end map to the closing quotes.
    /// `(0, 0)` when the rule has no query.
    pub fn query_position(&self, offset_in_query: usize) -> (usize, usize) {
        match self.query_file_offset(offset_in_query) {
            Some(off) => {
                let lc = line_col(&self.source_text, off);
                (lc.line, lc.column)
            }
            None => (0, 0),
        }
    }

    /// Byte offset in the rule file of byte `offset_in_query` of the query (see
    /// [`Rule::query_position`]).
    pub fn query_file_offset(&self, offset_in_query: usize) -> Option<usize> {
        let token = self.query_token?;
        Some(string_file_offset(
            &self.source_text,
            token,
            offset_in_query,
        ))
    }

    /// The whole rule file's text (for rendering carets under query errors with
    /// `crate::diag::render_caret`).
    pub fn file_text(&self) -> &str {
        &self.source_text
    }
}

/// `kibana.alert.rule.uuid` for a `rule_id` (see [`Rule::uuid`]).
pub fn rule_uuid(rule_id: &str) -> String {
    let name = format!("{RULE_UUID_PREFIX}{rule_id}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// Maps byte `offset` of the decoded value of the TOML string token at `token` (quotes
/// included) to a byte offset in `file_text`.
fn string_file_offset(file_text: &str, token: Span, offset: usize) -> usize {
    {
        let raw = file_text.get(token.start..token.end).unwrap_or("");
        let (quote, literal) = if raw.starts_with("'''") {
            (3, true)
        } else if raw.starts_with("\"\"\"") {
            (3, false)
        } else if raw.starts_with('\'') {
            (1, true)
        } else {
            (1, false)
        };
        let body_end = raw.len().saturating_sub(quote).max(quote);
        let mut start = quote.min(raw.len());
        // TOML drops a newline right after the opening delimiter of a multi-line string.
        if quote == 3 {
            if raw[start..].starts_with("\r\n") {
                start += 2;
            } else if raw[start..].starts_with('\n') {
                start += 1;
            }
        }
        let body = raw.get(start..body_end).unwrap_or("");
        let in_body = if literal {
            offset.min(body.len())
        } else {
            basic_raw_offset(body, offset)
        };
        token.start + start + in_body
    }
}

/// Walks a TOML basic-string body, decoding escapes, until `decoded` bytes were produced; returns
/// the raw offset reached.
fn basic_raw_offset(body: &str, decoded: usize) -> usize {
    let bytes = body.as_bytes();
    let mut raw = 0;
    let mut out = 0;
    while raw < bytes.len() && out < decoded {
        if bytes[raw] != b'\\' {
            let ch_len = body
                .get(raw..)
                .and_then(|rest| rest.chars().next())
                .map_or(1, char::len_utf8);
            raw += ch_len;
            out += ch_len;
            continue;
        }
        let next = bytes.get(raw + 1).copied();
        match next {
            Some(b'u') | Some(b'U') | Some(b'x') => {
                let digits = match next {
                    Some(b'u') => 4,
                    Some(b'U') => 8,
                    _ => 2,
                };
                let hex = body.get(raw + 2..raw + 2 + digits).unwrap_or("");
                let ch = u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                raw += 2 + digits;
                out += ch.len_utf8();
            }
            Some(b' ') | Some(b'\t') | Some(b'\r') | Some(b'\n') => {
                // Line-ending backslash: it and all following whitespace decode to nothing.
                raw += 1;
                while raw < bytes.len() && matches!(bytes[raw], b' ' | b'\t' | b'\r' | b'\n') {
                    raw += 1;
                }
            }
            _ => {
                raw += 2;
                out += 1;
            }
        }
    }
    // An offset that lands on a line-ending backslash means the first character after it.
    if bytes.get(raw) == Some(&b'\\')
        && matches!(bytes.get(raw + 1), Some(b' ' | b'\t' | b'\r' | b'\n'))
    {
        let rest = body.get(raw + 1..).unwrap_or("");
        let ws = rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
        raw += 1 + ws;
    }
    raw.min(bytes.len())
}

/// `type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleType {
    Query,
    Threshold,
    NewTerms,
    Eql,
    Esql,
    /// Any other type (`saved_query`, `threat_match`, `machine_learning`, …), kept by name.
    Other(String),
}

impl RuleType {
    pub fn parse(s: &str) -> RuleType {
        match s {
            "query" => RuleType::Query,
            "threshold" => RuleType::Threshold,
            "new_terms" => RuleType::NewTerms,
            "eql" => RuleType::Eql,
            "esql" => RuleType::Esql,
            other => RuleType::Other(other.to_string()),
        }
    }

    /// The TOML / Kibana name (`kibana.alert.rule.type`).
    pub fn as_str(&self) -> &str {
        match self {
            RuleType::Query => "query",
            RuleType::Threshold => "threshold",
            RuleType::NewTerms => "new_terms",
            RuleType::Eql => "eql",
            RuleType::Esql => "esql",
            RuleType::Other(s) => s,
        }
    }

    /// The language detection-rules assumes for this type when `language` is absent.
    pub fn default_language(&self) -> Language {
        match self {
            RuleType::Eql => Language::Eql,
            RuleType::Esql => Language::Esql,
            _ => Language::Kuery,
        }
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `language`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Language {
    Kuery,
    Lucene,
    Eql,
    Esql,
    Other(String),
}

impl Language {
    pub fn parse(s: &str) -> Language {
        match s {
            "kuery" => Language::Kuery,
            "lucene" => Language::Lucene,
            "eql" => Language::Eql,
            "esql" => Language::Esql,
            other => Language::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Language::Kuery => "kuery",
            Language::Lucene => "lucene",
            Language::Eql => "eql",
            Language::Esql => "esql",
            Language::Other(s) => s,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alert severity, ordered from lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[rule.threat]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threat {
    /// `framework`, normally `MITRE ATT&CK`.
    pub framework: String,
    pub tactic: MitreRef,
    /// `[[rule.threat.technique]]`, empty when the entry has none.
    pub technique: Vec<Technique>,
}

/// A tactic or sub-technique: `{id, name, reference}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MitreRef {
    pub id: String,
    pub name: String,
    pub reference: String,
}

/// `[[rule.threat.technique]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub reference: String,
    /// `[[rule.threat.technique.subtechnique]]`, empty when none.
    pub subtechnique: Vec<MitreRef>,
}

/// `[rule.threshold]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// Group-by fields (`field` may be a string or a list in TOML; empty = one group).
    pub field: Vec<String>,
    /// Minimum number of events per group.
    pub value: u64,
    /// `[[rule.threshold.cardinality]]`.
    pub cardinality: Vec<ThresholdCardinality>,
}

/// Distinct-count condition of a threshold rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdCardinality {
    pub field: String,
    pub value: u64,
}

/// `[rule.new_terms]`: stored in TOML as `field = "new_terms_fields"`, `value = [..]` plus
/// `[[rule.new_terms.history_window_start]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTerms {
    /// The fields whose (combined) values must be new (`new_terms_fields`).
    pub fields: Vec<String>,
    /// Start of the history window as date math, e.g. `now-14d`.
    pub history_window_start: String,
}

/// `[rule.alert_suppression]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSuppression {
    /// Fields whose values define a suppression group (empty for threshold rules, which group by
    /// their threshold fields).
    pub group_by: Vec<String>,
    /// `[rule.alert_suppression.duration]`; `None` = per rule execution.
    pub duration: Option<SuppressionDuration>,
    pub missing_fields_strategy: MissingFieldsStrategy,
}

/// Suppression window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressionDuration {
    pub value: u64,
    pub unit: DurationUnit,
}

impl SuppressionDuration {
    pub fn as_secs(&self) -> u64 {
        self.value.saturating_mul(match self.unit {
            DurationUnit::Seconds => 1,
            DurationUnit::Minutes => 60,
            DurationUnit::Hours => 3600,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Seconds,
    Minutes,
    Hours,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
        }
    }
}

/// What suppression does with events lacking a group-by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingFieldsStrategy {
    /// Missing counts as the value `null` (Kibana default).
    #[default]
    Suppress,
    /// Such events get ordinary, unsuppressed alerts.
    DoNotSuppress,
}

impl MissingFieldsStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingFieldsStrategy::Suppress => "suppress",
            MissingFieldsStrategy::DoNotSuppress => "doNotSuppress",
        }
    }
}

/// `[[rule.severity_mapping]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityMapping {
    pub field: String,
    /// Always `equals` in Kibana.
    pub operator: String,
    pub value: String,
    pub severity: Severity,
}

/// `[[rule.risk_score_mapping]]` (Kibana uses only the first entry's `field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskScoreMapping {
    pub field: String,
    pub operator: String,
    pub value: String,
}

/// `[metadata]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// `YYYY/MM/DD`.
    pub creation_date: Option<String>,
    /// `YYYY/MM/DD`.
    pub updated_date: Option<String>,
    /// Fleet integration package names, e.g. `["okta"]`.
    pub integration: Vec<String>,
    /// `production`, `development`, `deprecated`, …
    pub maturity: Option<String>,
    /// The whole table as written.
    pub raw: toml::Table,
}

/// Where the rule's version number came from (alert-schema §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `detection_rules/etc/version.lock.json` of the enclosing detection-rules clone.
    LockFile(PathBuf),
    /// The TOML's own `version` key.
    Toml,
    /// Neither: version 1.
    Default,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_uuid_matches_alert_schema_example() {
        // alert-schema §5: UUID v5 (URL namespace) of `rulestream:rule:<rule_id>`.
        assert_eq!(
            rule_uuid("cdbebdc1-dc97-43c6-a538-f26a20c0a911"),
            "dca758f5-0d6c-56e7-9296-dff9e4fab862"
        );
    }

    #[test]
    fn basic_string_offsets_skip_escapes() {
        // body `a\"b\u00e9c` decodes to `a"béc`: decoded offsets → raw offsets.
        let body = r#"a\"b\u00e9c"#;
        let cases = [(0, 0), (1, 1), (2, 3), (3, 4), (5, 10), (6, 11), (99, 11)];
        for (decoded, raw) in cases {
            assert_eq!(basic_raw_offset(body, decoded), raw, "decoded {decoded}");
        }
    }

    #[test]
    fn line_ending_backslash_decodes_to_nothing() {
        let body = "ab\\\n   cd";
        // decoded "abcd": offset 2 ('c') sits after the continuation.
        assert_eq!(basic_raw_offset(body, 3), 8);
        assert_eq!(basic_raw_offset(body, 2), 7);
    }

    #[test]
    fn severities_order_from_low_to_critical() {
        assert!(Severity::Low < Severity::Critical);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("High"), None);
    }
}
