//! Encoding a byte stream of any size, chunk by chunk and in parallel, with
//! output identical to one-shot encoding of the whole text.
//!
//! Each chunk is cut into pieces at character boundaries and the pieces are
//! encoded on all cores. Under `jpblock` a piece's bytes depend on the block
//! offset it starts at (the block rule's filler), which is known only once
//! every earlier piece is done. So each piece is encoded as if it started a
//! block, while a cheap simulation of code lengths follows the other three
//! possible start offsets until they fall in step with offset 0 (a few
//! characters into Japanese text). Once the true start offsets are chained
//! through, a piece that starts elsewhere re-encodes only the characters before
//! that point and reuses the rest; pieces whose offsets never fall in step
//! (mostly ASCII) but never needed filler either are reused whole. Under `utf8`
//! valid text is copied as is: only the final padding depends on the offset.

use rayon::prelude::*;

use crate::encode::utf8_code;
use crate::jpblock;
use crate::scheme::{Scheme, BLOCK, FILLER};
use crate::special::{SpecialTokens, BOS_ID, EOS_ID};
use crate::utf8_input::{
    bad_bytes, count_newlines, cut_pieces, escape, for_each_run, is_boundary, last_boundary, walk,
    InputErrors, InvalidUtf8, Run,
};

/// Chunks shorter than this are encoded on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// Encodes a UTF-8 byte stream fed in chunks.
#[derive(Clone, Debug)]
pub struct StreamEncoder {
    scheme: Scheme,
    errors: InputErrors,
    add_special_tokens: bool,
    started: bool,
    /// Block offset of everything written so far.
    offset: usize,
    /// Stream offset of the next byte to encode.
    position: u64,
    /// Newlines before `position`.
    lines: u64,
    /// Inputs at least this long are cut into parallel pieces.
    parallel_min: usize,
}

/// One piece encoded as if it started a block, and how to fix it up if not.
struct Piece {
    bytes: Vec<u8>,
    /// How the piece depends on its start offset (jpblock only).
    lanes: Lanes,
    newlines: u64,
    /// Strict mode: index of the first bad byte.
    bad: Option<usize>,
}

impl StreamEncoder {
    pub fn new(scheme: Scheme, errors: InputErrors, add_special_tokens: bool) -> Self {
        Self {
            scheme,
            errors,
            add_special_tokens,
            started: false,
            offset: 0,
            position: 0,
            lines: 0,
            parallel_min: PARALLEL_MIN,
        }
    }

    /// Cuts inputs of at least `n` bytes into parallel pieces (a quarter of
    /// that or more each). Only tests need anything but the default.
    #[doc(hidden)]
    pub fn with_parallel_min(mut self, n: usize) -> Self {
        self.parallel_min = n.max(4);
        self
    }

