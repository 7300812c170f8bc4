//! Anchors of compiled EQL conditions: a keyword field and literal values one of which the
//! field must hold for the condition to match. The engine files EQL conditions under their
//! anchor (as `engine::matcher` does for KQL), so an event evaluates only the EQL conditions
//! that could match it.

use super::ast::CmpOp;
use super::compile::{EqlExpr, Node, ValueTest};
use super::value::Val;
use crate::event::SlotId;
use crate::schema::FieldType;

impl EqlExpr {
    /// A slot and literal values such that any matching event has one of the values (as the
    /// event reader's text) among the slot's values; `None` when the condition has no such
    /// necessary test. Among several candidates in an `and`, a slot listed in `preferred` wins,
    /// then one not listed in `weak` (fields most events share, like `event.dataset`), then
    /// the smallest value set.
    pub fn anchor(&self, preferred: &[SlotId], weak: &[SlotId]) -> Option<(SlotId, Vec<String>)> {
        anchor(&self.node, preferred, weak)
    }
}

fn anchor(node: &Node, preferred: &[SlotId], weak: &[SlotId]) -> Option<(SlotId, Vec<String>)> {
    match node {
        // Only keyword-like fields: their `==` / `in` with a string compare the exact text the
        // reader gives, so a value equal to a literal is necessary. An unmapped (dynamic)
        // field reads a JSON string as a keyword and never equals a string literal otherwise.
        // (Numbers, dates and IPs compare by value: `5.0 == 5`.)
        Node::Any(field, test) if keyword_like(field.ty) => match test {
            ValueTest::Cmp(CmpOp::Eq, Val::Str(s)) => Some((field.slot, vec![s.to_string()])),
            ValueTest::In(items, false) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Val::Str(s) => values.push(s.to_string()),
                        _ => return None,
                    }
                }
                Some((field.slot, values))
            }
            _ => None,
        },
        Node::Or(items) => {
            let mut slot = None;
            let mut values = Vec::new();
            for item in items {
                let (s, vs) = anchor(item, preferred, weak)?;
                if slot.is_some_and(|prev| prev != s) {
                    return None;
                }
                slot = Some(s);
                values.extend(vs);
            }
            slot.map(|s| (s, values))
        }
        Node::And(items) => items
            .iter()
            .filter_map(|item| anchor(item, preferred, weak))
            .min_by_key(|(slot, values)| {
                (!preferred.contains(slot), weak.contains(slot), values.len())
            }),
        _ => None,
    }
}

fn keyword_like(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Keyword { .. } | FieldType::ConstantKeyword | FieldType::Dynamic
    )
}

#[cfg(test)]
mod tests {
    use crate::eql::{compile_query, parse, CompiledQuery};
    use crate::event::FieldPlan;

    fn anchor_of(query: &str, preferred: &[&str]) -> Option<(String, Vec<String>)> {
        let mut plan = FieldPlan::new();
        let pref: Vec<usize> = preferred.iter().map(|f| plan.field(f)).collect();
        let weak = [plan.field("event.dataset")];
        let q = parse(query).ok()?;
        let CompiledQuery::Event(e) = compile_query(&q, &mut plan).ok()? else {
            return None;
        };
        let (slot, values) = e.anchor(&pref, &weak)?;
        Some((plan.path(slot).to_string(), values))
    }

    #[test]
    fn anchors_on_keyword_equalities_preferring_the_named_field() {
        let q = r#"any where data_stream.dataset == "okta.system" and (okta.event_type == "a" or (okta.event_type == "b" and x == 1))"#;
        assert_eq!(
            anchor_of(q, &["okta.event_type"]),
            Some(("okta.event_type".into(), vec!["a".into(), "b".into()]))
        );
        // Without a preference the smallest set wins.
        assert_eq!(
            anchor_of(q, &[]),
            Some(("data_stream.dataset".into(), vec!["okta.system".into()]))
        );
        // A weak field loses to another single value.
        let q = r#"any where event.dataset == "okta.system" and kibana.alert.rule.rule_id == "r""#;
        assert_eq!(
            anchor_of(q, &[]),
            Some(("kibana.alert.rule.rule_id".into(), vec!["r".into()]))
        );
        let q = r#"any where okta.event_type in ("a", "b") and event.action == "c""#;
        assert_eq!(
            anchor_of(q, &["okta.event_type"]),
            Some(("okta.event_type".into(), vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn no_anchor_for_tests_that_are_not_exact_keyword_equality() {
        for q in [
            r#"any where okta.event_type : "a""#,
            r#"any where okta.event_type in~ ("a")"#,
            r#"any where okta.event_type != "a""#,
            r#"any where okta.event_type == "a" or event.action == "b""#,
            r#"any where not okta.event_type == "a""#,
        ] {
            assert_eq!(anchor_of(q, &["okta.event_type"]), None, "{q}");
        }
    }
}
