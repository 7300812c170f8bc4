//! Whitespace normalisation of rule strings, as Elastic's rule packager applies it before a rule
//! reaches Kibana (`detection_rules/rule_formatter.py`: `nested_normalize` / `cleanup_whitespace`).
//!
//! Every string value is stripped line by line and the lines joined with single spaces, except
//! `query` (kept verbatim) and the Markdown fields `note`, `setup` and nested `message` keys. So a
//! wrapped multi-line TOML `description` becomes the one-line text Kibana shows.

use serde_json::Value;

/// Keys whose string values keep their line breaks (Markdown fields of `BaseRuleData`, plus the
/// nested `message` the packager preserves) or are never normalised (`query`).
const PRESERVED_KEYS: &[&str] = &["query", "note", "setup", "message"];

/// Python's `" ".join(line.strip() for line in s.strip().splitlines())`.
pub fn cleanup_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in py_splitlines(py_strip(s)).into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(py_strip(line));
    }
    out
}

/// Normalises every string in a JSON tree of rule parameters, except under `query`, `note`, `setup`
/// and `message` keys.
pub fn nested_normalize(value: &mut Value) {
    match value {
        Value::String(s) => *s = cleanup_whitespace(s),
        Value::Array(items) => items.iter_mut().for_each(nested_normalize),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if !PRESERVED_KEYS.contains(&k.as_str()) {
                    nested_normalize(v);
                }
            }
        }
        _ => {}
    }
}

/// Python `str.strip()` with no argument: Unicode whitespace on both ends.
fn py_strip(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

/// Python `str.splitlines()`: splits on every Unicode line boundary (`\r\n` counts once) and
/// drops a trailing empty line.
fn py_splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        lines.push(&s[start..i]);
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                end = j + 1;
                chars.next();
            }
        }
        start = end;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cleanup_whitespace_matches_python_packager() {
        let cases = [
            ("one line", "one line"),
            ("\nwrapped\ntext\n", "wrapped text"),
            ("  a  \n   b\r\nc  ", "a b c"),
            // A blank line in the middle leaves two spaces, as in Python.
            ("a\n\nb", "a  b"),
            ("", ""),
            ("a\u{2028}b", "a b"),
        ];
        for (input, want) in cases {
            assert_eq!(cleanup_whitespace(input), want, "input {input:?}");
        }
    }

    #[test]
    fn nested_normalize_keeps_query_and_markdown() {
        let mut v = json!({
            "description": "a\nb\n",
            "query": "x\n  and y\n",
            "note": "## T\n\ntext\n",
            "setup": "s\n",
            "false_positives": ["fp\none"],
            "threat": [{"tactic": {"name": " Credential\nAccess "}}]
        });
        nested_normalize(&mut v);
        assert_eq!(
            v,
            json!({
                "description": "a b",
                "query": "x\n  and y\n",
                "note": "## T\n\ntext\n",
                "setup": "s\n",
                "false_positives": ["fp one"],
                "threat": [{"tactic": {"name": "Credential Access"}}]
            })
        );
    }
}
