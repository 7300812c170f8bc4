//! Alerts on alerts: every new alert an event produces is offered, within the same
//! evaluation, to the rules whose index patterns read Kibana's alerts index
//! (`.alerts-security.*`), and their alerts are offered again, as Kibana's rules would find them
//! in `.alerts-security.alerts-<space>` on their next run (design: `docs/alerts-on-alerts.md`).
//!
//! * Which rules: those whose patterns reach one of the names of the (hidden) alerts index —
//!   alias, legacy `.siem-signals-<space>` alias, backing index — under Elasticsearch's
//!   hidden-index rule ([`IndexPatterns::admits_hidden`]). With no such rule the engine has no
//!   [`FeedbackPlan`] and an event costs one branch more.
//! * What is offered: new alert documents only. Suppression re-emits of an existing alert (a
//!   document with `kibana.alert.suppression.docs_count > 0`, sent again with the same id) are
//!   updates of a document Kibana's rules already saw, and would only re-create the same child
//!   alerts; flushed updates are not offered either.
//! * The offered alert is the document Kibana would have indexed: rulestream's ECS `rule.*` /
//!   `threat.*` mirror of the alert's own rule (a rulestream addition) is left out, so that rules
//!   do not match it and the children's mirror describes their own rule, not the parent's.
//! * The offered alert is an event in index `.internal.alerts-security.alerts-<space>-000001`
//!   (the backing index a Kibana search hit names) with `_id` = `kibana.alert.uuid`, whatever
//!   `data_stream.*` it copied from its own source: its children's ids and ancestors use those.
//! * Ancestry as Kibana's `buildAncestors` (`build_alert.ts`): a child's
//!   `kibana.alert.ancestors` are the parent's ancestors plus `{id, type: signal, index, depth:
//!   parent depth, rule: parent rule uuid}`, and `kibana.alert.depth` is one more than the
//!   deepest parent.
//! * Loop prevention as Kibana's `wrapHits` (`factories/wrap_hits.ts`): a query rule drops a
//!   candidate alert whose ancestors hold an entry with `rule` = its own rule uuid, so a rule
//!   never alerts on its own alerts or on anything descending from them, and two rules reading
//!   each other's alerts stop after one round each. Kibana applies no such filter to threshold,
//!   new_terms or suppressed alerts (`wrap_new_terms_alerts.ts`, `wrap_suppressed_alerts.ts`);
//!   their own state (re-arming, known terms, folding) bounds them. For safety every chain also
//!   stops at [`MAX_FEEDBACK_DEPTH`] and every event at [`MAX_FED_ALERTS_PER_EVENT`].
//! * Stateful rules see an offered alert in the partition slot of the event that caused it (no
//!   `Runtime::begin`: the alert has no offset of its own); when that event is a replay, its
//!   offered alerts are replays too and stateful rules skip them as well.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::index_pattern::IndexPatterns;
use super::{AlertOut, EventError};
use crate::alert::{get_path, Ancestor, RuleTemplate};

/// Alerts deeper than this (`kibana.alert.depth`) are not offered again: a hard cap on chains of
/// rules reading alerts, beyond Kibana's own-rule filter (which bounds chains of query rules by
/// the number of rules).
pub const MAX_FEEDBACK_DEPTH: u64 = 16;

/// At most this many alerts are offered per input event (all generations together).
pub const MAX_FED_ALERTS_PER_EVENT: usize = 1024;

/// The names Kibana's security alerts index of one space has in Elasticsearch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsIndex {
    /// `.alerts-security.alerts-<space>`: the alias rules and the UI search.
    pub alias: String,
    /// `.siem-signals-<space>`: the 7.x name, kept as a secondary alias (`secondaryAlias:
    /// config.signalsIndex` in security_solution's rule type wrapper).
    pub legacy_alias: String,
    /// `.internal.alerts-security.alerts-<space>-000001`: the backing index, which search hits
    /// name as `_index` and so alert ancestors and ids use.
    pub backing: String,
}

impl AlertsIndex {
    /// The alerts index of Kibana space `space_id`.
    pub fn for_space(space_id: &str) -> AlertsIndex {
        AlertsIndex {
            alias: format!(".alerts-security.alerts-{space_id}"),
            legacy_alias: format!(".siem-signals-{space_id}"),
            backing: format!(".internal.alerts-security.alerts-{space_id}-000001"),
        }
    }

    /// Whether a rule with these patterns reads the alerts index (through any of its names).
    pub fn read_by(&self, patterns: &IndexPatterns) -> bool {
        [&self.alias, &self.legacy_alias, &self.backing]
            .iter()
            .any(|name| patterns.admits_hidden(name))
    }
}

