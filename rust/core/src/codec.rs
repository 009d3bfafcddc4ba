//! The codec: a scheme plus its special tokens, cheap to clone and share.

use std::fmt;
use std::sync::Arc;

use crate::batch::{truncate_row, whole_blocks, Side};
use crate::decode::{DecodeError, DecodeOptions, Sink};
use crate::decoder::Decoder;
use crate::encoder::{pad_block, put_special, put_text, Budget, ByteOut, Cursor, Room};
use crate::parallel::{self, PARALLEL_MIN};
use crate::scheme::{with_codes, Scheme, BLOCK};
use crate::special::{SpecialTokenError, SpecialTokens, BOS_ID, EOS_ID};
use crate::text::TextRef;

/// Options for one encode call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Turn special-token names inside the text into their blocks.
    pub parse_special: bool,
    /// Start with a `<|bos|>` block.
    pub bos: bool,
    /// End with an `<|eos|>` block.
    pub eos: bool,
    /// Keep at most this many bytes (rounded down to whole blocks): whole
    /// blocks of the text's encoding, the first ones or the last ones by
    /// `truncation_side`; a character cut at the edge becomes filler. The
    /// `<|bos|>` and `<|eos|>` blocks are kept and the text is cut instead,
    /// as the tokenizers of the transformers library do.
    pub max_len: Option<usize>,
    pub truncation_side: Side,
}

impl EncodeOptions {
    /// `<|bos|>` and `<|eos|>` around the text (`add_special_tokens=True`).
    pub fn with_special_tokens() -> Self {
        EncodeOptions { bos: true, eos: true, ..Default::default() }
    }

    fn special_bytes(&self) -> usize {
        BLOCK * (usize::from(self.bos) + usize::from(self.eos))
    }

    /// Bytes the text itself may take, or an error when the special blocks
    /// alone do not fit.
    fn text_room(&self) -> Result<usize, LimitTooSmall> {
        match self.max_len {
            None => Ok(usize::MAX),
            Some(m) => whole_blocks(m)
                .checked_sub(self.special_bytes())
                .ok_or(LimitTooSmall { max_len: m, needs: self.special_bytes() }),
        }
    }
}

/// `max_len` leaves no room for the `<|bos|>` and `<|eos|>` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitTooSmall {
    pub max_len: usize,
    pub needs: usize,
}

impl fmt::Display for LimitTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_length {} leaves no room for the special blocks (needs at least {})",
            self.max_len, self.needs
        )
    }
}

impl std::error::Error for LimitTooSmall {}

/// Encoder and decoder for one scheme. Immutable, so one codec may serve
/// many threads; clones share their tables.
#[derive(Clone, Debug)]
pub struct Codec {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    scheme: Scheme,
    specials: SpecialTokens,
}

impl Codec {
    /// A codec with the named special tokens only.
    pub fn new(scheme: Scheme) -> Codec {
        Codec { inner: Arc::new(Inner { scheme, specials: SpecialTokens::default() }) }
    }

