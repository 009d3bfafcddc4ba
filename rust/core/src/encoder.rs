//! The encoder: text to bytes under the block rule. Every way of encoding
//! (one-shot, batches, byte streams, statistics, the parallel pieces of large
//! chunks) goes through [`put_code`] and [`put_special`], so a character's
//! code and the block rule are applied in exactly one place; what differs is
//! only where codes go ([`Out`]: bytes, or counts) and how input is walked
//! (a `str`'s storage, or UTF-8 bytes).

use crate::scheme::{crosses, fill_before, Codes, BLOCK};
use crate::special::SpecialTokens;
use crate::text::{with_code_points, TextRef};
use crate::utf8_input::{for_each_char, InputErrors};

/// Where the encoder puts codes.
pub(crate) trait Out {
    /// Appends `fill` filler bytes, then the `len` bytes of `code`
    /// (little-endian). `crosses`: the code crosses a block boundary (only
    /// possible without the block rule).
    fn put(&mut self, code: u32, len: usize, fill: usize, crosses: bool);
    /// Appends `fill` filler bytes that complete the last block.
    fn pad(&mut self, fill: usize);
}

/// Appends bytes to a `Vec<u8>`, each code as one unaligned 8-byte store
/// (filler bytes, the code, then junk the next store overwrites), so nothing
/// branches on the code's length and nothing is zeroed beforehand.
pub(crate) struct ByteOut<'a> {
    out: &'a mut Vec<u8>,
    /// `out`'s buffer and capacity, kept here so the hot loop need not reload
    /// them after each store (which might alias them).
    ptr: *mut u8,
    cap: usize,
    /// End of the bytes written so far (`out.len()` is set on drop).
    pos: usize,
}

impl<'a> ByteOut<'a> {
    pub fn new(out: &'a mut Vec<u8>, hint: usize) -> Self {
        out.reserve(hint + 8);
        let pos = out.len();
        ByteOut { ptr: out.as_mut_ptr(), cap: out.capacity(), out, pos }
    }

    /// Grows `out` (whose first `pos` bytes are written): its new buffer and
    /// capacity. Not a method: were the writer's address to escape into an
    /// out-of-line call, its fields could no longer live in registers.
    #[cold]
    #[inline(never)]
    fn grow(out: &mut Vec<u8>, pos: usize) -> (*mut u8, usize) {
        // SAFETY: every byte below pos is written (see put).
        unsafe { out.set_len(pos) };
        out.reserve(pos / 2 + 64);
        (out.as_mut_ptr(), out.capacity())
    }
}

impl Out for ByteOut<'_> {
    #[inline(always)]
    fn put(&mut self, code: u32, len: usize, fill: usize, _crosses: bool) {
        if self.pos + 8 > self.cap {
            (self.ptr, self.cap) = Self::grow(self.out, self.pos);
        }
        // Filler in the low `fill` bytes, the code above them: fill + len <= 7.
        let word = u64::from(code) << (8 * fill) | ((1u64 << (8 * fill)) - 1);
        // SAFETY: pos + 8 <= cap, the capacity of the live buffer at ptr
        // (checked above); every byte below pos has been written, so
        // `set_len(pos)` on drop exposes only written bytes.
        unsafe { self.ptr.add(self.pos).cast::<u64>().write_unaligned(word.to_le()) };
        self.pos += fill + len;
    }

    fn pad(&mut self, fill: usize) {
        self.put(0, 0, fill, false);
    }
}

impl Drop for ByteOut<'_> {
    fn drop(&mut self) {
        // SAFETY: pos <= cap and every byte below it is written (see put).
        unsafe { self.out.set_len(self.pos) };
    }
}

/// Counts instead of bytes, for statistics (no special blocks are counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub codes: u64,
    pub bytes: u64,
    pub filler: u64,
    pub straddling: u64,
}

impl Out for Counts {
    #[inline(always)]
    fn put(&mut self, _code: u32, len: usize, fill: usize, crosses: bool) {
        self.codes += 1;
        self.bytes += (fill + len) as u64;
        self.filler += fill as u64;
        self.straddling += u64::from(crosses);
    }

    fn pad(&mut self, fill: usize) {
        self.bytes += fill as u64;
        self.filler += fill as u64;
    }
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.codes += other.codes;
        self.bytes += other.bytes;
        self.filler += other.filler;
        self.straddling += other.straddling;
    }
}

