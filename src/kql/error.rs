//! The one error type of the KQL parser. Every error says what the grammar expected, what it
//! found instead and where (a byte [`Span`] into the query), so that the caller can draw a caret
//! under the offending token. Messages follow one shape, `expected … but found …`, optionally
//! followed by a hint, because that is what a rule author needs to fix the query.

use crate::diag::{render_caret, Span};

/// What went wrong, for callers that react differently (e.g. the rule loader may want to say
/// "this rule has no query" for [`KqlErrorKind::EmptyQuery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KqlErrorKind {
    /// The query is empty or only whitespace. Kibana parses it as "match everything"
    /// (`is(*, *)`, see `start` in `grammar.peggy`); a detection rule should never mean that, so
    /// we refuse it and let the caller decide.
    EmptyQuery,
    /// A token the grammar does not allow at this place.
    Unexpected,
    /// A `(` or `{` that is never closed; the span points at the opening delimiter.
    Unclosed,
    /// A `"` with no closing `"`; the span points at the opening quote.
    UnterminatedString,
    /// A `\` followed by something Kibana cannot unescape in an unquoted value.
    InvalidEscape,
    /// `field < a*`: Kibana would send `a*` to Elasticsearch as a plain range bound, which is
    /// never what the author meant (elastic/detection-rules' own KQL parser rejects it too).
    WildcardInRange,
    /// Deeper nesting of `(`, `{` or `not` than [`super::MAX_NESTING`].
    TooDeep,
}

/// A KQL syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} but found {found}{}", hint_suffix(.hint))]
pub struct KqlError {
    pub kind: KqlErrorKind,
    /// Byte offsets into the parsed query text.
    pub span: Span,
    /// What the grammar allowed here, e.g. `a value after ':'`.
    pub expected: String,
    /// What was there instead, e.g. `end of query` or `')'`.
    pub found: String,
    /// How to fix it, when there is a usual fix.
    pub hint: Option<&'static str>,
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map_or_else(String::new, |h| format!(" ({h})"))
}

/// `text` in quotes for a message, with control characters escaped so that the message stays on
/// one line (`'\\n'` rather than a line break).
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

impl KqlError {
    pub(crate) fn new(
        kind: KqlErrorKind,
        span: Span,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        KqlError {
            kind,
            span,
            expected: expected.into(),
            found: found.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn kind(&self) -> KqlErrorKind {
        self.kind
    }

    pub fn span(&self) -> Span {
        self.span
    }

    /// The query line with a caret under the offending token and the message after it.
    pub fn render(&self, input: &str) -> String {
        render_caret(input, self.span, &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_one_lowercase_line_with_optional_hint() {
        let e = KqlError::new(
            KqlErrorKind::Unexpected,
            Span::new(2, 2),
            "a value after ':'",
            "end of query",
        );
        assert_eq!(
            e.to_string(),
            "expected a value after ':' but found end of query"
        );
        let e = e.with_hint("quote it");
        assert_eq!(
            e.to_string(),
            "expected a value after ':' but found end of query (quote it)"
        );
    }

    #[test]
    fn quoted_text_in_messages_stays_on_one_line() {
        assert_eq!(quoted("a\nb\u{0}é"), "'a\\nb\\0é'");
    }

    #[test]
    fn render_draws_the_caret_under_the_span() {
        let e = KqlError::new(
            KqlErrorKind::Unexpected,
            Span::new(2, 2),
            "a value after ':'",
            "end of query",
        );
        assert_eq!(
            e.render("a:"),
            "a:\n  ^ expected a value after ':' but found end of query"
        );
    }
}
