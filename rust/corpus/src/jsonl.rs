//! One text field out of a JSON line, with `serde_json`.
//!
//! Differences from Python's `json.loads(line)[key]`, each tested:
//!
//! * `NaN`, `Infinity` and `-Infinity` (not JSON, but accepted by Python)
//!   are malformed here.
//! * Members are checked and skipped without recursion, so nesting of any
//!   depth is accepted (Python stops at about 1,000 levels).
//! * Like Python, the last of duplicate keys wins, and a `\u` escape of a
//!   lone surrogate is kept as that surrogate, in values and keys alike
//!   (serde_json hands such strings over as WTF-8, which
//!   [`JsonText::Wtf8`] decodes).
//! * Like Python reading the line as UTF-8, invalid UTF-8 anywhere in the
//!   line (not only in the wanted member) makes it malformed.
//!
//! Lines too long to hold are read by [`json_stream`](crate::json_stream),
//! which accepts exactly what this accepts.

use std::borrow::Cow;
use std::fmt;

use bygpt_codec_core::{utf8_code, TextRef};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A string member's text, borrowed from the line when it has no escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonText<'a> {
    Utf8(Cow<'a, str>),
    /// Code points: the string held an escaped lone surrogate.
    Wtf8(Vec<u32>),
}

impl JsonText<'_> {
    pub fn as_text_ref(&self) -> TextRef<'_> {
        match self {
            JsonText::Utf8(s) => TextRef::Str(s),
            JsonText::Wtf8(cps) => TextRef::Ucs4(cps),
        }
    }
}

/// Why a line gave no text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// Not JSON: serde_json's message and the 1-based column.
    Malformed { message: String, column: usize },
    /// JSON, but not an object.
    NotAnObject,
    /// The object has no member with that key.
    Missing,
    /// The member is not a string.
    NotAString { found: &'static str },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { message, column } => write!(f, "malformed JSON at column {column}: {message}"),
            Self::NotAnObject => f.write_str("the line is not a JSON object"),
            Self::Missing => f.write_str("no such field"),
            Self::NotAString { found } => write!(f, "the field is a JSON {found}, not a string"),
        }
    }
}

impl std::error::Error for FieldError {}

/// The string member `key` of the JSON object on `line`. Its text borrows
/// from the line when the string has no escapes, else from `scratch` (kept
/// by the caller across lines, so that unescaping allocates nothing).
pub fn string_field<'a>(
    line: &'a [u8],
    key: &str,
    scratch: &'a mut Vec<u8>,
) -> Result<JsonText<'a>, FieldError> {
    // Validated once, here, with SIMD; serde_json then reads a `&str` and
    // validates nothing again (from a byte slice it would, with std, twice).
    let line = simdutf8::compat::from_utf8(line).map_err(|e| FieldError::Malformed {
        message: "invalid UTF-8".to_string(),
        column: e.valid_up_to() + 1,
    })?;
    let mut de = serde_json::Deserializer::from_str(line);
    let found = de.deserialize_any(ObjectVisitor { key }).map_err(|e| malformed(&e))?;
    de.end().map_err(|e| malformed(&e))?;
    // The member's raw string, quotes included, fully checked by serde_json.
    let raw = found?;
    let body = &raw[1..raw.len() - 1];
    if memchr::memchr(b'\\', body.as_bytes()).is_none() {
        return Ok(JsonText::Utf8(Cow::Borrowed(body)));
    }
    scratch.clear();
    let lone = unescape_checked(body.as_bytes(), scratch);
    // Without a lone surrogate the text is valid UTF-8 by construction (UTF-8
    // cut at backslashes, escapes of no surrogate); checked anyway, which
    // with SIMD costs ~1% of a pack (std's check cost ~20%).
    match simdutf8::basic::from_utf8(scratch) {
        Ok(text) if !lone => Ok(JsonText::Utf8(Cow::Borrowed(text))),
        _ => Ok(JsonText::Wtf8(wtf8_code_points(scratch))),
    }
}

