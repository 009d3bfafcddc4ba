//! Packing documents into a shard: each document becomes a `<|bos|>` block,
//! its text, filler to the block's end and an `<|eos|>` block (what
//! `encode(text, add_special_tokens=True)` gives). Every document starts a
//! block, so documents are independent.
//!
//! JSONL is read, parsed, encoded and written here end to end
//! ([`pack_jsonl_input`]): the calling thread reads 8 MB chunks, and a
//! worker packs each chunk's whole lines on all cores, in groups of lines
//! joined in input order ([`pack_jsonl`]), and writes them. A line longer
//! than a chunk is streamed instead ([`FieldScanner`] into a
//! [`StreamEncoder`]), so memory stays bounded by a few chunks whatever the
//! line lengths, and every byte is read once. Text files are one document
//! each ([`pack_text_input`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use bygpt_codec_core::parallel::{self, PARALLEL_MIN};
use bygpt_codec_core::special::SpecialTokens;
use bygpt_codec_core::{
    Codec, EncodeOptions, InputErrors, Scheme, StreamEncoder, TextRef, BLOCK, BOS_ID, EOS_ID, FILLER,
};

use crate::io::{run_stream, StreamError, CHUNK};
use crate::json_stream::{FieldScanner, FieldSink, Outcome};
use crate::jsonl::{push_wtf8, string_field, wtf8_code_points, FieldError};
use crate::shard::{ShardError, ShardWriter};

/// A line that gave no document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 0-based index of the line in the block.
    pub line: u64,
    /// Byte offset of the problem in the block.
    pub offset: usize,
    pub message: String,
}

/// Packed documents of a block of lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    /// The encoded documents, in order (join them for the shard's bytes).
    pub pieces: Vec<Vec<u8>>,
    /// Encoded length of each document.
    pub doc_lens: Vec<u64>,
    /// Lines in the block (a last line without a newline counts).
    pub lines: u64,
    /// Lines skipped as invalid (only with `skip_invalid`).
    pub skipped: Vec<BadLine>,
}

/// Packs the documents of `block` (whole JSONL lines): the string member
/// `field` of each line's object. Blank lines are no documents and no error.
/// Without `skip_invalid` the first bad line is the error.
pub fn pack_jsonl(codec: &Codec, block: &[u8], field: &str, skip_invalid: bool) -> Result<Packed, BadLine> {
    // Groups of whole lines (a group starts after a newline).
    let ranges = parallel::pieces(block.len(), PARALLEL_MIN / 4, block.len(), |p| block[p - 1] == b'\n');
    let groups = parallel::map(&ranges, block.len(), PARALLEL_MIN, |_, r| {
        pack_group(codec, &block[r.clone()], r.start, field, skip_invalid)
    });
    let mut packed = Packed::default();
    for g in groups {
        let shift = |mut bad: BadLine| {
            bad.line += packed.lines;
            bad
        };
        if let Some(bad) = g.failed {
            return Err(shift(bad));
        }
        packed.skipped.extend(g.skipped.into_iter().map(shift));
        packed.lines += g.lines;
        packed.pieces.push(g.bytes);
        packed.doc_lens.extend(g.doc_lens);
    }
    Ok(packed)
}

struct Group {
    bytes: Vec<u8>,
    doc_lens: Vec<u64>,
    lines: u64,
    skipped: Vec<BadLine>,
    failed: Option<BadLine>,
}

fn pack_group(codec: &Codec, group: &[u8], base: usize, field: &str, skip_invalid: bool) -> Group {
    let mut g = Group {
        bytes: Vec::with_capacity(group.len()),
        doc_lens: Vec::new(),
        lines: 0,
        skipped: Vec::new(),
        failed: None,
    };
    let opts = EncodeOptions::with_special_tokens();
    let mut scratch = Vec::new(); // unescaped text, reused line after line
    let mut pos = 0;
    while pos < group.len() {
        let end = memchr::memchr(b'\n', &group[pos..]).map_or(group.len(), |k| pos + k);
        let line = &group[pos..end];
        let index = g.lines;
        g.lines += 1;
        let start = pos;
        pos = end + 1;
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        let before = g.bytes.len();
        let outcome = match string_field(line, field, &mut scratch) {
            Ok(t) => codec.encode_into(t.as_text_ref(), &opts, &mut g.bytes).map_err(|e| (0, e.to_string())),
            Err(e) => Err(field_message(&e, field)),
        };
        match outcome {
            Ok(_) => g.doc_lens.push((g.bytes.len() - before) as u64),
            Err((at, message)) => {
                g.bytes.truncate(before);
                let bad = BadLine { line: index, offset: base + start + at, message };
                if !skip_invalid {
                    g.failed = Some(bad);
                    return g;
                }
                g.skipped.push(bad);
            }
        }
    }
    g
}

