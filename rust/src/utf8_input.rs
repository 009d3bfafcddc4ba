//! Raw input bytes as text: UTF-8 validation that says where it failed,
//! CPython's `surrogateescape` for bytes that are not UTF-8, and the places
//! where a byte stream may be cut without splitting a character.

use std::fmt;

/// What to do with input bytes that are not UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputErrors {
    /// Stop with [`InvalidUtf8`] at the first bad byte.
    #[default]
    Strict,
    /// Read each bad byte `b` as the lone surrogate U+DC00 + `b`, as CPython's
    /// `surrogateescape` does, so that every file round-trips.
    SurrogateEscape,
}

/// Input that is not UTF-8 (strict mode): where, and which bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidUtf8 {
    /// Byte offset of the first bad byte in the whole input.
    pub offset: u64,
    /// 1-based line of that byte.
    pub line: u64,
    /// The bad sequence (at most 4 bytes).
    pub bytes: Vec<u8>,
}

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.bytes.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "invalid UTF-8 at byte {} (line {}): {}", self.offset, self.line, hex.join(" "))
    }
}

impl std::error::Error for InvalidUtf8 {}

/// A stretch of input: valid text, or bytes to escape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run<'a> {
    Text(&'a str),
    Escaped(&'a [u8]),
}

/// The lone surrogate CPython's `surrogateescape` reads a bad byte as.
#[inline]
pub(crate) fn escape(byte: u8) -> u32 {
    0xDC00 + u32::from(byte)
}

/// Calls `f` on the runs of `data` in order. In strict mode the first bad
/// byte stops it: `Err(index of that byte)`. `data` must have been cut at
/// [`is_boundary`] positions, so a sequence unfinished at its end is bad.
pub(crate) fn for_each_run(
    data: &[u8],
    errors: InputErrors,
    mut f: impl FnMut(Run<'_>),
) -> Result<(), usize> {
    let mut rest = data;
    let mut at = 0;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                if !s.is_empty() {
                    f(Run::Text(s));
                }
                return Ok(());
            }
            Err(e) => {
                let good = e.valid_up_to();
                if good > 0 {
                    // SAFETY: from_utf8 checked `rest[..valid_up_to]`.
                    f(Run::Text(unsafe { std::str::from_utf8_unchecked(&rest[..good]) }));
                }
                if errors == InputErrors::Strict {
                    return Err(at + good);
                }
                let bad = e.error_len().unwrap_or(rest.len() - good);
                f(Run::Escaped(&rest[good..good + bad]));
                at += good + bad;
                rest = &rest[good + bad..];
            }
        }
    }
}

