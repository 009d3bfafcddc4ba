//! Encoding and measuring UTF-8 byte streams of any size, chunk by chunk and
//! on all cores, with results identical to one-shot encoding of the whole
//! text. Both use the one encoder ([`put_code`]); this module only adds the
//! chunk protocol (an unfinished character is held for the next chunk) and
//! the parallel pieces.
//!
//! Large chunks are cut into pieces at character boundaries and the pieces
//! are encoded on all cores. Under the block rule a piece's bytes depend on
//! the block offset it starts at, known only once every earlier piece is
//! done. So each piece is encoded from offset 0 while the same encoder,
//! counting only, follows the three other possible start offsets ("lanes")
//! until they fall in step with offset 0, which Japanese text does within a
//! few characters: from there on every lane writes the same bytes. Once the
//! true start offsets are chained through, a piece that starts elsewhere
//! re-encodes only the characters before that point.

use crate::encoder::{pad_block, put_code, put_special, put_utf8, ByteOut, Counts, Cursor};
use crate::parallel::{self, PARALLEL_MIN};
use crate::scheme::{with_codes, Codes, Scheme, BLOCK};
use crate::special::{BOS_ID, EOS_ID};
use crate::stats::Stats;
use crate::utf8_input::{
    bad_bytes, count_newlines, for_each_char, is_boundary, last_boundary, InputErrors, InvalidUtf8,
};

/// Where lane `s` fell in step with lane 0.
#[derive(Clone, Copy, Debug, Default)]
struct Merge {
    /// Input index (a character boundary) where both lanes stand at one offset.
    input: usize,
    /// Lane 0's counts up to there.
    counts0: Counts,
    /// Lane `s`'s counts up to there.
    counts: Counts,
}

/// How a piece encodes from each of the 4 start offsets.
#[derive(Clone, Debug, Default)]
struct Lanes {
    /// Per start offset: where it fell in step with offset 0 (lane 0 always at 0).
    merged: [Option<Merge>; BLOCK],
    /// Lanes that never fell in step: their counts and end offset over the whole piece.
    unmerged: [(Counts, usize); BLOCK],
    /// Lane 0's counts and end offset over the whole piece, when the lanes
    /// ran to the end (none merged with it before).
    whole0: Option<(Counts, usize)>,
}

impl Lanes {
    /// Runs the counting encoder from all 4 offsets over `data` until every
    /// lane has fallen in step with lane 0 (or the piece ends).
    fn track<C: Codes>(codes: C, data: &[u8], errors: InputErrors) -> Lanes {
        let mut at = [0, 1, 2, 3].map(Cursor::at);
        let mut counts = [Counts::default(); BLOCK];
        let mut lanes = Lanes::default();
        lanes.merged[0] = Some(Merge::default());
        let mut open = BLOCK - 1;
        let _ = for_each_char(data, errors, None, |cp, end| {
            for s in 0..BLOCK {
                if lanes.merged[s].is_none() || s == 0 {
                    put_code(codes, &mut at[s], cp, &mut counts[s]);
                }
            }
            for s in 1..BLOCK {
                if lanes.merged[s].is_none() && at[s].q == at[0].q {
                    lanes.merged[s] = Some(Merge { input: end, counts0: counts[0], counts: counts[s] });
                    open -= 1;
                }
            }
            open > 0
        });
        if open > 0 {
            lanes.whole0 = Some((counts[0], at[0].q));
            for s in 1..BLOCK {
                lanes.unmerged[s] = (counts[s], at[s].q);
            }
        }
        lanes
    }

    /// The piece's counts and end offset when it starts at offset `s`;
    /// `whole0` is lane 0's over the whole piece.
    fn from(&self, s: usize, whole0: (Counts, usize)) -> (Counts, usize) {
        match self.merged[s] {
            Some(m) => {
                let mut c = m.counts;
                let mut rest = whole0.0;
                rest.codes -= m.counts0.codes;
                rest.bytes -= m.counts0.bytes;
                rest.filler -= m.counts0.filler;
                rest.straddling -= m.counts0.straddling;
                c.add(&rest);
                (c, whole0.1)
            }
            None => self.unmerged[s],
        }
    }
}

/// A piece of a chunk encoded from block offset 0.
struct Piece {
    bytes: Vec<u8>,
    lanes: Lanes,
    newlines: u64,
    /// Strict mode: index of the first bad byte.
    bad: Option<usize>,
}

