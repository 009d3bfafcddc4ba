//! One string member of a JSON line too long to hold, read as a stream.
//!
//! [`jsonl::string_field`](crate::jsonl::string_field) (serde_json) needs the
//! whole line, and serde_json's streaming reader buffers a whole string
//! value, so a single 1 GB line would need 2-3 GB. [`FieldScanner`] is fed
//! the line in chunks of any size, validates all of it (the JSON grammar and
//! UTF-8), and hands the member's text to a [`FieldSink`] as it goes, with
//! bounded memory. It is hand-written because no maintained crate streams a
//! string value's contents; it accepts exactly what `string_field` accepts
//! and gives the same text, which a property test checks against it.
//!
//! Only lines longer than a read chunk come here; every other line goes
//! through serde_json.

use crate::jsonl::FieldError;

/// Receives the text of the wanted member while the line streams in.
pub trait FieldSink {
    /// A string value of the member starts; any earlier one (a duplicate key
    /// earlier in the line) is dropped: the last one wins.
    fn begin(&mut self);
    /// The next valid UTF-8 bytes of the value (a character may be split
    /// across calls, but never around a [`lone_surrogate`](Self::lone_surrogate)).
    fn text(&mut self, utf8: &[u8]);
    /// A `\u` escape of a lone surrogate (kept, as Python's json does).
    fn lone_surrogate(&mut self, cp: u32);
    /// The value's closing quote.
    fn end(&mut self);
}

/// What a complete line held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The member is a string; its text went to the sink.
    Text,
    /// The member's last value is not a string (a JSON `found`).
    NotAString(&'static str),
    Missing,
    NotAnObject,
}

impl Outcome {
    /// The `string_field` error of this outcome, if any.
    pub fn error(&self) -> Option<FieldError> {
        match self {
            Outcome::Text => None,
            Outcome::NotAString(found) => Some(FieldError::NotAString { found }),
            Outcome::Missing => Some(FieldError::Missing),
            Outcome::NotAnObject => Some(FieldError::NotAnObject),
        }
    }
}

/// Malformed JSON or UTF-8: what and at which byte of the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub message: String,
    pub offset: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A key of the top-level object: compared with the wanted key.
    Key,
    /// Any other key.
    OtherKey,
    /// The wanted member's string value.
    Target,
    /// Any other string value.
    Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A value must come (whitespace first).
    Value,
    /// After `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the closing bracket, or only whitespace after
    /// the top-level value.
    After,
    /// After `[`: a value or `]`.
    FirstItem,
    Str(Role),
    /// After a backslash.
    Escape(Role),
    /// Inside `\uXXXX`: digits read, value so far, and the high surrogate
    /// this escape may complete.
    Unicode {
        role: Role,
        digits: u8,
        value: u32,
        high: Option<u32>,
    },
    /// After a high surrogate's escape: a `\` may start its low half.
    High(Role, u32),
    /// After a high surrogate and a `\`: `u` continues the pair.
    HighBackslash(Role, u32),
    Number(Num),
    Literal(&'static [u8], u8),
}

/// Streams one JSON line; see the module docs.
#[derive(Debug)]
pub struct FieldScanner {
    key: Vec<u8>,
    state: State,
    /// Open containers, the top-level one first: true for an object.
    stack: Vec<bool>,
    /// Whether the top-level value is an object (None before it starts).
    top_object: Option<bool>,
    /// Bytes of the line consumed.
    pos: u64,
    /// Bytes of the current top-level key decoded so far, and whether they
    /// still equal the start of the wanted key.
    key_len: usize,
    key_same: bool,
    /// The value after the current key is the wanted member's.
    wanted: bool,
    outcome: Outcome,
    /// An unfinished UTF-8 sequence at the end of the last chunk.
    utf8_carry: Vec<u8>,
    error: Option<Malformed>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn kind_of(b: u8) -> &'static str {
    match b {
        b'{' => "object",
        b'[' => "array",
        b't' | b'f' => "boolean",
        b'n' => "null",
        _ => "number",
    }
}

impl FieldScanner {
    pub fn new(key: &str) -> Self {
        FieldScanner {
            key: key.as_bytes().to_vec(),
            state: State::Value,
            stack: Vec::new(),
            top_object: None,
            pos: 0,
            key_len: 0,
            key_same: true,
            wanted: false,
            outcome: Outcome::Missing,
            utf8_carry: Vec::new(),
            error: None,
        }
    }

