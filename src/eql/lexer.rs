//! EQL tokens, scanned ahead of parsing (EQL's grammar, unlike KQL's, has context-free tokens).
//!
//! Follows the lexer rules of Elasticsearch's `EqlBase.g4`: keywords are lowercase and
//! case-sensitive; `in~`, `like~`, `regex~` are single tokens, as is a function name followed by
//! `~` (`startsWith~`); identifiers are `[A-Za-z_@][A-Za-z0-9_]*` or backticked with `` `` ``
//! for a backtick; comments are `//…` and nestable `/* … */`. Strings are `"…"` with escapes
//! `\b \t \n \f \r \" \' \\ \u{hex}` or `"""…"""` raw on one line. Elasticsearch's lexer also
//! reads `'…'`, `?"…"` and `?'…'` but its AST builder rejects them; we reject them here with the
//! same hint.

use super::error::{EqlError, EqlErrorKind};
use crate::diag::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    // Keywords.
    And,
    Any,
    By,
    False,
    In,
    InI,
    Join,
    Like,
    LikeI,
    Maxspan,
    Not,
    Null,
    Of,
    Or,
    Regex,
    RegexI,
    Sample,
    Sequence,
    True,
    Until,
    Where,
    With,
    // Operators.
    Colon,
    Assign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Dot,
    Comma,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Pipe,
    /// `?` before a field name (optional field).
    Question,
    /// `![` opening a missing-event step.
    MissingOpen,
    Str {
        value: String,
        raw: bool,
    },
    Int(u64),
    Float(f64),
    Ident(String),
    /// `` `…` ``.
    QuotedIdent(String),
    /// `name~` (case-insensitive function).
    TildeIdent(String),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Str { .. } => "a string".into(),
            Tok::Int(n) => format!("number {n}"),
            Tok::Float(n) => format!("number {n}"),
            Tok::Ident(s) => format!("identifier '{s}'"),
            Tok::QuotedIdent(s) => format!("identifier `{s}`"),
            Tok::TildeIdent(s) => format!("'{s}~'"),
            Tok::Eof => "end of query".into(),
            other => format!("'{}'", other.text()),
        }
    }

    /// Source text of keyword and operator tokens.
    pub fn text(&self) -> &'static str {
        match self {
            Tok::And => "and",
            Tok::Any => "any",
            Tok::By => "by",
            Tok::False => "false",
            Tok::In => "in",
            Tok::InI => "in~",
            Tok::Join => "join",
            Tok::Like => "like",
            Tok::LikeI => "like~",
            Tok::Maxspan => "maxspan",
            Tok::Not => "not",
            Tok::Null => "null",
            Tok::Of => "of",
            Tok::Or => "or",
            Tok::Regex => "regex",
            Tok::RegexI => "regex~",
            Tok::Sample => "sample",
            Tok::Sequence => "sequence",
            Tok::True => "true",
            Tok::Until => "until",
            Tok::Where => "where",
            Tok::With => "with",
            Tok::Colon => ":",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Pipe => "|",
            Tok::Question => "?",
            Tok::MissingOpen => "![",
            _ => "",
        }
    }
}

fn keyword(word: &str) -> Option<Tok> {
    Some(match word {
        "and" => Tok::And,
        "any" => Tok::Any,
        "by" => Tok::By,
        "false" => Tok::False,
        "in" => Tok::In,
        "join" => Tok::Join,
        "like" => Tok::Like,
        "maxspan" => Tok::Maxspan,
        "not" => Tok::Not,
        "null" => Tok::Null,
        "of" => Tok::Of,
        "or" => Tok::Or,
        "regex" => Tok::Regex,
        "sample" => Tok::Sample,
        "sequence" => Tok::Sequence,
        "true" => Tok::True,
        "until" => Tok::Until,
        "where" => Tok::Where,
        "with" => Tok::With,
        _ => return None,
    })
}

/// Words that are keywords only with a `~` glued on.
fn tilde_keyword(word: &str) -> Option<Tok> {
    Some(match word {
        "in" => Tok::InI,
        "like" => Tok::LikeI,
        "regex" => Tok::RegexI,
        _ => return None,
    })
}