/// Encodes `data` (one piece, cut at character boundaries) from offset 0.
fn encode_piece<C: Codes>(codes: C, data: &[u8], errors: InputErrors) -> Piece {
    // Lanes first: they usually stop after a few characters. Without the
    // block rule the bytes do not depend on the offset, so only lane 0 counts.
    let lanes = if C::BLOCK_RULE { Lanes::track(codes, data, errors) } else { Lanes::default() };
    let mut bytes = Vec::new();
    let mut at = Cursor::at(0);
    let walked = put_utf8(codes, data, errors, &mut at, &mut ByteOut::new(&mut bytes, data.len()));
    Piece { bytes, lanes, newlines: walked.unwrap_or(0), bad: walked.err() }
}

impl Piece {
    /// The block offset after the piece when it starts at offset `start`.
    fn end<C: Codes>(&self, start: usize) -> usize {
        let len0 = self.bytes.len();
        if !C::BLOCK_RULE {
            return (start + len0) % BLOCK;
        }
        match self.lanes.merged[start] {
            Some(_) => len0 % BLOCK,
            None => self.lanes.unmerged[start].1,
        }
    }

    /// Makes `bytes` what the piece encodes to from block offset `start`.
    fn start_at<C: Codes>(&mut self, codes: C, data: &[u8], errors: InputErrors, start: usize) {
        if !C::BLOCK_RULE || start == 0 {
            return; // the same bytes from any offset, or already from 0
        }
        let (input, output) = match self.lanes.merged[start] {
            Some(m) => (m.input, m.counts0.bytes as usize),
            None => {
                let lane = self.lanes.unmerged[start].0;
                let lane0 = self.lanes.whole0.unwrap_or_default().0;
                if lane.filler == 0 && lane0.filler == 0 {
                    return; // no filler either way: the same bytes
                }
                (data.len(), self.bytes.len())
            }
        };
        let mut fixed = Vec::with_capacity(self.bytes.len() + BLOCK);
        let mut at = Cursor::at(start);
        // `input` is a character boundary: the prefix encodes alone as in the whole.
        let _ = put_utf8(codes, &data[..input], errors, &mut at, &mut ByteOut::new(&mut fixed, input));
        fixed.extend_from_slice(&self.bytes[output..]);
        self.bytes = fixed;
    }
}

/// Encodes `part` (cut at character boundaries) from block offset `at.q` in
/// parallel pieces, appending their bytes to `out`: `Ok(newlines in part)`,
/// or `Err(index)` of the first bad byte in strict mode.
fn encode_parallel<C: Codes>(
    codes: C,
    part: &[u8],
    errors: InputErrors,
    min_piece: usize,
    at: &mut Cursor,
    out: &mut Vec<Vec<u8>>,
) -> Result<u64, usize> {
    let ranges = parallel::pieces(part.len(), min_piece, BLOCK, |p| is_boundary(part, p));
    let mut pieces =
        parallel::map(&ranges, part.len(), 0, |_, r| encode_piece(codes, &part[r.clone()], errors));
    if let Some(bad) = pieces.iter().zip(&ranges).find_map(|(p, r)| p.bad.map(|b| r.start + b)) {
        return Err(bad);
    }
    // Chain the true start offsets through the pieces, in order...
    let mut starts = Vec::with_capacity(pieces.len());
    for piece in &pieces {
        starts.push(at.q);
        at.q = piece.end::<C>(at.q);
    }
    // ...then make each piece start there, on all cores.
    parallel::for_each_mut(&mut pieces, part.len(), 0, |k, piece| {
        piece.start_at(codes, &part[ranges[k].clone()], errors, starts[k]);
    });
    let newlines = pieces.iter().map(|p| p.newlines).sum();
    out.extend(pieces.into_iter().map(|p| p.bytes));
    Ok(newlines)
}

/// The chunk protocol shared by [`StreamEncoder`] and [`StreamStats`]: the
/// position in the stream, line counting for errors, and the character held
/// back between chunks.
#[derive(Clone, Debug, Default)]
struct Feed {
    errors: InputErrors,
    /// Stream offset of `pending[0]`, or of the next byte.
    position: u64,
    /// Newlines before `position`, for the line numbers of errors (strict
    /// mode; `f` may skip counting otherwise).
    lines: u64,
    /// The start of a character the next chunk must finish.
    pending: Vec<u8>,
}

