//! Wildcard patterns as Elasticsearch evaluates KQL's unquoted `*` on keyword fields: `*` matches
//! any run of characters (including none), everything else matches itself, case-sensitively,
//! against the whole value. (KQL has no `?` wildcard: Kibana escapes it.)
//!
//! Patterns are compiled once into a shape that most rule patterns fit (`abc*`, `*abc`, `*abc*`)
//! so the per-value test is a single prefix/suffix/substring check.

use memchr::memmem;

#[derive(Debug, Clone)]
pub struct Wildcard {
    shape: Shape,
    source: String,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `*` alone (or `**`…): everything.
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(memmem::Finder<'static>),
    /// First literal anchored at the start unless the pattern starts with `*`, last anchored at the
    /// end unless it ends with `*`, middle pieces found in order.
    General {
        parts: Vec<String>,
        anchored_start: bool,
        anchored_end: bool,
    },
}

impl Wildcard {
    /// Compiles a pattern given as literal pieces separated by wildcards: `["a", "b"]` with
    /// `starts_with_star=false, ends_with_star=true` is `a*b*`.
    pub fn new(parts: Vec<String>, starts_with_star: bool, ends_with_star: bool) -> Self {
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let source = {
            let mut s = String::new();
            if starts_with_star {
                s.push('*');
            }
            s.push_str(&parts.join("*"));
            if ends_with_star && !parts.is_empty() {
                s.push('*');
            }
            s
        };
        let shape = match (parts.len(), starts_with_star, ends_with_star) {
            (0, _, _) => {
                if starts_with_star || ends_with_star {
                    Shape::Any
                } else {
                    Shape::Exact(String::new())
                }
            }
            (1, false, false) => Shape::Exact(parts[0].clone()),
            (1, false, true) => Shape::Prefix(parts[0].clone()),
            (1, true, false) => Shape::Suffix(parts[0].clone()),
            (1, true, true) => {
                Shape::Contains(memmem::Finder::new(parts[0].as_bytes()).into_owned())
            }
            _ => Shape::General {
                parts,
                anchored_start: !starts_with_star,
                anchored_end: !ends_with_star,
            },
        };
        Wildcard { shape, source }
    }

    /// The pattern as KQL would write it.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.shape {
            Shape::Any => true,
            Shape::Exact(s) => value == s,
            Shape::Prefix(p) => value.starts_with(p.as_str()),
            Shape::Suffix(s) => value.ends_with(s.as_str()),
            Shape::Contains(finder) => finder.find(value.as_bytes()).is_some(),
            Shape::General {
                parts,
                anchored_start,
                anchored_end,
            } => general_match(value, parts, *anchored_start, *anchored_end),
        }
    }
}

/// Greedy left-to-right matching is exact for `*`-only patterns: taking the earliest occurrence
/// of each middle part never prevents a later part from matching.
fn general_match(value: &str, parts: &[String], anchored_start: bool, anchored_end: bool) -> bool {
    let mut rest = value;
    let mut parts = parts;
    if anchored_start {
        let Some((first, tail)) = parts.split_first() else {
            return true;
        };
        let Some(after) = rest.strip_prefix(first.as_str()) else {
            return false;
        };
        rest = after;
        parts = tail;
    }
    let last = if anchored_end {
        let Some((last, head)) = parts.split_last() else {
            return true;
        };
        parts = head;
        Some(last)
    } else {
        None
    };
    for part in parts {
        match rest.find(part.as_str()) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    match last {
        Some(last) => rest.len() >= last.len() && rest.ends_with(last.as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a test pattern where `*` is the wildcard.
    fn pattern(p: &str) -> Wildcard {
        let parts = p.split('*').map(str::to_owned).collect();
        Wildcard::new(parts, p.starts_with('*'), p.ends_with('*'))
    }

    #[test]
    fn star_matches_any_run_of_characters_case_sensitively() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("user.authentication*", "user.authentication.sso", true),
            ("user.authentication*", "user.authentication", true),
            ("user.authentication*", "User.authentication.sso", false),
            ("*administrator*", "Super administrator role", true),
            ("*administrator*", "Administrator", false),
            ("*.exe", "a.exe", true),
            ("*.exe", "a.exe.txt", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("a*bc*bc", "abcbc", true),
            ("a*bc*bc", "abc", false),
            ("ab*ba", "aba", false),
            ("*a*b", "xaxb", true),
            ("*a*b", "xbxa", false),
            ("okta*", "okta", true),
            ("é*", "éa", true),
        ];
        for (p, value, expected) in cases {
            assert_eq!(pattern(p).matches(value), *expected, "{p} vs {value}");
        }
    }

    #[test]
    fn general_matching_agrees_with_a_backtracking_reference() {
        fn reference(p: &[u8], v: &[u8]) -> bool {
            match p.split_first() {
                None => v.is_empty(),
                Some((b'*', rest)) => (0..=v.len()).any(|i| reference(rest, &v[i..])),
                Some((c, rest)) => v.first() == Some(c) && reference(rest, &v[1..]),
            }
        }
        let alphabet = ["", "a", "b", "ab", "ba", "aa"];
        let mut patterns = Vec::new();
        for x in alphabet {
            for y in alphabet {
                for z in alphabet {
                    patterns.push(format!("{x}*{y}*{z}"));
                    patterns.push(format!("*{x}{y}*{z}"));
                }
            }
        }
        for p in &patterns {
            for v in ["", "a", "ab", "aba", "abab", "bab", "aab", "baa", "abba"] {
                assert_eq!(
                    pattern(p).matches(v),
                    reference(p.as_bytes(), v.as_bytes()),
                    "{p} vs {v}"
                );
            }
        }
    }
}
