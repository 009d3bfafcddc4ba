//! The codec: a scheme plus its special tokens, cheap to clone and share.

use std::sync::Arc;

use rayon::prelude::*;

use crate::batch::PARALLEL_MIN_UNITS;
use crate::decode::{decode_chunk, DecodeError, DecodeOptions, Sink};
use crate::encode::{encode_into, EncodeOptions, LimitTooSmall};
use crate::incremental::IncrementalDecoder;
use crate::scheme::Scheme;
use crate::special::{SpecialTokenError, SpecialTokens};
use crate::text::TextRef;

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
        let mut out = Vec::with_capacity(text.len() + 4);
        self.encode_into(TextRef::Str(text), &EncodeOptions::default(), &mut out)
            .expect("no limit, so nothing can be too small");
        out
    }

    /// Encodes `text` into a new buffer. The bool says whether `max_len` cut it.
    pub fn encode(&self, text: TextRef<'_>, opts: &EncodeOptions) -> Result<(Vec<u8>, bool), LimitTooSmall> {
        let mut out = Vec::with_capacity(text.units() + text.units() / 2 + 8);
        let truncated = self.encode_into(text, opts, &mut out)?;
        Ok((out, truncated))
    }

    /// Appends the encoding of `text` to `out`, which should hold whole blocks.
    pub fn encode_into(
        &self,
        text: TextRef<'_>,
        opts: &EncodeOptions,
        out: &mut Vec<u8>,
    ) -> Result<bool, LimitTooSmall> {
        encode_into(self.inner.scheme, &self.inner.specials, text, opts, out)
    }

    /// Encodes every text, in parallel when the batch is large.
    pub fn encode_batch(
        &self,
        texts: &[TextRef<'_>],
        opts: &EncodeOptions,
    ) -> Result<Vec<Vec<u8>>, LimitTooSmall> {
        opts.checked_limit()?;
        let one = |t: &TextRef<'_>| self.encode(*t, opts).map(|(bytes, _)| bytes);
        if texts.iter().map(TextRef::units).sum::<usize>() >= PARALLEL_MIN_UNITS {
            texts.par_iter().map(one).collect()
        } else {
            texts.iter().map(one).collect()
        }
    }

    /// Decodes a whole input into `sink`.
    pub fn decode_into<S: Sink>(
        &self,
        data: &[u8],
        opts: &DecodeOptions,
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        decode_chunk(self.inner.scheme, &self.inner.specials, data, 0, true, opts, sink).map(|_| ())
    }

    /// Decodes the start of a stream whose first byte sits at offset `base`,
    /// stopping before an unfinished unit at the end: returns where it stopped.
    pub fn decode_prefix<S: Sink>(
        &self,
        data: &[u8],
        base: u64,
        opts: &DecodeOptions,
        sink: &mut S,
    ) -> Result<usize, DecodeError> {
        decode_chunk(self.inner.scheme, &self.inner.specials, data, base, false, opts, sink)
    }

    /// Decodes into a Rust `String` (lone surrogates become U+FFFD there).
    pub fn decode_to_string(&self, data: &[u8], opts: &DecodeOptions) -> Result<String, DecodeError> {
        let mut s = String::with_capacity(data.len() * 2);
        self.decode_into(data, opts, &mut s)?;
        Ok(s)
    }

    /// Decodes into code points, lone surrogates kept.
    pub fn decode_to_code_points(&self, data: &[u8], opts: &DecodeOptions) -> Result<Vec<u32>, DecodeError> {
        let mut v = Vec::with_capacity(data.len());
        self.decode_into(data, opts, &mut v)?;
        Ok(v)
    }

    /// Decodes every row to code points, in parallel when the batch is large.
    /// The error of a row comes with its index.
    pub fn decode_batch(
        &self,
        rows: &[&[u8]],
        opts: &DecodeOptions,
    ) -> Result<Vec<Vec<u32>>, (usize, DecodeError)> {
        self.decode_batch_with(rows, opts, Vec::with_capacity, |v| v)
    }

    /// Decodes every row into a sink made by `new_sink(row_len)`, then turns
    /// it into the result with `finish`, both on the worker thread (e.g.
    /// [`NarrowBuffer`](crate::NarrowBuffer) then `into_narrow`).
    pub fn decode_batch_with<S: Sink, T: Send>(
        &self,
        rows: &[&[u8]],
        opts: &DecodeOptions,
        new_sink: impl Fn(usize) -> S + Sync + Send,
        finish: impl Fn(S) -> T + Sync + Send,
    ) -> Result<Vec<T>, (usize, DecodeError)> {
        let one = |(k, row): (usize, &&[u8])| {
            let mut sink = new_sink(row.len());
            self.decode_into(row, opts, &mut sink).map(|()| finish(sink)).map_err(|e| (k, e))
        };
        if rows.iter().map(|r| r.len()).sum::<usize>() >= PARALLEL_MIN_UNITS {
            rows.par_iter().enumerate().map(one).collect()
        } else {
            rows.iter().enumerate().map(one).collect()
        }
    }

    /// A streaming decoder over this codec.
    pub fn incremental_decoder(&self, opts: DecodeOptions) -> IncrementalDecoder {
        IncrementalDecoder::new(self.clone(), opts)
    }
}
