//! Training shards in Megatron-Core's indexed-dataset format, plus a sidecar.
//!
//! A shard is three files:
//!
//! * `PREFIX.bin`: the documents' bytes back to back (dtype uint8).
//! * `PREFIX.idx`: Megatron-Core's `MMIDIDX` index, exactly as
//!   `megatron.core.datasets.indexed_dataset.IndexedDataset` reads it (all
//!   little-endian):
//!
//!   | at | what |
//!   |---|---|
//!   | 0 | magic `MMIDIDX\0\0` (9 bytes) |
//!   | 9 | version, uint64 = 1 |
//!   | 17 | dtype code, uint8 = 1 (uint8) |
//!   | 18 | sequence count `S`, uint64 |
//!   | 26 | document-index count `D + 1`, uint64 |
//!   | 34 | `S` sequence lengths, int32 (in items = bytes) |
//!   | 34 + 4S | `S` sequence pointers, int64 (byte offsets into `.bin`) |
//!   | 34 + 12S | `D + 1` document indices, int64: document `d` is sequences `[idx[d], idx[d+1])` |
//!
//!   `bygpt-codec` writes one sequence per document (document indices `0..=S`).
//! * `PREFIX.json`: the sidecar ([`Sidecar`]): scheme, format version,
//!   counts, sizes and the SHA-256 of the `.idx`, which ties it to this exact
//!   pair. It is renamed into place last, so it is the commit marker.
//!
//! [`check_index`] validates a whole index against its `.bin` and sidecar
//! before anything trusts it; [`ShardWriter`] writes a pair with bounded
//! memory (sequence lengths go straight to the `.idx`, the pointers are
//! computed from them when the writer finishes).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use bygpt_codec_core::{Scheme, BLOCK};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The index's first 9 bytes.
pub const MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
/// Megatron-Core index version.
pub const INDEX_VERSION: u64 = 1;
/// Megatron-Core's dtype code for uint8.
pub const DTYPE_UINT8: u8 = 1;
/// Bytes before the sequence lengths.
pub const HEADER_LEN: u64 = 34;
/// The magic of the index format bygpt-codec wrote before (no longer read).
pub const OLD_MAGIC: &[u8; 8] = b"BYGPTIDX";
/// `format` of every sidecar.
pub const SIDECAR_FORMAT: &str = "bygpt-codec shard";
/// Version of the sidecar and of the shard layout rules it promises.
pub const FORMAT_VERSION: u64 = 1;
/// The longest sequence Megatron's int32 lengths can hold, in whole blocks.
pub const MAX_SEQUENCE: u64 = (i32::MAX as u64) & !(BLOCK as u64 - 1);

/// Bytes per read when an index is checked or copied (a multiple of 8).
const READ: usize = 1 << 20;

/// The sidecar `PREFIX.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub format: String,
    pub format_version: u64,
    pub scheme: String,
    pub scheme_id: u32,
    pub documents: u64,
    pub sequences: u64,
    pub bin_bytes: u64,
    pub idx_bytes: u64,
    /// SHA-256 of the whole `.idx`, lowercase hex.
    pub idx_sha256: String,
}

impl Sidecar {
    /// The sidecar of a checked index.
    pub fn of(index: &Index, scheme: Scheme) -> Sidecar {
        Sidecar {
            format: SIDECAR_FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            scheme: scheme.name().to_string(),
            scheme_id: scheme.id(),
            documents: index.documents,
            sequences: index.sequences,
            bin_bytes: index.bin_bytes,
            idx_bytes: index.idx_bytes,
            idx_sha256: index.idx_sha256.clone(),
        }
    }

    /// Pretty JSON with a final newline (what is written to disk).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a sidecar always serialises");
        s.push('\n');
        s
    }

    /// Parses a sidecar and checks its own fields (format, version, scheme).
    pub fn parse(text: &[u8]) -> Result<Sidecar, String> {
        let car: Sidecar = serde_json::from_slice(text).map_err(|e| format!("not a shard sidecar: {e}"))?;
        if car.format != SIDECAR_FORMAT {
            return Err(format!("format is {:?}, not {SIDECAR_FORMAT:?}", car.format));
        }
        if car.format_version != FORMAT_VERSION {
            return Err(format!(
                "format_version {}; this bygpt-codec reads version {FORMAT_VERSION}",
                car.format_version
            ));
        }
        match Scheme::from_name(&car.scheme) {
            None => Err(format!("unknown scheme {:?}", car.scheme)),
            Some(s) if s.id() != car.scheme_id => Err(format!(
                "scheme {:?} has id {}, but the sidecar says {}",
                car.scheme,
                s.id(),
                car.scheme_id
            )),
            Some(_) => Ok(car),
        }
    }

    pub fn scheme(&self) -> Scheme {
        Scheme::from_name(&self.scheme).expect("checked by parse")
    }
}

/// What a checked index holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub sequences: u64,
    pub documents: u64,
    /// Whether every document is one sequence (document indices `0..=S`).
    pub one_sequence_per_document: bool,
    pub bin_bytes: u64,
    pub idx_bytes: u64,
    pub idx_sha256: String,
}

impl Index {
    /// Byte offset of the sequence lengths in the `.idx`.
    pub fn lengths_at(&self) -> u64 {
        HEADER_LEN
    }
    /// Byte offset of the sequence pointers.
    pub fn pointers_at(&self) -> u64 {
        HEADER_LEN + 4 * self.sequences
    }
    /// Byte offset of the document indices.
    pub fn document_indices_at(&self) -> u64 {
        HEADER_LEN + 12 * self.sequences
    }
}

/// Why a shard was refused: the file and what is wrong with it.
#[derive(Debug)]
pub enum ShardError {
    /// The file's contents are not a valid shard (names the first bad entry).
    Format {
        file: String,
        message: String,
    },
    Io {
        file: String,
        error: io::Error,
    },
}

impl ShardError {
    pub fn format(file: &str, message: impl Into<String>) -> ShardError {
        ShardError::Format { file: file.to_string(), message: message.into() }
    }
    pub fn io(file: &str, error: io::Error) -> ShardError {
        ShardError::Io { file: file.to_string(), error }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Format { file, message } => write!(f, "{file}: {message}"),
            ShardError::Io { file, error } => write!(f, "{file}: {error}"),
        }
    }
}

impl std::error::Error for ShardError {}

fn dtype_name(code: u8) -> &'static str {
    match code {
        1 => "uint8",
        2 => "int8",
        3 => "int16",
        4 => "int32",
        5 => "int64",
        6 => "float64",
        7 => "float32",
        8 => "uint16",
        _ => "unknown",
    }
}

