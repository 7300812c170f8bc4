//! Finding rule files and turning each into a [`Rule`], collecting every error.
//!
//! Design: a file is parsed once into a span-carrying tree ([`super::value::Node`]); typed fields
//! are then read through [`Table`] accessors that record an error (with the exact position of the
//! offending key or value, and what was expected) and keep going, so one run reports all problems
//! of all files. A broken file never hides the others; duplicate `rule_id`s are reported after all
//! files are read, naming both files.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diag::{line_col, Span};

use super::model::*;
use super::sections::{read_metadata, read_rule};
use super::table::{Cx, Table};
use super::value::Node;
use super::version_lock::LockCache;

/// Everything found under the given paths: the rules that loaded and the errors of those that
/// did not.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Loaded rules, in sorted path order.
    pub rules: Vec<Rule>,
    /// One entry per problem; a file may have several.
    pub errors: Vec<RuleLoadError>,
}

/// A problem in one rule file (or a path that could not be read).
///
/// Displays as `path:line:col: message`; `line`/`column` are 1-based, and both are 0 for errors
/// about a whole file (unreadable, missing), which display as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleLoadError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// Byte range in the file the error points at, when it points somewhere.
    pub span: Option<Span>,
}

impl fmt::Display for RuleLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl RuleLoadError {
    fn whole_file(path: &Path, message: String) -> Self {
        RuleLoadError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message,
            span: None,
        }
    }

    pub(super) fn at(path: &Path, text: &str, span: Span, message: String) -> Self {
        let lc = line_col(text, span.start);
        RuleLoadError {
            path: path.to_path_buf(),
            line: lc.line,
            column: lc.column,
            message,
            span: Some(span),
        }
    }
}

/// Loads every `*.toml` under `dirs` (searched recursively, hidden folders skipped; a path may
/// also name a single file), in sorted path order. Rule versions come from the enclosing
/// detection-rules clone's `version.lock.json` when there is one.
pub fn load_dirs(dirs: &[PathBuf]) -> LoadReport {
    let mut report = LoadReport::default();
    let mut files = Vec::new();
    for dir in dirs {
        collect_toml_files(dir, true, &mut files, &mut report.errors);
    }
    files.sort();
    files.dedup();

    let mut locks = LockCache::default();
    let mut lock_errors = Vec::new();
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(RuleLoadError::whole_file(
                    &path,
                    format!("cannot read file: {e}"),
                ));
                continue;
            }
        };
        match parse_rule(&path, &text) {
            Ok(mut rule) => {
                rule.modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                if let Some(lock) = locks.lock_for(&path, &mut lock_errors) {
                    if let Some(&v) = lock.versions.get(&rule.rule_id) {
                        rule.version = v;
                        rule.version_source = VersionSource::LockFile(lock.path.clone());
                    }
                }
                report.rules.push(rule);
            }
            Err(errs) => report.errors.extend(errs),
        }
    }
    report
        .errors
        .extend(lock_errors.into_iter().map(|e| RuleLoadError {
            path: e.path,
            line: e.line,
            column: e.column,
            message: e.message,
            span: None,
        }));
    reject_duplicate_ids(&mut report);
    report
}

/// Keeps the first rule (in path order) of each `rule_id` and reports the others.
fn reject_duplicate_ids(report: &mut LoadReport) {
    let mut first: HashMap<String, PathBuf> = HashMap::new();
    let mut kept = Vec::with_capacity(report.rules.len());
    for rule in std::mem::take(&mut report.rules) {
        match first.get(&rule.rule_id) {
            Some(first_path) => {
                let span = rule.rule_id_span;
                let message = format!(
                    "duplicate rule_id {:?}: already defined in {}",
                    rule.rule_id,
                    first_path.display()
                );
                report.errors.push(match span {
                    Some(span) => RuleLoadError::at(&rule.path, &rule.source_text, span, message),
                    None => RuleLoadError::whole_file(&rule.path, message),
                });
            }
            None => {
                first.insert(rule.rule_id.clone(), rule.path.clone());
                kept.push(rule);
            }
        }
    }
    report.rules = kept;
}