impl Feed {
    /// Splits a chunk into (head, body): the head finishes the held-back
    /// character (it is `pending` plus the first bytes of `src`; empty if
    /// nothing was held), the body is the rest up to its last character
    /// boundary (all of it if `last`); whatever follows is held back.
    /// `f` is called on each non-empty part with its stream offset, and
    /// returns the newlines in it (or the index of its first bad byte).
    fn split<E>(
        &mut self,
        src: &[u8],
        last: bool,
        mut f: impl FnMut(&[u8], u64) -> Result<u64, usize> + Send,
        error: impl Fn(usize, &[u8], u64, u64) -> E,
    ) -> Result<(), E> {
        let mut src = src;
        if !self.pending.is_empty() {
            let held = self.pending.len();
            let mut head = std::mem::take(&mut self.pending);
            head.extend_from_slice(&src[..src.len().min(BLOCK)]);
            let cut = (held..head.len()).find(|&p| is_boundary(&head, p));
            let cut = match cut {
                Some(p) => p,
                None if last && held + src.len() == head.len() => head.len(),
                None if held + src.len() == head.len() => {
                    self.pending = head; // still unfinished: wait for more
                    return Ok(());
                }
                // A boundary lies at most 4 bytes after the held bytes.
                None => unreachable!("no character boundary within 4 bytes"),
            };
            self.run(&head[..cut], &mut f, &error)?;
            src = &src[cut - held..];
        }
        let take = if last { src.len() } else { last_boundary(src) };
        self.run(&src[..take], &mut f, &error)?;
        self.pending = src[take..].to_vec();
        Ok(())
    }

    fn run<E>(
        &mut self,
        part: &[u8],
        f: &mut (impl FnMut(&[u8], u64) -> Result<u64, usize> + Send),
        error: &impl Fn(usize, &[u8], u64, u64) -> E,
    ) -> Result<(), E> {
        if part.is_empty() {
            return Ok(());
        }
        match f(part, self.position) {
            Ok(newlines) => {
                self.lines += newlines;
                self.position += part.len() as u64;
                Ok(())
            }
            Err(bad) => {
                let line = self.lines + count_newlines(&part[..bad]) + 1;
                Err(error(bad, part, self.position + bad as u64, line))
            }
        }
    }
}

fn invalid(bad: usize, part: &[u8], offset: u64, line: u64) -> InvalidUtf8 {
    InvalidUtf8 { offset, line, bytes: bad_bytes(part, bad) }
}

/// Encodes a UTF-8 byte stream fed in chunks of any size: the joined output
/// is exactly the one-shot encoding of the whole text.
#[derive(Clone, Debug)]
pub struct StreamEncoder {
    scheme: Scheme,
    add_special_tokens: bool,
    feed: Feed,
    started: bool,
    /// Block offset of everything written so far.
    q: usize,
    /// Inputs at least this long are cut into parallel pieces.
    parallel_min: usize,
}

impl StreamEncoder {
    pub fn new(scheme: Scheme, errors: InputErrors, add_special_tokens: bool) -> Self {
        Self {
            scheme,
            add_special_tokens,
            feed: Feed { errors, ..Feed::default() },
            started: false,
            q: 0,
            parallel_min: 4 * PARALLEL_MIN,
        }
    }

    /// Cuts chunks of at least `n` bytes into parallel pieces (a quarter of
    /// that or more each). Only tests need anything but the default.
    #[doc(hidden)]
    pub fn with_parallel_min(mut self, n: usize) -> Self {
        self.parallel_min = n.max(BLOCK);
        self
    }

    /// Stream offset of the next byte to encode (held-back bytes not included).
    pub fn position(&self) -> u64 {
        self.feed.position
    }

    /// Encodes `src`, the stream's next bytes, appending output buffers to
    /// `out`. All of `src` is taken: an unfinished character at its end is
    /// held for the next call. With `last` the stream ends: the final block
    /// is padded and the encoder resets for a new stream. On error (strict
    /// mode) the encoder is spent: reset it before using it again.
    pub fn encode(&mut self, src: &[u8], last: bool, out: &mut Vec<Vec<u8>>) -> Result<(), InvalidUtf8> {
        with_codes!(self.scheme, |codes| self.encode_with(codes, src, last, out))
    }

    fn encode_with<C: Codes>(
        &mut self,
        codes: C,
        src: &[u8],
        last: bool,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), InvalidUtf8> {
        let mut at = Cursor::at(self.q);
        if !self.started {
            self.started = true;
            if self.add_special_tokens {
                let mut head = Vec::new();
                put_special(&mut at, BOS_ID, &mut ByteOut::new(&mut head, BLOCK));
                out.push(head);
            }
        }
        let (errors, parallel_min) = (self.feed.errors, self.parallel_min);
        self.feed.split(
            src,
            last,
            |part, _| {
                if part.len() >= parallel_min {
                    return encode_parallel(codes, part, errors, parallel_min / 4, &mut at, out);
                }
                let mut bytes = Vec::new();
                let walked =
                    put_utf8(codes, part, errors, &mut at, &mut ByteOut::new(&mut bytes, part.len()));
                out.push(bytes);
                walked
            },
            invalid,
        )?;
        if last {
            let mut tail = Vec::new();
            {
                let mut w = ByteOut::new(&mut tail, 2 * BLOCK);
                pad_block(&mut at, &mut w);
                if self.add_special_tokens {
                    put_special(&mut at, EOS_ID, &mut w);
                }
            }
            out.push(tail);
            *self = Self::new(self.scheme, self.feed.errors, self.add_special_tokens)
                .with_parallel_min(self.parallel_min);
        } else {
            self.q = at.q;
        }
        out.retain(|b| !b.is_empty());
        Ok(())
    }
}