/// What the plan needs to know of one rule.
pub struct RuleInfo<'r> {
    /// The rule's `index` patterns.
    pub patterns: &'r IndexPatterns,
    /// Its alert template (rule uuid, ECS mirror).
    pub template: &'r RuleTemplate,
    /// Threshold / new_terms / suppression: Kibana applies no own-ancestry filter to them.
    pub stateful: bool,
}

/// A rule that reads alerts.
#[derive(Debug, Clone)]
struct Reader {
    rule_uuid: String,
    /// Kibana's own-ancestry filter applies (plain query rules, `wrapHits`).
    own_filter: bool,
}

/// Which rules of an engine read alerts; exists only when at least one does.
#[derive(Debug, Clone)]
pub struct FeedbackPlan {
    index: AlertsIndex,
    /// Per rule (engine order): `Some` when it reads the alerts index.
    readers: Vec<Option<Reader>>,
    /// Rule uuid → the ECS `threat` mirror its alerts carry (`None`: none).
    threat_mirrors: HashMap<String, Option<Value>>,
}

impl FeedbackPlan {
    /// The plan for `rules` (in engine order) writing alerts to space `space_id`; `None` when
    /// no rule reads alerts (then nothing is ever offered).
    pub fn new<'r>(
        rules: impl IntoIterator<Item = RuleInfo<'r>>,
        space_id: &str,
    ) -> Option<FeedbackPlan> {
        let index = AlertsIndex::for_space(space_id);
        let rules: Vec<RuleInfo<'r>> = rules.into_iter().collect();
        let readers: Vec<Option<Reader>> = rules
            .iter()
            .map(|r| {
                index.read_by(r.patterns).then(|| Reader {
                    rule_uuid: r.template.rule_uuid().to_string(),
                    own_filter: !r.stateful,
                })
            })
            .collect();
        if readers.iter().all(Option::is_none) {
            return None;
        }
        // The ECS `threat` mirror each rule writes, learnt from an alert built on an empty
        // event, to leave it out of offered alerts (Kibana's alerts have no such mirror).
        let empty = Ancestor {
            index: String::new(),
            id: String::new(),
        };
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let threat_mirrors = rules
            .iter()
            .map(|r| {
                let probe = r.template.build(&Map::new(), &empty, epoch);
                (
                    r.template.rule_uuid().to_string(),
                    probe.doc.get("threat").cloned(),
                )
            })
            .collect();
        Some(FeedbackPlan {
            index,
            readers,
            threat_mirrors,
        })
    }

    /// Whether rule `i` may alert on `fed`: it reads alerts and, for a plain query rule, is not
    /// in `fed`'s ancestry (Kibana's `wrapHits` filter, applied before building instead of
    /// after: the candidate's ancestors are `fed`'s chain).
    pub fn admits(&self, i: usize, fed: &FedAlert) -> bool {
        match self.readers.get(i) {
            Some(Some(r)) => !(r.own_filter && fed.excludes(&r.rule_uuid)),
            _ => false,
        }
    }

    /// Whether any rule may alert on `fed` (else it is not evaluated at all).
    fn any_admits(&self, fed: &FedAlert) -> bool {
        (0..self.readers.len()).any(|i| self.admits(i, fed))
    }

    /// Removes rulestream's ECS mirror of the alert's own rule from an alert document: `rule`
    /// when it names the alert's rule (`rule.uuid` = `kibana.alert.rule.uuid`; otherwise it is
    /// the source event's own `rule`), and `threat` when it is exactly that rule's mirror.
    fn strip_mirror(&self, doc: &mut Map<String, Value>) -> bool {
        let Some(Value::String(uuid)) = doc.get("kibana.alert.rule.uuid").cloned() else {
            return false;
        };
        let mirrored = doc
            .get("rule")
            .and_then(|r| r.get("uuid"))
            .and_then(Value::as_str)
            == Some(uuid.as_str());
        if !mirrored {
            return false;
        }
        doc.remove("rule");
        if let Some(Some(threat)) = self.threat_mirrors.get(&uuid) {
            if doc.get("threat") == Some(threat) {
                doc.remove("threat");
            }
        }
        true
    }

    /// How many rules read alerts.
    pub fn reader_count(&self) -> usize {
        self.readers.iter().filter(|r| r.is_some()).count()
    }

    /// The alerts index offered alerts are taken to be in.
    pub fn index(&self) -> &AlertsIndex {
        &self.index
    }
}

