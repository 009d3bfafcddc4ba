//! Packing JSONL documents into training data: each document becomes a
//! `<|bos|>` block, its text, filler to the block's end and an `<|eos|>` block
//! (what `encode(text, add_special_tokens=True)` gives). Every document starts
//! a block, so documents are independent: a block of lines is packed on all
//! cores, in groups of whole lines, and joined in input order.

use bygpt_codec_core::parallel::{self, PARALLEL_MIN};
use bygpt_codec_core::{Codec, EncodeOptions};

use crate::jsonl::{string_field, FieldError};

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
        let outcome = match string_field(line, field) {
            Ok(t) => codec.encode_into(t.as_text_ref(), &opts, &mut g.bytes).map_err(|e| (0, e.to_string())),
            Err(FieldError::Missing) => Err((0, format!("no {field:?} field"))),
            Err(e @ FieldError::NotAString { .. }) => Err((0, format!("field {field:?}: {e}"))),
            Err(e @ FieldError::Malformed { column, .. }) => Err((column.saturating_sub(1), e.to_string())),
            Err(e) => Err((0, e.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bygpt_codec_core::{Scheme, TextRef};

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