    /// A codec that also knows `extra` special tokens (ids from 256 up).
    pub fn with_special_tokens(
        scheme: Scheme,
        extra: Vec<(String, u32)>,
    ) -> Result<Codec, SpecialTokenError> {
        let specials = SpecialTokens::new(extra)?;
        Ok(Codec { inner: Arc::new(Inner { scheme, specials }) })
    }

    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
    }

    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.inner.specials
    }

    /// The 4-byte block of a special token, by name.
    pub fn special_block(&self, name: &str) -> Option<[u8; 4]> {
        self.inner.specials.id(name).map(SpecialTokens::block)
    }

    /// Encodes with default options: special names stay plain text.
    pub fn encode_str(&self, text: &str) -> Vec<u8> {
        self.encode(TextRef::Str(text), &EncodeOptions::default()).expect("no limit, nothing is too small").0
    }

    /// Encodes `text` into a new buffer. The bool says whether `max_len` cut it.
    pub fn encode(&self, text: TextRef<'_>, opts: &EncodeOptions) -> Result<(Vec<u8>, bool), LimitTooSmall> {
        let mut out = Vec::new();
        let truncated = self.encode_into(text, opts, &mut out)?;
        Ok((out, truncated))
    }

    /// Appends the encoding of `text` to `out`. Returns whether `max_len` cut it.
    pub fn encode_into(
        &self,
        text: TextRef<'_>,
        opts: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<bool, LimitTooSmall> {
        let room = opts.text_room()?;
        let start = out.len();
        if opts.bos {
            put_special(&mut Cursor::at(0), BOS_ID, &mut ByteOut::new(out, BLOCK));
        }
        // Right truncation stops the encoder early; left truncation keeps
        // the end of the full encoding, below.
        let left = opts.truncation_side == Side::Left && room != usize::MAX;
        let complete = if room == usize::MAX || left {
            self.put_text(text, opts, Cursor::at(0), out)
        } else {
            self.put_text(text, opts, Cursor { q: 0, budget: Room(room) }, out)
        };
        let mut truncated = !complete;
        if left {
            // Keep the last whole blocks of the text's full encoding.
            let text_start = start + if opts.bos { BLOCK } else { 0 };
            if out.len() - text_start > room {
                let kept = truncate_row(self.inner.scheme, &out[text_start..], room, Side::Left);
                out.truncate(text_start);
                out.extend_from_slice(&kept);
                truncated = true;
            }
        }
        if opts.eos {
            let mut at = Cursor::at(0);
            put_special(&mut at, EOS_ID, &mut ByteOut::new(out, BLOCK));
        }
        Ok(truncated)
    }

    /// Encodes the characters of `text` from `at` (a block start) and pads the
    /// last block; false if the budget cut it short.
    fn put_text<B: Budget>(
        &self,
        text: TextRef<'_>,
        opts: &EncodeOptions,
        mut at: Cursor<B>,
        out: &mut Vec<u8>,
    ) -> bool {
        let parse = opts.parse_special.then_some(&self.inner.specials);
        // Enough for typical text; the writer grows if a text needs more.
        let mut w = ByteOut::new(out, (2 * text.units()).min(at.budget.left()) + BLOCK);
        let complete = with_codes!(self.inner.scheme, |codes| put_text(codes, parse, text, &mut at, &mut w));
        pad_block(&mut at, &mut w);
        complete
    }

    /// Encodes every text, on all cores when the batch is large.
    pub fn encode_batch(
        &self,
        texts: &[TextRef<'_>],
        opts: &EncodeOptions,
    ) -> Result<Vec<Vec<u8>>, LimitTooSmall> {
        opts.text_room()?;
        let units = texts.iter().map(TextRef::units).sum();
        parallel::map(texts, units, PARALLEL_MIN, |_, t| self.encode(*t, opts).map(|(bytes, _)| bytes))
            .into_iter()
            .collect()
    }

    /// A streaming decoder over this codec.
    pub fn decoder(&self, opts: DecodeOptions) -> Decoder {
        Decoder::new(self.clone(), opts)
    }

    /// Decodes a whole input into `sink`.
    pub fn decode_into<S: Sink>(
        &self,
        data: &[u8],
        opts: &DecodeOptions,
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        self.decoder(*opts).decode(data, true, sink)
    }

    /// Decodes into a Rust `String` (lone surrogates become U+FFFD there).
    pub fn decode_to_string(&self, data: &[u8], opts: &DecodeOptions) -> Result<String, DecodeError> {
        self.decode_to(data, opts, String::with_capacity(data.len() * 2))
    }

    /// Decodes into code points, lone surrogates kept.
    pub fn decode_to_code_points(&self, data: &[u8], opts: &DecodeOptions) -> Result<Vec<u32>, DecodeError> {
        self.decode_to(data, opts, Vec::with_capacity(data.len()))
    }

    fn decode_to<S: Sink>(&self, data: &[u8], opts: &DecodeOptions, mut sink: S) -> Result<S, DecodeError> {
        self.decode_into(data, opts, &mut sink).map(|()| sink)
    }

    /// Decodes every row into a sink made by `new_sink(row_len)`, then turns
    /// it into the result with `finish`, both on the worker thread, on all
    /// cores when the batch is large. The error of a row comes with its index.
    pub fn decode_batch<S: Sink, T: Send>(
        &self,
        rows: &[&[u8]],
        opts: &DecodeOptions,
        new_sink: impl Fn(usize) -> S + Sync + Send,
        finish: impl Fn(S) -> T + Sync + Send,
    ) -> Result<Vec<T>, (usize, DecodeError)> {
        let units = rows.iter().map(|r| r.len()).sum();
        parallel::map(rows, units, PARALLEL_MIN, |k, row| {
            let mut sink = new_sink(row.len());
            self.decode_into(row, opts, &mut sink).map(|()| finish(sink)).map_err(|e| (k, e))
        })
        .into_iter()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(scheme: Scheme, text: &str, opts: EncodeOptions) -> Vec<u8> {
        Codec::new(scheme).encode(TextRef::Str(text), &opts).unwrap().0
    }

    #[test]
    fn special_tokens_and_limits() {
        let both = EncodeOptions { parse_special: true, ..EncodeOptions::with_special_tokens() };
        assert_eq!(
            enc(Scheme::Utf8, "a<|mask|>b", both),
            [0xFE, 0, 0, 1, b'a', 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 3, b'b', 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 2]
        );
        assert_eq!(enc(Scheme::Utf8, "<|mask|>", EncodeOptions::default()), b"<|mask|>");
        let cut = EncodeOptions { max_len: Some(14), ..EncodeOptions::with_special_tokens() };
        assert_eq!(
            enc(Scheme::Jpblock, "abcdefgh", cut),
            [0xFE, 0, 0, 1, b'a', b'b', b'c', b'd', 0xFE, 0, 0, 2]
        );
        let left = EncodeOptions { truncation_side: Side::Left, ..cut };
        assert_eq!(
            enc(Scheme::Jpblock, "abcdefgh", left),
            [0xFE, 0, 0, 1, b'e', b'f', b'g', b'h', 0xFE, 0, 0, 2]
        );
        let bos_only = EncodeOptions { bos: true, max_len: Some(8), ..Default::default() };
        assert_eq!(enc(Scheme::Utf8, "あい", bos_only), [0xFE, 0, 0, 1, 0xE3, 0x81, 0x82, 0xFF]);
        // Left truncation keeps the last whole block, "い" cut: E3 81 82 E3 | 81 84 FF FF.
        let left = EncodeOptions { truncation_side: Side::Left, ..bos_only };
        assert_eq!(enc(Scheme::Utf8, "あい", left), [0xFE, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(enc(Scheme::Utf8, "aあい", left), [0xFE, 0, 0, 1, 0xE3, 0x81, 0x84, 0xFF]);
        let small = EncodeOptions { max_len: Some(7), ..EncodeOptions::with_special_tokens() };
        assert_eq!(
            Codec::new(Scheme::Utf8).encode(TextRef::Str("x"), &small).unwrap_err(),
            LimitTooSmall { max_len: 7, needs: 8 }
        );
    }
}
