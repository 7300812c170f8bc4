//! The one error type of the EQL front end (parser and condition compiler). Like KQL's, every
//! error carries a byte [`Span`] plus what was expected and what was found, so the caller can
//! draw a caret under the offending text with [`EqlError::render`].

use crate::diag::{line_col, render_caret, LineCol, Span};

/// What went wrong, for callers that react differently (e.g. the rule loader may skip rules that
/// use a feature we do not support rather than report them as broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EqlErrorKind {
    /// A token the grammar does not allow here.
    Unexpected,
    /// A character that starts no token.
    BadToken,
    /// A `"` or `"""` never closed.
    UnterminatedString,
    /// A `\` escape Elasticsearch does not accept.
    InvalidEscape,
    /// Nesting deeper than [`super::MAX_NESTING`].
    TooDeep,
    /// Valid grammar that Elasticsearch rejects when it analyses the query (`field[0]`, unknown
    /// functions, wrong argument types, `maxspan` without unit…).
    Invalid,
    /// Valid EQL that this engine does not evaluate (e.g. pipes).
    Unsupported,
}

/// An EQL syntax or semantic error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} but found {found}{}", hint_suffix(.hint))]
pub struct EqlError {
    pub kind: EqlErrorKind,
    /// Byte offsets into the query text.
    pub span: Span,
    /// What the grammar allowed here, e.g. `an expression after 'and'`.
    pub expected: String,
    /// What was there instead, e.g. `end of query`.
    pub found: String,
    /// How to fix it, when there is a usual fix.
    pub hint: Option<String>,
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map_or_else(String::new, |h| format!(" ({h})"))
}

impl EqlError {
    pub(crate) fn new(
        kind: EqlErrorKind,
        span: Span,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        EqlError {
            kind,
            span,
            expected: expected.into(),
            found: found.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Line and column of the error's start in `input`.
    pub fn line_col(&self, input: &str) -> LineCol {
        line_col(input, self.span.start)
    }

    /// `at line:col:`, then the offending line with a caret and the message under the span.
    pub fn render(&self, input: &str) -> String {
        format!(
            "at {}:\n{}",
            self.line_col(input),
            render_caret(input, self.span, &self.to_string())
        )
    }
}