    /// Bytes of the line fed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn fail(&mut self, at: u64, message: &str) {
        if self.error.is_none() {
            self.error = Some(Malformed { message: message.to_string(), offset: at });
        }
    }

    /// Feeds the next bytes of the line (without its newline). After an
    /// error the rest is ignored; [`finish`](Self::finish) reports it.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn FieldSink) {
        if self.error.is_some() {
            return;
        }
        if let Err(bad) = self.check_utf8(chunk) {
            self.fail(bad, "invalid UTF-8");
            return;
        }
        let base = self.pos;
        let mut i = 0;
        while i < chunk.len() && self.error.is_none() {
            i = self.step(chunk, i, base, sink);
        }
        self.pos = base + chunk.len() as u64;
    }

    /// The line ended: what it held, or why it is malformed.
    pub fn finish(mut self) -> Result<Outcome, Malformed> {
        if !self.utf8_carry.is_empty() && self.error.is_none() {
            let at = self.pos - self.utf8_carry.len() as u64;
            self.fail(at, "invalid UTF-8 (truncated sequence)");
        }
        if let State::Number(n) = self.state {
            if matches!(n, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits) {
                self.state = State::After;
            }
        }
        if self.error.is_none() && !(self.state == State::After && self.stack.is_empty()) {
            let at = self.pos;
            self.fail(at, "the line ends inside the JSON value");
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(if self.top_object == Some(true) { self.outcome } else { Outcome::NotAnObject })
    }

    /// Validates UTF-8 across chunk boundaries; Err is the line offset of a bad sequence.
    fn check_utf8(&mut self, chunk: &[u8]) -> Result<(), u64> {
        let mut rest = chunk;
        let mut at = self.pos;
        if !self.utf8_carry.is_empty() {
            let start = self.pos - self.utf8_carry.len() as u64;
            let need: usize = match self.utf8_carry[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = need.saturating_sub(self.utf8_carry.len()).min(rest.len());
            self.utf8_carry.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            at += take as u64;
            match std::str::from_utf8(&self.utf8_carry) {
                Ok(_) => self.utf8_carry.clear(),
                Err(e) if e.error_len().is_none() && rest.is_empty() => return Ok(()),
                Err(_) => return Err(start),
            }
        }
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.utf8_carry.extend_from_slice(&rest[e.valid_up_to()..]);
                Ok(())
            }
            Err(e) => Err(at + e.valid_up_to() as u64),
        }
    }

    /// Processes bytes from `chunk[i]`; returns where to go on.
    fn step(&mut self, chunk: &[u8], i: usize, base: u64, sink: &mut dyn FieldSink) -> usize {
        let at = base + i as u64;
        let b = chunk[i];
        match self.state {
            State::Str(role) => return self.string_run(chunk, i, base, role, sink),
            _ if is_ws(b)
                && matches!(
                    self.state,
                    State::Value
                        | State::FirstKey
                        | State::Key
                        | State::Colon
                        | State::After
                        | State::FirstItem
                ) => {}
            State::Value => self.value_start(b, at, sink),
            State::FirstKey | State::Key => match b {
                b'"' => {
                    let top = self.stack.len() == 1 && self.top_object == Some(true);
                    self.key_len = 0;
                    self.key_same = true;
                    self.state = State::Str(if top { Role::Key } else { Role::OtherKey });
                }
                b'}' if self.state == State::FirstKey => self.close(),
                _ => self.fail(at, "expected a key (a string)"),
            },
            State::Colon => {
                if b == b':' {
                    self.state = State::Value;
                } else {
                    self.fail(at, "expected ':'");
                }
            }
            State::After => match (self.stack.last(), b) {
                (None, _) => self.fail(at, "trailing characters after the JSON value"),
                (Some(true), b',') => self.state = State::Key,
                (Some(false), b',') => self.state = State::Value,
                (Some(true), b'}') | (Some(false), b']') => self.close(),
                _ => self.fail(at, "expected ',' or a closing bracket"),
            },
            State::FirstItem => {
                if b == b']' {
                    self.close();
                } else {
                    self.value_start(b, at, sink);
                }
            }
            State::Escape(role) => {
                let text: &[u8] = match b {
                    b'"' => b"\"",
                    b'\\' => b"\\",
                    b'/' => b"/",
                    b'b' => b"\x08",
                    b'f' => b"\x0c",
                    b'n' => b"\n",
                    b'r' => b"\r",
                    b't' => b"\t",
                    b'u' => {
                        self.state = State::Unicode { role, digits: 0, value: 0, high: None };
                        return i + 1;
                    }
                    _ => {
                        self.fail(at, "invalid escape");
                        return i + 1;
                    }
                };
                self.emit(role, text, sink);
                self.state = State::Str(role);
            }
            State::Unicode { role, digits, value, high } => {
                let Some(d) = (b as char).to_digit(16) else {
                    self.fail(at, "invalid \\u escape");
                    return i + 1;
                };
                let value = value << 4 | d;
                if digits < 3 {
                    self.state = State::Unicode { role, digits: digits + 1, value, high };
                    return i + 1;
                }
                match (high, value) {
                    (Some(h), 0xDC00..=0xDFFF) => {
                        self.emit_char(role, 0x10000 + ((h - 0xD800) << 10) + (value - 0xDC00), sink);
                        self.state = State::Str(role);
                    }
                    (h, _) => {
                        if let Some(h) = h {
                            self.emit_char(role, h, sink);
                        }
                        if (0xD800..=0xDBFF).contains(&value) {
                            self.state = State::High(role, value);
                        } else {
                            self.emit_char(role, value, sink);
                            self.state = State::Str(role);
                        }
                    }
                }
            }
            State::High(role, h) => {
                if b == b'\\' {
                    self.state = State::HighBackslash(role, h);
                    return i + 1;
                }
                self.emit_char(role, h, sink);
                self.state = State::Str(role);
                return i; // read the byte again, in the string
            }
            State::HighBackslash(role, h) => {
                if b == b'u' {
                    self.state = State::Unicode { role, digits: 0, value: 0, high: Some(h) };
                    return i + 1;
                }
                self.emit_char(role, h, sink);
                self.state = State::Escape(role);
                return i; // read the byte again, as the escape after the lone surrogate
            }
            State::Number(n) => {
                let next = match (n, b) {
                    (Num::Minus, b'0') => Some(Num::Zero),
                    (Num::Minus | Num::Int, b'1'..=b'9') | (Num::Int, b'0') => Some(Num::Int),
                    (Num::Zero | Num::Int, b'.') => Some(Num::Dot),
                    (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Some(Num::Exp),
                    (Num::Dot | Num::Frac, b'0'..=b'9') => Some(Num::Frac),
                    (Num::Exp, b'+' | b'-') => Some(Num::ExpSign),
                    (Num::Exp | Num::ExpSign | Num::ExpDigits, b'0'..=b'9') => Some(Num::ExpDigits),
                    _ => None,
                };
                match next {
                    Some(n) => self.state = State::Number(n),
                    None if n == Num::Zero && b.is_ascii_digit() => {
                        self.fail(at, "invalid number (leading zero)")
                    }
                    None if matches!(n, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits) => {
                        self.state = State::After;
                        return i; // the byte after the number
                    }
                    None => self.fail(at, "invalid number"),
                }
            }
            State::Literal(word, k) => {
                if word[k as usize] != b {
                    self.fail(at, "invalid literal");
                } else if k as usize + 1 == word.len() {
                    self.state = State::After;
                } else {
                    self.state = State::Literal(word, k + 1);
                }
            }
        }
        i + 1
    }

    /// A run of string bytes from `chunk[i]`, up to and including a quote or backslash.
    fn string_run(
        &mut self,
        chunk: &[u8],
        i: usize,
        base: u64,
        role: Role,
        sink: &mut dyn FieldSink,
    ) -> usize {
        let rest = &chunk[i..];
        let stop = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
        let run = &rest[..stop];
        if let Some(k) = run.iter().position(|&c| c < 0x20) {
            self.fail(base + (i + k) as u64, "control character in a string");
            return chunk.len();
        }
        if !run.is_empty() {
            self.emit(role, run, sink);
        }
        if stop == rest.len() {
            return chunk.len();
        }
        if rest[stop] == b'\\' {
            self.state = State::Escape(role);
        } else {
            match role {
                Role::Key => {
                    self.wanted = self.key_same && self.key_len == self.key.len();
                    self.state = State::Colon;
                }
                Role::OtherKey => self.state = State::Colon,
                Role::Target => {
                    sink.end();
                    self.state = State::After;
                }
                Role::Value => self.state = State::After,
            }
        }
        i + stop + 1
    }

    fn emit(&mut self, role: Role, bytes: &[u8], sink: &mut dyn FieldSink) {
        match role {
            Role::Target => sink.text(bytes),
            Role::Key if self.key_same => {
                if self.key[self.key_len..].starts_with(bytes) {
                    self.key_len += bytes.len();
                } else {
                    self.key_same = false;
                }
            }
            _ => {}
        }
    }

    fn emit_char(&mut self, role: Role, cp: u32, sink: &mut dyn FieldSink) {
        match char::from_u32(cp) {
            Some(c) => self.emit(role, c.encode_utf8(&mut [0u8; 4]).as_bytes(), sink),
            None => match role {
                Role::Target => sink.lone_surrogate(cp),
                Role::Key => self.key_same = false, // a lone surrogate is in no &str key
                _ => {}
            },
        }
    }

    /// The first byte of a value.
    fn value_start(&mut self, b: u8, at: u64, sink: &mut dyn FieldSink) {
        if self.top_object.is_none() {
            self.top_object = Some(b == b'{');
        }
        let wanted = std::mem::take(&mut self.wanted);
        if wanted && b != b'"' {
            self.outcome = Outcome::NotAString(kind_of(b));
        }
        self.state = match b {
            b'{' => {
                self.stack.push(true);
                State::FirstKey
            }
            b'[' => {
                self.stack.push(false);
                State::FirstItem
            }
            b'"' if wanted => {
                self.outcome = Outcome::Text;
                sink.begin();
                State::Str(Role::Target)
            }
            b'"' => State::Str(Role::Value),
            b'-' => State::Number(Num::Minus),
            b'0' => State::Number(Num::Zero),
            b'1'..=b'9' => State::Number(Num::Int),
            b't' => State::Literal(b"true", 1),
            b'f' => State::Literal(b"false", 1),
            b'n' => State::Literal(b"null", 1),
            _ => {
                self.fail(at, "expected a JSON value");
                return;
            }
        };
    }

    fn close(&mut self) {
        self.stack.pop();
        self.state = State::After;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::{string_field, JsonText};
    use proptest::prelude::*;

    /// Collects the streamed text as code points (the last value only).
    #[derive(Default)]
    struct Collect {
        cps: Vec<u32>,
        bytes: Vec<u8>,
        open: bool,
        begun: usize,
    }

    impl Collect {
        fn flush(&mut self) {
            let s = std::str::from_utf8(&self.bytes).expect("whole characters around surrogates");
            self.cps.extend(s.chars().map(u32::from));
            self.bytes.clear();
        }
    }

    impl FieldSink for Collect {
        fn begin(&mut self) {
            assert!(!self.open);
            self.cps.clear();
            self.bytes.clear();
            self.open = true;
            self.begun += 1;
        }
        fn text(&mut self, utf8: &[u8]) {
            assert!(self.open);
            self.bytes.extend_from_slice(utf8);
        }
        fn lone_surrogate(&mut self, cp: u32) {
            self.flush();
            self.cps.push(cp);
        }
        fn end(&mut self) {
            self.flush();
            self.open = false;
        }
    }

    /// Streams `line` in pieces of `step` bytes.
    fn stream(line: &[u8], step: usize) -> Result<Vec<u32>, FieldError> {
        let mut scanner = FieldScanner::new("text");
        let mut sink = Collect::default();
        for piece in line.chunks(step.max(1)) {
            scanner.feed(piece, &mut sink);
        }
        match scanner.finish() {
            Ok(Outcome::Text) => Ok(sink.cps),
            Ok(o) => Err(o.error().unwrap()),
            Err(m) => Err(FieldError::Malformed { message: m.message, column: m.offset as usize + 1 }),
        }
    }

    fn reference(line: &[u8]) -> Result<Vec<u32>, FieldError> {
        string_field(line, "text", &mut Vec::new()).map(|t| match t {
            JsonText::Utf8(s) => s.chars().map(u32::from).collect(),
            JsonText::Wtf8(c) => c,
        })
    }

    /// Same acceptance, same text, same kind of error as serde_json.
    fn same(line: &[u8]) {
        let want = reference(line);
        for step in [1, 2, 3, 7, 64, line.len()] {
            let got = stream(line, step);
            match (&want, &got) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{:?} step {step}", String::from_utf8_lossy(line)),
                (Err(FieldError::Malformed { .. }), Err(FieldError::Malformed { .. })) => {}
                (a, b) => assert_eq!(a, b, "{:?} step {step}", String::from_utf8_lossy(line)),
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_examples() {
        for line in [
            r#"{"text": "吾輩は猫", "meta": {"a": [1, 2.5e3, -0, true, null, {}, [], ""]}}"#,
            r#" {"id": 1, "text": "a\n\"b\"\u3042\ud83d\ude00\/\b\f\r\t\\"} "#,
            r#"{"text": "\udc80x\ud800"}"#,
            r#"{"text": "\ud800\u0061"}"#,
            r#"{"text": "\ud800\ud800\udc00"}"#,
            r#"{"text": "\ud800\n"}"#,
            r#"{"text": "\ud800\\"}"#,
            r#"{"text": "a", "text": "b"}"#,
            r#"{"text": 1, "text": "b"}"#,
            r#"{"text": "a", "text": [1]}"#,
            r#"{"te\u0078t": "esc"}"#,
            r#"{"\ud800": 1, "text": "k"}"#,
            r#"{"textx": "a", "tex": "b"}"#,
            r#"{"meta": 1}"#,
            r#"{"text": 12}"#,
            r#"{"text": -0.5e+10}"#,
            r#"{"text": {"a": 1}}"#,
            r#"{"text": true}"#,
            r#"{"text": null}"#,
            r#"["text"]"#,
            r#""text""#,
            "12",
            "{}",
            r#"{"a":{"text":"nested"}}"#,
            r#"{"x": 1.}"#,
            r#"{"x": 1e}"#,
            r#"{"x": -}"#,
            r#"{"x": .5}"#,
            r#"{"x": +1}"#,
            r#"{"x": [}"#,
            r#"{"x": ]}"#,
            r#"{,}"#,
            r#"{"a" : 1 , "text" : "t" }"#,
            "",
            "   ",
            "{",
            r#"{"n": NaN, "text": "a"}"#,
            "1 2",
            "[1] ",
            "nul",
        ]
        .iter()
        .chain(crate::jsonl::tests::MALFORMED)
        {
            same(line.as_bytes());
        }
        same(b"{\"text\": \"\xff\"}");
        same(b"{\"x\": \"\xe3\x81\", \"text\": \"a\"}");
        same(b"{\"text\": \"a\"}\xe3\x81");
        same("{\"text\": \"あい\"}".as_bytes());
    }

    fn json_piece() -> impl Strategy<Value = String> {
        const LEAVES: [&str; 10] = [
            "1",
            "-0.5e3",
            "true",
            "null",
            r#""s\u00e9""#,
            r#""\ud800x""#,
            r#""吾輩\n""#,
            "01",
            "1.",
            r#""\x""#,
        ];
        let leaf = prop::sample::select(&LEAVES[..]).prop_map(String::from);
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (prop_oneof![Just("text"), Just("t\\u0065xt"), Just("x"), Just("tex")], inner),
                    0..4
                )
                .prop_map(|v| format!(
                    "{{{}}}",
                    v.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", ")
                )),
            ]
        })
    }

    fn text_value() -> impl Strategy<Value = String> {
        const ESCAPES: [&str; 7] = [r"\n", r#"\""#, r"\ud83d\ude00", r"\ud800", r"\udc00", "😀", r"\u3042"];
        let unit = prop_oneof![
            "[a-z ]{0,5}",
            "[あ-ん漢字]{0,3}",
            prop::sample::select(&ESCAPES[..]).prop_map(String::from)
        ];
        prop::collection::vec(unit, 0..12).prop_map(|v| format!("\"{}\"", v.concat()))
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json(
            members in prop::collection::vec((prop_oneof![Just("text"), Just("x"), Just("te\\u0078t")], prop_oneof![text_value(), json_piece()]), 0..5),
            ws in prop_oneof![Just(""), Just(" "), Just("\t\r ")],
            mutate in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\"{ws}:{ws}{v}")).collect();
            let mut line = format!("{ws}{{{}}}{ws}", body.join(&format!("{ws},{ws}"))).into_bytes();
            if let Some((at, byte)) = mutate {
                if !line.is_empty() {
                    let k = at.index(line.len());
                    line[k] = byte;
                }
            }
            if !line.contains(&b'\n') {
                same(&line);
            }
        }
    }
}
