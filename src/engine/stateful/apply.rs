//! Applying one match of a stateful rule: threshold counting, new_terms lookup, suppression,
//! and building the resulting alerts.
//!
//! Design: [`Cx`] bundles what one match needs (rule, event, its ancestor, the clock, limits,
//! counters, output) so the per-type functions stay short; value extraction follows
//! Elasticsearch's terms aggregations ([`field_terms`], [`combinations`]).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::new_terms::{NewTermsSpec, NewTermsState, KEY_SEPARATOR};
use super::suppression::{Fold, SuppressionSpec, SuppressionState, Update};
use super::threshold::{ThresholdSpec, ThresholdState};
use super::{time, Limits, RuleRef, RuleState, StatefulStats, ThresholdValues};
use crate::alert::{
    add_suppression_fields, get_path, new_terms_alert_id, query_suppressed_alert_id,
    suppression_instance_id, threshold_suppressed_alert_id, threshold_synthetic_id, Alert,
    Ancestor, RuleTemplate,
};
use crate::engine::{AlertOut, EventError};
use crate::rules::MissingFieldsStrategy;

/// Most value combinations one event can contribute (arrays in several group-by fields
/// multiply); more are ignored rather than letting one event blow up the state.
const MAX_COMBINATIONS: usize = 64;

/// Per-match context.
pub(super) struct Cx<'a, 'b> {
    pub(super) r: &'a RuleRef<'b>,
    pub(super) event: &'a Map<String, Value>,
    pub(super) ancestor: &'a Ancestor,
    pub(super) now: DateTime<Utc>,
    pub(super) limits: &'a Limits,
    pub(super) stats: &'a mut StatefulStats,
    pub(super) out: &'a mut Vec<AlertOut>,
}

impl Cx<'_, '_> {
    fn template(&self) -> &RuleTemplate {
        self.r.template
    }

    pub(super) fn query(&mut self, rs: &mut RuleState, t: i64) -> Result<(), EventError> {
        let Some(spec) = &self.r.spec.suppression else {
            let alert = self.template().build(self.event, self.ancestor, self.now);
            return push_alert(self.out, &self.r.rule.rule_id, alert);
        };
        let (terms, key, missing) = suppression_terms(self.event, &spec.group_by);
        if missing && spec.missing == MissingFieldsStrategy::DoNotSuppress {
            let alert = self.template().build(self.event, self.ancestor, self.now);
            return push_alert(self.out, &self.r.rule.rule_id, alert);
        }
        let (event, ancestor, now, template) =
            (self.event, self.ancestor, self.now, self.r.template);
        self.suppress(rs, spec, &key, (t, t), |(ws, we)| {
            let id = query_suppressed_alert_id(
                &ancestor.index,
                &ancestor.id,
                template.space_id(),
                template.rule_uuid(),
                &terms,
                (ms_time(ws), ms_time(we)),
            );
            let mut alert = template.build_with_id(event, ancestor, now, id);
            let instance =
                suppression_instance_id(&terms, template.rule_uuid(), template.space_id());
            add_suppression_fields(
                &mut alert.doc,
                &instance,
                &terms,
                (ms_time(t), ms_time(t)),
                0,
            );
            alert
        })
    }

