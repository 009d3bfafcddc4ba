//! Bytes to text. One routine per scheme decodes as far as it can and says
//! where it stopped, so one-shot and incremental decoding share every rule.

use std::fmt;

use crate::fast_decode;
use crate::scheme::{Scheme, BLOCK, FILLER, SPECIAL_LEAD};
use crate::special::SpecialTokens;
use crate::tables::{self, Tables};

const REPLACEMENT: u32 = 0xFFFD;

/// What to do with a malformed unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Fail with a [`DecodeError`] at the unit's byte offset.
    #[default]
    Strict,
    /// Emit one U+FFFD for the unit and resume: jpblock resumes at the next
    /// block boundary (so no other block is affected); utf8 after the
    /// longest valid prefix of the bad sequence, as CPython's decoder does.
    Replace,
}

impl ErrorMode {
    /// `"strict"` or `"replace"`.
    pub fn from_name(name: &str) -> Option<ErrorMode> {
        match name {
            "strict" => Some(ErrorMode::Strict),
            "replace" => Some(ErrorMode::Replace),
            _ => None,
        }
    }
}

/// Options for one decode call.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    pub errors: ErrorMode,
    /// Drop special blocks instead of rendering their names.
    pub skip_special_tokens: bool,
}

/// Receives decoded code points (lone surrogates included).
pub trait Sink {
    fn push(&mut self, cp: u32);
    /// Many code points at once, all in the BMP and none a surrogate (what
    /// the table-driven fast path decodes).
    #[inline]
    fn push_bmp(&mut self, cps: &[u16]) {
        for &v in cps {
            self.push(u32::from(v));
        }
    }
    fn push_name(&mut self, name: &str) {
        for c in name.chars() {
            self.push(u32::from(c));
        }
    }
}

impl Sink for Vec<u32> {
    #[inline(always)]
    fn push(&mut self, cp: u32) {
        Vec::push(self, cp);
    }

    fn push_bmp(&mut self, cps: &[u16]) {
        self.extend(cps.iter().map(|&v| u32::from(v)));
    }
}

/// A Rust `String` cannot hold a lone surrogate: those become U+FFFD.
impl Sink for String {
    #[inline]
    fn push(&mut self, cp: u32) {
        String::push(self, char::from_u32(cp).unwrap_or('\u{FFFD}'));
    }
    fn push_name(&mut self, name: &str) {
        self.push_str(name);
    }
}

/// The kinds of malformed unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// A 2-byte code whose index is past the end of the scheme's table.
    TableIndexOutOfRange { index: u16 },
    /// A jpblock code (or special block) that would cross a block boundary.
    CrossesBlock { lead: u8, len: u8 },
    /// The data ends inside a code.
    Truncated { lead: u8, len: u8, have: u8 },
    /// A code point written with a longer code than its shortest one.
    NonShortest { cp: u32 },
    /// A 4-byte code above U+10FFFF.
    OutOfRange { value: u32 },
    /// A special block whose id is not registered.
    UnknownSpecial { id: u32 },
    /// A byte that cannot start a UTF-8 character (utf8 scheme).
    InvalidLead { byte: u8 },
    /// A UTF-8 sequence broken by this byte (utf8 scheme).
    InvalidContinuation { lead: u8, byte: u8 },
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TableIndexOutOfRange { index } => {
                write!(f, "2-byte code index {index} is past the end of the table")
            }
            Self::CrossesBlock { lead, len } => {
                write!(f, "{len}-byte code with lead byte 0x{lead:02X} crosses a 4-byte block boundary")
            }
            Self::Truncated { lead, len, have } => {
                write!(
                    f,
                    "data ends inside a {len}-byte code with lead byte 0x{lead:02X} ({have} bytes present)"
                )
            }
            Self::NonShortest { cp } => {
                write!(f, "U+{cp:04X} has a shorter code; only the shortest is valid")
            }
            Self::OutOfRange { value } => write!(f, "value 0x{value:06X} is above U+10FFFF"),
            Self::UnknownSpecial { id } => write!(f, "unknown special token id {id}"),
            Self::InvalidLead { byte } => write!(f, "byte 0x{byte:02X} cannot start a character"),
            Self::InvalidContinuation { lead, byte } => {
                write!(f, "byte 0x{byte:02X} cannot continue the sequence started by 0x{lead:02X}")
            }
        }
    }
}

/// A malformed unit in strict mode: where it starts and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub scheme: Scheme,
    /// Byte offset of the unit's first byte in the whole input.
    pub position: u64,
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} data at byte {}: {}", self.scheme, self.position, self.kind)
    }
}

impl std::error::Error for DecodeError {}

/// How to decode: the codec's special tokens and the call's options.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub specials: &'a SpecialTokens,
    pub opts: &'a DecodeOptions,
}

/// A stretch of the stream: `data`, whose first byte sits at offset `base`,
/// and whether it ends the stream.
#[derive(Clone, Copy)]
pub(crate) struct Span<'a> {
    pub data: &'a [u8],
    pub base: u64,
    pub last: bool,
}