/// Length of the UTF-8 sequence a lead byte starts (0: cannot start one).
static SEQ_LEN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b {
            0x00..=0x7F => 1,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// The code point of the well-formed sequence of `len` bytes at the start of
/// `w` (4 bytes, little-endian), if it is one: continuation bytes, no
/// overlong forms, no surrogates, nothing above U+10FFFF (as `from_utf8`).
#[inline(always)]
fn decode_seq(w: u32, len: usize) -> Option<u32> {
    let b1 = (w >> 8) & 0x3F;
    let b2 = (w >> 16) & 0x3F;
    match len {
        2 => (w & 0xC000 == 0x8000).then_some((w & 0x1F) << 6 | b1),
        3 => {
            let cp = (w & 0x0F) << 12 | b1 << 6 | b2;
            (w & 0xC0_C000 == 0x80_8000 && cp >= 0x800 && cp & 0xF800 != 0xD800).then_some(cp)
        }
        4 => {
            let cp = (w & 0x07) << 18 | b1 << 12 | b2 << 6 | (w >> 24) & 0x3F;
            (w & 0xC0C0_C000 == 0x8080_8000 && (0x1_0000..=0x10_FFFF).contains(&cp)).then_some(cp)
        }
        _ => None,
    }
}

/// How many bytes at `at` form one bad unit (CPython and `from_utf8` agree:
/// the longest prefix of a well-formed sequence, or 1).
fn bad_len(data: &[u8], at: usize) -> usize {
    let window = &data[at..(at + 4).min(data.len())];
    match std::str::from_utf8(window) {
        Err(e) if e.valid_up_to() == 0 => e.error_len().unwrap_or(window.len()),
        _ => 1,
    }
}

/// Walks the characters of `data` in one pass, validating and decoding
/// together: calls `f(code point, index after it)` for each, and stops early
/// when `f` returns false. Bad bytes are escaped one by one in escape mode; in
/// strict mode the first one stops the walk with `Err(its index)`. Same
/// characters and errors as [`for_each_run`], at several times its speed on
/// Japanese (no separate validation pass, no per-run calls).
#[inline(always)]
pub(crate) fn walk(
    data: &[u8],
    errors: InputErrors,
    mut f: impl FnMut(u32, usize) -> bool,
) -> Result<(), usize> {
    let n = data.len();
    let mut i = 0;
    while i < n {
        let w = match data.get(i..i + 4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => {
                let mut tail = [0u8; 4];
                tail[..n - i].copy_from_slice(&data[i..]);
                u32::from_le_bytes(tail)
            }
        };
        let b0 = w as u8;
        if b0 < 0x80 {
            i += 1;
            if !f(u32::from(b0), i) {
                return Ok(());
            }
            continue;
        }
        // Japanese is mostly 3-byte sequences: test for those first, with the
        // length a constant the decoding folds in.
        let (cp, len) = if b0 & 0xF0 == 0xE0 {
            (decode_seq(w, 3), 3)
        } else {
            let len = usize::from(SEQ_LEN[usize::from(b0)]);
            (decode_seq(w, len), len)
        };
        match cp.filter(|_| i + len <= n) {
            Some(cp) => {
                i += len;
                if !f(cp, i) {
                    return Ok(());
                }
            }
            None if errors == InputErrors::Strict => return Err(i),
            None => {
                for _ in 0..bad_len(data, i) {
                    let b = data[i];
                    i += 1;
                    if !f(escape(b), i) {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The bad sequence starting at `at` (for error messages).
pub(crate) fn bad_bytes(data: &[u8], at: usize) -> Vec<u8> {
    let rest = &data[at.min(data.len())..];
    let len = match std::str::from_utf8(rest) {
        Err(e) if e.valid_up_to() == 0 => e.error_len().unwrap_or(rest.len()),
        _ => 1,
    };
    rest[..len.min(4)].to_vec()
}

#[inline]
pub(crate) fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// May the input be cut before `data[p]` (0 < p < len)? True when no UTF-8
/// sequence that starts before `p` can continue at `p`: `data[p]` is no
/// continuation byte, or the 3 bytes before it are (a sequence is at most 4
/// bytes long). Both halves then decode exactly as the whole does, in strict
/// and escaping mode alike.
#[inline]
pub(crate) fn is_boundary(data: &[u8], p: usize) -> bool {
    p < data.len()
        && (!is_continuation(data[p]) || (p >= 3 && data[p - 3..p].iter().all(|&b| is_continuation(b))))
}

/// The last boundary in `data` (at most 4 bytes from the end); 0 if none.
pub(crate) fn last_boundary(data: &[u8]) -> usize {
    (data.len().saturating_sub(4).max(1)..data.len()).rev().find(|&p| is_boundary(data, p)).unwrap_or(0)
}

/// Cuts `data` into about `pieces` pieces of at least `min_len` bytes, each cut
/// at the first position at or after its target that `ok` accepts (searching
/// `window` bytes). Returns the piece ranges, covering `data` in order.
pub(crate) fn cut_pieces(
    data: &[u8],
    pieces: usize,
    min_len: usize,
    window: usize,
    ok: impl Fn(usize) -> bool,
) -> Vec<std::ops::Range<usize>> {
    let n = pieces.min(data.len() / min_len.max(1)).max(1);
    let mut ranges = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (data.len() as u128 * k as u128 / n as u128) as usize;
        let end = (target.max(start + 1)..(target + window).min(data.len())).find(|&p| ok(p));
        if let Some(end) = end {
            ranges.push(start..end);
            start = end;
        }
    }
    ranges.push(start..data.len());
    ranges
}

/// Newlines in `data` (a loop the compiler vectorises).
pub(crate) fn count_newlines(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b == b'\n')).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(data: &[u8], errors: InputErrors) -> Result<Vec<u32>, usize> {
        let mut cps = Vec::new();
        for_each_run(data, errors, |r| match r {
            Run::Text(s) => cps.extend(s.chars().map(u32::from)),
            Run::Escaped(b) => cps.extend(b.iter().map(|&b| escape(b))),
        })?;
        Ok(cps)
    }

    #[test]
    fn escapes_each_bad_byte_like_cpython() {
        // b"a\xe3\x81b\xff\xed\xb2\x80".decode("utf-8", "surrogateescape")
        let cps = runs(b"a\xe3\x81b\xff\xed\xb2\x80", InputErrors::SurrogateEscape).unwrap();
        assert_eq!(cps, [0x61, 0xDCE3, 0xDC81, 0x62, 0xDCFF, 0xDCED, 0xDCB2, 0xDC80]);
        assert_eq!(runs("aあ".as_bytes(), InputErrors::Strict).unwrap(), [0x61, 0x3042]);
        assert_eq!(runs(b"ab\xe3\x81", InputErrors::Strict), Err(2));
        assert_eq!(bad_bytes(b"ab\xe3\x81", 2), [0xE3, 0x81]);
        assert_eq!(bad_bytes(b"\xff\xff", 0), [0xFF]);
    }

    #[test]
    fn walk_agrees_with_runs() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let pool: Vec<u8> = "aあ😀é\u{7FF}\u{FFFF}\n"
            .bytes()
            .chain([0xED, 0xA0, 0x80, 0xF4, 0x90, 0xC0, 0xFF, 0xE0, 0x80])
            .collect();
        for _ in 0..3000 {
            let len = (seed % 24) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    pool[(seed >> 20) as usize % pool.len()]
                })
                .collect();
            for errors in [InputErrors::Strict, InputErrors::SurrogateEscape] {
                let mut got = Vec::new();
                let walked = walk(&data, errors, |cp, _| {
                    got.push(cp);
                    true
                });
                assert_eq!(walked.map(|()| got), runs(&data, errors), "{data:02X?}");
            }
        }
    }

    #[test]
    fn boundaries_never_split_a_character() {
        let text = "aあ😀é\u{7FF}b".as_bytes();
        for p in 1..text.len() {
            let whole = std::str::from_utf8(text).unwrap();
            assert_eq!(is_boundary(text, p), whole.is_char_boundary(p), "at {p}");
        }
        // Runs of continuation bytes can be cut once 3 precede the cut.
        let junk = [0x80u8; 8];
        assert!(!is_boundary(&junk, 2) && is_boundary(&junk, 3));
        assert_eq!(last_boundary(b"ab"), 1);
        assert_eq!(last_boundary(b""), 0);
    }

    #[test]
    fn cut_pieces_cover_the_input() {
        let data = vec![b'x'; 1000];
        let r = cut_pieces(&data, 4, 10, 8, |p| p % 7 == 0);
        assert_eq!(r.first().map(|r| r.start), Some(0));
        assert_eq!(r.last().map(|r| r.end), Some(1000));
        assert!(r.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
        assert_eq!(cut_pieces(&data, 4, 10, 8, |_| false), [0..1000]);
        assert_eq!(cut_pieces(&[], 4, 10, 8, |_| true), [0..0]);
        assert_eq!(count_newlines(b"a\nb\n\n"), 3);
    }
}