/// The index's size for `sequences` and `doc_entries` document indices, if
/// it fits in a u64.
fn index_len(sequences: u64, doc_entries: u64) -> Option<u64> {
    sequences.checked_mul(12)?.checked_add(doc_entries.checked_mul(8)?)?.checked_add(HEADER_LEN)
}

/// Reads `buf.len()` bytes at `at`, or fails naming `name`.
fn read_exact_at(file: &File, buf: &mut [u8], at: u64, name: &str) -> Result<(), ShardError> {
    file.read_exact_at(buf, at).map_err(|e| ShardError::io(name, e))
}

/// Calls `each(k, chunk)` over `count` items of `size` bytes from `at`, in
/// chunks of whole items, hashing every byte read into `hash`.
fn for_each_chunk(
    file: &File,
    name: &str,
    at: u64,
    count: u64,
    size: usize,
    hash: &mut Sha256,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), ShardError>,
) -> Result<(), ShardError> {
    let mut buf = vec![0u8; READ];
    let mut k = 0u64;
    while k < count {
        let n = ((count - k) as usize).min(READ / size);
        let chunk = &mut buf[..n * size];
        read_exact_at(file, chunk, at + k * size as u64, name)?;
        hash.update(&*chunk);
        each(k, chunk)?;
        k += n as u64;
    }
    Ok(())
}

/// Checks a whole index against its `.bin` (of `bin_bytes` bytes) and, when
/// there is one, its sidecar: the header (magic, version, dtype uint8), the
/// file size the counts imply, every sequence length (non-negative, whole
/// 4-byte blocks), every pointer (the sum of the lengths before it, so the
/// first is 0 and none goes backwards), the end of the last sequence (the
/// size of `.bin`), the document indices (from 0, non-decreasing, ending at
/// the sequence count) and the sidecar's counts, sizes and checksum. Reads
/// the index once, in chunks (bounded memory). The first bad entry is the error.
pub fn check_index(
    idx: &File,
    idx_name: &str,
    bin_bytes: u64,
    bin_name: &str,
    sidecar: Option<(&Sidecar, &str)>,
) -> Result<Index, ShardError> {
    let bad = |message: String| ShardError::format(idx_name, message);
    let idx_bytes = idx.metadata().map_err(|e| ShardError::io(idx_name, e))?.len();
    let mut head = [0u8; HEADER_LEN as usize];
    if idx_bytes < HEADER_LEN {
        let mut start = vec![0u8; idx_bytes as usize];
        read_exact_at(idx, &mut start, 0, idx_name)?;
        if start.starts_with(OLD_MAGIC) {
            return Err(old_format(idx_name));
        }
        return Err(bad(format!(
            "{idx_bytes} bytes, shorter than the {HEADER_LEN}-byte header (truncated?)"
        )));
    }
    read_exact_at(idx, &mut head, 0, idx_name)?;
    if head.starts_with(OLD_MAGIC) {
        return Err(old_format(idx_name));
    }
    if &head[..9] != MAGIC {
        return Err(bad("not a Megatron indexed-dataset index (bad magic)".into()));
    }
    let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap());
    let version = u64_at(9);
    if version != INDEX_VERSION {
        return Err(bad(format!("index version {version}; this reads version {INDEX_VERSION}")));
    }
    let dtype = head[17];
    if dtype != DTYPE_UINT8 {
        return Err(bad(format!(
            "dtype code {dtype} ({}), but byte shards hold uint8 (code {DTYPE_UINT8})",
            dtype_name(dtype)
        )));
    }
    let sequences = u64_at(18);
    let doc_entries = u64_at(26);
    match index_len(sequences, doc_entries) {
        Some(want) if want == idx_bytes => {}
        Some(want) if want > idx_bytes => {
            return Err(bad(format!(
                "{idx_bytes} bytes, but {sequences} sequences and {doc_entries} document indices need {want} (truncated?)"
            )))
        }
        Some(want) => {
            return Err(bad(format!(
                "{} bytes after the document indices ({sequences} sequences and {doc_entries} document \
                 indices need {want}): a multimodal index, or a damaged one",
                idx_bytes - want
            )))
        }
        None => return Err(bad(format!("impossible counts: {sequences} sequences, {doc_entries} document indices"))),
    }
    if doc_entries == 0 {
        return Err(bad("no document indices (there must be at least the leading 0)".into()));
    }
    let mut hash = Sha256::new();
    hash.update(head);

    // Lengths: the running sum gives each pointer.
    let mut total = 0u64;
    for_each_chunk(idx, idx_name, HEADER_LEN, sequences, 4, &mut hash, |k, chunk| {
        for (j, v) in chunk.chunks_exact(4).enumerate() {
            let len = i32::from_le_bytes(v.try_into().unwrap());
            let seq = k + j as u64;
            if len < 0 {
                return Err(bad(format!("sequence {seq}: negative length {len}")));
            }
            if len as u64 % BLOCK as u64 != 0 {
                return Err(bad(format!(
                    "sequence {seq}: length {len} is not a whole number of {BLOCK}-byte blocks"
                )));
            }
            total += len as u64;
        }
        Ok(())
    })?;
    // Pointers: read the lengths again alongside (both from the page cache).
    let mut at_len = HEADER_LEN;
    let mut lens = vec![0u8; READ / 2];
    let mut end = 0u64;
    for_each_chunk(idx, idx_name, HEADER_LEN + 4 * sequences, sequences, 8, &mut hash, |k, chunk| {
        let n = chunk.len() / 8;
        let lens = &mut lens[..4 * n];
        read_exact_at(idx, lens, at_len, idx_name)?;
        at_len += lens.len() as u64;
        for (j, (p, l)) in chunk.chunks_exact(8).zip(lens.chunks_exact(4)).enumerate() {
            let ptr = i64::from_le_bytes(p.try_into().unwrap());
            let seq = k + j as u64;
            if ptr as u64 != end || ptr < 0 {
                let why = if seq == 0 {
                    "the first sequence must start at 0".to_string()
                } else if ptr < 0 || (ptr as u64) < end {
                    format!("the sequences before it end at {end} (it goes backwards)")
                } else if ptr as u64 % BLOCK as u64 != 0 {
                    format!("not a multiple of {BLOCK} (the sequences before it end at {end})")
                } else {
                    format!("the sequences before it end at {end} (a gap)")
                };
                return Err(bad(format!("sequence {seq}: pointer {ptr}, but {why}")));
            }
            end += i32::from_le_bytes(l.try_into().unwrap()) as u64;
        }
        Ok(())
    })?;
    debug_assert_eq!(end, total);
    if total != bin_bytes {
        return Err(ShardError::format(
            bin_name,
            format!(
                "{bin_bytes} bytes, but the index's sequences end at byte {total} \
                 (a truncated .bin, or a .bin and .idx that do not belong together)"
            ),
        ));
    }
    // Document indices.
    let mut prev = 0u64;
    let mut identity = doc_entries == sequences + 1;
    for_each_chunk(idx, idx_name, HEADER_LEN + 12 * sequences, doc_entries, 8, &mut hash, |k, chunk| {
        for (j, v) in chunk.chunks_exact(8).enumerate() {
            let d = k + j as u64;
            let v = i64::from_le_bytes(v.try_into().unwrap());
            if d == 0 && v != 0 {
                return Err(bad(format!("document index 0 is {v}, not 0")));
            }
            if v < 0 || (v as u64) < prev || v as u64 > sequences {
                return Err(bad(format!(
                    "document index {d} is {v}: not between the previous one ({prev}) and the sequence count ({sequences})"
                )));
            }
            identity &= v as u64 == d;
            prev = v as u64;
        }
        Ok(())
    })?;
    if prev != sequences {
        return Err(bad(format!(
            "the last document index is {prev}, but there are {sequences} sequences (documents must cover them all)"
        )));
    }
    let index = Index {
        sequences,
        documents: doc_entries - 1,
        one_sequence_per_document: identity,
        bin_bytes,
        idx_bytes,
        idx_sha256: hex(&hash.finalize()),
    };
    if let Some((car, car_name)) = sidecar {
        check_sidecar(&index, car, car_name)?;
    }
    Ok(index)
}