    /// Stream offset of the next byte to encode.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Encodes `data`, whose first byte is the stream's next one, appending
    /// output pieces to `out`. Without `last` it stops at the last character
    /// boundary and returns how many bytes it took: the caller passes the rest
    /// again at the front of the next chunk. With `last` it takes everything,
    /// pads the final block and resets for a new stream.
    pub fn encode(&mut self, data: &[u8], last: bool, out: &mut Vec<Vec<u8>>) -> Result<usize, InvalidUtf8> {
        if !self.started {
            self.started = true;
            if self.add_special_tokens {
                out.push(SpecialTokens::block(BOS_ID).to_vec());
            }
        }
        let take = if last { data.len() } else { last_boundary(data) };
        let data = &data[..take];
        let ranges = if data.len() < self.parallel_min {
            std::iter::once(0..data.len()).collect()
        } else {
            cut_pieces(data, 4 * rayon::current_num_threads(), self.parallel_min / 4, 4, |p| {
                is_boundary(data, p)
            })
        };
        let (scheme, errors) = (self.scheme, self.errors);
        let mut pieces: Vec<Piece> = if ranges.len() > 1 {
            ranges.par_iter().map(|r| encode_piece(scheme, errors, &data[r.clone()])).collect()
        } else {
            ranges.iter().map(|r| encode_piece(scheme, errors, &data[r.clone()])).collect()
        };
        // Chain the true start offsets through the pieces, in order.
        let mut starts = Vec::with_capacity(pieces.len());
        for (piece, range) in pieces.iter_mut().zip(&ranges) {
            if let Some(at) = piece.bad {
                let line = self.lines + count_newlines(&data[..range.start + at]) + 1;
                return Err(InvalidUtf8 {
                    offset: self.position + (range.start + at) as u64,
                    line,
                    bytes: bad_bytes(data, range.start + at),
                });
            }
            starts.push(self.offset);
            self.offset = match scheme {
                Scheme::Jpblock => piece.lanes.end(self.offset, piece.bytes.len()),
                Scheme::Utf8 => (self.offset + piece.bytes.len()) % BLOCK,
            };
            self.lines += piece.newlines;
        }
        if scheme == Scheme::Jpblock {
            let fix = |(piece, (range, &start)): (&mut Piece, (&std::ops::Range<usize>, &usize))| {
                piece.fix_start(errors, &data[range.clone()], start);
            };
            if pieces.len() > 1 {
                pieces.par_iter_mut().zip(ranges.par_iter().zip(starts.par_iter())).for_each(fix);
            } else {
                pieces.iter_mut().zip(ranges.iter().zip(starts.iter())).for_each(fix);
            }
        }
        out.extend(pieces.into_iter().map(|p| p.bytes).filter(|b| !b.is_empty()));
        self.position += take as u64;
        if last {
            let mut tail = vec![FILLER; (BLOCK - self.offset) % BLOCK];
            if self.add_special_tokens {
                tail.extend_from_slice(&SpecialTokens::block(EOS_ID));
            }
            out.push(tail);
            *self = Self::new(self.scheme, self.errors, self.add_special_tokens)
                .with_parallel_min(self.parallel_min);
        }
        Ok(take)
    }
}

/// Encodes one piece as if it started a block.
fn encode_piece(scheme: Scheme, errors: InputErrors, data: &[u8]) -> Piece {
    let mut lanes = Lanes::new();
    let mut bytes = Vec::new();
    let mut newlines = 0;
    let walked = match scheme {
        Scheme::Utf8 => {
            newlines = count_newlines(data);
            bytes.reserve(data.len() + 16);
            for_each_run(data, errors, |run| match run {
                Run::Text(s) => bytes.extend_from_slice(s.as_bytes()),
                Run::Escaped(bad) => {
                    for &b in bad {
                        let (code, len) = utf8_code(escape(b));
                        bytes.extend_from_slice(&code[..len]);
                    }
                }
            })
        }
        Scheme::Jpblock => {
            // Lanes first: they usually stop after a few characters.
            let _ = walk(data, errors, |cp, end| !lanes.step(jpblock::packed_code(cp).1, end));
            encode_jpblock(data, errors, 0, &mut bytes).map(|(_, lines)| newlines = lines)
        }
    };
    Piece { bytes, lanes, newlines, bad: walked.err() }
}

/// Appends the jpblock codes of the UTF-8 `data` to `out`, continuing a
/// stream at block offset `offset`; returns the new offset and the newlines
/// seen, or in strict mode the index of the first bad byte. One fused pass:
/// decode, look up, write. Each code goes out as one unaligned 8-byte store
/// (filler bytes, the code, then junk that the next store overwrites), so
/// nothing branches on the code's length and nothing is zeroed beforehand.
fn encode_jpblock(
    data: &[u8],
    errors: InputErrors,
    offset: usize,
    out: &mut Vec<u8>,
) -> Result<(usize, u64), usize> {
    let mut w = CodeWriter::new(out, data.len() + data.len() / 2);
    let mut q = offset % BLOCK;
    let mut newlines = 0u64;
    let walked = walk(data, errors, |cp, _| {
        let (code, len) = jpblock::packed_code(cp);
        let fill = if q + len > BLOCK { BLOCK - q } else { 0 };
        w.put(u64::from(code) << (8 * fill) | ((1u64 << (8 * fill)) - 1), fill + len);
        q = (q + fill + len) % BLOCK;
        newlines += u64::from(cp == u32::from(b'\n'));
        true
    });
    w.finish();
    walked.map(|()| (q, newlines))
}

