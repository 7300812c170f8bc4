//! An approximation of Elasticsearch's `standard` analyzer, used for `text`/`match_only_text`
//! fields (`message`, `*.text` multi-fields): Unicode word segmentation, then lowercasing.
//!
//! Words are runs of letters, digits and `_`; a single `.` or `'` between two word characters
//! joins them (UAX #29 MidNumLet: `okta.system`, `1.2.3.4`, `don't` stay one token), and `,`/`;`
//! between digits join them (MidNum: `1,000`). Everything else separates tokens. This covers
//! ASCII text exactly; scripts that UAX #29 segments per character (CJK ideographs, emoji) are
//! treated as words here — a documented difference.

/// Splits `text` into lowercased tokens.
pub fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (i, &c) in chars.iter().enumerate() {
        if is_word(c) {
            current.extend(c.to_lowercase());
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let joins = match (prev, next) {
            (Some(p), Some(n)) if is_word(p) && is_word(n) => match c {
                '.' | '\'' | '\u{2019}' => true,
                ',' | ';' => p.is_ascii_digit() && n.is_ascii_digit(),
                _ => false,
            },
            _ => false,
        };
        if joins {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// True when `needle` occurs as consecutive tokens in `haystack` (`match_phrase`).
pub fn contains_phrase(haystack: &[String], needle: &[String]) -> bool {
    if needle.is_empty() {
        return false;
    }
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_analyzer_tokens() {
        let cases: &[(&str, &[&str])] = &[
            ("The Quick brown-fox", &["the", "quick", "brown", "fox"]),
            (
                "user.session.start failed",
                &["user.session.start", "failed"],
            ),
            ("from 10.0.0.1:443", &["from", "10.0.0.1", "443"]),
            ("jane.admin@example.com", &["jane.admin", "example.com"]),
            ("don't stop", &["don't", "stop"]),
            ("1,000 users; ok", &["1,000", "users", "ok"]),
            ("a, b", &["a", "b"]),
            ("trailing. dot", &["trailing", "dot"]),
            ("ÉCOLE snake_case", &["école", "snake_case"]),
            ("", &[]),
            ("- --", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(tokens(text), *expected, "{text}");
        }
    }

    #[test]
    fn phrases_need_consecutive_tokens_in_order() {
        let hay = tokens("Authentication of user failed due to bad password");
        assert!(contains_phrase(&hay, &tokens("user failed")));
        assert!(!contains_phrase(&hay, &tokens("failed user")));
        assert!(!contains_phrase(&hay, &tokens("user due")));
        assert!(!contains_phrase(&hay, &[]));
    }
}