/// What one line's field error says, and where in the line it is.
fn field_message(e: &FieldError, field: &str) -> (usize, String) {
    match e {
        FieldError::Missing => (0, format!("no {field:?} field")),
        FieldError::NotAString { .. } => (0, format!("field {field:?}: {e}")),
        FieldError::Malformed { column, .. } => (column.saturating_sub(1), e.to_string()),
        FieldError::NotAnObject => (0, e.to_string()),
    }
}

/// Options of one pack.
#[derive(Clone, Debug)]
pub struct PackOptions {
    /// The JSONL member holding the text.
    pub field: String,
    /// Skip bad lines (or files) and count them, instead of failing.
    pub skip_invalid: bool,
    /// Bytes per read; lines longer than this are streamed. Only tests
    /// need anything but [`CHUNK`].
    pub chunk: usize,
}

impl PackOptions {
    pub fn new(field: &str, skip_invalid: bool) -> Self {
        PackOptions { field: field.to_string(), skip_invalid, chunk: CHUNK }
    }
}

/// What a pack saw besides the documents it wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// JSONL lines read (a last line without a newline counts).
    pub lines: u64,
    pub skipped: u64,
    /// The first few skipped, located ("file: line N (byte B): why").
    pub examples: Vec<String>,
}

impl Summary {
    fn skip(&mut self, example: impl FnOnce() -> String) {
        self.skipped += 1;
        if self.examples.len() < 3 {
            self.examples.push(example());
        }
    }
}

/// Why a pack stopped.
#[derive(Debug)]
pub enum PackError {
    /// A bad line or file: the located message, and whether it is the
    /// first line of a file, malformed from its first byte (not JSON at all:
    /// perhaps a text file).
    Bad {
        message: String,
        not_json: bool,
    },
    Shard(ShardError),
    /// Reading the named input failed.
    Read(String, io::Error),
    /// The progress callback asked to stop.
    Stopped,
}

impl std::fmt::Display for PackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackError::Bad { message, .. } => f.write_str(message),
            PackError::Shard(e) => e.fmt(f),
            PackError::Read(name, e) => write!(f, "{name}: {e}"),
            PackError::Stopped => f.write_str("stopped"),
        }
    }
}

impl From<ShardError> for PackError {
    fn from(e: ShardError) -> Self {
        PackError::Shard(e)
    }
}

/// A reader that ends early once `stop` is set (the worker needs no more).
struct StopReader<'a, R> {
    inner: R,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for StopReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// Newlines in the first `end` bytes of a file.
pub fn newlines_before(file: &File, end: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut at, mut count) = (0u64, 0u64);
    while at < end {
        let n = file.read_at(&mut buf[..((end - at) as usize).min(1 << 20)], at)?;
        if n == 0 {
            break;
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        at += n as u64;
    }
    Ok(count)
}

/// The first line start at or after `lo` (the file size if none).
pub fn first_line_start(file: &File, lo: u64) -> io::Result<u64> {
    if lo == 0 {
        return Ok(0);
    }
    let size = file.metadata()?.len();
    let mut buf = vec![0u8; 1 << 16];
    let mut at = lo - 1;
    while at < size {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(k) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + k as u64 + 1);
        }
        at += n as u64;
    }
    Ok(size)
}

/// Encodes one document's text fed in pieces of UTF-8 and lone surrogates
/// (a JSON string streamed by [`FieldScanner`]) into a [`ShardWriter`].
/// Text goes through a [`StreamEncoder`] (on all cores for long runs); a
/// run holding lone surrogates, rare, is encoded by [`Codec::encode`] from
/// the current block offset.
struct TextEncoder {
    codec: Codec,
    enc: StreamEncoder,
    /// Output bytes still to drop: the encoder was started with this many
    /// one-byte characters to put it at the right block offset.
    skip: usize,
    /// Encoded text bytes written so far (their count mod 4 is the block offset).
    written: u64,
    /// Pending text as WTF-8 (lone surrogates as 3-byte sequences).
    pending: Vec<u8>,
    surrogates: bool,
    error: Option<PackError>,
}

