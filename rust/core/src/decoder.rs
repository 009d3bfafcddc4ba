//! The streaming decoder: one state machine for every way of decoding. Feed
//! it chunks of any size (`decode(src, last, sink)`); it consumes all of each
//! chunk, keeping at most one unfinished unit (3 bytes) for the next, and the
//! joined output equals one-shot decoding of the whole stream. One-shot
//! decoding, Python's incremental decoder and the command line's file decoder
//! are all this type; large chunks are decoded in parallel pieces.

use std::fmt;

use crate::codec::Codec;
use crate::decode::{
    decode_chunk, DecodeError, DecodeErrorKind, DecodeOptions, ErrorMode, Rules, Sink, Span,
};
use crate::parallel::{self, PARALLEL_MIN};
use crate::scheme::{utf8_code, BLOCK};
use crate::tables;
use crate::utf8_input::is_continuation;

const REPLACEMENT: u32 = 0xFFFD;

/// A sink that can be filled in pieces on several threads and joined in order.
pub trait Split: Sink + Send + Sized {
    /// An empty sink with the same settings, for one piece.
    fn part(&self, capacity: usize) -> Self;
    /// Appends a piece decoded after everything already here.
    fn join(&mut self, part: Self);
}

impl Split for Vec<u32> {
    fn part(&self, capacity: usize) -> Self {
        Vec::with_capacity(capacity)
    }
    fn join(&mut self, part: Self) {
        self.extend_from_slice(&part);
    }
}

impl Split for String {
    fn part(&self, capacity: usize) -> Self {
        String::with_capacity(capacity)
    }
    fn join(&mut self, part: Self) {
        self.push_str(&part);
    }
}

/// Decodes a byte stream fed in chunks.
#[derive(Clone, Debug)]
pub struct Decoder {
    codec: Codec,
    opts: DecodeOptions,
    /// Bytes of an unfinished unit held from the previous chunk (at most 3).
    pending: Vec<u8>,
    /// Stream offset of `pending[0]`, or of the next byte when none is held.
    offset: u64,
    /// Bytes still to skip after a replaced unit that ran past the last chunk.
    skip: u64,
    /// Chunks at least this long are decoded in parallel pieces.
    parallel_min: usize,
}

/// The decoder's position, committed only when a call succeeds.
#[derive(Clone, Copy)]
struct Position {
    offset: u64,
    skip: u64,
}

impl Decoder {
    pub fn new(codec: Codec, opts: DecodeOptions) -> Self {
        Self { codec, opts, pending: Vec::new(), offset: 0, skip: 0, parallel_min: 4 * PARALLEL_MIN }
    }

    /// Cuts chunks of at least `n` bytes into parallel pieces (a quarter of
    /// that or more each). Only tests need anything but the default.
    #[doc(hidden)]
    pub fn with_parallel_min(mut self, n: usize) -> Self {
        self.parallel_min = n.max(BLOCK);
        self
    }

