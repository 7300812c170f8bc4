//! Elasticsearch index patterns as rules write them (`logs-okta*`, `filebeat-*`,
//! `-logs-excluded*`, `remote:logs-*`): which event streams a rule reads.
//!
//! On a stream an event has no index; rulestream gives it the name of the data stream Elastic's
//! integration would write it to (`data_stream.type`-`dataset`-`namespace`, e.g.
//! `logs-okta.system-default`), or a name configured for its source (`--index`, or the input
//! topic's `index` in the config). An event with neither is seen only by rules without index
//! patterns.

use super::wildcard::Wildcard;

#[derive(Debug, Clone)]
pub struct IndexPatterns {
    include: Vec<Wildcard>,
    exclude: Vec<Wildcard>,
    /// No patterns at all: the rule sees every event.
    unrestricted: bool,
}

impl IndexPatterns {
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
                None => include.push(compile(pattern)),
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
        self.include.iter().any(|p| p.matches(index))
            && !self.exclude.iter().any(|p| p.matches(index))
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
}