/// An alert offered to the rules as an event.
#[derive(Debug, Clone)]
pub struct FedAlert {
    /// Index (backing index) and id (`kibana.alert.uuid`) of the alert as a search hit: the
    /// parent of the alerts built from it.
    pub ancestor: Ancestor,
    /// The children's `kibana.alert.ancestors`: the alert's own ancestors, then the alert.
    chain: Vec<Value>,
    /// The alert's `kibana.alert.depth` (Kibana reads a missing one as 1).
    depth: u64,
    /// Stateful partition slot of the input event that caused the alert (`None`: a replay).
    pub part: Option<usize>,
}

impl FedAlert {
    /// Reads an alert document; `None` when it is not a new alert (no `kibana.alert.uuid`, or a
    /// suppression re-emit).
    pub fn from_doc(
        doc: &Map<String, Value>,
        index: &AlertsIndex,
        part: Option<usize>,
    ) -> Option<FedAlert> {
        let text = |path: &str| match get_path(doc, path) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let id = text("kibana.alert.uuid")?;
        let docs_count =
            get_path(doc, "kibana.alert.suppression.docs_count").and_then(Value::as_u64);
        if docs_count.is_some_and(|n| n > 0) {
            return None;
        }
        let depth = get_path(doc, "kibana.alert.depth")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let mut chain = match get_path(doc, "kibana.alert.ancestors") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let mut own = json!({ "id": id, "type": "signal", "index": index.backing, "depth": depth });
        if let (Some(rule), Value::Object(entry)) = (text("kibana.alert.rule.uuid"), &mut own) {
            entry.insert("rule".into(), rule.into());
        }
        chain.push(own);
        Some(FedAlert {
            ancestor: Ancestor {
                index: index.backing.clone(),
                id,
            },
            chain,
            depth,
            part,
        })
    }

    /// Whether a query rule with `rule_uuid` must not alert on this alert: its own rule is in
    /// the alert's ancestry (Kibana's `wrapHits` filter, applied before building).
    pub fn excludes(&self, rule_uuid: &str) -> bool {
        self.chain
            .iter()
            .any(|a| a.get("rule").and_then(Value::as_str) == Some(rule_uuid))
    }
}

/// Offers the new alerts in `out[first..]` to the rules that read alerts, breadth first, and
/// each generation of resulting alerts again. `evaluate` runs the engine on one offered alert
/// (the document, the alert as an event, the output). An offered alert that fails to evaluate
/// is logged and skipped: it must not turn its input event into a dead letter.
pub fn offer(
    plan: &FeedbackPlan,
    first: usize,
    part: Option<usize>,
    out: &mut Vec<AlertOut>,
    mut evaluate: impl FnMut(&[u8], &FedAlert, &mut Vec<AlertOut>) -> Result<(), EventError>,
) {
    let mut offered = 0usize;
    let mut next = first;
    while next < out.len() {
        let i = next;
        next += 1;
        let Ok(mut doc) = serde_json::from_slice::<Map<String, Value>>(&out[i].doc) else {
            continue;
        };
        let Some(fed) = FedAlert::from_doc(&doc, plan.index(), part) else {
            continue;
        };
        if fed.depth >= MAX_FEEDBACK_DEPTH {
            tracing::warn!(alert = %fed.ancestor.id, depth = fed.depth, "Alert chain reached the depth cap; not offered to rules again.");
            continue;
        }
        if !plan.any_admits(&fed) {
            // E.g. the alert of the only rule that reads alerts: it would be its own ancestor.
            continue;
        }
        if offered == MAX_FED_ALERTS_PER_EVENT {
            tracing::warn!(
                limit = MAX_FED_ALERTS_PER_EVENT,
                "Too many alerts on alerts for one event; the rest are not offered to rules."
            );
            return;
        }
        offered += 1;
        let stripped = plan
            .strip_mirror(&mut doc)
            .then(|| serde_json::to_vec(&doc).ok())
            .flatten();
        // Without a mirror to strip, the document is evaluated as written (borrowed out of
        // `out` while `out` grows, then put back).
        let (bytes, borrowed) = match stripped {
            Some(b) => (b, false),
            None => (std::mem::take(&mut out[i].doc), true),
        };
        let before = out.len();
        let result = evaluate(&bytes, &fed, out);
        if borrowed {
            out[i].doc = bytes;
        }
        if let Err(error) = result.and_then(|()| rebase_ancestry(&mut out[before..], &fed)) {
            tracing::warn!(%error, alert = %fed.ancestor.id, "Alert not evaluated as an event.");
            out.truncate(before);
        }
    }
}