    /// Bytes of the stream consumed so far (held-back bytes not included).
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Bytes held back: the start of a unit the next chunk must finish.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Forgets the stream; the next chunk starts a new one at offset 0.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.offset = 0;
        self.skip = 0;
    }

    /// Decodes `src` into `sink` on the calling thread. With `last`, an
    /// unfinished unit at the end is an error (or U+FFFD) and the decoder
    /// resets for a new stream. On error the decoder is left as it was
    /// before the call (what the sink received is meaningless).
    pub fn decode<S: Sink>(&mut self, src: &[u8], last: bool, sink: &mut S) -> Result<(), DecodeError> {
        self.run(src, last, sink, |d, span, sink| d.decode_run(span, sink))
    }

    /// As [`decode`](Self::decode), with large chunks cut into pieces that
    /// are decoded on all cores and joined in order.
    pub fn decode_parallel<S: Split>(
        &mut self,
        src: &[u8],
        last: bool,
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        self.run(src, last, sink, |d, span, sink| {
            if span.data.len() < d.parallel_min {
                d.decode_run(span, sink)
            } else {
                d.decode_pieces(span, sink)
            }
        })
    }

    fn decode_run<S: Sink>(&self, span: Span<'_>, sink: &mut S) -> Result<usize, DecodeError> {
        let rules = Rules { specials: self.codec.special_tokens(), opts: &self.opts };
        decode_chunk(self.codec.scheme(), rules, span, sink)
    }

    /// The chunk protocol, shared by both entry points: skip what a replaced
    /// unit left to skip, finish the held-back unit with the first bytes of
    /// `src`, run `body` over the rest, and keep what it leaves unfinished.
    fn run<S: Sink>(
        &mut self,
        mut src: &[u8],
        last: bool,
        sink: &mut S,
        body: impl Fn(&Self, Span<'_>, &mut S) -> Result<usize, DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut at = Position { offset: self.offset, skip: self.skip };
        let k = at.skip.min(src.len() as u64) as usize;
        src = &src[k..];
        at.skip -= k as u64;
        at.offset += k as u64;
        // Errors restore the held bytes; position and skip are committed only at the end.
        let mut pending = self.pending.clone();
        if !pending.is_empty() {
            // A unit is at most 4 bytes: 3 more bytes finish any held one.
            let take = src.len().min(3);
            let held = pending.len();
            pending.extend_from_slice(&src[..take]);
            let head_last = last && take == src.len();
            let stop = body(self, Span { data: &pending, base: at.offset, last: head_last }, sink)?;
            if stop < held {
                // Still unfinished: `src` was too short to finish it.
                debug_assert!(take == src.len() && !head_last);
                pending.drain(..stop);
                self.pending = pending;
                self.offset = at.offset + stop as u64;
                self.skip = at.skip;
                return Ok(());
            }
            // Resume inside `src` where the head stopped (possibly past it,
            // when a replaced unit skipped ahead).
            let used = stop - held;
            let k = used.min(src.len());
            src = &src[k..];
            at.offset += (held + k) as u64;
            at.skip += (used - k) as u64;
            let k = at.skip.min(src.len() as u64) as usize;
            src = &src[k..];
            at.skip -= k as u64;
            at.offset += k as u64;
            pending.clear();
        }
        let stop = body(self, Span { data: src, base: at.offset, last }, sink)?;
        pending.clear();
        pending.extend_from_slice(src.get(stop..).unwrap_or_default());
        at.skip += stop.saturating_sub(src.len()) as u64;
        at.offset += stop.min(src.len()) as u64;
        self.pending = pending;
        self.offset = at.offset;
        self.skip = at.skip;
        if last {
            self.reset();
        }
        Ok(())
    }

    /// Decodes `data` (at stream offset `base`) in parallel pieces cut at
    /// block boundaries where no character can span the cut.
    fn decode_pieces<S: Split>(&self, span: Span<'_>, sink: &mut S) -> Result<usize, DecodeError> {
        let Span { data, base, last } = span;
        let table = self.codec.scheme().tables().is_some();
        let ok =
            |p: usize| (base + p as u64).is_multiple_of(BLOCK as u64) && (table || !is_continuation(data[p]));
        let ranges = parallel::pieces(data.len(), self.parallel_min / 4, 64, ok);
        let n = ranges.len();
        // Each piece: its range, its sink, and where decoding stopped.
        let mut jobs: Vec<_> = ranges.into_iter().map(|r| (sink.part(r.len() * 2), r, Ok(0))).collect();
        parallel::for_each_mut(&mut jobs, data.len(), 0, |k, (part, r, stopped)| {
            let piece = &data[r.clone()];
            let at = base + r.start as u64;
            let is_last = k + 1 == n;
            *stopped = match self.decode_run(Span { data: piece, base: at, last: last && is_last }, part) {
                Ok(stop) if !is_last && stop < piece.len() => {
                    self.finish_piece(piece, stop, data[r.end], at, part)
                }
                other => other,
            };
        });
        let mut stop = 0;
        for (part, r, stopped) in jobs {
            stop = r.start + stopped?;
            sink.join(part);
        }
        Ok(stop)
    }

    /// Finishes a piece whose last unit is unfinished at a cut (`utf8` only: a
    /// table-scheme code never spans a block boundary). One-shot decoding sees
    /// the sequence broken by `next`, the first byte after the cut, which is
    /// no continuation byte: an invalid continuation in strict mode, one
    /// U+FFFD for the whole unfinished sequence otherwise.
    fn finish_piece<S: Sink>(
        &self,
        piece: &[u8],
        stop: usize,
        next: u8,
        base: u64,
        sink: &mut S,
    ) -> Result<usize, DecodeError> {
        let lead = piece[stop];
        let scheme = self.codec.scheme();
        let kind = match scheme.tables() {
            None => DecodeErrorKind::InvalidContinuation { lead, byte: next },
            Some(_) => DecodeErrorKind::Truncated {
                lead,
                len: tables::code_len(lead) as u8,
                have: (piece.len() - stop) as u8,
            },
        };
        if self.opts.errors == ErrorMode::Strict {
            return Err(DecodeError { scheme, position: base + stop as u64, kind });
        }
        sink.push(REPLACEMENT);
        Ok(piece.len())
    }
}