    pub(super) fn threshold(
        &mut self,
        rs: &mut RuleState,
        spec: &ThresholdSpec,
        t: i64,
        (watermark, horizon): (i64, i64),
        read: Option<ThresholdValues>,
    ) -> Result<(), EventError> {
        // Groups that reached the threshold while disarmed fire first, with their own window.
        let mut firings = rs
            .threshold
            .get_or_insert_with(ThresholdState::default)
            .sweep(spec, watermark);
        // Kibana groups with a composite aggregation: a document missing a group-by field is
        // in no bucket; an array value puts it in one bucket per value (per combination).
        let ThresholdValues { lists, card } = read.unwrap_or_else(|| ThresholdValues {
            lists: spec
                .fields
                .iter()
                .map(|f| field_terms(self.event, f))
                .collect(),
            card: match &spec.cardinality {
                Some((field, _)) => field_terms(self.event, field),
                None => Vec::new(),
            },
        });
        if !lists.iter().any(Vec::is_empty) {
            for values in combinations(&lists) {
                let key = values.join(&KEY_SEPARATOR.to_string());
                let state = rs.threshold.get_or_insert_with(ThresholdState::default);
                firings.extend(state.observe(
                    spec,
                    &key,
                    &values,
                    t,
                    &card,
                    horizon,
                    self.limits,
                    self.stats,
                ));
            }
        }
        for f in firings {
            let values = f.values.clone();
            let key = values.join(&KEY_SEPARATOR.to_string());
            let rule = self.r.rule;
            let template = self.r.template;
            let mut synthetic = Map::new();
            synthetic.insert("@timestamp".into(), time::iso_ms(f.to_ms).into());
            for (field, value) in spec.fields.iter().zip(&values) {
                synthetic.insert(field.clone(), value.clone().into());
            }
            let synthetic_id = threshold_synthetic_id(
                &rule.rule_id,
                ms_time(f.window_start_ms),
                &spec.fields,
                &values,
            );
            let parent = Ancestor {
                index: rule.index.join(","),
                id: synthetic_id,
            };
            let mut alert = template.build(&synthetic, &parent, self.now);
            let terms: Vec<Value> = spec
                .fields
                .iter()
                .zip(&values)
                .map(|(field, value)| json!({"field": field, "value": value}))
                .collect();
            let mut result = json!({
                "terms": terms,
                "count": f.count,
                "from": time::iso_ms(f.from_ms),
            });
            if let (Some((field, _)), Some(n)) = (&spec.cardinality, f.cardinality) {
                result["cardinality"] = json!([{"field": field, "value": n}]);
            }
            if let Value::Object(doc) = &mut alert.doc {
                doc.insert("kibana.alert.threshold_result".into(), result);
            }
            match &self.r.spec.suppression {
                None => push_alert(self.out, &rule.rule_id, alert)?,
                Some(supp) => {
                    let mut sorted = values.clone();
                    sorted.sort_unstable();
                    let instance = suppression_instance_id(
                        &json!(sorted),
                        template.rule_uuid(),
                        template.space_id(),
                    );
                    let id = threshold_suppressed_alert_id(
                        &parent.index,
                        &parent.id,
                        template.space_id(),
                        template.rule_uuid(),
                    );
                    let terms = Value::Array(terms);
                    let supp = supp.clone();
                    self.suppress(rs, &supp, &key, (f.from_ms, f.to_ms), move |_| {
                        reid(&mut alert, id);
                        add_suppression_fields(
                            &mut alert.doc,
                            &instance,
                            &terms,
                            (ms_time(f.from_ms), ms_time(f.to_ms)),
                            0,
                        );
                        alert
                    })?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn new_terms(
        &mut self,
        rs: &mut RuleState,
        spec: &NewTermsSpec,
        t: i64,
        horizon: i64,
        learning: bool,
    ) -> Result<(), EventError> {
        // A missing field gives no term (Kibana's terms aggregation / runtime field skip it).
        let lists: Vec<Vec<String>> = spec
            .fields
            .iter()
            .map(|f| field_terms(self.event, f))
            .collect();
        if lists.iter().any(Vec::is_empty) {
            return Ok(());
        }
        for values in combinations(&lists) {
            let key = values.join(&KEY_SEPARATOR.to_string());
            let state = rs.new_terms.get_or_insert_with(NewTermsState::default);
            if !state.observe(spec, &key, t, horizon, self.limits, self.stats) {
                continue;
            }
            if learning {
                self.stats.learned_terms += 1;
                continue;
            }
            let template = self.r.template;
            let id = new_terms_alert_id(
                &self.ancestor.index,
                &self.ancestor.id,
                template.space_id(),
                template.rule_uuid(),
                &values,
            );
            let mut alert = template.build_with_id(self.event, self.ancestor, self.now, id);
            if let Value::Object(doc) = &mut alert.doc {
                doc.insert("kibana.alert.new_terms".into(), json!(values));
            }
            let Some(supp) = self.r.spec.suppression.clone() else {
                push_alert(self.out, &self.r.rule.rule_id, alert)?;
                continue;
            };
            let (terms, skey, missing) = suppression_terms(self.event, &supp.group_by);
            if missing && supp.missing == MissingFieldsStrategy::DoNotSuppress {
                push_alert(self.out, &self.r.rule.rule_id, alert)?;
                continue;
            }
            let instance =
                suppression_instance_id(&terms, template.rule_uuid(), template.space_id());
            self.suppress(rs, &supp, &skey, (t, t), move |_| {
                add_suppression_fields(
                    &mut alert.doc,
                    &instance,
                    &terms,
                    (ms_time(t), ms_time(t)),
                    0,
                );
                alert
            })?;
        }
        Ok(())
    }

    /// Sends the alert `build` makes unless the group's open window absorbs it.
    fn suppress(
        &mut self,
        rs: &mut RuleState,
        spec: &SuppressionSpec,
        key: &str,
        (first, last): (i64, i64),
        build: impl FnOnce((i64, i64)) -> Alert,
    ) -> Result<(), EventError> {
        let state = rs.suppression.get_or_insert_with(SuppressionState::default);
        match state.offer(key, spec.window, first, last, self.now.timestamp_millis()) {
            Fold::Folded => {
                self.stats.suppressed += 1;
                Ok(())
            }
            Fold::Open { start, end, closed } => {
                if let Some(update) = closed {
                    push_update(self.out, update)?;
                }
                let alert = build((start, end));
                let rule_id = &self.r.rule.rule_id;
                push_alert(self.out, rule_id, alert.clone())?;
                state.opened(
                    key,
                    (start, end),
                    (first, last),
                    alert.id,
                    rule_id,
                    alert.doc,
                    self.limits,
                    self.stats,
                );
                Ok(())
            }
        }
    }
}

/// Gives `alert` another id (also in `kibana.alert.uuid` and the URL).
fn reid(alert: &mut Alert, id: String) {
    if let Value::Object(doc) = &mut alert.doc {
        if let Some(Value::String(url)) = doc.get_mut("kibana.alert.url") {
            *url = url.replace(&alert.id, &id);
        }
        doc.insert("kibana.alert.uuid".into(), id.clone().into());
    }
    alert.id = id;
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn push_alert(out: &mut Vec<AlertOut>, rule_id: &str, alert: Alert) -> Result<(), EventError> {
    out.push(AlertOut::from_alert(rule_id, alert)?);
    Ok(())
}

pub(super) fn push_update(out: &mut Vec<AlertOut>, u: Update) -> Result<(), EventError> {
    let doc = serde_json::to_vec(&u.doc).map_err(|e| EventError::NotJson(e.to_string()))?;
    out.push(AlertOut {
        id: u.id,
        rule_id: u.rule_id,
        doc,
    });
    Ok(())
}

/// The keyword values of `field` as a terms aggregation sees them: strings, numbers and
/// booleans as text, arrays flattened; null, objects and missing give nothing.
pub fn field_terms(event: &Map<String, Value>, field: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Null | Value::Object(_) => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = get_path(event, field) {
        walk(v, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every combination of one value per list (the cross product), at most
/// [`MAX_COMBINATIONS`]. No lists: one empty combination (one group for everything).
pub fn combinations(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for list in lists {
        let mut next = Vec::with_capacity(out.len() * list.len());
        'outer: for prefix in &out {
            for v in list {
                if next.len() >= MAX_COMBINATIONS {
                    break 'outer;
                }
                let mut c = prefix.clone();
                c.push(v.clone());
                next.push(c);
            }
        }
        out = next;
    }
    out
}

/// `kibana.alert.suppression.terms` (`[{field, value}]`, arrays sorted, missing = null), the
/// group key, and whether any field was missing.
fn suppression_terms(event: &Map<String, Value>, group_by: &[String]) -> (Value, String, bool) {
    let mut missing = false;
    let mut values = Vec::with_capacity(group_by.len());
    let terms: Vec<Value> = group_by
        .iter()
        .map(|field| {
            let value = match get_path(event, field) {
                None | Some(Value::Null) => Value::Null,
                Some(Value::Array(items)) if items.is_empty() => Value::Null,
                Some(Value::Array(items)) => {
                    let mut items = items.clone();
                    items.sort_by_key(|v| v.to_string());
                    Value::Array(items)
                }
                Some(v) => v.clone(),
            };
            missing |= value.is_null();
            values.push(value.clone());
            json!({"field": field, "value": value})
        })
        .collect();
    let key = serde_json::to_string(&values).unwrap_or_default();
    (Value::Array(terms), key, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_cross_arrays_and_cap() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(combinations(&[]), vec![Vec::<String>::new()]);
        assert_eq!(
            combinations(&[l(&["a", "b"]), l(&["x"])]),
            vec![l(&["a", "x"]), l(&["b", "x"])]
        );
        let big: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(combinations(&[big.clone(), big]).len(), MAX_COMBINATIONS);
    }

    #[test]
    fn field_terms_flatten_like_a_terms_aggregation() {
        let e = json!({"a": ["x", "y", "x"], "n": 5, "b": true, "o": {"k": 1}, "z": null});
        let e = e.as_object().cloned().unwrap_or_default();
        assert_eq!(field_terms(&e, "a"), vec!["x", "y"]);
        assert_eq!(field_terms(&e, "n"), vec!["5"]);
        assert_eq!(field_terms(&e, "b"), vec!["true"]);
        assert!(field_terms(&e, "o").is_empty());
        assert!(field_terms(&e, "z").is_empty());
        assert!(field_terms(&e, "missing").is_empty());
    }
}