/// Pending text is encoded once it reaches this size (small in tests, to exercise it).
const PENDING: usize = if cfg!(test) { 64 } else { 4 << 20 };

impl TextEncoder {
    fn new(codec: &Codec) -> Self {
        TextEncoder {
            codec: codec.clone(),
            enc: StreamEncoder::new(codec.scheme(), InputErrors::Strict, false),
            skip: 0,
            written: 0,
            pending: Vec::new(),
            surrogates: false,
            error: None,
        }
    }

    fn write(&mut self, w: &mut ShardWriter, bytes: &[u8]) {
        let drop = self.skip.min(bytes.len());
        self.skip -= drop;
        self.written += (bytes.len() - drop) as u64;
        if let Err(e) = w.write(&bytes[drop..]) {
            self.error.get_or_insert(PackError::Shard(e));
        }
    }

    fn encode(&mut self, w: &mut ShardWriter, utf8: &[u8], last: bool) {
        let mut outs = Vec::new();
        if let Err(e) = self.enc.encode(utf8, last, &mut outs) {
            self.error.get_or_insert(PackError::Bad { message: e.to_string(), not_json: false });
        }
        for o in outs {
            self.write(w, &o);
        }
    }

    /// Encodes the pending text up to its last whole character (all of it with `all`).
    fn flush(&mut self, w: &mut ShardWriter, all: bool) {
        let cut = if all { self.pending.len() } else { last_char_start(&self.pending) };
        let pending = std::mem::take(&mut self.pending);
        if !self.surrogates {
            self.encode(w, &pending[..cut], false);
        } else {
            // The encoder holds back its last character: end it exactly
            // there, with a sentinel 'a' whose byte (and padding) is cut off.
            let mut outs = Vec::new();
            if let Err(e) = self.enc.encode(b"a", true, &mut outs) {
                self.error.get_or_insert(PackError::Bad { message: e.to_string(), not_json: false });
            }
            let mut tail = outs.concat();
            tail.truncate(tail.iter().rposition(|&b| b != FILLER).expect("the sentinel"));
            self.write(w, &tail);
            // From block offset q: q one-byte characters first, a sentinel
            // 'a' after; the text's bytes are what lies between them.
            let q = (self.written % BLOCK as u64) as usize;
            let mut cps = vec![u32::from(b'a'); q];
            cps.extend(wtf8_code_points(&pending[..cut]));
            cps.push(u32::from(b'a'));
            let (bytes, _) =
                self.codec.encode(TextRef::Ucs4(&cps), &EncodeOptions::default()).expect("no limit");
            let end = bytes.iter().rposition(|&b| b != FILLER).expect("the sentinel");
            self.write(w, &bytes[q..end]);
            // A fresh encoder at the new offset.
            let q = (self.written % BLOCK as u64) as usize;
            self.enc = StreamEncoder::new(self.codec.scheme(), InputErrors::Strict, false);
            self.skip = q; // the bytes of these 'a's are dropped as they come out
            self.encode(w, &b"aaa"[..q], false);
            self.surrogates = false;
        }
        self.pending = pending;
        self.pending.drain(..cut);
    }
}

/// Where the last (possibly unfinished) character of UTF-8 `data` starts.
fn last_char_start(data: &[u8]) -> usize {
    let from = data.len().saturating_sub(4);
    (from..data.len()).rev().find(|&p| data[p] & 0xC0 != 0x80).map_or(data.len(), |p| {
        let need = match data[p] {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        if p + need <= data.len() {
            data.len()
        } else {
            p
        }
    })
}

/// A [`FieldSink`] that encodes the streamed text into the shard.
struct DocSink<'a> {
    w: &'a mut ShardWriter,
    t: &'a mut TextEncoder,
    /// A document is open in the writer.
    open: &'a mut bool,
}

impl FieldSink for DocSink<'_> {
    fn begin(&mut self) {
        if !*self.open {
            self.w.begin_document();
        } else if let Err(e) = self.w.rewind_document() {
            self.t.error.get_or_insert(PackError::Shard(e));
        }
        *self.open = true;
        let error = self.t.error.take();
        *self.t = TextEncoder::new(&self.t.codec);
        self.t.error = error;
        if let Err(e) = self.w.write(&SpecialTokens::block(BOS_ID)) {
            self.t.error.get_or_insert(PackError::Shard(e));
        }
    }

    fn text(&mut self, utf8: &[u8]) {
        self.t.pending.extend_from_slice(utf8);
        if self.t.pending.len() >= PENDING {
            self.t.flush(self.w, false);
        }
    }

    fn lone_surrogate(&mut self, cp: u32) {
        push_wtf8(&mut self.t.pending, cp); // the surrogate's 3-byte form
        self.t.surrogates = true;
    }

    fn end(&mut self) {
        self.t.flush(self.w, true);
        self.t.encode(self.w, &[], true);
        if let Err(e) = self.w.write(&SpecialTokens::block(EOS_ID)) {
            self.t.error.get_or_insert(PackError::Shard(e));
        }
    }
}