/// How many more bytes the encoder may write: [`Unlimited`], or a [`Room`]
/// for truncation. A type, so the unlimited hot loops carry no check.
pub(crate) trait Budget: Copy {
    /// Takes `n` bytes; false (taking nothing) if they do not fit.
    fn spend(&mut self, n: usize) -> bool;
    /// Bytes left (`usize::MAX` when unlimited).
    fn left(&self) -> usize;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unlimited;

impl Budget for Unlimited {
    #[inline(always)]
    fn spend(&mut self, _n: usize) -> bool {
        true
    }
    fn left(&self) -> usize {
        usize::MAX
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Room(pub usize);

impl Budget for Room {
    #[inline(always)]
    fn spend(&mut self, n: usize) -> bool {
        if n > self.0 {
            return false;
        }
        self.0 -= n;
        true
    }
    fn left(&self) -> usize {
        self.0
    }
}

/// Where the encoder stands: the block offset of the next byte, and its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor<B: Budget = Unlimited> {
    pub q: usize,
    pub budget: B,
}

impl Cursor {
    pub fn at(q: usize) -> Cursor {
        Cursor { q: q % BLOCK, budget: Unlimited }
    }
}

impl<B: Budget> Cursor<B> {
    #[inline(always)]
    fn take(&mut self, fill: usize, len: usize) -> bool {
        let n = fill + len;
        if !self.budget.spend(n) {
            return false;
        }
        self.q = (self.q + n) & (BLOCK - 1);
        true
    }
}

/// Writes the code of `cp`; false (writing nothing) when it does not fit.
#[inline(always)]
pub(crate) fn put_code<C: Codes, O: Out, B: Budget>(
    codes: C,
    at: &mut Cursor<B>,
    cp: u32,
    out: &mut O,
) -> bool {
    let (code, len) = codes.code(cp);
    let q = at.q;
    let fill = fill_before(q, len, C::BLOCK_RULE);
    if !at.take(fill, len) {
        return false;
    }
    out.put(code, len, fill, crosses((q + fill) % BLOCK, len));
    true
}

/// Writes the special block of `id`, which starts a block; false if it does not fit.
#[inline(always)]
pub(crate) fn put_special<O: Out, B: Budget>(at: &mut Cursor<B>, id: u32, out: &mut O) -> bool {
    let fill = fill_before(at.q, BLOCK, true);
    if !at.take(fill, BLOCK) {
        return false;
    }
    out.put(u32::from_le_bytes(SpecialTokens::block(id)), BLOCK, fill, false);
    true
}

/// Fills the current block to its end (the end of an encoding).
pub(crate) fn pad_block<O: Out, B: Budget>(at: &mut Cursor<B>, out: &mut O) {
    let fill = fill_before(at.q, BLOCK, true);
    if fill > 0 {
        // Always fits: budgets are whole blocks.
        at.budget.spend(fill);
        at.q = 0;
        out.pad(fill);
    }
}

/// Encodes the characters of `text` (special-token names parsed into their
/// blocks when `specials` is given). Returns false if the budget cut it short:
/// everything up to the first unit that did not fit is written.
// Inlined into its callers, where the writer and cursor are locals: behind a
// reference the compiler must assume each code's store may overwrite them,
// and reloads and re-stores them for every character.
#[inline(always)]
pub(crate) fn put_text<C: Codes, O: Out, B: Budget>(
    codes: C,
    specials: Option<&SpecialTokens>,
    text: TextRef<'_>,
    at: &mut Cursor<B>,
    out: &mut O,
) -> bool {
    // The cursor is copied in and out so that it lives in registers in the
    // loop, whatever the caller does with its address.
    let mut cur = *at;
    let complete = with_code_points!(text, |it| put_units(codes, specials, it, &mut cur, out));
    *at = cur;
    complete
}

#[inline(always)]
fn put_units<C: Codes, O: Out, B: Budget, I: Iterator<Item = u32> + Clone>(
    codes: C,
    specials: Option<&SpecialTokens>,
    mut it: I,
    at: &mut Cursor<B>,
    out: &mut O,
) -> bool {
    let Some(specials) = specials else {
        // A plain loop over a local cursor: the loop-carried block offset
        // then stays in a register.
        let mut cur = *at;
        for cp in it {
            if !put_code(codes, &mut cur, cp, out) {
                *at = cur;
                return false;
            }
        }
        *at = cur;
        return true;
    };
    loop {
        let here = it.clone();
        let Some(cp) = it.next() else { return true };
        if specials.may_start(cp) {
            if let Some((id, len)) = specials.match_at(here) {
                if !put_special(at, id, out) {
                    return false;
                }
                if len > 1 {
                    it.nth(len - 2);
                }
                continue;
            }
        }
        if !put_code(codes, at, cp, out) {
            return false;
        }
    }
}

/// Encodes UTF-8 bytes (cut at character boundaries): `Ok(newlines in them)`,
/// or in strict mode `Err(index)` of the first bad byte, which stops it after
/// the codes before it.
#[inline(always)] // see put_text
pub(crate) fn put_utf8<C: Codes, O: Out>(
    codes: C,
    data: &[u8],
    errors: InputErrors,
    at: &mut Cursor,
    out: &mut O,
) -> Result<u64, usize> {
    let mut cur = *at; // in registers: see put_text
    let mut newlines = 0;
    let walked = for_each_char(data, errors, Some(&mut newlines), |cp, _| put_code(codes, &mut cur, cp, out));
    *at = cur;
    walked.map(|()| newlines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::{TableCodes, Utf8Codes};
    use crate::tables::JPBLOCK;

    fn bytes(f: impl FnOnce(&mut Cursor, &mut ByteOut<'_>)) -> Vec<u8> {
        let mut v = Vec::new();
        let mut at = Cursor::at(0);
        {
            let mut out = ByteOut::new(&mut v, 0);
            f(&mut at, &mut out);
            pad_block(&mut at, &mut out);
        }
        v
    }

    #[test]
    fn block_rule_fills_before_crossing_codes() {
        // 'a' 'b' 'c' then a 2-byte code: it may not start at offset 3.
        let jp = TableCodes(&JPBLOCK);
        let got = bytes(|at, out| assert!(put_text(jp, None, TextRef::Str("abcア"), at, out)));
        let (kata, _) = JPBLOCK.code('ア' as u32);
        assert_eq!(got, [b'a', b'b', b'c', 0xFF, kata as u8, (kata >> 8) as u8, 0xFF, 0xFF]);
        assert_eq!(bytes(|_, _| {}), Vec::<u8>::new());
    }

    #[test]
    fn utf8_has_no_block_rule() {
        let got = bytes(|at, out| assert!(put_text(Utf8Codes, None, TextRef::Str("abcあ"), at, out)));
        assert_eq!(got, [b'a', b'b', b'c', 0xE3, 0x81, 0x82, 0xFF, 0xFF]);
    }

    #[test]
    fn specials_start_blocks_and_padding_completes_them() {
        let s = SpecialTokens::default();
        let got =
            bytes(|at, out| assert!(put_text(Utf8Codes, Some(&s), TextRef::Str("a<|mask|>b"), at, out)));
        assert_eq!(got, [b'a', 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 3, b'b', 0xFF, 0xFF, 0xFF]);
        for n in 0..8 {
            let text = "x".repeat(n);
            let got = bytes(|at, out| assert!(put_text(Utf8Codes, None, TextRef::Str(&text), at, out)));
            assert_eq!(got.len(), n.div_ceil(4) * 4);
            assert!(got[n..].iter().all(|&b| b == 0xFF));
        }
    }

    #[test]
    fn room_stops_before_the_first_code_that_does_not_fit() {
        let mut v = Vec::new();
        let mut at = Cursor { q: 0, budget: Room(4) };
        {
            let mut out = ByteOut::new(&mut v, 0);
            assert!(!put_text(Utf8Codes, None, TextRef::Str("あい"), &mut at, &mut out));
            pad_block(&mut at, &mut out);
        }
        assert_eq!(v, [0xE3, 0x81, 0x82, 0xFF]);
    }

    #[test]
    fn counts_match_bytes() {
        let text = "吾輩は猫である。abc 한국어 😀 é\n".repeat(7);
        for (name, counts, len) in [
            ("jpblock", count(TableCodes(&JPBLOCK), &text), bytes_len(TableCodes(&JPBLOCK), &text)),
            ("utf8", count(Utf8Codes, &text), bytes_len(Utf8Codes, &text)),
        ] {
            assert_eq!(counts.bytes as usize, len, "{name}");
            assert_eq!(counts.codes as usize, text.chars().count(), "{name}");
        }
    }

    fn count<C: Codes>(codes: C, text: &str) -> Counts {
        let mut c = Counts::default();
        let mut at = Cursor::at(0);
        let newlines = put_utf8(codes, text.as_bytes(), InputErrors::Strict, &mut at, &mut c).unwrap();
        assert_eq!(newlines, text.matches('\n').count() as u64);
        pad_block(&mut at, &mut c);
        c
    }

    fn bytes_len<C: Codes>(codes: C, text: &str) -> usize {
        bytes(|at, out| {
            put_utf8(codes, text.as_bytes(), InputErrors::Strict, at, out).unwrap();
        })
        .len()
    }
}
