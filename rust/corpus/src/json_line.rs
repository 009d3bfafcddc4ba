//! Just enough JSON for JSONL corpora: checks that one line is a JSON object
//! and takes one string member out of it, as Python's `json.loads(line)[key]`
//! would (NaN/Infinity accepted, the last duplicate key wins, and a `\u`
//! escape of a lone surrogate is kept as that surrogate).

use std::fmt;

use crate::text::TextRef;

/// Nesting deeper than this is refused (instead of overflowing the stack).
const MAX_DEPTH: usize = 512;

/// A string member's text: borrowed from the line when it has no escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonText<'a> {
    Borrowed(&'a str),
    /// Code points (lone surrogates possible).
    Owned(Vec<u32>),
}

impl JsonText<'_> {
    pub fn as_text_ref(&self) -> TextRef<'_> {
        match self {
            JsonText::Borrowed(s) => TextRef::Str(s),
            JsonText::Owned(cps) => TextRef::Ucs4(cps),
        }
    }
}

/// Why a line gave no text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// Not JSON: what was expected, at which byte of the line.
    Malformed { at: usize, expected: &'static str },
    /// JSON, but not an object.
    NotAnObject { found: &'static str },
    /// The object has no member with that key.
    Missing,
    /// The member is not a string.
    NotAString { found: &'static str },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { at, expected } => {
                write!(f, "malformed JSON at column {}: expected {expected}", at + 1)
            }
            Self::NotAnObject { found } => write!(f, "the line is a JSON {found}, not an object"),
            Self::Missing => f.write_str("no such field"),
            Self::NotAString { found } => write!(f, "the field is a JSON {found}, not a string"),
        }
    }
}

impl std::error::Error for FieldError {}

/// The string member `key` of the JSON object on `line`.
pub fn string_field<'a>(line: &'a str, key: &str) -> Result<JsonText<'a>, FieldError> {
    let mut p = Parser { s: line.as_bytes(), line, i: 0, depth: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        let found = p.value()?;
        p.end()?;
        return Err(FieldError::NotAnObject { found });
    }
    p.i += 1;
    p.ws();
    let mut found: Result<JsonText<'a>, FieldError> = Err(FieldError::Missing);
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(p.malformed("a string key"));
            }
            let name = p.string()?;
            p.ws();
            p.expect(b':', "':' after an object key")?;
            p.ws();
            let wanted = match &name {
                JsonText::Borrowed(s) => *s == key,
                JsonText::Owned(cps) => cps.iter().copied().eq(key.chars().map(u32::from)),
            };
            if wanted && p.peek() == Some(b'"') {
                found = Ok(p.string()?);
            } else {
                let kind = p.value()?;
                if wanted {
                    found = Err(FieldError::NotAString { found: kind });
                }
            }
            p.ws();
            match p.peek() {
                Some(b',') => p.i += 1,
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                _ => return Err(p.malformed("',' or '}' in an object")),
            }
        }
    }
    p.end()?;
    found
}