/// How decoding to UTF-8 bytes (a file) treats what UTF-8 cannot hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Utf8Errors {
    /// Malformed data and lone surrogates are errors.
    #[default]
    Strict,
    /// Both become U+FFFD.
    Replace,
    /// Malformed data is an error; lone surrogates U+DC80..U+DCFF are written
    /// back as the bytes 0x80..0xFF (CPython's `surrogateescape`), so that
    /// decoding undoes an encoding made with `InputErrors::SurrogateEscape`;
    /// any other lone surrogate is an error.
    SurrogateEscape,
}

impl Utf8Errors {
    /// `"strict"`, `"replace"` or `"surrogateescape"`.
    pub fn from_name(name: &str) -> Option<Utf8Errors> {
        match name {
            "strict" => Some(Utf8Errors::Strict),
            "replace" => Some(Utf8Errors::Replace),
            "surrogateescape" => Some(Utf8Errors::SurrogateEscape),
            _ => None,
        }
    }

    /// What the decoder does with malformed data under this policy.
    pub fn data_errors(self) -> ErrorMode {
        match self {
            Utf8Errors::Replace => ErrorMode::Replace,
            Utf8Errors::Strict | Utf8Errors::SurrogateEscape => ErrorMode::Strict,
        }
    }
}

/// Why a stream did not decode to UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Utf8DecodeError {
    /// Malformed encoded data (strict mode).
    Data(DecodeError),
    /// The text has a lone surrogate that the policy cannot write.
    LoneSurrogate { cp: u32, output_offset: u64 },
}

impl fmt::Display for Utf8DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Data(e) => e.fmt(f),
            Self::LoneSurrogate { cp, output_offset } => write!(
                f,
                "the decoded text has a lone surrogate U+{cp:04X} (at output byte {output_offset}), \
                 which UTF-8 cannot hold"
            ),
        }
    }
}

impl std::error::Error for Utf8DecodeError {}

impl From<DecodeError> for Utf8DecodeError {
    fn from(e: DecodeError) -> Self {
        Utf8DecodeError::Data(e)
    }
}

/// Decoded text as UTF-8 bytes, kept as a list of buffers so that parallel
/// pieces are joined without copying.
#[derive(Clone, Debug, Default)]
pub struct Utf8Out {
    done: Vec<Vec<u8>>,
    cur: Vec<u8>,
    /// Bytes in `done`.
    before: u64,
    errors: Utf8Errors,
    /// The first lone surrogate that could not be written, and where.
    bad: Option<(u32, u64)>,
}

impl Utf8Out {
    pub fn new(errors: Utf8Errors, capacity: usize) -> Self {
        Utf8Out { cur: Vec::with_capacity(capacity), errors, ..Default::default() }
    }

    /// UTF-8 bytes written so far.
    pub fn len(&self) -> u64 {
        self.before + self.cur.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffers, in order, or the first lone surrogate the policy refused.
    pub fn finish(mut self) -> Result<Vec<Vec<u8>>, Utf8DecodeError> {
        if let Some((cp, output_offset)) = self.bad {
            return Err(Utf8DecodeError::LoneSurrogate { cp, output_offset });
        }
        if !self.cur.is_empty() {
            self.done.push(self.cur);
        }
        Ok(self.done)
    }

    #[cold]
    fn surrogate(&mut self, cp: u32) {
        match self.errors {
            Utf8Errors::Replace => self.cur.extend_from_slice("\u{FFFD}".as_bytes()),
            Utf8Errors::SurrogateEscape if (0xDC80..=0xDCFF).contains(&cp) => {
                self.cur.push((cp - 0xDC00) as u8)
            }
            _ => {
                if self.bad.is_none() {
                    self.bad = Some((cp, self.len()));
                }
            }
        }
    }
}

impl Sink for Utf8Out {
    #[inline]
    fn push(&mut self, cp: u32) {
        if (0xD800..0xE000).contains(&cp) {
            self.surrogate(cp);
            return;
        }
        let (code, len) = utf8_code(cp);
        self.cur.extend_from_slice(&code[..len]);
    }