/// Rewrites the ancestry of alerts built from `fed`: the rule builders record an offered alert
/// as an `event` ancestor at depth 0, like any event; Kibana records the parent alert's
/// ancestors and then the parent as a `signal`. Alerts not built from `fed` (threshold alerts
/// from their synthetic document, re-emits) are left as they are. A building-block ancestor
/// built in the same batch (EQL shells) gets its block's new depth.
pub(crate) fn rebase_ancestry(batch: &mut [AlertOut], fed: &FedAlert) -> Result<(), EventError> {
    let mut docs: Vec<Option<Map<String, Value>>> = Vec::with_capacity(batch.len());
    let mut depths: Vec<(String, u64)> = Vec::new();
    for alert in batch.iter() {
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&alert.doc).map_err(|e| EventError::NotJson(e.to_string()))?;
        let changed = match doc.get_mut("kibana.alert.ancestors") {
            Some(Value::Array(ancestors)) => replace_parent(ancestors, fed),
            _ => false,
        };
        if changed {
            let depth = set_depth(&mut doc);
            depths.push((alert.id.clone(), depth));
        }
        docs.push(changed.then_some(doc));
    }
    for doc in docs.iter_mut().flatten() {
        if let Some(Value::Array(ancestors)) = doc.get_mut("kibana.alert.ancestors") {
            for entry in ancestors.iter_mut() {
                let id = entry.get("id").and_then(Value::as_str);
                if let Some((_, d)) = depths.iter().find(|(bid, _)| Some(bid.as_str()) == id) {
                    if let Value::Object(e) = entry {
                        e.insert("depth".into(), (*d).into());
                    }
                }
            }
        }
        set_depth(doc);
    }
    for (alert, doc) in batch.iter_mut().zip(docs) {
        if let Some(doc) = doc {
            alert.doc = serde_json::to_vec(&doc).map_err(|e| EventError::NotJson(e.to_string()))?;
        }
    }
    Ok(())
}

/// Replaces each `event` entry naming `fed` by `fed`'s chain; whether any was found.
fn replace_parent(ancestors: &mut Vec<Value>, fed: &FedAlert) -> bool {
    let is_parent = |a: &Value| {
        a.get("type").and_then(Value::as_str) == Some("event")
            && a.get("id").and_then(Value::as_str) == Some(fed.ancestor.id.as_str())
            && a.get("index").and_then(Value::as_str) == Some(fed.ancestor.index.as_str())
    };
    if !ancestors.iter().any(is_parent) {
        return false;
    }
    let old = std::mem::take(ancestors);
    for a in old {
        if is_parent(&a) {
            ancestors.extend(fed.chain.iter().cloned());
        } else {
            ancestors.push(a);
        }
    }
    true
}

