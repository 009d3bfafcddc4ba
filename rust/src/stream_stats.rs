//! Encoding statistics of a byte stream of any size, in parallel pieces.
//!
//! A piece's filler and straddling counts depend on the block offset it starts
//! at, so each piece is measured from all 4 offsets at once ("lanes") and the
//! pieces are chained in order afterwards.

use rayon::prelude::*;

use crate::encode::utf8_code;
use crate::jpblock;
use crate::scheme::{Scheme, BLOCK};
use crate::stats::Stats;
use crate::utf8_input::{
    bad_bytes, count_newlines, cut_pieces, escape, for_each_run, is_boundary, last_boundary, InputErrors,
    InvalidUtf8, Run,
};

const PARALLEL_MIN: usize = 1 << 18;

/// Counts of one scheme over a piece, from each start offset.
#[derive(Clone, Copy, Debug, Default)]
struct Lanes {
    state: [u8; BLOCK],
    bytes: [u64; BLOCK],
    filler: [u64; BLOCK],
    straddling: [u64; BLOCK],
}

impl Lanes {
    fn new() -> Self {
        Lanes { state: [0, 1, 2, 3], ..Default::default() }
    }

    #[inline(always)]
    fn step(&mut self, len: u8, block_rule: bool) {
        for s in 0..BLOCK {
            let q = self.state[s];
            let cross = q + len > BLOCK as u8;
            let fill = if cross && block_rule { BLOCK as u8 - q } else { 0 };
            self.filler[s] += u64::from(fill);
            self.straddling[s] += u64::from(cross && !block_rule);
            self.bytes[s] += u64::from(fill + len);
            self.state[s] = (q + fill + len) % BLOCK as u8;
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Piece {
    chars: u64,
    jpblock: Lanes,
    utf8: Lanes,
    newlines: u64,
    bad: Option<usize>,
}

fn measure_piece(errors: InputErrors, data: &[u8]) -> Piece {
    let mut p = Piece { jpblock: Lanes::new(), utf8: Lanes::new(), ..Default::default() };
    let mut one = |cp: u32, utf8_len: usize| {
        p.chars += 1;
        p.jpblock.step(jpblock::packed_code(cp).1 as u8, true);
        p.utf8.step(utf8_len as u8, false);
    };
    let walked = for_each_run(data, errors, |run| match run {
        Run::Text(s) => s.chars().for_each(|c| one(u32::from(c), c.len_utf8())),
        Run::Escaped(bad) => bad.iter().for_each(|&b| one(escape(b), utf8_code(escape(b)).1)),
    });
    p.newlines = count_newlines(data);
    p.bad = walked.err();
    p
}

/// The statistics of a whole stream, fed in chunks: one [`Stats`] per scheme
/// (as `Stats::measure` gives for the whole text) plus the input's own size.
#[derive(Clone, Debug)]
pub struct StreamStats {
    errors: InputErrors,
    position: u64,
    lines: u64,
    offsets: [usize; 2],
    totals: [Stats; 2],
    /// Inputs at least this long are cut into parallel pieces.
    parallel_min: usize,
}

impl StreamStats {
    pub fn new(errors: InputErrors) -> Self {
        Self {
            errors,
            position: 0,
            lines: 0,
            offsets: [0; 2],
            totals: [Stats::default(); 2],
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

    /// Input bytes measured so far.
    pub fn input_bytes(&self) -> u64 {
        self.position
    }

    /// Measures `data` (the stream's next bytes); like
    /// [`StreamEncoder::encode`](crate::StreamEncoder::encode) it takes up to
    /// the last character boundary unless `last`, and returns how much it took.
    pub fn feed(&mut self, data: &[u8], last: bool) -> Result<usize, InvalidUtf8> {
        let take = if last { data.len() } else { last_boundary(data) };
        let data = &data[..take];
        let errors = self.errors;
        let ranges = if data.len() < self.parallel_min {
            std::iter::once(0..data.len()).collect()
        } else {
            cut_pieces(data, 4 * rayon::current_num_threads(), self.parallel_min / 4, 4, |p| {
                is_boundary(data, p)
            })
        };
        let pieces: Vec<Piece> = if ranges.len() > 1 {
            ranges.par_iter().map(|r| measure_piece(errors, &data[r.clone()])).collect()
        } else {
            ranges.iter().map(|r| measure_piece(errors, &data[r.clone()])).collect()
        };
        for (p, range) in pieces.iter().zip(&ranges) {
            if let Some(bad) = p.bad {
                let at = range.start + bad;
                let line = self.lines + count_newlines(&data[..at]) + 1;
                return Err(InvalidUtf8 {
                    offset: self.position + at as u64,
                    line,
                    bytes: bad_bytes(data, at),
                });
            }
            for (k, lanes) in [&p.jpblock, &p.utf8].into_iter().enumerate() {
                let q = self.offsets[k];
                let t = &mut self.totals[k];
                t.chars += p.chars;
                t.bytes += lanes.bytes[q];
                t.filler += lanes.filler[q];
                t.straddling += lanes.straddling[q];
                self.offsets[k] = usize::from(lanes.state[q]);
            }
            self.lines += p.newlines;
        }
        self.position += take as u64;
        Ok(take)
    }

    /// The totals: (jpblock, utf8), each padded to a whole block as an
    /// encoding of the whole stream would be, and the input's byte count.
    pub fn finish(&self) -> ([Stats; 2], u64) {
        let mut totals = self.totals;
        for (t, &q) in totals.iter_mut().zip(&self.offsets) {
            let pad = ((BLOCK - q) % BLOCK) as u64;
            t.bytes += pad;
            t.filler += pad;
        }
        (totals, self.position)
    }

    /// The scheme order of [`finish`](Self::finish).
    pub const SCHEMES: [Scheme; 2] = [Scheme::Jpblock, Scheme::Utf8];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextRef;

    #[test]
    fn chunked_and_parallel_equal_whole_text_stats() {
        let unit = "吾輩は猫である。abc 한국어😀éè\n";
        let text = unit.repeat(3 * PARALLEL_MIN / unit.len());
        let want = StreamStats::SCHEMES.map(|s| Stats::measure(s, TextRef::Str(&text)));
        for chunk in [7, 4096, PARALLEL_MIN + 5, text.len()] {
            let mut st = StreamStats::new(InputErrors::Strict);
            let mut pending: Vec<u8> = Vec::new();
            let chunks: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
            for (k, c) in chunks.iter().enumerate() {
                pending.extend_from_slice(c);
                let took = st.feed(&pending, k + 1 == chunks.len()).unwrap();
                pending.drain(..took);
            }
            assert_eq!(st.finish(), (want, text.len() as u64), "chunk {chunk}");
        }
        let err = StreamStats::new(InputErrors::Strict).feed(b"a\nb\n\xff", true).unwrap_err();
        assert_eq!((err.offset, err.line), (4, 3));
    }
}