/// Unescapes the body of a JSON string that serde_json has already checked
/// (read as a `RawValue`) into `out`, as serde_json reads a string as bytes:
/// UTF-8, with an escaped lone surrogate as its 3-byte WTF-8 form (a high
/// surrogate pairs only with an escaped low one right after it). Returns
/// whether a lone surrogate was written.
///
/// Hand-written because serde_json only unescapes into a scratch buffer of
/// its own, which it allocates and grows for every line (with the second
/// pass over the string, 14% of a pack's time); this reuses one buffer. A
/// property test holds it to serde_json's reading. Never panics, even on an
/// unchecked body (a bad escape is then copied as it stands).
fn unescape_checked(body: &[u8], out: &mut Vec<u8>) -> bool {
    let mut lone = false;
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &body[i..]) {
        out.extend_from_slice(&body[i..i + k]);
        i += k + 1;
        let escaped = match body.get(i) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0C,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let Some(mut cp) = hex4(body, i + 1) else {
                    out.push(b'\\');
                    continue;
                };
                i += 5;
                if (0xD800..0xDC00).contains(&cp) && body.get(i..i + 2) == Some(b"\\u") {
                    if let Some(low @ 0xDC00..=0xDFFF) = hex4(body, i + 2) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                }
                lone |= (0xD800..0xE000).contains(&cp);
                push_wtf8(out, cp);
                continue;
            }
            _ => {
                out.push(b'\\');
                continue;
            }
        };
        out.push(escaped);
        i += 1;
    }
    out.extend_from_slice(&body[i..]);
    lone
}

/// The 4 hex digits at `body[at..at + 4]`, if they are that.
fn hex4(body: &[u8], at: usize) -> Option<u32> {
    let digits = body.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |v, &d| Some(v << 4 | char::from(d).to_digit(16)?))
}

/// A code point (a lone surrogate included) as (W)UTF-8, by the core's one
/// UTF-8 writer.
pub(crate) fn push_wtf8(out: &mut Vec<u8>, cp: u32) {
    let (bytes, n) = utf8_code(cp);
    out.extend_from_slice(&bytes[..n]);
}

fn malformed(e: &serde_json::Error) -> FieldError {
    let message = e.to_string();
    // serde_json appends " at line L column C"; the column is reported on its own.
    let message = match message.rfind(" at line ") {
        Some(k) => message[..k].to_string(),
        None => message,
    };
    FieldError::Malformed { message, column: e.column() }
}

struct ObjectVisitor<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    /// The wanted member's raw JSON string.
    type Value = Result<&'de str, FieldError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Err(FieldError::Missing);
        while let Some(name) = map.next_key_seed(KeySeed)? {
            if name == self.key.as_bytes() {
                found = map.next_value_seed(FieldSeed)?; // the last duplicate wins
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    // Anything but an object: parse it all (so malformed stays malformed), then refuse.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(FieldError::NotAnObject))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(FieldError::NotAnObject))
    }
}

/// A key as bytes: WTF-8 when it holds an escaped lone surrogate (which
/// then equals no `&str` key), so that such keys are accepted as Python does.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, [u8]>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // Raw first: serde_json checks a string read as bytes less strictly
        // (control characters pass), as a raw value it checks it fully.
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        let mut de = serde_json::Deserializer::from_str(raw.get());
        de.deserialize_bytes(KeyVisitor).map_err(de::Error::custom)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, [u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_vec()))
    }
}

/// The wanted member: its raw JSON string (quotes included) if it is a
/// string, else what it is. Taken raw, serde_json checks it fully (a string
/// read as bytes would let control characters pass) and converts nothing.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Result<&'de str, FieldError>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        let json = raw.get();
        let found = match json.as_bytes().first() {
            Some(b'"') => return Ok(Ok(json)),
            Some(b'{') => "object",
            Some(b'[') => "array",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            _ => "number",
        };
        Ok(Err(FieldError::NotAString { found }))
    }
}