/// What the scanner handed over for one chunk of a long line, kept so that
/// it is encoded while the next chunk is scanned (the two overlap: scanning
/// alone would add a third to the time of packing the same text).
#[derive(Default)]
struct Scanned {
    text: Vec<u8>,
    /// The sink's other calls, each at its offset in `text`.
    events: Vec<(usize, Event)>,
}

enum Event {
    Begin,
    LoneSurrogate(u32),
    End,
}

impl FieldSink for Scanned {
    fn begin(&mut self) {
        self.events.push((self.text.len(), Event::Begin));
    }
    fn text(&mut self, utf8: &[u8]) {
        self.text.extend_from_slice(utf8);
    }
    fn lone_surrogate(&mut self, cp: u32) {
        self.events.push((self.text.len(), Event::LoneSurrogate(cp)));
    }
    fn end(&mut self) {
        self.events.push((self.text.len(), Event::End));
    }
}

impl Scanned {
    /// Makes the same calls on `sink`, in order, and empties itself.
    fn replay(&mut self, sink: &mut dyn FieldSink) {
        let mut at = 0;
        for (pos, event) in self.events.drain(..) {
            if pos > at {
                sink.text(&self.text[at..pos]);
                at = pos;
            }
            match event {
                Event::Begin => sink.begin(),
                Event::LoneSurrogate(cp) => sink.lone_surrogate(cp),
                Event::End => sink.end(),
            }
        }
        if at < self.text.len() {
            sink.text(&self.text[at..]);
        }
        self.text.clear();
    }
}

/// A line longer than a chunk, being streamed.
struct LongLine {
    scanner: FieldScanner,
    text: TextEncoder,
    /// The last chunk's scan, not yet encoded; and a spare to scan into.
    scanned: Scanned,
    spare: Scanned,
    open: bool,
    /// Offset of the line's first byte in the input.
    start: u64,
    /// Index of the line among those read.
    index: u64,
}

/// One JSONL input being packed: the state the worker keeps between chunks.
struct Jsonl<'a> {
    codec: &'a Codec,
    opts: &'a PackOptions,
    name: &'a str,
    writer: &'a mut ShardWriter,
    summary: &'a mut Summary,
    /// Input offset of the next chunk's first byte.
    pos: u64,
    /// Lines that start at or after this offset belong to the next slice.
    hi: u64,
    /// An unfinished line (shorter than a chunk), starting at `carry_start`.
    carry: Vec<u8>,
    carry_start: u64,
    long: Option<LongLine>,
    /// Lines seen so far.
    lines: u64,
    /// Number of the first line read, computed when first needed (for a
    /// slice, the newlines before it must be counted).
    first_line: Option<u64>,
    lines_before: &'a (dyn Fn() -> io::Result<u64> + Sync),
    done: bool,
    stop: &'a AtomicBool,
}

