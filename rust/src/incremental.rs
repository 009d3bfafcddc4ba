//! Streaming decode: chunks of any size give exactly the one-shot result.

use crate::codec::Codec;
use crate::decode::{decode_chunk, DecodeError, DecodeOptions, Sink};

/// Decodes a byte stream fed in chunks. Holds back at most one incomplete
/// unit (3 bytes) between calls.
#[derive(Clone, Debug)]
pub struct IncrementalDecoder {
    codec: Codec,
    opts: DecodeOptions,
    /// Bytes of an incomplete unit held from the previous chunk.
    pending: Vec<u8>,
    /// Stream offset of `pending[0]` (or of the next byte when none is held).
    offset: u64,
    /// Bytes still to skip after a replaced unit that ran past the last chunk.
    skip: u64,
}

impl IncrementalDecoder {
    pub fn new(codec: Codec, opts: DecodeOptions) -> Self {
        Self { codec, opts, pending: Vec::new(), offset: 0, skip: 0 }
    }

    /// Bytes of the stream consumed so far (held-back bytes not included).
    pub fn position(&self) -> u64 {
        self.offset
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// Forgets the stream; the next chunk starts a new one at offset 0.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.offset = 0;
        self.skip = 0;
    }

    /// Decodes `chunk` into `sink`. With `last`, an incomplete unit at the end
    /// is an error (or U+FFFD) and the decoder resets for a new stream.
    /// On error nothing of the failing unit is consumed.
    pub fn decode<S: Sink>(&mut self, mut chunk: &[u8], last: bool, sink: &mut S) -> Result<(), DecodeError> {
        if self.skip > 0 {
            let k = self.skip.min(chunk.len() as u64) as usize;
            chunk = &chunk[k..];
            self.skip -= k as u64;
            self.offset += k as u64;
        }
        let joined;
        let data: &[u8] = if self.pending.is_empty() {
            chunk
        } else {
            joined = [self.pending.as_slice(), chunk].concat();
            &joined
        };
        let (scheme, specials) = (self.codec.scheme(), self.codec.special_tokens());
        let stop = decode_chunk(scheme, specials, data, self.offset, last, &self.opts, sink)?;
        let rest = data.get(stop..).unwrap_or_default().to_vec();
        self.skip += stop.saturating_sub(data.len()) as u64;
        self.offset += stop.min(data.len()) as u64;
        self.pending = rest;
        if last {
            self.reset();
        }
        Ok(())
    }
}