    /// Each value (a BMP code point, never a surrogate) is stored as 4
    /// bytes unconditionally and the cursor advances by its real length: no
    /// branches on the (unpredictable) length.
    fn push_bmp(&mut self, cps: &[u16]) {
        let len = self.cur.len();
        self.cur.reserve(cps.len() * 3 + 1);
        let spare = &mut self.cur.spare_capacity_mut()[..cps.len() * 3 + 1];
        let mut n = 0;
        for &v in cps {
            let (bytes, l) = utf8_code(u32::from(v));
            // n <= 3 * (values before v), so n + 3 < spare.len().
            for (k, &b) in bytes.iter().enumerate() {
                spare[n + k].write(b);
            }
            n += l;
        }
        // SAFETY: the first n spare bytes were written above.
        unsafe { self.cur.set_len(len + n) };
    }

    fn push_name(&mut self, name: &str) {
        self.cur.extend_from_slice(name.as_bytes());
    }
}

impl Split for Utf8Out {
    fn part(&self, capacity: usize) -> Self {
        Utf8Out::new(self.errors, capacity)
    }

    fn join(&mut self, part: Self) {
        if self.bad.is_none() {
            self.bad = part.bad.map(|(cp, at)| (cp, self.len() + at));
        }
        let part_len = part.len();
        if !self.cur.is_empty() {
            self.done.push(std::mem::take(&mut self.cur));
        }
        self.done.extend(part.done);
        self.cur = part.cur;
        self.before += part_len - self.cur.len() as u64;
    }
}

/// Decodes a stream fed in chunks into UTF-8 buffers (a file decoder), on
/// all cores for large chunks, under a [`Utf8Errors`] policy.
#[derive(Clone, Debug)]
pub struct Utf8StreamDecoder {
    decoder: Decoder,
    errors: Utf8Errors,
    /// UTF-8 bytes written so far (for the offsets in errors).
    written: u64,
}

impl Utf8StreamDecoder {
    pub fn new(codec: Codec, errors: Utf8Errors, skip_special_tokens: bool) -> Self {
        let opts = DecodeOptions { errors: errors.data_errors(), skip_special_tokens };
        Utf8StreamDecoder { decoder: Decoder::new(codec, opts), errors, written: 0 }
    }