/// Code points of WTF-8 (UTF-8 that may hold surrogates as 3-byte
/// sequences), which is how serde_json hands over escaped lone surrogates.
/// Hand-written because std has no WTF-8 decoder for byte slices; the input
/// is serde_json's own output, so it is well-formed, and this only runs for
/// strings that hold a lone surrogate.
pub(crate) fn wtf8_code_points(bytes: &[u8]) -> Vec<u32> {
    let mut cps = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (len, mut cp) = match b {
            0x00..=0x7F => (1, u32::from(b)),
            0xC0..=0xDF => (2, u32::from(b & 0x1F)),
            0xE0..=0xEF => (3, u32::from(b & 0x0F)),
            _ => (4, u32::from(b & 0x07)),
        };
        for k in 1..len {
            cp = cp << 6 | u32::from(bytes.get(i + k).copied().unwrap_or(0x80) & 0x3F);
        }
        cps.push(cp);
        i += len;
    }
    cps
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Lines that are not JSON objects (also read by the streaming reader's tests).
    pub(crate) const MALFORMED: &[&str] = &[
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
        // Deviations from json.loads (documented): NaN and deep nesting.
        r#"{"n": NaN, "text": "a"}"#,
        r#"{"n": -Infinity, "text": "a"}"#,
    ];

    fn text(line: &str) -> Result<Vec<u32>, FieldError> {
        string_field(line.as_bytes(), "text", &mut Vec::new()).map(|t| match t {
            JsonText::Utf8(s) => s.chars().map(u32::from).collect(),
            JsonText::Wtf8(c) => c,
        })
    }

    fn cps(s: &str) -> Vec<u32> {
        s.chars().map(u32::from).collect()
    }

    #[test]
    fn takes_the_field_as_python_does() {
        assert_eq!(
            text(r#"{"text": "吾輩は猫", "meta": {"a": [1, 2.5e3, -0, true, null]}}"#),
            Ok(cps("吾輩は猫"))
        );
        assert!(matches!(
            string_field(br#"{"text":"abc"}"#, "text", &mut Vec::new()),
            Ok(JsonText::Utf8(Cow::Borrowed("abc")))
        ));
        assert_eq!(text(r#" {"id": 1, "text": "a\n\"b\"\u3042\ud83d\ude00\/"} "#), Ok(cps("a\n\"b\"あ😀/")));
        assert_eq!(text(r#"{"text": "\udc80x\ud800"}"#), Ok(vec![0xDC80, 0x78, 0xD800]));
        assert_eq!(text(r#"{"text": "\ud800\u0061"}"#), Ok(vec![0xD800, 0x61]));
        assert_eq!(text(r#"{"text": "a", "text": "b"}"#), Ok(cps("b")));
        assert_eq!(text(r#"{"te\u0078t": "esc"}"#), Ok(cps("esc")));
        assert_eq!(text(r#"{"\ud800": 1, "text": "k"}"#), Ok(cps("k")));
        assert!(matches!(
            string_field(b"{\"x\": \"\xff\", \"text\": \"a\"}", "text", &mut Vec::new()),
            Err(FieldError::Malformed { column: 8, .. })
        ));
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(text(r#"{"meta": 1}"#), Err(FieldError::Missing));
        assert_eq!(text(r#"{"text": 12}"#), Err(FieldError::NotAString { found: "number" }));
        assert_eq!(text(r#"{"text": {"a": 1}}"#), Err(FieldError::NotAString { found: "object" }));
        assert_eq!(text(r#"["text"]"#), Err(FieldError::NotAnObject));
        for &bad in MALFORMED {
            assert!(matches!(text(bad), Err(FieldError::Malformed { .. })), "{bad}");
        }
        // Other members are skipped without recursion: any depth, no stack overflow.
        let deep = format!("{{\"x\": {}{}, \"text\": \"t\"}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(text(&deep), Ok(cps("t")));
        let deep = format!("{{\"text\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(text(&deep), Err(FieldError::NotAString { found: "array" }));
        let Err(FieldError::Malformed { column, .. }) = text(r#"{"text": "a", }"#) else { panic!() };
        assert_eq!(column, 15); // the "}" after the comma, as Python reports it
    }

    /// serde_json's own reading of a JSON string as bytes: the oracle.
    fn serde_bytes(raw: &str) -> Vec<u8> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        serde_json::Deserializer::from_str(raw).deserialize_bytes(Bytes).expect("valid")
    }

    /// A JSON string's body: plain characters, short escapes and `\u`
    /// escapes of any 16-bit value (surrogates, paired or not, included).
    fn json_body() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            any::<char>().prop_filter("plain", |&c| c != '"' && c != '\\' && c >= ' ').prop_map(String::from),
            prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
                .prop_map(String::from),
            (any::<u16>(), any::<bool>()).prop_map(|(u, upper)| {
                if upper {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                }
            }),
            (0xD800u16..0xDC00, 0xDC00u16..0xE000).prop_map(|(h, l)| format!("\\u{h:04x}\\u{l:04X}")),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #[test]
        fn unescapes_as_serde_json_reads_bytes(body in json_body()) {
            let raw = format!("\"{body}\"");
            let mut ours = vec![b'x']; // cleared by nobody: unescape appends
            let lone = unescape_checked(body.as_bytes(), &mut ours);
            let theirs = serde_bytes(&raw);
            proptest::prop_assert_eq!(&ours[1..], &theirs[..]);
            proptest::prop_assert_eq!(lone, std::str::from_utf8(&theirs).is_err());
            let line = format!("{{\"text\": {raw}}}");
            let expected = match std::str::from_utf8(&theirs) {
                Ok(s) => s.chars().map(u32::from).collect(),
                Err(_) => wtf8_code_points(&theirs),
            };
            proptest::prop_assert_eq!(text(&line), Ok(expected));
        }

        #[test]
        fn unescape_never_panics_on_unchecked_input(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            unescape_checked(&body, &mut Vec::new());
        }
    }
}
