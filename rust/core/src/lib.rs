//! The byte formats of byte-level language models that read and predict four
//! bytes per step (the byGPT-JP "multi-LM-head" family): the schemes, their
//! tables and special tokens, one encoder, one decoder, and the padded batch
//! layout models read. No I/O: file and corpus tools are the `bygpt-corpus`
//! crate.
//!
//! Three schemes share one framing (see `docs/spec.md` for the normative text):
//!
//! * [`Scheme::Jpblock`]: Japanese in one or two bytes per character, and no
//!   character ever straddles a 4-byte block, so every block decodes on its own.
//! * [`Scheme::Jpblock2`]: the same layout, with 1-byte codes for the most
//!   frequent Japanese characters instead of rarely used control characters.
//! * [`Scheme::Utf8`]: plain UTF-8 characters (ByT5-style), for comparison.
//!
//! All use `0xFF` as filler/padding and `0xFE` + 3-byte id as 4-byte special
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
//!
//! Where the format lives: `scheme.rs` (the code of a character, the block
//! rule), `tables.rs` (the committed code tables, `data/*.txt`) and
//! `special.rs`. Everything else is written against those; see
//! `docs/architecture.md`.

mod automaton;
mod batch;
mod codec;
mod decode;
mod decoder;
mod encoder;
mod fast_decode;
pub mod parallel;
mod scheme;
pub mod special;
mod stats;
mod stream;
mod tables;
mod text;
mod utf8_input;

pub use automaton::{byte_automaton, ByteAutomaton, DEAD};
pub use batch::{
    special_tokens_mask, truncate_row, truncate_rows, whole_blocks, Layout, LayoutError, Plan, Side,
};
pub use codec::{Codec, EncodeOptions, LimitTooSmall};
pub use decode::{DecodeError, DecodeErrorKind, DecodeOptions, ErrorMode, Sink};
pub use decoder::{Decoder, Split, Utf8DecodeError, Utf8Errors, Utf8Out, Utf8StreamDecoder};
pub use parallel::PARALLEL_MIN;
pub use scheme::{utf8_code, Scheme, BLOCK, FILLER, SPECIAL_LEAD};
pub use special::{
    SpecialTokenError, SpecialTokens, BOS, BOS_ID, EOS, EOS_ID, FIRST_USER_ID, MASK, MASK_ID, MAX_ID,
};
pub use stats::Stats;
pub use stream::{StreamEncoder, StreamStats};
pub use tables::code_len;
pub use text::{NarrowBuffer, NarrowText, TextRef};
pub use utf8_input::{InputErrors, InvalidUtf8};
