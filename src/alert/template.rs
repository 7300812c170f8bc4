//! [`RuleTemplate`]: everything about an alert that depends only on the rule, computed once per
//! rule, and the per-event assembly of a query-rule alert from it (alert-schema §1–2).
//!
//! Design: the template holds the constant top-level fields (`kibana.alert.rule.*`, parameters,
//! status fields) as a ready JSON map; building an alert is a source copy, three mapping lookups,
//! the reason, one SHA-256 and a map extend — no per-event work on the rule.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::rules::{RiskScoreMapping, Rule, Severity, SeverityMapping};

use super::ancestor::Ancestor;
use super::ecs::copy_source;
use super::fields::{get_path, has_root};
use super::id::query_alert_id;
use super::mapping::{risk_score_for, rule_name_for, score_json, severity_for};
use super::params::{
    ecs_rule_mirror, ecs_threat_mirror, parameters_json, threat_json, type_id_and_category,
};
use super::reason::build_reason;
use super::time::{format_ms, parse_json_date};
use super::{Alert, AlertContext};

/// The rule-dependent, event-independent part of every alert of one rule.
#[derive(Debug, Clone)]
pub struct RuleTemplate {
    rule_uuid: String,
    space_id: String,
    name: String,
    severity: Severity,
    risk_score: f64,
    severity_mapping: Vec<SeverityMapping>,
    risk_score_mapping: Vec<RiskScoreMapping>,
    rule_name_override: Option<String>,
    timestamp_override: Option<String>,
    /// `<public_base_url>[/s/<space>]` when a public URL is configured.
    url_base: Option<String>,
    /// Constant top-level fields, inserted into every alert.
    fixed: Map<String, Value>,
    /// `fixed` serialized once as `"key":value` pairs (no braces), minus the keys every alert
    /// sets itself: [`RuleTemplate::build_json`] splices it in instead of cloning and
    /// re-serializing the rule (its `note` alone is kilobytes) for every alert.
    fixed_json: Vec<u8>,
    /// ECS `rule` mirror without `name`; `None` when the mirror is off.
    ecs_rule: Option<Map<String, Value>>,
    /// ECS `threat` mirror; `None` when off or the rule has no threat mapping.
    ecs_threat: Option<Value>,
}

/// Per-event values an alert builder for any rule type supplies to [`RuleTemplate::assemble`].
#[derive(Debug, Clone)]
pub struct AlertParts {
    /// `kibana.alert.uuid` / `_id`.
    pub id: String,
    /// `kibana.alert.ancestors`.
    pub ancestors: Vec<Value>,
    /// `kibana.alert.depth`.
    pub depth: u32,
    /// `kibana.alert.original_time`, when known.
    pub original_time: Option<DateTime<Utc>>,
    /// Final severity, risk score and rule name (after overrides).
    pub severity: Severity,
    pub risk_score: f64,
    pub rule_name: String,
    pub reason: String,
}

