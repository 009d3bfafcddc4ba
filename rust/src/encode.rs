//! Text to bytes, with the block rule, special tokens and an optional length limit.

use std::fmt;

use crate::jpblock;
use crate::scheme::{Scheme, BLOCK, FILLER};
use crate::special::{SpecialTokens, BOS_ID, EOS_ID};
use crate::text::{with_code_points, TextRef};

/// Options for one encode call.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodeOptions {
    /// Turn special-token names inside the text into their blocks.
    pub parse_special: bool,
    /// Wrap the text in `<|bos|>` ... `<|eos|>` blocks.
    pub add_special_tokens: bool,
    /// Stop before the first character that would make the output longer than
    /// this many bytes (rounded down to whole blocks). With `add_special_tokens`
    /// the `<|eos|>` block is kept and the text is cut instead, as the
    /// tokenizers of the transformers library do.
    pub max_len: Option<usize>,
}

/// `max_len` leaves no room for the `<|bos|>` and `<|eos|>` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitTooSmall {
    pub max_len: usize,
}

impl fmt::Display for LimitTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_length {} leaves no room for the <|bos|> and <|eos|> blocks (needs at least 8)",
            self.max_len
        )
    }
}

impl std::error::Error for LimitTooSmall {}

impl EncodeOptions {
    /// The limit in whole blocks, or an error when special blocks cannot fit.
    pub(crate) fn checked_limit(&self) -> Result<usize, LimitTooSmall> {
        match self.max_len {
            None => Ok(usize::MAX),
            Some(m) => {
                let limit = m - m % BLOCK;
                if self.add_special_tokens && limit < 2 * BLOCK {
                    Err(LimitTooSmall { max_len: m })
                } else {
                    Ok(limit)
                }
            }
        }
    }
}

/// Writes codes into a buffer it keeps at least 8 bytes ahead of the cursor,
/// so each code is one unconditional 4-byte store: no per-length branches in
/// the hot loop (Japanese text mixes 1- and 2-byte codes unpredictably).
struct BlockWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Where this encoding starts in `out` (block positions count from here).
    start: usize,
    /// Cursor: bytes before it are final.
    pos: usize,
    /// Absolute end the output may not pass.
    limit: usize,
}

impl<'a> BlockWriter<'a> {
    fn new(out: &'a mut Vec<u8>, size_hint: usize, limit: usize) -> Self {
        let start = out.len();
        out.resize(start + size_hint.min(limit).saturating_add(8), FILLER);
        BlockWriter { out, start, pos: start, limit: start.saturating_add(limit) }
    }

    #[inline(always)]
    fn offset(&self) -> usize {
        (self.pos - self.start) % BLOCK
    }

    #[cold]
    fn grow(&mut self) {
        let len = self.out.len();
        self.out.resize(len + len / 2 + 64, FILLER);
    }

    /// Writes one code (`len` bytes of `code`, little-endian); with
    /// `block_rule`, fills to the next block first when the code would cross
    /// it. Returns false, writing nothing, if it does not fit under the limit.
    #[inline(always)]
    fn put(&mut self, code: u32, len: usize, block_rule: bool) -> bool {
        let q = self.offset();
        let fill = if block_rule && q + len > BLOCK { BLOCK - q } else { 0 };
        if self.pos + fill + len > self.limit {
            return false;
        }
        if self.pos + 8 > self.out.len() {
            self.grow();
        }
        let at = self.pos;
        self.out[at..at + 4].copy_from_slice(&[FILLER; 4]);
        self.out[at + fill..at + fill + 4].copy_from_slice(&code.to_le_bytes());
        self.pos = at + fill + len;
        true
    }

    /// Special tokens always start a block.
    fn special(&mut self, id: u32) -> bool {
        let fill = (BLOCK - self.offset()) % BLOCK;
        if self.pos + fill + BLOCK > self.limit {
            return false;
        }
        self.pad_to_block();
        let block = u32::from_le_bytes(SpecialTokens::block(id));
        self.put(block, BLOCK, false)
    }

    fn pad_to_block(&mut self) {
        while self.offset() != 0 {
            if self.pos + 8 > self.out.len() {
                self.grow();
            }
            self.out[self.pos] = FILLER;
            self.pos += 1;
        }
    }

    /// Pads the last block and drops the scratch space past the cursor.
    fn finish(mut self) {
        self.pad_to_block();
        self.out.truncate(self.pos);
    }
}

/// Writes the code of one character; false when it does not fit.
#[inline(always)]
fn put_char(w: &mut BlockWriter<'_>, scheme: Scheme, cp: u32) -> bool {
    match scheme {
        Scheme::Jpblock => {
            let (code, len) = jpblock::packed_code(cp);
            w.put(code, len, true)
        }
        Scheme::Utf8 => {
            let (code, len) = utf8_code(cp);
            w.put(u32::from_le_bytes(code), len, false)
        }
    }
}