    /// Decodes `src` (the chunk protocol of [`Decoder`]) and appends the
    /// UTF-8 buffers to `out`.
    pub fn decode(&mut self, src: &[u8], last: bool, out: &mut Vec<Vec<u8>>) -> Result<(), Utf8DecodeError> {
        let mut sink = Utf8Out::new(self.errors, 2 * src.len());
        self.decoder.decode_parallel(src, last, &mut sink)?;
        let before = self.written;
        self.written += sink.len();
        match sink.finish() {
            Ok(buffers) => {
                out.extend(buffers);
                if last {
                    self.written = 0;
                }
                Ok(())
            }
            Err(Utf8DecodeError::LoneSurrogate { cp, output_offset }) => {
                Err(Utf8DecodeError::LoneSurrogate { cp, output_offset: before + output_offset })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EncodeOptions, Scheme, TextRef};

    fn chunked(
        codec: &Codec,
        data: &[u8],
        chunk: usize,
        errors: ErrorMode,
        parallel: bool,
    ) -> Result<Vec<u32>, DecodeError> {
        let opts = DecodeOptions { errors, skip_special_tokens: false };
        let mut dec = Decoder::new(codec.clone(), opts).with_parallel_min(64);
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = data.chunks(chunk.max(1)).collect();
        if chunks.is_empty() {
            dec.decode(&[], true, &mut out)?;
        }
        for (k, c) in chunks.iter().enumerate() {
            let last = k + 1 == chunks.len();
            if parallel {
                dec.decode_parallel(c, last, &mut out)?;
            } else {
                dec.decode(c, last, &mut out)?;
            }
        }
        Ok(out)
    }

    #[test]
    fn chunked_and_parallel_equal_one_shot() {
        let unit = "吾輩は猫である。名前はまだ無い。abc 한국어 😀 éè\n<|mask|>";
        let text = unit.repeat(40);
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let opts = EncodeOptions { parse_special: true, ..Default::default() };
            let mut data = codec.encode(TextRef::Str(&text), &opts).unwrap().0;
            let want = codec.decode_to_code_points(&data, &DecodeOptions::default()).unwrap();
            for chunk in [1, 2, 3, 5, 64, 1000, data.len()] {
                for parallel in [false, true] {
                    assert_eq!(
                        chunked(&codec, &data, chunk, ErrorMode::Strict, parallel).unwrap(),
                        want,
                        "{scheme} {chunk}"
                    );
                }
            }
            // Corrupt bytes: replace mode gives the one-shot text, strict mode the one-shot error.
            for i in (50..data.len()).step_by(97) {
                data[i] = [0x80, 0xE3, 0xFB, 0xFC, 0xFE, 0x41][i % 6];
            }
            data.push(0xE3);
            let replace = DecodeOptions { errors: ErrorMode::Replace, skip_special_tokens: false };
            let want = codec.decode_to_code_points(&data, &replace).unwrap();
            let want_err = codec.decode_to_code_points(&data, &DecodeOptions::default()).unwrap_err();
            for chunk in [1, 3, 7, 64, 500, data.len()] {
                for parallel in [false, true] {
                    assert_eq!(
                        chunked(&codec, &data, chunk, ErrorMode::Replace, parallel).unwrap(),
                        want,
                        "{scheme} {chunk}"
                    );
                    assert_eq!(
                        chunked(&codec, &data, chunk, ErrorMode::Strict, parallel).unwrap_err(),
                        want_err
                    );
                }
            }
        }
    }

    #[test]
    fn errors_leave_the_decoder_as_it_was() {
        let codec = Codec::new(Scheme::Utf8);
        let mut dec = Decoder::new(codec, DecodeOptions::default());
        let mut out = Vec::new();
        dec.decode(b"ab\xe3", false, &mut out).unwrap();
        assert_eq!((dec.position(), dec.pending()), (2, &[0xE3][..]));
        assert!(dec.decode(b"\x41", false, &mut Vec::new()).is_err());
        assert_eq!((dec.position(), dec.pending()), (2, &[0xE3][..]));
        let mut out = Vec::new();
        dec.decode(b"\x81\x82", true, &mut out).unwrap();
        assert_eq!(out, [0x3042]);
        assert_eq!(dec.position(), 0);
    }

    #[test]
    fn utf8_output_by_policy() {
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let cps = [0x61, 0xDCFF, 0xD800];
            let data = codec.encode(TextRef::Ucs4(&cps[..2]), &Default::default()).unwrap().0;
            let run = |data: &[u8], errors: Utf8Errors| {
                let mut out = Utf8Out::new(errors, 0);
                let opts = DecodeOptions { errors: errors.data_errors(), skip_special_tokens: false };
                Decoder::new(codec.clone(), opts).decode_parallel(data, true, &mut out).unwrap();
                out.finish().map(|v| v.concat())
            };
            assert_eq!(run(&data, Utf8Errors::SurrogateEscape).unwrap(), b"a\xff");
            assert_eq!(run(&data, Utf8Errors::Replace).unwrap(), "a\u{FFFD}".as_bytes());
            assert_eq!(
                run(&data, Utf8Errors::Strict).unwrap_err(),
                Utf8DecodeError::LoneSurrogate { cp: 0xDCFF, output_offset: 1 }
            );
            let data = codec.encode(TextRef::Ucs4(&cps), &Default::default()).unwrap().0;
            assert_eq!(
                run(&data, Utf8Errors::SurrogateEscape).unwrap_err(),
                Utf8DecodeError::LoneSurrogate { cp: 0xD800, output_offset: 2 }
            );
        }
    }
}