/// Decodes a span of the stream.
///
/// Returns the index where decoding stopped. Below `data.len()` only when
/// `last` is false and an incomplete unit starts there (the caller keeps those
/// bytes for the next chunk). Above `data.len()` when replace mode skipped
/// past the end: the caller skips that many bytes of the next chunk.
pub(crate) fn decode_chunk<S: Sink>(
    scheme: Scheme,
    rules: Rules<'_>,
    span: Span<'_>,
    sink: &mut S,
) -> Result<usize, DecodeError> {
    let step = match scheme.tables() {
        Some(t) => table_chunk(t, rules, span, sink),
        None => utf8_chunk(rules, span, sink),
    };
    step.map_err(|(i, kind)| DecodeError { scheme, position: span.base + i as u64, kind })
}

/// What went wrong and where, before it is turned into a [`DecodeError`].
type Failure = (usize, DecodeErrorKind);

#[inline]
fn block_offset(base: u64, i: usize) -> usize {
    ((base + i as u64) % BLOCK as u64) as usize
}

fn push_special<S: Sink>(
    specials: &SpecialTokens,
    id: u32,
    opts: &DecodeOptions,
    sink: &mut S,
) -> Result<(), DecodeErrorKind> {
    match specials.name(id) {
        Some(_) if opts.skip_special_tokens => Ok(()),
        Some(name) => {
            sink.push_name(name);
            Ok(())
        }
        None => Err(DecodeErrorKind::UnknownSpecial { id }),
    }
}

#[inline]
fn be(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u32::from(b))
}

fn table_chunk<S: Sink>(
    t: &Tables,
    rules: Rules<'_>,
    span: Span<'_>,
    sink: &mut S,
) -> Result<usize, Failure> {
    let (Rules { specials, opts }, Span { data, base, last }) = (rules, span);
    let mut i = 0;
    let mut run = [0u16; fast_decode::RUN_BYTES + BLOCK];
    // Whole blocks at a block boundary go through the fast path; a block it
    // refuses, and everything else, goes unit by unit below.
    while i < data.len() {
        if block_offset(base, i) == 0 {
            let (done, n) = fast_decode::run(t, &data[i..], &mut run);
            sink.push_bmp(&run[..n]);
            i += done;
            if done > 0 {
                continue;
            }
        }
        let lead = data[i];
        // 1-byte codes first: they are most of Japanese text.
        if lead < tables::TABLE_LEAD {
            sink.push(u32::from(t.one_byte[usize::from(lead)]));
            i += 1;
            continue;
        }
        if lead == FILLER {
            i += 1;
            continue;
        }
        let len = tables::code_len(lead);
        let q = block_offset(base, i);
        let outcome = if q + len > BLOCK {
            Err(DecodeErrorKind::CrossesBlock { lead, len: len as u8 })
        } else if i + len > data.len() {
            if !last {
                return Ok(i);
            }
            Err(DecodeErrorKind::Truncated { lead, len: len as u8, have: (data.len() - i) as u8 })
        } else {
            table_multibyte(t, specials, &data[i..i + len], opts, sink)
        };
        match outcome {
            Ok(()) => i += len,
            Err(kind) if opts.errors == ErrorMode::Strict => return Err((i, kind)),
            Err(_) => {
                sink.push(REPLACEMENT);
                i += BLOCK - q; // resume at the next block: other blocks never see this error
            }
        }
    }
    Ok(i)
}

/// Validates and emits one complete code of 2 to 4 bytes.
#[inline(always)]
fn table_multibyte<S: Sink>(
    t: &Tables,
    specials: &SpecialTokens,
    code: &[u8],
    opts: &DecodeOptions,
    sink: &mut S,
) -> Result<(), DecodeErrorKind> {
    match code[0] {
        tables::BMP_LEAD => {
            let cp = be(&code[1..]);
            if !t.needs_bmp_code(cp) {
                return Err(DecodeErrorKind::NonShortest { cp });
            }
            sink.push(cp);
        }
        tables::ASTRAL_LEAD => {
            let cp = be(&code[1..]);
            if cp > 0x10_FFFF {
                return Err(DecodeErrorKind::OutOfRange { value: cp });
            }
            if cp < 0x1_0000 {
                return Err(DecodeErrorKind::NonShortest { cp });
            }
            sink.push(cp);
        }
        SPECIAL_LEAD => push_special(specials, be(&code[1..]), opts, sink)?,
        lead => {
            let index = (u16::from(lead - tables::TABLE_LEAD) << 8) | u16::from(code[1]);
            match t.two_byte.get(usize::from(index)) {
                Some(&cp) => sink.push(u32::from(cp)),
                None => return Err(DecodeErrorKind::TableIndexOutOfRange { index }),
            }
        }
    }
    Ok(())
}