/// Splits `src` into tokens with spans; the last token is [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<(Tok, Span)>, EqlError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let start = lx.pos;
        let Some(&b) = lx.bytes.get(lx.pos) else {
            out.push((Tok::Eof, Span::new(start, start)));
            return Ok(out);
        };
        let tok = lx.token(b)?;
        out.push((tok, Span::new(start, lx.pos)));
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn skip_trivia(&mut self) -> Result<(), EqlError> {
        loop {
            match (self.peek_at(0), self.peek_at(1)) {
                (Some(b' ' | b'\t' | b'\r' | b'\n'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => {
                    while let Some(b) = self.peek_at(0) {
                        self.pos += 1;
                        if b == b'\n' {
                            break;
                        }
                    }
                }
                (Some(b'/'), Some(b'*')) => self.block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    /// `/* … */`, nestable as in `EqlBase.g4` (`BRACKETED_COMMENT` refers to itself).
    fn block_comment(&mut self) -> Result<(), EqlError> {
        let start = self.pos;
        let mut depth = 0usize;
        while self.pos < self.bytes.len() {
            match (self.peek_at(0), self.peek_at(1)) {
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => self.pos += 1,
            }
        }
        Err(EqlError::new(
            EqlErrorKind::Unexpected,
            Span::new(start, start + 2),
            "'*/' closing this comment",
            "end of query",
        ))
    }

    fn token(&mut self, b: u8) -> Result<Tok, EqlError> {
        let two = |lx: &mut Self, t: Tok| {
            lx.pos += 2;
            Ok(t)
        };
        let one = |lx: &mut Self, t: Tok| {
            lx.pos += 1;
            Ok(t)
        };
        let next = self.peek_at(1);
        match b {
            b'"' => self.string(),
            b'\'' | b'?' if b == b'\'' || matches!(next, Some(b'"' | b'\'')) => {
                Err(self.rejected_quote(b))
            }
            b'?' => one(self, Tok::Question),
            b'`' => self.quoted_ident(),
            b'0'..=b'9' => self.number(),
            b'.' if next.is_some_and(|c| c.is_ascii_digit()) => self.number(),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'@' => Ok(self.word()),
            b'=' if next == Some(b'=') => two(self, Tok::EqEq),
            b'=' => one(self, Tok::Assign),
            b'!' if next == Some(b'=') => two(self, Tok::Ne),
            b'!' if next == Some(b'[') => two(self, Tok::MissingOpen),
            b'<' if next == Some(b'=') => two(self, Tok::Le),
            b'<' => one(self, Tok::Lt),
            b'>' if next == Some(b'=') => two(self, Tok::Ge),
            b'>' => one(self, Tok::Gt),
            b':' => one(self, Tok::Colon),
            b'+' => one(self, Tok::Plus),
            b'-' => one(self, Tok::Minus),
            b'*' => one(self, Tok::Star),
            b'/' => one(self, Tok::Slash),
            b'%' => one(self, Tok::Percent),
            b'.' => one(self, Tok::Dot),
            b',' => one(self, Tok::Comma),
            b'[' => one(self, Tok::LBracket),
            b']' => one(self, Tok::RBracket),
            b'(' => one(self, Tok::LParen),
            b')' => one(self, Tok::RParen),
            b'|' => one(self, Tok::Pipe),
            _ => {
                let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                Err(EqlError::new(
                    EqlErrorKind::BadToken,
                    Span::new(self.pos, self.pos + ch.len_utf8()),
                    "a field, value, operator or keyword",
                    format!("'{ch}'"),
                ))
            }
        }
    }

    /// Elasticsearch lexes `'…'` and `?"…"` but refuses them in `AbstractBuilder.unquoteString`.
    fn rejected_quote(&self, b: u8) -> EqlError {
        let (found, hint) = if b == b'\'' {
            (
                "a single-quoted string",
                "use double quotes [\"] to define string literals",
            )
        } else {
            (
                "a '?' raw string",
                "use triple double quotes [\"\"\"] to define unescaped string literals",
            )
        };
        EqlError::new(
            EqlErrorKind::Invalid,
            Span::new(self.pos, self.pos + 1),
            "a double-quoted string",
            found,
        )
        .with_hint(hint)
    }

    fn word(&mut self) -> Tok {
        let start = self.pos;
        self.pos += 1;
        while self
            .peek_at(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        if self.peek_at(0) == Some(b'~') {
            self.pos += 1;
            return tilde_keyword(word).unwrap_or_else(|| Tok::TildeIdent(word.to_owned()));
        }
        keyword(word).unwrap_or_else(|| Tok::Ident(word.to_owned()))
    }

    fn quoted_ident(&mut self) -> Result<Tok, EqlError> {
        let start = self.pos;
        self.pos += 1;
        let mut name = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(i) = rest.find('`') else {
                return Err(EqlError::new(
                    EqlErrorKind::UnterminatedString,
                    Span::new(start, start + 1),
                    "'`' closing this field name",
                    "end of query",
                ));
            };
            name.push_str(&rest[..i]);
            self.pos += i + 1;
            if self.peek_at(0) == Some(b'`') {
                name.push('`');
                self.pos += 1;
            } else {
                return Ok(Tok::QuotedIdent(name));
            }
        }
    }

    /// `INTEGER_VALUE: DIGIT+` and `DECIMAL_VALUE` (`1.`, `.5`, `1e3`, `1.5E-2`).
    fn number(&mut self) -> Result<Tok, EqlError> {
        let start = self.pos;
        let digits = |lx: &mut Self| {
            while lx.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
                lx.pos += 1;
            }
        };
        digits(self);
        let mut decimal = false;
        if self.peek_at(0) == Some(b'.') {
            // `1.b` would be a number then a field in no valid query; ANTLR lexes `1.` greedily too.
            decimal = true;
            self.pos += 1;
            digits(self);
        }
        if matches!(self.peek_at(0), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek_at(0), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
                decimal = true;
                digits(self);
            } else {
                // Not an exponent: `10e` — leave `e…` to be read as a word (a time unit, say).
                self.pos = save;
            }
        }
        let text = &self.src[start..self.pos];
        let span = Span::new(start, self.pos);
        if decimal {
            text.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Tok::Float)
                .ok_or_else(|| EqlError::new(EqlErrorKind::Invalid, span, "a finite number", text))
        } else {
            text.parse::<u64>().map(Tok::Int).map_err(|_| {
                EqlError::new(
                    EqlErrorKind::Invalid,
                    span,
                    "an integer below 2^64",
                    format!("'{text}'"),
                )
            })
        }
    }

    fn string(&mut self) -> Result<Tok, EqlError> {
        let start = self.pos;
        if self.src[self.pos..].starts_with("\"\"\"") {
            return self.raw_string(start);
        }
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(i) = rest.find(['"', '\\', '\n', '\r']) else {
                return Err(unterminated(start, 1));
            };
            value.push_str(&rest[..i]);
            self.pos += i;
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(Tok::Str { value, raw: false });
                }
                b'\\' => self.escape(&mut value)?,
                _ => return Err(unterminated(start, 1)),
            }
        }
    }

    /// One `\` escape at `pos`, appended to `value`.
    fn escape(&mut self, value: &mut String) -> Result<(), EqlError> {
        let at = self.pos;
        let c = self.peek_at(1);
        let simple = match c {
            Some(b'b') => Some('\u{8}'),
            Some(b't') => Some('\t'),
            Some(b'n') => Some('\n'),
            Some(b'f') => Some('\u{c}'),
            Some(b'r') => Some('\r'),
            Some(b'"') => Some('"'),
            Some(b'\'') => Some('\''),
            Some(b'\\') => Some('\\'),
            _ => None,
        };
        if let Some(ch) = simple {
            value.push(ch);
            self.pos += 2;
            return Ok(());
        }
        // `\u{XXXX}`: 2 to 8 hex digits naming a Unicode scalar (Elasticsearch's `UNICODE_ESCAPE`).
        if c == Some(b'u') && self.peek_at(2) == Some(b'{') {
            let rest = &self.src[self.pos + 3..];
            if let Some(close) = rest.find('}') {
                let hex = &rest[..close];
                // `from_str_radix` would also take a leading `+`; the grammar wants hex digits only.
                let ch = ((2..=8).contains(&hex.len())
                    && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
                .and_then(char::from_u32);
                if let Some(ch) = ch {
                    value.push(ch);
                    self.pos += 3 + close + 1;
                    return Ok(());
                }
                return Err(EqlError::new(
                    EqlErrorKind::InvalidEscape,
                    Span::new(at, self.pos + 3 + close + 1),
                    "a unicode escape of 2 to 8 hex digits naming a character",
                    format!("'\\u{{{hex}}}'"),
                ));
            }
        }
        let shown: String = self.src[at..].chars().take(2).collect();
        Err(EqlError::new(
            EqlErrorKind::InvalidEscape,
            Span::new(at, at + shown.len()),
            "an escape sequence (\\\" \\\\ \\n \\t \\r \\b \\f \\' or \\u{hex})",
            format!("'{shown}'"),
        )
        .with_hint("use a raw string \"\"\"…\"\"\" to write backslashes literally"))
    }

    /// `"""…"""` on one line, the shortest match, then up to two more `"` belong to the value
    /// (`'"""' (~[\r\n])*? '"""' '"'? '"'?` — so `""""a""""` is `"a"`).
    fn raw_string(&mut self, start: usize) -> Result<Tok, EqlError> {
        let body_start = start + 3;
        let rest = &self.src[body_start..];
        let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let Some(close) = rest[..line_end].find("\"\"\"") else {
            return Err(unterminated(start, 3));
        };
        let mut end = body_start + close + 3;
        let mut value = rest[..close].to_owned();
        for _ in 0..2 {
            if self.bytes.get(end) == Some(&b'"') {
                value.push('"');
                end += 1;
            }
        }
        self.pos = end;
        Ok(Tok::Str { value, raw: true })
    }
}