impl RuleTemplate {
    /// Precomputes the template of `rule` under `ctx` (rule uuid from `ctx.rule_uuids` when
    /// mapped, else [`Rule::uuid`]).
    pub fn new(rule: &Rule, ctx: &AlertContext) -> RuleTemplate {
        let rule_uuid = ctx
            .rule_uuids
            .get(&rule.rule_id)
            .cloned()
            .unwrap_or_else(|| rule.uuid());
        let (rule_type_id, category) = type_id_and_category(&rule.rule_type);
        let created_at = date_or_mtime(rule.metadata.creation_date.as_deref(), rule);
        let updated_at = date_or_mtime(rule.metadata.updated_date.as_deref(), rule);

        let mut f = Map::new();
        let mut put = |k: &str, v: Value| {
            f.insert(k.to_string(), v);
        };
        put("kibana.space_ids", json!([ctx.space_id]));
        put("kibana.version", ctx.kibana_version.clone().into());
        put("kibana.alert.status", "active".into());
        put("kibana.alert.workflow_status", "open".into());
        put("kibana.alert.workflow_tags", json!([]));
        put("kibana.alert.workflow_assignee_ids", json!([]));
        if let Some(bb) = &rule.building_block_type {
            put("kibana.alert.building_block_type", bb.clone().into());
            put("kibana.alert.rule.building_block_type", bb.clone().into());
        }
        put("kibana.alert.rule.rule_id", rule.rule_id.clone().into());
        put("kibana.alert.rule.uuid", rule_uuid.clone().into());
        put("kibana.alert.rule.type", rule.rule_type.as_str().into());
        put("kibana.alert.rule.rule_type_id", rule_type_id.into());
        put("kibana.alert.rule.category", category.into());
        put("kibana.alert.rule.consumer", "siem".into());
        put("kibana.alert.rule.producer", "siem".into());
        put(
            "kibana.alert.rule.description",
            rule.description.clone().into(),
        );
        put("kibana.alert.rule.severity", rule.severity.as_str().into());
        put("kibana.alert.rule.risk_score", rule.risk_score.into());
        let params = parameters_json(rule);
        put(
            "kibana.alert.rule.severity_mapping",
            params["severity_mapping"].clone(),
        );
        put(
            "kibana.alert.rule.risk_score_mapping",
            params["risk_score_mapping"].clone(),
        );
        put("kibana.alert.rule.tags", json!(rule.tags));
        put("kibana.alert.rule.threat", threat_json(&rule.threat));
        put("kibana.alert.rule.references", json!(rule.references));
        put("kibana.alert.rule.author", json!(rule.author));
        if let Some(l) = &rule.license {
            put("kibana.alert.rule.license", l.clone().into());
        }
        put("kibana.alert.rule.version", rule.version.into());
        put("kibana.alert.rule.revision", 0.into());
        put("kibana.alert.rule.from", rule.from.clone().into());
        put("kibana.alert.rule.to", rule.to.clone().into());
        put("kibana.alert.rule.interval", rule.interval.clone().into());
        if let Some(ts) = &rule.timestamp_override {
            put("kibana.alert.rule.timestamp_override", ts.clone().into());
        }
        put("kibana.alert.rule.indices", json!(rule.index));
        put("kibana.alert.rule.max_signals", rule.max_signals.into());
        put(
            "kibana.alert.rule.false_positives",
            json!(rule.false_positives),
        );
        put(
            "kibana.alert.rule.exceptions_list",
            params["exceptions_list"].clone(),
        );
        put("kibana.alert.rule.immutable", rule.is_elastic().into());
        put("kibana.alert.rule.enabled", true.into());
        put("kibana.alert.rule.actions", json!([]));
        if let Some(n) = &rule.note {
            put("kibana.alert.rule.note", n.clone().into());
        }
        if let Some(o) = &rule.rule_name_override {
            put("kibana.alert.rule.rule_name_override", o.clone().into());
        }
        for key in ["timeline_id", "timeline_title", "namespace"] {
            if let Some(toml::Value::String(s)) = rule.raw.get(key) {
                put(&format!("kibana.alert.rule.{key}"), s.clone().into());
            }
        }
        if let Some(Value::Object(meta)) = params.get("meta") {
            let mut flat = Vec::new();
            flatten("kibana.alert.rule.meta", meta, &mut flat);
            for (k, v) in flat {
                put(&k, v);
            }
        }
        if let Some(c) = created_at {
            put("kibana.alert.rule.created_at", c.into());
        }
        put(
            "kibana.alert.rule.created_by",
            ctx.created_by.clone().into(),
        );
        if let Some(u) = updated_at {
            put("kibana.alert.rule.updated_at", u.into());
        }
        put(
            "kibana.alert.rule.updated_by",
            ctx.created_by.clone().into(),
        );
        put(
            "kibana.alert.rule.execution.uuid",
            ctx.run_id.clone().into(),
        );
        put("kibana.alert.rule.execution.type", "scheduled".into());
        put("kibana.alert.rule.parameters", params);

        let url_base = ctx.public_base_url.as_deref().map(|base| {
            let base = base.trim_end_matches('/');
            if ctx.space_id == "default" {
                base.to_string()
            } else {
                format!("{base}/s/{}", ctx.space_id)
            }
        });
        let (ecs_rule, ecs_threat) = if ctx.ecs_rule_mirror {
            (
                Some(ecs_rule_mirror(rule, &rule_uuid)),
                ecs_threat_mirror(&rule.threat),
            )
        } else {
            (None, None)
        };
        RuleTemplate {
            rule_uuid,
            space_id: ctx.space_id.clone(),
            name: rule.name.clone(),
            severity: rule.severity,
            risk_score: f64::from(rule.risk_score),
            severity_mapping: rule.severity_mapping.clone(),
            risk_score_mapping: rule.risk_score_mapping.clone(),
            rule_name_override: rule.rule_name_override.clone(),
            timestamp_override: rule.timestamp_override.clone(),
            url_base,
            fixed_json: fixed_pairs_json(&f),
            fixed: f,
            ecs_rule,
            ecs_threat,
        }
    }

