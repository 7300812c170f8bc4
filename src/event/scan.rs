//! A JSON reader that validates a whole event but decodes only the fields in a [`FieldPlan`].
//!
//! Most of an Okta event is never looked at by a rule (user agents, geo data, `event.original`),
//! so the reader walks the bytes once: it follows keys through the plan's trie, records where
//! the wanted scalar values are (offsets into the input, no copies unless a string has escapes),
//! and skips everything else with `memchr`. Per-event buffers live in [`Extracted`] and are
//! reused, so reading allocates nothing in the steady state.
//!
//! It rejects what a JSON parser rejects (so bad input is dead-lettered, not half-read): invalid
//! UTF-8, bad tokens, trailing bytes, non-object documents, nesting deeper than [`MAX_DEPTH`].
//! Known leniency, documented: raw control characters inside strings and duplicate keys are
//! accepted (Elasticsearch would reject such a document at indexing).

use super::plan::{FieldPlan, NodeId, SlotId};
use crate::engine::EventError;

/// serde_json's default recursion limit; deeper input is rejected as `too_deep`.
pub const MAX_DEPTH: usize = 128;

/// What kind of JSON scalar a value is. Strings keep their text; numbers keep their source text
/// (Elasticsearch indexes a number in a keyword field as that text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Num,
    True,
    False,
    /// An object or non-empty array was found at a wanted path: it has no scalar value, but the
    /// path holds at least one leaf below it (`exists` on an object field).
    Object,
}

/// One value found in the event: its kind and where its text is.
#[derive(Debug, Clone, Copy)]
pub struct RawValue {
    pub kind: Kind,
    /// True when the text lives in [`Extracted`]'s own buffer (a string that had escapes).
    owned: bool,
    start: u32,
    end: u32,
}

/// Per-event extraction results, reused from one event to the next.
#[derive(Debug, Default)]
pub struct Extracted {
    slots: Vec<Vec<RawValue>>,
    touched: Vec<SlotId>,
    unescaped: String,
    /// Every scalar leaf with its dotted path, when the plan asks for it.
    leaves: Vec<(String, RawValue)>,
}

/// An extracted event: the input bytes plus where the wanted values are.
pub struct EventView<'a> {
    pub(crate) input: &'a str,
    pub(crate) extracted: &'a Extracted,
}

impl<'a> EventView<'a> {
    /// Values of a slot (empty when the field is missing, null, or `[]`).
    #[inline]
    pub fn values(&self, slot: SlotId) -> &'a [RawValue] {
        self.extracted.slots.get(slot).map_or(&[], |v| v.as_slice())
    }

    /// The text of a value: string contents (unescaped) or the number's source text.
    #[inline]
    pub fn text(&self, value: &RawValue) -> &'a str {
        let source = if value.owned {
            self.extracted.unescaped.as_str()
        } else {
            self.input
        };
        match value.kind {
            Kind::True => "true",
            Kind::False => "false",
            Kind::Object => "",
            Kind::Str | Kind::Num => source
                .get(value.start as usize..value.end as usize)
                .unwrap_or(""),
        }
    }

    /// All leaves with their paths (only filled when the plan asked for them).
    pub fn leaves(&self) -> &'a [(String, RawValue)] {
        &self.extracted.leaves
    }

    /// The whole event text.
    pub fn input(&self) -> &'a str {
        self.input
    }
}

impl Extracted {
    pub fn new() -> Self {
        Self::default()
    }

    fn reset(&mut self, slot_count: usize) {
        for slot in self.touched.drain(..) {
            if let Some(values) = self.slots.get_mut(slot) {
                values.clear();
            }
        }
        if self.slots.len() < slot_count {
            self.slots.resize_with(slot_count, Vec::new);
        }
        self.unescaped.clear();
        self.leaves.clear();
    }

    fn push(&mut self, slot: SlotId, value: RawValue) {
        let values = &mut self.slots[slot];
        if values.is_empty() {
            self.touched.push(slot);
        }
        values.push(value);
    }
}

/// Reads `input` (one JSON document), filling `out` with the fields `plan` asks for.
pub fn extract<'a>(
    plan: &FieldPlan,
    input: &'a [u8],
    out: &'a mut Extracted,
) -> Result<EventView<'a>, EventError> {
    let text = std::str::from_utf8(input).map_err(|e| EventError::NotUtf8(e.valid_up_to()))?;
    out.reset(plan.slot_count());
    let mut reader = Reader {
        plan,
        bytes: input,
        pos: 0,
        out,
        path: String::new(),
    };
    reader.skip_ws();
    if reader.peek() != Some(b'{') {
        return Err(match reader.peek() {
            None => EventError::NotJson("empty input".into()),
            Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
                // Valid JSON that is not an object is `not_object`; anything else is `not_json`.
                match reader.skip_value(0) {
                    Ok(()) => {
                        reader.skip_ws();
                        if reader.pos == input.len() {
                            EventError::NotObject
                        } else {
                            reader.error("trailing characters after the JSON value")
                        }
                    }
                    Err(e) => e,
                }
            }
            Some(_) => reader.error("expected a JSON object"),
        });
    }
    reader.object(Some(0), None, 1)?;
    reader.skip_ws();
    if reader.pos != input.len() {
        return Err(reader.error("trailing characters after the JSON object"));
    }
    Ok(EventView {
        input: text,
        extracted: out,
    })
}

