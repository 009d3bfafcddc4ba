//! The byte codec for byte-level language models that read and predict four
//! bytes per step (the byGPT-JP "multi-LM-head" family).
//!
//! Two schemes share one framing (see `docs/spec.md` for the normative text):
//!
//! * [`Scheme::Jpblock`]: Japanese in one or two bytes per character, and no
//!   character ever straddles a 4-byte block, so every block decodes on its own.
//! * [`Scheme::Utf8`]: plain UTF-8 characters (ByT5-style), for comparison.
//!
//! Both use `0xFF` as filler/padding and `0xFE` + 3-byte id as 4-byte special
//! blocks that always start a block. Encoded output is a whole number of blocks.
//!
//! ```
//! use bygpt_codec_core::{Codec, Scheme, DecodeOptions};
//! let codec = Codec::new(Scheme::Jpblock);
//! let bytes = codec.encode_str("こんにちは、世界");
//! assert_eq!(bytes.len() % 4, 0);
//! let text = codec.decode_to_string(&bytes, &DecodeOptions::default()).unwrap();
//! assert_eq!(text, "こんにちは、世界");
//! ```

mod automaton;
mod batch;
mod codec;
mod decode;
mod encode;
mod fast_decode;
mod incremental;
#[allow(clippy::unreadable_literal)]
mod jp_table;
pub mod jpblock;
mod json_line;
mod pack;
mod scheme;
mod special;
mod stats;
mod stream_decode;
mod stream_encode;
mod stream_io;
mod stream_stats;
mod text;
mod utf8_input;

pub use automaton::{byte_automaton, ByteAutomaton, DEAD};
pub use batch::{fill_padded, fill_padded_i64, pad_rows, Padded, PaddingSide};
pub use codec::Codec;
pub use decode::{DecodeError, DecodeErrorKind, DecodeOptions, ErrorMode, Sink};
pub use encode::{EncodeOptions, LimitTooSmall};
pub use incremental::IncrementalDecoder;
pub use json_line::{string_field, FieldError, JsonText};
pub use pack::{pack_jsonl, BadLine, Packed};
pub use scheme::{Scheme, BLOCK, FILLER, SPECIAL_LEAD};
pub use special::{
    SpecialTokenError, SpecialTokens, BOS, BOS_ID, EOS, EOS_ID, FIRST_USER_ID, MASK, MASK_ID, MAX_ID,
};
pub use stats::Stats;
pub use stream_decode::{StreamDecodeError, StreamDecoder, SurrogateOutput};
pub use stream_encode::StreamEncoder;
pub use stream_io::{run_stream, ChunkStep, StreamError, CHUNK};
pub use stream_stats::StreamStats;
pub use text::{NarrowBuffer, NarrowText, TextRef};
pub use utf8_input::{InputErrors, InvalidUtf8};