    /// `kibana.alert.rule.uuid` of this rule.
    pub fn rule_uuid(&self) -> &str {
        &self.rule_uuid
    }

    /// The alert of a query rule (also EQL single-event) for one matching `event`, built at `now`.
    pub fn build(
        &self,
        event: &Map<String, Value>,
        ancestor: &Ancestor,
        now: DateTime<Utc>,
    ) -> Alert {
        self.build_parts(event, ancestor, now, true, None)
    }

    /// [`RuleTemplate::build`] with another id (new_terms and suppressed alerts, alert-schema
    /// §2.1); the id also goes into `kibana.alert.url`.
    pub fn build_with_id(
        &self,
        event: &Map<String, Value>,
        ancestor: &Ancestor,
        now: DateTime<Utc>,
        id: String,
    ) -> Alert {
        self.build_parts(event, ancestor, now, true, Some(id))
    }

    /// `kibana.space_ids[0]` of this rule's alerts.
    pub fn space_id(&self) -> &str {
        &self.space_id
    }

    fn build_parts(
        &self,
        event: &Map<String, Value>,
        ancestor: &Ancestor,
        now: DateTime<Utc>,
        with_fixed: bool,
        id: Option<String>,
    ) -> Alert {
        let severity = self.severity_for(event);
        let risk_score = risk_score_for(event, self.risk_score, &self.risk_score_mapping);
        let rule_name = rule_name_for(event, &self.name, self.rule_name_override.as_deref());
        let reason = build_reason(event, severity.as_str(), rule_name);
        let parts = AlertParts {
            id: id.unwrap_or_else(|| {
                query_alert_id(
                    &ancestor.index,
                    &ancestor.id,
                    &self.space_id,
                    &self.rule_uuid,
                )
            }),
            ancestors: vec![ancestor.to_event_entry()],
            depth: 1,
            original_time: self.original_time(event),
            severity,
            risk_score,
            rule_name: rule_name.to_string(),
            reason,
        };
        self.assemble_with(copy_source(event).doc, parts, now, with_fixed)
    }

    /// [`RuleTemplate::build`] serialized to JSON bytes, the cheap way: the per-event fields are
    /// serialized, the rule's constant fields are spliced in pre-serialized. Same document.
    pub fn build_json(
        &self,
        event: &Map<String, Value>,
        ancestor: &Ancestor,
        now: DateTime<Utc>,
    ) -> (String, Vec<u8>) {
        let alert = self.build_parts(event, ancestor, now, false, None);
        let mut bytes = serde_json::to_vec(&alert.doc).unwrap_or_else(|_| b"{}".to_vec());
        if !self.fixed_json.is_empty() && bytes.last() == Some(&b'}') {
            bytes.pop();
            if bytes.len() > 1 {
                bytes.push(b',');
            }
            bytes.extend_from_slice(&self.fixed_json);
            bytes.push(b'}');
        }
        (alert.id, bytes)
    }

    /// Alert parts with the rule's own severity, risk score and name, no per-event overrides
    /// (Kibana's `applyOverrides: false`, used for EQL sequence building blocks and shells); the
    /// reason is built from `reason_source`.
    pub(crate) fn unoverridden_parts(
        &self,
        reason_source: &Map<String, Value>,
        id: String,
        ancestors: Vec<Value>,
        depth: u32,
        original_time: Option<DateTime<Utc>>,
    ) -> AlertParts {
        AlertParts {
            id,
            ancestors,
            depth,
            original_time,
            severity: self.severity,
            risk_score: self.risk_score,
            rule_name: self.name.clone(),
            reason: build_reason(reason_source, self.severity.as_str(), &self.name),
        }
    }

    /// The severity after `severity_mapping` for `event`.
    pub fn severity_for(&self, event: &Map<String, Value>) -> Severity {
        severity_for(event, self.severity, &self.severity_mapping)
    }

    /// `kibana.alert.original_time`: the event's `@timestamp` (Kibana), else — a rulestream
    /// addition — the `timestamp_override` field.
    pub fn original_time(&self, event: &Map<String, Value>) -> Option<DateTime<Utc>> {
        event
            .get("@timestamp")
            .and_then(parse_json_date)
            .or_else(|| {
                let field = self.timestamp_override.as_deref()?;
                get_path(event, field).and_then(parse_json_date)
            })
    }

