//! The rule-derived, event-independent parts of an alert: `kibana.alert.rule.parameters`, the
//! `kibana.alert.rule.threat` structure, and the ECS `rule.*` / `threat.*` mirror
//! (alert-schema §1.3, §1.5, §1.7).

use serde_json::{json, Map, Value};

use crate::rules::{nested_normalize, toml_to_json, Rule, RuleType, Threat};

/// `[rule]` keys Kibana keeps outside `parameters` (as `kibana.alert.rule.<key>` or rule
/// saved-object attributes), plus `new_terms`, which is translated.
const NOT_PARAMETERS: &[&str] = &[
    "name",
    "tags",
    "interval",
    "enabled",
    "throttle",
    "actions",
    "revision",
    "new_terms",
];

/// `kibana.alert.rule.threat`: one object per `[[rule.threat]]`, `technique: []` when the entry
/// has none (as Elastic's packager writes it), `subtechnique` only when present.
pub fn threat_json(threat: &[Threat]) -> Value {
    let mitre = |id: &str, name: &str, reference: &str| json!({ "id": id, "name": name, "reference": reference });
    Value::Array(
        threat
            .iter()
            .map(|t| {
                let technique: Vec<Value> = t
                    .technique
                    .iter()
                    .map(|tech| {
                        let mut o = mitre(&tech.id, &tech.name, &tech.reference);
                        if !tech.subtechnique.is_empty() {
                            o["subtechnique"] = Value::Array(
                                tech.subtechnique
                                    .iter()
                                    .map(|s| mitre(&s.id, &s.name, &s.reference))
                                    .collect(),
                            );
                        }
                        o
                    })
                    .collect();
                json!({
                    "framework": t.framework,
                    "tactic": mitre(&t.tactic.id, &t.tactic.name, &t.tactic.reference),
                    "technique": technique,
                })
            })
            .collect(),
    )
}

/// `kibana.alert.rule.parameters`: the whole `[rule]` table (unknown keys included) in the form
/// Elastic's packager hands to Kibana, with Kibana's defaults for absent keys (alert-schema §1.3,
/// §6).
pub fn parameters_json(rule: &Rule) -> Value {
    let mut p: Map<String, Value> = rule
        .raw
        .iter()
        .filter(|(k, _)| !NOT_PARAMETERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect();
    let mut normalized = Value::Object(std::mem::take(&mut p));
    nested_normalize(&mut normalized);
    if let Value::Object(m) = normalized {
        p = m;
    }

    let set_default = |p: &mut Map<String, Value>, key: &str, v: Value| {
        p.entry(key.to_string()).or_insert(v);
    };
    p.insert("description".into(), rule.description.clone().into());
    p.insert("rule_id".into(), rule.rule_id.clone().into());
    p.insert("type".into(), rule.rule_type.as_str().into());
    p.insert("severity".into(), rule.severity.as_str().into());
    p.insert("risk_score".into(), rule.risk_score.into());
    p.insert("author".into(), json!(rule.author));
    p.insert("from".into(), rule.from.clone().into());
    p.insert("to".into(), rule.to.clone().into());
    p.insert("max_signals".into(), rule.max_signals.into());
    p.insert("threat".into(), threat_json(&rule.threat));
    p.insert("version".into(), rule.version.into());
    if rule.query.is_some() {
        p.insert("language".into(), rule.language.as_str().into());
    }
    set_default(&mut p, "false_positives", json!([]));
    set_default(&mut p, "references", json!([]));
    set_default(&mut p, "risk_score_mapping", json!([]));
    set_default(&mut p, "severity_mapping", json!([]));
    set_default(&mut p, "exceptions_list", json!([]));
    set_default(&mut p, "related_integrations", json!([]));
    set_default(&mut p, "required_fields", json!([]));
    set_default(&mut p, "setup", json!(""));
    let elastic = rule.is_elastic();
    p.insert("immutable".into(), elastic.into());
    p.insert(
        "rule_source".into(),
        if elastic {
            json!({ "type": "external", "is_customized": false })
        } else {
            json!({ "type": "internal" })
        },
    );

    if let Some(th) = &rule.threshold {
        // Kibana stores `threshold.field` as a list even when the TOML has a string.
        let mut t = json!({ "field": th.field, "value": th.value });
        if !th.cardinality.is_empty() {
            t["cardinality"] = Value::Array(
                th.cardinality
                    .iter()
                    .map(|c| json!({ "field": c.field, "value": c.value }))
                    .collect(),
            );
        }
        p.insert("threshold".into(), t);
    }
    if let Some(nt) = &rule.new_terms {
        p.insert("new_terms_fields".into(), json!(nt.fields));
        p.insert(
            "history_window_start".into(),
            nt.history_window_start.clone().into(),
        );
    }
    Value::Object(p)
}

/// Kibana's alerting rule type id and display category for a rule type.
pub fn type_id_and_category(t: &RuleType) -> (String, String) {
    let (id, cat) = match t {
        RuleType::Query => ("siem.queryRule", "Custom Query Rule"),
        RuleType::Threshold => ("siem.thresholdRule", "Threshold Rule"),
        RuleType::NewTerms => ("siem.newTermsRule", "New Terms Rule"),
        RuleType::Eql => ("siem.eqlRule", "Event Correlation Rule"),
        RuleType::Esql => ("siem.esqlRule", "ES|QL Rule"),
        RuleType::Other(o) => match o.as_str() {
            "saved_query" => ("siem.savedQueryRule", "Saved Query Rule"),
            "threat_match" => ("siem.indicatorRule", "Indicator Match Rule"),
            "machine_learning" => ("siem.mlRule", "Machine Learning Rule"),
            other => return (format!("siem.{other}"), other.to_string()),
        },
    };
    (id.to_string(), cat.to_string())
}

/// The ECS `rule` object of the mirror, without `name` (which may be overridden per event).
pub fn ecs_rule_mirror(rule: &Rule, rule_uuid: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), rule.rule_id.clone().into());
    m.insert("uuid".into(), rule_uuid.into());
    m.insert("description".into(), rule.description.clone().into());
    m.insert("version".into(), rule.version.to_string().into());
    m.insert("author".into(), json!(rule.author));
    if let Some(l) = &rule.license {
        m.insert("license".into(), l.clone().into());
    }
    if !rule.references.is_empty() {
        m.insert("reference".into(), json!(rule.references));
    }
    m
}

