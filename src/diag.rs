//! Source positions shared by every parser (KQL, EQL, rule TOML, config): a byte [`Span`], its
//! line/column, and one place that renders the offending line with a caret under it, so that
//! all errors look alike.

use std::fmt;

/// A half-open byte range `start..end` into some source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// This span moved by `offset` bytes, e.g. from query-relative to file-relative.
    pub fn shifted(self, offset: usize) -> Span {
        Span::new(self.start + offset, self.end + offset)
    }
}

/// 1-based line and column (column counted in characters, as editors show it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Line and column of byte `offset` in `text`. Offsets past the end map to the end.
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    LineCol { line, column }
}

/// The line containing `span.start`, and a caret line underneath pointing at the span:
///
/// ```text
/// event.action:(a or
///                    ^ expected a value
/// ```
pub fn render_caret(text: &str, span: Span, message: &str) -> String {
    let lc = line_col(text, span.start);
    let line_text = text.lines().nth(lc.line - 1).unwrap_or("");
    let width = {
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        text.get(start..end)
            .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1))
    };
    format!(
        "{line_text}\n{pad}{carets} {message}",
        pad = " ".repeat(lc.column - 1),
        carets = "^".repeat(width)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters_from_one() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), LineCol { line: 1, column: 1 });
        assert_eq!(line_col(text, 3), LineCol { line: 2, column: 1 });
        // 'é' is two bytes; the 'f' line starts after it.
        assert_eq!(line_col(text, 8), LineCol { line: 3, column: 1 });
        assert_eq!(line_col(text, 100), LineCol { line: 3, column: 2 });
    }

    #[test]
    fn caret_points_under_the_span() {
        let out = render_caret("a:(b or", Span::new(7, 7), "expected a value");
        assert_eq!(out, "a:(b or\n       ^ expected a value");
    }
}