fn collect_toml_files(
    path: &Path,
    explicit: bool,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<RuleLoadError>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(RuleLoadError::whole_file(
                path,
                format!("cannot read path: {e}"),
            ));
            return;
        }
    };
    if meta.is_file() {
        // A file named explicitly is loaded whatever its extension; found files must be .toml.
        if explicit || path.extension().is_some_and(|e| e == "toml") {
            out.push(path.to_path_buf());
        }
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            errors.push(RuleLoadError::whole_file(
                path,
                format!("cannot read folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let child = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // Symlinked folders are not followed (no cycles); symlinked files are.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if hidden {
            continue;
        }
        if is_dir {
            collect_toml_files(&child, false, out, errors);
        } else if child.extension().is_some_and(|e| e == "toml") {
            out.push(child);
        }
    }
}

/// Parses one rule file's text. `path` is only used in errors and [`Rule::path`]; the version
/// comes from the TOML `version` key or defaults to 1 (see [`load_dirs`] for the lock file).
pub fn parse_rule(path: &Path, text: &str) -> Result<Rule, Vec<RuleLoadError>> {
    let root: Node = toml::from_str(text).map_err(|e| {
        let span = e
            .span()
            .map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
        vec![RuleLoadError::at(
            path,
            text,
            span,
            e.message().trim().to_string(),
        )]
    })?;
    let mut cx = Cx {
        path,
        text,
        errors: Vec::new(),
    };
    let top = Table::root(&root);
    let rule = match top.as_ref().and_then(|t| t.table(&mut cx, "rule")) {
        Some(t) => t,
        None => {
            if cx.errors.is_empty() {
                cx.error(Span::new(0, 0), "missing required table [rule]".to_string());
            }
            return Err(cx.errors);
        }
    };
    let metadata = top
        .as_ref()
        .and_then(|t| t.table(&mut cx, "metadata"))
        .map(|m| read_metadata(&mut cx, &m))
        .unwrap_or_default();
    let built = read_rule(&mut cx, &rule, metadata);
    match built {
        Some(r) if cx.errors.is_empty() => Ok(r),
        _ => Err(cx.errors),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;

    const GOOD: &str = r#"[metadata]
creation_date = "2024/01/31"
updated_date = "2024/02/01"

[rule]
author = ["Someone"]
description = """
Line one
line two.
"""
name = "Test rule"
risk_score = 21
rule_id = "11111111-2222-3333-4444-555555555555"
severity = "low"
type = "query"
query = '''
event.action:x
'''
"#;

    fn errors_of(text: &str) -> Vec<String> {
        match parse_rule(Path::new("r.toml"), text) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn broken_files_report_exact_positions() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "syntax error: unterminated string",
                "[rule]\nname = \"x\nrule_id = \"a\"\n",
                "r.toml:2:10: invalid basic string",
            ),
            (
                "missing key points at the table header",
                &GOOD.replace("rule_id = \"11111111-2222-3333-4444-555555555555\"\n", ""),
                "r.toml:5:1: missing required key rule.rule_id",
            ),
            (
                "bad enum value points at the value",
                &GOOD.replace("severity = \"low\"", "severity = \"hgih\""),
                "r.toml:14:12: rule.severity: expected one of low, medium, high, critical, \
                 found \"hgih\"",
            ),
            (
                "wrong type",
                &GOOD.replace("risk_score = 21", "risk_score = \"21\""),
                "r.toml:12:14: rule.risk_score: expected an integer from 0 to 100, found \"21\"",
            ),
            (
                "out of range",
                &GOOD.replace("risk_score = 21", "risk_score = 101"),
                "r.toml:12:14: rule.risk_score: expected an integer from 0 to 100, \
                 found integer 101",
            ),
            (
                "duplicate key is a syntax error",
                &GOOD.replace("name = \"Test rule\"", "name = \"a\"\nname = \"b\""),
                "r.toml:12:1: duplicate key `name` in table `rule`",
            ),
            (
                "bad list element",
                &GOOD.replace("author = [\"Someone\"]", "author = [\"a\", 3]"),
                "r.toml:6:16: rule.author[1]: expected a string, found integer 3",
            ),
            (
                "bad metadata date",
                &GOOD.replace("2024/01/31", "2024-01-31"),
                "r.toml:2:17: metadata.creation_date: expected a date like 2024/01/31, \
                 found \"2024-01-31\"",
            ),
            (
                "no rule table",
                "[metadata]\ncreation_date = \"2024/01/31\"\n",
                "r.toml:1:1: missing required table [rule]",
            ),
            (
                "threat entry without tactic",
                &format!("{GOOD}\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\n"),
                "r.toml:20:1: missing required key rule.threat[0].tactic",
            ),
            (
                "threshold rule without threshold",
                &GOOD.replace("type = \"query\"", "type = \"threshold\""),
                "r.toml:5:1: missing required key rule.threshold",
            ),
            (
                "suppression unit",
                &format!(
                    "{GOOD}\n[rule.alert_suppression]\ngroup_by = [\"user.name\"]\n\
                     [rule.alert_suppression.duration]\nvalue = 5\nunit = \"d\"\n"
                ),
                "r.toml:24:8: rule.alert_suppression.duration.unit: expected one of s, m, h, \
                 found \"d\"",
            ),
        ];
        for (what, text, want) in cases {
            let got = errors_of(text);
            assert_eq!(got, vec![want.to_string()], "{what}");
        }
    }

    #[test]
    fn all_problems_of_a_file_are_reported() {
        let text = GOOD
            .replace("severity = \"low\"", "severity = 1")
            .replace("name = \"Test rule\"\n", "");
        assert_eq!(
            errors_of(&text),
            vec![
                "r.toml:5:1: missing required key rule.name".to_string(),
                "r.toml:13:12: rule.severity: expected one of low, medium, high, critical, \
                 found integer 1"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn defaults_and_normalisation_apply() {
        let rule = parse_rule(Path::new("r.toml"), GOOD).unwrap();
        assert_eq!(rule.description, "Line one line two.");
        assert_eq!(rule.language, Language::Kuery);
        assert_eq!(rule.from, "now-6m");
        assert_eq!(rule.to, "now");
        assert_eq!(rule.interval, "5m");
        assert_eq!(rule.max_signals, 100);
        assert_eq!(rule.version, 1);
        assert_eq!(rule.version_source, VersionSource::Default);
        assert_eq!(rule.query.as_deref(), Some("event.action:x\n"));
        assert!(rule.index.is_empty());
    }

    #[test]
    fn unknown_keys_are_kept_in_raw() {
        let text = GOOD.replace(
            "type = \"query\"",
            "type = \"query\"\nfancy_new_key = [1, 2]",
        );
        let rule = parse_rule(Path::new("r.toml"), &text).unwrap();
        assert_eq!(
            rule.raw.get("fancy_new_key"),
            Some(&toml::Value::Array(vec![1.into(), 2.into()]))
        );
    }

    #[test]
    fn toml_version_is_used_without_lock() {
        let text = GOOD.replace("type = \"query\"", "type = \"query\"\nversion = 7");
        let rule = parse_rule(Path::new("r.toml"), &text).unwrap();
        assert_eq!(
            (rule.version, rule.version_source),
            (7, VersionSource::Toml)
        );
    }

    #[test]
    fn query_position_maps_into_the_file() {
        let cases: &[(&str, usize, (usize, usize))] = &[
            // '''…''' drops the newline after the opening quotes: offset 0 is line 17 col 1.
            ("query = '''\nevent.action:x\n'''", 0, (17, 1)),
            ("query = '''\nevent.action:x\n'''", 6, (17, 7)),
            ("query = '''\nevent.action:x\n'''", 15, (18, 1)),
            ("query = \"\"\"\na:b\nand c:d\n\"\"\"", 8, (18, 5)),
            ("query = 'a:b'", 2, (16, 12)),
            // `\"` is two bytes in the file, one in the query.
            ("query = \"a:\\\"b c\\\"\"", 4, (16, 15)),
        ];
        let base = GOOD.replace("query = '''\nevent.action:x\n'''", "QUERY");
        for (query_toml, offset, want) in cases {
            let text = base.replace("QUERY", query_toml);
            let rule = parse_rule(Path::new("r.toml"), &text).unwrap();
            assert_eq!(
                rule.query_position(*offset),
                *want,
                "{query_toml} @ {offset}"
            );
        }
    }

    #[test]
    fn duplicate_rule_ids_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("broken.toml"), "[rule\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
        let report = load_dirs(&[dir.path().to_path_buf()]);
        assert_eq!(report.rules.len(), 1);
        assert_eq!(report.rules[0].path, dir.path().join("a.toml"));
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with(&format!("{}:1:", dir.path().join("broken.toml").display())));
        assert_eq!(
            errors[1],
            format!(
                "{}:13:11: duplicate rule_id \"11111111-2222-3333-4444-555555555555\": \
                 already defined in {}",
                dir.path().join("sub/b.toml").display(),
                dir.path().join("a.toml").display()
            )
        );
    }

    #[test]
    fn missing_path_is_an_error_not_a_panic() {
        let report = load_dirs(&[PathBuf::from("/nonexistent/rulestream/rules")]);
        assert!(report.rules.is_empty());
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].line, 0);
    }

    #[test]
    fn lock_file_version_wins_over_default() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("detection_rules/etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("version.lock.json"),
            r#"{"11111111-2222-3333-4444-555555555555": {"version": 207}}"#,
        )
        .unwrap();
        let rules = root.path().join("rules/integrations/x");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("r.toml"), GOOD).unwrap();
        let report = load_dirs(&[root.path().join("rules")]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.rules[0].version, 207);
        assert!(matches!(
            report.rules[0].version_source,
            VersionSource::LockFile(_)
        ));
    }
}