impl Jsonl<'_> {
    fn line_number(&mut self, index: u64) -> Result<u64, PackError> {
        if self.first_line.is_none() {
            let before = (self.lines_before)().map_err(|e| PackError::Read(self.name.to_string(), e))?;
            self.first_line = Some(before + 1);
        }
        Ok(self.first_line.unwrap_or(1) + index)
    }

    /// A bad line: the error, or (skipping) counted.
    fn bad(&mut self, index: u64, offset: u64, message: &str) -> Result<(), PackError> {
        let number = self.line_number(index)?;
        let located = format!("{}: line {number} (byte {offset}): {message}", self.name);
        if !self.opts.skip_invalid {
            let not_json = number == 1 && offset == 0 && message.starts_with("malformed JSON");
            return Err(PackError::Bad { message: located, not_json });
        }
        self.summary.skip(|| located);
        Ok(())
    }

    /// Packs a block of whole lines that starts at input offset `at`.
    fn block(&mut self, block: &[u8], at: u64) -> Result<(), PackError> {
        if block.is_empty() {
            return Ok(());
        }
        match pack_jsonl(self.codec, block, &self.opts.field, self.opts.skip_invalid) {
            Ok(packed) => {
                for piece in &packed.pieces {
                    self.writer.write(piece)?;
                }
                self.writer.add_lengths(packed.doc_lens.iter().copied())?;
                for bad in &packed.skipped {
                    self.bad(self.lines + bad.line, at + bad.offset as u64, &bad.message)?;
                }
                self.lines += packed.lines;
                Ok(())
            }
            Err(bad) => self.bad(self.lines + bad.line, at + bad.offset as u64, &bad.message),
        }
    }

    /// Feeds part of a long line; with `end` the line is complete.
    fn long_feed(&mut self, data: &[u8], end: bool) -> Result<(), PackError> {
        let mut long = self.long.take().expect("a long line");
        {
            // Scan this chunk while the previous one's text is encoded.
            let LongLine { scanner, text, scanned, spare, open, .. } = &mut long;
            let writer = &mut *self.writer;
            rayon::join(
                || scanner.feed(data, &mut *spare),
                || scanned.replay(&mut DocSink { w: writer, t: text, open }),
            );
            std::mem::swap(scanned, spare);
            if end {
                scanned.replay(&mut DocSink { w: writer, t: text, open });
            }
        }
        if let Some(e) = long.text.error.take() {
            return Err(e);
        }
        if !end {
            self.long = Some(long);
            return Ok(());
        }
        self.lines += 1;
        let outcome = long.scanner.finish();
        let problem = match outcome {
            Ok(Outcome::Text) => None,
            Ok(o) => Some(field_message(&o.error().expect("not text"), &self.opts.field)),
            Err(m) => {
                Some((m.offset as usize, format!("malformed JSON at column {}: {}", m.offset + 1, m.message)))
            }
        };
        match problem {
            None => match self.writer.end_document() {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.writer.abandon_document()?;
                    self.bad(long.index, long.start, &e.to_string())
                }
            },
            Some((at, message)) => {
                if long.open {
                    self.writer.abandon_document()?;
                }
                self.bad(long.index, long.start + at as u64, &message)
            }
        }
    }

    fn start_long(&mut self, start: u64) {
        self.long = Some(LongLine {
            scanner: FieldScanner::new(&self.opts.field),
            text: TextEncoder::new(self.codec),
            scanned: Scanned::default(),
            spare: Scanned::default(),
            open: false,
            start,
            index: self.lines,
        });
    }

    fn finish_done(&mut self) {
        self.done = true;
        self.stop.store(true, Ordering::Relaxed);
    }

    /// One chunk of input (the worker's step).
    fn step(&mut self, chunk: &[u8], last: bool) -> Result<(), PackError> {
        if self.done {
            return Ok(());
        }
        let mut data = chunk;
        let mut at = self.pos;
        self.pos += chunk.len() as u64;
        if self.long.is_some() {
            match memchr::memchr(b'\n', data) {
                None => return self.long_feed(data, last),
                Some(k) => {
                    self.long_feed(&data[..k], true)?;
                    data = &data[k + 1..];
                    at += k as u64 + 1;
                }
            }
        }
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(k) => {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(&data[..=k]);
                    self.block(&line, self.carry_start)?;
                    data = &data[k + 1..];
                    at += k as u64 + 1;
                }
                None if !last => {
                    // Longer than a chunk: stream it.
                    let carry = std::mem::take(&mut self.carry);
                    self.start_long(self.carry_start);
                    self.long_feed(&carry, false)?;
                    return self.long_feed(data, false);
                }
                None => {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(data);
                    return self.block(&line, self.carry_start);
                }
            }
        }
        if at >= self.hi {
            self.finish_done();
            return Ok(());
        }
        // Whole lines, up to the slice's end.
        let mut end = if last { data.len() } else { memchr::memrchr(b'\n', data).map_or(0, |k| k + 1) };
        if at + end as u64 > self.hi {
            let from = (self.hi - 1 - at) as usize;
            end = memchr::memchr(b'\n', &data[from..]).map_or(data.len(), |k| from + k + 1);
            self.block(&data[..end], at)?;
            self.finish_done();
            return Ok(());
        }
        self.block(&data[..end], at)?;
        if at + end as u64 >= self.hi {
            self.finish_done(); // the next line starts the next slice
        } else if !last && end < data.len() {
            self.carry.extend_from_slice(&data[end..]);
            self.carry_start = at + end as u64;
        }
        Ok(())
    }
}