struct Reader<'p, 'a> {
    plan: &'p FieldPlan,
    bytes: &'a [u8],
    pos: usize,
    out: &'a mut Extracted,
    /// Current dotted path, maintained only when all leaves are recorded.
    path: String,
}

impl Reader<'_, '_> {
    fn error(&self, what: &str) -> EventError {
        EventError::NotJson(format!("{what} at byte {}", self.pos))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), EventError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Enters the object or array whose opening bracket is at `pos`; true when it is empty
    /// (then already left). Shared by the extracting and the skipping paths.
    #[inline]
    fn open_container(&mut self, close: u8, depth: usize) -> Result<bool, EventError> {
        if depth > MAX_DEPTH {
            return Err(EventError::TooDeep(MAX_DEPTH));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a member or element: true at `,` (another follows), false at `close` (left).
    #[inline]
    fn next_item(&mut self, close: u8) -> Result<bool, EventError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.error(if close == b'}' {
                "expected ',' or '}' in an object"
            } else {
                "expected ',' or ']' in an array"
            })),
        }
    }

    /// Reads an object whose opening brace is at `pos`. `node` is the plan node of this object's
    /// path (None when nothing below is wanted but leaves are being recorded).
    fn object(
        &mut self,
        node: Option<NodeId>,
        inherited_leaves: Option<SlotId>,
        depth: usize,
    ) -> Result<(), EventError> {
        if self.open_container(b'}', depth)? {
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let (start, end, escaped) = self.string()?;
            self.expect(b':', "expected ':' after an object key")?;
            self.skip_ws();
            let child = match node {
                Some(n) if !self.plan.is_leaf(n) => {
                    if escaped {
                        let key = unescape(&self.bytes[start..end])?;
                        self.plan.follow_key(n, key.as_bytes())
                    } else {
                        self.plan.follow_key(n, &self.bytes[start..end])
                    }
                }
                _ => None,
            };
            let inherited = node
                .and_then(|n| self.plan.nodes[n].leaves_slot)
                .or(inherited_leaves);
            if self.plan.all_leaves {
                let saved = self.path.len();
                if !self.path.is_empty() {
                    self.path.push('.');
                }
                let key = if escaped {
                    unescape(&self.bytes[start..end])?
                } else {
                    String::from_utf8_lossy(&self.bytes[start..end]).into_owned()
                };
                self.path.push_str(&key);
                self.value(child, inherited, depth)?;
                self.path.truncate(saved);
            } else if child.is_some() || inherited.is_some() {
                self.value(child, inherited, depth)?;
            } else {
                self.skip_value(depth)?;
            }
            if !self.next_item(b'}')? {
                return Ok(());
            }
        }
    }

    /// Reads a value at a wanted path. `leaves_slot` is a flattened root above this value that
    /// collects every scalar below it.
    fn value(
        &mut self,
        node: Option<NodeId>,
        inherited_leaves: Option<SlotId>,
        depth: usize,
    ) -> Result<(), EventError> {
        let own_slot = node.and_then(|n| self.plan.nodes[n].slot);
        let leaves_slot = node
            .and_then(|n| self.plan.nodes[n].leaves_slot)
            .or(inherited_leaves);
        match self.peek() {
            Some(b'{') => {
                if let Some(slot) = own_slot {
                    // `field:*` on an object field is true when any leaf below it exists;
                    // look ahead once (rare: only objects at a queried path).
                    let start = self.pos;
                    if self.skip_value_has_leaf(depth + 1)? {
                        self.out.push(
                            slot,
                            RawValue {
                                kind: Kind::Object,
                                owned: false,
                                start: 0,
                                end: 0,
                            },
                        );
                    }
                    self.pos = start;
                }
                self.object(node, inherited_leaves, depth + 1)
            }
            Some(b'[') => self.array(node, inherited_leaves, depth + 1),
            Some(_) => {
                let value = self.scalar()?;
                if let Some(value) = value {
                    if let Some(slot) = own_slot {
                        self.out.push(slot, value);
                    }
                    if let Some(slot) = leaves_slot {
                        self.out.push(slot, value);
                    }
                    if self.plan.all_leaves {
                        self.out.leaves.push((self.path.clone(), value));
                    }
                }
                Ok(())
            }
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn array(
        &mut self,
        node: Option<NodeId>,
        inherited_leaves: Option<SlotId>,
        depth: usize,
    ) -> Result<(), EventError> {
        if self.open_container(b']', depth)? {
            return Ok(());
        }
        loop {
            self.skip_ws();
            // Arrays are transparent: each element is a value of the same field.
            self.value(node, inherited_leaves, depth)?;
            if !self.next_item(b']')? {
                return Ok(());
            }
        }
    }

    /// Reads a string whose opening quote is at `pos`; returns the byte range of its contents
    /// and whether it contains escapes. Leaves `pos` after the closing quote.
    #[inline]
    fn string(&mut self) -> Result<(usize, usize, bool), EventError> {
        let start = self.pos + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            match find_quote_or_backslash(&self.bytes[at..]) {
                None => {
                    self.pos = self.bytes.len();
                    return Err(self.error("unterminated string"));
                }
                Some(i) => {
                    at += i;
                    if self.bytes[at] == b'"' {
                        self.pos = at + 1;
                        return Ok((start, at, escaped));
                    }
                    escaped = true;
                    at += match self.bytes.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                        Some(b'u')
                            if self
                                .bytes
                                .get(at + 2..at + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            6
                        }
                        _ => {
                            self.pos = at;
                            return Err(self.error("invalid escape in string"));
                        }
                    };
                }
            }
        }
    }

    /// Reads a scalar at `pos`. `None` for `null`.
    fn scalar(&mut self) -> Result<Option<RawValue>, EventError> {
        match self.peek() {
            Some(b'"') => {
                let (start, end, escaped) = self.string()?;
                if !escaped {
                    return Ok(Some(RawValue {
                        kind: Kind::Str,
                        owned: false,
                        start: start as u32,
                        end: end as u32,
                    }));
                }
                let text = unescape(&self.bytes[start..end])?;
                let owned_start = self.out.unescaped.len();
                self.out.unescaped.push_str(&text);
                let owned_end = self.out.unescaped.len();
                Ok(Some(RawValue {
                    kind: Kind::Str,
                    owned: true,
                    start: owned_start as u32,
                    end: owned_end as u32,
                }))
            }
            Some(b't') => self.literal(b"true").map(|()| {
                Some(RawValue {
                    kind: Kind::True,
                    owned: false,
                    start: 0,
                    end: 0,
                })
            }),
            Some(b'f') => self.literal(b"false").map(|()| {
                Some(RawValue {
                    kind: Kind::False,
                    owned: false,
                    start: 0,
                    end: 0,
                })
            }),
            Some(b'n') => self.literal(b"null").map(|()| None),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                Ok(Some(RawValue {
                    kind: Kind::Num,
                    owned: false,
                    start: start as u32,
                    end: self.pos as u32,
                }))
            }
            _ => Err(self.error("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), EventError> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Validates a number per the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), EventError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips any value, validating it.
    fn skip_value(&mut self, depth: usize) -> Result<(), EventError> {
        self.skip_value_has_leaf(depth).map(|_| ())
    }

    /// Skips any value, validating it; true when it is or contains a non-null scalar.
    fn skip_value_has_leaf(&mut self, depth: usize) -> Result<bool, EventError> {
        if depth > MAX_DEPTH {
            return Err(EventError::TooDeep(MAX_DEPTH));
        }
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            Some(b'"') => return self.string().map(|_| true),
            Some(b'n') => return self.literal(b"null").map(|()| false),
            _ => return self.scalar().map(|v| v.is_some()),
        };
        if self.open_container(close, depth)? {
            return Ok(false);
        }
        let mut has_leaf = false;
        loop {
            self.skip_ws();
            if open == b'{' {
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a string key"));
                }
                self.string()?;
                self.expect(b':', "expected ':' after an object key")?;
                self.skip_ws();
            }
            has_leaf |= self.skip_value_has_leaf(depth + 1)?;
            if !self.next_item(close)? {
                return Ok(has_leaf);
            }
        }
    }
}