/// Appends to a `Vec<u8>` by unaligned 8-byte stores into its spare capacity.
struct CodeWriter<'a> {
    out: &'a mut Vec<u8>,
    /// `out`'s buffer and capacity, kept here so the hot loop need not
    /// reload them after each store (which might alias them).
    ptr: *mut u8,
    cap: usize,
    /// End of the bytes written so far (`out.len()` is set on `finish`).
    pos: usize,
}

impl<'a> CodeWriter<'a> {
    fn new(out: &'a mut Vec<u8>, hint: usize) -> Self {
        out.reserve(hint + 8);
        let pos = out.len();
        CodeWriter { ptr: out.as_mut_ptr(), cap: out.capacity(), out, pos }
    }

    /// Stores the 8 bytes of `word` at the cursor and keeps the first `keep`.
    #[inline(always)]
    fn put(&mut self, word: u64, keep: usize) {
        if self.pos + 8 > self.cap {
            self.grow();
        }
        // SAFETY: pos + 8 <= cap, the capacity of the buffer at ptr (checked
        // above), and every byte below pos has been written, so the final
        // set_len exposes only written bytes.
        unsafe { self.ptr.add(self.pos).cast::<u64>().write_unaligned(word.to_le()) };
        self.pos += keep;
    }

    #[cold]
    fn grow(&mut self) {
        // SAFETY: the bytes below pos are written (see put).
        unsafe { self.out.set_len(self.pos) };
        self.out.reserve(self.pos / 2 + 64);
        self.ptr = self.out.as_mut_ptr();
        self.cap = self.out.capacity();
    }

    fn finish(self) {
        // SAFETY: pos <= cap and every byte below it is written (see put).
        unsafe { self.out.set_len(self.pos) };
    }
}

impl Piece {
    /// Makes `bytes` what the piece encodes to from block offset `start`.
    fn fix_start(&mut self, errors: InputErrors, data: &[u8], start: usize) {
        if start == 0 || !self.lanes.differs[start] {
            return;
        }
        let (input_end, output_end) = self.lanes.merged[start].unwrap_or((data.len(), self.bytes.len()));
        let mut fixed = Vec::with_capacity(self.bytes.len() + 4);
        // `input_end` is a character boundary: the prefix decodes the same alone.
        let _ = encode_jpblock(&data[..input_end], errors, start, &mut fixed);
        fixed.extend_from_slice(&self.bytes[output_end..]);
        self.bytes = fixed;
    }
}

/// Follows the block offsets of the encoding from each of the 4 possible start
/// offsets ("lanes") by code lengths alone, until each lane falls in step with
/// lane 0: from then on both write the same bytes.
#[derive(Clone, Debug)]
struct Lanes {
    state: [usize; BLOCK],
    filled: [bool; BLOCK],
    /// Where lane `s` fell in step with lane 0: (input index, lane 0's output length).
    merged: [Option<(usize, usize)>; BLOCK],
    /// Does lane `s` write other bytes than lane 0 (before falling in step)?
    differs: [bool; BLOCK],
    /// Lane 0's output length so far.
    out0: usize,
    open: usize,
}

impl Lanes {
    fn new() -> Self {
        Self {
            state: [0, 1, 2, 3],
            filled: [false; BLOCK],
            merged: [Some((0, 0)), None, None, None],
            differs: [false; BLOCK],
            out0: 0,
            open: BLOCK - 1,
        }
    }

    /// Advances every open lane past a code of `len` bytes ending the input at
    /// `input_end`; true once every lane is in step with lane 0.
    #[inline]
    fn step(&mut self, len: usize, input_end: usize) -> bool {
        for s in 0..BLOCK {
            if s > 0 && self.merged[s].is_some() {
                continue;
            }
            let q = self.state[s];
            let fill = if q + len > BLOCK { BLOCK - q } else { 0 };
            self.filled[s] |= fill > 0;
            if s == 0 {
                self.out0 += fill + len;
            }
            self.state[s] = (q + fill + len) % BLOCK;
        }
        for s in 1..BLOCK {
            if self.merged[s].is_none() && self.state[s] == self.state[0] {
                self.merged[s] = Some((input_end, self.out0));
                self.differs[s] = self.filled[s] || self.filled[0];
                self.open -= 1;
            }
        }
        self.open == 0
    }