/// The counts of `part` from block offset `q`, in parallel pieces when it is long.
fn count_part<C: Codes>(
    codes: C,
    part: &[u8],
    errors: InputErrors,
    min_piece: usize,
    q: &mut usize,
) -> Result<Counts, usize> {
    let count = |data: &[u8], start: usize| {
        let mut c = Counts::default();
        let mut at = Cursor::at(start);
        put_utf8(codes, data, errors, &mut at, &mut c).map(|_| (c, at.q))
    };
    if part.len() < 4 * min_piece {
        let (c, end) = count(part, *q)?;
        *q = end;
        return Ok(c);
    }
    let ranges = parallel::pieces(part.len(), min_piece, BLOCK, |p| is_boundary(part, p));
    let pieces = parallel::map(&ranges, part.len(), 0, |_, r| {
        let data = &part[r.clone()];
        let lanes = Lanes::track(codes, data, errors);
        let whole0 = match lanes.whole0 {
            Some(w) => Ok(w),
            None => count(data, 0),
        };
        whole0.map(|w| (lanes, w)).map_err(|bad| r.start + bad)
    });
    let mut total = Counts::default();
    for piece in pieces {
        let (lanes, whole0) = piece?;
        let (c, end) = lanes.from(*q, whole0);
        total.add(&c);
        *q = end;
    }
    Ok(total)
}

/// Encoding statistics of a whole UTF-8 stream under several schemes, fed in
/// chunks: the same figures as [`Stats::measure`] on the whole text.
#[derive(Clone, Debug)]
pub struct StreamStats {
    feed: Feed,
    /// Per scheme: counts so far and the block offset after them.
    totals: Vec<(Scheme, Counts, usize)>,
    parallel_min: usize,
}

impl StreamStats {
    pub fn new(schemes: &[Scheme], errors: InputErrors) -> Self {
        Self {
            feed: Feed { errors, ..Feed::default() },
            totals: schemes.iter().map(|&s| (s, Counts::default(), 0)).collect(),
            parallel_min: 4 * PARALLEL_MIN,
        }
    }

    /// Cuts chunks of at least `n` bytes into parallel pieces. Only tests need
    /// anything but the default.
    #[doc(hidden)]
    pub fn with_parallel_min(mut self, n: usize) -> Self {
        self.parallel_min = n.max(BLOCK);
        self
    }

    /// Input bytes measured so far.
    pub fn input_bytes(&self) -> u64 {
        self.feed.position + self.feed.pending.len() as u64
    }

    /// Measures `src`, the stream's next bytes (the protocol of [`StreamEncoder::encode`]).
    pub fn feed(&mut self, src: &[u8], last: bool) -> Result<(), InvalidUtf8> {
        let (errors, min_piece) = (self.feed.errors, self.parallel_min / 4);
        let totals = &mut self.totals;
        self.feed.split(
            src,
            last,
            |part, _| {
                // Newlines (for the line numbers of errors) are counted beside
                // the schemes, whose lanes do not walk every piece whole.
                let strict = errors == InputErrors::Strict;
                let (counted, newlines) = rayon::join(
                    || {
                        totals.iter_mut().try_for_each(|(scheme, total, q)| {
                            let c =
                                with_codes!(scheme, |codes| count_part(codes, part, errors, min_piece, q))?;
                            total.add(&c);
                            Ok(())
                        })
                    },
                    || if strict { count_newlines(part) } else { 0 },
                );
                counted.map(|()| newlines)
            },
            invalid,
        )
    }

    /// Per scheme, the statistics of everything fed, padded to a whole block
    /// as an encoding of the whole stream is.
    pub fn finish(&self) -> Vec<(Scheme, Stats)> {
        self.totals
            .iter()
            .map(|&(scheme, mut c, q)| {
                let mut at = Cursor::at(q);
                pad_block(&mut at, &mut c);
                (scheme, Stats::from(c))
            })
            .collect()
    }
}