/// Continuation bytes needed after `lead`, and the allowed range of the first
/// one (the ranges that rule out overlong forms and values past U+10FFFF).
/// Surrogates (ED A0..BF) are allowed: the encoder writes lone surrogates.
#[inline]
fn utf8_shape(lead: u8) -> Option<(usize, u8, u8)> {
    match lead {
        0xC2..=0xDF => Some((1, 0x80, 0xBF)),
        0xE0 => Some((2, 0xA0, 0xBF)),
        0xE1..=0xEF => Some((2, 0x80, 0xBF)),
        0xF0 => Some((3, 0x90, 0xBF)),
        0xF1..=0xF3 => Some((3, 0x80, 0xBF)),
        0xF4 => Some((3, 0x80, 0x8F)),
        _ => None,
    }
}

/// Most code points one [`utf8_run`] stages.
const UTF8_RUN: usize = 256;

/// Decodes the run of ASCII, filler and 3-byte sequences other than
/// surrogates (all of kana and kanji) at the start of `data` into `out`,
/// until anything else, the end of `data` or a full `out`: (bytes decoded,
/// code points written). The sink then takes the run in one call instead
/// of one per character.
#[inline(always)]
fn utf8_run(data: &[u8], out: &mut [u16; UTF8_RUN]) -> (usize, usize) {
    let (mut i, mut n) = (0, 0);
    while n < UTF8_RUN {
        let Some(&lead) = data.get(i) else { break };
        if lead < 0x80 {
            out[n] = u16::from(lead);
            n += 1;
            i += 1;
        } else if lead == FILLER {
            i += 1;
        } else if matches!(lead, 0xE1..=0xEC | 0xEE..=0xEF) {
            // E0 needs a range check (overlong forms), and ED may encode a lone
            // surrogate, which this scheme allows but `Sink::push_bmp` does not
            // take (a `String` sink turns it into U+FFFD): both take the general path.
            let Some(&[b1, b2]) = data.get(i + 1..i + 3).and_then(|s| <&[u8; 2]>::try_from(s).ok()) else {
                break;
            };
            if (b1 & 0xC0 != 0x80) | (b2 & 0xC0 != 0x80) {
                break;
            }
            out[n] = u16::from(lead & 0x0F) << 12 | u16::from(b1 & 0x3F) << 6 | u16::from(b2 & 0x3F);
            n += 1;
            i += 3;
        } else {
            break;
        }
    }
    (i, n)
}

fn utf8_chunk<S: Sink>(rules: Rules<'_>, span: Span<'_>, sink: &mut S) -> Result<usize, Failure> {
    let (Rules { specials, opts }, Span { data, base, last }) = (rules, span);
    let mut i = 0;
    let mut run = [0u16; UTF8_RUN];
    while i < data.len() {
        let (done, n) = utf8_run(&data[i..], &mut run);
        if done > 0 {
            sink.push_bmp(&run[..n]);
            i += done;
            continue;
        }
        // Everything the run refused (E0, ED, 2- and 4-byte sequences,
        // special blocks, errors, a sequence cut by the chunk), one unit.
        let lead = data[i];
        // Each arm yields Ok(len) for a good unit or Err((kind, bad_len)),
        // where bad_len is how many bytes the U+FFFD replaces.
        let outcome: Result<usize, (DecodeErrorKind, usize)> = if lead == SPECIAL_LEAD {
            if block_offset(base, i) != 0 {
                Err((DecodeErrorKind::CrossesBlock { lead, len: BLOCK as u8 }, 1))
            } else if i + BLOCK > data.len() {
                if !last {
                    return Ok(i);
                }
                let have = data.len() - i;
                Err((DecodeErrorKind::Truncated { lead, len: BLOCK as u8, have: have as u8 }, have))
            } else {
                push_special(specials, be(&data[i + 1..i + BLOCK]), opts, sink)
                    .map(|()| BLOCK)
                    .map_err(|kind| (kind, BLOCK))
            }
        } else {
            match utf8_shape(lead) {
                None => Err((DecodeErrorKind::InvalidLead { byte: lead }, 1)),
                Some((need, lo, hi)) => {
                    let mut cp = u32::from(lead) & (0x7F >> (need + 1));
                    let mut bad = None;
                    for k in 1..=need {
                        let Some(&byte) = data.get(i + k) else {
                            if !last {
                                return Ok(i);
                            }
                            let len = (need + 1) as u8;
                            bad = Some((DecodeErrorKind::Truncated { lead, len, have: k as u8 }, k));
                            break;
                        };
                        let (l, h) = if k == 1 { (lo, hi) } else { (0x80, 0xBF) };
                        if !(l..=h).contains(&byte) {
                            bad = Some((DecodeErrorKind::InvalidContinuation { lead, byte }, k));
                            break;
                        }
                        cp = (cp << 6) | u32::from(byte & 0x3F);
                    }
                    match bad {
                        Some(b) => Err(b),
                        None => {
                            sink.push(cp);
                            Ok(need + 1)
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(len) => i += len,
            Err((kind, _)) if opts.errors == ErrorMode::Strict => return Err((i, kind)),
            Err((_, bad_len)) => {
                sink.push(REPLACEMENT);
                i += bad_len;
            }
        }
    }
    Ok(i)
}