    /// The block offset after the piece when it starts at `start`; `len0` is
    /// the piece's length encoded from offset 0.
    fn end(&mut self, start: usize, len0: usize) -> usize {
        if start == 0 || self.merged[start].is_some() {
            return len0 % BLOCK;
        }
        // Never in step: the simulation ran to the end of the piece.
        self.differs[start] = self.filled[start] || self.filled[0];
        self.state[start]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::text::TextRef;

    fn stream(scheme: Scheme, data: &[u8], chunk: usize, errors: InputErrors, specials: bool) -> Vec<u8> {
        let mut enc = StreamEncoder::new(scheme, errors, specials);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut chunks = data.chunks(chunk.max(1)).peekable();
        loop {
            let next = chunks.next();
            let last = chunks.peek().is_none();
            pending.extend_from_slice(next.unwrap_or_default());
            let took = enc.encode(&pending, last, &mut out).unwrap();
            pending.drain(..took);
            if last {
                break;
            }
        }
        out.concat()
    }

    fn one_shot(scheme: Scheme, text: &str, specials: bool) -> Vec<u8> {
        let opts = crate::EncodeOptions { add_special_tokens: specials, ..Default::default() };
        Codec::new(scheme).encode(TextRef::Str(text), &opts).unwrap().0
    }

    #[test]
    fn chunked_and_parallel_equal_one_shot() {
        // Long enough for parallel pieces; mixes ASCII runs (lanes that never
        // fall in step), kana, kanji, 3- and 4-byte codes.
        let unit = "吾輩は猫である。名前はまだ無い。abc 한국어 😀 éèê\nASCII only line here.\n";
        let mut text = String::new();
        while text.len() < 3 * PARALLEL_MIN {
            text.push_str(unit);
            text.push_str(&"x".repeat(text.len() % 7));
        }
        for scheme in Scheme::ALL {
            for specials in [false, true] {
                let want = one_shot(scheme, &text, specials);
                for chunk in [1, 7, 4096, PARALLEL_MIN + 3, text.len()] {
                    if chunk == 1 && text.len() > 100_000 {
                        let short: String = text.chars().take(300).collect();
                        let got = stream(scheme, short.as_bytes(), 1, InputErrors::Strict, specials);
                        assert_eq!(got, one_shot(scheme, &short, specials));
                        continue;
                    }
                    let got = stream(scheme, text.as_bytes(), chunk, InputErrors::Strict, specials);
                    assert!(got == want, "{scheme} chunk {chunk} specials {specials}");
                }
            }
        }
        assert_eq!(stream(Scheme::Jpblock, b"", 5, InputErrors::Strict, false), Vec::<u8>::new());
    }

    #[test]
    fn escapes_bad_bytes_and_reports_them_in_strict_mode() {
        let data = b"ab\nc\xff\xe3\x81d\xed\xb2\x80".repeat(3);
        let escaped: Vec<u32> = {
            let mut v = Vec::new();
            for_each_run(&data, InputErrors::SurrogateEscape, |r| match r {
                Run::Text(s) => v.extend(s.chars().map(u32::from)),
                Run::Escaped(b) => v.extend(b.iter().map(|&b| escape(b))),
            })
            .unwrap();
            v
        };
        for scheme in Scheme::ALL {
            let want = Codec::new(scheme).encode(TextRef::Ucs4(&escaped), &Default::default()).unwrap().0;
            for chunk in [1, 2, 5, 100] {
                assert_eq!(stream(scheme, &data, chunk, InputErrors::SurrogateEscape, false), want);
            }
            let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, false);
            let err = enc.encode(&data, true, &mut Vec::new()).unwrap_err();
            assert_eq!((err.offset, err.line, err.bytes.as_slice()), (4, 2, &[0xFF][..]));
        }
    }
}
