//! Decoding an encoded byte stream of any size to UTF-8, chunk by chunk and in
//! parallel, with output identical to one-shot decoding.
//!
//! Chunks are cut into pieces at block boundaries. Under `jpblock` decoding is
//! block-local, so any block boundary will do. Under `utf8` a boundary is also
//! required to start no UTF-8 continuation byte, so no character spans it; a
//! sequence left unfinished before it is then malformed exactly as in one-shot
//! decoding (broken by the byte after the cut), which [`finish_piece`] reports
//! the same way.

use std::fmt;

use rayon::prelude::*;

use crate::codec::Codec;
use crate::decode::{decode_chunk, DecodeError, DecodeErrorKind, DecodeOptions, ErrorMode, Sink};
use crate::encode::utf8_code;
use crate::fast_decode::DROP;
use crate::jpblock;
use crate::scheme::{Scheme, BLOCK};
use crate::utf8_input::{cut_pieces, is_continuation};

const PARALLEL_MIN: usize = 1 << 18;
const REPLACEMENT: u32 = 0xFFFD;

/// What to write for a lone surrogate in the decoded text, which UTF-8 cannot hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SurrogateOutput {
    /// Stop with [`StreamDecodeError::LoneSurrogate`].
    #[default]
    Strict,
    /// Write U+FFFD.
    Replace,
    /// Write U+DC80..U+DCFF back as the bytes 0x80..0xFF (CPython's
    /// `surrogateescape`); any other lone surrogate stops as in strict mode.
    SurrogateEscape,
}

/// Why a stream did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamDecodeError {
    /// Malformed encoded data (strict mode).
    Data(DecodeError),
    /// The text has a lone surrogate that the output mode cannot write.
    LoneSurrogate { cp: u32, output_offset: u64 },
}

