//! KQL's lexical rules, scanned on demand by the parser.
//!
//! Kibana's grammar (`kbn-es-query/src/kuery/grammar/grammar.peggy`) is scannerless, and its
//! tokens depend on where the parser stands: spaces belong to an unquoted value unless they start
//! ` or `/` and ` (so `message: quick brown fox` is one value), `not ` ends a value even in the
//! middle of a word, and `or` is an operator after an operand but text at the start of one
//! (`a or or b` is `a` or the value `or b`). A token stream built ahead of time could not say
//! which, so this module offers the lexical pieces (`Space`, `Keyword`, `QuotedString`,
//! `UnquotedLiteral`, `RangeOperator`) as methods on a [`Scanner`] cursor and the parser calls
//! them where the grammar does. Each method cites the grammar rule it mirrors.

use super::ast::{Literal, Piece, RangeOp};
use super::error::{quoted, KqlError, KqlErrorKind};
use crate::diag::Span;

/// Kibana's `Space` rule: `[\ \t\r\n\u00A0]`.
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{a0}')
}

/// Kibana's `SpecialCharacter` rule: `[\\():<>"*{}]`.
pub(crate) fn is_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}'
    )
}

/// What JavaScript's `String.prototype.trim` removes. Kibana trims every unquoted literal with it
/// (`chars.join('').trim()` in `UnquotedLiteral`), which is wider than `Space` (e.g. U+2003) and
/// not the same as Rust's `char::is_whitespace` (JS trims U+FEFF but not U+0085).
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// ASCII case-insensitive prefix test, as peggy's `'or'i` (no non-ASCII letter lowercases to
/// `o`, `r`, `a`, `n`, `d` or `t`, so ASCII folding is exact).
fn starts_with_ci(text: &str, word: &str) -> bool {
    text.len() >= word.len() && text.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
}

fn starts_with_space(text: &str) -> bool {
    text.chars().next().is_some_and(is_space)
}

/// One decoded character of an unquoted literal (the scanner pairs it with its source bytes).
enum Item {
    Char(char),
    Wildcard,
}

