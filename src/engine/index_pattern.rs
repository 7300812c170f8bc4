//! Elasticsearch index patterns as rules write them (`logs-okta*`, `filebeat-*`,
//! `-logs-excluded*`, `remote:logs-*`): which event streams a rule reads.
//!
//! On a stream an event has no index; rulestream gives it the name of the data stream Elastic's
//! integration would write it to (`data_stream.type`-`dataset`-`namespace`, e.g.
//! `logs-okta.system-default`), or a name configured for its source (`--index`, or the input
//! topic's `index` in the config). An event with neither is seen only by rules without index
//! patterns.
//!
//! Alerts fed back to the rules (`super::feedback`) are in Kibana's alerts index, which is
//! *hidden*: Elasticsearch expands a wildcard to hidden indices and aliases only when the pattern
//! starts with `.` (Kibana's rule searches use the default `expand_wildcards: open`), so
//! `.alerts-security.*` reads alerts while `*` and `logs-*` do not ([`IndexPatterns::admits_hidden`]).

use super::wildcard::Wildcard;

#[derive(Debug, Clone)]
pub struct IndexPatterns {
    /// Each pattern with whether it may name a hidden index: an exact name, or a wildcard that
    /// starts with `.`.
    include: Vec<(Wildcard, bool)>,
    exclude: Vec<Wildcard>,
    /// No patterns at all: the rule sees every event.
    unrestricted: bool,
}

impl IndexPatterns {
    /// The patterns of one rule's `index` list (entries may hold several, comma-separated).
    pub fn new(patterns: &[String]) -> Self {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for pattern in patterns
            .iter()
            .flat_map(|p| p.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            // `cluster:pattern` names another cluster's indices: never a local event.
            if pattern.contains(':') {
                continue;
            }
            match pattern.strip_prefix('-') {
                Some(excluded) => exclude.push(compile(excluded)),
                None => {
                    let hidden = pattern.starts_with('.') || !pattern.contains('*');
                    include.push((compile(pattern), hidden));
                }
            }
        }
        IndexPatterns {
            include,
            exclude,
            unrestricted: patterns.is_empty(),
        }
    }

    /// Whether an event in `index` (None: unknown) is read by the rule.
    pub fn admits(&self, index: Option<&str>) -> bool {
        if self.unrestricted {
            return true;
        }
        let Some(index) = index else { return false };
        self.include.iter().any(|(p, _)| p.matches(index))
            && !self.exclude.iter().any(|p| p.matches(index))
    }

    /// Whether the rule reads the hidden index (or alias) `name`, as Elasticsearch resolves the
    /// patterns with `expand_wildcards: open`: only a pattern naming it exactly or a wildcard
    /// starting with `.` reaches a hidden name (elastic/elasticsearch#50452: "Wildcard expansion
    /// will not return hidden indices by default unless the wildcard pattern begins with a
    /// `.`"). A rule without patterns reads Kibana's default index setting (`logs-*`,
    /// `filebeat-*` …), which names no hidden index.
    pub fn admits_hidden(&self, name: &str) -> bool {
        !self.unrestricted
            && self
                .include
                .iter()
                .any(|(p, hidden)| *hidden && p.matches(name))
            && !self.exclude.iter().any(|p| p.matches(name))
    }
}

fn compile(pattern: &str) -> Wildcard {
    let parts = pattern.split('*').map(str::to_owned).collect();
    Wildcard::new(parts, pattern.starts_with('*'), pattern.ends_with('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_indices_like_elasticsearch() {
        let okta = IndexPatterns::new(&["filebeat-*".into(), "logs-okta*".into()]);
        let cases: &[(&IndexPatterns, Option<&str>, bool)] = &[
            (&okta, Some("logs-okta.system-default"), true),
            (&okta, Some("filebeat-8.19.0"), true),
            (&okta, Some("logs-aws.cloudtrail-default"), false),
            (&okta, None, false),
        ];
        for (patterns, index, expected) in cases {
            assert_eq!(patterns.admits(*index), *expected, "{index:?}");
        }
        let excluding = IndexPatterns::new(&["logs-*,-logs-okta.system-test".into()]);
        assert!(excluding.admits(Some("logs-okta.system-default")));
        assert!(!excluding.admits(Some("logs-okta.system-test")));
        assert!(
            IndexPatterns::new(&[]).admits(None),
            "no patterns: every event"
        );
        assert!(!IndexPatterns::new(&["remote:logs-*".into()]).admits(Some("logs-x")));
    }

    #[test]
    fn hidden_alerts_indices_need_a_dot_pattern_or_their_exact_name() {
        let alias = ".alerts-security.alerts-default";
        let cases: &[(&[&str], bool)] = &[
            (&[".alerts-security.*"], true),
            (&[".alerts-*"], true),
            (&[".alerts-security.alerts-default"], true),
            (&["filebeat-*", "logs-okta*", ".alerts-security.*"], true),
            // Wildcards not starting with `.` do not expand to hidden names.
            (&["*"], false),
            (&["logs-*"], false),
            (&["*alerts-security*"], false),
            (&["logs-*", "*"], false),
            // No patterns: Kibana's default index setting, which holds no hidden index.
            (&[], false),
            // Another space's alerts.
            (&[".alerts-security.alerts-other"], false),
            (
                &[".alerts-security.*,-.alerts-security.alerts-default"],
                false,
            ),
            (
                &[".alerts-security.*", "-.alerts-security.alerts-default"],
                false,
            ),
        ];
        for (patterns, expected) in cases {
            let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                IndexPatterns::new(&p).admits_hidden(alias),
                *expected,
                "{patterns:?}"
            );
        }
        // `*` still reads ordinary indices.
        assert!(IndexPatterns::new(&["*".into()]).admits(Some("logs-okta.system-default")));
    }
}