fn old_format(name: &str) -> ShardError {
    ShardError::format(
        name,
        "an index of the old bygpt-codec shard format (BYGPTIDX), which is no longer read: \
         pack the documents again with this version (shards are now Megatron indexed datasets)",
    )
}

/// Checks that a sidecar describes exactly this index.
pub fn check_sidecar(index: &Index, car: &Sidecar, car_name: &str) -> Result<(), ShardError> {
    let fields = [
        ("documents", car.documents, index.documents),
        ("sequences", car.sequences, index.sequences),
        ("bin_bytes", car.bin_bytes, index.bin_bytes),
        ("idx_bytes", car.idx_bytes, index.idx_bytes),
    ];
    for (field, said, found) in fields {
        if said != found {
            return Err(ShardError::format(
                car_name,
                format!(
                    "{field} is {said}, but the shard has {found} \
                     (the sidecar belongs to another .bin/.idx pair, or the pair was changed)"
                ),
            ));
        }
    }
    if car.idx_sha256 != index.idx_sha256 {
        return Err(ShardError::format(
            car_name,
            "idx_sha256 does not match the .idx (the sidecar belongs to another pair, or the .idx was changed)",
        ));
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the document indices of a written shard come from.
#[derive(Debug)]
enum DocPart {
    /// `n` documents of one sequence each.
    Ones(u64),
    /// `count` document indices (after the leading 0) copied from another
    /// index at byte offset `at`, each plus `shift`.
    Copy { file: File, name: String, at: u64, count: u64, shift: u64 },
}

/// Writes a shard pair with bounded memory: `.bin` bytes go straight to the
/// file, sequence lengths straight to the `.idx` after a placeholder header;
/// [`finish`](Self::finish) appends the pointers (read back from the
/// lengths) and the document indices, writes the header, and returns the
/// sidecar. Both files must be fresh, empty regular files open for reading
/// and writing (the temporary files of the caller's commit protocol).
#[derive(Debug)]
pub struct ShardWriter {
    scheme: Scheme,
    bin: File,
    bin_name: String,
    /// Bytes not yet written to `bin`.
    bin_buf: Vec<u8>,
    /// Size of `.bin` so far, buffered bytes included.
    bin_len: u64,
    idx: File,
    idx_name: String,
    idx_buf: Vec<u8>,
    sequences: u64,
    documents: u64,
    docs: Vec<DocPart>,
    /// `.bin` offset where the open document started.
    doc_start: Option<u64>,
    max_sequence: u64,
}

const BUF: usize = 1 << 20;

impl ShardWriter {
    pub fn new(
        scheme: Scheme,
        bin: File,
        bin_name: &str,
        idx: File,
        idx_name: &str,
    ) -> Result<Self, ShardError> {
        for (f, name) in [(&bin, bin_name), (&idx, idx_name)] {
            let meta = f.metadata().map_err(|e| ShardError::io(name, e))?;
            if !meta.is_file() {
                return Err(ShardError::format(name, "shard outputs must be regular files"));
            }
            f.set_len(0).map_err(|e| ShardError::io(name, e))?;
        }
        let mut w = ShardWriter {
            scheme,
            bin,
            bin_name: bin_name.to_string(),
            bin_buf: Vec::with_capacity(BUF),
            bin_len: 0,
            idx,
            idx_name: idx_name.to_string(),
            idx_buf: Vec::with_capacity(BUF),
            sequences: 0,
            documents: 0,
            docs: Vec::new(),
            doc_start: None,
            max_sequence: MAX_SEQUENCE,
        };
        w.idx_buf.extend_from_slice(&[0u8; HEADER_LEN as usize]);
        (&w.bin).seek(SeekFrom::Start(0)).map_err(|e| ShardError::io(bin_name, e))?;
        Ok(w)
    }

    /// Lowers the longest document accepted (tests).
    #[doc(hidden)]
    pub fn with_max_sequence(mut self, n: u64) -> Self {
        self.max_sequence = n;
        self
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    pub fn documents(&self) -> u64 {
        self.documents
    }
    pub fn bytes(&self) -> u64 {
        self.bin_len
    }
    pub fn bin_name(&self) -> &str {
        &self.bin_name
    }

    fn bin_io(&self, e: io::Error) -> ShardError {
        ShardError::io(&self.bin_name, e)
    }

    fn flush_bin(&mut self) -> Result<(), ShardError> {
        if !self.bin_buf.is_empty() {
            (&self.bin).write_all(&self.bin_buf).map_err(|e| ShardError::io(&self.bin_name, e))?;
            self.bin_buf.clear();
        }
        Ok(())
    }

    /// Appends bytes of the open document (or of documents whose lengths
    /// follow through [`add_lengths`](Self::add_lengths)).
    pub fn write(&mut self, data: &[u8]) -> Result<(), ShardError> {
        if self.bin_buf.len() + data.len() > BUF {
            self.flush_bin()?;
        }
        if data.len() >= BUF {
            (&self.bin).write_all(data).map_err(|e| self.bin_io(e))?;
        } else {
            self.bin_buf.extend_from_slice(data);
        }
        self.bin_len += data.len() as u64;
        Ok(())
    }

    fn push_length(&mut self, len: u64) -> Result<(), ShardError> {
        if len > self.max_sequence {
            return Err(ShardError::format(
                &self.bin_name,
                format!(
                    "document {} is {len} bytes encoded; a Megatron index holds at most {} bytes per document",
                    self.documents, self.max_sequence
                ),
            ));
        }
        debug_assert_eq!(len % BLOCK as u64, 0);
        self.idx_buf.extend_from_slice(&(len as i32).to_le_bytes());
        if self.idx_buf.len() >= BUF {
            (&self.idx).write_all(&self.idx_buf).map_err(|e| ShardError::io(&self.idx_name, e))?;
            self.idx_buf.clear();
        }
        self.sequences += 1;
        self.documents += 1;
        match self.docs.last_mut() {
            Some(DocPart::Ones(n)) => *n += 1,
            _ => self.docs.push(DocPart::Ones(1)),
        }
        Ok(())
    }

    /// Records documents, one per length, whose bytes were written with
    /// [`write`](Self::write) (in order, ending at the current size).
    pub fn add_lengths(&mut self, lengths: impl IntoIterator<Item = u64>) -> Result<(), ShardError> {
        for len in lengths {
            self.push_length(len)?;
        }
        Ok(())
    }

    /// Starts a document written in parts.
    pub fn begin_document(&mut self) {
        self.doc_start = Some(self.bin_len);
    }

    /// Drops what the open document wrote so far (it stays open).
    pub fn rewind_document(&mut self) -> Result<(), ShardError> {
        let start = self.doc_start.expect("rewind_document without begin_document");
        let on_disk = self.bin_len - self.bin_buf.len() as u64;
        if start >= on_disk {
            self.bin_buf.truncate((start - on_disk) as usize);
        } else {
            self.bin_buf.clear();
            self.bin.set_len(start).map_err(|e| self.bin_io(e))?;
            (&self.bin).seek(SeekFrom::Start(start)).map_err(|e| self.bin_io(e))?;
        }
        self.bin_len = start;
        Ok(())
    }

    /// Drops the open document entirely.
    pub fn abandon_document(&mut self) -> Result<(), ShardError> {
        self.rewind_document()?;
        self.doc_start = None;
        Ok(())
    }

    /// Ends the open document: one sequence of everything written since
    /// [`begin_document`](Self::begin_document).
    /// On error (too long) the document stays open, to be abandoned.
    pub fn end_document(&mut self) -> Result<(), ShardError> {
        let start = self.doc_start.expect("end_document without begin_document");
        self.push_length(self.bin_len - start)?;
        self.doc_start = None;
        Ok(())
    }

    /// Appends a whole checked shard's sequences (for merging): its `.bin`
    /// bytes are copied by the caller with [`copy_bin`](Self::copy_bin); this
    /// copies the lengths and records its document indices.
    pub fn append_index(&mut self, idx: &File, idx_name: &str, index: &Index) -> Result<(), ShardError> {
        let mut buf = vec![0u8; READ];
        let mut done = 0u64;
        let total = 4 * index.sequences;
        while done < total {
            let n = ((total - done) as usize).min(READ);
            read_exact_at(idx, &mut buf[..n], HEADER_LEN + done, idx_name)?;
            self.idx_buf.extend_from_slice(&buf[..n]);
            (&self.idx).write_all(&self.idx_buf).map_err(|e| ShardError::io(&self.idx_name, e))?;
            self.idx_buf.clear();
            done += n as u64;
        }
        let shift = self.sequences;
        self.sequences += index.sequences;
        self.documents += index.documents;
        if index.one_sequence_per_document {
            match self.docs.last_mut() {
                Some(DocPart::Ones(n)) => *n += index.documents,
                _ => self.docs.push(DocPart::Ones(index.documents)),
            }
        } else {
            let file = idx.try_clone().map_err(|e| ShardError::io(idx_name, e))?;
            self.docs.push(DocPart::Copy {
                file,
                name: idx_name.to_string(),
                at: index.document_indices_at() + 8,
                count: index.documents,
                shift,
            });
        }
        Ok(())
    }

    /// Copies `len` bytes of `src` from its start to the end of `.bin`
    /// (in the kernel where it can: `copy_file_range`), calling `progress`
    /// with the bytes copied so far; false from it stops the copy.
    pub fn copy_bin(
        &mut self,
        src: &File,
        src_name: &str,
        len: u64,
        mut progress: impl FnMut(u64) -> bool,
    ) -> Result<bool, ShardError> {
        self.flush_bin()?;
        let mut reader = src;
        reader.seek(SeekFrom::Start(0)).map_err(|e| ShardError::io(src_name, e))?;
        let mut done = 0u64;
        while done < len {
            let step = (len - done).min(64 << 20);
            let n = io::copy(&mut reader.take(step), &mut &self.bin)
                .map_err(|e| ShardError::io(&self.bin_name, e))?;
            if n != step {
                return Err(ShardError::format(
                    src_name,
                    format!("ended after {} bytes, expected {len}", done + n),
                ));
            }
            done += n;
            self.bin_len += n;
            if !progress(done) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the pointers, the document indices and the header; returns
    /// the sidecar of the finished pair (which the caller writes and renames
    /// into place last).
    pub fn finish(mut self) -> Result<Sidecar, ShardError> {
        assert!(self.doc_start.is_none(), "finish with a document open");
        self.flush_bin()?;
        (&self.bin).flush().map_err(|e| self.bin_io(e))?;
        let idx_name = self.idx_name.clone();
        let ioe = |e: io::Error| ShardError::io(&idx_name, e);
        (&self.idx).write_all(&self.idx_buf).map_err(ioe)?;
        self.idx_buf.clear();
        // Pointers, from the lengths written so far.
        let mut lens = vec![0u8; READ / 2];
        let mut out = Vec::with_capacity(READ);
        let mut ptr = 0u64;
        let mut k = 0u64;
        while k < self.sequences {
            let n = ((self.sequences - k) as usize).min(lens.len() / 4);
            read_exact_at(&self.idx, &mut lens[..4 * n], HEADER_LEN + 4 * k, &idx_name)?;
            for l in lens[..4 * n].chunks_exact(4) {
                out.extend_from_slice(&(ptr as i64).to_le_bytes());
                ptr += u32::from_le_bytes(l.try_into().unwrap()) as u64;
            }
            (&self.idx).write_all(&out).map_err(ioe)?;
            out.clear();
            k += n as u64;
        }
        debug_assert_eq!(ptr, self.bin_len);
        // Document indices.
        out.extend_from_slice(&0i64.to_le_bytes());
        let mut seq = 0u64;
        for part in &self.docs {
            match part {
                DocPart::Ones(n) => {
                    for _ in 0..*n {
                        seq += 1;
                        out.extend_from_slice(&(seq as i64).to_le_bytes());
                        if out.len() >= READ {
                            (&self.idx).write_all(&out).map_err(ioe)?;
                            out.clear();
                        }
                    }
                }
                DocPart::Copy { file, name, at, count, shift } => {
                    let mut buf = vec![0u8; READ];
                    let mut done = 0u64;
                    while done < *count {
                        let n = ((count - done) as usize).min(READ / 8);
                        read_exact_at(file, &mut buf[..8 * n], at + 8 * done, name)?;
                        for v in buf[..8 * n].chunks_exact(8) {
                            seq = u64::from_le_bytes(v.try_into().unwrap()) + shift;
                            out.extend_from_slice(&(seq as i64).to_le_bytes());
                        }
                        (&self.idx).write_all(&out).map_err(ioe)?;
                        out.clear();
                        done += n as u64;
                    }
                }
            }
        }
        (&self.idx).write_all(&out).map_err(ioe)?;
        debug_assert_eq!(seq, self.sequences);
        let mut head = Vec::with_capacity(HEADER_LEN as usize);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        head.push(DTYPE_UINT8);
        head.extend_from_slice(&self.sequences.to_le_bytes());
        head.extend_from_slice(&(self.documents + 1).to_le_bytes());
        self.idx.write_all_at(&head, 0).map_err(ioe)?;
        // Check what was written, as a reader will (this also hashes it).
        let index = check_index(&self.idx, &idx_name, self.bin_len, &self.bin_name, None)?;
        Ok(Sidecar::of(&index, self.scheme))
    }
}

/// The `.bin`, `.idx` and `.json` paths of a prefix (a path ending in one
/// of those is taken as its prefix).
pub fn shard_paths(prefix: &str) -> (String, String, String) {
    let p = [".bin", ".idx", ".json"].iter().find_map(|e| prefix.strip_suffix(e)).unwrap_or(prefix);
    (format!("{p}.bin"), format!("{p}.idx"), format!("{p}.json"))
}

/// A shard opened and checked: its files stay open, so what was checked is
/// what is read.
#[derive(Debug)]
pub struct OpenShard {
    pub bin: File,
    pub idx: File,
    pub bin_name: String,
    pub idx_name: String,
    pub scheme: Scheme,
    pub index: Index,
    pub sidecar: Option<Sidecar>,
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Opens and checks a shard ([`check_index`] and its sidecar). Without a
/// sidecar (a shard that Megatron's own tools wrote) the caller must name
/// the scheme; with one, a scheme given must agree. The sidecar is read
/// first and looked at again last: a writer replaces it first and renames
/// it back last, so a shard being rewritten while it is opened is refused
/// rather than read as a mix of two pairs.
pub fn open_shard(prefix: &str, scheme: Option<Scheme>) -> Result<OpenShard, ShardError> {
    let (bin_name, idx_name, car_name) = shard_paths(prefix);
    let (sidecar, car_id) = match File::open(&car_name) {
        Ok(mut f) => {
            let id = file_id(&f.metadata().map_err(|e| ShardError::io(&car_name, e))?);
            let mut text = Vec::new();
            f.read_to_end(&mut text).map_err(|e| ShardError::io(&car_name, e))?;
            (Some(Sidecar::parse(&text).map_err(|m| ShardError::format(&car_name, m))?), Some(id))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
        Err(e) => return Err(ShardError::io(&car_name, e)),
    };
    let scheme = match (&sidecar, scheme) {
        (Some(car), Some(s)) if car.scheme() != s => {
            return Err(ShardError::format(
                &car_name,
                format!("the shard is {}, not {} as asked", car.scheme, s.name()),
            ))
        }
        (Some(car), _) => car.scheme(),
        (None, Some(s)) => s,
        (None, None) => {
            return Err(ShardError::format(
                &car_name,
                "missing: bygpt-codec writes it with every shard (it is renamed into place last, so an \
                 unfinished write has none); for a shard that other tools wrote (Megatron's \
                 IndexedDatasetBuilder), name its scheme (scheme=... in Python, --scheme on the command line)",
            ))
        }
    };
    let idx = File::open(&idx_name).map_err(|e| ShardError::io(&idx_name, e))?;
    let bin = File::open(&bin_name).map_err(|e| ShardError::io(&bin_name, e))?;
    let bin_bytes = bin.metadata().map_err(|e| ShardError::io(&bin_name, e))?.len();
    let index =
        check_index(&idx, &idx_name, bin_bytes, &bin_name, sidecar.as_ref().map(|c| (c, car_name.as_str())))?;
    if let Some(id) = car_id {
        let now = std::fs::metadata(&car_name).map(|m| file_id(&m)).ok();
        if now != Some(id) {
            return Err(ShardError::format(
                &car_name,
                "replaced while the shard was being opened (is a pack writing it?); try again",
            ));
        }
    }
    Ok(OpenShard { bin, idx, bin_name, idx_name, scheme, index, sidecar })
}

/// Joins checked shards, in order, into `out`: every input is opened and
/// checked before anything is written (all must have one scheme), then the
/// inputs are copied one at a time (`.bin` in the kernel where possible),
/// so memory stays bounded whatever their number and size. An input that
/// changes between its check and its copy is refused. `progress` gets the
/// `.bin` bytes copied so far; false from it stops the merge (Ok(false)).
pub fn merge(
    inputs: &[String],
    scheme: Option<Scheme>,
    out: &mut ShardWriter,
    mut progress: impl FnMut(u64) -> bool,
) -> Result<bool, ShardError> {
    let mut checked = Vec::with_capacity(inputs.len());
    for prefix in inputs {
        let s = open_shard(prefix, scheme)?;
        if s.scheme != out.scheme() {
            let first = inputs.first().map_or("", String::as_str);
            return Err(ShardError::format(
                &s.bin_name,
                format!(
                    "cannot merge shards of different schemes: {} is {}, {first} is {}",
                    shard_paths(prefix).0,
                    s.scheme.name(),
                    out.scheme().name()
                ),
            ));
        }
        let ids = (
            file_id(&s.bin.metadata().map_err(|e| ShardError::io(&s.bin_name, e))?),
            file_id(&s.idx.metadata().map_err(|e| ShardError::io(&s.idx_name, e))?),
        );
        checked.push((s.index, ids));
    }
    let mut done = 0u64;
    for (prefix, (index, ids)) in inputs.iter().zip(checked) {
        let (bin_name, idx_name, _) = shard_paths(prefix);
        let bin = File::open(&bin_name).map_err(|e| ShardError::io(&bin_name, e))?;
        let idx = File::open(&idx_name).map_err(|e| ShardError::io(&idx_name, e))?;
        let now = (
            file_id(&bin.metadata().map_err(|e| ShardError::io(&bin_name, e))?),
            file_id(&idx.metadata().map_err(|e| ShardError::io(&idx_name, e))?),
        );
        if now != ids {
            return Err(ShardError::format(
                &bin_name,
                "replaced after it was checked (is a pack writing it?)",
            ));
        }
        out.append_index(&idx, &idx_name, &index)?;
        if !out.copy_bin(&bin, &bin_name, index.bin_bytes, |n| progress(done + n))? {
            return Ok(false);
        }
        done += index.bin_bytes;
    }
    Ok(true)
}

/// A sink that keeps nothing: strict decoding only checks.
struct Discard;

impl bygpt_codec_core::Sink for Discard {
    fn push(&mut self, _: u32) {}
    fn push_name(&mut self, _: &str) {}
}

/// Document byte ranges `[start, end)` of a checked shard, in order, read
/// from its index in chunks.
fn for_each_document(
    s: &OpenShard,
    mut each: impl FnMut(u64, u64, u64) -> Result<bool, ShardError>,
) -> Result<bool, ShardError> {
    let index = &s.index;
    let mut lens = vec![0u8; READ / 2];
    let mut docs = vec![0u8; READ];
    let (mut seq, mut lens_have, mut lens_at) = (0u64, 0usize, 0usize);
    let mut end = 0u64;
    let mut d = 0u64;
    while d < index.documents {
        let n = ((index.documents - d) as usize).min(READ / 8);
        read_exact_at(&s.idx, &mut docs[..8 * n], index.document_indices_at() + 8 * (d + 1), &s.idx_name)?;
        for v in docs[..8 * n].chunks_exact(8) {
            let last_seq = u64::from_le_bytes(v.try_into().unwrap());
            let start = end;
            while seq < last_seq {
                if lens_at == lens_have {
                    lens_have = ((index.sequences - seq) as usize).min(lens.len() / 4) * 4;
                    read_exact_at(&s.idx, &mut lens[..lens_have], HEADER_LEN + 4 * seq, &s.idx_name)?;
                    lens_at = 0;
                }
                end += u32::from_le_bytes(lens[lens_at..lens_at + 4].try_into().unwrap()) as u64;
                lens_at += 4;
                seq += 1;
            }
            if !each(d, start, end)? {
                return Ok(false);
            }
            d += 1;
        }
    }
    Ok(true)
}

/// Strictly decodes every document of a checked shard (bounded memory: the
/// `.bin` is read in chunks; documents inside a chunk are decoded on all
/// cores). The first malformed document is the error. `progress` gets the
/// bytes checked so far; false stops (Ok(false)).
pub fn check_documents(s: &OpenShard, mut progress: impl FnMut(u64) -> bool) -> Result<bool, ShardError> {
    let codec = bygpt_codec_core::Codec::new(s.scheme);
    let opts = bygpt_codec_core::DecodeOptions::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = 0u64;
    let mut batch: Vec<(u64, u64, u64)> = Vec::new();
    let bad = |d: u64, start: u64, e: bygpt_codec_core::DecodeError| {
        ShardError::format(
            &s.bin_name,
            format!(
                "document {d} (bytes {start}..): invalid {} data at byte {} of the file ({}): not what bygpt-codec wrote",
                e.scheme,
                start + e.position,
                e.kind
            ),
        )
    };
    let flush = |batch: &mut Vec<(u64, u64, u64)>, buf: &[u8], buf_start: u64| -> Result<(), ShardError> {
        let units: usize = batch.iter().map(|&(_, a, b)| (b - a) as usize).sum();
        let results = bygpt_codec_core::parallel::map(batch, units, PARALLEL, |_, &(d, a, b)| {
            let data = &buf[(a - buf_start) as usize..(b - buf_start) as usize];
            codec.decode_into(data, &opts, &mut Discard).map_err(|e| bad(d, a, e))
        });
        batch.clear();
        results.into_iter().collect()
    };
    let ok = for_each_document(s, |d, start, end| {
        if end - start > CHECK_CHUNK as u64 {
            // A long document: streamed through one decoder.
            flush(&mut batch, &buf, buf_start)?;
            let mut dec = codec.decoder(opts);
            let mut at = start;
            let mut chunk = vec![0u8; CHECK_CHUNK];
            while at < end {
                let n = ((end - at) as usize).min(CHECK_CHUNK);
                read_exact_at(&s.bin, &mut chunk[..n], at, &s.bin_name)?;
                dec.decode(&chunk[..n], at + n as u64 == end, &mut Discard).map_err(|e| bad(d, start, e))?;
                at += n as u64;
                if !progress(at) {
                    return Ok(false);
                }
            }
            buf.clear();
            buf_start = end;
            return Ok(true);
        }
        if end > buf_start + buf.len() as u64 {
            // Refill: the batch so far, then the next chunk of whole documents.
            flush(&mut batch, &buf, buf_start)?;
            if !progress(start) {
                return Ok(false);
            }
            let n = ((s.index.bin_bytes - start) as usize).min(CHECK_CHUNK);
            buf.resize(n, 0);
            read_exact_at(&s.bin, &mut buf, start, &s.bin_name)?;
            buf_start = start;
        }
        batch.push((d, start, end));
        Ok(true)
    })?;
    if !ok {
        return Ok(false);
    }
    flush(&mut batch, &buf, buf_start)?;
    Ok(progress(s.index.bin_bytes))
}

const CHECK_CHUNK: usize = 8 << 20;
const PARALLEL: usize = bygpt_codec_core::PARALLEL_MIN;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn temp() -> File {
        tempfile::tempfile().unwrap()
    }

    /// A jpblock shard writer over two temporary files (`NAME.bin`, `NAME.idx`).
    fn temp_writer(name: &str) -> (File, File, ShardWriter) {
        let (bin, idx) = (temp(), temp());
        let (b, i) = (bin.try_clone().unwrap(), idx.try_clone().unwrap());
        let w =
            ShardWriter::new(Scheme::Jpblock, b, &format!("{name}.bin"), i, &format!("{name}.idx")).unwrap();
        (bin, idx, w)
    }

    fn write_shard(docs: &[&[u8]]) -> (File, File, Sidecar) {
        let (bin, idx, mut w) = temp_writer("t");
        for d in docs {
            w.begin_document();
            w.write(d).unwrap();
            w.end_document().unwrap();
        }
        let car = w.finish().unwrap();
        (bin, idx, car)
    }

    pub(crate) fn read_all(f: &File) -> Vec<u8> {
        let mut v = vec![0u8; f.metadata().unwrap().len() as usize];
        f.read_exact_at(&mut v, 0).unwrap();
        v
    }

    fn check(idx: &File, bin: &File, car: Option<&Sidecar>) -> Result<Index, String> {
        let bin_len = bin.metadata().unwrap().len();
        check_index(idx, "t.idx", bin_len, "t.bin", car.map(|c| (c, "t.json"))).map_err(|e| e.to_string())
    }

    #[test]
    fn writes_the_megatron_layout() {
        let docs: [&[u8]; 3] = [b"abcd", b"", b"12345678"];
        let (bin, idx, car) = write_shard(&docs);
        assert_eq!(read_all(&bin), b"abcd12345678");
        let raw = read_all(&idx);
        let mut want = Vec::new();
        want.extend_from_slice(b"MMIDIDX\x00\x00");
        want.extend_from_slice(&1u64.to_le_bytes());
        want.push(1);
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(&4u64.to_le_bytes());
        for l in [4i32, 0, 8] {
            want.extend_from_slice(&l.to_le_bytes());
        }
        for p in [0i64, 4, 4] {
            want.extend_from_slice(&p.to_le_bytes());
        }
        for d in [0i64, 1, 2, 3] {
            want.extend_from_slice(&d.to_le_bytes());
        }
        assert_eq!(raw, want);
        assert_eq!(
            (car.documents, car.sequences, car.bin_bytes, car.idx_bytes),
            (3, 3, 12, want.len() as u64)
        );
        assert_eq!(car.idx_sha256, hex(&Sha256::digest(&want)));
        assert_eq!(Sidecar::parse(car.to_json().as_bytes()).unwrap(), car);
        let index = check(&idx, &bin, Some(&car)).unwrap();
        assert!(index.one_sequence_per_document);
    }

    #[test]
    fn rewinds_and_refuses_documents_too_long() {
        let (bin, idx) = (temp(), temp());
        let mut w = ShardWriter::new(
            Scheme::Utf8,
            bin.try_clone().unwrap(),
            "t.bin",
            idx.try_clone().unwrap(),
            "t.idx",
        )
        .unwrap()
        .with_max_sequence(1 << 21);
        w.begin_document();
        w.write(&[7u8; 4]).unwrap();
        w.end_document().unwrap();
        w.begin_document();
        w.write(&vec![1u8; 3 << 20]).unwrap(); // past the buffer: on disk
        w.rewind_document().unwrap();
        w.write(b"xyzw").unwrap();
        w.end_document().unwrap();
        w.begin_document();
        w.write(&vec![2u8; 1 << 22]).unwrap();
        assert!(w.end_document().unwrap_err().to_string().contains("at most 2097152 bytes"));
        w.abandon_document().unwrap();
        let car = w.finish().unwrap();
        assert_eq!(read_all(&bin), b"\x07\x07\x07\x07xyzw");
        assert_eq!(car.documents, 2);
    }

    /// Writes `idx` bytes to a file and checks them against a `.bin` of `bin_len` bytes.
    fn check_raw(raw: &[u8], bin_len: u64) -> Result<Index, String> {
        let f = temp();
        (&f).write_all(raw).unwrap();
        check_index(&f, "x.idx", bin_len, "x.bin", None).map_err(|e| e.to_string())
    }

    fn index_bytes(lens: &[i32], ptrs: &[i64], docs: &[i64]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&1u64.to_le_bytes());
        v.push(1);
        v.extend_from_slice(&(lens.len() as u64).to_le_bytes());
        v.extend_from_slice(&(docs.len() as u64).to_le_bytes());
        lens.iter().for_each(|l| v.extend_from_slice(&l.to_le_bytes()));
        ptrs.iter().for_each(|p| v.extend_from_slice(&p.to_le_bytes()));
        docs.iter().for_each(|d| v.extend_from_slice(&d.to_le_bytes()));
        v
    }

    #[test]
    fn refuses_every_damaged_index() {
        let ok = index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 1, 2, 3]);
        assert!(check_raw(&ok, 24).is_ok());
        // Multi-sequence documents (Megatron's add_document) are fine.
        let multi = check_raw(&index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 2, 3]), 24).unwrap();
        assert_eq!((multi.documents, multi.one_sequence_per_document), (2, false));
        let cases: Vec<(Vec<u8>, u64, &str)> = vec![
            (index_bytes(&[8, 4, 12], &[8, 16, 20], &[0, 1, 2, 3]), 28, "sequence 0: pointer 8, but the"),
            (index_bytes(&[8, 4, 12], &[0, 4, 12], &[0, 1, 2, 3]), 24, "sequence 1: pointer 4, but the"),
            (index_bytes(&[8, 4, 12], &[0, 8, 14], &[0, 1, 2, 3]), 24, "sequence 2: pointer 14, but not a"),
            (index_bytes(&[8, 4, 12], &[0, 8, 16], &[0, 1, 2, 3]), 24, "sequence 2: pointer 16, but the"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 1, 2, 3]), 20, "x.bin: 20 bytes, but the index's"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 1, 2, 3]), 28, "x.bin: 28 bytes"),
            (index_bytes(&[8, 6, 12], &[0, 8, 14], &[0, 1, 2, 3]), 26, "sequence 1: length 6 is not a whole"),
            (index_bytes(&[8, -4, 12], &[0, 8, 4], &[0, 1, 2, 3]), 16, "sequence 1: negative length -4"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[1, 1, 2, 3]), 24, "document index 0 is 1, not 0"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 2, 1, 3]), 24, "document index 2 is 1: not between"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 1, 2]), 24, "the last document index is 2, but"),
            (index_bytes(&[8, 4, 12], &[0, 8, 12], &[0, 1, 2, 4]), 24, "document index 3 is 4"),
            (index_bytes(&[], &[], &[]), 0, "no document indices"),
            (ok[..ok.len() - 8].to_vec(), 24, "truncated?"),
            ([&ok[..], &[0u8; 3][..]].concat(), 24, "3 bytes after the document indices"),
            (ok[..20].to_vec(), 24, "shorter than the 34-byte header"),
            ([b"XXIDIDX\x00\x00", &ok[9..]].concat(), 24, "bad magic"),
            ([b"BYGPTIDX", &ok[8..]].concat(), 24, "old bygpt-codec shard format"),
            ([&ok[..9], &2u64.to_le_bytes(), &ok[17..]].concat(), 24, "index version 2"),
            ([&ok[..17], &[4u8][..], &ok[18..]].concat(), 24, "dtype code 4 (int32)"),
            ([&ok[..18], &u64::MAX.to_le_bytes(), &ok[26..]].concat(), 24, "impossible counts"),
            ([&ok[..18], &4u64.to_le_bytes(), &ok[26..]].concat(), 24, "truncated?"),
        ];
        for (raw, bin_len, want) in cases {
            let err = check_raw(&raw, bin_len).unwrap_err();
            assert!(err.contains(want), "{err:?} should say {want:?}");
            assert!(err.starts_with("x.idx: ") || err.starts_with("x.bin: "), "{err}");
        }
    }

    #[test]
    fn sidecars_must_match_their_pair() {
        let (bin, idx, car) = write_shard(&[b"abcd", b"efgh"]);
        let (bin2, idx2, car2) = write_shard(&[b"abcdefgh"]);
        assert!(check(&idx, &bin, Some(&car2))
            .unwrap_err()
            .contains("t.json: documents is 1, but the shard has 2"));
        assert!(check(&idx2, &bin2, Some(&car)).is_err());
        let mut same_counts = car.clone();
        same_counts.idx_sha256 = "0".repeat(64);
        assert!(check(&idx, &bin, Some(&same_counts)).unwrap_err().contains("idx_sha256 does not match"));
        for (text, want) in [
            (car.to_json().replace("jpblock", "nope"), "unknown scheme"),
            (
                car.to_json().replace("\"scheme_id\": 1", "\"scheme_id\": 2"),
                "has id 1, but the sidecar says 2",
            ),
            (car.to_json().replace("\"format_version\": 1", "\"format_version\": 9"), "format_version 9"),
            (car.to_json().replace("bygpt-codec shard", "other"), "format is"),
            (car.to_json().replace("\"documents\"", "\"extra\": 1, \"documents\""), "unknown field"),
            ("[]".to_string(), "not a shard sidecar"),
        ] {
            let err = Sidecar::parse(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{err} should say {want}");
        }
    }

    #[test]
    fn appends_indices_for_merging() {
        let (bin_a, idx_a, _) = write_shard(&[b"abcd", b"efgh"]);
        // A multi-sequence document index, as Megatron's add_document writes.
        let raw = index_bytes(&[4, 8], &[0, 4], &[0, 2]);
        let idx_b = temp();
        (&idx_b).write_all(&raw).unwrap();
        let bin_b = temp();
        (&bin_b).write_all(b"123456789abc").unwrap();
        let (bin, idx, mut w) = temp_writer("m");
        for (b, i) in [(&bin_a, &idx_a), (&bin_b, &idx_b), (&bin_a, &idx_a)] {
            let index = check_index(i, "i", b.metadata().unwrap().len(), "b", None).unwrap();
            w.append_index(i, "i", &index).unwrap();
            assert!(w.copy_bin(b, "b", index.bin_bytes, |_| true).unwrap());
        }
        let car = w.finish().unwrap();
        assert_eq!(read_all(&bin), b"abcdefgh123456789abcabcdefgh");
        let index = check(&idx, &bin, Some(&car)).unwrap();
        assert_eq!((index.sequences, index.documents), (6, 5));
        let raw = read_all(&idx);
        let docs: Vec<i64> = raw[raw.len() - 48..]
            .chunks_exact(8)
            .map(|v| i64::from_le_bytes(v.try_into().unwrap()))
            .collect();
        assert_eq!(docs, [0, 1, 2, 4, 5, 6]);
    }

    /// A shard written to `dir/name` through the writer, with its sidecar.
    fn shard_on_disk(dir: &std::path::Path, name: &str, scheme: Scheme, docs: &[&str]) -> String {
        let prefix = dir.join(name).to_str().unwrap().to_string();
        let (bin_name, idx_name, car_name) = shard_paths(&prefix);
        let bin = File::options().read(true).write(true).create(true).truncate(true).open(&bin_name).unwrap();
        let idx = File::options().read(true).write(true).create(true).truncate(true).open(&idx_name).unwrap();
        let mut w = ShardWriter::new(scheme, bin, &bin_name, idx, &idx_name).unwrap();
        let codec = bygpt_codec_core::Codec::new(scheme);
        let opts = bygpt_codec_core::EncodeOptions::with_special_tokens();
        for d in docs {
            w.begin_document();
            w.write(&codec.encode(bygpt_codec_core::TextRef::Str(d), &opts).unwrap().0).unwrap();
            w.end_document().unwrap();
        }
        std::fs::write(car_name, w.finish().unwrap().to_json()).unwrap();
        prefix
    }

    #[test]
    fn opens_merges_and_checks_shards_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let long = "長い文書。".repeat(1 << 20); // a document longer than a check chunk
        let a = shard_on_disk(dir.path(), "a", Scheme::Jpblock, &["吾輩は猫", "", &long]);
        let b = shard_on_disk(dir.path(), "b", Scheme::Jpblock, &["である。"]);
        let u = shard_on_disk(dir.path(), "u", Scheme::Utf8, &["x"]);
        let s = open_shard(&format!("{a}.idx"), None).unwrap();
        assert_eq!((s.scheme, s.index.documents), (Scheme::Jpblock, 3));
        assert!(check_documents(&s, |_| true).unwrap());
        assert!(open_shard(&a, Some(Scheme::Utf8)).unwrap_err().to_string().contains("is jpblock, not utf8"));
        let (bin_name, idx_name, _) = shard_paths(dir.path().join("m").to_str().unwrap());
        let mk =
            |n: &str| File::options().read(true).write(true).create(true).truncate(true).open(n).unwrap();
        let mut w =
            ShardWriter::new(Scheme::Jpblock, mk(&bin_name), &bin_name, mk(&idx_name), &idx_name).unwrap();
        assert!(merge(&[a.clone(), b.clone()], None, &mut w, |_| true).unwrap());
        let car = w.finish().unwrap();
        assert_eq!((car.documents, car.bin_bytes), (4, std::fs::metadata(&bin_name).unwrap().len()));
        let mut w =
            ShardWriter::new(Scheme::Jpblock, mk(&bin_name), &bin_name, mk(&idx_name), &idx_name).unwrap();
        let err = merge(&[a.clone(), u.clone()], None, &mut w, |_| true).unwrap_err().to_string();
        assert!(err.contains("different schemes"), "{err}");
        // No sidecar: the scheme must be named.
        std::fs::remove_file(format!("{b}.json")).unwrap();
        assert!(open_shard(&b, None).unwrap_err().to_string().contains("name its scheme"));
        assert_eq!(open_shard(&b, Some(Scheme::Jpblock)).unwrap().index.documents, 1);
        // A document that is not valid encoded data.
        let mut raw = std::fs::read(format!("{a}.bin")).unwrap();
        raw[8] = 0xFB;
        raw[9] = 0xFF; // table index out of range, in document 1? no: document 0's text
        std::fs::write(format!("{a}.bin"), &raw).unwrap();
        let s = open_shard(&a, None).unwrap();
        let err = check_documents(&s, |_| true).unwrap_err().to_string();
        assert!(err.contains("a.bin: document 0 (bytes 0..): invalid jpblock data at byte 8"), "{err}");
    }
}