/// `kibana.alert.depth` = deepest ancestor + 1 (Kibana: deepest parent + 1; ancestors are
/// never deeper than the parents they lead to).
fn set_depth(doc: &mut Map<String, Value>) -> u64 {
    let deepest = match doc.get("kibana.alert.ancestors") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|e| e.get("depth").and_then(Value::as_u64))
            .max()
            .unwrap_or(0),
        _ => 0,
    };
    let depth = deepest + 1;
    doc.insert("kibana.alert.depth".into(), depth.into());
    depth
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;

    fn alert(id: &str, rule: &str, depth: u64, ancestors: Value) -> Map<String, Value> {
        json!({
            "kibana.alert.uuid": id,
            "kibana.alert.rule.uuid": rule,
            "kibana.alert.depth": depth,
            "kibana.alert.ancestors": ancestors,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn an_offered_alert_extends_its_ancestry_like_build_ancestors() {
        let index = AlertsIndex::for_space("default");
        let doc = alert(
            "a1",
            "rule-1",
            1,
            json!([{"id": "e1", "type": "event", "index": "logs-okta.system-default", "depth": 0}]),
        );
        let fed = FedAlert::from_doc(&doc, &index, Some(0)).unwrap();
        assert_eq!(
            fed.ancestor.index,
            ".internal.alerts-security.alerts-default-000001"
        );
        assert_eq!(fed.ancestor.id, "a1");
        assert!(fed.excludes("rule-1"), "the parent's own rule");
        assert!(!fed.excludes("rule-2"));

        // A child built by a query rule names the alert as an `event` at depth 0.
        let child = json!({
            "kibana.alert.uuid": "c1",
            "kibana.alert.depth": 1,
            "kibana.alert.ancestors": [{"id": "a1", "type": "event",
                "index": ".internal.alerts-security.alerts-default-000001", "depth": 0}],
        });
        let mut batch = vec![AlertOut {
            id: "c1".into(),
            rule_id: "r2".into(),
            doc: serde_json::to_vec(&child).unwrap(),
        }];
        rebase_ancestry(&mut batch, &fed).unwrap();
        let doc: Value = serde_json::from_slice(&batch[0].doc).unwrap();
        assert_eq!(doc["kibana.alert.depth"], 2);
        assert_eq!(
            doc["kibana.alert.ancestors"],
            json!([
                {"id": "e1", "type": "event", "index": "logs-okta.system-default", "depth": 0},
                {"id": "a1", "type": "signal",
                 "index": ".internal.alerts-security.alerts-default-000001", "depth": 1,
                 "rule": "rule-1"}
            ])
        );
        // The grandchild's ancestry holds both rules.
        let child_doc = doc.as_object().unwrap().clone();
        let mut child_doc = child_doc;
        child_doc.insert("kibana.alert.rule.uuid".into(), "rule-2".into());
        let fed2 = FedAlert::from_doc(&child_doc, &index, Some(0)).unwrap();
        assert!(fed2.excludes("rule-1") && fed2.excludes("rule-2"));
        assert_eq!(fed2.depth, 2);
    }

    #[test]
    fn suppression_re_emits_and_non_alerts_are_not_offered() {
        let index = AlertsIndex::for_space("default");
        let mut doc = alert("a1", "r", 1, json!([]));
        doc.insert("kibana.alert.suppression.docs_count".into(), 0.into());
        assert!(
            FedAlert::from_doc(&doc, &index, None).is_some(),
            "first emission"
        );
        doc.insert("kibana.alert.suppression.docs_count".into(), 3.into());
        assert!(FedAlert::from_doc(&doc, &index, None).is_none(), "re-emit");
        assert!(FedAlert::from_doc(&Map::new(), &index, None).is_none());
        // Kibana reads a missing depth as 1.
        let bare = json!({"kibana.alert.uuid": "x"});
        let fed = FedAlert::from_doc(bare.as_object().unwrap(), &index, None).unwrap();
        assert_eq!(fed.depth, 1);
    }

    #[test]
    fn a_shell_gets_the_new_depth_of_its_building_blocks() {
        let index = AlertsIndex::for_space("default");
        let fed = FedAlert::from_doc(&alert("a1", "r1", 1, json!([])), &index, None).unwrap();
        let parent = json!({"id": "a1", "type": "event", "index": index.backing, "depth": 0});
        let block = json!({"kibana.alert.depth": 1, "kibana.alert.ancestors": [parent]});
        let shell = json!({"kibana.alert.depth": 2, "kibana.alert.ancestors": [
            parent, {"id": "bb1", "type": "signal", "index": "", "depth": 1, "rule": "r2"}]});
        let mut batch = vec![
            AlertOut {
                id: "bb1".into(),
                rule_id: "r2".into(),
                doc: serde_json::to_vec(&block).unwrap(),
            },
            AlertOut {
                id: "sh".into(),
                rule_id: "r2".into(),
                doc: serde_json::to_vec(&shell).unwrap(),
            },
        ];
        rebase_ancestry(&mut batch, &fed).unwrap();
        let block: Value = serde_json::from_slice(&batch[0].doc).unwrap();
        let shell: Value = serde_json::from_slice(&batch[1].doc).unwrap();
        assert_eq!(block["kibana.alert.depth"], 2);
        assert_eq!(shell["kibana.alert.depth"], 3, "Kibana: deepest block + 1");
        // [the offered alert as a signal, the building block at its new depth]
        assert_eq!(shell["kibana.alert.ancestors"][0]["type"], "signal");
        assert_eq!(shell["kibana.alert.ancestors"][1]["depth"], 2);
    }

    #[test]
    fn rules_read_alerts_only_through_a_name_of_the_alerts_index() {
        let p =
            |v: &[&str]| IndexPatterns::new(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let index = AlertsIndex::for_space("default");
        let cases: &[(&[&str], bool)] = &[
            (&["logs-*"], false),
            (&["*"], false),
            (&[], false),
            (&[".siem-signals-*"], true),
            (&[".internal.alerts-*"], true),
            (&[".alerts-security.alerts-default"], true),
            (&[".alerts-security.alerts-other"], false),
        ];
        for (patterns, expected) in cases {
            assert_eq!(index.read_by(&p(patterns)), *expected, "{patterns:?}");
        }
    }
}
