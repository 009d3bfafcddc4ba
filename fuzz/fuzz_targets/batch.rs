//! Batch encoding with padding and truncation options: every row equals the
//! single encoding (cut on a character boundary when truncated), fits the
//! width, and the padded matrix decodes back to each row's text.
#![no_main]

use arbitrary::Arbitrary;
use bygpt_codec_core::{pad_rows, Codec, DecodeOptions, EncodeOptions, PaddingSide, Scheme, TextRef};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    jpblock: bool,
    left: bool,
    add_special_tokens: bool,
    max_len: Option<u8>,
    docs: Vec<Vec<u32>>,
}

fuzz_target!(|input: Input| {
    let scheme = if input.jpblock { Scheme::Jpblock } else { Scheme::Utf8 };
    let codec = Codec::new(scheme);
    let docs: Vec<Vec<u32>> =
        input.docs.iter().map(|d| d.iter().map(|&c| c % 0x11_0000).collect()).collect();
    let refs: Vec<TextRef> = docs.iter().map(|d| TextRef::Ucs4(d)).collect();
    let opts = EncodeOptions {
        parse_special: false,
        add_special_tokens: input.add_special_tokens,
        max_len: input.max_len.map(usize::from),
    };
    let Ok(rows) = codec.encode_batch(&refs, &opts) else {
        // Only a limit too small for the special blocks is refused.
        assert!(input.add_special_tokens && input.max_len.is_some_and(|m| m < 8));
        return;
    };
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let side = if input.left { PaddingSide::Left } else { PaddingSide::Right };
    let padded = pad_rows(&rows, width, side);
    let skip = DecodeOptions { skip_special_tokens: true, ..DecodeOptions::default() };
    for (k, doc) in docs.iter().enumerate() {
        assert_eq!(rows[k], codec.encode(refs[k], &opts).unwrap().0);
        assert_eq!(rows[k].len() % 4, 0);
        if let Some(m) = input.max_len {
            assert!(rows[k].len() <= usize::from(m));
        }
        let row = &padded.ids[k * width..(k + 1) * width];
        let text = codec.decode_to_code_points(row, &skip).unwrap();
        assert_eq!(&doc[..text.len()], &text[..]);
        assert_eq!(padded.mask[k * width..(k + 1) * width].iter().filter(|&&m| m == 1).count(), rows[k].len());
    }
});