fn stream_error(e: StreamError<PackError>, name: &str) -> PackError {
    match e {
        StreamError::Data(e) => e,
        StreamError::Read(e) => PackError::Read(name.to_string(), e),
        StreamError::Write(e) => PackError::Read(name.to_string(), e),
        StreamError::Stopped => PackError::Stopped,
    }
}

/// Where a JSONL input is read from.
pub struct JsonlInput<'a, R> {
    pub reader: R,
    pub name: &'a str,
    /// With a slice: the file, and the byte range `[lo, hi)` in which the
    /// lines to pack start. Without: the whole stream.
    pub slice: Option<(&'a File, u64, u64)>,
}

/// Packs the documents of one JSONL input into `writer`: the string member
/// `opts.field` of each line's object. Blank lines are no documents and no
/// error. `check` gets the bytes read so far; false stops the pack.
pub fn pack_jsonl_input<R: Read + Send>(
    writer: &mut ShardWriter,
    codec: &Codec,
    opts: &PackOptions,
    input: JsonlInput<'_, R>,
    summary: &mut Summary,
    check: impl FnMut(u64) -> bool,
) -> Result<(), PackError> {
    let name = input.name;
    let (start, hi) = match input.slice {
        Some((file, lo, hi)) => {
            let start = first_line_start(file, lo).map_err(|e| PackError::Read(name.to_string(), e))?;
            (&*file).seek(SeekFrom::Start(start)).map_err(|e| PackError::Read(name.to_string(), e))?;
            (start, hi)
        }
        None => (0, u64::MAX),
    };
    let slice_file = input.slice.map(|(f, _, _)| f);
    let lines_before = move || match slice_file {
        Some(f) if start > 0 => newlines_before(f, start),
        _ => Ok(0),
    };
    let stop = AtomicBool::new(false);
    let mut state = Jsonl {
        codec,
        opts,
        name,
        writer,
        summary,
        pos: start,
        hi,
        carry: Vec::new(),
        carry_start: 0,
        long: None,
        lines: 0,
        first_line: None,
        lines_before: &lines_before,
        done: false,
        stop: &stop,
    };
    let reader = StopReader { inner: input.reader, stop: &stop };
    let result = run_stream(reader, io::sink(), opts.chunk, |d, last, _| state.step(d, last), check);
    let lines = state.lines;
    result.map_err(|e| stream_error(e, name))?;
    summary.lines += lines;
    Ok(())
}