/// A cursor over the query text. `pos` is a byte offset, always on a char boundary.
pub(crate) struct Scanner<'a> {
    pub src: &'a str,
    pub pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a str) -> Self {
        Scanner { src, pos: 0 }
    }

    pub fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// `Space*`: skips whitespace, returns how many bytes were skipped.
    pub fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| is_space(c)) {
            self.pos += c.len_utf8();
        }
        self.pos - start
    }

    /// The `Keyword` lookahead at byte `at`: `Space 'or'i Space`, `Space 'and'i Space` or
    /// `'not'i Space`. An unquoted literal stops before it.
    fn keyword_at(&self, at: usize) -> bool {
        let rest = self.src.get(at..).unwrap_or("");
        let Some(first) = rest.chars().next() else {
            return false;
        };
        if is_space(first) {
            let after = &rest[first.len_utf8()..];
            ["or", "and"]
                .iter()
                .any(|w| starts_with_ci(after, w) && starts_with_space(&after[w.len()..]))
        } else {
            starts_with_ci(rest, "not") && starts_with_space(&rest[3..])
        }
    }

    /// `Or` / `And`: `Space+ word Space+` at the cursor. Returns the byte range of the word and
    /// the offset after the trailing spaces, without moving.
    pub fn binary_operator(&self, word: &str) -> Option<(Span, usize)> {
        let rest = self.rest();
        let lead = rest.len() - rest.trim_start_matches(is_space).len();
        if lead == 0 || !starts_with_ci(&rest[lead..], word) {
            return None;
        }
        let after = &rest[lead + word.len()..];
        let trail = after.len() - after.trim_start_matches(is_space).len();
        if trail == 0 {
            return None;
        }
        let start = self.pos + lead;
        Some((
            Span::new(start, start + word.len()),
            start + word.len() + trail,
        ))
    }

    /// `Not`: `'not'i Space+` at the cursor. Returns the offset after the spaces.
    pub fn not_operator(&self) -> Option<usize> {
        let rest = self.rest();
        if !starts_with_ci(rest, "not") {
            return None;
        }
        let after = &rest[3..];
        let trail = after.len() - after.trim_start_matches(is_space).len();
        (trail > 0).then_some(self.pos + 3 + trail)
    }

    /// `RangeOperator` at the cursor, with the offset after it.
    pub fn range_operator(&self) -> Option<(RangeOp, usize)> {
        let rest = self.rest();
        let (op, len) = if rest.starts_with("<=") {
            (RangeOp::Lte, 2)
        } else if rest.starts_with(">=") {
            (RangeOp::Gte, 2)
        } else if rest.starts_with('<') {
            (RangeOp::Lt, 1)
        } else if rest.starts_with('>') {
            (RangeOp::Gt, 1)
        } else {
            return None;
        };
        Some((op, self.pos + len))
    }

    /// True if a `Literal` can start at the cursor (it may still fail, e.g. on a bad escape).
    pub fn at_literal_start(&self) -> bool {
        match self.peek() {
            None => false,
            Some('"' | '*' | '\\') => true,
            Some(c) => !is_special(c) && !is_space(c) && !self.keyword_at(self.pos),
        }
    }

    /// `Literal = QuotedString / UnquotedLiteral`. `Ok(None)` when neither starts here.
    pub fn literal(&mut self) -> Result<Option<Literal>, KqlError> {
        if self.peek() == Some('"') {
            self.quoted().map(Some)
        } else {
            self.unquoted()
        }
    }

    /// `QuotedString`: `"` … `"` with `\t \r \n \uXXXX \\ \"` escapes. Any other `\` is kept
    /// as a plain backslash (`QuotedCharacter` falls through to `[^"]`), and `*` is plain text.
    fn quoted(&mut self) -> Result<Literal, KqlError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(KqlError::new(
                    KqlErrorKind::UnterminatedString,
                    Span::new(start, start + 1),
                    "a closing '\"' for this string",
                    "end of query",
                ));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\\' => {
                    if let Some((ch, end)) = self.whitespace_or_unicode_escape(self.pos) {
                        text.push(ch);
                        self.pos = end;
                    } else if let Some(e @ ('\\' | '"')) = self.rest()[1..].chars().next() {
                        text.push(e);
                        self.pos += 2;
                    } else {
                        text.push('\\');
                        self.pos += 1;
                    }
                }
                _ => {
                    text.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        let pieces = if text.is_empty() {
            Vec::new()
        } else {
            vec![Piece::Text(text)]
        };
        Ok(Literal {
            pieces,
            quoted: true,
            span: Span::new(start, self.pos),
        })
    }

    /// `EscapedWhitespace` (`\t \r \n`) or `EscapedUnicodeSequence` (`\uXXXX`) at byte `at`
    /// (which holds a `\`): the decoded char and the offset after the escape.
    fn whitespace_or_unicode_escape(&self, at: usize) -> Option<(char, usize)> {
        let after = self.src.get(at + 1..)?;
        match after.chars().next()? {
            't' => Some(('\t', at + 2)),
            'r' => Some(('\r', at + 2)),
            'n' => Some(('\n', at + 2)),
            'u' => {
                let unit = hex4(after.get(1..5)?)?;
                let end = at + 6;
                Some(self.combine_surrogates(unit, end))
            }
            _ => None,
        }
    }

    /// Kibana builds the string from UTF-16 units (`String.fromCharCode`), so `\uD83D\uDE00` is
    /// one emoji. A lone surrogate cannot live in a Rust string; it becomes U+FFFD.
    fn combine_surrogates(&self, unit: u16, end: usize) -> (char, usize) {
        if (0xD800..0xDC00).contains(&unit) {
            let next = self.src.get(end..).unwrap_or("");
            if next.starts_with("\\u") {
                if let Some(low) = next.get(2..6).and_then(hex4) {
                    if (0xDC00..0xE000).contains(&low) {
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        return (char::from_u32(code).unwrap_or('\u{fffd}'), end + 6);
                    }
                }
            }
        }
        (char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'), end)
    }

    /// `UnquotedLiteral`: `UnquotedCharacter+`, then trimmed. Stops before a special character
    /// or a `Keyword`; spaces in between are part of the value. `Ok(None)` if no character
    /// could be read. The cursor ends after the raw characters (trailing spaces included), the
    /// span covers the trimmed text.
    fn unquoted(&mut self) -> Result<Option<Literal>, KqlError> {
        let start = self.pos;
        let mut items: Vec<(Item, usize, usize)> = Vec::new();
        while let Some(c) = self.peek() {
            let here = self.pos;
            let (item, end) = if c == '\\' {
                self.unquoted_escape(here)?
            } else if c == '*' {
                (Item::Wildcard, here + 1)
            } else if is_special(c) || self.keyword_at(here) {
                break;
            } else {
                (Item::Char(c), here + c.len_utf8())
            };
            items.push((item, here, end));
            self.pos = end;
        }
        if items.is_empty() {
            return Ok(None);
        }
        // JS `trim()` on the joined string: whitespace at either end goes, escaped or not.
        let is_trimmed = |(item, _, _): &(Item, usize, usize)| matches!(item, Item::Char(c) if is_js_whitespace(*c));
        let first = items.iter().position(|i| !is_trimmed(i));
        let last = items.iter().rposition(|i| !is_trimmed(i));
        let (kept, span) = match (first, last) {
            (Some(f), Some(l)) => (&items[f..=l], Span::new(items[f].1, items[l].2)),
            _ => (&items[..0], Span::new(start, start)),
        };
        let mut pieces = Vec::new();
        for (item, _, _) in kept {
            match item {
                Item::Wildcard => pieces.push(Piece::Wildcard),
                Item::Char(c) => match pieces.last_mut() {
                    Some(Piece::Text(t)) => t.push(*c),
                    _ => pieces.push(Piece::Text(c.to_string())),
                },
            }
        }
        Ok(Some(Literal {
            pieces,
            quoted: false,
            span,
        }))
    }

    /// An escape inside an unquoted literal, in `UnquotedCharacter`'s order: `EscapedWhitespace`,
    /// `EscapedSpecialCharacter`, `EscapedUnicodeSequence`, `EscapedKeyword`. The order matters:
    /// `\not` is `\n` (a newline) followed by `ot`, while `\NOT` is the word `NOT`. Anything else
    /// after `\` ends the literal in Kibana, which always fails the parse; we say why.
    fn unquoted_escape(&self, at: usize) -> Result<(Item, usize), KqlError> {
        if let Some((c, end)) = self.whitespace_or_unicode_escape(at) {
            // `\t \r \n` come first; `\u` is tried after specials, but 'u' is not special.
            return Ok((Item::Char(c), end));
        }
        let after = self.src.get(at + 1..).unwrap_or("");
        match after.chars().next() {
            Some(c) if is_special(c) => return Ok((Item::Char(c), at + 2)),
            _ => {}
        }
        for word in ["or", "and", "not"] {
            if starts_with_ci(after, word) {
                // Kibana keeps the keyword as written. We decode its first letter here; the rest
                // (`r`, `nd`, `ot`) are plain characters that cannot start a `Keyword`.
                let first = after.as_bytes()[0] as char;
                return Ok((Item::Char(first), at + 2));
            }
        }
        let found = match after.chars().next() {
            None => "'\\' at end of query".to_string(),
            Some(c) => quoted(&format!("\\{c}")),
        };
        let width = 1 + after.chars().next().map_or(0, char::len_utf8);
        Err(KqlError::new(
            KqlErrorKind::InvalidEscape,
            Span::new(at, at + width),
            "an escape sequence after '\\'",
            found,
        )
        .with_hint(
            "a backslash escapes one of \\ ( ) : < > \" * { }, a keyword, \\t \\r \\n or \\uXXXX",
        ))
    }
}