struct Parser<'a> {
    s: &'a [u8],
    line: &'a str,
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn malformed(&self, expected: &'static str) -> FieldError {
        FieldError::Malformed { at: self.i, expected }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), FieldError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.malformed(what))
        }
    }

    fn end(&mut self) -> Result<(), FieldError> {
        self.ws();
        if self.i < self.s.len() {
            return Err(self.malformed("the end of the line after the JSON value"));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, kind: &'static str) -> Result<&'static str, FieldError> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(self.malformed("a JSON value"))
        }
    }

    /// Skips one value (checking it); returns its kind.
    fn value(&mut self) -> Result<&'static str, FieldError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| "string"),
            Some(b'{') => self.nested(b'}', true).map(|()| "object"),
            Some(b'[') => self.nested(b']', false).map(|()| "array"),
            Some(b't') => self.literal("true", "boolean"),
            Some(b'f') => self.literal("false", "boolean"),
            Some(b'n') => self.literal("null", "null"),
            Some(b'N') => self.literal("NaN", "number"),
            Some(b'I') => self.literal("Infinity", "number"),
            Some(b'-') if self.s[self.i..].starts_with(b"-Infinity") => self.literal("-Infinity", "number"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| "number"),
            _ => Err(self.malformed("a JSON value")),
        }
    }

    fn nested(&mut self, close: u8, object: bool) -> Result<(), FieldError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.malformed("less deeply nested data (over 512 levels)"));
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if object {
                if self.peek() != Some(b'"') {
                    return Err(self.malformed("a string key"));
                }
                self.string()?;
                self.ws();
                self.expect(b':', "':' after an object key")?;
                self.ws();
            }
            self.value()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.malformed(if object {
                        "',' or '}' in an object"
                    } else {
                        "',' or ']' in an array"
                    }))
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Result<(), FieldError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.malformed("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.malformed("a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.malformed("a digit in the exponent"));
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, FieldError> {
        let digits =
            self.s.get(self.i..self.i + 4).ok_or_else(|| self.malformed("4 hex digits after \\u"))?;
        let mut v = 0;
        for &d in digits {
            let x = (d as char).to_digit(16).ok_or_else(|| self.malformed("4 hex digits after \\u"))?;
            v = v << 4 | x;
        }
        self.i += 4;
        Ok(v)
    }

    /// A string starting at the current '"'; borrowed when it has no escapes.
    fn string(&mut self) -> Result<JsonText<'a>, FieldError> {
        self.i += 1;
        let start = self.i;
        let mut owned: Option<Vec<u32>> = None;
        let mut seg = start;
        loop {
            while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\' | 0..=0x1F) {
                self.i += 1;
            }
            let Some(b) = self.peek() else {
                return Err(FieldError::Malformed {
                    at: start - 1,
                    expected: "a closing '\"' (the string never ends)",
                });
            };
            if b < 0x20 {
                return Err(self.malformed("no control characters inside a string (escape them)"));
            }
            // `seg..i` lies between ASCII bytes of a valid str: a valid str too.
            let text = self.line.get(seg..self.i).ok_or_else(|| self.malformed("whole characters"))?;
            if b == b'"' {
                self.i += 1;
                return Ok(match owned {
                    None => JsonText::Borrowed(text),
                    Some(mut cps) => {
                        cps.extend(text.chars().map(u32::from));
                        JsonText::Owned(cps)
                    }
                });
            }
            let cps = owned.get_or_insert_with(Vec::new);
            cps.extend(text.chars().map(u32::from));
            self.i += 1;
            let esc = self.peek();
            self.i += 1;
            let cp = match esc {
                Some(b'"') => 0x22,
                Some(b'\\') => 0x5C,
                Some(b'/') => 0x2F,
                Some(b'b') => 0x08,
                Some(b'f') => 0x0C,
                Some(b'n') => 0x0A,
                Some(b'r') => 0x0D,
                Some(b't') => 0x09,
                Some(b'u') => {
                    let hi = self.hex4()?;
                    // A high surrogate followed by an escaped low one is a pair.
                    if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                        let back = self.i;
                        self.i += 2;
                        match self.hex4() {
                            Ok(lo) if (0xDC00..0xE000).contains(&lo) => {
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            }
                            _ => {
                                self.i = back;
                                hi
                            }
                        }
                    } else {
                        hi
                    }
                }
                _ => {
                    self.i -= 1;
                    return Err(self.malformed("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"));
                }
            };
            cps.push(cp);
            seg = self.i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &str) -> Result<Vec<u32>, FieldError> {
        string_field(line, "text").map(|t| match t {
            JsonText::Borrowed(s) => s.chars().map(u32::from).collect(),
            JsonText::Owned(c) => c,
        })
    }

    fn cps(s: &str) -> Vec<u32> {
        s.chars().map(u32::from).collect()
    }

    #[test]
    fn takes_the_field() {
        assert_eq!(
            text(r#"{"text": "吾輩は猫", "meta": {"a": [1, 2.5e3, -0, true, null]}}"#),
            Ok(cps("吾輩は猫"))
        );
        assert!(matches!(string_field(r#"{"text":"abc"}"#, "text"), Ok(JsonText::Borrowed("abc"))));
        assert_eq!(text(r#" {"id": 1, "text": "a\n\"b\"\u3042\ud83d\ude00\/"} "#), Ok(cps("a\n\"b\"あ😀/")));
        assert_eq!(text(r#"{"text": "\udc80x\ud800"}"#), Ok(vec![0xDC80, 0x78, 0xD800]));
        assert_eq!(text(r#"{"text": "a", "text": "b"}"#), Ok(cps("b")));
        assert_eq!(text(r#"{"te\u0078t": "esc"}"#), Ok(cps("esc")));
        assert_eq!(text(r#"{"n": NaN, "m": -Infinity, "text": ""}"#), Ok(vec![]));
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(text(r#"{"meta": 1}"#), Err(FieldError::Missing));
        assert_eq!(text(r#"{"text": 12}"#), Err(FieldError::NotAString { found: "number" }));
        assert_eq!(text(r#"["text"]"#), Err(FieldError::NotAnObject { found: "array" }));
        for bad in [
            r#"{"text": "abc"#,
            r#"{"text": "abc"} x"#,
            r#"{"text" "abc"}"#,
            r#"{"text": "a\qb"}"#,
            "{\"text\": \"a\tb\"}",
            r#"{"text": "a", }"#,
            r#"{"x": 01, "text": "a"}"#,
            r#"{"x": [1,], "text": "a"}"#,
            r#"{"x": tru, "text": "a"}"#,
            r#"{"x": "\u12"}"#,
            "",
            "{",
        ] {
            assert!(matches!(text(bad), Err(FieldError::Malformed { .. })), "{bad}");
        }
        let deep = format!("{{\"x\": {}{}}}", "[".repeat(600), "]".repeat(600));
        assert!(matches!(text(&deep), Err(FieldError::Malformed { .. })));
        let ok = format!("{{\"x\": {}{}, \"text\": \"t\"}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(text(&ok), Ok(cps("t")));
    }
}