/// Packs one text input as one document.
pub fn pack_text_input<R: Read + Send>(
    writer: &mut ShardWriter,
    scheme: Scheme,
    opts: &PackOptions,
    reader: R,
    name: &str,
    summary: &mut Summary,
    check: impl FnMut(u64) -> bool,
) -> Result<(), PackError> {
    writer.begin_document();
    let mut enc = StreamEncoder::new(scheme, InputErrors::Strict, true);
    let w = &mut *writer;
    let result = run_stream(
        reader,
        io::sink(),
        opts.chunk,
        |d, last, _| {
            let mut outs = Vec::new();
            enc.encode(d, last, &mut outs)
                .map_err(|e| PackError::Bad { message: format!("{name}: {e}"), not_json: false })?;
            outs.iter().try_for_each(|o| w.write(o)).map_err(PackError::Shard)
        },
        check,
    );
    let problem = match result.map_err(|e| stream_error(e, name)) {
        Ok(_) => {
            writer.end_document().err().map(|e| PackError::Bad { message: e.to_string(), not_json: false })
        }
        Err(e) => Some(e),
    };
    match problem {
        None => Ok(()),
        Some(PackError::Bad { message, .. }) if opts.skip_invalid => {
            writer.abandon_document()?;
            summary.skip(|| message);
            Ok(())
        }
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::shard::tests::{read_all, temp};
    use proptest::prelude::*;

    /// A JSON string literal of code points, escaping some of them.
    fn json_string(cps: &[u32], escape_every: usize) -> String {
        let mut s = String::from("\"");
        for (i, &cp) in cps.iter().enumerate() {
            match char::from_u32(cp) {
                Some('"') => s.push_str("\\\""),
                Some('\\') => s.push_str("\\\\"),
                Some('\n') => s.push_str("\\n"),
                Some(c) if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                Some(c) if escape_every == 0 || i % escape_every != 0 => s.push(c),
                Some(c) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        s.push_str(&format!("\\u{u:04x}"));
                    }
                }
                None => s.push_str(&format!("\\u{cp:04x}")), // a lone surrogate
            }
        }
        s.push('"');
        s
    }

    fn packed(
        codec: &Codec,
        jsonl: &[u8],
        opts: &PackOptions,
        slice: Option<(u64, u64)>,
    ) -> Result<(Vec<u8>, crate::shard::Sidecar, Summary), PackError> {
        let input = temp();
        (&input).write_all(jsonl).unwrap();
        (&input).seek(SeekFrom::Start(0)).unwrap();
        let (bin, idx) = (temp(), temp());
        let mut w = ShardWriter::new(
            codec.scheme(),
            bin.try_clone().unwrap(),
            "t.bin",
            idx.try_clone().unwrap(),
            "t.idx",
        )
        .unwrap();
        let mut summary = Summary::default();
        let source =
            JsonlInput { reader: &input, name: "in.jsonl", slice: slice.map(|(lo, hi)| (&input, lo, hi)) };
        pack_jsonl_input(&mut w, codec, opts, source, &mut summary, |_| true)?;
        let car = w.finish()?;
        Ok((read_all(&bin), car, summary))
    }

    fn expected(codec: &Codec, docs: &[Vec<u32>]) -> Vec<u8> {
        let opts = EncodeOptions::with_special_tokens();
        docs.iter().flat_map(|d| codec.encode(TextRef::Ucs4(d), &opts).unwrap().0).collect()
    }

    fn doc_strategy() -> impl Strategy<Value = Vec<u32>> {
        let unit = prop_oneof![
            4 => prop::collection::vec(prop_oneof![0x61u32..0x7B, 0x3041u32..0x3097, 0x4E00u32..0x4F00], 0..40),
            1 => prop::collection::vec(prop_oneof![Just(0x0Au32), Just(0x22), Just(0x5C), Just(0x1F600), Just(0xD800), Just(0xDC80), Just(0xFF61), Just(0x01)], 1..4),
        ];
        // A high surrogate escaped right before a low one would be read as a pair.
        prop::collection::vec(unit, 0..8).prop_map(|v| {
            let mut d: Vec<u32> = Vec::new();
            for cp in v.concat() {
                if (0xDC00..0xE000).contains(&cp) && d.last().is_some_and(|p| (0xD800..0xDC00).contains(p)) {
                    d.push(0x78);
                }
                d.push(cp);
            }
            d
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the chunk size (lines shorter and longer than it) and
        /// the slices, the shard holds exactly each line's encoded text.
        #[test]
        fn packs_lines_of_any_length_in_any_chunks(
            docs in prop::collection::vec(doc_strategy(), 0..12),
            escape_every in 0usize..4,
            chunk in 64usize..600,
            slices in 1u64..5,
            scheme in prop_oneof![Just(Scheme::Jpblock), Just(Scheme::Utf8), Just(Scheme::Jpblock2)],
        ) {
            let codec = Codec::new(scheme);
            let mut jsonl = String::new();
            for (i, d) in docs.iter().enumerate() {
                let text = json_string(d, escape_every);
                match i % 4 {
                    0 => jsonl.push_str(&format!("{{\"text\": {text}}}\n")),
                    1 => jsonl.push_str(&format!("{{\"text\": \"dropped\", \"id\": {i}, \"meta\": {{\"text\": [1, 2]}}, \"text\": {text}}}\n  \n")),
                    2 => jsonl.push_str(&format!("{{\"text\": 7, \"text\": {text}, \"x\": {}}}\n", json_string(d, 1))),
                    _ => jsonl.push_str(&format!("{{\"te\\u0078t\":{text}}}")), // no newline at the end of the input
                }
                if i % 4 == 3 && i + 1 < docs.len() { jsonl.push('\n'); }
            }
            let want = expected(&codec, &docs);
            let opts = PackOptions { chunk, ..PackOptions::new("text", false) };
            let (bin, car, summary) = packed(&codec, jsonl.as_bytes(), &opts, None).unwrap();
            prop_assert_eq!(&bin, &want);
            prop_assert_eq!(car.documents, docs.len() as u64);
            let size = jsonl.len() as u64;
            let mut joined = Vec::new();
            let mut lines = 0;
            for k in 0..slices {
                let (lo, hi) = (size * k / slices, size * (k + 1) / slices);
                let (bin, _, s) = packed(&codec, jsonl.as_bytes(), &opts, Some((lo, hi))).unwrap();
                joined.extend(bin);
                lines += s.lines;
            }
            prop_assert_eq!(joined, want);
            prop_assert_eq!(lines, summary.lines);
        }
    }

    #[test]
    fn long_bad_lines_are_located_or_skipped() {
        let codec = Codec::new(Scheme::Jpblock);
        let long = "あ".repeat(300);
        let jsonl = format!(
            "{{\"text\": \"a\"}}\n{{\"text\": \"{long}\", \"x\": tru}}\n{{\"text\": \"{long}\"}}\n{{\"x\": \"{long}\"}}\n{{\"text\": \"b\\ud800\"}}\n"
        );
        let opts = PackOptions { chunk: 128, ..PackOptions::new("text", false) };
        let err = packed(&codec, jsonl.as_bytes(), &opts, None).unwrap_err().to_string();
        let at = jsonl.find("tru}").unwrap();
        assert_eq!(
            err,
            format!(
                "in.jsonl: line 2 (byte {}): malformed JSON at column {}: invalid literal",
                at + 3,
                at + 3 - 14 + 1
            )
        );
        let opts = PackOptions { chunk: 128, ..PackOptions::new("text", true) };
        let (bin, car, summary) = packed(&codec, jsonl.as_bytes(), &opts, None).unwrap();
        assert_eq!(
            bin,
            expected(&codec, &[vec![0x61], long.chars().map(u32::from).collect(), vec![0x62, 0xD800]])
        );
        assert_eq!((car.documents, summary.lines, summary.skipped), (3, 5, 2));
        assert!(summary.examples[1].starts_with("in.jsonl: line 4 (byte"), "{:?}", summary.examples);
        assert!(summary.examples[1].ends_with("no \"text\" field"), "{:?}", summary.examples);
        // A slice starting later numbers its lines from the file's start.
        let opts = PackOptions { chunk: 128, ..PackOptions::new("text", false) };
        let err =
            packed(&codec, jsonl.as_bytes(), &opts, Some((20, jsonl.len() as u64))).unwrap_err().to_string();
        assert!(err.starts_with("in.jsonl: line 4 "), "{err}"); // the slice starts at line 3
                                                                // Not JSON from the first byte: flagged for a hint.
        let err = packed(&codec, "吾輩は猫である\n".as_bytes(), &opts, None).unwrap_err();
        assert!(matches!(err, PackError::Bad { not_json: true, .. }), "{err:?}");
    }

    #[test]
    fn packs_documents_in_order() {
        let codec = Codec::new(Scheme::Jpblock);
        let docs: Vec<String> =
            (0..20_000).map(|i| format!("文書{i}です。{}", "あ".repeat(i % 13))).collect();
        let mut jsonl = String::new();
        for (i, d) in docs.iter().enumerate() {
            jsonl.push_str(&format!("{{\"id\": {i}, \"text\": \"{d}\"}}\n"));
            if i % 1000 == 0 {
                jsonl.push_str("  \n");
            }
        }
        let packed = pack_jsonl(&codec, jsonl.as_bytes(), "text", false).unwrap();
        let opts = EncodeOptions::with_special_tokens();
        let want: Vec<Vec<u8>> =
            docs.iter().map(|d| codec.encode(TextRef::Str(d), &opts).unwrap().0).collect();
        assert_eq!(packed.pieces.concat(), want.concat());
        assert_eq!(packed.doc_lens, want.iter().map(|w| w.len() as u64).collect::<Vec<_>>());
        assert_eq!(packed.lines, 20_020);
    }

    #[test]
    fn bad_lines_fail_or_are_skipped() {
        let codec = Codec::new(Scheme::Utf8);
        let block = b"{\"text\": \"a\"}\n{\"text\": 1}\nnot json\n{\"body\": \"x\"}\n{\"text\": \"\xff\"}\n{\"text\": \"b\"}";
        let err = pack_jsonl(&codec, block, "text", false).unwrap_err();
        assert_eq!((err.line, err.offset), (1, 14));
        assert!(err.message.contains("not a string"), "{}", err.message);
        let packed = pack_jsonl(&codec, block, "text", true).unwrap();
        assert_eq!(packed.doc_lens, [12, 12]);
        let lines: Vec<u64> = packed.skipped.iter().map(|b| b.line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        assert!(packed.skipped[2].message.contains("no \"text\" field"));
        assert_eq!(packed.lines, 6);
        assert_eq!(
            pack_jsonl(&codec, b"", "text", false).unwrap(),
            Packed { pieces: vec![vec![]], ..Default::default() }
        );
    }
}