/// Four hex digits (`HexDigit = [0-9a-f]i`) as a UTF-16 unit.
fn hex4(digits: &str) -> Option<u16> {
    if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        u16::from_str_radix(digits, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner_at(src: &str, pos: usize) -> Scanner<'_> {
        Scanner { src, pos }
    }

    #[test]
    fn keyword_lookahead_matches_kibana_keyword_rule() {
        // (text, offset, is a Keyword there)
        let cases = [
            ("a or b", 1, true),
            ("a OR\tb", 1, true),
            ("a and\u{a0}b", 1, true),
            ("a or", 1, false),
            ("a orb", 1, false),
            ("a or b", 2, false),
            ("not b", 0, true),
            ("NoT\nb", 0, true),
            ("knot b", 1, true),
            ("not", 0, false),
            ("nota", 0, false),
            ("a  and b", 1, false),
            ("a  and b", 2, true),
        ];
        for (text, at, want) in cases {
            assert_eq!(scanner_at(text, 0).keyword_at(at), want, "{text:?} at {at}");
        }
    }

    #[test]
    fn operators_need_whitespace_on_both_sides() {
        let s = scanner_at("a  or\n b", 1);
        assert_eq!(s.binary_operator("or"), Some((Span::new(3, 5), 7)));
        assert_eq!(s.binary_operator("and"), None);
        assert_eq!(scanner_at("a or", 1).binary_operator("or"), None);
        assert_eq!(scanner_at("aor b", 1).binary_operator("or"), None);
        assert_eq!(scanner_at("not  x", 0).not_operator(), Some(5));
        assert_eq!(scanner_at("not(x)", 0).not_operator(), None);
    }

    #[test]
    fn range_operators_prefer_the_two_character_form() {
        assert_eq!(
            scanner_at("<=1", 0).range_operator(),
            Some((RangeOp::Lte, 2))
        );
        assert_eq!(
            scanner_at(">=1", 0).range_operator(),
            Some((RangeOp::Gte, 2))
        );
        assert_eq!(scanner_at("<1", 0).range_operator(), Some((RangeOp::Lt, 1)));
        assert_eq!(
            scanner_at("> =", 0).range_operator(),
            Some((RangeOp::Gt, 1))
        );
        assert_eq!(scanner_at("=", 0).range_operator(), None);
    }

    #[test]
    fn unquoted_literal_stops_at_specials_and_keywords_and_is_trimmed() {
        // (text, expected literal text, where the cursor stops)
        let cases = [
            ("abc", "abc", 3),
            ("ab c)", "ab c", 4),
            ("a b or c", "a b", 3),
            ("a b  or c", "a b", 4),
            ("a\u{2003}:", "a", 4),
            ("x not y", "x", 2),
            ("ab\"c", "ab", 2),
        ];
        for (text, want, stop) in cases {
            let mut s = scanner_at(text, 0);
            let lit = s.literal().expect("no error").expect("a literal");
            assert_eq!(lit.text(), want, "{text:?}");
            assert_eq!(s.pos, stop, "{text:?}");
        }
        assert_eq!(scanner_at(")", 0).literal(), Ok(None));
        assert_eq!(scanner_at("not x", 0).literal(), Ok(None));
    }

    #[test]
    fn js_trim_whitespace_differs_from_rust_whitespace() {
        assert!(is_js_whitespace('\u{feff}') && !'\u{feff}'.is_whitespace());
        assert!(!is_js_whitespace('\u{85}') && '\u{85}'.is_whitespace());
        assert!(is_js_whitespace('\u{3000}') && is_js_whitespace('\u{b}'));
        assert!(!is_space('\u{2003}') && is_js_whitespace('\u{2003}'));
    }

    #[test]
    fn unicode_escapes_need_four_hex_digits() {
        assert_eq!(hex4("00e9"), Some(0xe9));
        assert_eq!(hex4("00E9"), Some(0xe9));
        assert_eq!(hex4("00g9"), None);
        assert_eq!(hex4("+0e9"), None);
        assert_eq!(hex4("0e9"), None);
    }
}