/// The ECS `threat` object of the mirror: flat parallel arrays of tactics, techniques and
/// sub-techniques, each de-duplicated by id in TOML order (ECS arrays are parallel, and a repeated
/// id adds nothing); `None` when the rule has no threat mapping.
pub fn ecs_threat_mirror(threat: &[Threat]) -> Option<Value> {
    let first = threat.first()?;
    #[derive(Default)]
    struct Cols {
        ids: Vec<String>,
        names: Vec<String>,
        refs: Vec<String>,
    }
    impl Cols {
        fn push(&mut self, id: &str, name: &str, reference: &str) {
            if !self.ids.iter().any(|i| i == id) {
                self.ids.push(id.into());
                self.names.push(name.into());
                self.refs.push(reference.into());
            }
        }
        fn json(&self) -> Map<String, Value> {
            let mut m = Map::new();
            m.insert("id".into(), json!(self.ids));
            m.insert("name".into(), json!(self.names));
            m.insert("reference".into(), json!(self.refs));
            m
        }
    }
    let (mut tactics, mut techniques, mut subs) =
        (Cols::default(), Cols::default(), Cols::default());
    for t in threat {
        tactics.push(&t.tactic.id, &t.tactic.name, &t.tactic.reference);
        for tech in &t.technique {
            techniques.push(&tech.id, &tech.name, &tech.reference);
            for s in &tech.subtechnique {
                subs.push(&s.id, &s.name, &s.reference);
            }
        }
    }
    let mut out = Map::new();
    out.insert("framework".into(), first.framework.clone().into());
    out.insert("tactic".into(), Value::Object(tactics.json()));
    if !techniques.ids.is_empty() {
        let mut tech = techniques.json();
        if !subs.ids.is_empty() {
            tech.insert("subtechnique".into(), Value::Object(subs.json()));
        }
        out.insert("technique".into(), Value::Object(tech));
    }
    Some(Value::Object(out))
}