/// Position of the first `"` or `\\`. Most JSON strings are short, where `memchr`'s set-up
/// costs more than it saves, so the first bytes are checked eight at a time in a register
/// (SWAR) before handing long strings to `memchr`.
#[inline]
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while at + 8 <= bytes.len() && at < 64 {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(chunk);
        let quotes = word ^ (ONES * u64::from(b'"'));
        let slashes = word ^ (ONES * u64::from(b'\\'));
        let found =
            (quotes.wrapping_sub(ONES) & !quotes | slashes.wrapping_sub(ONES) & !slashes) & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr::memchr2(b'"', b'\\', &bytes[at..]).map(|i| at + i)
}

/// Decodes the contents of a JSON string that contains escapes.
fn unescape(raw: &[u8]) -> Result<String, EventError> {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted)
        .map_err(|e| EventError::NotJson(format!("bad string: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(plan: &FieldPlan, slot: SlotId, input: &str) -> Vec<String> {
        let mut out = Extracted::new();
        let view = extract(plan, input.as_bytes(), &mut out).expect("valid event");
        view.values(slot)
            .iter()
            .map(|v| view.text(v).to_owned())
            .collect()
    }

    #[test]
    fn finds_values_under_dotted_keys_nested_objects_and_arrays_of_objects() {
        let mut plan = FieldPlan::new();
        let action = plan.field("event.action");
        let target = plan.field("okta.target.id");
        let cases: &[(&str, SlotId, &[&str])] = &[
            (r#"{"event":{"action":"a"}}"#, action, &["a"]),
            (r#"{"event.action":"a"}"#, action, &["a"]),
            (
                r#"{"event":{"action":["a","b"]},"event.action":"c"}"#,
                action,
                &["a", "b", "c"],
            ),
            (r#"{"event":{"action":null}}"#, action, &[]),
            (r#"{"event":{"action":[]}}"#, action, &[]),
            (r#"{"event":{"action":[null]}}"#, action, &[]),
            (r#"{"event":{"action":5}}"#, action, &["5"]),
            (r#"{"event":{"action":1.50}}"#, action, &["1.50"]),
            (r#"{"event":{"action":true}}"#, action, &["true"]),
            (r#"{"event":{"action":"a\"b\u00e9"}}"#, action, &["a\"bé"]),
            (
                r#"{"okta":{"target":[{"id":"x"},{"id":"y"}]}}"#,
                target,
                &["x", "y"],
            ),
            (
                r#"{"okta.target":[{"id":"x"}],"okta":{"target.id":"z"}}"#,
                target,
                &["x", "z"],
            ),
            (r#"{"other":{"event":{"action":"no"}}}"#, action, &[]),
        ];
        for (input, slot, expected) in cases {
            assert_eq!(&texts(&plan, *slot, input), expected, "input {input}");
        }
    }

    #[test]
    fn an_object_at_a_queried_path_counts_as_present_only_with_a_leaf() {
        let mut plan = FieldPlan::new();
        let user = plan.field("user");
        let mut out = Extracted::new();
        for (input, present) in [
            (r#"{"user":{"name":"x"}}"#, true),
            (r#"{"user":{"name":null}}"#, false),
            (r#"{"user":{}}"#, false),
            (r#"{"user":[{"a":[]},{"b":{"c":0}}]}"#, true),
        ] {
            let view = extract(&plan, input.as_bytes(), &mut out).expect("valid");
            assert_eq!(!view.values(user).is_empty(), present, "input {input}");
        }
    }

    #[test]
    fn flattened_roots_collect_every_leaf_below() {
        let mut plan = FieldPlan::new();
        let all = plan.leaves_below("okta.target");
        let got = texts(
            &plan,
            all,
            r#"{"okta":{"target":[{"id":"x","d":{"n":1}},{"t":true}]}}"#,
        );
        assert_eq!(got, ["x", "1", "true"]);
    }

    #[test]
    fn rejects_what_a_json_parser_rejects() {
        let plan = FieldPlan::new();
        let mut out = Extracted::new();
        let cases: &[(&[u8], &str)] = &[
            (b"", "not_json"),
            (b"{", "not_json"),
            (b"{\"a\":}", "not_json"),
            (b"{\"a\":1,}", "not_json"),
            (b"{\"a\":01}", "not_json"),
            (b"{\"a\":\"\\x\"}", "not_json"),
            (b"{\"a\":1} x", "not_json"),
            (b"[1,2]", "not_object"),
            (b"\"s\"", "not_object"),
            (b"{\"a\":\"\xff\"}", "not_utf8"),
            (b"{\"a\":tru}", "not_json"),
        ];
        for (input, reason) in cases {
            let err = extract(&plan, input, &mut out).err().map(|e| e.reason());
            assert_eq!(
                err,
                Some(*reason),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            extract(&plan, deep.as_bytes(), &mut out).err(),
            Some(EventError::TooDeep(MAX_DEPTH))
        );
    }

    #[test]
    fn accepts_whatever_serde_json_accepts_on_sample_documents() {
        let plan = FieldPlan::new();
        let mut out = Extracted::new();
        for input in [
            r#" { "a" : [ 1 , -2.5e+3 , { } , [ ] , "x" ] , "b" : null } "#,
            "{}",
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(input).is_ok());
            assert!(
                extract(&plan, input.as_bytes(), &mut out).is_ok(),
                "{input}"
            );
        }
    }
}