/// UTF-8 bytes of a code point; lone surrogates as CPython's `surrogatepass`.
#[inline]
pub(crate) fn utf8_code(cp: u32) -> ([u8; 4], usize) {
    if cp < 0x80 {
        ([cp as u8, 0, 0, 0], 1)
    } else if cp < 0x800 {
        ([0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8, 0, 0], 2)
    } else if cp < 0x10000 {
        ([0xE0 | (cp >> 12) as u8, 0x80 | ((cp >> 6) & 0x3F) as u8, 0x80 | (cp & 0x3F) as u8, 0], 3)
    } else {
        (
            [
                0xF0 | (cp >> 18) as u8,
                0x80 | ((cp >> 12) & 0x3F) as u8,
                0x80 | ((cp >> 6) & 0x3F) as u8,
                0x80 | (cp & 0x3F) as u8,
            ],
            4,
        )
    }
}

/// Encodes the characters of `it`; returns false if the limit cut it short.
fn put_text<I>(w: &mut BlockWriter<'_>, scheme: Scheme, specials: Option<&SpecialTokens>, mut it: I) -> bool
where
    I: Iterator<Item = u32> + Clone,
{
    let Some(specials) = specials else {
        return it.all(|cp| put_char(w, scheme, cp));
    };
    loop {
        let here = it.clone();
        let Some(cp) = it.next() else { return true };
        if specials.may_start(cp) {
            if let Some((id, len)) = specials.match_at(here) {
                if !w.special(id) {
                    return false;
                }
                if len > 1 {
                    it.nth(len - 2);
                }
                continue;
            }
        }
        if !put_char(w, scheme, cp) {
            return false;
        }
    }
}

/// Encodes `text` onto the end of `out` (which should hold whole blocks).
/// Returns whether the text was truncated by `opts.max_len`.
pub(crate) fn encode_into(
    scheme: Scheme,
    specials: &SpecialTokens,
    text: TextRef<'_>,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> Result<bool, LimitTooSmall> {
    let limit = opts.checked_limit()?;
    let parse = opts.parse_special.then_some(specials);
    // Enough for typical text; the writer grows if a text needs more.
    let hint = 2 * text.units() + 2 * BLOCK;
    let mut w = BlockWriter::new(out, hint, limit);
    if opts.add_special_tokens {
        w.limit -= BLOCK; // keep room for <|eos|> (checked_limit ensured it fits)
        w.special(BOS_ID);
    }
    let complete = with_code_points!(text, |it| put_text(&mut w, scheme, parse, it));
    w.pad_to_block();
    if opts.add_special_tokens {
        w.limit += BLOCK;
        w.special(EOS_ID);
    }
    w.finish();
    Ok(!complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(scheme: Scheme, text: &str, opts: EncodeOptions) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(scheme, &SpecialTokens::default(), TextRef::Str(text), &opts, &mut out).unwrap();
        out
    }

    #[test]
    fn block_rule_fills_before_crossing_codes() {
        // 'a' 'b' 'c' then a 2-byte code: it may not start at offset 3.
        let out = enc(Scheme::Jpblock, "abcア", EncodeOptions::default());
        assert_eq!(
            out,
            [
                b'a',
                b'b',
                b'c',
                0xFF,
                0xE0 + (jpblock::table_index('ア' as u32).unwrap() >> 8) as u8,
                jpblock::table_index('ア' as u32).unwrap() as u8,
                0xFF,
                0xFF
            ]
        );
        assert_eq!(enc(Scheme::Jpblock, "", EncodeOptions::default()), Vec::<u8>::new());
    }

    #[test]
    fn utf8_has_no_block_rule() {
        let out = enc(Scheme::Utf8, "abcあ", EncodeOptions::default());
        assert_eq!(out, [b'a', b'b', b'c', 0xE3, 0x81, 0x82, 0xFF, 0xFF]);
    }

    #[test]
    fn specials_start_blocks() {
        let opts = EncodeOptions { parse_special: true, add_special_tokens: true, max_len: None };
        let out = enc(Scheme::Utf8, "a<|mask|>b", opts);
        assert_eq!(
            out,
            [0xFE, 0, 0, 1, b'a', 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 3, b'b', 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 2]
        );
        let literal = enc(Scheme::Utf8, "<|mask|>", EncodeOptions::default());
        assert_eq!(literal, b"<|mask|>");
    }

    #[test]
    fn limit_truncates_on_character_boundaries() {
        let opts = EncodeOptions { max_len: Some(6), ..Default::default() };
        // 6 rounds down to 4: "あい" in UTF-8 is 6 bytes, so only "あ" fits.
        assert_eq!(enc(Scheme::Utf8, "あい", opts), [0xE3, 0x81, 0x82, 0xFF]);
        let opts = EncodeOptions { add_special_tokens: true, max_len: Some(12), ..Default::default() };
        let out = enc(Scheme::Jpblock, "abcdefgh", opts);
        assert_eq!(out, [0xFE, 0, 0, 1, b'a', b'b', b'c', b'd', 0xFE, 0, 0, 2]);
        let opts = EncodeOptions { add_special_tokens: true, max_len: Some(7), ..Default::default() };
        assert!(opts.checked_limit().is_err());
    }
}