    /// Overlays the alert fields on a cleaned source copy (`source`, from
    /// [`super::copy_source`]); shared by every rule type's builder.
    pub fn assemble(&self, source: Map<String, Value>, p: AlertParts, now: DateTime<Utc>) -> Alert {
        self.assemble_with(source, p, now, true)
    }

    fn assemble_with(
        &self,
        mut source: Map<String, Value>,
        p: AlertParts,
        now: DateTime<Utc>,
        with_fixed: bool,
    ) -> Alert {
        let now_s = format_ms(now);
        let mirror_rule = self.ecs_rule.is_some() && !has_root(&source, "rule");
        let mirror_threat = self.ecs_threat.is_some() && !has_root(&source, "threat");
        if with_fixed {
            source.extend(self.fixed.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut put = |k: &str, v: Value| {
            source.insert(k.to_string(), v);
        };
        put("@timestamp", now_s.clone().into());
        put("event.kind", "signal".into());
        put("kibana.alert.uuid", p.id.clone().into());
        put("kibana.alert.severity", p.severity.as_str().into());
        put("kibana.alert.risk_score", score_json(p.risk_score));
        put("kibana.alert.reason", p.reason.into());
        put("kibana.alert.depth", p.depth.into());
        put("kibana.alert.ancestors", Value::Array(p.ancestors));
        if let Some(t) = p.original_time {
            put("kibana.alert.original_time", format_ms(t).into());
        }
        put("kibana.alert.start", now_s.clone().into());
        put("kibana.alert.last_detected", now_s.clone().into());
        put("kibana.alert.intended_timestamp", now_s.clone().into());
        put(
            "kibana.alert.rule.execution.timestamp",
            now_s.clone().into(),
        );
        put("kibana.alert.rule.name", p.rule_name.clone().into());
        if let Some(base) = &self.url_base {
            let url = format!(
                "{base}/app/security/alerts/redirect/{id}?index=.alerts-security.alerts-{space}\
                 &timestamp={now_s}",
                id = p.id,
                space = self.space_id
            );
            put("kibana.alert.url", url.into());
        }
        if mirror_rule {
            if let Some(rule) = &self.ecs_rule {
                let mut rule = rule.clone();
                rule.insert("name".into(), p.rule_name.into());
                put("rule", Value::Object(rule));
            }
        }
        if mirror_threat {
            if let Some(threat) = &self.ecs_threat {
                put("threat", threat.clone());
            }
        }
        Alert {
            id: p.id,
            doc: Value::Object(source),
        }
    }
}

/// Keys [`RuleTemplate::assemble`] writes per alert; a constant field of the same name would be
/// overwritten, so it is left out of the pre-serialized constant part.
const PER_ALERT_KEYS: &[&str] = &[
    "@timestamp",
    "event.kind",
    "kibana.alert.uuid",
    "kibana.alert.severity",
    "kibana.alert.risk_score",
    "kibana.alert.reason",
    "kibana.alert.depth",
    "kibana.alert.ancestors",
    "kibana.alert.original_time",
    "kibana.alert.start",
    "kibana.alert.last_detected",
    "kibana.alert.intended_timestamp",
    "kibana.alert.rule.execution.timestamp",
    "kibana.alert.rule.name",
    "kibana.alert.url",
    "rule",
    "threat",
];

/// `"k":v,"k2":v2` for the constant fields (see [`RuleTemplate::build_json`]).
fn fixed_pairs_json(fixed: &Map<String, Value>) -> Vec<u8> {
    let pairs: Map<String, Value> = fixed
        .iter()
        .filter(|(k, _)| !PER_ALERT_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut bytes = serde_json::to_vec(&pairs).unwrap_or_else(|_| b"{}".to_vec());
    // Strip the braces: the pairs are spliced into another object.
    bytes.pop();
    bytes.remove(0);
    bytes
}

/// `YYYY/MM/DD` → `YYYY-MM-DDT00:00:00.000Z`; without a date, the file's modification time.
fn date_or_mtime(date: Option<&str>, rule: &Rule) -> Option<String> {
    if let Some(d) = date {
        return Some(format!("{}T00:00:00.000Z", d.replace('/', "-")));
    }
    rule.modified.map(|m| format_ms(DateTime::<Utc>::from(m)))
}

fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in map {
        let key = format!("{prefix}.{k}");
        match v {
            Value::Object(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}