impl fmt::Display for StreamDecodeError {
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

impl std::error::Error for StreamDecodeError {}

/// Decodes a stream fed in chunks into UTF-8.
#[derive(Clone, Debug)]
pub struct StreamDecoder {
    codec: Codec,
    opts: DecodeOptions,
    surrogates: SurrogateOutput,
    /// Stream offset of the next byte.
    position: u64,
    /// Bytes still to skip after a replaced unit that ran past a chunk.
    skip: u64,
    /// UTF-8 bytes written so far.
    written: u64,
    /// Inputs at least this long are cut into parallel pieces.
    parallel_min: usize,
}

/// UTF-8 output of one piece.
struct Utf8Out {
    bytes: Vec<u8>,
    surrogates: SurrogateOutput,
    /// The first lone surrogate that could not be written, and where.
    bad: Option<(u32, usize)>,
}

impl Utf8Out {
    #[cold]
    fn surrogate(&mut self, cp: u32) {
        match self.surrogates {
            SurrogateOutput::Replace => self.bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            SurrogateOutput::SurrogateEscape if (0xDC80..=0xDCFF).contains(&cp) => {
                self.bytes.push((cp - 0xDC00) as u8);
            }
            _ => {
                if self.bad.is_none() {
                    self.bad = Some((cp, self.bytes.len()));
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
        self.bytes.extend_from_slice(&code[..len]);
    }

    /// Staged values are BMP code points that are never surrogates, or DROP.
    /// Each is written as 3 bytes unconditionally and the cursor advances by
    /// its real length: no branches on the (unpredictable) length.
    fn push_staged(&mut self, staged: &[u16]) {
        let len = self.bytes.len();
        self.bytes.reserve(staged.len() * 3);
        let spare = &mut self.bytes.spare_capacity_mut()[..staged.len() * 3];
        let mut n = 0;
        for &v in staged {
            let v = u32::from(v);
            let (b, l) = if v == u32::from(DROP) {
                ([0, 0, 0], 0)
            } else if v < 0x80 {
                ([v as u8, 0, 0], 1)
            } else if v < 0x800 {
                ([0xC0 | (v >> 6) as u8, 0x80 | (v & 0x3F) as u8, 0], 2)
            } else {
                ([0xE0 | (v >> 12) as u8, 0x80 | (v >> 6 & 0x3F) as u8, 0x80 | (v & 0x3F) as u8], 3)
            };
            // n <= 3 * (values before v), so n + 2 < spare.len().
            spare[n].write(b[0]);
            spare[n + 1].write(b[1]);
            spare[n + 2].write(b[2]);
            n += l;
        }
        // SAFETY: the first n spare bytes were written above.
        unsafe { self.bytes.set_len(len + n) };
    }

    fn push_name(&mut self, name: &str) {
        self.bytes.extend_from_slice(name.as_bytes());
    }
}

/// A decoded piece: its UTF-8, where decoding stopped, or why it failed.
struct Piece {
    out: Utf8Out,
    stopped: Result<usize, DecodeError>,
}

impl StreamDecoder {
    pub fn new(codec: Codec, opts: DecodeOptions, surrogates: SurrogateOutput) -> Self {
        Self { codec, opts, surrogates, position: 0, skip: 0, written: 0, parallel_min: PARALLEL_MIN }
    }

    /// Cuts inputs of at least `n` bytes into parallel pieces (a quarter of
    /// that or more each). Only tests need anything but the default.
    #[doc(hidden)]
    pub fn with_parallel_min(mut self, n: usize) -> Self {
        self.parallel_min = n.max(4);
        self
    }

    /// Stream offset of the next byte to decode.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Decodes `data`, whose first byte is the stream's next one, appending
    /// UTF-8 pieces to `out`. Returns how many bytes it took; without `last`
    /// an unfinished unit (at most 3 bytes) is left for the caller to pass
    /// again at the front of the next chunk. `last` ends the stream and
    /// resets the decoder.
    pub fn decode(
        &mut self,
        data: &[u8],
        last: bool,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<usize, StreamDecodeError> {
        let start = self.skip.min(data.len() as u64) as usize;
        self.skip -= start as u64;
        let region = &data[start..];
        let base = self.position + start as u64;
        let scheme = self.codec.scheme();
        let ranges = if region.len() < self.parallel_min {
            std::iter::once(0..region.len()).collect()
        } else {
            let ok = |p: usize| {
                (base + p as u64) % BLOCK as u64 == 0
                    && (scheme == Scheme::Jpblock || !is_continuation(region[p]))
            };
            cut_pieces(region, 4 * rayon::current_num_threads(), self.parallel_min / 4, 64, ok)
        };
        let n = ranges.len();
        let one = |(k, r): (usize, &std::ops::Range<usize>)| {
            let mut out =
                Utf8Out { bytes: Vec::with_capacity(r.len() * 2), surrogates: self.surrogates, bad: None };
            let piece = &region[r.clone()];
            let at = base + r.start as u64;
            let is_last = k + 1 == n;
            let specials = self.codec.special_tokens();
            let stopped = decode_chunk(scheme, specials, piece, at, last && is_last, &self.opts, &mut out);
            let stopped = match stopped {
                Ok(stop) if !is_last && stop < piece.len() => {
                    finish_piece(scheme, piece, stop, region[r.end], at, &self.opts, &mut out)
                }
                other => other,
            };
            Piece { out, stopped }
        };
        let pieces: Vec<Piece> = if n > 1 {
            ranges.par_iter().enumerate().map(one).collect()
        } else {
            ranges.iter().enumerate().map(one).collect()
        };
        let mut took = start;
        for (piece, range) in pieces.into_iter().zip(&ranges) {
            if let Some((cp, at)) = piece.out.bad {
                return Err(StreamDecodeError::LoneSurrogate { cp, output_offset: self.written + at as u64 });
            }
            let stop = piece.stopped.map_err(StreamDecodeError::Data)?;
            self.written += piece.out.bytes.len() as u64;
            if !piece.out.bytes.is_empty() {
                out.push(piece.out.bytes);
            }
            took = start + range.start + stop.min(range.len());
            self.skip += stop.saturating_sub(range.len()) as u64;
        }
        self.position += took as u64;
        if last {
            *self = Self::new(self.codec.clone(), self.opts, self.surrogates)
                .with_parallel_min(self.parallel_min);
        }
        Ok(took)
    }
}

/// Finishes a piece whose last unit is unfinished at a cut (`utf8` only: a
/// `jpblock` code never spans a block boundary). One-shot decoding sees the
/// sequence broken by `next`, the first byte after the cut, which is no
/// continuation byte: an invalid continuation in strict mode, one U+FFFD for
/// the whole unfinished sequence otherwise.
fn finish_piece<S: Sink>(
    scheme: Scheme,
    piece: &[u8],
    stop: usize,
    next: u8,
    base: u64,
    opts: &DecodeOptions,
    sink: &mut S,
) -> Result<usize, DecodeError> {
    let lead = piece[stop];
    let kind = match scheme {
        Scheme::Utf8 => DecodeErrorKind::InvalidContinuation { lead, byte: next },
        Scheme::Jpblock => {
            let len = jpblock::code_len(lead) as u8;
            DecodeErrorKind::Truncated { lead, len, have: (piece.len() - stop) as u8 }
        }
    };
    if opts.errors == ErrorMode::Strict {
        return Err(DecodeError { scheme, position: base + stop as u64, kind });
    }
    sink.push(REPLACEMENT);
    Ok(piece.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextRef;

    fn stream(
        codec: &Codec,
        data: &[u8],
        chunk: usize,
        errors: ErrorMode,
        s: SurrogateOutput,
    ) -> Result<Vec<u8>, StreamDecodeError> {
        let opts = DecodeOptions { errors, skip_special_tokens: false };
        let mut dec = StreamDecoder::new(codec.clone(), opts, s);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut chunks = data.chunks(chunk.max(1)).peekable();
        loop {
            let next = chunks.next();
            let last = chunks.peek().is_none();
            pending.extend_from_slice(next.unwrap_or_default());
            let took = dec.decode(&pending, last, &mut out)?;
            pending.drain(..took);
            if last {
                return Ok(out.concat());
            }
        }
    }

    fn one_shot(codec: &Codec, data: &[u8], errors: ErrorMode) -> Result<String, DecodeError> {
        codec.decode_to_string(data, &DecodeOptions { errors, skip_special_tokens: false })
    }

    #[test]
    fn chunked_and_parallel_equal_one_shot() {
        let unit = "吾輩は猫である。名前はまだ無い。abc 한국어 😀 éè\n<|mask|>";
        let text = unit.repeat(3 * PARALLEL_MIN / unit.len());
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let opts = crate::EncodeOptions { parse_special: true, ..Default::default() };
            let data = codec.encode(TextRef::Str(&text), &opts).unwrap().0;
            for chunk in [5, 4096, PARALLEL_MIN + 1, data.len()] {
                let got = stream(&codec, &data, chunk, ErrorMode::Strict, SurrogateOutput::Strict).unwrap();
                assert!(got == text.as_bytes(), "{scheme} chunk {chunk}");
            }
        }
    }

    #[test]
    fn malformed_data_matches_one_shot() {
        // Corrupt every 997th byte of a long encoding: replace mode gives the
        // one-shot text, strict mode the one-shot error.
        let unit = "吾輩は猫である。abc😀éè\n";
        let text = unit.repeat(3 * PARALLEL_MIN / unit.len());
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let mut data = codec.encode_str(&text);
            for i in (500..data.len()).step_by(997) {
                data[i] = [0x80, 0xE3, 0xFB, 0xFC, 0xFE, 0x41][i % 6];
            }
            data.push(0xE3);
            let want = one_shot(&codec, &data, ErrorMode::Replace).unwrap();
            for chunk in [3, 4096, PARALLEL_MIN - 1] {
                let got = stream(&codec, &data, chunk, ErrorMode::Replace, SurrogateOutput::Replace).unwrap();
                assert!(got == want.as_bytes(), "{scheme} chunk {chunk}");
                let err =
                    stream(&codec, &data, chunk, ErrorMode::Strict, SurrogateOutput::Strict).unwrap_err();
                assert_eq!(
                    err,
                    StreamDecodeError::Data(one_shot(&codec, &data, ErrorMode::Strict).unwrap_err())
                );
            }
        }
    }

    #[test]
    fn lone_surrogates_by_mode() {
        let cps = [0x61, 0xDCFF, 0xD800];
        for scheme in Scheme::ALL {
            let codec = Codec::new(scheme);
            let data = codec.encode(TextRef::Ucs4(&cps[..2]), &Default::default()).unwrap().0;
            let esc = stream(&codec, &data, 3, ErrorMode::Strict, SurrogateOutput::SurrogateEscape).unwrap();
            assert_eq!(esc, b"a\xff");
            let rep = stream(&codec, &data, 3, ErrorMode::Strict, SurrogateOutput::Replace).unwrap();
            assert_eq!(rep, "a\u{FFFD}".as_bytes());
            let err = stream(&codec, &data, 3, ErrorMode::Strict, SurrogateOutput::Strict).unwrap_err();
            assert_eq!(err, StreamDecodeError::LoneSurrogate { cp: 0xDCFF, output_offset: 1 });
            let data = codec.encode(TextRef::Ucs4(&cps), &Default::default()).unwrap().0;
            let err =
                stream(&codec, &data, 3, ErrorMode::Strict, SurrogateOutput::SurrogateEscape).unwrap_err();
            assert_eq!(err, StreamDecodeError::LoneSurrogate { cp: 0xD800, output_offset: 2 });
        }
    }
}