fn unterminated(start: usize, len: usize) -> EqlError {
    EqlError::new(
        EqlErrorKind::UnterminatedString,
        Span::new(start, start + len),
        "a closing quote on the same line",
        "an unterminated string",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src)
            .map(|v| v.into_iter().map(|(t, _)| t).collect())
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn str_tok(value: &str, raw: bool) -> Tok {
        Tok::Str {
            value: value.into(),
            raw,
        }
    }

    #[test]
    fn tilde_forms_are_single_tokens() {
        assert_eq!(
            toks("in~ like~ regex~ startsWith~ in"),
            [
                Tok::InI,
                Tok::LikeI,
                Tok::RegexI,
                Tok::TildeIdent("startsWith".into()),
                Tok::In,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn keywords_are_lowercase_only() {
        assert_eq!(toks("AND")[0], Tok::Ident("AND".into()));
        assert_eq!(toks("and")[0], Tok::And);
    }

    #[test]
    fn numbers_and_time_units() {
        assert_eq!(toks("10m")[..2], [Tok::Int(10), Tok::Ident("m".into())]);
        assert_eq!(toks("1.5e3")[0], Tok::Float(1500.0));
        assert_eq!(toks(".5")[0], Tok::Float(0.5));
        assert_eq!(toks("10e")[..2], [Tok::Int(10), Tok::Ident("e".into())]);
        assert!(tokenize("99999999999999999999").is_err());
    }

    #[test]
    fn strings_escapes_and_raw_strings() {
        assert_eq!(toks(r#""a\tb\"c""#)[0], str_tok("a\tb\"c", false));
        assert_eq!(toks(r#""\u{1F600}""#)[0], str_tok("\u{1F600}", false));
        assert_eq!(toks(r#""""a\b""""#)[0], str_tok("a\\b", true));
        assert!(tokenize(r#""\u{+41}""#).is_err());
        assert!(
            tokenize(r#""\u{D800}""#).is_err(),
            "a surrogate is not a character"
        );
        assert!(tokenize("\"a\nb\"").is_err(), "strings end at the line");
        assert!(tokenize(r#""""a"#).is_err());
    }

    #[test]
    fn comments_nest_and_backticks_double() {
        assert_eq!(toks("/* a /* b */ c */ x // y\nz").len(), 3);
        assert!(tokenize("/* open /* */").is_err());
        assert_eq!(toks("`a``b`")[0], Tok::QuotedIdent("a`b".into()));
    }

    #[test]
    fn missing_event_bracket_and_not_equal() {
        assert_eq!(toks("![ !=")[..2], [Tok::MissingOpen, Tok::Ne]);
        assert!(tokenize("!").is_err());
    }
}
