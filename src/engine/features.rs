//! Rule settings that change what a rule matches but that rulestream cannot honour yet. A rule
//! using one is reported `unsupported` by `check` and does not run: running it without them
//! would alert on events Elastic would not alert on.

use crate::rules::Rule;

/// Why `rule` cannot run as Elastic runs it, if it uses such a setting.
pub fn unsupported_setting(rule: &Rule) -> Option<String> {
    let non_empty = |key: &str| match rule.raw.get(key) {
        None => false,
        Some(toml::Value::Array(items)) => !items.is_empty(),
        Some(toml::Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    if non_empty("filters") {
        // Kibana filters are query DSL clauses ANDed with the query.
        return Some("`filters` (Kibana query-DSL filters) are not evaluated yet".into());
    }
    if non_empty("exceptions_list") {
        // Exception lists live in Kibana; without their items the rule would over-alert.
        return Some(
            "`exceptions_list` refers to Kibana exception lists, which rulestream cannot read"
                .into(),
        );
    }
    if non_empty("saved_id") {
        return Some(
            "`saved_id` refers to a Kibana saved query, which rulestream cannot read".into(),
        );
    }
    if non_empty("data_view_id") && rule.index.is_empty() {
        return Some(
            "`data_view_id` without `index`: the data view's index patterns are unknown".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_with(extra: &str) -> Rule {
        let text = format!(
            "[metadata]\ncreation_date = \"2025/01/01\"\nupdated_date = \"2025/01/01\"\nmaturity = \"production\"\n\
             [rule]\nauthor = [\"x\"]\ndescription = \"d\"\nname = \"n\"\nrisk_score = 1\n\
             rule_id = \"00000000-0000-0000-0000-000000000000\"\nseverity = \"low\"\ntype = \"query\"\n\
             language = \"kuery\"\nquery = \"a:b\"\nindex = [\"logs-*\"]\nlicense = \"x\"\n{extra}\n"
        );
        crate::rules::parse_rule(std::path::Path::new("t.toml"), &text).expect("valid rule")
    }

    #[test]
    fn settings_that_change_matches_make_a_rule_unsupported() {
        assert_eq!(unsupported_setting(&rule_with("")), None);
        assert_eq!(
            unsupported_setting(&rule_with("exceptions_list = []")),
            None
        );
        let cases = [
            "[[rule.filters]]\nquery = { match_phrase = { \"a\" = \"b\" } }",
            "exceptions_list = [{ id = \"endpoint_list\", list_id = \"endpoint_list\", namespace_type = \"agnostic\", type = \"endpoint\" }]",
            "saved_id = \"my-query\"",
        ];
        for extra in cases {
            assert!(unsupported_setting(&rule_with(extra)).is_some(), "{extra}");
        }
    }
}
